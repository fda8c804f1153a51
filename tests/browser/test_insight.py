"""The owner's look at how the shop is doing, in a real browser: cron jobs ran (a backup
and the rollup, recorded by the shop itself), then Analytics (a wrong range said beside
the form, then the charts), the Audit log filtered to one product, and Operations with the
backup just made. Each page is photographed at 1280 px and at 375 px."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.browser.conftest import LiveShop, phone_width, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOP = str(Path(sys.executable).with_name("shop"))


def _api(live_shop: LiveShop, method: str, path: str, body: dict,
         token: str | None = None) -> dict:
    request = urllib.request.Request(
        live_shop.url(path), data=json.dumps(body).encode(), method=method,
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def _cron(live_shop: LiveShop, *argv: str) -> None:
    done = subprocess.run([SHOP, "--database", str(live_shop.db_path), *argv],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_owner_checks_analytics_the_audit_log_and_operations(page, live_shop: LiveShop,
                                                                  tmp_path: Path) -> None:
    from playwright.sync_api import expect

    # The owner reprices a product through the API (an audited change), and cron runs.
    token = _api(live_shop, "POST", "/api/auth/login",
                 {"email": live_shop.admin_email, "password": live_shop.admin_password})["token"]
    _api(live_shop, "PATCH", "/api/admin/products/1", {"price_cents": 4321}, token)
    backup = tmp_path / "backups" / "shop-Mon.db"
    _cron(live_shop, "backup", str(backup))
    _cron(live_shop, "analytics", "rollup")
    # A sale today, rolled up, so today's bar is drawn.
    buyer = _api(live_shop, "POST", "/api/auth/login",
                 {"email": live_shop.customer_email,
                  "password": live_shop.customer_password})["token"]
    on_sale = next(p for p in _api(live_shop, "GET", "/api/products?limit=20", None)["items"]
                   if p["stock_quantity"] > 0)
    _api(live_shop, "POST", "/api/cart/items", {"product_id": on_sale["id"], "quantity": 1},
         buyer)
    _api(live_shop, "POST", "/api/checkout", {"shipping_method": "collect"}, buyer)
    today = datetime.now(UTC).date()
    _cron(live_shop, "analytics", "rollup", "--day", today.isoformat())

    sign_in(page, live_shop.base_url, live_shop.admin_email, live_shop.admin_password)

    # Analytics: a range the wrong way round is refused beside the form, as typed.
    page.get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Analytics")
    page.get_by_label("From (day)").fill("2026-03-12")
    page.get_by_label("To (day)").fill("2026-03-10")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("alert")).to_have_text(
        "from must be on or before to, at most 366 days apart")
    expect(page.get_by_label("From (day)")).to_have_value("2026-03-12")
    page.get_by_label("To (day)").fill("2026-03-14")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("img", name="Orders per day")).to_be_visible()
    expect(page.get_by_role("img", name="Most viewed products")).to_be_visible()
    assert page.locator("svg.chart#chart-orders rect.bar").count() == 0  # not rolled up
    page.get_by_text("Orders per day: the numbers").click()  # the table behind the chart
    expect(page.get_by_role("cell", name="—").first).to_be_visible()
    # Today's sale, as a bar and in the table beside it.
    page.get_by_label("From (day)").fill((today - timedelta(days=6)).isoformat())
    page.get_by_label("To (day)").fill(today.isoformat())
    page.get_by_role("button", name="Show").click()
    # Two days rolled up in the week: yesterday (no orders) and today (one).
    expect(page.locator("svg.chart#chart-orders rect.bar")).to_have_count(2)
    page.get_by_text("Orders per day: the numbers").click()
    orders = page.locator("details").filter(has_text="Orders per day: the numbers")
    today_row = orders.get_by_role("row").filter(has_text=today.isoformat())
    expect(today_row.get_by_role("cell")).to_have_text(["1"])  # its one count cell: one order
    screenshot(page, "insight-analytics")
    phone_width(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "insight-analytics-phone")
    page.set_viewport_size({"width": 1280, "height": 720})

    # Audit: the repricing, found by its product, with what changed.
    page.get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    page.get_by_label("What kind").select_option("product")
    page.get_by_label("Its id (product number, order or batch id)").fill("1")
    page.get_by_role("button", name="Filter").click()
    row = page.get_by_role("row").filter(has_text="product.update")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(live_shop.admin_email)
    expect(row).to_contain_text(re.compile(r"price_cents: \d+ → 4321"))
    screenshot(page, "insight-audit")
    phone_width(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "insight-audit-phone")
    page.set_viewport_size({"width": 1280, "height": 720})

    # Operations: the backup just made and checked, and the rollup's run.
    page.get_by_role("link", name="Operations").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Operations")
    last_backup = page.locator("section", has=page.get_by_role("heading", name="Last backup"))
    expect(last_backup).to_contain_text(f"backed up to {backup}")
    expect(last_backup).to_contain_text("The copy passed its check")
    rollup = page.get_by_role("row").filter(has_text="Roll up yesterday's analytics")
    expect(rollup).to_contain_text("ok")
    expect(page.get_by_role("row").filter(has_text="Expire unanswered offers")).to_contain_text(
        "Never run")
    screenshot(page, "insight-operations")
    phone_width(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "insight-operations-phone")

    # The keyboard reaches the page first: the skip link, then the navigation.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the page")).to_be_focused()
