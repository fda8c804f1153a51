"""The owner's day in a real browser (issue 15): sign in, read Today, find a customer's
order in Orders by their email, open it, mark it paid and then shipped, and read the
result on the page and in the database. Screenshots of each page at 1280 and 375 px
wide land in test-artefacts/screenshots/ (today, orders, order)."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from tests import engine
from tests.browser.conftest import LiveShop, phone_width, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DESKTOP = {"width": 1280, "height": 720}


def _api(shop: LiveShop, method: str, path: str, body: dict | None = None,
         token: str | None = None) -> dict:
    request = urllib.request.Request(shop.url(path), method=method,
                                     data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _customer_order(shop: LiveShop) -> str:
    """The demo customer buys one unit of a product on sale, to collect; its number."""
    token = _api(shop, "POST", "/api/auth/login", {"email": shop.customer_email,
                                                   "password": shop.customer_password})["token"]
    products = _api(shop, "GET", "/api/products?limit=20")["items"]
    on_sale = next(p for p in products if p["stock_quantity"] > 0)
    _api(shop, "POST", "/api/cart/items", {"product_id": on_sale["id"], "quantity": 1}, token)
    order = _api(shop, "POST", "/api/checkout", {"shipping_method": "collect"}, token)
    return order["order"]["order_number"]


def _both_widths(page, name: str) -> None:
    screenshot(page, name)
    phone_width(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, \
        f"{name} scrolls sideways at 375 px"
    screenshot(page, f"{name}-phone")
    page.set_viewport_size(DESKTOP)


def test_the_owner_finds_an_order_and_ships_it(page, live_shop: LiveShop) -> None:
    from playwright.sync_api import expect

    number = _customer_order(live_shop)
    sign_in(page, live_shop.base_url, live_shop.admin_email, live_shop.admin_password)
    unpaid = page.locator("section", has=page.locator("#unpaid"))
    expect(unpaid.get_by_role("link", name=number)).to_be_visible()
    _both_widths(page, "today")

    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Orders").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Orders")
    page.get_by_label("Order number or customer email").fill(live_shop.customer_email.upper())
    page.get_by_label("Status").select_option("pending")
    page.get_by_role("button", name="Show orders").click()
    expect(page.get_by_role("link", name=number)).to_be_visible()
    _both_widths(page, "orders")

    page.get_by_role("link", name=number).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {number}")
    page.get_by_role("button", name="Mark paid").click()
    expect(page.get_by_role("status")).to_have_text(f"Order {number} is now paid.")
    page.get_by_role("button", name="Mark shipped").click()
    expect(page.get_by_role("status")).to_have_text(f"Order {number} is now shipped.")
    expect(page.get_by_role("button", name="Mark delivered")).to_be_visible()
    # The keyboard reaches the next action with Tab, and its focus is drawn.
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Mark delivered":
            break
    else:
        pytest.fail("Tab never reached the Mark delivered button")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    _both_widths(page, "order")

    with engine.connect(live_shop.db_path) as conn:
        status = conn.execute("SELECT status, payment_status FROM orders "
                              "WHERE order_number = ?", (number,)).fetchone()
        audit = conn.execute("SELECT after_state FROM audit_logs WHERE entity_type = 'order' "
                             "AND entity_id = ? ORDER BY id", (number,)).fetchall()
    conn.close()
    assert status == ("shipped", "paid")
    assert [json.loads(a)["status"] for (a,) in audit] == ["paid", "shipped"]
    assert re.search(r"order\.status: .*status paid → shipped", page.content())
