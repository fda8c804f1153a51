"""Load: 200 orders paid by concurrent webhooks over a real gunicorn (issue 16).

Every order gets two different events for its session, each delivered twice, all shuffled
and sent from 16 threads at once: every order ends paid exactly once, one succeeded charge
each, every event recorded once, and the ledger's invariants hold (`shop stock verify`).
"""

from __future__ import annotations

import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from shop.db import database
from tests.servers import running_shop
from tests.shopping import product, rows
from tests.stripe_standin import SECRET_KEY, WEBHOOK_SECRET, StripeStandIn, event, sign

pytestmark = pytest.mark.slow
ORDERS = int(__import__("os").environ.get("LOAD_ORDERS", "200"))


def test_200_orders_paid_by_concurrent_webhooks_are_each_paid_once(db: Path) -> None:
    """``db``: this test's database (on the PostgreSQL run, SHOP_DATABASE_URL for the server
    and for `shop stock verify`)."""
    db_path = db
    product(ORDERS, sku="LOAD-1", price=1500)
    database.close()
    with StripeStandIn() as stripe_api:
        env = {"SHOP_PAYMENTS": "stripe", "SHOP_STRIPE_SECRET_KEY": SECRET_KEY,
               "SHOP_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
               "SHOP_STRIPE_API_BASE": stripe_api.base, "SHOP_PUBLIC_URL": "http://shop.test",
               # running_shop reads its stderr only if it fails to start: keep it short.
               "SHOP_LOG_LEVEL": "WARNING"}
        with running_shop(db_path, workers=2, threads=8, env=env) as base:
            http = requests.Session()
            r = http.post(f"{base}/api/auth/register", json={
                "email": "load@example.com", "password": "correct horse battery",
                "name": "Load"})
            auth = {"Authorization": f"Bearer {r.json()['token']}"}
            pid = rows(db_path, "SELECT id FROM products")[0][0]
            numbers = []
            for _ in range(ORDERS):
                assert http.post(f"{base}/api/cart/items", headers=auth, json={
                    "product_id": pid, "quantity": 1}).status_code == 201
                r = http.post(f"{base}/api/checkout", headers=auth, json={})
                assert r.status_code == 201, r.text
                numbers.append(r.json()["order"]["order_number"])

            def pay(number: str) -> str:
                r = requests.post(f"{base}/api/orders/{number}/payment", headers=auth)
                assert r.status_code == 201, r.text
                return r.json()["payment"]["checkout_url"].rsplit("/", 1)[1]

            with ThreadPoolExecutor(8) as pool:
                sessions = list(pool.map(pay, numbers))
            deliveries = []
            for session_id in sessions:
                paid = stripe_api.pay(session_id)
                for body in (event("checkout.session.completed", paid),
                             event("checkout.session.completed", paid)):
                    deliveries += [body, body]  # each event delivered twice
            random.Random(16).shuffle(deliveries)

            def deliver(body: bytes) -> int:
                return requests.post(f"{base}/api/payments/stripe/webhook", data=body,
                                     headers={"Stripe-Signature": sign(body),
                                              "Content-Type": "application/json"}
                                     ).status_code

            with ThreadPoolExecutor(16) as pool:
                statuses = list(pool.map(deliver, deliveries))
    assert statuses == [200] * len(deliveries)
    assert rows(db_path, "SELECT status, payment_status, count(*) FROM orders "
                         "GROUP BY 1, 2") == [("paid", "paid", ORDERS)]
    assert rows(db_path, "SELECT kind, status, count(*), count(DISTINCT order_id) "
                         "FROM payments GROUP BY 1, 2") == [("charge", "succeeded", ORDERS,
                                                             ORDERS)]
    assert rows(db_path, "SELECT count(*), count(DISTINCT event_id), "
                         "sum(CASE WHEN outcome LIKE 'paid:%' THEN 1 ELSE 0 END) "
                         "FROM webhook_events") == [
        (2 * ORDERS, 2 * ORDERS, ORDERS)]
    shop = Path(sys.executable).with_name("shop")
    verify = subprocess.run([str(shop), "--database", str(db_path), "stock", "verify"],
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
