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
# Its rowid is not the product's id but a search key that sorts like the catalogue's
# newest order: the second of created_at (since 2000, as unixepoch rounds it), then the id
# in the low 31 bits. So FTS5 hands out the matches of a search newest first
# (ORDER BY rowid DESC, no sort of all the matches) and the id is ``rowid & ID_MASK``.
# Within one second the key orders by id, not by the exact time: the catalogue sorts that
# one second's rows (services/catalogue.py, newest_search). The source view gives the key
# to FTS5's 'rebuild' and 'integrity-check' (migration 015). The update trigger names its
# columns so stock changes do not rewrite the index; created_at and id move the key.
# The last word of a search is a prefix (search as you type). FTS5 answers a prefix by
# merging the doclists of every term that starts with it before it returns a row (a one-
# letter prefix: 245 ms at 10^6 products, newest order); prefix='1 2 3' keeps a doclist per
# 1-3 letter prefix, so those read one doclist newest first like a word (0.14 ms). Longer
# prefixes start few terms and are merged as before. It costs index space (the FTS5 data
# 92 MB -> 327 MB at 10^6 products) and does not change any match or rank.
ID_BITS = 31
ID_MASK = (1 << ID_BITS) - 1
KEY_EPOCH = 946684800  # 2000-01-01T00:00:00Z: keys fit 64 bits from 1864 to 2136


def search_key(created_at: str, product_id: str) -> str:
    """The SQL for the search key of a product with these column expressions."""
    return (f"((unixepoch({created_at}) - {KEY_EPOCH}) * {ID_MASK + 1} + {product_id})")


_KEY_REFUSED = (f"SELECT RAISE(ABORT, 'products: an id from 2^{ID_BITS} or an unreadable "
                "created_at has no search key') WHERE NEW.id > {mask} OR NEW.id < 1 OR "
                "unixepoch(NEW.created_at) IS NULL;").replace("{mask}", str(ID_MASK))
_FTS_ADD = ("INSERT INTO products_fts (rowid, title, brand, category, description)\n"
            f"    VALUES ({search_key('NEW.created_at', 'NEW.id')}, NEW.title, NEW.brand, "
            "NEW.category, NEW.description);")
_FTS_REMOVE = ("INSERT INTO products_fts (products_fts, rowid, title, brand, category, "
               "description)\n"
               f"    VALUES ('delete', {search_key('OLD.created_at', 'OLD.id')}, OLD.title, "
               "OLD.brand, OLD.category, OLD.description);")
PRODUCT_SEARCH = (
    f"""CREATE VIEW products_fts_source AS
SELECT {search_key('created_at', 'id')} AS search_key, title, brand, category, description
FROM products""",
    """CREATE VIRTUAL TABLE products_fts USING fts5(
    title, brand, category, description,
    content='products_fts_source', content_rowid='search_key',
    tokenize='unicode61 remove_diacritics 2', prefix='1 2 3'
)""",
    f"""CREATE TRIGGER products_fts_insert AFTER INSERT ON products
BEGIN
    {_KEY_REFUSED}
    {_FTS_ADD}
END""",
    f"""CREATE TRIGGER products_fts_delete AFTER DELETE ON products
BEGIN
    {_FTS_REMOVE}
END""",
    f"""CREATE TRIGGER products_fts_update
AFTER UPDATE OF title, brand, category, description, created_at, id ON products
BEGIN
    {_KEY_REFUSED}
    {_FTS_REMOVE}
    {_FTS_ADD}
END""",
)

EXTRA_SCHEMA = STOCK_TRIGGERS + OFFER_EVENT_TRIGGERS + PRODUCT_SEARCH

# The catalogue's search, the query side (shop.services.catalogue; sql_pg has the same
# names): the FTS5 table joined by the id in its key, a MATCH on the quoted terms (the last
# a prefix), and FTS5's rank (lower is better) as the relevance key.
SEARCH_SOURCE = f" JOIN products_fts ON p.id = products_fts.rowid & {ID_MASK}"
SEARCH_WHERE = "products_fts MATCH ?"
SEARCH_RANK = "products_fts.rank"

