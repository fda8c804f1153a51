"""Proof with the real wrangler (offline, ``--local``): D1 gets exactly the container's schema,
keeps every row through later migrations (table rebuilds included), and enforces the same
rules. Needs ``npm ci`` (the test command runs it); without it these tests fail, not skip.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from shop import introspect
from shop.d1 import export
from shop.d1.wrangler import Wrangler
from shop.db import database, init_database
from shop.models import ALL_MODELS
from shop.services.migrations import MIGRATIONS_DIR, migrate
from tests.populate import migrations_upto, populate, table_rows

# sqlite_only: D1 is SQLite's dialect.
pytestmark = [pytest.mark.wrangler, pytest.mark.sqlite_only]

ROOT = Path(__file__).resolve().parents[2]
LATER = ROOT / "tests" / "fixtures" / "migrations_later"


def _sqlite_database(path: Path, migrations_dir: Path | None = None, *,
                     populated: bool = False, upto: str | None = None) -> sqlite3.Connection:
    """A container database migrated through peewee-migrate: populated (if asked) right
    after the first migration, so every later one runs on rows, then migrated to the end
    of ``migrations_dir`` (the shipped ones by default) or only ``upto`` a migration."""
    init_database(path)
    migrate(migrations_upto(path.parent / f"{path.stem}-first", "001_initial"))
    if populated:
        populate()
    if upto is not None:
        migrate(migrations_upto(path.parent / f"{path.stem}-upto", upto))
    else:
        migrate(migrations_dir or MIGRATIONS_DIR)
    database.close()
    return sqlite3.connect(path)


_LEDGER_COLUMNS = {("products", "stock_quantity"), ("products", "ledger_head")}


def seed_sql(conn: sqlite3.Connection) -> str:
    """INSERTs reproducing ``conn``'s rows on D1, parents first. Products go in with no
    stock and the ledger rows put it back, as the stock triggers demand."""
    statements = []
    for model in ALL_MODELS:
        table = model._meta.table_name
        columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
        if not columns:
            continue  # a table of a later migration than ``conn`` has run
        values = " || ', ' || ".join(
            "0" if (table, c) in _LEDGER_COLUMNS else f'quote("{c}")'
            for c in columns)
        names = ", ".join(f'"{c}"' for c in columns)
        for (row,) in conn.execute(f'SELECT {values} FROM "{table}" ORDER BY rowid'):
            statements.append(f'INSERT INTO "{table}" ({names}) VALUES ({row});')
    return "\n".join(statements)


# -- (a) a fresh D1 has the container's schema -------------------------------------------

@pytest.fixture(scope="module")
def fresh_d1(tmp_path_factory: pytest.TempPathFactory) -> Wrangler:
    """The shipped sql/d1, applied to an empty local D1."""
    harness = Wrangler(ROOT, tmp_path_factory.mktemp("fresh-d1"))
    harness.apply_migrations()
    return harness


def test_shipped_export_is_up_to_date() -> None:
    assert export.stale() == []


def test_fresh_d1_schema_equals_the_container_schema(fresh_d1: Wrangler, tmp_path) -> None:
    container = _sqlite_database(tmp_path / "container.db")
    expected = introspect.describe(container)
    d1 = fresh_d1.connect_readonly()
    try:
        actual = introspect.describe(d1)
        applied = [r[0] for r in d1.execute("SELECT name FROM d1_migrations ORDER BY id")]
    finally:
        d1.close()
    assert introspect.differences(actual, expected) == []
    assert "products_fts" in actual["tables"] and actual["triggers"]
    assert applied == sorted(p.name for p in (ROOT / "sql" / "d1").glob("*.sql"))


# -- (d) the database rules hold on D1 too --------------------------------------------------

@pytest.fixture(scope="module")
def rules_d1(fresh_d1: Wrangler, tmp_path_factory: pytest.TempPathFactory) -> Wrangler:
    source = _sqlite_database(tmp_path_factory.mktemp("src") / "src.db", populated=True)
    fresh_d1.execute(seed_sql(source))
    return fresh_d1


RULES = [
    ("stock below zero",
     "INSERT INTO stock_moves (product_id, qty_change, reason, created_at) "
     "VALUES (1, -100, 'sale', 'x')", "stock_quantity >= 0",
     "SELECT count(*) AS n FROM stock_moves"),
    ("image with both owners",
     "INSERT INTO images (product_id, submission_id, cloudflare_id, url, variants, position,"
     " created_at) VALUES (1, 1, 'cf', 'https://x', '[]', 0, 'x')", "CHECK constraint failed",
     "SELECT count(*) AS n FROM images"),
    ("update of a ledger row", "UPDATE stock_moves SET qty_change = 99 WHERE id = 1",
     "append-only", "SELECT qty_change AS n FROM stock_moves WHERE id = 1"),
    ("delete of a ledger row", "DELETE FROM stock_moves WHERE id = 1", "append-only",
     "SELECT count(*) AS n FROM stock_moves"),
    ("orphan row",
     "INSERT INTO order_items (order_id, product_id, title, unit_price_cents, quantity,"
     " line_total_cents) VALUES (999, 1, 't', 100, 1, 100)", "FOREIGN KEY constraint failed",
     "SELECT count(*) AS n FROM order_items"),
    ("direct stock update", "UPDATE products SET stock_quantity = 50 WHERE id = 1",
     "only through stock_moves", "SELECT stock_quantity AS n FROM products WHERE id = 1"),
    # SQLite fires no DELETE trigger for a REPLACE (recursive_triggers off), on D1 too.
    ("a ledger row replaced and re-targeted",
     "INSERT OR REPLACE INTO stock_moves (id, product_id, qty_change, reason, created_at) "
     "VALUES (1, 2, 1, 'restock', 'x')", "stock_moves is append-only",
     "SELECT group_concat(id || ':' || product_id || ':' || qty_change) AS n FROM stock_moves"),
    ("a negotiation event replaced",
     "REPLACE INTO offer_events (id, submission_id, actor, action, amount_cents, message, "
     "created_at) VALUES (1, 1, 'seller', 'accept', 1, 'mine', 'x')",
     "offer_events is append-only",
     "SELECT group_concat(id || ':' || action || ':' || actor) AS n FROM offer_events"),
    ("stock replayed with an old move",
     "UPDATE products SET stock_quantity = stock_quantity + 5, ledger_head = 1 WHERE id = 1",
     "only through stock_moves",
     "SELECT stock_quantity || '/' || ledger_head AS n FROM products WHERE id = 1"),
]


@pytest.mark.parametrize(("name", "sql", "reason", "probe"), RULES, ids=[r[0] for r in RULES])
def test_d1_refuses(rules_d1: Wrangler, name: str, sql: str, reason: str, probe: str) -> None:
    before = rules_d1.execute(probe)
    error = rules_d1.execute_expect_error(sql)
    assert reason in error, error
    assert rules_d1.execute(probe) == before


def test_d1_accepts_a_valid_ledger_row_and_moves_the_balance(rules_d1: Wrangler) -> None:
    before = rules_d1.execute("SELECT stock_quantity AS n FROM products WHERE id = 2")[0]["n"]
    rules_d1.execute("INSERT INTO stock_moves (product_id, qty_change, reason, created_at) "
                     "VALUES (2, 3, 'restock', 'x')")
    after = rules_d1.execute("SELECT stock_quantity AS n, ledger_head AS head, "
                             "(SELECT max(id) FROM stock_moves) AS newest "
                             "FROM products WHERE id = 2")[0]
    assert after["n"] == before + 3
    assert after["head"] == after["newest"]


# -- (b) and (c): files one at a time on a populated D1, a rebuild included ------------------

@pytest.fixture(scope="module")
def later(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The shipped migrations plus the throwaway ones (002 adds a column, 003 rebuilds
    products, which has CASCADE and SET NULL children), exported for D1."""
    base = tmp_path_factory.mktemp("later")
    migrations_dir = base / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations_dir, ignore=shutil.ignore_patterns("__*"))
    for path in LATER.glob("*.py"):
        shutil.copy(path, migrations_dir / path.name)
    export_dir = base / "export"
    export.write(export_dir, migrations_dir)
    yield {"base": base, "migrations": migrations_dir, "export": export_dir}


