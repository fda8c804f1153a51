"""The Analytics page (issue 15): the nightly rollup for a range of days, as inline SVG
charts drawn on the server, each with a table of the same numbers; a wrong range is the
service's error next to the form, with what was typed kept."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time

from shop.services import analytics
from tests.conftest import sign_up
from tests.pages.conftest import Pages
from tests.shopping import hold, product

PAGE = "/admin/analytics"


def _event(client: FlaskClient, event_type: str, product_id: int | None = None) -> None:
    body = {"event_type": event_type}
    if product_id is not None:
        body["product_id"] = product_id
    assert client.post("/api/events", json=body).status_code == 202


@pytest.fixture
def three_days(client: FlaskClient, owner: Pages) -> dict[str, int]:
    """2026-03-10: one order of two coats at €10 (4 views and a cart add of it);
    2026-03-11: no order, one page view; 2026-03-12: one order of a €7 coat (2 views).
    Each day rolled up the night after."""
    ann = sign_up(client, "ann@example.com")
    with freeze_time("2026-03-10T12:00:00Z"):
        coat = product(3, sku="A-1", price=1000)
        for _ in range(4):
            _event(client, "product_view", coat)
        _event(client, "add_to_cart", coat)
        hold(client, ann, coat, 2)
        assert client.post("/api/checkout", json={}, headers=ann).status_code == 201
    with freeze_time("2026-03-11T12:00:00Z"):
        _event(client, "page_view")
    with freeze_time("2026-03-12T12:00:00Z"):
        jacket = product(1, sku="B-1", price=700)
        _event(client, "product_view", jacket)
        _event(client, "product_view", jacket)
        hold(client, ann, jacket, 1)
        assert client.post("/api/checkout", json={}, headers=ann).status_code == 201
    with freeze_time("2026-03-13T03:00:00Z"):
        for day in ("2026-03-10", "2026-03-11", "2026-03-12"):
            analytics.rollup(analytics.day_of(day, "day"))
    return {"coat": coat, "jacket": jacket}


def _section(html: str, ident: str) -> str:
    match = re.search(rf'<section class="card" aria-labelledby="{ident}-heading">(.*?)'
                      r"</section>", html, re.S)
    assert match, ident
    return match.group(1)


def _svg(html: str, ident: str) -> str:
    match = re.search(rf'<svg class="chart" id="{ident}".*?</svg>', html, re.S)
    assert match, ident
    return match.group(0)


def _table(section: str) -> list[list[str]]:
    body = re.search(r"<tbody>(.*?)</tbody>", section, re.S).group(1)
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def _bars(svg: str) -> list[str]:
    """Each bar's own title (its label and value), in order."""
    return re.findall(r'<rect class="bar[^"]*"[^>]*><title>(.*?)</title></rect>', svg)


def test_a_guest_signs_in_first_and_a_customer_is_refused(pages: Pages,
                                                          shopper: Pages) -> None:
    r = pages.get(PAGE)
    assert r.status_code == 303
    assert r.headers["Location"] == "/admin/login?next=/admin/analytics"
    r = shopper.get(PAGE)
    assert r.status_code == 403
    assert "for the shop&#39;s admins" in r.get_data(as_text=True)


def test_the_page_shows_the_rollup_in_each_chart_and_its_table(owner: Pages,
                                                               three_days) -> None:
    html = owner.text(f"{PAGE}?from=2026-03-10&to=2026-03-12")
    assert '<a href="/admin/analytics" aria-current="page">Analytics</a>' in html
    assert 'value="2026-03-10"' in html and 'value="2026-03-12"' in html

    orders = _svg(html, "chart-orders")
    assert 'role="img"' in orders
    assert 'aria-labelledby="chart-orders-title chart-orders-desc"' in orders
    assert '<title id="chart-orders-title">Orders per day</title>' in orders
    assert ("<desc id=\"chart-orders-desc\">3 of 3 values, from 2026-03-10 to 2026-03-12; "
            "highest 1 (2026-03-10), total 2.</desc>") in orders
    assert _bars(orders) == ["2026-03-10: 1", "2026-03-11: 0", "2026-03-12: 1"]
    assert _table(_section(html, "chart-orders")) == [
        ["2026-03-10", "1"], ["2026-03-11", "0"], ["2026-03-12", "1"]]

    assert _bars(_svg(html, "chart-revenue")) == [
        "2026-03-10: €20.00", "2026-03-11: €0.00", "2026-03-12: €7.00"]
    assert _table(_section(html, "chart-revenue")) == [
        ["2026-03-10", "€20.00"], ["2026-03-11", "€0.00"], ["2026-03-12", "€7.00"]]

    assert _bars(_svg(html, "chart-units")) == [
        "2026-03-10: 2", "2026-03-11: 0", "2026-03-12: 1"]
    assert _table(_section(html, "chart-units")) == [
        ["2026-03-10", "2"], ["2026-03-11", "0"], ["2026-03-12", "1"]]

    # Units sold per 100 product views: 2 of 4, none viewed, 1 of 2.
    sell_through = _svg(html, "chart-sell-through")
    assert "Sell-through per day (units sold per 100 product views)" in sell_through
    assert _bars(sell_through) == ["2026-03-10: 50%", "2026-03-12: 50%"]
    assert _table(_section(html, "chart-sell-through")) == [
        ["2026-03-10", "50%"], ["2026-03-11", "—"], ["2026-03-12", "50%"]]

    assert _bars(_svg(html, "chart-events")) == [
        "2026-03-10: 5", "2026-03-11: 1", "2026-03-12: 2"]
    events = _table(_section(html, "chart-events"))
    assert events[0] == ["2026-03-10", "5", "0", "4", "0", "1", "0", "0", "0"]
    assert events[1] == ["2026-03-11", "1", "1", "0", "0", "0", "0", "0", "0"]
    assert events[2] == ["2026-03-12", "2", "0", "2", "0", "0", "0", "0", "0"]
    assert "<th scope=\"col\" class=\"num\">product_view</th>" in html

    top = _svg(html, "chart-top")
    assert '<title id="chart-top-title">Most viewed products</title>' in top
    assert _bars(top) == ["Coat A-1: 4", "Coat B-1: 2"]
    assert _table(_section(html, "chart-top")) == [["Coat A-1", "4", "1"],
                                                   ["Coat B-1", "2", "0"]]


