"""Migrations: the migrated schema is the models' schema; later migrations keep every row."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import peewee
import pytest

from shop import introspect
from shop.db import database, init_database, write_transaction
from shop.models import create_schema
from shop.services.migrations import MIGRATIONS_DIR, MigrationError, migrate, rebuild_table
from tests.populate import migrations_upto, populate, row_counts, table_rows

# sqlite_only: the SQLite migrations (PostgreSQL's: test_postgresql_migrations.py).
pytestmark = pytest.mark.sqlite_only

LATER = Path(__file__).parent / "fixtures" / "migrations_later"
SHIPPED = sorted(p.stem for p in MIGRATIONS_DIR.glob("[0-9]*.py"))
EXPECTED_TABLES = {
    "users", "sessions", "password_resets", "addresses", "login_failures", "products",
    "images", "product_reservations", "stock_moves", "orders", "order_items",
    "sell_submissions", "sell_items", "offer_events", "analytics_events", "analytics_daily",
    "system_logs", "audit_logs", "products_fts", "rate_limit_hits", "idempotency_records",
    "analytics_totals", "mail_outbox", "payments", "webhook_events", "job_runs",
}


def _fresh(path: Path) -> None:
    init_database(path)  # closes any connection to the previous file


def _models_schema(tmp_path: Path) -> dict:
    path = tmp_path / "models.db"
    _fresh(path)
    create_schema(database)
    database.close()
    return introspect.describe_file(str(path))


def test_migrated_schema_equals_models_schema(tmp_path: Path) -> None:
    _fresh(tmp_path / "migrated.db")
    assert migrate() == SHIPPED
    database.close()
    migrated = introspect.describe_file(str(tmp_path / "migrated.db"))
    expected = _models_schema(tmp_path)

    assert introspect.differences(migrated, expected) == []
    assert set(migrated["tables"]) == EXPECTED_TABLES
    assert {"stock_moves_no_update", "stock_moves_no_delete", "stock_moves_apply",
            "products_fts_insert", "products_fts_update", "products_fts_delete",
            "offer_events_no_update", "offer_events_no_delete", "stock_moves_no_replace",
            "offer_events_no_replace"} <= set(migrated["triggers"])
    assert migrated["indexes"]["addresses_one_default"]["where"] == "is_default = 1"
    images = migrated["tables"]["images"]
    assert "(product_id IS NULL) <> (submission_id IS NULL)" in images["checks"]
    assert ("products", "product_id", "id", "NO ACTION", "CASCADE", "NONE") in \
        images["foreign_keys"]


def test_schema_comparison_notices_a_missing_trigger_check_or_index_where(tmp_path) -> None:
    """The equality above could not pass by accident: the comparison sees small drifts."""
    _fresh(tmp_path / "a.db")
    migrate()
    database.execute_sql("DROP TRIGGER stock_moves_no_delete")
    database.execute_sql("DROP INDEX addresses_one_default")
    database.execute_sql('CREATE UNIQUE INDEX addresses_one_default ON addresses '
                         '(user_id, kind) WHERE is_default = 0')
    database.close()
    drift = introspect.differences(introspect.describe_file(str(tmp_path / "a.db")),
                                   _models_schema(tmp_path))
    assert any("stock_moves_no_delete" in d for d in drift)
    assert any("addresses_one_default" in d for d in drift)

    conn = sqlite3.connect(tmp_path / "c.db")
    conn.execute("CREATE TABLE t (a INTEGER CHECK (a > 0))")
    conn.commit()
    one = introspect.describe(conn)
    for drifted in ("CREATE TABLE t (a INTEGER CHECK (a >= 0))",
                    "CREATE TABLE t (a INTEGER COLLATE NOCASE CHECK (a > 0))",
                    "CREATE TABLE t (a INTEGER CHECK (a > 0) REFERENCES t (a) "
                    "DEFERRABLE INITIALLY DEFERRED)"):
        conn.execute("DROP TABLE t")
        conn.execute(drifted)
        assert introspect.differences(one, introspect.describe(conn)) != [], drifted
    conn.execute("DROP TABLE t")
    conn.execute("CREATE TABLE t (a TEXT CHECK (a <> 'x  y'))")
    two = introspect.describe(conn)
    conn.execute("DROP TABLE t")
    conn.execute("CREATE TABLE t (a TEXT CHECK (a <> 'x y'))")
    assert introspect.differences(two, introspect.describe(conn)) != []
    conn.execute("CREATE INDEX t_lower ON t (lower(a))")
    three = introspect.describe(conn)
    conn.execute("DROP INDEX t_lower")
    conn.execute("CREATE INDEX t_lower ON t (upper(a))")
    assert introspect.differences(three, introspect.describe(conn)) != []


def test_migrate_twice_is_a_no_op(tmp_path: Path) -> None:
    _fresh(tmp_path / "twice.db")
    assert migrate() == SHIPPED
    before = introspect.describe_file(str(tmp_path / "twice.db"))
    assert migrate() == []
    assert introspect.describe_file(str(tmp_path / "twice.db")) == before
    assert database.execute_sql("SELECT count(*) FROM migratehistory").fetchone()[0] == len(
        SHIPPED)


def test_foreign_keys_are_back_on_after_migrating(tmp_path: Path) -> None:
    _fresh(tmp_path / "fk.db")
    migrate()
    assert database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1


def _with_later(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    for path in sorted(LATER.glob("*.py")):
        shutil.copy(path, folder / path.name)
    return folder


def test_later_migrations_keep_every_row_and_trigger(tmp_path: Path) -> None:
    path = tmp_path / "populated.db"
    _fresh(path)
    migrate()
    populate()
    conn = sqlite3.connect(path)
    before_rows = row_counts(conn)
    before = introspect.describe(conn)
    conn.close()
    assert all(before_rows.values()), before_rows  # every table has rows to lose

    applied = migrate(_with_later(tmp_path))
    assert applied == ["090_add_product_colour", "091_rebuild_products",
                       "092_rebuild_product_reservations"]
    database.close()

    conn = sqlite3.connect(path)
    after = introspect.describe(conn)
    assert row_counts(conn) == before_rows
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert after["triggers"] == before["triggers"]
    assert set(after["indexes"]) == set(before["indexes"])
    assert "price_cents BETWEEN 1 AND 100000000" in after["tables"]["products"]["checks"]
    assert "colour" in [c[0] for c in after["tables"]["products"]["columns"]]
    # The rebuilt table still obeys the ledger and the search index still finds it.
    assert conn.execute("SELECT count(*) FROM products_fts WHERE products_fts MATCH 'product'"
                        ).fetchone()[0] == 2
    conn.execute("PRAGMA foreign_keys = ON")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE products SET stock_quantity = 99 WHERE id = 1")
    conn.execute("INSERT INTO stock_moves (product_id, qty_change, reason, created_at) "
                 "VALUES (1, 2, 'restock', 'x')")
    assert conn.execute("SELECT stock_quantity FROM products WHERE id = 1").fetchone()[0] == 4
    conn.close()


def test_a_failing_migration_commits_nothing(tmp_path: Path) -> None:
    path = tmp_path / "fail.db"
    _fresh(path)
    migrate()
    populate()
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "099_dangling.py").write_text(
        "def migrate(migrator, database, *, fake=False):\n"
        "    migrator.sql(\"ALTER TABLE products ADD COLUMN note TEXT NOT NULL DEFAULT ''\")\n"
        "    migrator.sql('DELETE FROM sell_items')\n")
    with pytest.raises(Exception, match="dangling"):
        migrate(folder)
    cols = [r[1] for r in database.execute_sql("PRAGMA table_info(products)").fetchall()]
    assert "note" not in cols
    assert database.execute_sql("SELECT count(*) FROM sell_items").fetchone()[0] == 2
    assert [r[0] for r in database.execute_sql(
        "SELECT name FROM migratehistory ORDER BY id")] == SHIPPED


@pytest.mark.parametrize("table", ["products", "users", "sell_submissions", "orders",
                                   "product_reservations"])
def test_rebuild_keeps_every_row_even_where_foreign_keys_are_enforced(tmp_path, table):
    """D1 enforces foreign keys whatever the pragma says: with them on, a DROP cascades, so
    this exercises the copy-aside and restore steps that SQLite's migrations never need."""
    path = tmp_path / "enforced.db"
    _fresh(path)
    migrate()
    populate()
    # A hold that was settled and deleted: the counter must not hand its id out again.
    database.execute_sql("DELETE FROM product_reservations WHERE id = "
                         "(SELECT max(id) FROM product_reservations)")
    seq = "SELECT seq FROM sqlite_sequence WHERE name = 'product_reservations'"
    counter = database.execute_sql(seq).fetchone()[0]
    snapshot = sqlite3.connect(path)
    before = table_rows(snapshot, snapshot)
    create_sql = database.execute_sql(
        "SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    assert database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    with write_transaction():
        rebuild_table(table, create_sql)
    assert table_rows(snapshot, snapshot) == before
    assert database.execute_sql("PRAGMA foreign_key_check").fetchall() == []
    assert database.execute_sql(seq).fetchone()[0] == counter
    snapshot.close()


def test_ledger_head_migration_backfills_a_populated_database(tmp_path: Path) -> None:
    """Migration 002 on a shop that has history: balances kept, heads set to each product's
    newest move, the guard live afterwards, and the schema equal to the models'."""
    path = tmp_path / "old.db"
    _fresh(path)
    assert migrate(migrations_upto(tmp_path / "upto-001", "001_initial")) == ["001_initial"]
    populate()
    for qty in (3, -2, 4):  # a longer history on product 1, interleaved with product 2
        database.execute_sql("INSERT INTO stock_moves (product_id, qty_change, reason, note, "
                             "created_at) VALUES (1, ?, 'adjustment', 'count', 'x')", (qty,))
        database.execute_sql("INSERT INTO stock_moves (product_id, qty_change, reason, "
                             "created_at) VALUES (2, 1, 'restock', 'x')")
    database.execute_sql("INSERT INTO products (sku, title, description, brand, category, size,"
                         " condition, price_cents, status, featured, stock_quantity, created_at,"
                         " updated_at) VALUES ('NO-MOVES', 't', '', '', 'coats', '', 'good', 1,"
                         " 'draft', 0, 0, 'x', 'x')")
    balances = dict(database.execute_sql("SELECT id, stock_quantity FROM products").fetchall())

    assert migrate() == SHIPPED[1:]
    rows = database.execute_sql(
        "SELECT p.id, p.stock_quantity, p.ledger_head, coalesce(sum(m.qty_change), 0), "
        "coalesce(max(m.id), 0) FROM products p LEFT JOIN stock_moves m ON m.product_id = p.id "
        "GROUP BY p.id ORDER BY p.id").fetchall()
    assert [(r[0], r[1]) for r in rows] == sorted(balances.items())
    assert all(stock == total and head == newest for _, stock, head, total, newest in rows)
    assert rows[-1][2] == 0  # no moves, no head

    with pytest.raises(peewee.IntegrityError, match="only through stock_moves"):
        database.execute_sql("UPDATE products SET stock_quantity = stock_quantity + 1 "
                             "WHERE id = 1")
    cursor = database.execute_sql("INSERT INTO stock_moves (product_id, qty_change, reason, "
                                  "created_at) VALUES (1, 2, 'restock', 'x')")
    assert database.execute_sql("SELECT stock_quantity, ledger_head FROM products WHERE id = 1"
                                ).fetchone() == (balances[1] + 2, cursor.lastrowid)
    database.close()
    assert introspect.differences(introspect.describe_file(str(path)),
                                  _models_schema(tmp_path)) == []


def test_ledger_head_migration_refuses_a_balance_that_does_not_match_its_ledger(tmp_path):
    """The backfill proves the old invariant instead of trusting it: a balance edited
    behind the old guard's back stops the migration, and nothing of 002 is committed."""
    path = tmp_path / "tampered.db"
    _fresh(path)
    migrate(migrations_upto(tmp_path / "upto-001", "001_initial"))
    populate()
    database.execute_sql("DROP TRIGGER products_stock_follows_ledger")
    database.execute_sql("UPDATE products SET stock_quantity = 99 WHERE id = 2")
    with pytest.raises(MigrationError):
        migrate()
    assert [r[0] for r in database.execute_sql("SELECT name FROM migratehistory")] == [
        "001_initial"]
    assert "ledger_head" not in [r[1] for r in database.execute_sql(
        "PRAGMA table_info(products)").fetchall()]
