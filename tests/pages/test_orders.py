"""The owner's orders pages (issue 15; API.md "Checkout and orders", "Pages"): the list with
its status filter, search and keyset pages, and one order's page whose forms call the
same services as POST /api/admin/orders/<n>/status and .../returns.

Orders are placed through the API as a shopper or a guest would place them; what each
page and form must answer is written out here, and every form's test reads the database
file to see what changed (or that nothing did)."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, sign_up
from tests.pages.conftest import Pages
from tests.shopping import hold, product, rows

pytestmark = pytest.mark.usefixtures("clean_ledger")

ADDRESS = {"name": "Ann Byrne", "line1": "1 Main St", "city": "Cork", "eircode": "T12 AB34"}
ORDER_LINK = re.compile(r'href="/admin/orders/(ES-[0-9A-Z]{4}-[0-9A-Z]{4})"')


def place(client: FlaskClient, headers: dict[str, str], product_id: int, quantity: int = 1,
          **body) -> str:
    """A signed-in shopper checks out what they hold; the order's number."""
    assert hold(client, headers, product_id, quantity).status_code == 201
    r = client.post("/api/checkout", json={"shipping_method": "collect", **body},
                    headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["order"]["order_number"]


def place_as_guest(client: FlaskClient, product_id: int, email: str) -> str:
    r = hold(client, {}, product_id)
    assert r.status_code == 201
    r = client.post("/api/checkout", json={"email": email, "shipping_method": "collect"},
                    headers={"X-Cart-Session": r.get_json()["cart_session"]})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["order"]["order_number"]


def api_admin(client: FlaskClient) -> dict[str, str]:
    """The owner's bearer token, to set orders up through the API."""
    r = client.post("/api/auth/login", json={"email": "owner@example.com",
                                             "password": PASSWORD})
    assert r.status_code == 200
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def move(client: FlaskClient, number: str, *statuses: str) -> None:
    headers = api_admin(client)
    for status in statuses:
        r = client.post(f"/api/admin/orders/{number}/status", json={"status": status},
                        headers=headers)
        assert r.status_code == 200, r.get_json()


def listed(html: str) -> list[str]:
    """The order numbers a list shows, in order (the detail links of its table)."""
    return ORDER_LINK.findall(html)


def order_row(db_path, number: str) -> tuple:
    return rows(db_path, "SELECT status, payment_status FROM orders WHERE order_number = ?",
                number)[0]


def audit_rows(db_path, number: str) -> list[tuple]:
    return rows(db_path, "SELECT action, actor_id, before_state, after_state FROM audit_logs "
                         "WHERE entity_type = 'order' AND entity_id = ? ORDER BY id", number)


def owner_id(db_path) -> int:
    return rows(db_path, "SELECT id FROM users WHERE email = 'owner@example.com'")[0][0]


# -- who may see the pages ----------------------------------------------------------------------

def test_the_pages_are_for_admins_only(client, owner: Pages, shopper: Pages, app) -> None:
    ann = sign_up(client, "ann@example.com")
    number = place(client, ann, product(1))
    guest = Pages(app.test_client())
    for path in ("/admin/orders", f"/admin/orders/{number}"):
        assert owner.get(path).status_code == 200
        r = shopper.get(path)
        assert r.status_code == 403
        assert "for the shop&#39;s admins" in r.get_data(as_text=True)
        r = guest.get(path)
        assert r.status_code == 303
        assert r.headers["Location"] == f"/admin/login?next={path}"


def test_the_nav_has_orders_and_marks_it_on_an_orders_page(client, owner: Pages) -> None:
    number = place(client, sign_up(client, "ann@example.com"), product(1))
    for path in ("/admin/orders", f"/admin/orders/{number}"):
        html = owner.text(path)
        assert '<a href="/admin/orders" aria-current="page">Orders</a>' in html
    assert '<a href="/admin/orders">Orders</a>' in owner.text("/admin")


def test_an_unknown_order_is_a_404_page(owner: Pages) -> None:
    r = owner.get("/admin/orders/ES-0000-0000")
    assert r.status_code == 404
    assert "no such order" in r.get_data(as_text=True)


# -- the list ---------------------------------------------------------------------------------

def test_the_list_shows_each_orders_facts_newest_first(client, owner: Pages) -> None:
    ann = sign_up(client, "ann@example.com")
    first = place(client, ann, product(1, sku="A", price=1250))
    second = place_as_guest(client, product(1, sku="B", price=4000), "Guest@Example.com")
    html = owner.text("/admin/orders")
    assert listed(html) == [second, first]
    assert "<th scope=\"col\">Customer</th>" in html
    assert "ann@example.com" in html
    assert "guest@example.com <span class=\"badge\">guest</span>" in html
    assert '<td class="num" data-label="Total">€12.50</td>' in html
    assert '<td class="num" data-label="Total">€40.00</td>' in html
    assert '<td data-label="Status"><span class="badge">pending</span></td>' in html
    assert '<td data-label="Payment">unpaid</td>' in html
    assert '<label for="f-status">Status</label>' in html
    assert '<label for="f-q">Order number or customer email</label>' in html


def test_the_status_filter_shows_only_that_status(client, owner: Pages) -> None:
    ann = sign_up(client, "ann@example.com")
    pending, paid, cancelled = (place(client, ann, product(1, sku=s)) for s in "ABC")
    move(client, paid, "paid")
    move(client, cancelled, "cancelled")
    assert listed(owner.text("/admin/orders?status=paid")) == [paid]
    assert listed(owner.text("/admin/orders?status=cancelled")) == [cancelled]
    assert listed(owner.text("/admin/orders?status=pending")) == [pending]
    assert listed(owner.text("/admin/orders?status=shipped")) == []
    html = owner.text("/admin/orders?status=paid")
    assert '<option value="paid" selected>Paid</option>' in html
    r = owner.get("/admin/orders?status=lost")
    assert r.status_code == 400
    assert "choose a status from the list" in r.get_data(as_text=True)


def test_search_by_email_finds_a_guests_and_a_users_orders(client, owner: Pages) -> None:
    ann = sign_up(client, "ann@example.com")
    bob = sign_up(client, "bob@example.com")
    anns = place(client, ann, product(1, sku="A"))
    place(client, bob, product(1, sku="B"))
    guests = place_as_guest(client, product(1, sku="C"), "walk.in@example.com")
    place_as_guest(client, product(1, sku="D"), "someone.else@example.com")
    # Exact, trimmed and lowercased: as the shop keeps emails.
    assert listed(owner.text("/admin/orders?q=++Ann%40Example.COM+")) == [anns]
    assert listed(owner.text("/admin/orders?q=walk.in%40example.com")) == [guests]
    assert listed(owner.text("/admin/orders?q=ann%40example")) == []  # not a prefix search
    html = owner.text("/admin/orders?q=nobody%40example.com")
    assert "No order matches that search." in html
    assert 'value="nobody@example.com"' in html  # the search stays in its box
    # With a status: the search within it.
    assert listed(owner.text("/admin/orders?q=ann%40example.com&status=paid")) == []
    move(client, anns, "paid")
    assert listed(owner.text("/admin/orders?q=ann%40example.com&status=paid")) == [anns]


def test_a_guest_order_placed_with_an_accounts_email_is_found_with_the_accounts(
        client, owner: Pages) -> None:
    ann = sign_up(client, "ann@example.com")
    as_ann = place(client, ann, product(1, sku="A"))
    as_guest = place_as_guest(client, product(1, sku="B"), "ann@example.com")
    assert listed(owner.text("/admin/orders?q=ann%40example.com")) == [as_guest, as_ann]


def test_search_by_order_number_is_exact_in_any_case(client, owner: Pages) -> None:
    ann = sign_up(client, "ann@example.com")
    wanted = place(client, ann, product(1, sku="A"))
    place(client, ann, product(1, sku="B"))
    assert listed(owner.text(f"/admin/orders?q={wanted.lower()}")) == [wanted]
    assert listed(owner.text(f"/admin/orders?q={wanted[:-1]}")) == []


def _pages_of(owner: Pages, path: str) -> list[list[str]]:
    """Follow the "Older →" links from ``path`` to the end; each page's order numbers."""
    seen = []
    while path:
        html = owner.text(path)
        seen.append(listed(html))
        match = re.search(r'<a rel="next" href="([^"]+)">Older →</a>', html)
        path = match.group(1).replace("&amp;", "&") if match else None
    return seen


def test_older_pages_follow_on_with_no_duplicates_or_gaps(client, owner: Pages) -> None:
    ann = sign_up(client, "ann@example.com")
    pid = product(30)
    placed = [place(client, ann, pid) for _ in range(23)]
    newest_first = placed[::-1]
    for path in ("/admin/orders", "/admin/orders?q=ann%40example.com",
                 "/admin/orders?status=pending"):
        pages = _pages_of(owner, path)
        assert [len(p) for p in pages] == [20, 3], path
        assert [n for p in pages for n in p] == newest_first, path
    # The cursor keeps the filter and the search.
    html = owner.text("/admin/orders?q=ann%40example.com&status=pending")
    older = re.search(r'<a rel="next" href="([^"]+)"', html).group(1)
    assert "status=pending" in older and "q=ann@example.com" in older
    # A cursor from another list is refused in the shop's words, next to the filter.
    cursor = re.search(r"cursor=([^&\"]+)", older).group(1)
    r = owner.get(f"/admin/orders?status=paid&cursor={cursor}")
    assert r.status_code == 400
    assert "the cursor is not valid for this list" in r.get_data(as_text=True)


# -- one order --------------------------------------------------------------------------------

def test_an_orders_page_shows_items_customer_address_payment_and_history(
        client, owner: Pages, db_path) -> None:
    ann = sign_up(client, "ann@example.com")
    client.put("/api/me/addresses/billing", json={**ADDRESS, "line1": "9 Bill Rd"},
               headers=ann)
    number = place(client, ann, product(3, sku="A", price=2500), 2,
                   shipping_method="deliver", delivery_address=ADDRESS)
    move(client, number, "paid")
    html = owner.text(f"/admin/orders/{number}")
    assert f"<h1>Order {number}</h1>" in html
    assert '<td data-label="Item">Coat A</td>' in html
    assert '<td class="num" data-label="Qty">2</td>' in html
    assert '<td class="num" data-label="Price">€25.00</td>' in html
    assert '<td class="num" data-label="Line total">€50.00</td>' in html
    assert '<td class="num" data-label="Returned">0</td>' in html
    assert 'href="mailto:ann@example.com"' in html
    assert "1 Main St" in html and "Cork" in html and "T12 AB34" in html
    assert "9 Bill Rd" in html  # the customer's saved billing address
    assert "· deliver" in html
    assert "Status: paid" in html
    assert '<td data-label="Kind">charge</td>' in html
    assert '<td data-label="Method">in person / transfer</td>' in html
    assert '<td data-label="Status">succeeded</td>' in html
    assert "order.status: payment status unpaid → paid; status pending → paid" in html
    assert f"account #{owner_id(db_path)}" in html


def test_only_the_allowed_moves_are_offered(client, owner: Pages) -> None:
    ann = sign_up(client, "ann@example.com")
    number = place(client, ann, product(1))

    def buttons() -> list[str]:
        return re.findall(r'name="status" value="(\w+)"', owner.text(f"/admin/orders/{number}"))

    assert buttons() == ["paid", "cancelled"]
    move(client, number, "paid")
    assert buttons() == ["shipped", "cancelled"]
    move(client, number, "shipped")
    assert buttons() == ["delivered"]
    move(client, number, "delivered")
    assert buttons() == []
    assert "An order that is delivered has no next step." in owner.text(
        f"/admin/orders/{number}")


def test_shipping_an_order_changes_it_and_writes_an_audit_row(client, owner: Pages,
                                                              db_path) -> None:
    number = place(client, sign_up(client, "ann@example.com"), product(1))
    r = owner.post(f"/admin/orders/{number}/status", {"status": "paid"})
    assert r.status_code == 303 and r.headers["Location"] == f"/admin/orders/{number}"
    r = owner.post(f"/admin/orders/{number}/status", {"status": "shipped"})
    assert r.status_code == 303 and r.headers["Location"] == f"/admin/orders/{number}"
    assert order_row(db_path, number) == ("shipped", "paid")
    me = owner_id(db_path)
    assert audit_rows(db_path, number) == [
        ("order.status", me, '{"payment_status":"unpaid","status":"pending"}',
         '{"payment_status":"paid","status":"paid"}'),
        ("order.status", me, '{"payment_status":"paid","status":"paid"}',
         '{"payment_status":"paid","status":"shipped"}'),
    ]
    # Marked paid by hand: a manual charge, as through the API.
    assert rows(db_path, "SELECT kind, provider, status FROM payments") == [
        ("charge", "manual", "succeeded")]
    html = owner.text(f"/admin/orders/{number}")
    assert f'<p class="flash done">Order {number} is now shipped.</p>' in html
    assert '<span class="badge">shipped</span>' in html


def test_an_illegal_move_shows_the_services_words_and_changes_nothing(client, owner: Pages,
                                                                     db_path) -> None:
    number = place(client, sign_up(client, "ann@example.com"), product(1))
    move(client, number, "paid", "shipped", "delivered")
    before = audit_rows(db_path, number)
    r = owner.post(f"/admin/orders/{number}/status", {"status": "paid"})
    assert r.status_code == 409
    html = r.get_data(as_text=True)
    assert '<p class="error form-error" role="alert">an order that is delivered cannot ' \
           'become paid</p>' in html
    assert html.index("an order that is delivered") < html.index('id="items-h"')  # by its form
    assert order_row(db_path, number) == ("delivered", "paid")
    assert audit_rows(db_path, number) == before


def test_a_cancelled_order_puts_its_stock_back(client, owner: Pages, db_path) -> None:
    pid = product(2)
    number = place(client, sign_up(client, "ann@example.com"), pid, 2)
    r = owner.post(f"/admin/orders/{number}/status", {"status": "cancelled"})
    assert r.status_code == 303
    assert order_row(db_path, number) == ("cancelled", "unpaid")
    assert rows(db_path, "SELECT status, stock_quantity FROM products WHERE id = ?", pid) == [
        ("active", 2)]


def test_the_status_form_without_its_token_changes_nothing(client, owner: Pages, shopper: Pages,
                                                           app, db_path) -> None:
    number = place(client, sign_up(client, "ann@example.com"), product(1))
    for token in ("", "forged"):
        r = owner.post(f"/admin/orders/{number}/status", {"status": "paid"}, csrf=token)
        assert r.status_code == 400
        assert "nothing was changed" in r.get_data(as_text=True)
    assert shopper.post(f"/admin/orders/{number}/status", {"status": "paid"}).status_code == 403
    guest = Pages(app.test_client())
    r = guest.post(f"/admin/orders/{number}/status", {"status": "paid"}, csrf="")
    assert r.status_code == 303 and r.headers["Location"].startswith("/admin/login")
    assert order_row(db_path, number) == ("pending", "unpaid")
    assert audit_rows(db_path, number) == []
    assert rows(db_path, "SELECT count(*) FROM payments") == [(0,)]


# -- returns ----------------------------------------------------------------------------------

def moves(db_path, pid: int) -> list[tuple]:
    return rows(db_path, "SELECT reason, qty_change, order_id IS NOT NULL FROM stock_moves "
                         "WHERE product_id = ? ORDER BY id", pid)


def test_a_return_puts_stock_back_through_the_ledger(client, owner: Pages, db_path) -> None:
    coat, hat = product(3, sku="COAT"), product(1, sku="HAT")
    ann = sign_up(client, "ann@example.com")
    hold(client, ann, hat)
    number = place(client, ann, coat, 3)
    move(client, number, "paid")
    before = moves(db_path, coat)
    r = owner.post(f"/admin/orders/{number}/returns", {f"qty-{coat}": "2", f"qty-{hat}": "0"})
    assert r.status_code == 303 and r.headers["Location"] == f"/admin/orders/{number}"
    assert moves(db_path, coat) == [*before, ("return", 2, 1)]
    assert rows(db_path, "SELECT status, stock_quantity FROM products WHERE id = ?", coat) == [
        ("active", 2)]
    assert moves(db_path, hat)[-1][0] == "sale"  # a line left at 0 comes back as it was
    assert [a[0] for a in audit_rows(db_path, number)] == ["order.status", "order.return"]
    html = owner.text(f"/admin/orders/{number}")
    assert f"2 units of order {number} are back in stock." in html
    assert '<td class="num" data-label="Returned">2</td>' in html
    # One coat is left to return; the hat's line never had its number changed.
    assert f'id="f-qty-{coat}" name="qty-{coat}" type="number" min="0" max="1"' in html
    assert f"order.return: 2 \u00d7 product #{coat} returned" in html


def test_returning_more_than_was_bought_keeps_the_typed_numbers(client, owner: Pages,
                                                               db_path) -> None:
    coat = product(2, sku="COAT")
    number = place(client, sign_up(client, "ann@example.com"), coat, 2)
    move(client, number, "paid")
    before = moves(db_path, coat)
    r = owner.post(f"/admin/orders/{number}/returns", {f"qty-{coat}": "5"})
    assert r.status_code == 409
    html = r.get_data(as_text=True)
    assert '<p class="error form-error" role="alert">that is more than was bought</p>' in html
    assert f'id="f-qty-{coat}-note">that is more than was bought</p>' in html
    assert 'value="5"' in html
    assert moves(db_path, coat) == before
    assert [a[0] for a in audit_rows(db_path, number)] == ["order.status"]


@pytest.mark.parametrize(("typed", "status", "words"), [
    ({}, 400, "type how many units come back on at least one line"),
    ({"qty": "0"}, 400, "type how many units come back on at least one line"),
    ({"qty": "two"}, 400, "The number of units must be a whole number"),
    ({"qty": "-1"}, 400, "The number of units must be 0 or more"),
])
def test_a_return_form_that_says_nothing_usable_is_refused(client, owner: Pages, db_path,
                                                           typed, status, words) -> None:
    coat = product(1, sku="COAT")
    number = place(client, sign_up(client, "ann@example.com"), coat)
    move(client, number, "paid")
    before = moves(db_path, coat)
    form = {f"qty-{coat}": v for v in typed.values()}
    r = owner.post(f"/admin/orders/{number}/returns", form)
    assert r.status_code == status
    html = r.get_data(as_text=True)
    assert words in html
    for value in typed.values():
        assert f'value="{value}"' in html
    assert moves(db_path, coat) == before


def test_a_pending_order_takes_no_returns(client, owner: Pages, db_path) -> None:
    coat = product(1, sku="COAT")
    number = place(client, sign_up(client, "ann@example.com"), coat)
    html = owner.text(f"/admin/orders/{number}")
    assert "Take back into stock" not in html
    r = owner.post(f"/admin/orders/{number}/returns", {f"qty-{coat}": "1"})
    assert r.status_code == 409
    assert "an order that is pending takes no returns" in r.get_data(as_text=True)
    assert moves(db_path, coat)[-1][0] == "sale"


def test_the_return_form_without_its_token_changes_nothing(client, owner: Pages,
                                                           shopper: Pages, app,
                                                           db_path) -> None:
    coat = product(1, sku="COAT")
    number = place(client, sign_up(client, "ann@example.com"), coat)
    move(client, number, "paid")
    before = moves(db_path, coat)
    for token in ("", "forged"):
        r = owner.post(f"/admin/orders/{number}/returns", {f"qty-{coat}": "1"}, csrf=token)
        assert r.status_code == 400
    assert shopper.post(f"/admin/orders/{number}/returns",
                        {f"qty-{coat}": "1"}).status_code == 403
    r = Pages(app.test_client()).post(f"/admin/orders/{number}/returns",
                                      {f"qty-{coat}": "1"}, csrf="")
    assert r.status_code == 303 and r.headers["Location"].startswith("/admin/login")
    assert moves(db_path, coat) == before
    assert [a[0] for a in audit_rows(db_path, number)] == ["order.status"]
