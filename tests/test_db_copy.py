"""`shop db copy --to postgresql://...`: a SQLite shop into an empty PostgreSQL database,
every row of every table the same, ids kept, sequences past them, the ledger rebuilt by its
own triggers (none switched off), a non-empty target refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest
from click.testing import CliRunner

from shop.cli import main
from shop.db import database
from shop.services.dbcopy import copy_order
from shop.services.migrations import MIGRATIONS_DIR, postgresql_history
from tests.pg_databases import empty_database
from tests.populate import populate

# engine_fixed: copies SQLite to PostgreSQL: both engines in one pass.
pytestmark = pytest.mark.engine_fixed

SHIPPED = sorted(p.stem for p in MIGRATIONS_DIR.glob("[0-9]*.py"))
TABLES = 25


@pytest.fixture
def target(postgresql_url: str) -> Iterator[peewee.Database]:
    with empty_database(postgresql_url) as db:
        yield db


def _copy(source: Path, url: str, *extra: str):
    return CliRunner().invoke(main, ["db", "copy", "--from", str(source), "--to", url,
                                     *extra])


def _source_rows(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        out = {}
        for table in copy_order():
            columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            out[table] = (columns, conn.execute(
                f'SELECT * FROM "{table}" ORDER BY id').fetchall())
        return out
    finally:
        conn.close()


def _assert_same_rows(path: Path, db: peewee.Database) -> dict[str, int]:
    """Every row of every table, value for value, in the same order; returns the counts."""
    counts = {}
    for table, (columns, rows) in _source_rows(path).items():
        listed = ", ".join(f'"{c}"' for c in columns)
        copied = [tuple(r) for r in db.execute_sql(f'SELECT {listed} FROM "{table}" '
                                                   "ORDER BY id").fetchall()]
        assert copied == rows, table
        counts[table] = len(rows)
    return counts


def _next_ids(db: peewee.Database) -> dict[str, int]:
    """The id each table's sequence hands out next (read without taking it)."""
    out = {}
    for table in copy_order():
        seq = db.execute_sql("SELECT pg_get_serial_sequence(%s, 'id')",
                             (f'"{table}"',)).fetchone()[0]
        value, called = db.execute_sql(f"SELECT last_value, is_called FROM {seq}").fetchone()
        out[table] = value + 1 if called else value
    return out


def _populated(db_path: Path) -> Path:
    """tests/populate.py's rows, and a settled hold deleted (its id must stay used)."""
    populate()
    database.execute_sql("INSERT INTO product_reservations (id, product_id, session_id, "
                         "quantity, created_at, expires_at) VALUES (5, 1, 'gone', 1, 'x', 'y')")
    for qty, reason in ((-1, "reserved"), (1, "reservation_released")):
        database.execute_sql("INSERT INTO stock_moves (product_id, qty_change, reason, "
                             "reservation_id, created_at) VALUES (1, ?, ?, 5, 'x')",
                             (qty, reason))
    database.execute_sql("DELETE FROM product_reservations WHERE id = 5")
    database.close()
    return db_path


def test_a_populated_shop_is_copied_row_for_row(db, target) -> None:
    source = _populated(db)
    result = _copy(source, target.url)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"copied 66 rows in {TABLES} tables to {target.url}; row counts, 2 balances and "
        "heads rebuilt from 10 moves, holds and id sequences verified")
    assert "  products: 2/2 rows" in result.stderr.splitlines()
    assert "  stock_moves: 10/10 rows" in result.stderr.splitlines()

    counts = _assert_same_rows(source, target)
    assert sum(counts.values()) == 66 and all(counts.values()), counts
    assert postgresql_history(target) == SHIPPED
    assert target.execute_sql("SELECT id, stock_quantity, ledger_head FROM products "
                              "ORDER BY id").fetchall() == [(1, 2, 10), (2, 2, 8)]
    # Each sequence hands out the next id after the highest: past the deleted hold too.
    next_ids = _next_ids(target)
    assert next_ids["product_reservations"] == 6  # 4 rows left, SQLite's counter at 5
    assert next_ids["stock_moves"] == 11
    assert next_ids["users"] == 3
    assert all(next_ids[t] == counts[t] + 1 for t in next_ids
               if t not in ("product_reservations",)), next_ids


