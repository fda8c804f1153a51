"""Payments through Stripe Checkout (issue 16), against a stand-in for Stripe's HTTP API on
127.0.0.1 driven by the real ``stripe`` library, with webhooks signed as Stripe signs them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from shop import clock
from shop.api import create_app
from shop.config import ConfigError, Settings
from shop.db import database, init_database
from shop.services.migrations import migrate
from tests import engine
from tests.conftest import _open, sign_up
from tests.shopping import hold, product, rows
from tests.stripe_standin import SECRET_KEY, WEBHOOK_SECRET, StripeStandIn, event, sign

pytestmark = pytest.mark.usefixtures("clean_ledger")
WEBHOOK = "/api/payments/stripe/webhook"


@pytest.fixture
def stripe_api() -> Iterator[StripeStandIn]:
    with StripeStandIn() as stand_in:
        yield stand_in


def stripe_settings(base: str) -> dict[str, object]:
    return {"PAYMENTS": "stripe", "STRIPE_SECRET_KEY": SECRET_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_API_BASE": base,
            "PUBLIC_URL": "http://shop.test", "UNPAID_ORDER_MINUTES": 60}


@pytest.fixture
def app(db_path: Path, database_url: str | None, stripe_api: StripeStandIn) -> Iterator[Flask]:
    _open(db_path, database_url)
    database.close()
    app = create_app({"DATABASE": db_path, "DATABASE_URL": database_url or "",
                      "MEDIA_DIR": db_path.parent / "media",
                      "TESTING": True, **stripe_settings(stripe_api.base)})
    yield app
    database.close()


def place(client, headers, *, units: int = 1, quantity: int = 1, price: int = 2500,
          sku: str = "P-1") -> str:
    pid = product(units, sku=sku, price=price)
    assert hold(client, headers, pid, quantity).status_code == 201
    r = client.post("/api/checkout", json={}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["order"]["order_number"]


def start(client, headers, number: str, **query) -> dict:
    r = client.post(f"/api/orders/{number}/payment", headers=headers, query_string=query)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["payment"]


def session_of(stripe_api: StripeStandIn, payment: dict) -> str:
    return payment["checkout_url"].rsplit("/", 1)[1]


def deliver(client, body: bytes, signature: str | None = "sign"):
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        signature = sign(body)
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post(WEBHOOK, data=body, headers=headers)


def order(client, headers, number: str) -> dict:
    r = client.get(f"/api/orders/{number}", headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()["order"]


def paid_order(client, headers, stripe_api, **place_args) -> tuple[str, dict]:
    number = place(client, headers, **place_args)
    payment = start(client, headers, number)
    session = stripe_api.pay(session_of(stripe_api, payment))
    assert deliver(client, event("checkout.session.completed", session)).status_code == 200
    return number, session


def snapshot(db_path: Path) -> list:
    """Everything a webhook could change."""
    return [rows(db_path, f"SELECT * FROM {t} ORDER BY id") for t in
            ("orders", "payments", "webhook_events", "audit_logs", "stock_moves")]


# --- paying ----------------------------------------------------------------------------------

def test_paying_opens_one_checkout_session_for_the_order_total(client, ann, stripe_api):
    number = place(client, ann, quantity=2, units=2, price=1250)
    payment = start(client, ann, number)
    assert payment["provider"] == "stripe" and payment["status"] == "pending"
    assert payment["checkout_url"].startswith(stripe_api.base)
    assert payment["expires_at"].endswith("Z")

    [(method, path, params, key)] = stripe_api.requests
    assert (method, path) == ("POST", "/v1/checkout/sessions")
    assert params["metadata"] == {"order_number": number}
    assert params["client_reference_id"] == number
    line = params["line_items"]["0"]
    assert (line["price_data"]["unit_amount"], line["price_data"]["currency"]) == ("2500", "eur")
    assert key and number not in key  # an idempotency key per attempt, sent

    assert start(client, ann, number) == payment  # the open session, again
    assert len(stripe_api.sessions) == 1
    listed = order(client, ann, number)["payments"]
    assert [(p["kind"], p["provider"], p["status"], p["amount_cents"]) for p in listed] == [
        ("charge", "stripe", "pending", 2500)]


def test_only_the_buyer_or_the_guest_token_may_pay(client, ann, stripe_api):
    number = place(client, ann)
    stranger = sign_up(client, "bob@example.com")
    assert client.post(f"/api/orders/{number}/payment", headers=stranger).status_code == 404
    assert client.post(f"/api/orders/{number}/payment").status_code == 404
    assert stripe_api.requests == []

    session = client.post("/api/cart/items", json={"product_id": product(1, sku="G-1"),
                                                   "quantity": 1}).get_json()["cart_session"]
    r = client.post("/api/checkout", json={"email": "guest@example.com"},
                    headers={"X-Cart-Session": session})
    guest_number, token = r.get_json()["order"]["order_number"], r.get_json()["order_token"]
    assert client.post(f"/api/orders/{guest_number}/payment",
                       query_string={"token": "x" * 43}).status_code == 404
    assert start(client, {}, guest_number, token=token)["status"] == "pending"


def test_a_paid_or_cancelled_order_takes_no_payment(client, ann, stripe_api):
    number, _ = paid_order(client, ann, stripe_api)
    r = client.post(f"/api/orders/{number}/payment", headers=ann)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "conflict"
    other = place(client, ann, sku="P-2")
    assert client.post(f"/api/orders/{other}/cancel", headers=ann).status_code == 200
    assert client.post(f"/api/orders/{other}/payment", headers=ann).status_code == 409


# --- webhooks --------------------------------------------------------------------------------

def test_a_completed_session_pays_the_order_once(client, ann, stripe_api, db_path):
    number = place(client, ann)
    payment = start(client, ann, number)
    body = event("checkout.session.completed", stripe_api.pay(session_of(stripe_api, payment)))
    r = deliver(client, body)
    assert r.status_code == 200 and r.get_json() == {"received": True}
    seen = order(client, ann, number)
    assert (seen["status"], seen["payment_status"]) == ("paid", "paid")
    assert [p["status"] for p in seen["payments"]] == ["succeeded"]

    before = snapshot(db_path)
    assert deliver(client, body).status_code == 200  # the same event again: no second effect
    assert snapshot(db_path) == before


@pytest.mark.parametrize("case", ["forged", "other_secret", "missing", "stale", "changed_body",
                                  "garbage_header"])
def test_an_unverified_webhook_is_refused_with_nothing_changed(client, ann, stripe_api,
                                                               db_path, case):
    number = place(client, ann)
    session = stripe_api.pay(session_of(stripe_api, start(client, ann, number)))
    body = event("checkout.session.completed", session)
    signature = {
        "forged": f"t={int(time.time())},v1={'0' * 64}",
        "other_secret": sign(body, "whsec_someone_else"),
        "missing": None,
        "stale": sign(body, at=int(time.time()) - 301),
        "changed_body": sign(body.replace(b'"livemode": false', b'"livemode": true')),
        "garbage_header": "not a signature",
    }[case]
    before = snapshot(db_path)
    r = deliver(client, body, signature)
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["error"]["details"]["fields"] == {
        "Stripe-Signature": "must be Stripe's signature of this very body, made in the last "
                            "5 minutes"}
    assert snapshot(db_path) == before
    assert order(client, ann, number)["payment_status"] == "unpaid"


def test_a_signature_just_inside_the_tolerance_is_accepted(client, ann, stripe_api):
    number = place(client, ann)
    session = stripe_api.pay(session_of(stripe_api, start(client, ann, number)))
    body = event("checkout.session.completed", session)
    assert deliver(client, body, sign(body, at=int(time.time()) - 240)).status_code == 200
    assert order(client, ann, number)["payment_status"] == "paid"


@pytest.mark.parametrize("change, reason", [
    ({"amount_total": 100}, "Stripe took 100 cents, the order's total is 2500"),
    ({"currency": "usd"}, "Stripe took usd, the shop charges in eur"),
])
def test_a_payment_for_the_wrong_amount_or_currency_fails_and_is_audited(
        client, ann, admin_headers, stripe_api, db_path, change, reason):
    number = place(client, ann)
    session = stripe_api.pay(session_of(stripe_api, start(client, ann, number)), **change)
    assert deliver(client, event("checkout.session.completed", session)).status_code == 200
    seen = order(client, ann, number)
    assert (seen["status"], seen["payment_status"]) == ("pending", "unpaid")
    assert [p["status"] for p in seen["payments"]] == ["failed"]
    assert rows(db_path, "SELECT failure_reason FROM payments") == [(reason,)]
    audit = client.get("/api/admin/audit", headers=admin_headers,
                       query_string={"entity_type": "order", "entity_id": number}).get_json()
    [entry] = [a for a in audit["items"] if a["action"] == "payment.failed"]
    assert entry["actor_id"] is None and entry["after"]["reason"] == reason


def test_an_event_for_an_unknown_order_is_acknowledged_and_logged(client, db_path, caplog):
    session = {"id": "cs_test_nobody", "object": "checkout.session", "amount_total": 100,
               "currency": "eur", "payment_status": "paid", "payment_intent": "pi_x",
               "metadata": {"order_number": "ES-NOPE-NOPE"}, "client_reference_id": None}
    r = deliver(client, event("checkout.session.completed", session))
    assert r.status_code == 200
    assert rows(db_path, "SELECT outcome FROM webhook_events") == [("unknown order",)]
    assert rows(db_path, "SELECT count(*) FROM payments") == [(0,)]
    assert "does not know" in caplog.text


def test_an_expired_session_is_recorded_and_a_new_one_can_be_opened(client, ann, stripe_api):
    number = place(client, ann)
    payment = start(client, ann, number)
    expired = {**stripe_api.sessions[session_of(stripe_api, payment)], "status": "expired"}
    assert deliver(client, event("checkout.session.expired", expired)).status_code == 200
    assert [p["status"] for p in order(client, ann, number)["payments"]] == ["expired"]
    again = start(client, ann, number)
    assert again["id"] != payment["id"] and len(stripe_api.sessions) == 2
    keys = [k for _m, _p, _params, k in stripe_api.requests]
    assert len(set(keys)) == 2  # a new attempt, a new idempotency key


def test_two_webhooks_for_one_order_at_once_take_effect_once(app, ann, client, stripe_api,
                                                              db_path):
    number = place(client, ann)
    session = stripe_api.pay(session_of(stripe_api, start(client, ann, number)))
    bodies = [event("checkout.session.completed", session) for _ in range(4)]
    bodies += [bodies[0]] * 4  # Stripe retrying one delivery, at the same moment
    barrier = threading.Barrier(len(bodies))
    statuses: list[int] = []

    def send(body: bytes) -> None:
        local = app.test_client()
        barrier.wait()
        statuses.append(deliver(local, body).status_code)

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * len(bodies)
    outcomes = [o for (o,) in rows(db_path, "SELECT outcome FROM webhook_events")]
    assert len(outcomes) == 4  # four distinct events, each recorded once
    assert sum(o.startswith("paid:") for o in outcomes) == 1
    assert rows(db_path, "SELECT status FROM payments") == [("succeeded",)]
    assert order(client, ann, number)["status"] == "paid"


# --- refunds ---------------------------------------------------------------------------------

def test_cancelling_a_paid_order_refunds_it_in_full(client, ann, stripe_api, db_path):
    number, session = paid_order(client, ann, stripe_api, price=3000)
    r = client.post(f"/api/orders/{number}/cancel", headers=ann)
    assert r.status_code == 200, r.get_json()
    seen = r.get_json()["order"]
    assert (seen["status"], seen["payment_status"]) == ("cancelled", "refunded")
    assert [(p["kind"], p["status"], p["amount_cents"]) for p in seen["payments"]] == [
        ("charge", "succeeded", 3000), ("refund", "succeeded", 3000)]
    [(params, key)] = stripe_api.refund_calls()
    assert params["payment_intent"] == session["payment_intent"]
    assert params["amount"] == "3000" and key
    assert rows(db_path, "SELECT stock_quantity FROM products") == [(1,)]


def test_the_owner_cancelling_a_paid_order_refunds_it(client, ann, admin_headers, stripe_api):
    number, _ = paid_order(client, ann, stripe_api)
    r = client.post(f"/api/admin/orders/{number}/status", json={"status": "cancelled"},
                    headers=admin_headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["order"]["payment_status"] == "refunded"
    assert len(stripe_api.refund_calls()) == 1


def test_returns_refund_what_came_back(client, ann, admin_headers, stripe_api):
    number, _ = paid_order(client, ann, stripe_api, units=3, quantity=3, price=1000)
    pid = order(client, ann, number)["items"][0]["product_id"]
    url = f"/api/admin/orders/{number}/returns"
    r = client.post(url, json={"items": [{"product_id": pid, "quantity": 1}]},
                    headers=admin_headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["order"]["payment_status"] == "partially_refunded"
    r = client.post(url, json={"items": [{"product_id": pid, "quantity": 2}]},
                    headers=admin_headers)
    seen = r.get_json()["order"]
    assert seen["payment_status"] == "refunded"
    assert seen["items"][0]["returned_quantity"] == 3
    assert [p["amount_cents"] for p in seen["payments"] if p["kind"] == "refund"] == [1000, 2000]
    keys = [k for _p, k in stripe_api.refund_calls()]
    assert len(set(keys)) == 2  # one idempotency key per action


def test_a_refused_refund_leaves_the_order_as_it_was_and_says_why(client, ann, admin_headers,
                                                                   stripe_api, db_path):
    number, _ = paid_order(client, ann, stripe_api)
    stripe_api.refuse_refunds = "This payment is disputed and cannot be refunded."
    stock_before = rows(db_path, "SELECT stock_quantity FROM products")
    r = client.post(f"/api/orders/{number}/cancel", headers=ann)
    assert r.status_code == 409
    error = r.get_json()["error"]
    assert "This payment is disputed" in error["message"]
    assert error["details"]["reason"] == "This payment is disputed and cannot be refunded."
    seen = order(client, ann, number)
    assert (seen["status"], seen["payment_status"]) == ("paid", "paid")
    assert [(p["kind"], p["status"]) for p in seen["payments"]] == [
        ("charge", "succeeded"), ("refund", "failed")]
    assert rows(db_path, "SELECT stock_quantity FROM products") == stock_before
    audit = client.get("/api/admin/audit", headers=admin_headers).get_json()["items"]
    assert any(a["action"] == "payment.refund_refused" for a in audit)

    stripe_api.refuse_refunds = None  # asked again, a new action with a new key
    r = client.post(f"/api/orders/{number}/cancel", headers=ann)
    assert r.status_code == 200 and r.get_json()["order"]["payment_status"] == "refunded"


def test_an_unanswered_refund_stays_pending_and_is_asked_again_with_the_same_key(
        client, ann, stripe_api, db_path, runner):
    number, _ = paid_order(client, ann, stripe_api)
    stripe_api.failing = True  # Stripe answers 500: whether it refunded is not known
    r = client.post(f"/api/orders/{number}/cancel", headers=ann)
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert order(client, ann, number)["status"] == "paid"
    assert rows(db_path, "SELECT kind, status FROM payments ORDER BY id") == [
        ("charge", "succeeded"), ("refund", "pending")]
    assert client.post(f"/api/orders/{number}/cancel", headers=ann).status_code == 503
    # While it is open, nothing else moves the money or the order.
    pid = order(client, ann, number)["items"][0]["product_id"]
    owner = sign_up(client, "owner@example.com", admin=True)
    assert client.post(f"/api/admin/orders/{number}/status", json={"status": "shipped"},
                       headers=owner).status_code == 409
    assert client.post(f"/api/admin/orders/{number}/returns", headers=owner, json={
        "items": [{"product_id": pid, "quantity": 1}]}).status_code == 409

    stripe_api.failing = False  # the cron asks again, once the refund is a minute old
    conn = engine.connect(db_path)
    conn.execute("UPDATE payments SET created_at = ? WHERE kind = 'refund'",
                 (clock.to_text(clock.now() - timedelta(minutes=2)),))
    conn.commit()
    conn.close()
    env = {f"SHOP_{k}": str(v) for k, v in stripe_settings(stripe_api.base).items()}
    result = runner.invoke(["orders", "expire-unpaid"], env=env)
    assert "settled 1 pending refund(s), 0 still open" in result.output, result.output
    seen = order(client, ann, number)
    assert (seen["status"], seen["payment_status"]) == ("cancelled", "refunded")
    assert len(stripe_api.refunds) == 1  # one refund, whatever the number of asks
    assert len({k for _p, k in stripe_api.refund_calls()}) == 1


def test_no_write_lock_is_held_while_stripe_is_asked(client, ann, admin_headers, stripe_api,
                                                    db_path):
    """DESIGN.md §5: record the attempt, call Stripe, record the answer; never a network
    call inside a write transaction (each Stripe request tries the write lock itself)."""
    stripe_api.lock_probe = str(db_path)
    number, _ = paid_order(client, ann, stripe_api, units=2, quantity=2, price=1000)
    pid = order(client, ann, number)["items"][0]["product_id"]
    assert client.post(f"/api/admin/orders/{number}/returns", headers=admin_headers, json={
        "items": [{"product_id": pid, "quantity": 1}]}).status_code == 200
    assert client.post(f"/api/orders/{number}/cancel", headers=ann).status_code == 200
    assert stripe_api.lock_seen == [False, False, False]  # session, two refunds


# --- unpaid orders ---------------------------------------------------------------------------

def _age(db_path: Path, number: str, minutes: int) -> None:
    conn = engine.connect(db_path)
    stamp = clock.to_text(clock.now() - timedelta(minutes=minutes))
    conn.execute("UPDATE orders SET created_at = ? WHERE order_number = ?", (stamp, number))
    conn.commit()
    conn.close()


def test_an_unpaid_order_expires_when_read_and_a_late_payment_is_refunded(
        client, ann, stripe_api, db_path):
    number = place(client, ann)
    payment = start(client, ann, number)
    _age(db_path, number, 61)
    seen = order(client, ann, number)  # read after the window: cancelled, stock back
    assert (seen["status"], seen["payment_status"]) == ("cancelled", "unpaid")
    assert rows(db_path, "SELECT stock_quantity FROM products") == [(1,)]
    assert client.post(f"/api/orders/{number}/payment", headers=ann).status_code == 409

    session = stripe_api.pay(session_of(stripe_api, payment))  # the buyer paid anyway
    assert deliver(client, event("checkout.session.completed", session)).status_code == 200
    seen = order(client, ann, number)
    assert (seen["status"], seen["payment_status"]) == ("cancelled", "refunded")
    assert [(p["kind"], p["status"]) for p in seen["payments"]] == [
        ("charge", "succeeded"), ("refund", "succeeded")]
    [(params, _key)] = stripe_api.refund_calls()
    assert params["amount"] == "2500"


def test_the_cron_cancels_unpaid_orders_with_their_stock_back(client, ann, stripe_api,
                                                              db_path, runner):
    old, fresh = place(client, ann, sku="P-1"), place(client, ann, sku="P-2")
    _age(db_path, old, 61)
    env = {f"SHOP_{k}": str(v) for k, v in stripe_settings(stripe_api.base).items()}
    result = runner.invoke(["orders", "expire-unpaid"], env=env)
    assert result.exit_code == 0, result.output
    assert "cancelled 1 unpaid order(s)" in result.output
    assert rows(db_path, "SELECT order_number, status FROM orders ORDER BY id") == [
        (old, "cancelled"), (fresh, "pending")]
    assert rows(db_path, "SELECT sku, stock_quantity FROM products ORDER BY id") == [
        ("P-1", 1), ("P-2", 0)]
    assert "cancelled 0 unpaid" in runner.invoke(["orders", "expire-unpaid"], env=env).output


# --- manual payments and settings ------------------------------------------------------------

def test_with_manual_payments_there_is_nothing_to_pay_online(db_path, stripe_api):
    init_database(db_path)
    migrate()
    database.close()
    client = create_app({"DATABASE": db_path, "TESTING": True}).test_client()
    ann = sign_up(client, "ann@example.com")
    owner = sign_up(client, "owner@example.com", admin=True)
    number = place(client, ann)
    r = client.post(f"/api/orders/{number}/payment", headers=ann)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "conflict"
    body = event("checkout.session.completed", {"id": "cs_x"})
    assert deliver(client, body).status_code == 404
    r = client.post(f"/api/admin/orders/{number}/status", json={"status": "paid"},
                    headers=owner)
    assert [(p["provider"], p["status"]) for p in r.get_json()["order"]["payments"]] == [
        ("manual", "succeeded")]
    assert stripe_api.requests == []
    database.close()


def test_outside_development_stripe_without_its_keys_refuses_to_start(runner):
    base = {"SHOP_ENV": "production", "SHOP_SECRET_KEY": "s" * 32,
            "SHOP_SMTP_URL": "smtp://mail.example.com", "SHOP_PAYMENTS": "stripe",
            "SHOP_STRIPE_SECRET_KEY": "sk_live_x", "SHOP_STRIPE_WEBHOOK_SECRET": "whsec_x",
            "SHOP_PUBLIC_URL": "https://shop.example.com"}
    assert Settings.from_env(base).payments == "stripe"
    for missing in ("SHOP_STRIPE_SECRET_KEY", "SHOP_STRIPE_WEBHOOK_SECRET"):
        env = {k: v for k, v in base.items() if k != missing}
        with pytest.raises(ConfigError, match=missing):
            Settings.from_env(env)
        result = runner.invoke(["migrate"], env={**env, missing: ""})
        assert result.exit_code != 0 and missing in result.output
    with pytest.raises(ConfigError, match="SHOP_STRIPE_API_BASE"):
        Settings.from_env({**base, "SHOP_STRIPE_API_BASE": "http://127.0.0.1:1"})
    shown = repr(Settings.from_env(base))
    assert "sk_live_x" not in shown and "whsec_x" not in shown


def test_no_secret_or_signature_reaches_the_log(client, ann, stripe_api, caplog):
    caplog.set_level("DEBUG")
    number, session = paid_order(client, ann, stripe_api)
    body = event("checkout.session.completed", session)
    signature = sign(body)
    deliver(client, body, signature)
    deliver(client, body, "t=1,v1=" + "a" * 64)
    client.post(f"/api/orders/{number}/cancel", headers=ann)
    text = caplog.text + json.dumps([r.getMessage() for r in caplog.records])
    for secret in (SECRET_KEY, WEBHOOK_SECRET, signature.split("v1=")[1]):
        assert secret not in text
