"""How much the service layer costs over raw sqlite3 for one stock adjustment.

Runs ``shop.services.stock.adjust`` N times (BEGIN IMMEDIATE, existence check, savepoint,
ledger insert whose trigger moves the balance, balance read, COMMIT) and the same
statements through the standard library's sqlite3 on an identical database, and prints
the ratio measured in this run. Asserts nothing.

    python benchmarks/ledger_adjust.py            # 2000 adjustments
    python benchmarks/ledger_adjust.py -n 500
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from shop import clock
from shop.db import database, init_database
from shop.services import stock
from shop.services.migrations import migrate

PRODUCT = ("INSERT INTO products (sku, title, description, brand, category, size, condition,"
           " price_cents, status, featured, stock_quantity, created_at, updated_at) VALUES"
           " ('B-1', 'Bench', '', '', 'coats', '', 'good', 100, 'active', 0, 0, 'x', 'x')")


def _prepare(path: Path) -> None:
    init_database(path)
    migrate()
    database.execute_sql(PRODUCT)
    database.close()


def service_run(path: Path, n: int) -> float:
    init_database(path)
    start = time.perf_counter()
    for _ in range(n):
        stock.adjust(1, 1, "restock")
    elapsed = time.perf_counter() - start
    database.close()
    return elapsed


def raw_run(path: Path, n: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("foreign_keys = 1", "journal_mode = wal", "synchronous = normal",
                   "busy_timeout = 5000"):
        conn.execute(f"PRAGMA {pragma}")
    start = time.perf_counter()
    for _ in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SELECT 1 FROM products WHERE id = ? LIMIT 1", (1,)).fetchone()
        conn.execute('SAVEPOINT "s"')
        conn.execute("INSERT INTO stock_moves (product_id, qty_change, reason, created_at)"
                     " VALUES (?, ?, ?, ?)", (1, 1, "restock", clock.to_text(clock.now())))
        conn.execute('RELEASE SAVEPOINT "s"')
        conn.execute("SELECT stock_quantity FROM products WHERE id = ?", (1,)).fetchone()
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--adjustments", type=int, default=2000,
                        help="how many adjustments to time (default 2000)")
    n = parser.parse_args().adjustments
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "service.db", Path(tmp) / "raw.db"
        _prepare(a)
        _prepare(b)
        raw = raw_run(b, n)
        service = service_run(a, n)
        balance = sqlite3.connect(a).execute("SELECT stock_quantity FROM products").fetchone()
    assert balance == (n,), balance
    print(f"stock adjustments: {n}")
    print(f"raw sqlite3:        {raw / n * 1e6:8.1f} µs each")
    print(f"shop service layer: {service / n * 1e6:8.1f} µs each")
    print(f"ratio service/raw:  {service / raw:8.2f}x")


if __name__ == "__main__":
    main()
