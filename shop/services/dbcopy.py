"""Move a shop from its SQLite file to an empty PostgreSQL database (`shop db copy`).

The target is migrated first (the baseline, then every later branch), so both hold the
same schema at the same migration. Then, in one PostgreSQL transaction, every table is
copied in foreign-key order (``ALL_MODELS``), ids kept, in batches read from one SQLite
snapshot; the id sequences are set past the highest id (and past SQLite's AUTOINCREMENT
counter, so an id SQLite handed out once is never handed out again); and the result is
verified before commit. Anything wrong rolls the whole copy back: the target is left
migrated and empty, and the copy can simply run again.

The ledger is never bypassed: products arrive at zero stock with no ledger head (as the
schema requires of a new product), and their stock moves, copied in id order, apply
themselves through the same triggers as on a live shop, each step checked by the head
guard. No trigger is disabled, so nothing can leave one off. The balances this rebuilds
must then equal the source's, product by product: a source whose balances do not follow
its ledger is refused (run `shop stock verify` on it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import peewee

from shop.errors import Conflict, Invalid, ShopError
from shop.models import ALL_MODELS
from shop.services.migrations import (
    MIGRATIONS_DIR,
    migrate_postgresql,
    postgresql_history,
)
from shop.services.stock import ledger_violations

BATCH_ROWS = 1000
# A move's AFTER INSERT trigger runs at the end of its statement, and the head guard wants
# the move to be its product's newest then: one statement per move (psycopg pipelines
# them), never a COPY or multi-row INSERT of several moves of one product.
ONE_STATEMENT_PER_ROW = {"stock_moves"}
# Tables of the SQLite engine itself, or of its full-text index: never copied.
_NOT_COPIED = ("sqlite_%", "products_fts%")


class CopyError(ShopError):
    """The copy did not verify (or could not run); nothing of it was committed."""

    code, status = "copy_failed", 500


class TargetNotEmpty(Conflict):
    """The target PostgreSQL database already holds rows (or tables of something else)."""

    code = "target_not_empty"


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)  # per table, copied and verified
    next_ids: dict[str, int] = field(default_factory=dict)  # per table: the next id given
    migrated: list[str] = field(default_factory=list)  # migrations applied to the target
    products: int = 0
    moves: int = 0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


Progress = Callable[[str, int, int], None]  # table, rows copied so far, rows in the table


def copy_order() -> list[str]:
    """Every table, each after the tables it references."""
    return [model._meta.table_name for model in ALL_MODELS]


def _open_source(path: Path) -> sqlite3.Connection:
    path = Path(path)
    if path.is_dir():
        raise Invalid(f"{path} is a folder, not a shop database file")
    if not path.is_file():
        raise Invalid(f"no database at {path} (check --from / SHOP_DATABASE)")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        has_history = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                   "AND name = 'migratehistory'").fetchone()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise Invalid(f"{path} is not a SQLite database: {exc}") from exc
    if not has_history:
        conn.close()
        raise Invalid(f"{path} is not a migrated shop database (no migratehistory)")
    return conn


def _source_tables(conn: sqlite3.Connection) -> set[str]:
    where = " AND ".join("name NOT LIKE ?" for _ in _NOT_COPIED)
    return {r[0] for r in conn.execute(
        f"SELECT name FROM sqlite_master WHERE type = 'table' AND {where} "
        "AND name <> 'migratehistory'", _NOT_COPIED)}


def _source_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]


def _target_columns(db: peewee.Database, table: str) -> list[str]:
    """The columns a row can be given (the search document is generated)."""
    return [r[0] for r in db.execute_sql(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum", (f'"{table}"',))]


def _target_tables(db: peewee.Database) -> list[str]:
    return [r[0] for r in db.execute_sql(
        "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') "
        "AND relnamespace = 'public'::regnamespace AND relname <> 'migratehistory' "
        "ORDER BY relname")]


def check_target_empty(db: peewee.Database) -> None:
    """Refuse a target that holds rows, or tables that are not a migrated shop's."""
    tables = _target_tables(db)
    if tables and not postgresql_history(db):
        raise TargetNotEmpty(
            f"the target database has tables ({', '.join(tables[:5])}) and is not a shop "
            "database: copy into a new, empty database (createdb)")
    full = [t for t in tables
            if db.execute_sql(f'SELECT EXISTS (SELECT 1 FROM "{t}")').fetchone()[0]]
    if full:
        raise TargetNotEmpty(
            f"the target database is not empty ({', '.join(full[:5])}"
            f"{', ...' if len(full) > 5 else ''} have rows): `shop db copy` only fills an "
            "empty database; drop and create it again (dropdb, createdb) to copy afresh")


