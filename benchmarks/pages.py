"""How long each dashboard page takes at 10^5 products and 10^5 orders (issue 15).

Builds a shop in a scratch folder: the generated catalogue of N products (``shop
seed-demo --products N``), O orders over the past year (a fifth of them guests'; each
sells one unit through the ledger, so stock, moves and orders agree), as many audit rows,
a year of analytics rollups, and S submissions through the sell service. Then starts a
real ``shop serve`` on 127.0.0.1, signs in through the sign-in form like a browser, and
fetches every page R times one after another (one client: the time a person waits).
Prints p50/p95/max per page and its status; a page that is not 200 is reported, not
hidden. Only 127.0.0.1 is contacted; asserts nothing (the suite asserts no time).

    python benchmarks/pages.py
    python benchmarks/pages.py --products 20000 --orders 20000 --rounds 20
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

from _common import percentile, raw_connect  # noqa: E402

from shop.db import database, init_database  # noqa: E402
from shop.services import demo, mail, selling  # noqa: E402
from shop.services.migrations import migrate  # noqa: E402
from tests.servers import running_shop  # noqa: E402

PASSWORD = "benchmark password"
STATUSES = (("delivered", "paid"), ("shipped", "paid"), ("paid", "paid"),
            ("pending", "unpaid"), ("cancelled", "unpaid"))
EVENT_TYPES = ("page_view", "product_view", "search", "add_to_cart", "remove_from_cart",
               "checkout_started", "sell_started")


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build(path: Path, products: int, orders: int, submissions: int) -> dict[str, str]:
    """The scratch shop; returns the names the pages are fetched with."""
    init_database(path)
    migrate()
    demo.seed(PASSWORD)
    demo.seed_catalogue(products)
    for n in range(submissions):
        selling.submit(2, [{"title": f"Wool coat {n}", "brand": "", "category": "coats",
                            "size": "M", "condition": "good", "notes": "worn well",
                            "asking_price_cents": 2500}], None, "")
    # The submissions' mails leave from the mail thread, which writes as it sends: let it
    # finish before the raw transaction below (a write between its read and its first
    # insert is "database is locked").
    mail.drain()
    database.close()
    rng = random.Random(15)
    now = datetime.now(UTC)
    conn = raw_connect(path)
    stocked = [row[0] for row in conn.execute(
        "SELECT id FROM products WHERE status = 'active' AND stock_quantity > 0 ORDER BY id")]
    conn.execute("BEGIN")
    first = last = ""
    for n in range(min(orders, len(stocked))):
        pid = stocked[n]
        price = conn.execute("SELECT price_cents, title FROM products WHERE id = ?",
                             (pid,)).fetchone()
        at = _text(now - timedelta(days=365) + timedelta(seconds=n * 365 * 86400 // orders))
        status, paid = STATUSES[n % len(STATUSES)]
        guest = n % 5 == 0
        number = f"B{n:09d}"
        first = first or number
        last = number
        order_id = conn.execute(
            "INSERT INTO orders (order_number, user_id, status, payment_status, "
            "shipping_method, subtotal_cents, shipping_cents, total_cents, created_at, "
            "updated_at, guest_email, access_token_hash) VALUES (?, ?, ?, ?, 'collect', ?, 0,"
            " ?, ?, ?, ?, ?)",
            (number, None if guest else 2, status, paid, price[0], price[0], at, at,
             f"guest{n}@example.com" if guest else None,
             secrets.token_hex(32) if guest else None)).lastrowid
        conn.execute("INSERT INTO order_items (order_id, product_id, title, unit_price_cents,"
                     " quantity, line_total_cents) VALUES (?, ?, ?, ?, 1, ?)",
                     (order_id, pid, price[1], price[0], price[0]))
        conn.execute("INSERT INTO stock_moves (product_id, qty_change, reason, order_id, "
                     "created_at) VALUES (?, -1, 'sale', ?, ?)", (pid, order_id, at))
        conn.execute("INSERT INTO audit_logs (actor_id, action, entity_type, entity_id, "
                     "after_state, created_at) VALUES (1, 'order.status', 'order', ?, ?, ?)",
                     (number, json.dumps({"status": status}), at))
    for day in range(365):
        date = (now - timedelta(days=day)).date().isoformat()
        for event_type in EVENT_TYPES:
            top = [{"product_id": rng.choice(stocked), "count": rng.randint(1, 50)}
                   for _ in range(5)]
            conn.execute("INSERT INTO analytics_daily (day, event_type, count, top_products,"
                         " computed_at) VALUES (?, ?, ?, ?, ?)",
                         (date, event_type, rng.randint(0, 5000), json.dumps(top),
                          _text(now)))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    batch = conn.execute("SELECT batch_id FROM sell_submissions ORDER BY id DESC LIMIT 1"
                         ).fetchone()
    conn.close()
    return {"order": last, "old_order": first, "product": str(stocked[len(stocked) // 2]),
            "batch": batch[0] if batch else "", "email": "guest0@example.com"}


class Browser:
    """One keep-alive connection with a cookie jar: what a person's browser does."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None
                ) -> tuple[int, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body, headers)
        response = self.conn.getresponse()
        text = response.read().decode()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie" and value.startswith("shop_session="):
                self.cookie = value.split(";", 1)[0]
        return response.status, text

    def sign_in(self, email: str, password: str) -> None:
        _, html = self.request("GET", "/admin/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        status, _ = self.request("POST", "/admin/login", {
            "email": email, "password": password, "csrf_token": token})
        if status != 303:
            raise SystemExit(f"sign-in answered {status}")


def pages(names: dict[str, str]) -> dict[str, str]:
    return {
        "today": "/admin",
        "orders": "/admin/orders",
        "orders, by status": "/admin/orders?status=paid",
        "orders, by email": f"/admin/orders?q={names['email']}",
        "order": f"/admin/orders/{names['order']}",
        "an old order": f"/admin/orders/{names['old_order']}",
        "products": "/admin/products",
        "products, search": "/admin/products?q=wool",
        "product": f"/admin/products/{names['product']}",
        "submissions": "/admin/submissions",
        "submission": f"/admin/submissions/{names['batch']}",
        "analytics (30 days)": "/admin/analytics",
        "audit": "/admin/audit",
        "operations": "/admin/operations",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=30, help="fetches of each page")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shop-bench-") as tmp:
        path = Path(tmp) / "pages.db"
        started = time.perf_counter()
        names = build(path, args.products, args.orders, args.submissions)
        print(f"built {args.products:,} products, {args.orders:,} orders, "
              f"{args.submissions} submissions in {time.perf_counter() - started:.0f} s",
              file=sys.stderr)
        with running_shop(path, workers=1, threads=4) as base:
            browser = Browser(int(base.rsplit(":", 1)[1]))
            browser.sign_in("admin@example.com", PASSWORD)
            print(f"{'page':22s} {'status':>6s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}")
            for name, url in pages(names).items():
                browser.request("GET", url)  # warm: templates compiled, pages cached
                times, status = [], 0
                for _ in range(args.rounds):
                    start = time.perf_counter()
                    status, _ = browser.request("GET", url)
                    times.append((time.perf_counter() - start) * 1000)
                print(f"{name:22s} {status:6d} {percentile(times, 50):8.1f} "
                      f"{percentile(times, 95):8.1f} {max(times):8.1f}")


if __name__ == "__main__":
    main()
