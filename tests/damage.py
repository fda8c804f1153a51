"""Damaged database files, made for real: bytes changed in a copy of a small shop file, as
a failing disk or a bad copy changes them. No SQLite API is used to make the damage."""

from __future__ import annotations

import sqlite3
from pathlib import Path

# A price written as SQLite's 2-byte integer (serial type 2) in a record whose columns
# run ... condition, price_cents, status ...: only the table row has these bytes together
# (an index on price keeps status or category or brand before it, never the condition).
PRICE, WRONG_PRICE = 1003, 9999
_ROW = b"good" + PRICE.to_bytes(2, "big") + b"active"
_WRONG_ROW = b"good" + WRONG_PRICE.to_bytes(2, "big") + b"active"


def settle(path: Path) -> None:
    """Everything into the main file and no WAL left, so the bytes on disk are the data.
    Every other connection must be closed first: one left open would checkpoint its WAL
    over the damage when it closes."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()  # the last connection removes the WAL and its index
    for suffix in ("-wal", "-shm"):
        assert not Path(f"{path}{suffix}").exists(), f"{path} is still open elsewhere"


def hide_a_wrong_price(path: Path) -> None:
    """Change the one product priced PRICE to WRONG_PRICE in its table row only: the
    products_status_price_cents index (and the others) still say PRICE."""
    settle(path)
    data = Path(path).read_bytes()
    assert data.count(_ROW) == 1, "make exactly one 'good' product priced 1003, active"
    Path(path).write_bytes(data.replace(_ROW, _WRONG_ROW))


def damage_page_header(path: Path, table: str = "sqlite_master") -> None:
    """Overwrite the b-tree page header of ``table``'s root page with garbage (for
    sqlite_master, page 1: every command reads the schema first)."""
    settle(path)
    conn = sqlite3.connect(path)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = 1 if table == "sqlite_master" else conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    finally:
        conn.close()
    offset = (root - 1) * page_size + (100 if root == 1 else 0)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\xee" * 12)
