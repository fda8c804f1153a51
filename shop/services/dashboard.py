"""Read-only queries for the owner's dashboard (issue 15): the Today page's counts and
short lists, an order's saved billing address, and the order search by customer email or
order number.

Why a module of its own: these are reads no API endpoint makes (the API lists orders by
status and submissions by status; Today asks "what needs the owner's hands now" across
tables), and ``shop.pages`` may not touch the models. Every statement here is a range
read of one index (migration 012 added the three Today needed), proven by
tests/pages/test_today.py at 10^5 orders and products: no full scan, no temporary sort.
Each list is bounded (``TODAY_ROWS``); each count reads index entries only, and at most
``COUNT_CAP`` + 1 of them, so Today costs the same in a shop of any size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import peewee

from shop import clock
from shop.models import Address, Order, Product, SellSubmission, User
from shop.services.pagination import DEFAULT_LIMIT, Page, decode_cursor, page_of

# How many rows each of Today's lists shows (the rest is behind its "see all" link).
TODAY_ROWS = 10
# Low stock: an active product with this many units or fewer left to sell.
LOW_STOCK = 1
# Ageing stock: the ages (in days since the product was created) that start each band.
AGEING_DAYS = (30, 60, 90)
# Today counts exactly up to this, and says "1000+" above it: a count reads one index
# entry per row, so an exact one would cost time in proportion to the shop's size, and
# past a thousand the number tells the owner nothing more.
COUNT_CAP = 1000


@dataclass(frozen=True)
class Section:
    """One of Today's lists: how many there are in all (at most ``COUNT_CAP``; ``more``:
    there are more than that), and the first ``TODAY_ROWS``."""

    count: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    more: bool = False


@dataclass(frozen=True)
class AgeingBand:
    """Active products listed for at least ``days`` days (and under ``until``, if any)."""

    days: int
    until: int | None
    count: int
    more: bool = False


def _count(select: peewee.ModelSelect) -> tuple[int, bool]:
    """How many rows ``select`` has, reading at most COUNT_CAP + 1 index entries:
    (the count up to COUNT_CAP, whether there are more)."""
    found = select.limit(COUNT_CAP + 1).count()
    return min(found, COUNT_CAP), found > COUNT_CAP


def _sum(*counts: tuple[int, bool]) -> tuple[int, bool]:
    total = sum(n for n, _ in counts)
    return min(total, COUNT_CAP), total > COUNT_CAP or any(more for _, more in counts)


# --- orders ---------------------------------------------------------------------------------

def _order_rows(select: peewee.ModelSelect) -> list[dict[str, Any]]:
    """Orders as the lists show them (times as stored text, as the API shows them), with
    the customer's email: the account's, or the guest's (one statement: the join is by
    primary key)."""
    rows = []
    for o in select.select_extend(User.email.alias("user_email"), User.name.alias("user_name")
                                  ).join(User, peewee.JOIN.LEFT_OUTER,
                                         on=(Order.user == User.id)).objects():
        rows.append({
            "id": o.id, "order_number": o.order_number, "status": o.status,
            "payment_status": o.payment_status, "shipping_method": o.shipping_method,
            "total_cents": o.total_cents, "created_at": clock.to_text(o.created_at),
            "customer": {"id": o.user_id, "email": o.user_email or o.guest_email,
                         "name": o.user_name},
        })
    return rows


def _oldest(select: peewee.ModelSelect, created: peewee.Field, key: peewee.Field,
            limit: int = TODAY_ROWS) -> peewee.ModelSelect:
    return select.order_by(created, key).limit(limit)


_PENDING_COLLECT = (Order.status == "pending") & (Order.shipping_method == "collect")


def orders_to_pack(limit: int = TODAY_ROWS) -> Section:
    """Orders to pack and send or hand over, oldest first: every ``paid`` order (paid,
    not yet shipped, by post or for collection), and every ``pending`` collect order (put
    aside for a buyer who pays on collection). Two index range reads, merged."""
    paid = _order_rows(_oldest(Order.select().where(Order.status == "paid"),
                               Order.created_at, Order.id, limit))
    collect = _order_rows(_oldest(Order.select().where(_PENDING_COLLECT),
                                  Order.created_at, Order.id, limit))
    rows = sorted(paid + collect, key=lambda r: (r["created_at"], r["id"]))[:limit]
    count, more = _sum(_count(Order.select().where(Order.status == "paid")),
                       _count(Order.select().where(_PENDING_COLLECT)))
    return Section(count, rows, more)


def orders_unpaid(limit: int = TODAY_ROWS) -> Section:
    """Orders still waiting for their money, oldest first: status ``pending`` (an order
    is ``unpaid`` exactly while it is pending; paying moves it on)."""
    select = Order.select().where(Order.status == "pending")
    count, more = _count(select)
    return Section(count, _order_rows(_oldest(select, Order.created_at, Order.id, limit)),
                   more)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def search_orders(query: str, status: str | None = None, *, limit: int = DEFAULT_LIMIT,
                  cursor: str | None = None) -> Page[dict[str, Any]]:
    """Orders found by what the owner typed, newest first, keyset-paginated: with an
    ``@`` it is a customer's email (trimmed, lowercase, exact), matching the orders of the
    account with that email and the guest orders placed with it (not yet claimed by an
    account); otherwise an order number (exact, any case). ``status`` narrows either.

    The account's orders are a range read of (user_id, created_at) and the guest's of the
    partial index on guest_email; each is read from the cursor on (limit + 1 rows), and
    the two are merged in (created_at, id) order, so a page has no duplicates or gaps."""
    text = query.strip()
    if "@" in text:
        email = text.lower()
        tag = f"orders:search:{status or 'all'}:{_digest(email)}"
        user_id = User.select(User.id).where(User.email == email).scalar()
        selects = [Order.select().where(Order.user.is_null() & (Order.guest_email == email))]
        if user_id is not None:
            selects.append(Order.select().where(Order.user == user_id))
    else:
        number = text.upper()
        tag = f"orders:number:{status or 'all'}:{_digest(number)}"
        selects = [Order.select().where(Order.order_number == number)]
    if cursor:
        when, last = decode_cursor(cursor, tag, (str, int))
        after = peewee.Tuple(Order.created_at, Order.id) < peewee.Tuple(when, last)
        selects = [s.where(after) for s in selects]
    if status is not None:
        selects = [s.where(Order.status == status) for s in selects]
    rows: list[dict[str, Any]] = []
    for select in selects:
        rows += _order_rows(select.order_by(Order.created_at.desc(), Order.id.desc())
                            .limit(limit + 1))
    rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    return page_of(rows, limit, lambda r: [r["created_at"], r["id"]], tag)


def billing_address(user_id: int | None) -> dict[str, Any] | None:
    """The customer's saved default billing address (orders keep only the delivery
    address), for the order page; None for a guest or when none is saved."""
    if user_id is None:
        return None
    saved = (Address.select().where((Address.user == user_id) & (Address.kind == "billing")
                                    & (Address.is_default == True))  # noqa: E712
             .first())
    if saved is None:
        return None
    return {"name": saved.name, "line1": saved.line1, "line2": saved.line2,
            "city": saved.city, "county": saved.county, "eircode": saved.eircode,
            "country": saved.country}


# --- submissions ------------------------------------------------------------------------------

def _submission_rows(select: peewee.ModelSelect) -> list[dict[str, Any]]:
    rows = []
    for s in select.select_extend(User.email.alias("seller_email")).join(
            User, on=(SellSubmission.seller == User.id)).objects():
        rows.append({
            "batch_id": s.batch_id, "status": s.status, "offer_status": s.offer_status,
            "seller_email": s.seller_email, "seller_price_cents": s.seller_price_cents,
            "offered_price_cents": s.offered_price_cents,
            "final_price_cents": s.final_price_cents,
            "created_at": clock.to_text(s.created_at),
        })
    return rows


def _submissions(where: peewee.Expression | peewee.SQL, limit: int) -> Section:
    select = SellSubmission.select().where(where)
    count, more = _count(select)
    return Section(count, _submission_rows(
        _oldest(select, SellSubmission.created_at, SellSubmission.id, limit)), more)


def submissions_to_review(limit: int = TODAY_ROWS) -> Section:
    """New submissions nobody has looked at yet (status ``pending``), oldest first."""
    return _submissions(SellSubmission.status == "pending", limit)


def counter_offers(limit: int = TODAY_ROWS) -> Section:
    """Submissions whose seller answered the shop's offer with a counter-offer
    (``offer_status`` ``countered``): the shop's move, oldest first."""
    return _submissions(SellSubmission.offer_status == "countered", limit)


