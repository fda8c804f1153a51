"""The WAL's largest size under full-speed checkouts: PASSIVE checkpoints only (the shop
before issue 20) beside the bounded checkpointer (a TRUNCATE checkpoint with the writer
queue held once the log passes ``shop.checkpoints.WAL_LIMIT_BYTES``), in one run.

Each mode gets a fresh database; B buyer processes (forked, as gunicorn's workers are) each
hold one unit and check it out in a loop for S seconds, through the service layer, while
this process reads the size of the ``-wal`` file every few milliseconds. Prints the WAL's
largest and final size, checkouts/s, and the p99 and longest checkout, then new ÷ old.
Asserts nothing; no network at all. A passive run writes ~30 MB/s of log: 60 s needs ~2 GB
of free disk in the temporary folder.

    python benchmarks/wal_growth.py                     # 60 s each, passive then bounded
    python benchmarks/wal_growth.py --seconds 10 --buyers 8
    python benchmarks/wal_growth.py --mode bounded --limit-mb 8
    python benchmarks/wal_growth.py --seconds 20 --replica   # Litestream to a local folder

With --replica, Litestream replicates each database to a folder beside it (file://, no
network) while the buyers run; afterwards the replica is restored and its orders counted
against the database's.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

from _common import percentile  # noqa: E402

from shop import checkpoints, clock  # noqa: E402
from shop.db import checkpointer, database, init_database, write_transaction  # noqa: E402
from shop.services import accounts, catalogue, holds, orders, stock  # noqa: E402
from shop.services.backup import litestream  # noqa: E402
from shop.services.holds import Holder  # noqa: E402
from shop.services.migrations import migrate  # noqa: E402

PRODUCT = {"title": "Bench coat", "category": "coats", "condition": "good",
           "price_cents": 2500, "status": "active", "sku": "WAL-1"}
SAMPLE_SECONDS = 0.005
MB = 2**20


def build(path: Path, buyers: int) -> tuple[list[int], int]:
    """A migrated shop with one user per buyer and one product that never runs out."""
    init_database(path)
    migrate()
    users = []
    for n in range(buyers):
        with write_transaction():
            users.append(accounts.add_user(f"w{n}@example.com", "x", "W", "customer",
                                           clock.now()).id)
    pid = catalogue.create_product(PRODUCT)["id"]
    for _ in range(4):  # 4 x 10^6: never runs out
        stock.adjust(pid, 1_000_000, "restock")
    database.close()
    return users, pid


def buyer(path: str, user_id: int, pid: int, start: float, until: float, out) -> None:
    """Hold + checkout without pause until ``until``; reports each checkout's wall time."""
    init_database(path)
    holder = Holder(user_id=user_id)
    waits = []
    while time.time() < start:
        time.sleep(0.001)
    while time.time() < until:
        began = time.perf_counter()
        holds.hold(holder, pid, 1)
        orders.checkout(user_id)
        waits.append(time.perf_counter() - began)
    database.close()
    out.put(waits)


def _orders(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    finally:
        conn.close()


def run(mode: str, seconds: float, buyers: int, limit: int, replica: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="shop-bench-") as tmp:
        path = Path(tmp) / "wal.db"
        users, pid = build(path, buyers)
        url = f"file://{Path(tmp) / 'replica'}"
        shipper = (subprocess.Popen([litestream(), "replicate", str(path), url],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   if replica else None)
        if shipper:
            time.sleep(2)  # litestream has taken its first snapshot
        # The forked buyers inherit this process's checkpointer and its setting.
        checkpointer.wal_limit_bytes = None if mode == "passive" else limit
        context = multiprocessing.get_context("fork")
        out = context.Queue()
        start = time.time() + 0.5  # every buyer starts together
        until = start + seconds
        procs = [context.Process(target=buyer, args=(str(path), u, pid, start, until, out))
                 for u in users]
        for p in procs:
            p.start()
        largest = 0
        while time.time() < until:
            largest = max(largest, checkpoints.wal_size(path))
            time.sleep(SAMPLE_SECONDS)
        waits = [w * 1000 for _ in procs for w in out.get(timeout=120)]
        for p in procs:
            p.join(60)
        final = checkpoints.wal_size(path)
        checkpointer.wal_limit_bytes = checkpoints.WAL_LIMIT_BYTES
        replicated = None
        if shipper:
            time.sleep(3)  # the last frames shipped
            shipper.send_signal(signal.SIGTERM)
            shipper.wait(120)
            restored = Path(tmp) / "restored.db"
            subprocess.run([litestream(), "restore", "-o", str(restored), url],
                           capture_output=True, timeout=600, check=True)
            replicated = (_orders(restored), _orders(path))
    return {"mode": mode, "largest": largest, "final": final, "rate": len(waits) / seconds,
            "p99": percentile(waits, 99), "longest": max(waits), "replicated": replicated}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="load time per mode")
    parser.add_argument("--buyers", type=int, default=4, help="buyer processes")
    parser.add_argument("--mode", choices=["both", "passive", "bounded"], default="both")
    parser.add_argument("--limit-mb", type=float,
                        default=checkpoints.WAL_LIMIT_BYTES / MB,
                        help="the bounded mode's WAL limit, in MiB")
    parser.add_argument("--replica", action="store_true",
                        help="with Litestream replicating to a local folder")
    args = parser.parse_args()
    if not 0 < args.seconds <= 3600 or not 0 < args.buyers <= 64:
        parser.error("--seconds must be in (0, 3600] and --buyers in (0, 64]")
    modes = ["passive", "bounded"] if args.mode == "both" else [args.mode]
    limit = int(args.limit_mb * MB)
    print(f"{args.buyers} buyer processes, {args.seconds:.0f} s each, limit "
          f"{limit / MB:.0f} MiB, CPUs: {os.cpu_count()}")
    print(f"{'mode':8s} {'largest WAL':>12s} {'final WAL':>10s} {'checkouts/s':>12s} "
          f"{'p99 ms':>7s} {'longest ms':>11s}")
    results = []
    for mode in modes:
        r = run(mode, args.seconds, args.buyers, limit, args.replica)
        results.append(r)
        replicated = r["replicated"]
        note = (f"  replica restored: {replicated[0]} orders of {replicated[1]}"
                if replicated else "")
        print(f"{mode:8s} {r['largest'] / MB:9.1f} MiB {r['final'] / MB:6.1f} MiB "
              f"{r['rate']:12.0f} {r['p99']:7.1f} {r['longest']:11.1f}{note}", flush=True)
    if len(results) == 2:
        old, new = results
        print(f"bounded ÷ passive: largest WAL {new['largest'] / max(old['largest'], 1):.3f}, "
              f"checkouts/s {new['rate'] / old['rate']:.2f}, "
              f"p99 {new['p99'] / old['p99']:.2f}, longest {new['longest'] / old['longest']:.2f}")


if __name__ == "__main__":
    main()
