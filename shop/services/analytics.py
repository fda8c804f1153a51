"""Analytics: events on the hot path, a nightly rollup, and retention for every table that
only grows.

Recording an event is one short transaction: a bounded count of the client's events in
the last minute (an index range) and one insert. The rollup reads a day's events outside
the write lock (WAL readers never block writers) and replaces that day's few rows in one
short transaction, so it is idempotent, counts a late event once when re-run, and never
holds checkouts up. Pruning deletes in small batches, each its own transaction.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

import peewee

from shop import clock
from shop.config import get_settings
from shop.db import database, serialize_on, write_transaction
from shop.errors import Invalid, NotFound, RateLimited
from shop.models import (
    AnalyticsDaily,
    AnalyticsEvent,
    AnalyticsTotals,
    IdempotencyRecord,
    JobRun,
    MailOutbox,
    PasswordReset,
    Product,
    Session,
    SystemLog,
)
from shop.models.enums import EVENT_TYPES
from shop.services import batches, jobs, mail
from shop.services.accounts import prune_throttles

TOP_PRODUCTS = 10
MAX_DAYS = 366  # the longest range a report reads (API.md: GET /api/admin/analytics/daily)
DEFAULT_DAYS = 30  # from/to default to the last 30 days
_DAY_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Rows per delete. Beside a process checking out without pause (benchmarks/operations.py,
# 10^6 events): 500 rows took 243 s, as every batch waited for a gap between checkouts;
# 2,000 took 63-72 s with the longest checkout wait 24-27 ms; 5,000 made that 48 ms.
PRUNE_BATCH = 2000


def record_event(event_type: str, *, client: str, user_id: int | None = None,
                 session_id: str | None = None, product_id: int | None = None,
                 path: str | None = None, metadata: dict[str, Any] | None = None) -> None:
    """Store one event; 429 when the client sent SHOP_EVENTS_PER_MINUTE in the last minute."""
    limit = get_settings().events_per_minute
    now = clock.now()
    with write_transaction():
        serialize_on(f"events:{client}")
        nth = (AnalyticsEvent.select(AnalyticsEvent.created_at)
               .where((AnalyticsEvent.client == client)
                      & (AnalyticsEvent.created_at > now - timedelta(minutes=1)))
               .order_by(AnalyticsEvent.created_at.desc()).offset(limit - 1).limit(1).scalar())
        if nth is not None:
            raise RateLimited("too many events; slow down", retry_after=60)
        # A body naming something that does not exist is a 404 naming the field, as a cart
        # hold of an unknown product is: the request is well formed, its target is missing.
        if product_id is not None and not database.execute_sql(
                "SELECT 1 FROM products WHERE id = ?", (product_id,)).fetchone():
            raise NotFound("no such product",
                           details={"fields": {"product_id": "names no product"}})
        AnalyticsEvent.create(event_type=event_type, user=user_id, session_id=session_id,
                              product=product_id, path=path, metadata=metadata,
                              client=client, created_at=now)


def _bounds(day: date) -> tuple[str, str]:
    start = datetime.combine(day, time(), tzinfo=clock.now().tzinfo)
    return clock.to_text(start), clock.to_text(start + timedelta(days=1))


def rollup(day: date | None = None, *,
           on_hour: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Build ``analytics_daily`` for ``day`` (default yesterday, UTC): the count per event
    type and its most frequent products. Running it again replaces the day's rows. The
    day is read hour by hour (``on_hour`` reports progress), outside the write lock."""
    day = day or (clock.now().date() - timedelta(days=1))
    start, _end = _bounds(day)
    counts: Counter[str] = Counter()
    products: dict[str, Counter[int]] = defaultdict(Counter)
    first = clock.from_text(start)
    for hour in range(24):
        rows = database.execute_sql(  # a read: it takes no write lock
            "SELECT event_type, product_id, count(*) FROM analytics_events "
            "WHERE created_at >= ? AND created_at < ? GROUP BY event_type, product_id",
            (clock.to_text(first + timedelta(hours=hour)),
             clock.to_text(first + timedelta(hours=hour + 1))))
        for event_type, product_id, n in rows:
            counts[event_type] += n
            if product_id is not None:
                products[event_type][product_id] += n
        if on_hour is not None:
            on_hour(1)
    now = clock.now()
    out = [{"day": day.isoformat(), "event_type": t, "count": counts[t],
            "top_products": [{"product_id": p, "count": n}
                             for p, n in sorted(products[t].items(),
                                                key=lambda pn: (-pn[1], pn[0]))[:TOP_PRODUCTS]]}
           for t in EVENT_TYPES if counts[t]]
    totals = _business(start, _end)
    with write_transaction():  # a few rows: the lock is held for moments
        AnalyticsDaily.delete().where(AnalyticsDaily.day == day.isoformat()).execute()
        if out:
            AnalyticsDaily.insert_many([{**row, "computed_at": now} for row in out]).execute()
        AnalyticsTotals.delete().where(AnalyticsTotals.day == day.isoformat()).execute()
        AnalyticsTotals.create(day=day.isoformat(), computed_at=now, **totals)
    return out