def copy_to_postgresql(source: Path, target: peewee.Database, *, batch: int = BATCH_ROWS,
                       on_progress: Progress | None = None) -> CopyReport:
    """Copy the SQLite shop at ``source`` into the empty PostgreSQL database ``target``,
    verified (see the module's text). Stop the shop's writes first: the copy reads one
    snapshot, and whatever is written to the file after it is not copied."""
    conn = _open_source(source)
    report = CopyReport()
    try:
        check_target_empty(target)
        source_history = [r[0] for r in conn.execute("SELECT name FROM migratehistory "
                                                     "ORDER BY id")]
        shipped = sorted(p.stem for p in MIGRATIONS_DIR.glob("[0-9]*.py"))
        if source_history != shipped:
            raise Invalid(f"{source} is not at the latest migration: run `shop migrate` on it "
                          "first (with the shop stopped)")
        report.migrated = migrate_postgresql(target)
        check_target_empty(target)  # another process may have filled it meanwhile
        if postgresql_history(target) != source_history:
            raise CopyError("the target's migrations differ from the source's: "
                            f"{postgresql_history(target)} against {source_history}")
        conn.execute("BEGIN")  # one snapshot of the source for the whole copy
        _check_tables(conn, target)
        try:
            with target.atomic():
                target.execute_sql("LOCK TABLE products IN EXCLUSIVE MODE")
                check_target_empty(target)
                for table in copy_order():
                    report.rows[table] = _copy_table(conn, target, table, batch, on_progress)
                report.next_ids = _reset_sequences(conn, target)
                _verify(conn, target, report)
        except (peewee.DatabaseError, _psycopg_error()) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CopyError(f"the copy failed and was rolled back (the target is empty): "
                            f"{first}") from exc
        target.execute_sql("ANALYZE")  # planner statistics for the new rows
    finally:
        conn.close()
    return report


def _psycopg_error() -> type[Exception]:
    import psycopg

    return psycopg.Error


def _check_tables(conn: sqlite3.Connection, target: peewee.Database) -> None:
    source, wanted = _source_tables(conn), set(copy_order())
    if source != wanted or set(_target_tables(target)) != wanted:
        raise CopyError(f"the source's tables differ from the shop's: "
                        f"missing {sorted(wanted - source)}, unknown {sorted(source - wanted)}")
    for table in wanted:
        mine, theirs = _source_columns(conn, table), _target_columns(target, table)
        if set(mine) != set(theirs):
            raise CopyError(f"{table}: the source has columns {sorted(set(mine) - set(theirs))}"
                            f" the target has not, and lacks {sorted(set(theirs) - set(mine))}")


