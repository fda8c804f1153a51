"""The hold lifecycle, every transition of it: hold, change, release, expire, take off
sale, convert at checkout, and merge a guest's cart into an account.

A hold is stock set aside for a shopper for a while: a ``product_reservations`` row (one
per product and holder) says who holds what until when, and ledger moves carry the units.
Holding is a ``reserved`` move (-q); a hold ends in exactly one of four ways, each the
row's DELETE and then a +q move, all here (:func:`_end`; :func:`sell` for a checkout's
whole cart at once):

- ``reservation_released``: the holder let go, or the product was taken off sale;
- ``reservation_expired``: its time ran out;
- ``reservation_converted``: checkout sold it (:func:`sell`, which appends the ``sale``).

Correctness never waits for cron: whatever reads or spends a holder's holds, or needs a
product's stock, first settles the stale ones (:func:`settle_products`,
:func:`settle_holder`): expired holds, and holds on a product no longer for sale, end
there, the same way everywhere. The cron sweep only ends what nobody touched.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shop import clock
from shop.config import get_settings
from shop.db import database, lock_product_rows, lock_products, lock_products_in, write_transaction
from shop.errors import Conflict, InsufficientStock, Invalid, NotFound
from shop.models import ProductReservation
from shop.services import batches
from shop.services.ledger import Move, append_move, append_moves

MAX_QUANTITY = 100


@dataclass(frozen=True)
class Holder:
    """Who holds: a signed-in user, or a guest's cart session (exactly one)."""

    user_id: int | None = None
    session_id: str | None = None

    def column(self) -> tuple[str, int | str]:
        """The holder's column in product_reservations, and its value."""
        if self.user_id is not None:
            return "user_id", self.user_id
        return "session_id", self.session_id  # type: ignore[return-value]


@dataclass
class Hold:
    """A product_reservations row as the hot paths read it (times as stored text), with
    its product's status and, where read, title and price."""

    id: int
    product_id: int
    quantity: int
    expires_at: str
    status: str = "active"
    title: str = ""
    price_cents: int = 0

    def stale(self, now: str) -> bool:
        """Expired (fixed-width UTC text: text order is time order) or off sale."""
        return self.expires_at <= now or self.status != "active"


# Constant statements: Peewee took ~275 µs to build and read one such lookup, SQLite ~8 µs
# to answer it (benchmarks/checkout.py).
_HOLDS = ("SELECT r.id, r.product_id, r.quantity, r.expires_at, p.status, p.title, "
          "p.price_cents FROM product_reservations AS r "
          "JOIN products AS p ON p.id = r.product_id WHERE r.{} = ? ORDER BY r.product_id")
# A holder's hold of one product: its status is the caller's concern (hold() has just
# read it), so no join.
_HOLD_OF = ("SELECT id, product_id, quantity, expires_at FROM product_reservations "
            "WHERE product_id = ? AND {} = ?")
_STALE_OF_PRODUCTS = ("SELECT r.id, r.product_id, r.quantity, r.expires_at, p.status "
                      "FROM product_reservations AS r JOIN products AS p ON p.id = r.product_id "
                      "WHERE r.product_id IN ({}) AND (r.expires_at <= ? OR p.status <> 'active')")
# hold(): the product's stale holds (whoever holds them) and the holder's own, in one read.
_STALE_OR_MINE = ("SELECT r.id, r.product_id, r.quantity, r.expires_at, p.status, "
                  "CASE WHEN r.{0} = ? THEN 1 ELSE 0 END FROM product_reservations AS r "
                  "JOIN products AS p ON p.id = r.product_id WHERE r.product_id = ? "
                  "AND (r.expires_at <= ? OR p.status <> 'active' OR r.{0} = ?)")
_PRODUCTS_HELD = "SELECT product_id FROM product_reservations WHERE {} = ?"
_NEW_HOLD = ("INSERT INTO product_reservations (product_id, {}, quantity, created_at, "
             "expires_at) VALUES (?, ?, ?, ?, ?)")
_SET_HOLD = "UPDATE product_reservations SET quantity = ?, expires_at = ? WHERE id = ?"
_DROP_HOLD = "DELETE FROM product_reservations WHERE id = ?"


