"""GET /api/products over a real gunicorn, with 32 concurrent clients, ÷ GET /healthz.

Seeds (or reuses) a catalogue of N products, starts ``shop serve`` on 127.0.0.1, and for
each URL runs C keep-alive clients (in P processes) for S seconds, each request bounded,
then prints requests/s, p50/p99 latency, non-200 answers, and the ratio to /healthz on
the same server in the same run (goal ≥ 0.5). The clients share the machine's cores with
the server, so absolute numbers understate a real deployment; the ratio is the figure.
Only 127.0.0.1 is ever contacted. Asserts nothing.

    python benchmarks/catalogue_http.py
    python benchmarks/catalogue_http.py --products 20000 --seconds 5 --workers 2 --threads 8
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

from _common import Client, percentile  # noqa: E402

from shop.db import database, init_database  # noqa: E402
from shop.services import demo  # noqa: E402
from shop.services.migrations import migrate  # noqa: E402
from tests.servers import running_shop  # noqa: E402

URLS = {
    "healthz": "/healthz",
    "products, first page": "/api/products",
    "products, filtered": "/api/products?category=coats&sort=price_asc&limit=20",
    "products, search": "/api/products?q=wool",
}


def _client(port: int, path: str, until: float, out: list) -> None:
    client = Client(port, timeout=10)
    while time.perf_counter() < until:
        start = time.perf_counter()
        status = client.call("GET", path)
        out.append((time.perf_counter() - start, status))
    client.close()


def _process(port: int, path: str, threads: int, seconds: float, queue) -> None:
    until = time.perf_counter() + seconds
    results: list = []
    workers = [threading.Thread(target=_client, args=(port, path, until, results))
               for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    queue.put(results)


def load(port: int, path: str, clients: int, processes: int, seconds: float) -> dict:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_process,
                                     args=(port, path, clients // processes, seconds, queue))
             for _ in range(processes)]
    for p in procs:
        p.start()
    results = [r for _ in procs for r in queue.get()]
    for p in procs:
        p.join()
    latencies = [r[0] * 1000 for r in results]
    return {"rps": len(results) / seconds, "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "errors": sum(1 for r in results if r[1] != 200)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--seconds", type=float, default=8.0, help="per URL")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    parser.add_argument("--database", type=Path, help="reuse (or create) this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shop-bench-") as tmp:
        path = args.database or Path(tmp) / "http.db"
        init_database(path)
        migrate()
        demo.seed_catalogue(args.products)
        database.close()
        with running_shop(path, workers=args.workers, threads=args.threads) as base:
            port = int(base.rsplit(":", 1)[1])
            load(port, "/healthz", args.clients, args.processes, 1.0)  # warm up
            results = {name: load(port, url, args.clients, args.processes, args.seconds)
                       for name, url in URLS.items()}
    print(f"{args.products:,} products; gunicorn {args.workers} workers x {args.threads} "
          f"threads; {args.clients} clients in {args.processes} processes, "
          f"{args.seconds:.0f} s per URL")
    base_rps = results["healthz"]["rps"]
    print(f"{'url':24s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'non-200':>8s} "
          f"{'÷ healthz':>10s}")
    for name, r in results.items():
        print(f"{name:24s} {r['rps']:8.0f} {r['p50']:8.1f} {r['p99']:8.1f} {r['errors']:8d} "
              f"{r['rps'] / base_rps:10.2f}")


if __name__ == "__main__":
    main()