def _business(start: str, end: str) -> dict[str, int]:
    """The day's orders (not cancelled since), their revenue and units, and the offers
    accepted: range reads of orders (created_at) and their lines."""
    orders, revenue, units = database.execute_sql(
        "SELECT count(*), coalesce(sum(o.total_cents), 0), coalesce(sum("
        "(SELECT sum(i.quantity) FROM order_items AS i WHERE i.order_id = o.id)), 0) "
        "FROM orders AS o WHERE o.created_at >= ? AND o.created_at < ? "
        "AND o.status <> 'cancelled'", (start, end)).fetchone()
    (accepted,) = database.execute_sql(
        "SELECT count(*) FROM offer_events WHERE action = 'accept' "
        "AND created_at >= ? AND created_at < ?", (start, end)).fetchone()
    return {"orders": orders, "revenue_cents": revenue, "units_sold": units,
            "offers_accepted": accepted}


def today() -> date:
    """Today in UTC, by the shop's clock."""
    return clock.now().date()


def totals(start: date, end: date) -> list[dict[str, Any]]:
    """The rolled-up business totals from ``start`` to ``end`` inclusive, by day."""
    select = (AnalyticsTotals.select()
              .where(AnalyticsTotals.day.between(start.isoformat(), end.isoformat()))
              .order_by(AnalyticsTotals.day))
    return [{"day": r.day, "orders": r.orders, "revenue_cents": r.revenue_cents,
             "units_sold": r.units_sold, "offers_accepted": r.offers_accepted}
            for r in select]


def date_range(start: date | None, end: date | None) -> tuple[date, date]:
    """The days a report covers: ``end`` defaults to today, ``start`` to DEFAULT_DAYS
    before it; 400 when ``start`` is after ``end`` or they are over MAX_DAYS apart."""
    end = end or today()
    start = start or end - timedelta(days=DEFAULT_DAYS)
    if not 0 <= (end - start).days <= MAX_DAYS:
        raise Invalid(f"from must be on or before to, at most {MAX_DAYS} days apart",
                      details={"fields": {"from": "range", "to": "range"}})
    return start, end


