"""The owner's stock changes, the ledger's pages, and ``shop stock verify``.

Every change of available stock is one appended ``stock_moves`` row, written only by
``shop.services.ledger.append_move``; holds are ``shop.services.holds``'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import peewee

from shop import clock
from shop.db import database, read_snapshot, write_transaction
from shop.errors import Invalid, NotFound
from shop.models import Product, StockMove
from shop.models.stock import REASON_SIGNS
from shop.services import audit, holds, system
from shop.services.ledger import append_move, follow_stock
from shop.services.pagination import DEFAULT_LIMIT, Page, decode_cursor, page_of

MANUAL_REASONS = ("restock", "adjustment", "return")
MAX_MANUAL_CHANGE = 1_000_000


def _check_manual(qty_change: int, reason: str, note: str | None) -> None:
    """The ledger's CHECKs, asked first so that the answer names the field."""
    if reason not in MANUAL_REASONS:
        raise Invalid(f"reason must be one of {', '.join(MANUAL_REASONS)}",
                      details={"fields": {"reason": "not allowed"}})
    if qty_change == 0 or abs(qty_change) > MAX_MANUAL_CHANGE:
        raise Invalid(f"qty_change must be a non-zero whole number up to {MAX_MANUAL_CHANGE}",
                      details={"fields": {"qty_change": "out of range"}})
    if REASON_SIGNS.get(reason, 0) * qty_change < 0:
        raise Invalid(f"a {reason} adds stock: qty_change must be positive",
                      details={"fields": {"qty_change": "must be positive"}})
    if reason == "adjustment" and not (note or "").strip():
        raise Invalid("an adjustment needs a note saying why",
                      details={"fields": {"note": "required for an adjustment"}})


def adjust(product_id: int, qty_change: int, reason: str, *, note: str | None = None,
           actor_id: int | None = None) -> tuple[StockMove, int]:
    """A manual stock change (restock, adjustment with a note, return); returns the new balance."""
    _check_manual(qty_change, reason, note)
    with write_transaction():
        if not Product.select().where(Product.id == product_id).exists():
            raise NotFound("no such product")
        holds.settle_products([product_id], clock.now())
        before = Product.select(Product.stock_quantity).where(Product.id == product_id).scalar()
        move = append_move(product_id, qty_change, reason, note=note, actor_id=actor_id)
        follow_stock([product_id])
        balance = Product.select(Product.stock_quantity).where(Product.id == product_id).scalar()
        audit.record(actor_id, f"stock.{reason}", "product", product_id,
                     {"stock_quantity": before},
                     {"stock_quantity": balance, "move_id": move.id, "note": note})
    return move, balance


def move_data(move: StockMove) -> dict[str, Any]:
    return {"id": move.id, "product_id": move.product_id, "qty_change": move.qty_change,
            "reason": move.reason, "note": move.note, "order_id": move.order_id,
            "reservation_id": move.reservation_id, "submission_id": move.submission_id,
            "actor_id": move.actor_id, "created_at": move.created_at}


def list_moves(product_id: int, *, limit: int = DEFAULT_LIMIT,
               cursor: str | None = None) -> Page[dict[str, Any]]:
    """A product's ledger, newest first (a range read of the product_id index)."""
    tag = f"moves:{product_id}"
    if not Product.select().where(Product.id == product_id).exists():
        raise NotFound("no such product")
    select = StockMove.select().where(StockMove.product == product_id)
    if cursor:
        (before,) = decode_cursor(cursor, tag, (int,))
        select = select.where(StockMove.id < before)
    rows = list(select.order_by(StockMove.id.desc()).limit(limit + 1))
    page = page_of(rows, limit, lambda m: [m.id], tag)
    return Page([move_data(m) for m in page.items], page.next_cursor)


@dataclass(frozen=True)
class Violation:
    product_id: int
    sku: str
    problem: str


@dataclass(frozen=True)
class VerifyReport:
    products: int
    moves: int
    holds: int
    violations: list[Violation]


