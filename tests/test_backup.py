"""`shop backup` / `shop restore` on SQLite are held to the checks of `shop stock verify`
(the ledger's balances, heads, holds and every move's provenance), as the copy to
PostgreSQL and the PostgreSQL backup are: a copy the live shop's verify would flag is
never written as a backup, nor restored. (PostgreSQL's: test_postgresql_backup.py.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shop.db import database, disconnect_all
from tests.populate import file_rows, populate

# sqlite_only: the file's backup (VACUUM INTO) and restore.
pytestmark = pytest.mark.sqlite_only

T = "'2026-01-01T00:00:00.000000Z'"

# Each damage, made with raw SQL on the file, and what `shop stock verify` says of it.
DAMAGE = {
    # A sale with no order behind it: the triggers move the balance with it, so every
    # sum agrees; only its provenance does not.
    "invented-sale": (
        [f"INSERT INTO stock_moves (product_id, qty_change, reason, created_at) "
         f"VALUES (1, -1, 'sale', {T})"],
        "product 1 (SKU-1): sale moves of order (none) sell 1 but the order line has "
        "no line"),
    # A balance written past its guard.
    "balance-off": (
        ["DROP TRIGGER products_stock_follows_ledger",
         "UPDATE products SET stock_quantity = 9 WHERE id = 2"],
        "product 2 (SKU-2): stock_quantity 9 but the ledger sums to 2"),
}


def _damage(path: Path, statements: list[str]) -> None:
    conn = sqlite3.connect(path)
    try:
        for sql in statements:
            conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def populated(db: Path) -> Path:
    """tests/populate.py's rows, every connection of this process closed."""
    populate()
    database.close()
    disconnect_all()
    return db


@pytest.mark.parametrize("damage", DAMAGE, ids=str)
def test_a_backup_is_held_to_the_checks_of_stock_verify(populated, runner, tmp_path,
                                                        damage) -> None:
    statements, said = DAMAGE[damage]
    backups = tmp_path / "backups"
    good = backups / "shop.db"
    first = runner.invoke(["backup", str(good)])
    assert first.exit_code == 0, first.output
    kept = good.read_bytes()

    _damage(populated, statements)
    verify = runner.invoke(["stock", "verify"])
    assert verify.exit_code == 1
    assert said in verify.stdout.splitlines()

    result = runner.invoke(["backup", str(good)])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines()[-1] == \
        f"Error: the copy failed its checks: {said}"
    assert good.read_bytes() == kept  # yesterday's good backup keeps its name
    assert sorted(p.name for p in backups.iterdir()) == ["shop.db"]  # no .partial left


@pytest.mark.parametrize("damage", DAMAGE, ids=str)
def test_a_restore_is_held_to_the_checks_of_stock_verify(populated, runner, tmp_path,
                                                         damage) -> None:
    statements, said = DAMAGE[damage]
    copy = tmp_path / "copy.db"
    assert runner.invoke(["backup", str(copy)]).exit_code == 0
    disconnect_all()
    _damage(copy, statements)
    before = file_rows(populated)

    result = runner.invoke(["restore", str(copy)])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines()[-1] == \
        f"Error: {copy} is not a good copy: {said}"
    assert file_rows(populated) == before  # the live file as it was, nothing put aside
    assert not [p.name for p in tmp_path.iterdir()
                if p.name.endswith(".restoring") or "before-restore" in p.name]