def new_session_id() -> str:
    """A guest cart id: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


def _expiry(now: datetime) -> str:
    return clock.to_text(now + timedelta(minutes=get_settings().hold_minutes))


# --- the transitions (private steps: call inside a write transaction) ----------------------

def _end(hold: Hold, reason: str, *, actor_id: int | None = None,
         order_id: int | None = None) -> bool:
    """A hold ends: the row goes and its units come back to the balance by ``reason``.
    False, and no move, when the row had gone already (another server's transaction
    ended it first: a hold ends once)."""
    if database.execute_sql(_DROP_HOLD, (hold.id,)).rowcount != 1:
        return False
    append_move(hold.product_id, hold.quantity, reason, reservation_id=hold.id,
                actor_id=actor_id, order_id=order_id)
    return True


def _end_stale(holds: Iterable[Hold], now: str) -> list[Hold]:
    """End the stale holds among ``holds`` (expired ones expire, off-sale ones are
    released); returns the live rest."""
    live = []
    for hold in holds:
        if hold.expires_at <= now:
            _end(hold, "reservation_expired")
        elif hold.status != "active":
            _end(hold, "reservation_released")
        else:
            live.append(hold)
    return live


def settle_products(product_ids: Iterable[int], now: datetime) -> int:
    """End these products' stale holds, whoever held them; returns how many. Every
    operation that needs a product's stock calls this first."""
    ids = sorted(set(product_ids))
    if not ids:
        return 0
    lock_products(ids)
    rows = database.execute_sql(_STALE_OF_PRODUCTS.format(", ".join("?" * len(ids))),
                                (*ids, clock.to_text(now))).fetchall()
    _end_stale([Hold(*row) for row in rows], clock.to_text(now))
    return len(rows)


def settle_holder(holder: Holder, now: datetime) -> list[Hold]:
    """End the holder's stale holds; returns the live ones (with title and price), by
    product id: what a cart shows and what a checkout sells.

    On a server engine the holds' products are locked first, in one statement (a
    subquery names them), and the holds read after: a hold that appeared between the two
    statements (the same buyer, another tab) is on a product not locked here and is left
    out, as if it had come after this call; it stays in the cart."""
    column, value = holder.column()
    locked = lock_products_in(_PRODUCTS_HELD.format(column), (value,))
    held = read_holds(holder)
    if locked is not None:
        held = [h for h in held if h.product_id in locked]
    return _end_stale(held, clock.to_text(now))


def _settle_for(holder: Holder, product_id: int, now: datetime) -> Hold | None:
    """:func:`settle_products` for one product on sale (locked), and the holder's live
    hold of it, from one read: the hold path's two lookups in one round trip."""
    column, value = holder.column()
    stamp = clock.to_text(now)
    rows = database.execute_sql(_STALE_OR_MINE.format(column),
                                (value, product_id, stamp, value)).fetchall()
    mine = [Hold(*row[:5]) for row in rows if row[5]]
    _end_stale([Hold(*row[:5]) for row in rows], stamp)
    return mine[0] if mine and not mine[0].stale(stamp) else None


def _hold_of(holder: Holder, product_id: int) -> Hold | None:
    column, value = holder.column()
    row = database.execute_sql(_HOLD_OF.format(column), (product_id, value)).fetchone()
    return Hold(*row) if row else None


def _set(holder: Holder, product_id: int, quantity: int, now: datetime,
         existing: Hold | None) -> Hold | None:
    """Make ``holder`` hold ``quantity`` (0: none) of the product, moving only the
    difference through the ledger, and renew the expiry. 409 ``insufficient_stock`` (the
    balance CHECK) when the stock cannot cover more; the old hold then stays."""
    held = existing.quantity if existing else 0
    expires = _expiry(now)
    created = existing is None and quantity > 0
    if created:
        column, value = holder.column()
        hold_id = database.execute_sql(
            _NEW_HOLD.format(column),
            (product_id, value, quantity, clock.to_text(now), expires)).lastrowid
        existing = Hold(hold_id, product_id, 0, expires)
    if existing is None:
        return None
    if quantity == 0:
        _end(existing, "reservation_released", actor_id=holder.user_id)
        return None
    diff = quantity - held
    if diff > 0:
        append_move(product_id, -diff, "reserved", reservation_id=existing.id,
                    actor_id=holder.user_id)
    elif diff < 0:
        append_move(product_id, -diff, "reservation_released", reservation_id=existing.id,
                    actor_id=holder.user_id)
    if not created:  # a new row was inserted with this quantity and expiry already
        database.execute_sql(_SET_HOLD, (quantity, expires, existing.id))
    return Hold(existing.id, product_id, quantity, expires)


def sell(cart: list[Hold], order_id: int, actor_id: int | None) -> None:
    """Checkout sells live holds (read under the lock, in the checkout's transaction):
    each ends by ``reservation_converted`` (+q) and its units go by ``sale`` (-q). One
    DELETE for the rows and two ledger statements for the whole cart, not three a line
    (each is a round trip on PostgreSQL). A row already gone means the cart changed
    under us: 409, and the transaction rolls back (a hold ends once)."""
    if not cart:
        return
    gone = database.execute_sql(
        f"DELETE FROM product_reservations WHERE id IN ({', '.join('?' * len(cart))})",
        tuple(h.id for h in cart)).rowcount
    if gone != len(cart):
        raise Conflict("the cart changed while checking out; try again")
    append_moves(
        [Move(h.product_id, h.quantity, "reservation_converted", actor_id=actor_id,
              order_id=order_id, reservation_id=h.id) for h in cart]
        + [Move(h.product_id, -h.quantity, "sale", actor_id=actor_id, order_id=order_id)
           for h in cart])


