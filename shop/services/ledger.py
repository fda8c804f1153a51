"""The ledger's one write, and what a product's status does when its stock moves.

``append_move`` (and its batch, ``append_moves``) is the only code that inserts into
``stock_moves``. The database applies
the row to ``products.stock_quantity`` and moves ``ledger_head`` (trigger), refuses any
other change of either (trigger), and refuses a balance below zero (CHECK). A refusal is
mapped by the constraint that fired (:func:`shop.errors.constraint_of`), never by a
substring: only the balance CHECK is ``insufficient_stock``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import peewee

from shop import clock
from shop.db import database, lock_for_move, moved
from shop.errors import Conflict, InsufficientStock, constraint_of, refused
from shop.models import Product, StockMove

# The ledger's one write, on every stock path: a constant statement (building it through
# the ORM cost more than running it). No savepoint is needed around it: a statement that
# a CHECK or a trigger's RAISE(ABORT) refuses is undone by SQLite, the transaction stays.
_INSERT_MOVES = ("INSERT INTO stock_moves (product_id, qty_change, reason, note, actor_id, "
                 "order_id, reservation_id, submission_id, created_at) VALUES ")
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"


@dataclass(frozen=True)
class Move:
    """One ledger row to append (:func:`append_moves`)."""

    product_id: int
    qty_change: int
    reason: str
    note: str | None = None
    actor_id: int | None = None
    order_id: int | None = None
    reservation_id: int | None = None
    submission_id: int | None = None


def append_move(product_id: int, qty_change: int, reason: str, *, note: str | None = None,
                actor_id: int | None = None, order_id: int | None = None,
                reservation_id: int | None = None,
                submission_id: int | None = None) -> StockMove:
    """Append one ledger row. Call inside a write transaction (this is a private step)."""
    now = clock.now()
    move = Move(product_id, qty_change, reason, note, actor_id, order_id, reservation_id,
                submission_id)
    cursor = _insert([move], clock.to_text(now))
    return StockMove(id=cursor.lastrowid, product=product_id, qty_change=qty_change,
                     reason=reason, note=note, actor=actor_id, order=order_id,
                     reservation_id=reservation_id, submission=submission_id,
                     created_at=now)


def append_moves(moves: list[Move]) -> None:
    """Append several ledger rows, in this order, in as few statements as can be: one per
    run of moves of distinct products (checkout's converted moves, then its sales: two
    round trips on PostgreSQL, not two a line). A product moves at most once a
    statement because PostgreSQL's ledger triggers run after the whole statement, when
    the head guard would see the product's later move as its newest and refuse the
    earlier. Call inside a write transaction."""
    stamp = clock.to_text(clock.now())
    run: list[Move] = []
    for move in moves:
        if any(m.product_id == move.product_id for m in run):
            _insert(run, stamp)
            run = []
        run.append(move)
    if run:
        _insert(run, stamp)


def _insert(moves: list[Move], stamp: str) -> Any:
    """The one INSERT into stock_moves. On a server engine each product's row is locked
    first and its balance checked move by move, so a move the balance cannot cover is
    refused before the statement (PostgreSQL aborts the whole transaction on a refused
    statement; SQLite's CHECK undoes just the statement)."""
    locked: dict[int, int] = {}
    for product_id in dict.fromkeys(m.product_id for m in moves):
        balance = lock_for_move(product_id)  # a server engine's lock, and the balance
        if balance is None:
            break  # SQLite: the CHECK refuses the statement alone
        locked[product_id] = balance
    else:
        _refuse_short(moves, locked)
    values = [v for m in moves for v in (m.product_id, m.qty_change, m.reason, m.note,
                                         m.actor_id, m.order_id, m.reservation_id,
                                         m.submission_id, stamp)]
    try:
        cursor = database.execute_sql(
            _INSERT_MOVES + ", ".join([_ROW] * len(moves)), tuple(values))
    except peewee.IntegrityError as exc:
        constraint = constraint_of(str(exc))
        if constraint == "stock_not_negative":
            ids = {m.product_id for m in moves}
            _refuse_short(moves, dict(Product.select(Product.id, Product.stock_quantity)
                                      .where(Product.id.in_(ids)).tuples()), cause=exc)
        if constraint == "ledger_guard":
            raise Conflict(
                "the stock ledger refused this change: the product's balance does not "
                "follow its ledger (run `shop stock verify`)",
                details={"product_id": moves[0].product_id,
                         "constraint": constraint}) from exc
        raise refused(str(exc)) from exc
    for move in moves:
        moved(move.product_id, move.qty_change)
    return cursor


def _refuse_short(moves: list[Move], balances: dict[int, int], *,
                  cause: BaseException | None = None) -> None:
    """Raise :class:`InsufficientStock` for the first move (in the batch's order) that
    ``balances`` cannot cover, with the balance it found; nothing when all are covered
    and there is no ``cause`` (a refusal the database already made: the first move then
    stands for the batch)."""
    running = dict(balances)
    for move in moves:
        before = running.get(move.product_id) or 0
        if before + move.qty_change < 0:
            raise InsufficientStock("not enough stock", details={
                "product_id": move.product_id, "available": before}) from cause
        running[move.product_id] = before + move.qty_change
    if cause is not None:
        raise InsufficientStock("not enough stock", details={
            "product_id": moves[0].product_id,
            "available": balances.get(moves[0].product_id) or 0}) from cause


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