def test_a_day_not_rolled_up_has_no_bar_and_a_dash(owner: Pages, three_days) -> None:
    html = owner.text(f"{PAGE}?from=2026-03-09&to=2026-03-12")
    assert _bars(_svg(html, "chart-orders")) == [
        "2026-03-10: 1", "2026-03-11: 0", "2026-03-12: 1"]
    assert "3 of 4 values, from 2026-03-09 to 2026-03-12" in _svg(html, "chart-orders")
    assert _table(_section(html, "chart-orders"))[0] == ["2026-03-09", "—"]


def test_the_range_defaults_to_the_last_30_days(app, owner: Pages, three_days) -> None:
    with freeze_time("2026-04-01T12:00:00Z"):  # signed in then: the cookie is dated
        later = Pages(app.test_client())
        assert later.sign_in("owner@example.com").status_code == 303
        html = later.text(PAGE)
    assert 'id="f-from" name="from" type="date" value="2026-03-02"' in html
    assert 'id="f-to" name="to" type="date" value="2026-04-01"' in html
    assert len(_table(_section(html, "chart-orders"))) == 31
    assert _bars(_svg(html, "chart-orders")) == [
        "2026-03-10: 1", "2026-03-11: 0", "2026-03-12: 1"]


@pytest.mark.parametrize(("query", "message", "kept"), [
    ("from=2026-03-12&to=2026-03-10",
     "from must be on or before to, at most 366 days apart", ["2026-03-12", "2026-03-10"]),
    ("from=2025-01-01&to=2026-03-12",
     "from must be on or before to, at most 366 days apart", ["2025-01-01", "2026-03-12"]),
    ("from=2026-02-30&to=2026-03-12", "from must be a day such as 2026-11-21",
     ["2026-02-30", "2026-03-12"]),
    ("from=2026-03-01&to=soon", "to must be a day such as 2026-11-21", ["2026-03-01", "soon"]),
])
def test_a_wrong_range_is_the_services_error_beside_the_form(owner: Pages, query, message,
                                                             kept) -> None:
    r = owner.get(f"{PAGE}?{query}")
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert f'<p class="error form-error" role="alert">{message}</p>' in html
    assert f'name="from" type="date" value="{kept[0]}"' in html
    assert f'name="to" type="date" value="{kept[1]}"' in html
    assert 'aria-invalid="true"' in html
    assert "<svg" not in html


def test_the_range_is_one_rule_for_the_page_and_the_api(client: FlaskClient,
                                                        owner: Pages) -> None:
    headers = sign_up(client, "second@example.com", admin=True)
    r = client.get("/api/admin/analytics/daily?from=2026-03-12&to=2026-03-10",
                   headers=headers)
    assert r.status_code == 400
    assert r.get_json()["error"]["message"] == \
        "from must be on or before to, at most 366 days apart"
    assert owner.get(f"{PAGE}?from=2025-03-10&to=2026-03-11").status_code == 200  # 366 days
    assert owner.get(f"{PAGE}?from=2025-03-10&to=2026-03-12").status_code == 400  # 367


def test_the_page_loads_nothing_from_elsewhere_and_needs_no_script(owner: Pages,
                                                                   three_days) -> None:
    html = owner.text(f"{PAGE}?from=2026-03-10&to=2026-03-12")
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