def take_off_sale(product_id: int, actor_id: int | None) -> int:
    """A product leaves sale (draft, archived): every hold on it is released, so its
    units are not stuck in carts that can never check them out; returns how many."""
    rows = database.execute_sql(
        "SELECT r.id, r.product_id, r.quantity, r.expires_at FROM product_reservations AS r "
        "WHERE r.product_id = ?", (product_id,)).fetchall()
    for row in rows:
        _end(Hold(*row), "reservation_released", actor_id=actor_id)
    return len(rows)


# --- units of work ----------------------------------------------------------------------

def hold(holder: Holder, product_id: int, quantity: int) -> dict[str, Any]:
    """Hold ``quantity`` of a product: a first hold, or a change of the held quantity (the
    difference moves), with a renewed expiry. 409 ``insufficient_stock`` with
    ``details.available`` when the stock cannot cover it; the old hold then stays."""
    if not 1 <= quantity <= MAX_QUANTITY:
        raise Invalid(f"quantity must be a whole number from 1 to {MAX_QUANTITY}",
                      details={"fields": {"quantity": f"must be 1 to {MAX_QUANTITY}"}})
    now = clock.now()
    with write_transaction():
        row = lock_product_rows([product_id]).get(product_id)  # locked, with its status
        status = None if row is None else row[0]
        if status == "sold_out":  # for sale, but none left
            raise InsufficientStock("not enough stock", details={
                "product_id": product_id, "available": 0})
        if status != "active":
            raise NotFound("no such product for sale")
        held = _set(holder, product_id, quantity, now, _settle_for(holder, product_id, now))
        assert held is not None
        return {"product_id": product_id, "quantity": held.quantity,
                "expires_at": held.expires_at}


def release(holder: Holder, product_id: int) -> None:
    """Give a hold's stock back (nothing to do if there is no hold)."""
    now = clock.now()
    with write_transaction():
        settle_products([product_id], now)
        _set(holder, product_id, 0, now, _hold_of(holder, product_id))


def read_holds(holder: Holder) -> list[Hold]:
    """The holder's holds as stored, stale ones included (a read; nothing ends here)."""
    column, value = holder.column()
    return [Hold(*row) for row in database.execute_sql(_HOLDS.format(column), (value,))]


def merge_guest_cart(session_id: str, user_id: int) -> dict[str, Any]:
    """Move a guest's live holds to the user who just signed in (inside the sign-in's
    transaction, or its own).

    Both carts' stale holds end first, the same way as everywhere else. A live guest hold
    becomes the user's, or is added to the user's own hold of that product, up to
    MAX_QUANTITY a hold; what is over the cap goes back to stock and is reported in
    ``short``.
    """
    guest, user = Holder(session_id=session_id), Holder(user_id=user_id)
    now = clock.now()
    merged, short = 0, []
    with write_transaction():
        settle_holder(user, now)
        for g in settle_holder(guest, now):
            mine = _hold_of(user, g.product_id)
            if mine is None:  # the guest's hold becomes the user's, renewed
                database.execute_sql(
                    "UPDATE product_reservations SET user_id = ?, session_id = NULL, "
                    "expires_at = ? WHERE id = ?", (user_id, _expiry(now), g.id))
                merged += g.quantity
                continue
            # Both hold it: the guest's units come back, the user's hold grows (capped).
            take = min(g.quantity, MAX_QUANTITY - mine.quantity)
            _end(g, "reservation_released")
            if take:
                _set(user, g.product_id, mine.quantity + take, now, mine)
            merged += take
            if take < g.quantity:
                short.append({"product_id": g.product_id, "wanted": g.quantity,
                              "held": take})
    return {"merged_quantity": merged, "short": short}


SWEEP_BATCH = 200


def expire_due(batch: int = SWEEP_BATCH) -> int:
    """End up to ``batch`` expired holds nobody has touched, in one short IMMEDIATE
    transaction; returns how many. Idempotent and safe beside live traffic: the holds are
    re-read under the lock, so two sweeps at once never end one twice."""
    with write_transaction():
        due = (ProductReservation.select(ProductReservation.id, ProductReservation.product,
                                         ProductReservation.quantity,
                                         ProductReservation.expires_at)
               .where(ProductReservation.expires_at <= clock.now())
               .order_by(ProductReservation.expires_at).limit(batch).tuples())
        holds = [Hold(i, p, q, clock.to_text(e)) for i, p, q, e in due]
        if lock_products(h.product_id for h in holds):  # a server engine: read again
            holds = [Hold(i, p, q, clock.to_text(e)) for i, p, q, e in due.clone()]
        return sum(_end(h, "reservation_expired") for h in holds)


def expire_all_due(on_batch: Callable[[int], None] | None = None) -> int:
    """The cron sweep: every expired hold, in short batches that let checkouts in."""
    return batches.run(expire_due, SWEEP_BATCH, on_batch=on_batch)
