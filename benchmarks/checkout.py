"""Checkout speed: the service layer ÷ raw sqlite3, HTTP ÷ /healthz, and flat cost at scale.

(a) Service-level checkouts/s (hold one unit + check out, two transactions) ÷ a plain
    sqlite3 script running the same statements with the same pragmas, in the same run.
(b) HTTP checkouts/s (hold + checkout, signed in) with C concurrent clients over a real
    gunicorn on 127.0.0.1 ÷ GET /healthz on the same server; p50/p99 of a checkout; and
    oversells, which must be 0: demand is set higher than the stock.
(c) A checkout of a product with 10^6 ledger rows ÷ one with 10^2 (interleaved rounds).
Prints the figures; asserts nothing. Only 127.0.0.1 is ever contacted.

    python benchmarks/checkout.py                 # all three
    python benchmarks/checkout.py --only a -n 500
    python benchmarks/checkout.py --only b --seconds 5 --clients 32
    python benchmarks/checkout.py --only b --replica   # the same with Litestream on
    python benchmarks/checkout.py --only b --payments stripe  # Stripe on (a local stand-in)
    python benchmarks/checkout.py --database-url postgresql://shop@/postgres?host=/tmp/pg
        # (b) on SQLite, then on PostgreSQL with one and with two `shop serve` ÷ SQLite
    python benchmarks/checkout.py --only b --pin 0 ...
        # (b) with the load generator pinned to CPU 0 and the app servers (taskset) to the
        # other CPUs, so the clients' Python does not take the servers' core
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

from _common import buyer, percentile, raw_connect  # noqa: E402
from catalogue_http import load  # noqa: E402
from ledger_scale import build  # noqa: E402

from shop import clock  # noqa: E402
from shop.db import database, init_database, write_transaction  # noqa: E402
from shop.services import accounts, catalogue, holds, orders, stock  # noqa: E402
from shop.services.holds import Holder  # noqa: E402
from shop.services.migrations import migrate  # noqa: E402
from tests.servers import running_shop  # noqa: E402
from tests.stripe_standin import SECRET_KEY, WEBHOOK_SECRET, StripeStandIn  # noqa: E402

PRODUCT = {"title": "Bench coat", "category": "coats", "condition": "good",
           "price_cents": 2500, "status": "active"}


def _shop(path: Path, units: int) -> tuple[int, int]:
    """A migrated shop with one user and one product holding ``units``."""
    init_database(path)
    migrate()
    with write_transaction():
        user = accounts.add_user("bench@example.com", "x", "Bench", "customer", clock.now())
    pid = catalogue.create_product({**PRODUCT, "sku": "BENCH-1"})["id"]
    stock.adjust(pid, units, "restock")
    return user.id, pid


def service_checkouts(user_id: int, pid: int, n: int) -> float:
    holder = Holder(user_id=user_id)
    start = time.perf_counter()
    for _ in range(n):
        holds.hold(holder, pid, 1)
        orders.checkout(user_id)
    return time.perf_counter() - start


def raw_checkouts(path: Path, user_id: int, pid: int, n: int, first: int = 0) -> float:
    """The statements hold() and checkout() run, through the standard library."""
    conn = raw_connect(path)
    start = time.perf_counter()
    for i in range(first, first + n):
        now = clock.to_text(clock.now())
        # hold()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SELECT * FROM products WHERE id = ?", (pid,)).fetchone()
        conn.execute("SELECT * FROM product_reservations WHERE product_id IN (?) "
                     "AND expires_at <= ?", (pid, now)).fetchall()
        conn.execute("SELECT * FROM product_reservations WHERE product_id = ? "
                     "AND user_id = ?", (pid, user_id)).fetchone()
        hold = conn.execute("INSERT INTO product_reservations (product_id, user_id, quantity,"
                            " created_at, expires_at) VALUES (?, ?, 1, ?, ?)",
                            (pid, user_id, now, now.replace("T", "U"))).lastrowid
        conn.execute("INSERT INTO stock_moves (product_id, qty_change, reason, reservation_id,"
                     " actor_id, created_at) VALUES (?, -1, 'reserved', ?, ?, ?)",
                     (pid, hold, user_id, now))
        conn.execute("UPDATE product_reservations SET quantity = 1, expires_at = ? "
                      "WHERE id = ?", (now, hold))
        conn.execute("SELECT * FROM product_reservations WHERE id = ?", (hold,)).fetchone()
        conn.execute("COMMIT")
        # checkout()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SELECT r.*, p.* FROM product_reservations r JOIN products p "
                     "ON p.id = r.product_id WHERE r.user_id = ? ORDER BY r.product_id",
                     (user_id,)).fetchall()
        order = conn.execute(
            "INSERT INTO orders (order_number, user_id, status, payment_status, "
            "shipping_method, subtotal_cents, shipping_cents, total_cents, created_at, "
            "updated_at) VALUES (?, ?, 'pending', 'unpaid', 'collect', 2500, 0, 2500, ?, ?)",
            (f"RAW-{i}", user_id, now, now)).lastrowid
        for qty, reason in ((1, "reservation_converted"), (-1, "sale")):
            conn.execute("INSERT INTO stock_moves (product_id, qty_change, reason, order_id, "
                         "reservation_id, actor_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (pid, qty, reason, order, hold if qty > 0 else None, user_id, now))
        conn.execute("INSERT INTO order_items (order_id, product_id, title, unit_price_cents,"
                     " quantity, line_total_cents) VALUES (?, ?, 'Bench coat', 2500, 1, 2500)",
                     (order, pid))
        conn.execute("DELETE FROM product_reservations WHERE id = ?", (hold,))
        conn.execute("SELECT * FROM order_items WHERE order_id IN (?)", (order,)).fetchall()
        conn.execute("SELECT order_id, product_id, sum(qty_change) FROM stock_moves WHERE "
                     "order_id IN (?) AND reason = 'return' GROUP BY 1, 2", (order,)).fetchall()
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def part_a(n: int, rounds: int = 5) -> None:
    """Interleaved rounds (service, raw, service, ...), so a neighbour's load on a shared
    machine falls on both sides of the ratio alike."""
    per = max(1, n // rounds)
    with tempfile.TemporaryDirectory(prefix="shop-bench-") as tmp:
        user_b, pid_b = _shop(Path(tmp) / "raw.db", per * rounds)
        database.close()
        user_a, pid_a = _shop(Path(tmp) / "service.db", per * rounds)
        service = raw = 0.0
        for r in range(rounds):
            service += service_checkouts(user_a, pid_a, per)
            raw += raw_checkouts(Path(tmp) / "raw.db", user_b, pid_b, per, first=r * per)
        database.close()
    n = per * rounds
    print(f"(a) hold + checkout, {n} times, one process ({rounds} interleaved rounds)")
    print(f"    raw sqlite3:   {n / raw:8.0f} checkouts/s ({raw / n * 1000:.2f} ms each)")
    print(f"    service layer: {n / service:8.0f} checkouts/s ({service / n * 1000:.2f} ms each)")
    print(f"    service ÷ raw: {raw / service:8.2f}   (goal ≥ 0.8)")


@contextlib.contextmanager
def _fresh_postgresql(url: str | None):
    """A new database on the server of ``url`` (its user may create databases), with the
    schema, dropped after; None on SQLite."""
    if url is None:
        yield None
        return
    import os
    from urllib.parse import urlsplit, urlunsplit

    from shop.db import postgresql_database
    from shop.services import system

    admin = postgresql_database(url)
    name = f"shop_bench_{os.getpid()}"
    admin.execute_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.execute_sql(f"CREATE DATABASE {name}")
    fresh = urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    init_database(fresh)
    system.prepare_schema()
    try:
        yield fresh
    finally:
        database.close_all()
        admin.execute_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close_all()


def pin_client(cpus: set[int]) -> tuple[str, ...]:
    """Pin this process (the load generator; threads started later inherit it) to
    ``cpus``; returns the prefix that starts a server on the other CPUs (taskset), or ()
    when there are none or taskset is missing."""
    every = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    rest = sorted(every - cpus)
    if not rest or shutil.which("taskset") is None:
        print("    (--pin: no other CPU or no taskset: the servers are not pinned)")
        return ()
    return ("taskset", "-c", ",".join(map(str, rest)))


def part_b(seconds: float, clients: int, workers: int, threads: int,
           replica: bool = False, payments: str = "manual", *,
           database_url: str | None = None, servers: int = 1,
           server_prefix: tuple[str, ...] = ()) -> float:
    """Returns the checkouts per second."""
    with tempfile.TemporaryDirectory(prefix="shop-bench-") as tmp, \
            _fresh_postgresql(database_url) as url:
        path = Path(tmp) / "http.db"
        if url is None:
            init_database(path)
            migrate()
        tokens = []
        password_hash = accounts.hash_password("a long enough password")
        for n in range(clients):
            with write_transaction():
                accounts.add_user(f"b{n}@example.com", password_hash, "B", "customer",
                                  clock.now())
            tokens.append(accounts.login(f"b{n}@example.com", "a long enough password").token)
        pid = catalogue.create_product({**PRODUCT, "sku": "HTTP-1"})["id"]
        last = catalogue.create_product({**PRODUCT, "sku": "HTTP-LAST"})["id"]
        stock.adjust(pid, 100_000, "restock")  # throughput: never runs out
        units = 50  # the sell-out: 32 buyers x 10 attempts for 50 units
        stock.adjust(last, units, "restock")
        database.close()
        env = {"SHOP_REPLICA_URL": f"file://{Path(tmp) / 'replica'}"} if replica else {}
        if url is not None:
            env["SHOP_DATABASE_URL"] = url
        with contextlib.ExitStack() as stack:
            if payments == "stripe":  # the stand-in for Stripe's API, on 127.0.0.1
                stripe_api = stack.enter_context(StripeStandIn())
                env.update({"SHOP_PAYMENTS": "stripe", "SHOP_STRIPE_SECRET_KEY": SECRET_KEY,
                            "SHOP_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                            "SHOP_STRIPE_API_BASE": stripe_api.base,
                            "SHOP_PUBLIC_URL": "http://shop.test"})
            ports = [int(stack.enter_context(running_shop(
                path, workers=workers, threads=threads, env=env,
                prefix=server_prefix)).rsplit(":", 1)[1])
                for _ in range(servers)]
            health = load(ports[0], "/healthz", clients, 2, seconds)
            results: list = []
            _crowd(ports, tokens, pid, time.perf_counter() + seconds, results)
            rush: list = []
            _crowd(ports, tokens, last, time.perf_counter() + 60, rush, attempts=10)
        init_database(url or path)
        report = stock.verify()
        sold = -sum(m["qty_change"] for m in _moves(last) if m["reason"] == "sale")
        left = catalogue.get_product(last)["stock_quantity"]
        database.close()
    done = [r for r in results if r[1] == 201]
    latencies = [r[0] * 1000 for r in done]
    statuses = sorted({r[1] for r in results})
    rate = len(done) / seconds
    engine = (f"PostgreSQL, {servers} app server(s)" if database_url else "SQLite")
    pinned = f", servers on CPUs {server_prefix[-1]}" if server_prefix else ""
    print(f"(b) HTTP on {engine}: gunicorn {workers} workers x {threads} threads, {clients} "
          f"buyers, {seconds:.0f} s{', replicating with litestream' if replica else ''}, "
          f"payments {payments}{pinned}")
    print(f"    /healthz:  {health['rps']:8.0f} req/s")
    print(f"    checkouts: {rate:8.0f} /s, p50 {percentile(latencies, 50):.1f} ms, "
          f"p99 {percentile(latencies, 99):.1f} ms; statuses seen {statuses}")
    print(f"    checkouts ÷ healthz: {rate / health['rps']:.2f}   (goal ≥ 0.3)")
    rushed = sorted({r[1] for r in rush})
    print(f"    sell-out: {len(rush)} attempts for {units} units, statuses {rushed}: sold "
          f"{sold}, {left} left; oversold: {max(0, sold - units)}; ledger invariants: "
          f"{'ok' if not report.violations else report.violations[:3]}")
    return rate


def _crowd(ports: list[int], tokens: list[str], pid: int, until: float, out: list,
           attempts: int = 10**9) -> None:
    """One thread per buyer, the buyers dealt round the servers."""
    buyers = [threading.Thread(target=buyer,
                               args=(ports[i % len(ports)], t, pid, until, out, attempts))
              for i, t in enumerate(tokens)]
    for b in buyers:
        b.start()
    for b in buyers:
        b.join()


def _moves(pid: int) -> list[dict]:
    return stock.list_moves(pid, limit=100).items + [
        m for page in _all_pages(pid) for m in page]


def _all_pages(pid: int):
    cursor = stock.list_moves(pid, limit=100).next_cursor
    while cursor:
        page = stock.list_moves(pid, limit=100, cursor=cursor)
        yield page.items
        cursor = page.next_cursor


def part_c(long: int, n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="shop-bench-") as tmp:
        path = Path(tmp) / "scale.db"
        build(path, 100, long)  # product 1: 10^2 moves, product 2: `long` moves
        init_database(path)
        with write_transaction():
            user = accounts.add_user("scale@example.com", "x", "S", "customer", clock.now())
        database.execute_sql("UPDATE products SET status = 'active'")
        for pid in (1, 2):  # enough units for every timed checkout, one more move each
            stock.adjust(pid, n, "restock")
        totals = {1: 0.0, 2: 0.0}
        per = n // rounds
        for _ in range(rounds):
            for pid in (1, 2):
                totals[pid] += service_checkouts(user.id, pid, per)
        database.close()
    short_ms, long_ms = (totals[p] / (per * rounds) * 1000 for p in (1, 2))
    print(f"(c) hold + checkout on a product with 100 moves: {short_ms:.2f} ms; with "
          f"{long:,} moves: {long_ms:.2f} ms; ratio {long_ms / short_ms:.2f}   (goal ≤ 1.2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["a", "b", "c"], help="run one part")
    parser.add_argument("-n", type=int, default=1000, help="checkouts timed in (a) and (c)")
    parser.add_argument("--seconds", type=float, default=8.0, help="load time in (b)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent buyers in (b)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers in (b)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker in (b)")
    parser.add_argument("--long", type=int, default=1_000_000, help="ledger rows in (c)")
    parser.add_argument("--replica", action="store_true",
                        help="(b) with continuous replication on (SHOP_REPLICA_URL, a file)")
    parser.add_argument("--payments", choices=["manual", "stripe"], default="manual",
                        help="(b) with SHOP_PAYMENTS=stripe against a local Stripe stand-in")
    parser.add_argument("--database-url", metavar="URL",
                        help="(b) on PostgreSQL too: a server whose user may create "
                             "databases (postgresql://user@host/db); prints HTTP "
                             "checkouts/s with one and two app servers ÷ SQLite with one")
    parser.add_argument("--pin", metavar="CPUS",
                        help="(b) pin the load generator to these CPUs (e.g. 0 or 0,1) and "
                             "start the app servers under taskset on the others (the "
                             "database server is not pinned)")
    args = parser.parse_args()
    prefix = pin_client({int(c) for c in args.pin.split(",")}) if args.pin else ()
    if args.database_url:
        lite = part_b(args.seconds, args.clients, args.workers, args.threads,
                      server_prefix=prefix)
        one = part_b(args.seconds, args.clients, args.workers, args.threads,
                     database_url=args.database_url, servers=1, server_prefix=prefix)
        two = part_b(args.seconds, args.clients, args.workers, args.threads,
                     database_url=args.database_url, servers=2, server_prefix=prefix)
        print(f"(b) HTTP checkouts/s ÷ SQLite with one server: PostgreSQL with one server "
              f"{one / lite:.2f}, with two servers {two / lite:.2f} "
              f"(SQLite {lite:.0f}/s, PostgreSQL {one:.0f}/s and {two:.0f}/s)")
        return
    if args.only in (None, "a"):
        part_a(args.n)
    if args.only in (None, "b"):
        part_b(args.seconds, args.clients, args.workers, args.threads, args.replica,
               args.payments, server_prefix=prefix)
    if args.only in (None, "c"):
        part_c(args.long, args.n, 5)


if __name__ == "__main__":
    main()
