"""Does a stock move cost more as a product's history grows? (issue: ledger at scale)

Builds one database with two products: one with a short ledger (default 10^2 moves) and
one with a long one (default 10^6 moves), then times stock moves on each, interleaved in
rounds so that both see the same machine: through the service layer
(``shop.services.stock.adjust``) and through raw sqlite3 running the same statements.
Prints µs per move and the ratio long ÷ short (the goal is ≤ 1.2: the guard is two index
lookups, so it must not grow with history). Asserts nothing.

    python benchmarks/ledger_scale.py                  # 10^6 vs 10^2 moves
    python benchmarks/ledger_scale.py --long 100000 --moves 500
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import raw_connect

from shop import clock
from shop.db import database, init_database
from shop.services import stock
from shop.services.migrations import migrate

PRODUCT = ("INSERT INTO products (sku, title, description, brand, category, size, condition,"
           " price_cents, status, featured, stock_quantity, created_at, updated_at) VALUES"
           " (?, 'Bench', '', '', 'coats', '', 'good', 100, 'active', 0, 0, ?, ?)")
MOVE = ("INSERT INTO stock_moves (product_id, qty_change, reason, created_at)"
        " VALUES (?, 1, 'restock', ?)")


def build(path: Path, short: int, long: int) -> None:
    init_database(path)
    migrate()
    database.close()
    conn = raw_connect(path)
    stamp = clock.to_text(clock.now())
    conn.execute(PRODUCT, ("SHORT", stamp, stamp))
    conn.execute(PRODUCT, ("LONG", stamp, stamp))
    for product, count in ((1, short), (2, long)):
        done = 0
        while done < count:
            batch = min(50_000, count - done)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(MOVE, ((product, stamp) for _ in range(batch)))
            conn.execute("COMMIT")
            done += batch
            print(f"\r  history: product {product}: {done:,}/{count:,} moves", end="",
                  file=sys.stderr)
        print(file=sys.stderr)
    conn.execute("ANALYZE")
    conn.close()


def service_moves(product: int, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        stock.adjust(product, 1, "restock")
    return time.perf_counter() - start


def raw_moves(conn, product: int, n: int) -> float:
    """The statements adjust() runs, without Peewee."""
    start = time.perf_counter()
    for _ in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SELECT 1 FROM products WHERE id = ? LIMIT 1", (product,)).fetchone()
        conn.execute('SAVEPOINT "s"')
        conn.execute(MOVE, (product, clock.to_text(clock.now())))
        conn.execute('RELEASE SAVEPOINT "s"')
        conn.execute("SELECT stock_quantity FROM products WHERE id = ?", (product,)).fetchone()
        conn.execute("COMMIT")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", type=int, default=100, help="moves of the short product")
    parser.add_argument("--long", type=int, default=1_000_000, help="moves of the long product")
    parser.add_argument("--moves", type=int, default=2000, help="moves timed per product")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shop-bench-") as tmp:
        path = Path(tmp) / "ledger.db"
        started = time.perf_counter()
        build(path, args.short, args.long)
        print(f"built the history in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        init_database(path)
        conn = raw_connect(path)
        per = args.moves // args.rounds
        totals = {("service", 1): 0.0, ("service", 2): 0.0, ("raw", 1): 0.0, ("raw", 2): 0.0}
        for _ in range(args.rounds):
            for product in (1, 2):
                totals[("service", product)] += service_moves(product, per)
                totals[("raw", product)] += raw_moves(conn, product, per)
        conn.close()
        database.close()
        check = raw_connect(path)
        rows = check.execute("SELECT p.stock_quantity = (SELECT sum(qty_change) FROM stock_moves"
                             " WHERE product_id = p.id) FROM products p").fetchall()
        check.close()
    n = per * args.rounds
    print(f"stock moves timed per product: {n} ({args.rounds} interleaved rounds)")
    print(f"{'':12s} {args.short:>12,} moves {args.long:>12,} moves   long ÷ short")
    for kind in ("service", "raw"):
        short_us = totals[(kind, 1)] / n * 1e6
        long_us = totals[(kind, 2)] / n * 1e6
        print(f"{kind:12s} {short_us:15.1f} µs {long_us:15.1f} µs {long_us / short_us:12.2f}")
    print(f"balances equal ledger sums afterwards: {all(r[0] for r in rows)}")


if __name__ == "__main__":
    main()
