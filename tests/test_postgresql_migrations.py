"""Migrations on PostgreSQL (docs/scaling.md, "Migrations on PostgreSQL"): one baseline for
001..011, then each later migration's ``migrate_postgresql`` branch. The migrated schema is
the models' schema; running it twice changes nothing; a populated database keeps every row.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from shop.introspect import describe_postgresql
from shop.models import ALL_MODELS, create_schema
from shop.services import migrations
from shop.services.migrations import (
    BASELINE_FILE,
    BASELINE_SHA256,
    MIGRATIONS_DIR,
    MigrationError,
    migrate_postgresql,
    postgresql_history,
)
from tests.pg_databases import empty_database
from tests.populate import populate

# engine_fixed: PostgreSQL's migrations, in the first pass.
pytestmark = pytest.mark.engine_fixed

SHIPPED = sorted(p.stem for p in MIGRATIONS_DIR.glob("[0-9]*.py"))
LATER = Path(__file__).parent / "fixtures" / "migrations_later"


@pytest.fixture
def pg_empty(postgresql_url: str) -> Iterator[peewee.Database]:
    with empty_database(postgresql_url) as db:
        yield db


@pytest.fixture
def pg_models(postgresql_url: str) -> Iterator[peewee.Database]:
    """An empty database given the models' schema directly (what migrations must reach)."""
    with empty_database(postgresql_url) as db:
        create_schema(db)
        yield db


def _rows(db: peewee.Database, sql: str, *params: object) -> list[tuple]:
    return [tuple(r) for r in db.execute_sql(sql, params or None).fetchall()]


def _every_row(db: peewee.Database) -> dict[str, list[tuple]]:
    tables = [r[0] for r in _rows(db, "SELECT relname FROM pg_class WHERE relkind = 'r' AND "
                                      "relnamespace = 'public'::regnamespace AND relname <> "
                                      "'migratehistory' ORDER BY relname")]
    return {t: _rows(db, f'SELECT * FROM "{t}" ORDER BY id') for t in tables}


def test_migrating_an_empty_database_gives_the_models_schema(pg_empty, pg_models) -> None:
    assert migrate_postgresql(pg_empty) == SHIPPED
    migrated, models = describe_postgresql(pg_empty), describe_postgresql(pg_models)
    assert migrated == models  # tables, columns, CHECKs, FKs, indexes, triggers: all of it
    assert len(migrated["tables"]) == 25
    assert postgresql_history(pg_empty) == SHIPPED
    # The triggers are live, not just present: a balance moves only along the ledger.
    with pg_empty.bind_ctx(ALL_MODELS):
        populate()
    with pytest.raises(peewee.IntegrityError, match="only through stock_moves"):
        pg_empty.execute_sql("UPDATE products SET stock_quantity = 99 WHERE id = 1")
    assert _rows(pg_empty, "SELECT id, stock_quantity, ledger_head FROM products ORDER BY id"
                 ) == [(1, 2, 4), (2, 2, 8)]


def test_migrate_twice_is_a_no_op(pg_empty) -> None:
    assert migrate_postgresql(pg_empty) == SHIPPED
    before = describe_postgresql(pg_empty)
    history = _rows(pg_empty, "SELECT id, name, migrated_at FROM migratehistory ORDER BY id")
    assert migrate_postgresql(pg_empty) == []
    assert describe_postgresql(pg_empty) == before
    assert _rows(pg_empty, "SELECT id, name, migrated_at FROM migratehistory ORDER BY id"
                 ) == history
    assert len(history) == 15


def test_two_processes_migrating_at_once_take_turns(pg_empty) -> None:
    """Two `shop serve` starting together: each migration is applied exactly once, by one
    of them (the baseline and each later migration take the lock on their own, so the two
    may share the work), and the other finds it done."""
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(migrate_postgresql(pg_empty))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(results) == 2
    assert sorted(results[0] + results[1]) == SHIPPED  # each name once: none run twice
    assert postgresql_history(pg_empty) == SHIPPED