# Featured products in newest order read the partial index of featured products, named
# (services/catalogue.py says why).
FEATURED_NEWEST_SOURCE = "products AS p INDEXED BY products_featured_status_created_at"


# How many matches past a page the search in newest order reads in its one walk: enough,
# unless more than this many share the second of the page's last row.
NEWEST_SEARCH_SLACK = 10


def newest_search(select: str, where: list[str], params: list, *, after: list | None,
                  rows: int) -> tuple[str, tuple]:
    """A search in newest order that reads a bounded part of the matches, however many
    there are. FTS5 walks the matches by key, newest second first, and stops after
    ``rows`` + NEWEST_SEARCH_SLACK that pass the filters (``head``). The ``rows``-th of
    them is the page's last row; every match of an earlier second is in ``head``, and so
    is the rest of its own second unless ``head`` ends inside that second: only then does
    a second walk read the rest of that second (else its MATCH is an empty phrase). Those
    rows hold the first ``rows`` in exact (created_at, id) order, for the caller to sort;
    one walk of FTS5 in all but that case. After a cursor (created_at, id) the walk starts
    at the end of the cursor's second and keeps the row-value condition.
    ``where``/``params`` are the filters on ``p`` and the MATCH, in order."""
    where, params = list(where), list(params)
    if after is not None:
        where.append("(p.created_at, p.id) < (?, ?)")
        where.append(f"products_fts.rowid < {search_key('?', '0')} + {ID_MASK + 1}")
        params.extend([*after, after[0]])
    source = f"products_fts CROSS JOIN products AS p ON p.id = products_fts.rowid & {ID_MASK}"
    read = rows + NEWEST_SEARCH_SLACK
    lowest = "-9223372036854775807 - 1"
    # The second walk's MATCH is the words only when it is needed, else an empty phrase,
    # which FTS5 answers at once (a constant WHERE term would not spare the MATCH).
    match = where.index(SEARCH_WHERE)
    rest = [*where[:match], "products_fts MATCH (CASE WHEN (SELECT got = ? AND "
            f"last - (last & {ID_MASK}) = low FROM edge) THEN ? ELSE '\"\"' END)",
            *where[match + 1:]]
    before = sum(w.count("?") for w in where[:match])
    rest_params = [*params[:before], read, *params[before:]]
    # The page's last key: the one with rows - 1 keys above it (a few dozen comparisons,
    # no sort).
    sql = (f"WITH head AS MATERIALIZED (SELECT products_fts.rowid AS search_key "
           f"FROM {source} WHERE {' AND '.join(where)} "
           "ORDER BY products_fts.rowid DESC LIMIT ?), "
           "edge AS MATERIALIZED (SELECT "
           f"coalesce((SELECT h.search_key - (h.search_key & {ID_MASK}) FROM head AS h "
           "WHERE (SELECT count(*) FROM head AS g WHERE g.search_key > h.search_key) = ?), "
           f"{lowest}) AS low, "
           f"(SELECT min(search_key) FROM head) AS last, (SELECT count(*) FROM head) AS got) "
           f"{select} FROM head CROSS JOIN products AS p ON p.id = head.search_key & {ID_MASK} "
           "WHERE head.search_key >= (SELECT low FROM edge) "
           f"UNION ALL {select} FROM {source} WHERE {' AND '.join(rest)} "
           "AND products_fts.rowid >= (SELECT low FROM edge) "
           "AND products_fts.rowid < (SELECT last FROM edge)")
    return sql, (*params, read, rows - 1, *rest_params)


def search_query(terms: list[str]) -> str:
    """Words (letters and digits only) as an FTS5 query: each a quoted term, all
    required, the last one a prefix (search as you type)."""
    quoted = [f'"{term}"' for term in terms]
    quoted[-1] += "*"
    return " ".join(quoted)
