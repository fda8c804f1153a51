"""The submissions journey in a real chromium against a real gunicorn (issue 15): the owner
finds the demo's submission in the queue, starts the review and sends an offer; the seller
signs in from their page's address, types a wrong counter (kept, with the shop's words
next to it), then accepts, and the items are stock. Screenshots of the queue, the batch's
page and the seller's page, at 1280 px and 375 px wide."""

from __future__ import annotations

import re

import pytest

from tests import engine
from tests.browser.conftest import LiveShop, phone_width, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _one(db_path, sql: str, *params) -> tuple:
    conn = engine.connect(db_path)
    try:
        return conn.execute(sql, params).fetchone()
    finally:
        conn.close()


def test_the_owner_offers_and_the_seller_accepts(page, live_shop: LiveShop) -> None:
    from playwright.sync_api import expect

    batch, = _one(live_shop.db_path, "SELECT batch_id FROM sell_submissions")
    sign_in(page, live_shop.base_url, live_shop.admin_email, live_shop.admin_password)

    page.get_by_role("link", name="Submissions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Submissions")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=batch))
    expect(row).to_contain_text("customer@example.com")
    expect(row).to_contain_text("€40.00")
    screenshot(page, "submissions-queue")
    phone_width(page)
    screenshot(page, "submissions-queue-phone")
    page.set_viewport_size({"width": 1280, "height": 720})

    page.get_by_role("link", name=batch).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Submission {batch}")
    page.get_by_role("button", name="Start the review").click()
    expect(page.get_by_role("status")).to_contain_text(f"{batch} is reviewing now.")
    page.get_by_label("Offer for the whole batch (€)").fill("30,5")
    page.get_by_label("Message to the seller").fill("Thank you, both are lovely.")
    page.get_by_role("button", name="Send the offer").click()
    expect(page.get_by_role("status")).to_contain_text("The offer is sent")
    expect(page.get_by_text("€30.50, open until")).to_be_visible()
    screenshot(page, "submission-detail")
    phone_width(page)
    screenshot(page, "submission-detail-phone")
    page.get_by_role("button", name="Sign out").click()

    # The seller: their page's address sends them to sign in, then back.
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(live_shop.url(f"/sell/{batch}"))
    page.get_by_label("Email").fill(live_shop.customer_email)
    page.get_by_label("Password").fill(live_shop.customer_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(live_shop.url(f"/sell/{batch}")) + "$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Your submission {batch}")
    expect(page.get_by_text("Thank you, both are lovely.")).to_be_visible()

    price = page.get_by_label("Your price for the whole batch (€)")
    price.fill("thirty-five")
    page.get_by_role("button", name="Send my price").click()
    expect(page.get_by_role("alert")).to_have_text("Your price must be an amount such as 12.50")
    expect(price).to_have_value("thirty-five")
    screenshot(page, "sell-page")
    phone_width(page)
    screenshot(page, "sell-page-phone")

    # The accept button is reachable from the keyboard, and pressing Enter sends it.
    accept = page.get_by_role("button", name="Accept the offer")
    accept.focus()
    expect(accept).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("You accepted the offer.")
    expect(page.get_by_text("Agreed: the shop buys your items for €30.50.")).to_be_visible()
    screenshot(page, "sell-page-accepted-phone")

    assert _one(live_shop.db_path, "SELECT offer_status, final_price_cents, payout_status "
                                   "FROM sell_submissions WHERE batch_id = ?", batch) == \
        ("accepted", 3050, "owed")
    assert _one(live_shop.db_path, "SELECT count(*) FROM products p JOIN stock_moves m "
                                   "ON m.product_id = p.id AND m.reason = 'purchase' "
                                   "WHERE p.sku LIKE ? AND p.status = 'draft'",
                f"{batch}-%") == (2,)
