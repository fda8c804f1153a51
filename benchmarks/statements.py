"""Statements (database round trips) per request on the checkout's hot path.

On PostgreSQL every statement is a round trip to the server (~0.4 ms on a unix socket
here), so the count bounds a checkout's speed more than anything else; on SQLite it is a
library call. This counts, per request, every statement the shop sends: BEGIN and COMMIT
included, statements run by triggers not (PostgreSQL runs them inside the one round trip),
nor SQLite's ``PRAGMA optimize`` that a connection runs on its way back to the pool at
most every 10 s (housekeeping, not the request's). Requests go through the Flask
app in this process (no HTTP): a signed-in buyer holds one unit (POST /api/cart/items)
and checks it out (POST /api/checkout), then the same with three products.

    python benchmarks/statements.py                          # SQLite
    python benchmarks/statements.py --database-url postgresql://shop@/postgres?host=/tmp/pg
        # SQLite, then PostgreSQL (a fresh database on that server, dropped after)
    python benchmarks/statements.py -v                       # print each statement too

Prints the counts; asserts nothing. The counting lives here only, never in the shop.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

from checkout import PRODUCT, _fresh_postgresql  # noqa: E402

from shop import clock, db  # noqa: E402
from shop.api import create_app  # noqa: E402
from shop.db import database, init_database, write_transaction  # noqa: E402
from shop.services import accounts, catalogue, mail, stock  # noqa: E402
from shop.services.migrations import migrate  # noqa: E402


class Counter:
    """Every statement sent while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.seen: list[str] = []
        self.thread = threading.get_ident()  # the requests' (not the mail thread's)

    def saw(self, sql: str) -> None:
        if not self.on or threading.get_ident() != self.thread \
                or sql.lstrip().startswith(("--", "PRAGMA")):
            return
        sql = " ".join(sql.split())
        # SQLite's trace reports each trigger program it runs as the statement that fired
        # it again (expanded, with the same values): one statement, one count.
        if db.engine() == "sqlite" and self.seen and self.seen[-1] == sql:
            return
        self.seen.append(sql)


@contextlib.contextmanager
def counting(counter: Counter) -> Iterator[None]:
    """Hook the driver: psycopg's cursor (every statement of the shop's connections,
    BEGIN/COMMIT and the unlogged ones included) or SQLite's trace callback."""
    if db.engine() == "postgresql":
        cursor = db._psycopg.Cursor
        original = cursor.execute

        def execute(self, query, params=None, **kwargs):  # type: ignore[no-untyped-def]
            counter.saw(str(query))
            return original(self, query, params, **kwargs)

        cursor.execute = execute
        try:
            yield
        finally:
            cursor.execute = original
        return
    sqlite = db._sqlite
    original_connect = sqlite._connect

    def connect(*args, **kwargs):  # type: ignore[no-untyped-def]
        conn = original_connect(*args, **kwargs)
        conn.set_trace_callback(counter.saw)
        return conn

    sqlite._connect = connect
    database.close_all()
    try:
        yield
    finally:
        sqlite._connect = original_connect
        database.close_all()


def measure(url: str | None, tmp: Path, verbose: bool) -> dict[str, int]:
    path = tmp / "statements.db"
    with _fresh_postgresql(url) as fresh:
        if fresh is None:
            init_database(path)
            migrate()
        with write_transaction():
            accounts.add_user("count@example.com", accounts.hash_password("a long password"),
                              "C", "customer", clock.now())
        token = accounts.login("count@example.com", "a long password").token
        pids = []
        for n in range(3):
            pid = catalogue.create_product({**PRODUCT, "sku": f"COUNT-{n}"})["id"]
            stock.adjust(pid, 100, "restock")
            pids.append(pid)
        database.close()
        app = create_app({"DATABASE": path, "DATABASE_URL": fresh or "",
                          "MEDIA_DIR": tmp / "media", "TESTING": True})
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        counter = Counter()
        counts: dict[str, int] = {}

        def request(label: str, method: str, url_path: str, body: dict) -> None:
            counter.seen, counter.on = [], True
            r = client.open(url_path, method=method, json=body, headers=headers)
            counter.on = False
            assert r.status_code in (200, 201), (label, r.status_code, r.get_json())
            counts[label] = len(counter.seen)
            if verbose:
                print(f"  {label}:")
                for sql in counter.seen:
                    print(f"    {sql[:150]}")

        with counting(counter):
            for _ in range(2):  # the first round warms the connection and the caches
                request("hold", "POST", "/api/cart/items", {"product_id": pids[0]})
                request("checkout, 1 line", "POST", "/api/checkout", {})
            for pid in pids:
                request("hold", "POST", "/api/cart/items", {"product_id": pid})
            request("checkout, 3 lines", "POST", "/api/checkout", {})
        mail.drain(10)
        database.close_all()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", metavar="URL",
                        help="also count on PostgreSQL (a server whose user may create "
                             "databases)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each statement")
    args = parser.parse_args()
    engines = [("SQLite", None)] + ([("PostgreSQL", args.database_url)]
                                    if args.database_url else [])
    for name, url in engines:
        with tempfile.TemporaryDirectory(prefix="shop-statements-") as tmp:
            if args.verbose:
                print(f"{name}:")
            counts = measure(url, Path(tmp), args.verbose)
        print(f"{name}: statements per request (BEGIN/COMMIT included): "
              + ", ".join(f"{label} {n}" for label, n in counts.items()))


if __name__ == "__main__":
    main()
