"""Cron jobs at scale beside live checkouts: how long each takes, and how long the longest
checkout waited while it ran (goal: ≤ 100 ms).

Builds one database with 10^6 analytics events of one day (for the rollup), 10^6 events
older than 90 days (for the prune) and 10^5 expired cart holds (for the sweep), then runs
each job as `shop ...` while a second process checks out without pause, timing every
checkout. Prints the figures; asserts nothing.

    python benchmarks/operations.py
    python benchmarks/operations.py --events 200000 --holds 20000
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

from _common import percentile, raw_connect  # noqa: E402

from shop import clock  # noqa: E402
from shop.db import database, init_database, write_transaction  # noqa: E402
from shop.services import accounts, catalogue, holds, orders, stock  # noqa: E402
from shop.services.holds import Holder  # noqa: E402
from shop.services.migrations import migrate  # noqa: E402

SHOP = str(Path(sys.executable).with_name("shop"))
DAY = datetime(2026, 6, 1, tzinfo=UTC)


def build(path: Path, events: int, holds: int) -> int:
    init_database(path)
    migrate()
    with write_transaction():
        user = accounts.add_user("bench@example.com", "x", "B", "customer", clock.now())
    pid = catalogue.create_product({"sku": "OPS-1", "title": "Coat", "category": "coats",
                                    "condition": "good", "price_cents": 100,
                                    "status": "active"})["id"]
    stock.adjust(pid, 1_000_000, "restock")
    database.close()
    conn = raw_connect(path)
    kinds = ("page_view", "product_view", "search", "add_to_cart")
    for label, start in (("today", DAY), ("old", DAY - timedelta(days=200))):
        for first in range(0, events, 100_000):
            rows = [(kinds[n % 4], pid if n % 2 else None,
                     clock.to_text(start + timedelta(seconds=n * 86_400 // events)))
                    for n in range(first, min(first + 100_000, events))]
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO analytics_events (event_type, product_id, created_at)"
                             " VALUES (?, ?, ?)", rows)
            conn.execute("COMMIT")
        print(f"  {events:,} {label} events", file=sys.stderr)
    past = clock.to_text(clock.now() - timedelta(hours=2))
    conn.execute("BEGIN")
    for n in range(holds):
        pid_n = conn.execute(
            "INSERT INTO products (sku, title, description, brand, category, size, condition,"
            " price_cents, status, featured, stock_quantity, created_at, updated_at) VALUES"
            " (?, 'Held', '', '', 'coats', '', 'good', 100, 'active', 0, 0, ?, ?)",
            (f"H-{n}", past, past)).lastrowid
        conn.execute("INSERT INTO stock_moves (product_id, qty_change, reason, created_at) "
                     "VALUES (?, 1, 'restock', ?)", (pid_n, past))
        hold = conn.execute("INSERT INTO product_reservations (product_id, session_id, "
                            "quantity, created_at, expires_at) VALUES (?, ?, 1, ?, ?)",
                            (pid_n, f"guest-{n:08d}", past, past)).lastrowid
        conn.execute("INSERT INTO stock_moves (product_id, qty_change, reason, reservation_id,"
                     " created_at) VALUES (?, -1, 'reserved', ?, ?)", (pid_n, hold, past))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    print(f"  {holds:,} expired holds", file=sys.stderr)
    return user.id


def shopper(path: str, user_id: int, stop, out) -> None:
    """A process checking out in a loop; reports each checkout's wall time."""
    init_database(path)
    pid = 1
    waits = []
    while not stop.is_set():
        start = time.perf_counter()
        holds.hold(Holder(user_id=user_id), pid, 1)
        orders.checkout(user_id)
        waits.append(time.perf_counter() - start)
    out.put(waits)


def run_job(path: Path, user_id: int, argv: list[str]) -> tuple[float, list[float], str]:
    stop = multiprocessing.Event()
    out: multiprocessing.Queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=shopper, args=(str(path), user_id, stop, out))
    proc.start()
    time.sleep(1.0)  # the shopper is warm
    start = time.perf_counter()
    result = subprocess.run([SHOP, "--database", str(path), *argv], capture_output=True,
                            text=True, timeout=1800)
    elapsed = time.perf_counter() - start
    stop.set()
    waits = out.get(timeout=60)
    proc.join(60)
    return elapsed, waits, (result.stdout + result.stderr).strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--holds", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shop-bench-") as tmp:
        path = Path(tmp) / "ops.db"
        user_id = build(path, args.events, args.holds)
        jobs = [("rollup of a day", ["analytics", "rollup", "--day", DAY.date().isoformat()]),
                ("prune (90 days)", ["analytics", "prune", "--days", "90"]),
                ("reservation sweep", ["expire-reservations"])]
        print(f"{'job':20s} {'time':>8s} {'checkouts':>10s} {'p50 ms':>8s} {'p99 ms':>8s} "
              f"{'longest ms':>11s}  output")
        for name, argv in jobs:
            elapsed, waits, last = run_job(path, user_id, argv)
            ms = [w * 1000 for w in waits]
            print(f"{name:20s} {elapsed:7.1f}s {len(ms):10d} {percentile(ms, 50):8.1f} "
                  f"{percentile(ms, 99):8.1f} {max(ms):11.1f}  {last}")


if __name__ == "__main__":
    main()
