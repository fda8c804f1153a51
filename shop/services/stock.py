"""The stock ledger: every change of available stock is one appended ``stock_moves`` row.

The database applies the row to ``products.stock_quantity`` (trigger) and refuses a balance
below zero (CHECK); this module turns that refusal into ``insufficient_stock``.
"""

from __future__ import annotations

import peewee

from shop import clock
from shop.db import database, write_transaction
from shop.errors import InsufficientStock, Invalid, NotFound
from shop.models import Product, StockMove

MANUAL_REASONS = ("restock", "adjustment", "return")


def append_move(product_id: int, qty_change: int, reason: str, *, note: str | None = None,
                actor_id: int | None = None, order_id: int | None = None,
                reservation_id: int | None = None,
                submission_id: int | None = None) -> StockMove:
    """Append one ledger row. Call inside a write transaction (this is a private step)."""
    try:
        with database.atomic():  # a savepoint: a refusal leaves no trace
            return StockMove.create(
                product=product_id, qty_change=qty_change, reason=reason, note=note,
                actor=actor_id, order=order_id, reservation_id=reservation_id,
                submission=submission_id, created_at=clock.now())
    except peewee.IntegrityError as exc:
        if "stock_quantity" in str(exc):
            available = (Product.select(Product.stock_quantity)
                         .where(Product.id == product_id).scalar())
            raise InsufficientStock("not enough stock", details={
                "product_id": product_id, "available": available or 0}) from exc
        raise Invalid("the stock change is not valid", details={"reason": str(exc)}) from exc


def adjust(product_id: int, qty_change: int, reason: str, *, note: str | None = None,
           actor_id: int | None = None) -> tuple[StockMove, int]:
    """A manual stock change (restock, adjustment with a note, return); returns the new balance."""
    if reason not in MANUAL_REASONS:
        raise Invalid(f"reason must be one of {', '.join(MANUAL_REASONS)}",
                      details={"fields": {"reason": "not allowed"}})
    with write_transaction():
        if not Product.select().where(Product.id == product_id).exists():
            raise NotFound("no such product")
        move = append_move(product_id, qty_change, reason, note=note, actor_id=actor_id)
        balance = Product.select(Product.stock_quantity).where(Product.id == product_id).scalar()
    return move, balance
