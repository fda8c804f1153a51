"""Analytics endpoints (API.md "Analytics")."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from shop.api import schemas
from shop.api.auth import client_address, current_user
from shop.api.routing import header, route
from shop.services import analytics

bp = Blueprint("analytics", __name__, url_prefix="/api")
# An event is a few hundred bytes; anything much bigger is refused before it is parsed.
MAX_EVENT_BYTES = 8 * 1024


@route(bp, "/events", "POST", summary="Record an analytics event", status=202,
       auth="optional", body=schemas.EventIn, response=schemas.Accepted,
       errors=[404, 413, 429], headers=["X-Cart-Session"], max_body=MAX_EVENT_BYTES)
def record(body: schemas.EventIn) -> Any:
    user = current_user(required=False)
    session = header("X-Cart-Session")
    analytics.record_event(body.event_type, client=client_address(),
                           user_id=user.id if user else None, session_id=session,
                           product_id=body.product_id, path=body.path, metadata=body.metadata)
    return {"status": "accepted"}


@route(bp, "/admin/analytics/daily", "GET", summary="Daily rollup rows for a date range",
       auth="admin", query=schemas.DailyQuery, response=schemas.DailyPage)
def daily(query: schemas.DailyQuery) -> Any:
    start, end = analytics.date_range(query.from_, query.to)
    return {"items": analytics.daily(start, end, query.event_type),
            "totals": analytics.totals(start, end), "next_cursor": None}
