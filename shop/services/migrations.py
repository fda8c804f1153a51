"""Apply the reviewed migrations in ``migrations/`` with peewee-migrate, safely.

peewee-migrate runs each migration inside a transaction with foreign keys still on, where
``PRAGMA foreign_keys`` is a no-op: a table rebuild then deletes ON DELETE CASCADE children
while reporting success. This runner switches foreign keys off *outside* the transaction,
runs each migration under ``BEGIN IMMEDIATE``, refuses to commit while
``PRAGMA foreign_key_check`` reports anything, and switches foreign keys back on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import peewee
from peewee_migrate import Migrator, Router

from shop.db import database, foreign_key_problems, write_transaction
from shop.errors import ShopError, storage_fault
from shop.services.system import explain, refresh_statistics

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
log = logging.getLogger(__name__)


class MigrationError(ShopError):
    """A migration failed or would leave the database inconsistent; it was not committed."""

    code, status = "migration_failed", 500


Statement = tuple[str, tuple]


@contextmanager
def _recording(sink: list[Statement] | None) -> Iterator[None]:
    """Record every statement the database executes meanwhile (for the D1 exporter)."""
    if sink is None:
        yield
        return
    original = database.execute_sql

    def execute_sql(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        sink.append((sql, tuple(params or ())))
        return original(sql, params, *args, **kwargs)

    database.execute_sql = execute_sql  # type: ignore[method-assign]
    try:
        yield
    finally:
        del database.execute_sql


class SafeRouter(Router):
    """peewee-migrate's file router with the transaction and foreign-key rules above.

    With ``recorder`` set, the statements each migration body executes are appended to
    ``recorder[name]``: the D1 exporter hands D1 exactly what ran here.
    """

    recorder: dict[str, list[Statement]] | None = None

    def run_one(self, name: str, migrator: Migrator, *, fake: bool = True,
                downgrade: bool = False, force: bool = False) -> str:
        if fake or downgrade:
            return super().run_one(name, migrator, fake=fake, downgrade=downgrade, force=force)
        migrate, _rollback = self.read(name)
        with write_transaction():
            # Re-read inside the lock: another process may have applied it meanwhile.
            if self.model.select().where(self.model.name == name).exists():
                return name
            log.info("applying migration %s", name)
            sink = None if self.recorder is None else self.recorder.setdefault(name, [])
            with _recording(sink):
                migrate(migrator, self.database, fake=False)
                migrator()
            problems = foreign_key_problems()
            if problems:
                raise MigrationError(
                    f"migration {name} leaves dangling references: {problems[:10]}")
            self.model.create(name=name)
        return name


def router(migrations_dir: Path | None = None) -> SafeRouter:
    """A router over ``migrations_dir`` (the project's ``migrations/`` by default)."""
    return SafeRouter(database, migrate_dir=migrations_dir or MIGRATIONS_DIR, logger=log)


def migrate(migrations_dir: Path | None = None, *,
            recorder: dict[str, list[Statement]] | None = None) -> list[str]:
    """Apply every pending migration; returns the names applied (empty when up to date)."""
    if database.in_transaction():
        raise MigrationError("migrations must start outside any transaction")
    try:
        r = router(migrations_dir)
        r.recorder = recorder
        if not r.diff:
            return []
        database.pragma("foreign_keys", 0)
        try:
            applied = r.run()
        finally:
            database.pragma("foreign_keys", 1)
        if applied:  # new indexes have no statistics yet; without them plans go wrong
            refresh_statistics(full=True)
        return applied
    except peewee.DatabaseError as exc:
        fault = storage_fault(exc)  # a damaged file, a full disk: said as such
        if fault is not None:
            raise explain(fault, database.database) from exc
        raise MigrationError(f"cannot migrate {database.database}: {exc}") from exc


# --- helpers for migration files -----------------------------------------------------------

def _rows(sql: str, *params: object) -> list[tuple]:
    return list(database.execute_sql(sql, params).fetchall())


def _columns(table: str) -> list[str]:
    return [r[1] for r in _rows(f'PRAGMA table_info("{table}")')]


def _cascade_closure(table: str) -> dict[str, str]:
    """Tables whose rows a DROP of ``table`` deletes (``"cascade"``) or nulls (``"null"``)
    when foreign keys are enforced, parents before children.
    """
    tables = [r[0] for r in _rows(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%' "
        "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    found: dict[str, str] = {}
    frontier = [table]
    while frontier:
        parent = frontier.pop(0)
        for child in tables:
            if child == table or found.get(child) == "cascade":
                continue
            actions = {fk[6] for fk in _rows(f'PRAGMA foreign_key_list("{child}")')
                       if fk[2] == parent}
            if "CASCADE" in actions:
                found.pop(child, None)
                found[child] = "cascade"
                frontier.append(child)
            elif actions & {"SET NULL", "SET DEFAULT"} and child not in found:
                found[child] = "null"
    return found


def _restore(child: str, kind: str, involved: list[str]) -> None:
    """Put back what the DROP deleted (cascade) or nulled (set null) in ``child``."""
    keys = [r[1] for r in _rows(f'PRAGMA table_info("{child}")') if r[5]]
    match = " AND ".join(f'c."{k}" = b."{k}"' for k in keys)
    if kind == "cascade":
        columns = ", ".join(f'"{c}"' for c in _columns(child))
        database.execute_sql(
            f'INSERT INTO "{child}" ({columns}) SELECT {columns} FROM "_bak_{child}" AS b '
            f'WHERE NOT EXISTS (SELECT 1 FROM "{child}" AS c WHERE {match})')
        return
    nulled = sorted({fk[3] for fk in _rows(f'PRAGMA foreign_key_list("{child}")')
                     if fk[2] in involved and fk[6] in ("SET NULL", "SET DEFAULT")})
    for column in nulled:
        database.execute_sql(
            f'UPDATE "{child}" AS c SET "{column}" = b."{column}" FROM "_bak_{child}" AS b '
            f'WHERE {match} AND c."{column}" IS NOT b."{column}"')


_AUTOINCREMENT = re.compile(r"\bAUTOINCREMENT\b", re.IGNORECASE)


def _mentions(sql: str, names: list[str]) -> bool:
    return any(re.search(rf'(?<![\w"]){re.escape(n)}(?![\w"])|"{re.escape(n)}"', sql)
               for n in names)


def rebuild_table(table: str, create_sql: str, *, copy_columns: list[str] | None = None) -> None:
    """Rebuild ``table`` with a new definition, keeping every row, on SQLite and on D1 alike.

    ``create_sql`` is the complete new ``CREATE TABLE "<table>" (...)``. The statements are
    the recipe of D1.md, so the exporter can hand D1 exactly what ran here: D1 enforces
    foreign keys whatever the pragma says, so a DROP would empty ON DELETE CASCADE children
    and null SET NULL ones. Those children are copied aside and put back by primary key
    (on SQLite, with foreign keys off, they are still there and nothing is re-inserted);
    triggers and views naming the table are dropped and recreated; indexes recreated; and a
    guard fails the migration if any reference dangles. Call from a migration's
    ``migrate`` as ``migrator.run(rebuild_table, "name", sql)``.
    """
    head = re.match(r'\s*CREATE\s+TABLE\s+("?)' + re.escape(table) + r'\1', create_sql, re.I)
    if head is None:
        raise MigrationError(f"create_sql must start with CREATE TABLE \"{table}\"")
    execute = database.execute_sql
    closure = _cascade_closure(table)
    involved = [table, *closure]
    master = _rows("SELECT type, name, tbl_name, sql FROM sqlite_master "
                   "WHERE sql IS NOT NULL ORDER BY type, name")
    triggers = [(n, s) for t, n, tbl, s in master
                if t == "trigger" and (tbl in involved or _mentions(s, [table]))]
    views = [(n, s) for t, n, _tbl, s in master if t == "view" and _mentions(s, involved)]
    indexes = [(n, s) for t, n, tbl, s in master if t == "index" and tbl == table]
    old_sql = next(s for t, n, _tbl, s in master if t == "table" and n == table)
    new_name = f"{table}__rebuild"
    columns = copy_columns or _columns(table)
    column_list = ", ".join(f'"{c}"' for c in columns)

    execute("PRAGMA defer_foreign_keys = on")
    for name, _sql in views:
        execute(f'DROP VIEW "{name}"')
    for name, _sql in triggers:
        execute(f'DROP TRIGGER "{name}"')
    for child in closure:
        execute(f'CREATE TABLE "_bak_{child}" AS SELECT * FROM "{child}"')
    execute(f'CREATE TABLE "{new_name}"' + create_sql[head.end():])
    execute(f'INSERT INTO "{new_name}" ({column_list}) SELECT {column_list} FROM "{table}"')
    keep_counter = all(_AUTOINCREMENT.search(sql) for sql in (old_sql, create_sql))
    if keep_counter:
        # DROP forgets the AUTOINCREMENT high-water mark; ids must never be reused.
        execute(f'CREATE TABLE "_bak_seq_{table}" AS SELECT seq FROM sqlite_sequence '
                f"WHERE name = '{table}'")
    execute(f'DROP TABLE "{table}"')
    execute(f'ALTER TABLE "{new_name}" RENAME TO "{table}"')
    if keep_counter:
        saved = f'(SELECT seq FROM "_bak_seq_{table}")'
        execute(f"INSERT INTO sqlite_sequence (name, seq) SELECT '{table}', seq "
                f'FROM "_bak_seq_{table}" WHERE NOT EXISTS '
                f"(SELECT 1 FROM sqlite_sequence WHERE name = '{table}')")
        execute(f"UPDATE sqlite_sequence SET seq = {saved} "
                f"WHERE name = '{table}' AND seq < {saved}")
        execute(f'DROP TABLE "_bak_seq_{table}"')
    for child, kind in closure.items():
        _restore(child, kind, involved)
        execute(f'DROP TABLE "_bak_{child}"')
    for _name, sql in indexes:
        execute(sql)
    for _name, sql in triggers:
        execute(sql)
    for _name, sql in views:
        execute(sql)
    execute("PRAGMA defer_foreign_keys = off")
    execute("CREATE TABLE _fk_guard (n INTEGER NOT NULL CHECK (n = 0))")
    execute("INSERT INTO _fk_guard SELECT count(*) FROM pragma_foreign_key_check")
    execute("DROP TABLE _fk_guard")


# --- PostgreSQL (docs/scaling.md, "Migrations on PostgreSQL") ------------------------------
#
# Migrations 001..011 were written for SQLite and are never edited, so PostgreSQL does not
# replay them: one baseline step builds their end state, the models' schema as of 011
# (``sql/postgresql/0011_baseline.sql``, rendered once from ``schema_statements`` and frozen,
# so a later change of the models cannot leak into it), and records 001..011 in
# peewee-migrate's ``migratehistory``. Every later migration file carries its PostgreSQL
# branch as a second function, ``migrate_postgresql(migrator, database)``; a file without
# one is refused on PostgreSQL (never its SQLite SQL run there by accident).

POSTGRESQL_SQL_DIR = MIGRATIONS_DIR.parent / "sql" / "postgresql"
BASELINE_FILE = POSTGRESQL_SQL_DIR / "0011_baseline.sql"
BASELINE_LAST = "011_payments"  # the last migration the baseline stands for
# The frozen baseline, byte for byte: the runner refuses a file that was edited.
BASELINE_SHA256 = "9055854e2dfe0b5b6665c0d720ec98bfe13f2f33189b4c7229eb9425d673c3cd"
BASELINE_HEADER = (
    "-- The shop's schema as of migration {last}, on PostgreSQL: the baseline step of\n"
    "-- shop.services.migrations.migrate_postgresql. Generated once from the models\n"
    "-- (baseline_sql()); never edit it: later changes go in migrate_postgresql() of a\n"
    "-- new migration file.\n")
# One lock for everything a PostgreSQL migration run does: two processes migrating at once
# take turns, and the second finds the work done.
_MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(hashtext('shop.services.migrations'))"
HISTORY_DDL = ('CREATE TABLE IF NOT EXISTS "migratehistory" ("id" SERIAL NOT NULL PRIMARY KEY,'
               ' "name" VARCHAR(255) NOT NULL, "migrated_at" TIMESTAMP NOT NULL)')


def on_postgresql(db: peewee.Database) -> bool:
    """True when ``db`` is a PostgreSQL database (for code shared by both branches)."""
    from shop.db import dialect_of

    return dialect_of(db) == "postgresql"


def baseline_sql() -> str:
    """The models' schema on PostgreSQL as one SQL script (the baseline's text)."""
    from shop.db import ShopPostgresqlDatabase
    from shop.models import schema_statements

    statements = schema_statements(ShopPostgresqlDatabase(None))
    return BASELINE_HEADER.format(last=BASELINE_LAST) + "".join(
        f"\n{statement.strip()};\n" for statement in statements)


def _baseline_script() -> str:
    import hashlib

    data = BASELINE_FILE.read_bytes()
    if hashlib.sha256(data).hexdigest() != BASELINE_SHA256:
        raise MigrationError(f"{BASELINE_FILE} is not the shipped baseline (it was edited); "
                             "restore it from version control")
    return data.decode()


def _postgresql_error(exc: peewee.DatabaseError, what: str) -> MigrationError:
    return MigrationError(f"{what}: {str(exc).strip().splitlines()[0] if str(exc) else exc}")


def postgresql_history(db: peewee.Database) -> list[str]:
    """The migrations recorded on a PostgreSQL database (none before the first run)."""
    exists = db.execute_sql("SELECT to_regclass('public.migratehistory') IS NOT NULL"
                            ).fetchone()[0]
    if not exists:
        return []
    return [r[0] for r in db.execute_sql("SELECT name FROM migratehistory ORDER BY id")]


def _shop_tables(db: peewee.Database) -> list[str]:
    return [r[0] for r in db.execute_sql(
        "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') "
        "AND relnamespace = 'public'::regnamespace AND relname <> 'migratehistory' "
        "ORDER BY relname")]


def _record(db: peewee.Database, name: str) -> None:
    db.execute_sql("INSERT INTO migratehistory (name, migrated_at) "
                   "VALUES (%s, now() AT TIME ZONE 'utc')", (name,))


def _read_postgresql_branch(path: Path) -> Any:
    scope: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec", dont_inherit=True), scope, None)
    branch = scope.get("migrate_postgresql")
    if branch is None:
        raise MigrationError(
            f"migration {path.stem} has no PostgreSQL branch: define "
            "migrate_postgresql(migrator, database) in it (docs/scaling.md, \"Migrations on "
            "PostgreSQL\"); nothing after it was applied")
    return branch


def migrate_postgresql(db: peewee.Database, migrations_dir: Path | None = None) -> list[str]:
    """Bring a PostgreSQL database up to date; returns the names applied (empty when it
    already was). An empty database gets the baseline (001..011 at once), then every later
    migration's ``migrate_postgresql`` branch, each in its own transaction with its history
    row. Safe to run from two processes at once (an advisory lock; the second finds the
    work done). A database that has tables but no history is refused, untouched."""
    if not on_postgresql(db):
        raise MigrationError("migrate_postgresql() needs a PostgreSQL database")
    folder = migrations_dir or MIGRATIONS_DIR
    names = sorted(p.stem for p in folder.glob("[0-9]*.py") if Router.filemask.match(p.name))
    covered = [n for n in names if n <= BASELINE_LAST]
    stands_for = sorted(p.stem for p in MIGRATIONS_DIR.glob("[0-9]*.py")
                        if p.stem <= BASELINE_LAST)
    if covered != stands_for:
        raise MigrationError(f"the PostgreSQL baseline stands for {', '.join(stands_for)}; "
                             f"{folder} has {', '.join(covered) or 'none of them'}")
    applied: list[str] = []
    try:
        with db.atomic():
            db.execute_sql(_MIGRATION_LOCK)
            if not postgresql_history(db):
                tables = _shop_tables(db)
                if tables:
                    raise MigrationError(
                        f"the database has tables ({', '.join(tables[:5])}"
                        f"{', ...' if len(tables) > 5 else ''}) but no migration history: it "
                        "is not a shop database migrated by `shop migrate`; give an empty one")
                log.info("building the PostgreSQL baseline (%s)", ", ".join(covered))
                db.execute_sql(HISTORY_DDL)
                db.execute_sql(_baseline_script())
                for name in covered:
                    _record(db, name)
                applied.extend(covered)
        for name in names:
            if name <= BASELINE_LAST:
                continue
            branch = None
            with db.atomic():
                db.execute_sql(_MIGRATION_LOCK)
                if name in postgresql_history(db):
                    continue
                branch = _read_postgresql_branch(folder / f"{name}.py")
                log.info("applying migration %s (PostgreSQL)", name)
                migrator = Migrator(db)
                branch(migrator, db)
                migrator()
                _record(db, name)
            applied.append(name)
    except peewee.DatabaseError as exc:
        raise _postgresql_error(exc, "cannot migrate the PostgreSQL database") from exc
    return applied
