"""Analytics endpoints (API.md "Analytics")."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from shop.api import schemas
from shop.api.auth import client_address, current_user
from shop.api.routing import header, route
from shop.errors import Invalid
from shop.services import analytics

bp = Blueprint("analytics", __name__, url_prefix="/api")
MAX_DAYS = 366


@route(bp, "/events", "POST", summary="Record an analytics event", status=202,
       auth="optional", body=schemas.EventIn, response=schemas.Accepted, errors=[404, 429],
       headers=["X-Cart-Session"])
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
    if not 0 <= (query.to - query.from_).days <= MAX_DAYS:
        raise Invalid(f"from must be on or before to, at most {MAX_DAYS} days apart",
                      details={"fields": {"from": "range", "to": "range"}})
    return {"items": analytics.daily(query.from_, query.to, query.event_type),
            "next_cursor": None}