# One grouped pass over the ledger per invariant of DESIGN.md §4, never a query per product.
# BALANCE_RANGE walks it in ranges of product ids (index ranges on both tables), so a long
# check can show progress.
_BALANCES = """
SELECT p.id, p.sku, p.stock_quantity, p.ledger_head, coalesce(m.total, 0), coalesce(m.head, 0)
FROM products AS p
LEFT JOIN (SELECT product_id, sum(qty_change) AS total, max(id) AS head
           FROM stock_moves {moves} GROUP BY product_id) AS m ON m.product_id = p.id
WHERE (p.stock_quantity IS DISTINCT FROM coalesce(m.total, 0)
       OR p.ledger_head IS DISTINCT FROM coalesce(m.head, 0))
{products}
"""
BALANCE_RANGE = _BALANCES.format(moves="WHERE product_id BETWEEN ? AND ?",
                                 products="AND p.id BETWEEN ? AND ?")
VERIFY_CHUNK = 10_000
# A live hold's quantity is the negated net of its moves (reserved -q, then releases +q);
# a settled hold (row deleted) nets to zero.
HOLD_PROBLEMS = """
SELECT m.product_id, p.sku, m.reservation_id, -sum(m.qty_change) AS net, r.quantity
FROM stock_moves AS m
JOIN products AS p ON p.id = m.product_id
LEFT JOIN product_reservations AS r ON r.id = m.reservation_id
WHERE m.reservation_id IS NOT NULL
GROUP BY m.reservation_id, m.product_id, p.sku, r.quantity
HAVING -sum(m.qty_change) IS DISTINCT FROM coalesce(r.quantity, 0)
UNION ALL
SELECT r.product_id, p.sku, r.id, 0, r.quantity
FROM product_reservations AS r JOIN products AS p ON p.id = r.product_id
WHERE NOT EXISTS (SELECT 1 FROM stock_moves AS m WHERE m.reservation_id = r.id)
"""


# Every move must come from somewhere: a move that was rewritten (re-targeted at another
# product) or invented to match a balance sums up fine, but no longer matches the record
# that caused it. Sales match their order lines exactly; returns and conversions never
# exceed them; a purchase is the +1 of an accepted submission's own item.
PROVENANCE_PROBLEMS = """
SELECT m.product_id, p.sku, 'sale moves of order ' || coalesce(CAST(m.order_id AS TEXT), '(none)')
       || ' sell ' || -sum(m.qty_change) || ' but the order line has '
       || coalesce(CAST(i.quantity AS TEXT), 'no line')
FROM stock_moves AS m JOIN products AS p ON p.id = m.product_id
LEFT JOIN order_items AS i ON i.order_id = m.order_id AND i.product_id = m.product_id
WHERE m.reason = 'sale'
GROUP BY m.order_id, m.product_id, p.sku, i.quantity
HAVING i.quantity IS NULL OR -sum(m.qty_change) <> i.quantity
UNION ALL
SELECT i.product_id, p.sku, 'order ' || i.order_id || ' has a line of ' || i.quantity
       || ' with no sale move'
FROM order_items AS i JOIN products AS p ON p.id = i.product_id
WHERE NOT EXISTS (SELECT 1 FROM stock_moves AS m WHERE m.order_id = i.order_id
                  AND m.product_id = i.product_id AND m.reason = 'sale')
UNION ALL
SELECT m.product_id, p.sku, m.reason || ' moves of order '
       || coalesce(CAST(m.order_id AS TEXT), '(none)')
       || ' bring back ' || sum(m.qty_change) || ' but the order line has '
       || coalesce(CAST(i.quantity AS TEXT), 'no line')
FROM stock_moves AS m JOIN products AS p ON p.id = m.product_id
LEFT JOIN order_items AS i ON i.order_id = m.order_id AND i.product_id = m.product_id
WHERE m.reason = 'reservation_converted' OR (m.reason = 'return' AND m.order_id IS NOT NULL)
GROUP BY m.reason, m.order_id, m.product_id, p.sku, i.quantity
HAVING i.quantity IS NULL OR sum(m.qty_change) > i.quantity
UNION ALL
SELECT m.product_id, p.sku, 'purchase move ' || m.id
       || ' is not the +1 of an accepted submission''s own item'
FROM stock_moves AS m JOIN products AS p ON p.id = m.product_id
LEFT JOIN sell_submissions AS s ON s.id = m.submission_id
LEFT JOIN sell_items AS it ON it.id = p.source_item_id
WHERE m.reason = 'purchase' AND (m.qty_change <> 1 OR s.offer_status IS DISTINCT FROM 'accepted'
                                 OR it.submission_id IS DISTINCT FROM s.id)
"""


