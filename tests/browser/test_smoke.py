"""The browser infrastructure itself: chromium, through Playwright, reads a page that a real
gunicorn served. The dashboard's tests build on the same fixtures."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import LiveShop, phone_width, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_chromium_shows_healthz_from_the_live_shop(page, live_shop: LiveShop) -> None:
    response = page.goto(live_shop.url("/healthz"))
    assert response is not None and response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    # What a person sees: chromium renders the JSON body as text in the page.
    shown = page.locator("pre").first.inner_text()
    assert json.loads(shown) == {"status": "ok", "database": "ok"}

    path = screenshot(page, "smoke-healthz")
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    phone_width(page)
    assert page.evaluate("window.innerWidth") == 375
    narrow = screenshot(page, "smoke-healthz-phone")
    assert narrow.is_file() and narrow.stat().st_size > 0
