"""Cart holds: stock set aside for a shopper for a while, as ledger moves.

Holding inserts a ``reserved`` move (-q), releasing a ``reservation_released`` one (+q),
expiry a ``reservation_expired`` one (+q); the ``product_reservations`` row says who holds
what until when (one row per product and holder). Correctness never waits for cron: any
operation that needs a product's stock first releases that product's expired holds in
its own transaction (``release_expired``); the cron job only sweeps what nobody touched.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import peewee

from shop import clock
from shop.config import get_settings
from shop.db import database, write_transaction
from shop.errors import Invalid, NotFound
from shop.models import Product, ProductReservation
from shop.services import catalogue
from shop.services.stock import append_move, expire_holds, release_expired

MAX_QUANTITY = 100


@dataclass(frozen=True)
class Holder:
    """Who holds: a signed-in user, or a guest's cart session (exactly one)."""

    user_id: int | None = None
    session_id: str | None = None

    def owns(self) -> peewee.Expression:
        if self.user_id is not None:
            return ProductReservation.user == self.user_id
        return ProductReservation.session_id == self.session_id

    def column(self) -> tuple[str, int | str]:
        """The holder's column in product_reservations, and its value."""
        if self.user_id is not None:
            return "user_id", self.user_id
        return "session_id", self.session_id  # type: ignore[return-value]


@dataclass
class Hold:
    """A product_reservations row as the hot paths read it (times as stored text)."""

    id: int
    product_id: int
    quantity: int
    expires_at: str


# Hold, change and release run these constant statements: Peewee took ~275 µs to build and
# read one such lookup, SQLite ~8 µs to answer it (benchmarks/checkout.py).
_HOLD_OF = ("SELECT id, product_id, quantity, expires_at FROM product_reservations "
            "WHERE product_id = ? AND {} = ?")
_NEW_HOLD = ("INSERT INTO product_reservations (product_id, {}, quantity, created_at, "
             "expires_at) VALUES (?, ?, ?, ?, ?)")
_SET_HOLD = "UPDATE product_reservations SET quantity = ?, expires_at = ? WHERE id = ?"
_DROP_HOLD = "DELETE FROM product_reservations WHERE id = ?"


def new_session_id() -> str:
    """A guest cart id: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


def _expiry(now: datetime) -> datetime:
    return now + timedelta(minutes=get_settings().hold_minutes)


def _set_hold(holder: Holder, product_id: int, quantity: int, now: datetime,
              existing: Hold | ProductReservation | None) -> Hold | None:
    """Make ``holder`` hold ``quantity`` (0: none) of the product, moving only the
    difference through the ledger, and renew the expiry (inside a transaction)."""
    held = existing.quantity if existing else 0
    expires = clock.to_text(_expiry(now))
    if existing is None and quantity:
        column, value = holder.column()
        hold_id = database.execute_sql(
            _NEW_HOLD.format(column),
            (product_id, value, quantity, clock.to_text(now), expires)).lastrowid
        existing = Hold(hold_id, product_id, quantity, expires)
    if existing is None:
        return None
    diff = quantity - held
    if diff > 0:  # the CHECK refuses it (409 insufficient_stock) if the stock is short
        append_move(product_id, -diff, "reserved", reservation_id=existing.id,
                    actor_id=holder.user_id)
    elif diff < 0:
        append_move(product_id, -diff, "reservation_released", reservation_id=existing.id,
                    actor_id=holder.user_id)
    if quantity == 0:
        database.execute_sql(_DROP_HOLD, (existing.id,))
        return None
    database.execute_sql(_SET_HOLD, (quantity, expires, existing.id))
    return Hold(existing.id, product_id, quantity, expires)


def _hold_of(holder: Holder, product_id: int) -> Hold | None:
    column, value = holder.column()
    row = database.execute_sql(_HOLD_OF.format(column), (product_id, value)).fetchone()
    return Hold(*row) if row else None


def hold(holder: Holder, product_id: int, quantity: int) -> dict[str, Any]:
    """Hold ``quantity`` of a product: a first hold, or a change of the held quantity (the
    difference moves), with a renewed expiry. 409 ``insufficient_stock`` with
    ``details.available`` when the stock cannot cover it; the old hold then stays."""
    if not 1 <= quantity <= MAX_QUANTITY:
        raise Invalid(f"quantity must be 1 to {MAX_QUANTITY}",
                      details={"fields": {"quantity": "out of range"}})
    now = clock.now()
    with write_transaction():
        status = database.execute_sql("SELECT status FROM products WHERE id = ?",
                                      (product_id,)).fetchone()
        if status is None or status[0] != "active":
            raise NotFound("no such product for sale")
        release_expired([product_id], now)
        held = _set_hold(holder, product_id, quantity, now, _hold_of(holder, product_id))
        assert held is not None
        return {"product_id": product_id, "quantity": held.quantity,
                "expires_at": held.expires_at}


def release(holder: Holder, product_id: int) -> None:
    """Give a hold's stock back (nothing to do if there is no hold)."""
    now = clock.now()
    with write_transaction():
        release_expired([product_id], now)
        _set_hold(holder, product_id, 0, now, _hold_of(holder, product_id))


def view(holder: Holder) -> dict[str, Any]:
    """The live holds with their products, line totals and the subtotal. Expired holds are
    released first (a write only when there are some)."""
    now = clock.now()
    mine = ProductReservation.select().where(holder.owns())
    expired = [h.product_id for h in mine.where(ProductReservation.expires_at <= now)]
    if expired:
        with write_transaction():
            release_expired(expired, now)
    holds = list(mine.where(ProductReservation.expires_at > now)
                 .order_by(ProductReservation.created_at, ProductReservation.id))
    products = catalogue.products_by_id([h.product_id for h in holds])
    items = [{"product": products[h.product_id], "quantity": h.quantity,
              "expires_at": h.expires_at,
              "line_total_cents": h.quantity * products[h.product_id]["price_cents"]}
             for h in holds]
    return {"items": items, "subtotal_cents": sum(i["line_total_cents"] for i in items)}


def merge_guest_cart(session_id: str, user_id: int) -> dict[str, Any]:
    """Move a guest's holds to the user who just signed in, in one transaction.

    A live guest hold becomes the user's (added to the user's own hold of that product,
    if any). An expired one is released and held again for the user as far as the stock
    now allows; a product no longer for sale is released. What could not be held is
    reported in ``short``.
    """
    guest, user = Holder(session_id=session_id), Holder(user_id=user_id)
    now = clock.now()
    merged, short = 0, []
    with write_transaction():
        for g in list(ProductReservation.select().where(guest.owns())
                      .order_by(ProductReservation.id)):
            mine = _hold_of(user, g.product_id)
            wanted = g.quantity
            for_sale = Product.get_by_id(g.product_id).status == "active"
            if g.expires_at > now and mine is None and for_sale:
                (ProductReservation.update(user=user_id, session_id=None,
                                           expires_at=_expiry(now))
                 .where(ProductReservation.id == g.id).execute())
                merged += wanted
                continue
            if g.expires_at > now:  # both hold it: one hold, the ledger moves the units
                _set_hold(guest, g.product_id, 0, now, g)
            else:
                expire_holds([g])
            product = Product.get_by_id(g.product_id)
            take = min(wanted, product.stock_quantity) if product.status == "active" else 0
            if take:
                _set_hold(user, g.product_id, (mine.quantity if mine else 0) + take, now, mine)
                merged += take
            if take < wanted:
                short.append({"product_id": g.product_id, "wanted": wanted, "held": take})
    return {"merged_quantity": merged, "short": short}
