"""One index per catalogue query shape (DESIGN.md §3).

Equality columns first and the sort column last (the rowid, the pagination tie-breaker,
is implicitly after it), so a page of ``GET /api/products`` is a range read of one index
with no temporary sort. The single-column indexes of 001 served a filter or a sort but
not both; they are replaced. The featured index is partial and now carries the sort.
A product's images are read in position order from (product_id, position), which also
serves the foreign key as images_product_id did.
"""

from __future__ import annotations

STATEMENTS = (
    'DROP INDEX "products_category_status"',
    'DROP INDEX "products_brand"',
    'DROP INDEX "products_size"',
    'DROP INDEX "products_price_cents"',
    'DROP INDEX "products_featured"',
    'CREATE INDEX "products_status_price_cents" ON "products" ("status", "price_cents")',
    'CREATE INDEX "products_status_category_created_at" ON "products" ("status", "category", "created_at")',
    'CREATE INDEX "products_status_category_price_cents" ON "products" ("status", "category", "price_cents")',
    'CREATE INDEX "products_status_brand_created_at" ON "products" ("status", "brand", "created_at")',
    'CREATE INDEX "products_status_brand_price_cents" ON "products" ("status", "brand", "price_cents")',
    'CREATE INDEX "products_status_size_created_at" ON "products" ("status", "size", "created_at")',
    'CREATE INDEX "products_status_size_price_cents" ON "products" ("status", "size", "price_cents")',
    'CREATE INDEX "products_featured_status_created_at" ON "products" ("status", "created_at") WHERE featured = 1',
    'DROP INDEX "images_product_id"',
    'CREATE INDEX "images_product_id_position" ON "images" ("product_id", "position")',
)


def migrate(migrator, database, *, fake=False):
    for statement in STATEMENTS:
        migrator.sql(statement)