def _copy_table(conn: sqlite3.Connection, target: peewee.Database, table: str, batch: int,
                on_progress: Progress | None) -> int:
    """Rows of ``table`` in id order, ``batch`` at a time, through COPY (row triggers and
    foreign keys checked as for any insert). Products start at zero stock with no head:
    their moves bring them to their balance."""
    columns = _source_columns(conn, table)
    total = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    column_list = ", ".join(f'"{c}"' for c in columns)
    zeroed = [i for i, c in enumerate(columns)
              if table == "products" and c in ("stock_quantity", "ledger_head")]
    insert = (f'INSERT INTO "{table}" ({column_list}) '
              f"VALUES ({', '.join(['%s'] * len(columns))})")
    cursor = target.cursor()
    copied, last = 0, None
    if on_progress is not None:
        on_progress(table, 0, total)
    while True:
        if last is None:
            rows = conn.execute(f'SELECT {column_list} FROM "{table}" ORDER BY id LIMIT ?',
                                (batch,)).fetchall()
        else:
            rows = conn.execute(f'SELECT {column_list} FROM "{table}" WHERE id > ? '
                                "ORDER BY id LIMIT ?", (last, batch)).fetchall()
        if not rows:
            break
        if zeroed:
            rows = [tuple(0 if i in zeroed else v for i, v in enumerate(row)) for row in rows]
        if table in ONE_STATEMENT_PER_ROW:
            cursor.executemany(insert, rows)
        else:
            with cursor.copy(f'COPY "{table}" ({column_list}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        last = rows[-1][columns.index("id")]
        copied += len(rows)
        if on_progress is not None:
            on_progress(table, copied, total)
    return copied


def _sqlite_counters(conn: sqlite3.Connection) -> dict[str, int]:
    """SQLite's AUTOINCREMENT counters: ids it handed out, rows since deleted included."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
                        ).fetchone():
        return {}
    return dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())


def _reset_sequences(conn: sqlite3.Connection, target: peewee.Database) -> dict[str, int]:
    """Each table's id sequence to hand out max(id) + 1 next (or past SQLite's counter)."""
    counters = _sqlite_counters(conn)
    next_ids = {}
    for table in copy_order():
        top = target.execute_sql(f'SELECT coalesce(max(id), 0) FROM "{table}"').fetchone()[0]
        next_id = max(top, counters.get(table, 0)) + 1
        target.execute_sql("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, false)",
                           (f'"{table}"', next_id))
        next_ids[table] = next_id
    return next_ids


# Ledger problems named in a refusal: enough to find them, `shop stock verify` lists all.
SHOWN_VIOLATIONS = 10


def _verify(conn: sqlite3.Connection, target: peewee.Database, report: CopyReport) -> None:
    """Row counts per table, the ledger (:func:`shop.services.stock.ledger_violations`,
    the one set of checks `shop stock verify` runs), each balance and head against the
    source's, and each sequence; raises :class:`CopyError` (rolling the copy back) on
    any difference."""
    problems = []
    for table, copied in report.rows.items():
        there = target.execute_sql(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        here = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        if not here == copied == there:
            problems.append(f"{table}: {here} rows in the source, {there} in the target")
    violations = ledger_violations(target)  # the checks of `shop stock verify`, no other
    if violations:
        shown = "; ".join(f"product {v.product_id} ({v.sku}): {v.problem}"
                          for v in violations[:SHOWN_VIOLATIONS])
        more = (f" and {len(violations) - SHOWN_VIOLATIONS} more"
                if len(violations) > SHOWN_VIOLATIONS else "")
        problems.append(f"the ledger does not verify on the target, as `shop stock verify` "
                        f"would say: {shown}{more}")
    differing = _balances_differing(conn, target)
    if differing:
        problems.append(
            f"products {differing[:10]} rebuilt from their moves differ from the source's "
            "balance or head: the source's ledger is off (run `shop stock verify` on it)")
    for table, next_id in report.next_ids.items():
        value, called = target.execute_sql(
            f"SELECT last_value, is_called FROM {_sequence(target, table)}").fetchone()
        if (value + 1 if called else value) != next_id:
            problems.append(f"{table}: the id sequence does not hand out {next_id} next")
    if problems:
        raise CopyError("the copy did not verify and was rolled back (the target is empty): "
                        + "; ".join(problems))
    report.products = report.rows["products"]
    report.moves = report.rows["stock_moves"]


def _sequence(target: peewee.Database, table: str) -> str:
    return target.execute_sql("SELECT pg_get_serial_sequence(%s, 'id')",
                              (f'"{table}"',)).fetchone()[0]


def _balances_differing(conn: sqlite3.Connection, target: peewee.Database,
                        chunk: int = 10_000) -> list[int]:
    """Products whose rebuilt balance or head differs from the source's, a range at a time."""
    differing: list[int] = []
    top = conn.execute("SELECT coalesce(max(id), 0) FROM products").fetchone()[0]
    sql = "SELECT id, stock_quantity, ledger_head FROM products WHERE id BETWEEN {} AND {} " \
          "ORDER BY id"
    for low in range(1, top + 1, chunk):
        high = low + chunk - 1
        here = conn.execute(sql.format("?", "?"), (low, high)).fetchall()
        there = [tuple(r) for r in target.execute_sql(sql.format("%s", "%s"), (low, high))]
        if here != there:
            mine, theirs = dict((r[0], r[1:]) for r in here), dict((r[0], r[1:]) for r in there)
            differing.extend(sorted(i for i in mine.keys() | theirs.keys()
                                    if mine.get(i) != theirs.get(i)))
    return differing
