"""Cart holds, checkout and orders over HTTP (API.md "Cart", "Checkout and orders"),
against a real database file. Every test ends with the ledger invariants checked."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from freezegun import freeze_time

from shop import clock
from shop.services import catalogue, stock
from tests import engine
from tests.conftest import sign_up

ADDRESS = {"name": "Ann Byrne", "line1": "1 Main St", "city": "Cork", "eircode": "T12 AB34"}

pytestmark = pytest.mark.usefixtures("clean_ledger")


def product(stock_quantity: int = 3, price: int = 2500, sku: str = "P-1") -> int:
    made = catalogue.create_product({"sku": sku, "title": f"Coat {sku}", "category": "coats",
                                     "condition": "good", "price_cents": price,
                                     "status": "active"})
    if stock_quantity:
        stock.adjust(made["id"], stock_quantity, "restock")
    return made["id"]


def available(product_id: int) -> int:
    return catalogue.get_product(product_id, include_unpublished=True)["stock_quantity"]


def ledger(db_path, product_id: int) -> list[tuple[str, int]]:
    conn = engine.connect(db_path)
    try:
        return conn.execute("SELECT reason, qty_change FROM stock_moves WHERE product_id = ? "
                            "ORDER BY id", (product_id,)).fetchall()
    finally:
        conn.close()


def hold(client, headers, product_id, quantity=1):
    return client.post("/api/cart/items", json={"product_id": product_id, "quantity": quantity},
                       headers=headers)


# -- holds ----------------------------------------------------------------------------------

def test_a_hold_is_a_ledger_move_and_holding_again_moves_only_the_difference(
        client, ann, db_path) -> None:
    pid = product(5)
    with freeze_time(clock.now()) as frozen:
        r = hold(client, ann, pid, 2)
        assert r.status_code == 201
        first_expiry = r.get_json()["reservation"]["expires_at"]
        assert available(pid) == 3
        frozen.tick(timedelta(minutes=5))
        r = hold(client, ann, pid, 4)
        assert r.get_json()["reservation"]["quantity"] == 4
        assert r.get_json()["reservation"]["expires_at"] > first_expiry  # renewed
        hold(client, ann, pid, 1)
    assert available(pid) == 4
    assert ledger(db_path, pid) == [("restock", 5), ("reserved", -2), ("reserved", -2),
                                    ("reservation_released", 3)]


def test_a_hold_the_stock_cannot_cover_is_409_and_the_old_hold_stays(client, ann) -> None:
    pid = product(3)
    hold(client, ann, pid, 2)
    r = hold(client, ann, pid, 4)
    assert r.status_code == 409
    assert r.get_json()["error"]["code"] == "insufficient_stock"
    assert r.get_json()["error"]["details"]["available"] == 1
    assert [i["quantity"] for i in client.get("/api/cart", headers=ann).get_json()["items"]] \
        == [2]
    assert available(pid) == 1


def test_a_guest_gets_a_cart_session_and_holds_under_it(client) -> None:
    pid = product(2)
    r = hold(client, {}, pid)
    session = r.get_json()["cart_session"]
    assert len(session) >= 22 and r.headers["X-Cart-Session"] == session
    again = hold(client, {"X-Cart-Session": session}, pid, 2)
    assert again.get_json().get("cart_session") is None
    cart = client.get("/api/cart", headers={"X-Cart-Session": session}).get_json()
    assert [(i["product"]["id"], i["quantity"]) for i in cart["items"]] == [(pid, 2)]
    assert client.get("/api/cart").get_json() == {"items": [], "subtotal_cents": 0}
    bad = hold(client, {"X-Cart-Session": "short"}, pid)
    assert bad.status_code == 400
    assert "X-Cart-Session" in bad.get_json()["error"]["details"]["fields"]


def test_releasing_gives_the_stock_back(client, ann) -> None:
    pid = product(2)
    hold(client, ann, pid, 2)
    assert client.delete(f"/api/cart/items/{pid}", headers=ann).status_code == 204
    assert available(pid) == 2
    assert client.delete(f"/api/cart/items/{pid}", headers=ann).status_code == 204
    assert client.get("/api/cart", headers=ann).get_json()["items"] == []


def test_expired_holds_are_released_lazily_and_not_listed(client, ann, db_path) -> None:
    pid, other = product(2), product(2, sku="P-2", price=1000)
    with freeze_time(clock.now()) as frozen:
        hold(client, ann, pid, 2)
        frozen.tick(timedelta(minutes=10))
        hold(client, ann, other, 1)
        frozen.tick(timedelta(minutes=6))  # the first hold (15 min) has run out
        cart = client.get("/api/cart", headers=ann).get_json()
        assert [i["product"]["id"] for i in cart["items"]] == [other]
        assert cart["subtotal_cents"] == 1000 and cart["items"][0]["line_total_cents"] == 1000
        assert available(pid) == 2
    assert ledger(db_path, pid)[-1] == ("reservation_expired", 2)


def test_a_hold_on_a_product_not_for_sale_is_a_404(client, ann) -> None:
    draft = catalogue.create_product({"sku": "D-1", "title": "Draft", "category": "coats",
                                      "condition": "good", "price_cents": 100})
    assert hold(client, ann, draft["id"]).status_code == 404
    assert hold(client, ann, 999_999).status_code == 404


# -- checkout ---------------------------------------------------------------------------------

def test_checkout_turns_the_holds_into_an_order(client, ann, db_path) -> None:
    a, b = product(3, price=2500), product(1, sku="P-2", price=1000)
    hold(client, ann, a, 2)
    hold(client, ann, b, 1)
    r = client.post("/api/checkout", json={}, headers=ann)
    assert r.status_code == 201, r.get_json()
    order = r.get_json()["order"]
    assert order["order_number"].startswith("ES-") and len(order["order_number"]) == 12
    assert (order["status"], order["payment_status"], order["shipping_method"]) == \
        ("pending", "unpaid", "collect")
    assert [(i["product_id"], i["quantity"], i["unit_price_cents"], i["line_total_cents"])
            for i in order["items"]] == [(a, 2, 2500, 5000), (b, 1, 1000, 1000)]
    assert (order["subtotal_cents"], order["shipping_cents"], order["total_cents"]) == \
        (6000, 0, 6000)
    assert client.get("/api/cart", headers=ann).get_json()["items"] == []
    assert ledger(db_path, a)[-2:] == [("reservation_converted", 2), ("sale", -2)]
    assert available(a) == 1 and available(b) == 0
    # The price is a snapshot: a later price change does not touch the order.
    catalogue.update_product(a, {"price_cents": 9999})
    mine = client.get(f"/api/orders/{order['order_number']}", headers=ann).get_json()
    assert mine["order"]["items"][0]["unit_price_cents"] == 2500


def test_delivery_is_priced_by_the_shop_and_needs_an_address(client, ann) -> None:
    pid = product(2)
    hold(client, ann, pid)
    no_address = client.post("/api/checkout", json={"shipping_method": "deliver"}, headers=ann)
    assert no_address.status_code == 400
    assert "delivery_address" in no_address.get_json()["error"]["details"]["fields"]
    cheap = client.post("/api/checkout", json={"shipping_method": "deliver",
                                               "delivery_address": ADDRESS,
                                               "shipping_cents": 0}, headers=ann)
    assert cheap.status_code == 400
    assert "shipping_cents" in cheap.get_json()["error"]["details"]["fields"]
    r = client.post("/api/checkout", json={"shipping_method": "deliver",
                                           "delivery_address": ADDRESS}, headers=ann)
    order = r.get_json()["order"]
    assert (order["shipping_cents"], order["total_cents"]) == (495, 2995)
    assert order["delivery_address"]["eircode"] == "T12 AB34"
    assert order["delivery_address"]["country"] == "IE"


def test_an_empty_cart_cannot_check_out_and_guests_must_sign_in(client, ann) -> None:
    r = client.post("/api/checkout", json={}, headers=ann)
    assert r.status_code == 400 and "cart" in r.get_json()["error"]["details"]["fields"]
    assert client.post("/api/checkout", json={}).status_code == 401


@pytest.mark.parametrize("read_the_cart_first", [False, True])
def test_checkout_never_sells_an_expired_hold(client, ann, db_path,
                                              read_the_cart_first) -> None:
    """API.md: the order holds every *live* hold. An expired hold that no sweep has
    released yet is released at checkout, exactly as reading the cart releases it: the
    same answer whether or not the cart was read first (issue 14, defect 3)."""
    pid = product(1)
    with freeze_time(clock.now()) as frozen:
        hold(client, ann, pid)
        frozen.tick(timedelta(minutes=20))
        if read_the_cart_first:
            assert client.get("/api/cart", headers=ann).get_json()["items"] == []
        r = client.post("/api/checkout", json={}, headers=ann)
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "invalid"
    assert r.get_json()["error"]["details"]["fields"] == {"cart": "no live holds"}
    assert ledger(db_path, pid) == [("restock", 1), ("reserved", -1),
                                    ("reservation_expired", 1)]
    assert available(pid) == 1


def test_checkout_takes_the_live_holds_and_releases_the_expired_ones(client, ann,
                                                                     db_path) -> None:
    early, late = product(1), product(1, sku="P-2", price=1000)
    with freeze_time(clock.now()) as frozen:
        hold(client, ann, early)
        frozen.tick(timedelta(minutes=10))
        hold(client, ann, late)
        frozen.tick(timedelta(minutes=10))  # early: 20 min old (expired); late: 10 min
        r = client.post("/api/checkout", json={}, headers=ann)
    assert r.status_code == 201
    order = r.get_json()["order"]
    assert [(i["product_id"], i["quantity"]) for i in order["items"]] == [(late, 1)]
    assert order["subtotal_cents"] == 1000
    assert ledger(db_path, early)[-1] == ("reservation_expired", 1)
    assert available(early) == 1


def test_an_admin_write_off_releases_expired_holds_first(client, ann, db_path) -> None:
    """Stock changes of any kind release the product's expired holds first: the owner can
    write off a unit an abandoned cart still sat on. The lapsed hold is then no longer in
    the cart, which checks out empty."""
    pid = product(1)
    with freeze_time(clock.now()) as frozen:
        hold(client, ann, pid)
        frozen.tick(timedelta(minutes=16))
        stock.adjust(pid, -1, "adjustment", note="damaged")
        r = client.post("/api/checkout", json={}, headers=ann)
    assert r.status_code == 400 and "cart" in r.get_json()["error"]["details"]["fields"]
    assert ledger(db_path, pid)[-2:] == [("reservation_expired", 1), ("adjustment", -1)]


def test_a_hold_takes_the_last_unit_from_an_expired_hold_and_its_sale_sells_out(
        client, ann, db_path) -> None:
    """One transaction ends Bob's lapsed hold (+1) and takes the unit for Ann (-1): the
    balance each move is checked against must follow the earlier move (on PostgreSQL it
    is remembered from the row lock, not read again). Ann's checkout sells the last unit:
    the product is sold out; with a unit left it stays active."""
    last, more = product(1), product(2, sku="P-2")
    bob = sign_up(client, "bob@example.com")
    with freeze_time(clock.now()) as frozen:
        assert hold(client, bob, last).status_code == 201
        frozen.tick(timedelta(minutes=16))  # Bob's 15 minutes have run out
        r = hold(client, ann, last)
        assert r.status_code == 201, r.get_json()
        assert hold(client, ann, more).status_code == 201
        r = client.post("/api/checkout", json={}, headers=ann)
    assert r.status_code == 201, r.get_json()
    assert ledger(db_path, last) == [("restock", 1), ("reserved", -1),
                                     ("reservation_expired", 1), ("reserved", -1),
                                     ("reservation_converted", 1), ("sale", -1)]
    got = {p: catalogue.get_product(p, include_unpublished=True) for p in (last, more)}
    assert (got[last]["status"], got[last]["stock_quantity"]) == ("sold_out", 0)
    assert (got[more]["status"], got[more]["stock_quantity"]) == ("active", 1)
    assert client.get("/api/cart", headers=bob).get_json()["items"] == []


def test_an_order_number_already_taken_is_drawn_again_and_the_checkout_goes_through(
        client, ann, db_path, monkeypatch) -> None:
    # PostgreSQL aborts the whole transaction on a refused statement (SQLite undoes just
    # the statement): the second draw must still be able to write the order.
    from shop.services import orders

    a, b = product(3), product(3, sku="P-2")
    taken = _order(client, ann, a)
    numbers = iter([taken, taken, "ES-0000-0002"])
    monkeypatch.setattr(orders, "new_order_number", lambda: next(numbers))
    hold(client, ann, b, 2)
    r = client.post("/api/checkout", json={}, headers=ann)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["order"]["order_number"] == "ES-0000-0002"
    assert [(i["product_id"], i["quantity"]) for i in r.get_json()["order"]["items"]] == \
        [(b, 2)]
    conn = engine.connect(db_path)
    try:
        assert conn.execute("SELECT order_number FROM orders ORDER BY id").fetchall() == \
            [(taken,), ("ES-0000-0002",)]
        assert conn.execute("SELECT count(*) FROM order_items").fetchone() == (2,)
    finally:
        conn.close()
    assert ledger(db_path, b)[-3:] == [("reserved", -2), ("reservation_converted", 2),
                                       ("sale", -2)]
    assert available(b) == 1
    assert client.get("/api/cart", headers=ann).get_json()["items"] == []


def test_a_retry_with_the_same_key_returns_the_same_order(client, ann, db_path) -> None:
    pid = product(3)
    hold(client, ann, pid)
    headers = {**ann, "Idempotency-Key": "k-1"}
    first = client.post("/api/checkout", json={}, headers=headers)
    again = client.post("/api/checkout", json={}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    other = client.post("/api/checkout", json={"shipping_method": "deliver",
                                               "delivery_address": ADDRESS}, headers=headers)
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_conflict"
    conn = engine.connect(db_path)
    assert conn.execute("SELECT count(*) FROM orders").fetchone() == (1,)
    conn.close()
    # Keys belong to their user: Bob's k-1 is a different checkout.
    bob = sign_up(client, "bob@example.com")
    hold(client, bob, pid)
    assert client.post("/api/checkout", json={}, headers={**bob, "Idempotency-Key": "k-1"}
                       ).status_code == 201
    bad = client.post("/api/checkout", json={}, headers={**ann, "Idempotency-Key": "é"})
    assert bad.status_code == 400


# -- orders -------------------------------------------------------------------------------------

def _order(client, headers, pid, quantity=1) -> str:
    hold(client, headers, pid, quantity)
    r = client.post("/api/checkout", json={}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["order"]["order_number"]


def test_my_orders_are_mine_newest_first_in_pages(client, ann) -> None:
    bob = sign_up(client, "bob@example.com")
    pid = product(10)
    with freeze_time(clock.now()) as frozen:
        mine = []
        for _ in range(5):
            mine.append(_order(client, ann, pid))
            frozen.tick(timedelta(seconds=1))
        bobs = _order(client, bob, pid)
    seen, cursor = [], None
    while True:
        r = client.get("/api/orders", headers=ann,
                       query_string={"limit": 2, **({"cursor": cursor} if cursor else {})})
        seen.extend(o["order_number"] for o in r.get_json()["items"])
        cursor = r.get_json()["next_cursor"]
        if not cursor:
            break
    assert seen == mine[::-1]
    assert client.get(f"/api/orders/{bobs}", headers=ann).status_code == 404
    assert client.get("/api/orders/ES-NONE-NONE", headers=ann).status_code == 404


STATUSES = ["pending", "paid", "shipped", "delivered", "cancelled"]
# API.md "Checkout and orders", written out: pending→paid→shipped→delivered, and
# pending|paid→cancelled (which returns the stock). Nothing else.
ALLOWED = {("pending", "paid"), ("paid", "shipped"), ("shipped", "delivered"),
           ("pending", "cancelled"), ("paid", "cancelled")}


def _to(client, admin, number: str, status: str):
    return client.post(f"/api/admin/orders/{number}/status", json={"status": status},
                       headers=admin)


@pytest.mark.parametrize(("start", "target"), list(itertools.product(STATUSES, STATUSES)))
def test_status_changes_follow_the_one_transition_table(client, ann, admin_headers, start,
                                                        target) -> None:
    pid = product(2)
    number = _order(client, ann, pid)
    path = {"pending": [], "paid": ["paid"], "shipped": ["paid", "shipped"],
            "delivered": ["paid", "shipped", "delivered"], "cancelled": ["cancelled"]}
    for step in path[start]:
        assert _to(client, admin_headers, number, step).status_code == 200
    before = client.get(f"/api/orders/{number}", headers=ann).get_json()["order"]
    stock_before = available(pid)
    r = _to(client, admin_headers, number, target)
    if (start, target) in ALLOWED:
        assert r.status_code == 200
        assert r.get_json()["order"]["status"] == target
        assert available(pid) == stock_before + (1 if target == "cancelled" else 0)
    else:
        assert r.status_code == 409, (start, target)
        assert r.get_json()["error"]["code"] == "conflict"
        assert client.get(f"/api/orders/{number}", headers=ann).get_json()["order"] == before
        assert available(pid) == stock_before


def test_returns_never_exceed_what_was_bought_and_cancel_returns_the_rest(
        client, ann, admin_headers) -> None:
    pid = product(5)
    number = _order(client, ann, pid, 3)
    url = f"/api/admin/orders/{number}/returns"
    assert client.post(url, json={"items": [{"product_id": pid, "quantity": 1}]},
                       headers=admin_headers).status_code == 409  # pending: not yet
    _to(client, admin_headers, number, "paid")
    r = client.post(url, json={"items": [{"product_id": pid, "quantity": 2}]},
                    headers=admin_headers)
    assert r.status_code == 200
    assert r.get_json()["order"]["items"][0]["returned_quantity"] == 2
    assert available(pid) == 4
    over = client.post(url, json={"items": [{"product_id": pid, "quantity": 1},
                                            {"product_id": pid, "quantity": 1}]},
                       headers=admin_headers)
    assert over.status_code == 409 and available(pid) == 4
    stranger = client.post(url, json={"items": [{"product_id": 999, "quantity": 1}]},
                           headers=admin_headers)
    assert stranger.status_code == 400
    _to(client, admin_headers, number, "cancelled")  # the last unit comes back, once
    assert available(pid) == 5
    assert client.post(url, json={"items": [{"product_id": pid, "quantity": 1}]},
                       headers=admin_headers).status_code == 409


def test_the_admin_lists_every_order_by_status(client, ann, admin_headers,
                                               customer_headers) -> None:
    pid = product(5)
    paid = _order(client, ann, pid)
    pending = _order(client, customer_headers, pid)
    _to(client, admin_headers, paid, "paid")
    listed = client.get("/api/admin/orders", headers=admin_headers).get_json()["items"]
    assert {o["order_number"] for o in listed} == {paid, pending}
    only = client.get("/api/admin/orders?status=paid", headers=admin_headers).get_json()
    assert [o["order_number"] for o in only["items"]] == [paid]
    assert client.get("/api/admin/orders", headers=ann).status_code == 403


# -- a guest's cart comes along when they sign in -------------------------------------------

def test_signing_in_brings_the_guest_cart_along(client) -> None:
    sign_up(client, "ann@example.com")
    both, only_guest, withdrawn, lapsed = (product(4), product(2, sku="P-2"),
                                           product(1, sku="P-3"), product(2, sku="P-4"))
    login = {"email": "ann@example.com", "password": "correct horse battery"}
    ann = {"Authorization": "Bearer " + client.post("/api/auth/login", json=login
                                                    ).get_json()["token"]}
    with freeze_time(clock.now()) as frozen:
        guest = {"X-Cart-Session": hold(client, {}, lapsed, 2).get_json()["cart_session"]}
        frozen.tick(timedelta(minutes=16))  # the guest's hold on P-4 has run out, unswept
        hold(client, guest, both, 2)
        hold(client, guest, only_guest, 1)
        hold(client, guest, withdrawn, 1)
        hold(client, ann, both, 1)
        catalogue.update_product(withdrawn, {"status": "archived"})  # no longer for sale
        r = client.post("/api/auth/login", json=login, headers=guest)
        assert r.status_code == 200
        # Both of P-1 together, P-2 moved. P-3's hold ended when it was archived, and
        # P-4's lapsed hold is released, as everywhere else: neither is in a cart now.
        assert r.get_json()["cart"] == {"merged_quantity": 3, "short": []}
        cart = client.get("/api/cart", headers=ann).get_json()
        assert sorted((i["product"]["id"], i["quantity"]) for i in cart["items"]) == \
            [(both, 3), (only_guest, 1)]
        assert client.get("/api/cart", headers=guest).get_json()["items"] == []
        assert (available(both), available(only_guest), available(withdrawn),
                available(lapsed)) == (1, 1, 1, 2)
        # Signing in again with the same (now empty) session changes nothing.
        again = client.post("/api/auth/login", json=login, headers=guest)
        assert again.get_json()["cart"] == {"merged_quantity": 0, "short": []}


def test_a_merge_short_of_stock_holds_what_it_can(db, client) -> None:
    """An expired guest hold whose units went while the guest was away (another buyer's
    hold released it lazily and took them) is simply gone from the guest cart: the merge
    brings what is left and never oversells."""
    sign_up(client, "ann@example.com")
    pid = product(2)
    login = {"email": "ann@example.com", "password": "correct horse battery"}
    with freeze_time(clock.now()) as frozen:
        guest = {"X-Cart-Session": hold(client, {}, pid, 2).get_json()["cart_session"]}
        frozen.tick(timedelta(minutes=16))
        bob = sign_up(client, "bob@example.com")
        assert hold(client, bob, pid, 1).status_code == 201
        r = client.post("/api/auth/login", json=login, headers=guest)
    assert r.get_json()["cart"]["merged_quantity"] == 0
    assert available(pid) == 1


def test_a_merge_keeps_the_per_hold_cap(client) -> None:
    """Issue 14, defect 5: one hold never exceeds MAX_QUANTITY (API: quantity 1 to 100),
    merged or not; what is over the cap goes back to stock and is reported."""
    sign_up(client, "ann@example.com")
    pid = product(200)
    login = {"email": "ann@example.com", "password": "correct horse battery"}
    ann = {"Authorization": "Bearer " + client.post("/api/auth/login", json=login
                                                    ).get_json()["token"]}
    guest = {"X-Cart-Session": hold(client, {}, pid, 60).get_json()["cart_session"]}
    assert hold(client, ann, pid, 60).status_code == 201
    r = client.post("/api/auth/login", json=login, headers=guest)
    assert r.get_json()["cart"] == {"merged_quantity": 40,
                                    "short": [{"product_id": pid, "wanted": 60, "held": 40}]}
    cart = client.get("/api/cart", headers=ann).get_json()
    assert [(i["product"]["id"], i["quantity"]) for i in cart["items"]] == [(pid, 100)]
    assert available(pid) == 100


def test_a_merge_releases_the_users_own_expired_hold(client, db_path) -> None:
    """Issue 14, defect 5: an expired hold of the user is released (reservation_expired),
    never renewed by the merge."""
    sign_up(client, "ann@example.com")
    mine, theirs = product(1), product(1, sku="P-2")
    login = {"email": "ann@example.com", "password": "correct horse battery"}
    ann = {"Authorization": "Bearer " + client.post("/api/auth/login", json=login
                                                    ).get_json()["token"]}
    with freeze_time(clock.now()) as frozen:
        hold(client, ann, mine)
        frozen.tick(timedelta(minutes=16))
        guest = {"X-Cart-Session": hold(client, {}, theirs).get_json()["cart_session"]}
        r = client.post("/api/auth/login", json=login, headers=guest)
        assert r.get_json()["cart"] == {"merged_quantity": 1, "short": []}
        cart = client.get("/api/cart", headers=ann).get_json()
    assert [i["product"]["id"] for i in cart["items"]] == [theirs]
    assert ledger(db_path, mine) == [("restock", 1), ("reserved", -1),
                                     ("reservation_expired", 1)]
    assert available(mine) == 1


def test_signing_in_is_one_unit_of_work(client, db_path, monkeypatch) -> None:
    """Issue 14, defect 8: when the cart merge fails (busy, say), no session is left
    behind: the sign-in and the merge commit together or not at all."""
    from shop.errors import Busy
    from shop.services import holds

    sign_up(client, "ann@example.com")
    guest = {"X-Cart-Session": hold(client, {}, product(1)).get_json()["cart_session"]}
    sessions = _count(db_path, "sessions")

    def busy(*_args, **_kwargs):
        raise Busy("the shop is busy; try again in a moment", retry_after=1)

    monkeypatch.setattr(holds, "merge_guest_cart", busy)
    r = client.post("/api/auth/login", headers=guest,
                    json={"email": "ann@example.com", "password": "correct horse battery"})
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert _count(db_path, "sessions") == sessions


def _count(db_path, table: str) -> int:
    conn = engine.connect(db_path)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()
