"""Schema objects Peewee cannot declare: triggers and the full-text index.

These statements are part of the models' schema: ``create_schema`` runs them after the
tables, and the migrations write the same text out explicitly. Bodies use uppercase
BEGIN/END and plain ``RAISE(ABORT, ...)`` so D1 accepts them unchanged.
"""

from __future__ import annotations


def append_only(table: str) -> tuple[str, ...]:
    """Triggers that refuse UPDATE, DELETE and REPLACE on a history table.

    ``INSERT OR REPLACE`` (and ``REPLACE INTO``) with an existing id deletes the old row
    without firing a DELETE trigger while ``recursive_triggers`` is off, SQLite's default:
    so an INSERT naming an id that exists is refused before any conflict is resolved.
    An ordinary insert leaves the id to SQLite, and NEW.id is then not an existing row's.
    """
    return (
        *(f"""CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table}
BEGIN
    SELECT RAISE(ABORT, '{table} is append-only');
END""" for verb in ("UPDATE", "DELETE")),
        f"""CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table}
WHEN EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, '{table} is append-only');
END""",
    )


# The ledger head (DESIGN.md §4): each product records the id of the last move applied to
# it, so guarding the balance costs two index lookups instead of a sum over its history.
APPLY_MOVE = """CREATE TRIGGER stock_moves_apply AFTER INSERT ON stock_moves
BEGIN
    UPDATE products SET stock_quantity = stock_quantity + NEW.qty_change, ledger_head = NEW.id
    WHERE id = NEW.product_id;
END"""

# A product starts with nothing; stock arrives only as ledger rows.
STARTS_AT_ZERO = """CREATE TRIGGER products_stock_starts_at_zero BEFORE INSERT ON products
WHEN NEW.stock_quantity <> 0 OR NEW.ledger_head <> 0
BEGIN
    SELECT RAISE(ABORT, 'stock_quantity changes only through stock_moves');
END"""

# The balance may move only to a newer head, that head must be the product's newest move,
# and the balance must move by exactly that move's qty_change. Applying every move in
# order is then the only way through, so by induction balance = sum(ledger) for any
# writer, in O(log n): max(id) and the move itself are index lookups.
FOLLOWS_LEDGER = """CREATE TRIGGER products_stock_follows_ledger
BEFORE UPDATE OF stock_quantity, ledger_head ON products
WHEN (NEW.stock_quantity IS NOT OLD.stock_quantity OR NEW.ledger_head IS NOT OLD.ledger_head)
    AND (NEW.ledger_head <= OLD.ledger_head
        OR NEW.ledger_head IS NOT (SELECT max(id) FROM stock_moves WHERE product_id = NEW.id)
        OR NEW.stock_quantity - OLD.stock_quantity IS NOT (
            SELECT qty_change FROM stock_moves WHERE id = NEW.ledger_head))
BEGIN
    SELECT RAISE(ABORT, 'stock_quantity changes only through stock_moves');
END"""

STOCK_TRIGGERS = (*append_only("stock_moves"), APPLY_MOVE, STARTS_AT_ZERO, FOLLOWS_LEDGER)

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

# The catalogue's search, the query side (shop.services.catalogue; sql_pg has the same
# names): the FTS5 table joined by rowid, a MATCH on the quoted terms (the last a prefix),
# and FTS5's rank (lower is better) as the relevance key.
SEARCH_SOURCE = " JOIN products_fts ON products_fts.rowid = p.id"
SEARCH_WHERE = "products_fts MATCH ?"
SEARCH_RANK = "products_fts.rank"


def search_query(terms: list[str]) -> str:
    """Words (letters and digits only) as an FTS5 query: each a quoted term, all
    required, the last one a prefix (search as you type)."""
    quoted = [f'"{term}"' for term in terms]
    quoted[-1] += "*"
    return " ".join(quoted)
