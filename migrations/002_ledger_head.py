"""The ledger head: guard the stock balance in O(log n) instead of re-summing the ledger.

Migration 001 checked every balance change against ``SUM(qty_change)`` over the product's
whole ledger, inside the write lock: 60 µs a move at 10^2 moves, 100 ms at 10^6. Here each
product records the id of the last move applied (``ledger_head``); the apply trigger sets
it, and the guard accepts a change only to a newer head that is the product's newest move,
by exactly that move's qty_change (DESIGN.md §4). No rebuild: one ADD COLUMN with a SQL
default, a backfill in SQL, a trigger swap. Forward-only: to undo it, restore a backup.
"""

from __future__ import annotations

STATEMENTS = (
    # The old triggers go first: the backfill below must not be judged by either guard.
    "DROP TRIGGER products_stock_follows_ledger",
    "DROP TRIGGER products_stock_starts_at_zero",
    "DROP TRIGGER stock_moves_apply",
    'ALTER TABLE "products" ADD COLUMN "ledger_head" INTEGER NOT NULL DEFAULT 0 CHECK (ledger_head >= 0)',
    # Every balance already equals its ledger sum (001's guard saw to it); prove it rather
    # than assume it, since the new guard only checks each step from here on.
    "CREATE TABLE _ledger_guard (n INTEGER NOT NULL CHECK (n = 0))",
    """INSERT INTO _ledger_guard SELECT count(*) FROM products
WHERE stock_quantity <> (SELECT coalesce(sum(qty_change), 0) FROM stock_moves WHERE product_id = products.id)""",
    "DROP TABLE _ledger_guard",
    """UPDATE products SET ledger_head = (SELECT max(id) FROM stock_moves WHERE product_id = products.id)
WHERE EXISTS (SELECT 1 FROM stock_moves WHERE product_id = products.id)""",
    """CREATE TRIGGER stock_moves_apply AFTER INSERT ON stock_moves
BEGIN
    UPDATE products SET stock_quantity = stock_quantity + NEW.qty_change, ledger_head = NEW.id
    WHERE id = NEW.product_id;
END""",
    """CREATE TRIGGER products_stock_starts_at_zero BEFORE INSERT ON products
WHEN NEW.stock_quantity <> 0 OR NEW.ledger_head <> 0
BEGIN
    SELECT RAISE(ABORT, 'stock_quantity changes only through stock_moves');
END""",
    """CREATE TRIGGER products_stock_follows_ledger
BEFORE UPDATE OF stock_quantity, ledger_head ON products
WHEN (NEW.stock_quantity IS NOT OLD.stock_quantity OR NEW.ledger_head IS NOT OLD.ledger_head)
    AND (NEW.ledger_head <= OLD.ledger_head
        OR NEW.ledger_head IS NOT (SELECT max(id) FROM stock_moves WHERE product_id = NEW.id)
        OR NEW.stock_quantity - OLD.stock_quantity IS NOT (
            SELECT qty_change FROM stock_moves WHERE id = NEW.ledger_head))
BEGIN
    SELECT RAISE(ABORT, 'stock_quantity changes only through stock_moves');
END""",
)


def migrate(migrator, database, *, fake=False):
    for statement in STATEMENTS:
        migrator.sql(statement)