def test_later_files_keep_every_row_on_d1_and_on_sqlite(later: dict) -> None:
    base: Path = later["base"]
    files = sorted(later["export"].glob("*.sql"))
    shipped = sorted(p.name for p in (ROOT / "sql" / "d1").glob("*.sql"))
    assert [f.name for f in files] == [*shipped, "0090_add_product_colour.sql",
                                       "0091_rebuild_products.sql",
                                       "0092_rebuild_product_reservations.sql"]
    # The container side: populated after 001 (what the D1 side is seeded with), then the
    # shipped migrations (002's backfill included) and the throwaway ones.
    source = _sqlite_database(base / "before.db", populated=True, upto="001_initial")
    seeded_rows = table_rows(source, source)
    after_sqlite = _sqlite_database(base / "sqlite-after.db", later["migrations"],
                                    populated=True)

    # The D1 side: file 1, the same rows, then each later file on its own.
    applied_dir = base / "applied"
    applied_dir.mkdir()
    d1 = Wrangler(ROOT, base / "d1-state", applied_dir)
    shutil.copy(files[0], applied_dir)
    d1.apply_migrations()
    d1.execute(seed_sql(source))
    # A hold settled and deleted on D1: its id (99) must never be handed out again.
    d1.execute("INSERT INTO product_reservations (id, product_id, session_id, quantity, "
               "created_at, expires_at) VALUES (99, 1, 'gone', 1, 'x', 'x'); "
               "DELETE FROM product_reservations WHERE id = 99;")
    for step in files[1:]:
        shutil.copy(step, applied_dir)
        d1.apply_migrations()
        conn = d1.connect_readonly()
        try:
            assert table_rows(conn, source) == table_rows(source, source, kept_by=conn), \
                f"rows changed by {step.name}"
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        finally:
            conn.close()

    # Children of the rebuilt table survived on both sides, and the schemas agree.
    conn = d1.connect_readonly()
    try:
        for table in ("images", "product_reservations", "analytics_events"):
            assert seeded_rows[table], table
            assert table_rows(conn, source)[table] == seeded_rows[table]
            assert table_rows(after_sqlite, source)[table] == seeded_rows[table]
        assert introspect.differences(introspect.describe(conn),
                                      introspect.describe(after_sqlite)) == []
        assert conn.execute("SELECT seq FROM sqlite_sequence WHERE name = "
                            "'product_reservations'").fetchone() == (99,)
        # 0002's backfill ran on rows on D1 as on SQLite: each head is the newest move.
        heads = ("SELECT p.id, p.stock_quantity, p.ledger_head, sum(m.qty_change), max(m.id) "
                 "FROM products p JOIN stock_moves m ON m.product_id = p.id "
                 "GROUP BY p.id ORDER BY p.id")
        on_d1 = conn.execute(heads).fetchall()
        assert on_d1 == after_sqlite.execute(heads).fetchall()
        assert on_d1 and all(r[1] == r[3] and r[2] == r[4] for r in on_d1)
    finally:
        conn.close()


