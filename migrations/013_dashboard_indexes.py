"""Indexes for the owner's Today page (issue 15): each of its short lists and counts is a
range read of one index, at any number of orders, products and submissions.

- ``orders_status_shipping_method_created_at``: pending collect orders (put aside for a
  buyer who pays on collection), to pack with the paid ones, oldest first. A partial index
  on exactly those rows was tried first: with statistics, SQLite preferred the (status,
  created_at) range and read every pending order's row to check its method.
- ``products_status_stock_quantity``: active products with few units left (low stock),
  counted and listed fewest first.
- ``sell_submissions_owed_created_at`` (partial: ``payout_status = 'owed'``): accepted
  submissions whose seller is still to be paid, oldest first. Paid payouts, the many,
  are not in it.

Numbered 013 after 012; it creates indexes only, so it keeps every row, and the models
declare the same indexes (tests/test_migrations.py compares the two schemas).
"""

from __future__ import annotations

STATEMENTS = (
    'CREATE INDEX "orders_status_shipping_method_created_at" ON "orders" '
    '("status", "shipping_method", "created_at")',
    'CREATE INDEX "products_status_stock_quantity" ON "products" ("status", "stock_quantity")',
    'CREATE INDEX "sell_submissions_owed_created_at" ON "sell_submissions" ("created_at") '
    "WHERE payout_status = 'owed'",
)


def migrate(migrator, database, *, fake=False):
    for statement in STATEMENTS:
        migrator.sql(statement)


def migrate_postgresql(migrator, database):
    # The same statements: indexes read alike on both engines.
    for statement in STATEMENTS:
        migrator.sql(statement)