def _balance_problems(db: peewee.Database,
                      on_progress: Callable[[int], None] | None) -> list[tuple]:
    """Every product whose balance or head is off its ledger, a range of ids at a time."""
    top = db.execute_sql("SELECT coalesce(max(id), 0) FROM products").fetchone()[0]
    found: list[tuple] = []
    for low in range(1, top + 1, VERIFY_CHUNK):
        high = low + VERIFY_CHUNK - 1
        found.extend(db.execute_sql(BALANCE_RANGE, (low, high, low, high)))
        if on_progress is not None:
            on_progress(min(VERIFY_CHUNK, top - low + 1))
    return found


def product_count() -> int:
    return Product.select().count()


def ledger_violations(db: peewee.Database | None = None,
                      on_progress: Callable[[int], None] | None = None) -> list[Violation]:
    """What breaks the ledger's invariants (DESIGN.md §4) in ``db`` (the shop's own
    database unless given), sorted by product: every balance and head against the moves,
    every hold against its moves, every move against what caused it. The one set of
    checks for ``shop stock verify``, for ``shop db copy`` (on its PostgreSQL target,
    before commit), for a PostgreSQL backup (on its scratch restore) and for a SQLite
    backup or restore (on the copy, :func:`shop.services.backup.check`), so a copy or a
    backup is held to exactly what verify asks of a live shop. Run it inside one snapshot
    (a transaction) for a consistent answer."""
    db = database if db is None else db
    violations: list[Violation] = []
    for pid, sku, stock, head, total, newest in _balance_problems(db, on_progress):
        if stock != total:
            violations.append(Violation(pid, sku, f"stock_quantity {stock} but the "
                                                  f"ledger sums to {total}"))
        if head != newest:
            violations.append(Violation(pid, sku, f"ledger_head {head} but the newest "
                                                  f"move is {newest}"))
    for pid, sku, hold, net, quantity in db.execute_sql(HOLD_PROBLEMS):
        violations.append(Violation(pid, sku, f"hold {hold} holds {quantity or 0} but its "
                                              f"moves net to {net}"))
    for pid, sku, problem in db.execute_sql(PROVENANCE_PROBLEMS):
        violations.append(Violation(pid, sku, problem))
    violations.sort(key=lambda v: (v.product_id, v.problem))
    return violations


def verify(on_progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Check the file, then every product's balance, ledger head and holds against the
    ledger, and every move against what caused it (:func:`ledger_violations`).
    ``on_progress`` hears how many products each step covered.

    The file comes first, with SQLite's full integrity check: a damaged file raises
    :class:`~shop.errors.Damaged` (one line, the next step) and no ledger check runs on
    it. The full check compares every index with its table: a row changed under its
    indexes (a price the price index still lists as it was) fails here, though each
    query alone looks fine."""
    system.require_intact()
    with read_snapshot():  # one read snapshot for every check
        violations = ledger_violations(database, on_progress)
        products = Product.select().count()
        moves = StockMove.select().count()
        holds = database.execute_sql("SELECT count(*) FROM product_reservations").fetchone()[0]
    return VerifyReport(products, moves, holds, violations)
