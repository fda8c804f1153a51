"""The ledger's one write, and what a product's status does when its stock moves.

``append_move`` is the only code that inserts into ``stock_moves``. The database applies
the row to ``products.stock_quantity`` and moves ``ledger_head`` (trigger), refuses any
other change of either (trigger), and refuses a balance below zero (CHECK). A refusal is
mapped by the constraint that fired (:func:`shop.errors.constraint_of`), never by a
substring: only the balance CHECK is ``insufficient_stock``.
"""

from __future__ import annotations

from collections.abc import Iterable

import peewee

from shop import clock
from shop.db import database, lock_for_move
from shop.errors import Conflict, InsufficientStock, constraint_of, refused
from shop.models import Product, StockMove

# The ledger's one write, on every stock path: a constant statement (building it through
# the ORM cost more than running it). No savepoint is needed around it: a statement that
# a CHECK or a trigger's RAISE(ABORT) refuses is undone by SQLite, the transaction stays.
_INSERT_MOVE = ("INSERT INTO stock_moves (product_id, qty_change, reason, note, actor_id, "
                "order_id, reservation_id, submission_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


def append_move(product_id: int, qty_change: int, reason: str, *, note: str | None = None,
                actor_id: int | None = None, order_id: int | None = None,
                reservation_id: int | None = None,
                submission_id: int | None = None) -> StockMove:
    """Append one ledger row. Call inside a write transaction (this is a private step)."""
    now = clock.now()
    values = (product_id, qty_change, reason, note, actor_id, order_id, reservation_id,
              submission_id, clock.to_text(now))
    balance = lock_for_move(product_id)  # a server engine's row lock, and the balance
    if balance is not None and balance + qty_change < 0:
        raise InsufficientStock("not enough stock", details={
            "product_id": product_id, "available": balance})
    try:
        cursor = database.execute_sql(_INSERT_MOVE, values)
    except peewee.IntegrityError as exc:
        constraint = constraint_of(str(exc))
        if constraint == "stock_not_negative":
            available = (Product.select(Product.stock_quantity)
                         .where(Product.id == product_id).scalar())
            raise InsufficientStock("not enough stock", details={
                "product_id": product_id, "available": available or 0}) from exc
        if constraint == "ledger_guard":
            raise Conflict(
                "the stock ledger refused this change: the product's balance does not "
                "follow its ledger (run `shop stock verify`)",
                details={"product_id": product_id, "constraint": constraint}) from exc
        raise refused(str(exc)) from exc
    return StockMove(id=cursor.lastrowid, product=product_id, qty_change=qty_change,
                     reason=reason, note=note, actor=actor_id, order=order_id,
                     reservation_id=reservation_id, submission=submission_id,
                     created_at=now)


# sold_out <-> active follows the stock: the last unit sold (none left, nobody holding
# one) takes a product out of the window; a return or restock brings it back. Drafts and
# archived products are the owner's choice and never change here.
_FOLLOW_STOCK = """UPDATE products
SET status = CASE WHEN stock_quantity = 0 THEN 'sold_out' ELSE 'active' END, updated_at = ?
WHERE id IN ({})
  AND ((status = 'active' AND stock_quantity = 0
        AND NOT EXISTS (SELECT 1 FROM product_reservations AS r WHERE r.product_id = products.id))
    OR (status = 'sold_out' AND stock_quantity > 0))"""


def follow_stock(product_ids: Iterable[int]) -> None:
    """Set these products ``sold_out`` or ``active`` as their stock now says (inside the
    transaction that moved it)."""
    ids = sorted(set(product_ids))
    if ids:
        database.execute_sql(_FOLLOW_STOCK.format(", ".join("?" * len(ids))),
                             (clock.to_text(clock.now()), *ids))