def _with_later(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in names:
        shutil.copy(LATER / f"{name}.py", folder / f"{name}.py")
    return folder


def test_later_migrations_keep_every_row_of_a_populated_database(pg_empty, tmp_path) -> None:
    migrate_postgresql(pg_empty)
    with pg_empty.bind_ctx(ALL_MODELS):
        populate()
    before = _every_row(pg_empty)
    assert all(before.values()), {t: len(r) for t, r in before.items()}  # rows to lose
    counters = _rows(pg_empty, "SELECT sequencename, last_value FROM pg_sequences "
                               "WHERE sequencename <> 'migratehistory_id_seq' ORDER BY 1")

    applied = migrate_postgresql(pg_empty, _with_later(
        tmp_path, "090_add_product_colour", "091_rebuild_products",
        "092_rebuild_product_reservations"))
    assert applied == ["090_add_product_colour", "091_rebuild_products",
                       "092_rebuild_product_reservations"]

    after = _every_row(pg_empty)
    products = after.pop("products")
    assert after == {t: r for t, r in before.items() if t != "products"}
    assert [r[:-1] for r in products] == before["products"]  # every value, plus the colour
    assert [r[-1] for r in products] == ["", ""]
    assert _rows(pg_empty, "SELECT sequencename, last_value FROM pg_sequences "
                           "WHERE sequencename <> 'migratehistory_id_seq' ORDER BY 1"
                 ) == counters
    checks = describe_postgresql(pg_empty)["tables"]["products"]["checks"]
    assert "CHECK (((price_cents >= 1) AND (price_cents <= 100000000)))" in checks
    with pytest.raises(peewee.IntegrityError):
        pg_empty.execute_sql("UPDATE products SET price_cents = 100000001 WHERE id = 1")


def test_a_later_migration_without_a_postgresql_branch_is_refused(pg_empty, tmp_path) -> None:
    folder = _with_later(tmp_path, "090_add_product_colour")
    (folder / "095_sqlite_only.py").write_text(
        "def migrate(migrator, database, *, fake=False):\n"
        "    migrator.sql(\"ALTER TABLE products ADD COLUMN note TEXT NOT NULL DEFAULT ''\")\n")
    shutil.copy(LATER / "091_rebuild_products.py", folder / "096_after.py")
    with pytest.raises(MigrationError, match=r"migration 095_sqlite_only has no PostgreSQL "
                                             r"branch: define migrate_postgresql\("):
        migrate_postgresql(pg_empty, folder)
    # What came before it is applied and recorded; it and what follows are not.
    assert postgresql_history(pg_empty) == [*SHIPPED, "090_add_product_colour"]
    columns = [c[0] for c in describe_postgresql(pg_empty)["tables"]["products"]["columns"]]
    assert "colour" in columns and "note" not in columns


def test_a_failing_branch_commits_nothing(pg_empty, tmp_path) -> None:
    migrate_postgresql(pg_empty)
    folder = _with_later(tmp_path)
    (folder / "097_half.py").write_text(
        "def migrate_postgresql(migrator, database):\n"
        "    migrator.sql(\"ALTER TABLE products ADD COLUMN note TEXT NOT NULL DEFAULT ''\")\n"
        "    migrator.sql('ALTER TABLE no_such_table ADD COLUMN x TEXT')\n")
    with pytest.raises(MigrationError, match='relation "no_such_table" does not exist'):
        migrate_postgresql(pg_empty, folder)
    assert postgresql_history(pg_empty) == SHIPPED
    columns = [c[0] for c in describe_postgresql(pg_empty)["tables"]["products"]["columns"]]
    assert "note" not in columns


def test_a_database_with_tables_but_no_history_is_refused_untouched(pg_empty) -> None:
    pg_empty.execute_sql("CREATE TABLE products (id integer PRIMARY KEY)")
    with pytest.raises(MigrationError, match=r"has tables \(products\) but no migration "
                                             r"history"):
        migrate_postgresql(pg_empty)
    assert _rows(pg_empty, "SELECT relname FROM pg_class WHERE relkind = 'r' AND "
                           "relnamespace = 'public'::regnamespace") == [("products",)]


def test_the_baseline_is_frozen(pg_empty, tmp_path, monkeypatch) -> None:
    """The shipped baseline is never edited (like a shipped migration): an edited one is
    refused before anything runs."""
    assert hashlib.sha256(BASELINE_FILE.read_bytes()).hexdigest() == BASELINE_SHA256
    edited = tmp_path / "0011_baseline.sql"
    edited.write_text(BASELINE_FILE.read_text().replace("price_cents > 0", "price_cents >= 0"))
    monkeypatch.setattr(migrations, "BASELINE_FILE", edited)
    with pytest.raises(MigrationError, match="is not the shipped baseline"):
        migrate_postgresql(pg_empty)
    assert postgresql_history(pg_empty) == []


def test_shop_migrate_takes_a_postgresql_url(pg_empty, monkeypatch) -> None:
    from click.testing import CliRunner

    from shop.cli import main

    runner = CliRunner()
    first = runner.invoke(main, ["migrate", "--database-url", pg_empty.url])
    assert first.exit_code == 0, first.output
    assert first.stdout == (f"applied 15 migration(s) to {pg_empty.url}: "
                            + ", ".join(SHIPPED) + "\n")
    monkeypatch.setenv("SHOP_DATABASE_URL", pg_empty.url)  # the environment names it too
    second = runner.invoke(main, ["migrate"])
    assert second.exit_code == 0, second.output
    assert second.stdout == f"{pg_empty.url} is up to date\n"
    assert postgresql_history(pg_empty) == SHIPPED

    wrong = runner.invoke(main, ["migrate", "--database-url", "sqlite:///x.db"])
    assert wrong.exit_code == 2
    assert wrong.stderr == ("Error: --database-url / SHOP_DATABASE_URL must be a "
                            "postgresql:// URL, not 'sqlite:///x.db'\n")


def test_a_folder_without_all_that_the_baseline_stands_for_is_refused(pg_empty, tmp_path):
    """The baseline builds 011's schema: it cannot stand for a folder that stops at 009."""
    from tests.populate import migrations_upto

    folder = migrations_upto(tmp_path / "upto-009", "009_photos")
    with pytest.raises(MigrationError, match=r"the PostgreSQL baseline stands for "
                                             r"001_initial, .*, 011_payments; .* has "
                                             r"001_initial, .*, 009_photos$"):
        migrate_postgresql(pg_empty, folder)
    assert postgresql_history(pg_empty) == []