def day_of(text: str | None, field: str) -> date | None:
    """A day typed as YYYY-MM-DD (None when left empty); 400 naming ``field`` otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        if not _DAY_TEXT.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{field} must be a day such as 2026-11-21",
                      details={"fields": {field: "a day such as 2026-11-21"}}) from None


def report(start: date | None = None, end: date | None = None) -> dict[str, Any]:
    """The Analytics page: every day of the range (``date_range``) with its rolled-up
    business totals and events (None for a day never rolled up: unknown, not zero), the
    sell-through (units sold per 100 product views) and the range's most viewed products.
    Two range reads of the rollup's day indexes and one lookup of the top products by
    id, whatever the size of the shop."""
    start, end = date_range(start, end)
    business = {row["day"]: row for row in totals(start, end)}
    events: dict[str, dict[str, int]] = defaultdict(dict)
    views: Counter[int] = Counter()
    carts: Counter[int] = Counter()
    for row in daily(start, end):
        events[row["day"]][row["event_type"]] = row["count"]
        tally = {"product_view": views, "add_to_cart": carts}.get(row["event_type"])
        for top in row["top_products"] if tally is not None else ():
            tally[top["product_id"]] += top["count"]
    days = []
    for n in range((end - start).days + 1):
        day = (start + timedelta(days=n)).isoformat()
        totals_of, events_of = business.get(day), events.get(day)
        viewed = (events_of or {}).get("product_view", 0)
        days.append({
            "day": day,
            "rolled_up": totals_of is not None or events_of is not None,
            "orders": totals_of["orders"] if totals_of else None,
            "revenue_cents": totals_of["revenue_cents"] if totals_of else None,
            "units_sold": totals_of["units_sold"] if totals_of else None,
            "offers_accepted": totals_of["offers_accepted"] if totals_of else None,
            "sell_through": (round(100 * totals_of["units_sold"] / viewed, 1)
                             if totals_of and viewed else None),
            "events": ({t: (events_of or {}).get(t, 0) for t in EVENT_TYPES}
                       if totals_of is not None or events_of is not None else None),
        })
    ranked = sorted(views, key=lambda p: (-views[p], p))[:TOP_PRODUCTS]
    titles = {p.id: p.title for p in
              Product.select(Product.id, Product.title).where(Product.id.in_(ranked))}
    top = [{"product_id": p, "title": titles.get(p), "views": views[p], "cart_adds": carts[p]}
           for p in ranked]
    return {"from": start.isoformat(), "to": end.isoformat(), "days": days,
            "event_types": list(EVENT_TYPES), "top_products": top}


def daily(start: date, end: date, event_type: str | None = None) -> list[dict[str, Any]]:
    """Rolled-up rows from ``start`` to ``end`` inclusive."""
    select = AnalyticsDaily.select().where(
        AnalyticsDaily.day.between(start.isoformat(), end.isoformat()))
    if event_type is not None:
        select = select.where(AnalyticsDaily.event_type == event_type)
    return [{"day": r.day, "event_type": r.event_type, "count": r.count,
             "top_products": r.top_products}
            for r in select.order_by(AnalyticsDaily.day, AnalyticsDaily.event_type)]


def _delete_in_batches(model: type[peewee.Model], condition: peewee.Expression,
                       on_batch: Callable[[int], None] | None) -> int:
    """Delete matching rows PRUNE_BATCH at a time, each batch its own short transaction."""
    def step() -> int:
        with write_transaction():
            ids = model.select(model.id).where(condition).limit(PRUNE_BATCH)
            return model.delete().where(model.id.in_(ids)).execute()

    return batches.run(step, PRUNE_BATCH, on_batch=on_batch)


def _retention(days: int) -> dict[str, tuple[type[peewee.Model], peewee.Expression]]:
    """What the retention job deletes, table by table."""
    now = clock.now()
    cutoff = now - timedelta(days=days)
    week = now - timedelta(days=7)
    return {
        "analytics_events": (AnalyticsEvent, AnalyticsEvent.created_at < cutoff),
        "system_logs": (SystemLog, SystemLog.created_at < cutoff),
        "sessions": (Session, (Session.expires_at < now) | (Session.revoked_at < week)),
        "password_resets": (PasswordReset, PasswordReset.expires_at < week),
        "idempotency_records": (IdempotencyRecord, IdempotencyRecord.created_at < week),
        "mail_outbox": (MailOutbox, mail.retention(cutoff)),
        "job_runs": (JobRun, jobs.retention(cutoff)),
    }


def prunable(days: int = 90) -> int:
    """How many rows ``prune(days)`` would delete now (the length of its progress bar)."""
    return sum(model.select().where(condition).count()
               for model, condition in _retention(days).values())


def prune(days: int = 90, *, on_batch: Callable[[int], None] | None = None) -> dict[str, int]:
    """Retention: events, system logs, sent or failed mail and cron runs (but each job's
    newest) older than ``days``;
    sessions that ended, reset codes spent or expired, idempotency records a week old,
    stale throttle records."""
    counts = {table: _delete_in_batches(model, condition, on_batch)
              for table, (model, condition) in _retention(days).items()}
    counts["throttles"] = prune_throttles()
    return counts
