"""Schema objects Peewee cannot declare: triggers and the full-text index.

These statements are part of the models' schema: ``create_schema`` runs them after the
tables, and the migrations write the same text out explicitly. Bodies use uppercase
BEGIN/END and plain ``RAISE(ABORT, ...)`` so D1 accepts them unchanged.
"""

from __future__ import annotations


def append_only(table: str) -> tuple[str, str]:
    """Triggers that refuse UPDATE and DELETE on a history table."""
    return tuple(  # type: ignore[return-value]
        f"""CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table}
BEGIN
    SELECT RAISE(ABORT, '{table} is append-only');
END"""
        for verb in ("UPDATE", "DELETE")
    )


STOCK_TRIGGERS = (
    *append_only("stock_moves"),
    """CREATE TRIGGER stock_moves_apply AFTER INSERT ON stock_moves
BEGIN
    UPDATE products SET stock_quantity = stock_quantity + NEW.qty_change
    WHERE id = NEW.product_id;
END""",
    # A product starts with nothing; stock arrives only as ledger rows.
    """CREATE TRIGGER products_stock_starts_at_zero BEFORE INSERT ON products
WHEN NEW.stock_quantity <> 0
BEGIN
    SELECT RAISE(ABORT, 'stock_quantity changes only through stock_moves');
END""",
    # The balance must equal the ledger after every change, so a direct UPDATE is refused.
    """CREATE TRIGGER products_stock_follows_ledger BEFORE UPDATE OF stock_quantity ON products
WHEN NEW.stock_quantity IS NOT (
    SELECT coalesce(sum(qty_change), 0) FROM stock_moves WHERE product_id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'stock_quantity changes only through stock_moves');
END""",
)

OFFER_EVENT_TRIGGERS = append_only("offer_events")

# External-content FTS5 over the searchable product text; the triggers keep it in step.
# The update trigger names its columns so stock changes do not rewrite the index.
PRODUCT_SEARCH = (
    """CREATE VIRTUAL TABLE products_fts USING fts5(
    title, brand, category, description,
    content='products', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
)""",
    """CREATE TRIGGER products_fts_insert AFTER INSERT ON products
BEGIN
    INSERT INTO products_fts (rowid, title, brand, category, description)
    VALUES (NEW.id, NEW.title, NEW.brand, NEW.category, NEW.description);
END""",
    """CREATE TRIGGER products_fts_delete AFTER DELETE ON products
BEGIN
    INSERT INTO products_fts (products_fts, rowid, title, brand, category, description)
    VALUES ('delete', OLD.id, OLD.title, OLD.brand, OLD.category, OLD.description);
END""",
    """CREATE TRIGGER products_fts_update
AFTER UPDATE OF title, brand, category, description ON products
BEGIN
    INSERT INTO products_fts (products_fts, rowid, title, brand, category, description)
    VALUES ('delete', OLD.id, OLD.title, OLD.brand, OLD.category, OLD.description);
    INSERT INTO products_fts (rowid, title, brand, category, description)
    VALUES (NEW.id, NEW.title, NEW.brand, NEW.category, NEW.description);
END""",
)

EXTRA_SCHEMA = STOCK_TRIGGERS + OFFER_EVENT_TRIGGERS + PRODUCT_SEARCH
