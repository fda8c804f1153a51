"""Search in newest order reads a bounded part of the matches (issue 19, item 4).

001's full-text index was keyed by the product id, so a search sorted by newest read every
match of the words and sorted them by (created_at, id): 185-343 ms at 10^6 products for
a common word, growing with the catalogue. The index is now keyed by a search key that
sorts like the newest order, the second of created_at then the id (models/sql.py,
PRODUCT_SEARCH): FTS5 walks the matches newest first and stops after a page
(sql.newest_search). The triggers are replaced to write that key, a view gives it to
FTS5's 'rebuild', and the index is rebuilt from the products (a few seconds per 10^5).
The index also keeps a doclist per 1-3 letter prefix (prefix='1 2 3'): the last word of a
search is a prefix, and a short one no longer merges every term it starts (models/sql.py).

PostgreSQL has no FTS5 table: nothing to do there (docs/scaling.md says what its plan is).
The models declare the same schema (tests/test_migrations.py compares the two).
"""

from __future__ import annotations

STATEMENTS = (
    'DROP TRIGGER "products_fts_insert"',
    'DROP TRIGGER "products_fts_update"',
    'DROP TRIGGER "products_fts_delete"',
    'DROP TABLE "products_fts"',
    """CREATE VIEW products_fts_source AS
SELECT ((unixepoch(created_at) - 946684800) * 2147483648 + id) AS search_key, title, brand, category, description
FROM products""",
    """CREATE VIRTUAL TABLE products_fts USING fts5(
    title, brand, category, description,
    content='products_fts_source', content_rowid='search_key',
    tokenize='unicode61 remove_diacritics 2', prefix='1 2 3'
)""",
    """CREATE TRIGGER products_fts_insert AFTER INSERT ON products
BEGIN
    SELECT RAISE(ABORT, 'products: an id from 2^31 or an unreadable created_at has no search key') WHERE NEW.id > 2147483647 OR NEW.id < 1 OR unixepoch(NEW.created_at) IS NULL;
    INSERT INTO products_fts (rowid, title, brand, category, description)
    VALUES (((unixepoch(NEW.created_at) - 946684800) * 2147483648 + NEW.id), NEW.title, NEW.brand, NEW.category, NEW.description);
END""",
    """CREATE TRIGGER products_fts_delete AFTER DELETE ON products
BEGIN
    INSERT INTO products_fts (products_fts, rowid, title, brand, category, description)
    VALUES ('delete', ((unixepoch(OLD.created_at) - 946684800) * 2147483648 + OLD.id), OLD.title, OLD.brand, OLD.category, OLD.description);
END""",
    """CREATE TRIGGER products_fts_update
AFTER UPDATE OF title, brand, category, description, created_at, id ON products
BEGIN
    SELECT RAISE(ABORT, 'products: an id from 2^31 or an unreadable created_at has no search key') WHERE NEW.id > 2147483647 OR NEW.id < 1 OR unixepoch(NEW.created_at) IS NULL;
    INSERT INTO products_fts (products_fts, rowid, title, brand, category, description)
    VALUES ('delete', ((unixepoch(OLD.created_at) - 946684800) * 2147483648 + OLD.id), OLD.title, OLD.brand, OLD.category, OLD.description);
    INSERT INTO products_fts (rowid, title, brand, category, description)
    VALUES (((unixepoch(NEW.created_at) - 946684800) * 2147483648 + NEW.id), NEW.title, NEW.brand, NEW.category, NEW.description);
END""",
    "INSERT INTO products_fts (products_fts) VALUES ('rebuild')",
)


def migrate(migrator, database, *, fake=False):
    for statement in STATEMENTS:
        migrator.sql(statement)


def migrate_postgresql(migrator, database):
    # The search document and its GIN index are columns of products there: unchanged.
    pass