def test_a_naive_rebuild_loses_cascade_children_on_d1(later: dict) -> None:
    """Why the recipe exists: the plain 12-step rebuild empties CASCADE children on D1 while
    reporting success. (Without ``defer_foreign_keys`` it fails outright instead, because
    products has ON DELETE RESTRICT children: stock_moves and order_items.)"""
    base: Path = later["base"]
    source = _sqlite_database(base / "naive-source.db", populated=True, upto="001_initial")
    applied_dir = base / "naive"
    applied_dir.mkdir()
    shutil.copy(later["export"] / "0001_initial.sql", applied_dir)
    d1 = Wrangler(ROOT, base / "naive-state", applied_dir)
    d1.apply_migrations()
    d1.execute(seed_sql(source))
    assert d1.execute("SELECT count(*) AS n FROM images WHERE product_id IS NOT NULL")[0]["n"]
    columns = ", ".join(f'"{r[1]}"' for r in source.execute('PRAGMA table_info("products")'))
    create = source.execute("SELECT sql FROM sqlite_master WHERE name = 'products'"
                            ).fetchone()[0].replace('"products"', '"products_new"', 1)
    naive = "\n".join([
        "PRAGMA defer_foreign_keys = on;",
        "DROP TRIGGER stock_moves_apply;",
        "DROP TRIGGER products_fts_insert;", "DROP TRIGGER products_fts_update;",
        "DROP TRIGGER products_fts_delete;", "DROP TRIGGER products_stock_follows_ledger;",
        "DROP TRIGGER products_stock_starts_at_zero;",
        create + ";",
        f'INSERT INTO products_new ({columns}) SELECT {columns} FROM products;',
        "DROP TABLE products;",
        "ALTER TABLE products_new RENAME TO products;",
        "PRAGMA defer_foreign_keys = off;",
    ]) + "\n"
    (applied_dir / "0002_naive.sql").write_text(naive)
    d1.apply_migrations()  # reports success...
    # ...yet the images of every product are gone.
    assert d1.execute("SELECT count(*) AS n FROM images WHERE product_id IS NOT NULL"
                      )[0]["n"] == 0