def test_awkward_text_crosses_unchanged(db, target) -> None:
    """COPY's own escapes (tabs, newlines, backslashes, \\N) never show in the values."""
    source = _populated(db)
    conn = sqlite3.connect(source)
    awkward = "tab\there\nnew line \\N back\\slash 'quote' \"dq\" é 𝄞 \r end"
    conn.execute("UPDATE products SET description = ?, brand = ? WHERE id = 1",
                 (awkward, "\\N"))
    conn.execute("UPDATE audit_logs SET after_state = ? WHERE id = 1",
                 ('{"note": "a\\tb\\n", "x": null}',))
    conn.commit()
    conn.close()
    assert _copy(source, target.url).exit_code == 0
    _assert_same_rows(source, target)
    assert target.execute_sql("SELECT description, brand FROM products WHERE id = 1"
                              ).fetchone() == (awkward, "\\N")


def test_the_copy_keeps_every_guard_on(db, target) -> None:
    """Nothing was switched off to copy: the ledger still guards the balance, the history
    stays append-only, and a new move gets the next id and applies itself."""
    source = _populated(db)
    assert _copy(source, target.url).exit_code == 0
    with pytest.raises(peewee.IntegrityError, match="only through stock_moves"):
        target.execute_sql("UPDATE products SET stock_quantity = 99 WHERE id = 1")
    for statement in ("DELETE FROM stock_moves WHERE id = 1",
                      "UPDATE offer_events SET amount_cents = 1 WHERE id = 1"):
        with pytest.raises(peewee.IntegrityError, match="append-only"):
            target.execute_sql(statement)
    move = target.execute_sql("INSERT INTO stock_moves (product_id, qty_change, reason, "
                              "created_at) VALUES (2, 3, 'restock', 'x') RETURNING id"
                              ).fetchone()[0]
    assert move == 11
    assert target.execute_sql("SELECT stock_quantity, ledger_head FROM products WHERE id = 2"
                              ).fetchone() == (5, 11)
    assert target.execute_sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND "
                              "tgenabled <> 'O'").fetchall() == []  # every trigger enabled


def test_a_seeded_demo_shop_is_copied_row_for_row(tmp_path, target) -> None:
    source = tmp_path / "demo.db"
    seeded = CliRunner().invoke(main, ["--database", str(source), "seed-demo", "--password",
                                       "demo password 1", "--products", "300"])
    assert seeded.exit_code == 0, seeded.output
    result = _copy(source, target.url, "--batch", "16")
    assert result.exit_code == 0, result.output
    counts = _assert_same_rows(source, target)
    assert (counts["products"], counts["stock_moves"], counts["users"]) == (306, 279, 2)
    # A table longer than ten batches says how far it got on the way.
    lines = result.stderr.splitlines()
    assert lines.index("  products: 160/306 rows") < lines.index("  products: 306/306 rows")
    conn = sqlite3.connect(source)
    assert target.execute_sql("SELECT id, stock_quantity, ledger_head FROM products ORDER "
                              "BY id").fetchall() == conn.execute(
        "SELECT id, stock_quantity, ledger_head FROM products ORDER BY id").fetchall()
    conn.close()
    # Search works on the copied rows (the generated document was built from them).
    assert target.execute_sql("SELECT count(*) FROM products WHERE search_vector @@ "
                              "websearch_to_tsquery('simple', 'coat')").fetchone()[0] > 0


def test_a_target_with_rows_is_refused_untouched(db, target) -> None:
    source = _populated(db)
    assert _copy(source, target.url).exit_code == 0
    before = _assert_same_rows(source, target)
    again = _copy(source, target.url)
    assert again.exit_code == 2
    assert again.stderr.strip().splitlines()[-1].startswith(
        "Error: the target database is not empty (")
    assert "drop and create it again (dropdb, createdb)" in again.stderr
    assert _assert_same_rows(source, target) == before  # nothing added, nothing lost