def payouts_owed(limit: int = TODAY_ROWS) -> Section:
    """Accepted submissions whose seller is still to be paid (``payout_status`` ``owed``),
    oldest first."""
    return _submissions(peewee.SQL("payout_status = 'owed'"), limit)


# --- stock ----------------------------------------------------------------------------------

def _product_rows(products: Iterable[Product], now: datetime) -> list[dict[str, Any]]:
    return [{"id": p.id, "sku": p.sku, "title": p.title, "price_cents": p.price_cents,
             "stock_quantity": p.stock_quantity, "created_at": clock.to_text(p.created_at),
             "age_days": (now - p.created_at).days} for p in products]


_LISTED = (Product.id, Product.sku, Product.title, Product.price_cents,
           Product.stock_quantity, Product.created_at)


def low_stock(limit: int = TODAY_ROWS, threshold: int = LOW_STOCK,
              now: datetime | None = None) -> Section:
    """Active products with ``threshold`` units or fewer left to sell, fewest first (a
    product whose last unit sells becomes ``sold_out`` and leaves this list; one at 0 is
    still active only while someone holds a unit in a cart)."""
    now = now or clock.now()
    select = Product.select(*_LISTED).where((Product.status == "active")
                                            & (Product.stock_quantity <= threshold))
    rows = select.order_by(Product.stock_quantity, Product.id).limit(limit)
    count, more = _count(select)
    return Section(count, _product_rows(rows, now), more)


