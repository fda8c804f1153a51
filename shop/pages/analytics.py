"""The Analytics page: the daily rollup for a range of days, as charts drawn on the server
(inline SVG) with a table of the same numbers under each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, request

from shop.errors import ShopError
from shop.pages import charts
from shop.pages.web import admin, field_errors, nav, page
from shop.services import analytics

nav("admin.analytics", "Analytics")
NOT_ROLLED_UP = "—"


def _count(value: float) -> str:
    return f"{value:g}"


def _euros(cents: float) -> str:
    return f"€{cents / 100:,.2f}"


def _percent(value: float) -> str:
    return f"{value:g}%"


def _cell(value: float | None, say: Callable[[float], str]) -> str:
    return NOT_ROLLED_UP if value is None else say(value)


def _day_chart(ident: str, heading: str, title: str, points: list[tuple[str, float | None]],
               say: Callable[[float], str] = _count) -> dict[str, Any]:
    return {"id": ident, "heading": heading, "svg": charts.bars(ident, title, points, say=say),
            "caption": title, "headers": ["Day", heading],
            "rows": [[day, _cell(value, say)] for day, value in points]}


def _sections(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each chart of the page and its table, from the report (drawing and formatting only:
    the numbers are the service's)."""
    days = report["days"]

    def series(key: str) -> list[tuple[str, float | None]]:
        return [(d["day"], d[key]) for d in days]

    events = [(d["day"], sum(d["events"].values()) if d["events"] is not None else None)
              for d in days]
    sections = [
        _day_chart("chart-orders", "Orders", "Orders per day", series("orders")),
        _day_chart("chart-revenue", "Revenue", "Revenue per day", series("revenue_cents"),
                   _euros),
        _day_chart("chart-units", "Units sold", "Units sold per day", series("units_sold")),
        _day_chart("chart-sell-through", "Sell-through",
                   "Sell-through per day (units sold per 100 product views)",
                   series("sell_through"), _percent),
        _day_chart("chart-events", "Events", "Events per day", events),
    ]
    by_type = sections[-1]
    by_type["headers"] = ["Day", "All events", *report["event_types"]]
    by_type["rows"] = [[d["day"], _cell(total, _count),
                        *(_cell(d["events"][t] if d["events"] else None, _count)
                          for t in report["event_types"])]
                       for d, (_day, total) in zip(days, events, strict=True)]
    top = [(p["title"] or f"Product #{p['product_id']} (deleted)", p) for p in
           report["top_products"]]
    sections.append({
        "id": "chart-top", "heading": "Top products", "caption": "Most viewed products",
        "svg": charts.ranking("chart-top", "Most viewed products",
                              [(name, p["views"]) for name, p in top]),
        "headers": ["Product", "Views", "Added to cart"],
        "rows": [[name, _count(p["views"]), _count(p["cart_adds"])] for name, p in top]})
    return sections


@admin.route("/analytics", endpoint="analytics")
def analytics_page() -> Response:
    values = {"from": request.args.get("from", ""), "to": request.args.get("to", "")}
    try:
        report = analytics.report(analytics.day_of(values["from"], "from"),
                                  analytics.day_of(values["to"], "to"))
    except ShopError as exc:
        return page("admin/analytics.html", exc.status, values=values, error=exc.message,
                    errors=field_errors(exc), report=None)
    if not values["from"] and not values["to"]:  # show the defaults the report used
        values = {"from": report["from"], "to": report["to"]}
    return page("admin/analytics.html", values=values, report=report, errors={},
                sections=_sections(report), max_days=analytics.MAX_DAYS)