def test_a_target_of_something_else_is_refused(db, target) -> None:
    source = _populated(db)
    target.execute_sql("CREATE TABLE invoices (id integer PRIMARY KEY)")
    result = _copy(source, target.url)
    assert result.exit_code == 2
    assert "Error: the target database has tables (invoices) and is not a shop database" in \
        result.stderr
    assert postgresql_history(target) == []


def test_a_source_whose_ledger_is_off_is_refused_and_rolled_back(db, target) -> None:
    """The balances rebuilt by the moves must be the source's: a balance edited behind the
    ledger's back stops the copy, and nothing of it stays in the target."""
    source = _populated(db)
    conn = sqlite3.connect(source)
    conn.execute("DROP TRIGGER products_stock_follows_ledger")
    conn.execute("UPDATE products SET stock_quantity = 7 WHERE id = 2")
    conn.commit()
    conn.close()
    result = _copy(source, target.url)
    assert result.exit_code == 1
    assert "products [2] rebuilt from their moves differ from the source's balance or head" \
        in result.stderr
    assert "run `shop stock verify` on it" in result.stderr
    assert postgresql_history(target) == SHIPPED  # migrated, and empty
    assert target.execute_sql("SELECT count(*) FROM users").fetchone()[0] == 0
    # Fixed at the source, the copy runs again into the same target.
    conn = sqlite3.connect(source)
    conn.execute("UPDATE products SET stock_quantity = 2 WHERE id = 2")
    conn.commit()
    conn.close()
    assert _copy(source, target.url).exit_code == 0
    _assert_same_rows(source, target)


def test_the_copy_is_held_to_the_checks_of_stock_verify(db, target) -> None:
    """One set of ledger checks: an invented sale (no order behind it) moves the balance
    the triggers' way, so every sum agrees; `shop stock verify` flags its provenance on
    the source, and the copy, running the same checks on its target before commit,
    refuses it in the same words and leaves the target empty."""
    source = _populated(db)
    conn = sqlite3.connect(source)
    conn.execute("INSERT INTO stock_moves (product_id, qty_change, reason, created_at) "
                 "VALUES (1, -1, 'sale', '2026-01-01T00:00:00.000000Z')")
    conn.commit()
    conn.close()
    said = "product 1 (SKU-1): sale moves of order (none) sell 1 but the order line has no line"
    verify = CliRunner().invoke(main, ["--database", str(source), "stock", "verify"])
    assert verify.exit_code == 1
    assert said in verify.stdout.splitlines()

    result = _copy(source, target.url)
    assert result.exit_code == 1
    assert ("the ledger does not verify on the target, as `shop stock verify` would say: "
            + said) in result.stderr
    assert "rebuilt from their moves differ" not in result.stderr  # the balances agree
    assert postgresql_history(target) == SHIPPED  # migrated, and empty
    assert target.execute_sql("SELECT count(*) FROM stock_moves").fetchone()[0] == 0


def test_a_source_behind_on_migrations_is_refused(tmp_path, target) -> None:
    from shop.db import init_database
    from shop.services.migrations import migrate
    from tests.populate import migrations_upto

    old = tmp_path / "old.db"
    init_database(old)
    migrate(migrations_upto(tmp_path / "upto-009", "009_photos"))
    database.close()
    result = _copy(old, target.url)
    assert result.exit_code == 1
    assert "is not at the latest migration: run `shop migrate` on it first" in result.stderr
    assert postgresql_history(target) == []


def test_an_unreachable_or_wrong_target_is_one_clear_line(db) -> None:
    source = _populated(db)
    result = _copy(source, "mysql://shop@localhost/shop")
    assert result.exit_code == 2
    assert "must be a postgresql:// URL" in result.stderr
    result = _copy(source, "postgresql://shop:secret@/nowhere?host=/nonexistent-dir")
    assert result.exit_code == 1
    assert "cannot connect to postgresql://shop:***@/nowhere" in result.stderr
    # The driver's own words, what failed and its hint, on the one line.
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert "No such file or directory; Is the server running" in line
    assert "secret" not in result.output + result.stderr