def ageing_stock(limit: int = TODAY_ROWS, now: datetime | None = None,
                 bands: tuple[int, ...] = AGEING_DAYS) -> tuple[list[AgeingBand], Section]:
    """Stock that is not selling. A product is *ageing* when it is on sale (status
    ``active``: it has units left, since a product whose last unit sells becomes
    ``sold_out``) and was created at least ``bands[0]`` days ago: listed that long, it has
    not sold out. Its age is whole days since ``created_at`` (``updated_at`` is not used:
    any edit, a price change or a hold's stock move, touches it). The bands are disjoint:
    30-59, 60-89 and 90+ days by default (a product created exactly 30 days ago is in the
    first). Returns the bands' counts (each up to COUNT_CAP) and the oldest products,
    oldest first."""
    now = now or clock.now()
    cutoffs = [now - timedelta(days=d) for d in bands]
    counted = []
    for i, days in enumerate(bands):
        where = (Product.status == "active") & (Product.created_at <= cutoffs[i])
        if i + 1 < len(bands):
            where &= Product.created_at > cutoffs[i + 1]
        counted.append(AgeingBand(days, bands[i + 1] if i + 1 < len(bands) else None,
                                  *_count(Product.select().where(where))))
    oldest = (Product.select(*_LISTED)
              .where((Product.status == "active") & (Product.created_at <= cutoffs[0]))
              .order_by(Product.created_at, Product.id).limit(limit))
    count, more = _sum(*((b.count, b.more) for b in counted))
    return counted, Section(count, _product_rows(oldest, now), more)


def today(now: datetime | None = None) -> dict[str, Any]:
    """Everything the Today page shows (a dozen short statements, one index each)."""
    now = now or clock.now()
    bands, ageing = ageing_stock(now=now)
    return {
        "to_pack": orders_to_pack(), "unpaid": orders_unpaid(),
        "to_review": submissions_to_review(), "countered": counter_offers(),
        "payouts": payouts_owed(), "low_stock": low_stock(now=now),
        "ageing": ageing, "ageing_bands": bands,
        "low_stock_threshold": LOW_STOCK, "rows": TODAY_ROWS,
    }
