"""Journeys finished end to end over HTTP (issue 14 §4; API.md "Catalogue", "Checkout and
orders", "Analytics"). Expected answers are API.md's, written out here."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time

from shop import clock
from shop.services import analytics
from tests import engine
from tests.conftest import sign_up
from tests.shopping import hold, product, rows

ADDRESS = {"name": "Ann Byrne", "line1": "1 Main St", "city": "Cork", "eircode": "T12 AB34",
           "country": "IE"}

pytestmark = pytest.mark.usefixtures("clean_ledger")


def public_ids(client) -> list[int]:
    return [p["id"] for p in client.get("/api/products").get_json()["items"]]


# -- a sold one-off item leaves the window ---------------------------------------------------

def test_the_last_unit_sold_makes_a_product_sold_out_and_a_return_brings_it_back(
        client, ann, admin_headers, db_path) -> None:
    pid = product(1)
    assert public_ids(client) == [pid]
    hold(client, ann, pid)
    assert public_ids(client) == []  # held: not buyable now, so not listed
    assert client.get(f"/api/products/{pid}").get_json()["product"]["status"] == "active"
    number = client.post("/api/checkout", json={}, headers=ann).get_json()["order"][
        "order_number"]
    shown = client.get(f"/api/products/{pid}")
    assert shown.status_code == 200 and shown.get_json()["product"]["status"] == "sold_out"
    assert public_ids(client) == []
    bob = sign_up(client, "bob@example.com")
    late = hold(client, bob, pid)  # still a product of the shop: 409, not 404
    assert late.status_code == 409
    assert late.get_json()["error"]["code"] == "insufficient_stock"
    assert late.get_json()["error"]["details"] == {"product_id": pid, "available": 0}
    assert pid in [p["id"] for p in client.get("/api/products?status=sold_out",
                                               headers=admin_headers).get_json()["items"]]
    for status in ("paid", "shipped"):
        client.post(f"/api/admin/orders/{number}/status", json={"status": status},
                    headers=admin_headers)
    r = client.post(f"/api/admin/orders/{number}/returns",
                    json={"items": [{"product_id": pid, "quantity": 1}]}, headers=admin_headers)
    assert r.status_code == 200
    assert client.get(f"/api/products/{pid}").get_json()["product"]["status"] == "active"
    assert public_ids(client) == [pid]


def test_a_restock_brings_a_sold_out_product_back(client, ann, admin_headers) -> None:
    pid = product(1)
    hold(client, ann, pid)
    client.post("/api/checkout", json={}, headers=ann)
    r = client.post(f"/api/admin/products/{pid}/stock", headers=admin_headers,
                    json={"qty_change": 2, "reason": "restock"})
    assert r.status_code == 201 and r.get_json()["stock_quantity"] == 2
    assert client.get(f"/api/products/{pid}").get_json()["product"]["status"] == "active"


def test_a_unit_still_held_by_someone_else_keeps_the_product_active(client, ann) -> None:
    pid = product(2)
    bob = sign_up(client, "bob@example.com")
    hold(client, ann, pid)
    hold(client, bob, pid)
    assert client.post("/api/checkout", json={}, headers=ann).status_code == 201
    assert client.get(f"/api/products/{pid}").get_json()["product"]["status"] == "active"
    assert client.post("/api/checkout", json={}, headers=bob).status_code == 201
    assert client.get(f"/api/products/{pid}").get_json()["product"]["status"] == "sold_out"


# -- a product off sale in a cart ------------------------------------------------------------

@pytest.mark.parametrize("status", ["archived", "draft"])
def test_taking_a_product_off_sale_releases_its_holds_and_checkout_goes_on(
        client, ann, admin_headers, db_path, status) -> None:
    """Issue 14, defect 4: an archived or draft product in a cart no longer blocks the
    whole checkout (it was a 409 for everything); its holds end through the ledger."""
    kept, gone = product(1), product(1, sku="P-2")
    hold(client, ann, kept)
    hold(client, ann, gone)
    r = client.patch(f"/api/admin/products/{gone}", json={"status": status},
                     headers=admin_headers)
    assert r.status_code == 200
    assert rows(db_path, "SELECT reason, qty_change FROM stock_moves WHERE product_id = ? "
                         "ORDER BY id", gone) == [("restock", 1), ("reserved", -1),
                                                  ("reservation_released", 1)]
    cart = client.get("/api/cart", headers=ann).get_json()
    assert [i["product"]["id"] for i in cart["items"]] == [kept]
    assert cart["subtotal_cents"] == 2500
    r = client.post("/api/checkout", json={}, headers=ann)
    assert r.status_code == 201
    assert [i["product_id"] for i in r.get_json()["order"]["items"]] == [kept]


def test_a_hold_left_on_an_off_sale_product_is_released_at_checkout(client, ann,
                                                                     db_path) -> None:
    """Whoever changed the status (a hand-run SQL shell, say), cart and checkout treat a
    hold on a product not for sale like an expired one: released, not sold."""
    kept, gone = product(1), product(1, sku="P-2")
    hold(client, ann, kept)
    hold(client, ann, gone)
    conn = engine.connect(db_path)
    conn.execute("UPDATE products SET status = 'archived' WHERE id = ?", (gone,))
    conn.commit()
    conn.close()
    r = client.post("/api/checkout", json={}, headers=ann)
    assert r.status_code == 201
    assert [i["product_id"] for i in r.get_json()["order"]["items"]] == [kept]
    assert rows(db_path, "SELECT reason FROM stock_moves WHERE product_id = ? ORDER BY id",
                gone)[-1] == ("reservation_released",)


# -- the owner sees who ordered; checkout uses the saved address -----------------------------

def test_the_owner_sees_the_customer_of_every_order(client, ann, admin_headers) -> None:
    hold(client, ann, product(1))
    number = client.post("/api/checkout", json={}, headers=ann).get_json()["order"][
        "order_number"]
    listed = client.get("/api/admin/orders", headers=admin_headers).get_json()["items"][0]
    assert listed["customer"] == {"id": listed["customer"]["id"], "email": "ann@example.com",
                                  "name": "ann"}
    assert isinstance(listed["customer"]["id"], int)
    one = client.get(f"/api/admin/orders/{number}", headers=admin_headers).get_json()["order"]
    assert one["customer"] == listed["customer"]
    mine = client.get(f"/api/orders/{number}", headers=ann).get_json()["order"]
    assert "customer" not in mine
    assert client.get(f"/api/admin/orders/{number}", headers=ann).status_code == 403


def test_deliver_without_an_address_uses_the_saved_default(client, ann) -> None:
    hold(client, ann, product(1))
    r = client.post("/api/checkout", json={"shipping_method": "deliver"}, headers=ann)
    assert r.status_code == 400
    assert r.get_json()["error"]["details"]["fields"] == {
        "delivery_address": "required to deliver"}
    assert client.put("/api/me/addresses/delivery", json=ADDRESS, headers=ann
                      ).status_code in (200, 201)
    r = client.post("/api/checkout", json={"shipping_method": "deliver"}, headers=ann)
    assert r.status_code == 201
    order = r.get_json()["order"]
    assert order["delivery_address"] == {**ADDRESS, "line2": None, "county": None}
    assert (order["shipping_cents"], order["total_cents"]) == (495, 2500 + 495)


# -- a shopper cancels their own order ------------------------------------------------------

def test_a_shopper_cancels_a_pending_order_and_the_stock_comes_back(client, ann,
                                                                     db_path) -> None:
    pid = product(1)
    hold(client, ann, pid)
    number = client.post("/api/checkout", json={}, headers=ann).get_json()["order"][
        "order_number"]
    bob = sign_up(client, "bob@example.com")
    assert client.post(f"/api/orders/{number}/cancel", headers=bob).status_code == 404
    assert client.post(f"/api/orders/{number}/cancel").status_code == 404
    r = client.post(f"/api/orders/{number}/cancel", headers=ann)
    assert r.status_code == 200 and r.get_json()["order"]["status"] == "cancelled"
    assert rows(db_path, "SELECT reason, qty_change FROM stock_moves WHERE product_id = ? "
                         "ORDER BY id", pid)[-1] == ("return", 1)
    assert client.get(f"/api/products/{pid}").get_json()["product"] == {
        **client.get(f"/api/products/{pid}").get_json()["product"], "status": "active",
        "stock_quantity": 1}
    again = client.post(f"/api/orders/{number}/cancel", headers=ann)
    assert again.status_code == 409


@pytest.mark.parametrize(("path", "cancellable"), [
    ([], True), (["paid"], True), (["paid", "shipped"], False),
    (["paid", "shipped", "delivered"], False)])
def test_a_shopper_may_cancel_only_before_shipping(client, ann, admin_headers, path,
                                                   cancellable) -> None:
    hold(client, ann, product(1))
    number = client.post("/api/checkout", json={}, headers=ann).get_json()["order"][
        "order_number"]
    for status in path:
        client.post(f"/api/admin/orders/{number}/status", json={"status": status},
                    headers=admin_headers)
    r = client.post(f"/api/orders/{number}/cancel", headers=ann)
    if cancellable:
        assert r.status_code == 200 and r.get_json()["order"]["status"] == "cancelled"
    else:
        assert r.status_code == 409 and r.get_json()["error"]["code"] == "conflict"
        assert client.get(f"/api/orders/{number}", headers=ann).get_json()["order"][
            "status"] == path[-1]


# -- guest checkout ------------------------------------------------------------------------

def test_a_guest_checks_out_with_an_email_and_reads_the_order_by_its_token(
        client, db_path) -> None:
    pid = product(1)
    session = hold(client, {}, pid).get_json()["cart_session"]
    guest = {"X-Cart-Session": session}
    r = client.post("/api/checkout", json={}, headers=guest)
    assert r.status_code == 400 and "email" in r.get_json()["error"]["details"]["fields"]
    r = client.post("/api/checkout", json={"email": "Guest@Example.com"}, headers=guest)
    assert r.status_code == 201
    body = r.get_json()
    number, token = body["order"]["order_number"], body["order_token"]
    assert len(token) >= 32
    assert client.get(f"/api/orders/{number}").status_code == 404
    assert client.get(f"/api/orders/{number}?token={'x' * 43}").status_code == 404
    shown = client.get(f"/api/orders/{number}", query_string={"token": token})
    assert shown.status_code == 200 and shown.get_json()["order"]["order_number"] == number
    # Only a hash of the token is stored.
    assert rows(db_path, "SELECT guest_email, user_id, access_token_hash <> ? FROM orders",
                token) == [("guest@example.com", None, 1)]
    # Registering with that email links the order to the new account.
    ann = sign_up(client, "guest@example.com")
    mine = client.get("/api/orders", headers=ann).get_json()["items"]
    assert [o["order_number"] for o in mine] == [number]


def test_a_guest_cancels_with_the_token(client) -> None:
    pid = product(1)
    guest = {"X-Cart-Session": hold(client, {}, pid).get_json()["cart_session"]}
    body = client.post("/api/checkout", json={"email": "g@example.com"}, headers=guest
                       ).get_json()
    number = body["order"]["order_number"]
    assert client.post(f"/api/orders/{number}/cancel").status_code == 404
    r = client.post(f"/api/orders/{number}/cancel", query_string={"token": body["order_token"]})
    assert r.status_code == 200 and r.get_json()["order"]["status"] == "cancelled"


def test_without_a_cart_session_or_sign_in_checkout_is_401(client) -> None:
    r = client.post("/api/checkout", json={"email": "g@example.com"})
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"


# -- filters that match what people type; analytics -----------------------------------------

def test_brand_and_size_match_whatever_the_case(client) -> None:
    pid = product(1, brand="Levi's", size="M")
    for query in ({"brand": "levi's"}, {"brand": "LEVI'S"}, {"size": "m"},
                  {"brand": "Levi's", "size": "m"}):
        assert [p["id"] for p in client.get("/api/products", query_string=query
                                            ).get_json()["items"]] == [pid], query
    assert client.get("/api/products?brand=levis").get_json()["items"] == []


def test_analytics_default_to_the_last_30_days_with_the_days_business(
        client, ann, admin_headers) -> None:
    with freeze_time("2026-03-10T12:00:00Z"):
        hold(client, ann, product(3, price=1000), 2)
        client.post("/api/checkout", json={}, headers=ann)
        hold(client, ann, product(1, sku="P-2", price=700))
        cancelled = client.post("/api/checkout", json={}, headers=ann).get_json()["order"][
            "order_number"]
        client.post(f"/api/orders/{cancelled}/cancel", headers=ann)
        client.post("/api/events", json={"event_type": "page_view"})
    with freeze_time("2026-03-11T03:00:00Z"):
        analytics.rollup()  # yesterday
    with freeze_time("2026-04-01T12:00:00Z"):
        r = client.get("/api/admin/analytics/daily", headers=admin_headers)
        assert r.status_code == 200
        body = r.get_json()
        assert [(i["day"], i["event_type"], i["count"]) for i in body["items"]] == [
            ("2026-03-10", "page_view", 1)]
        assert body["totals"] == [{"day": "2026-03-10", "orders": 1, "revenue_cents": 2000,
                                   "units_sold": 2, "offers_accepted": 0}]
    with freeze_time("2026-04-15T12:00:00Z"):  # 36 days later: outside the default range
        body = client.get("/api/admin/analytics/daily", headers=admin_headers).get_json()
        assert body["items"] == [] and body["totals"] == []
        r = client.get("/api/admin/analytics/daily?from=2026-03-01", headers=admin_headers)
        assert [t["day"] for t in r.get_json()["totals"]] == ["2026-03-10"]


def test_the_rollup_counts_offers_accepted(client, admin_headers) -> None:
    seller = sign_up(client, "seller@example.com")
    item = {"title": "Blazer", "category": "jackets", "condition": "good"}
    with freeze_time("2026-05-02T09:00:00Z"):
        batch = client.post("/api/sell", json={"items": [item]}, headers=seller).get_json()[
            "submission"]["batch_id"]
        client.post(f"/api/admin/submissions/{batch}/review", json={"status": "reviewing"},
                    headers=admin_headers)
        client.post(f"/api/admin/submissions/{batch}/offer",
                    json={"offered_price_cents": 1500}, headers=admin_headers)
        client.post(f"/api/offers/{batch}/respond", json={"response": "accept"},
                    headers=seller)
    with freeze_time("2026-05-03T01:00:00Z"):
        analytics.rollup()
        assert analytics.totals(clock.now().date() - timedelta(days=1),
                                clock.now().date()) == [
            {"day": "2026-05-02", "orders": 0, "revenue_cents": 0, "units_sold": 0,
             "offers_accepted": 1}]
