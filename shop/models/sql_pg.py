"""PostgreSQL's side of ``shop.models.sql``: what Peewee cannot declare, in PL/pgSQL.

The same rules as SQLite's triggers, rule for rule (DESIGN.md §4, §12): each ledger move
applies itself to the balance and the ledger head; the balance moves only along the ledger
(the head guard); a product starts at zero; ``stock_moves`` and ``offer_events`` are
append-only; full-text search over the product text. Refusals are raised as
``integrity_constraint_violation`` (SQLSTATE 23000), so a client sees the same kind of error
(an IntegrityError) as for a CHECK, on either engine.

``PRELUDE`` runs before the tables: the objects the models' shared CHECK and column text
names (``json_valid``, ``COLLATE NOCASE``). ``EXTRA_SCHEMA`` runs after them.
"""

from __future__ import annotations

REFUSED = "USING ERRCODE = 'integrity_constraint_violation'"

PRELUDE = (
    # The search document is folded like SQLite's remove_diacritics (a trusted extension:
    # the database's owner may create it).
    "CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public",
    # SQLite's NOCASE: equal whatever the case (ICU, case-insensitive, accent-sensitive).
    # Nondeterministic: on PostgreSQL < 18, LIKE on such a column needs an explicit COLLATE.
    """CREATE COLLATION IF NOT EXISTS nocase (
    provider = icu, locale = 'und-u-ks-level2', deterministic = false)""",
    # SQLite's json_valid(X): true for well-formed JSON text, false otherwise, NULL for NULL.
    """CREATE OR REPLACE FUNCTION json_valid(value text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    PERFORM value::json;
    RETURN true;
EXCEPTION WHEN others THEN
    RETURN false;
END
$$""",
)


def append_only(table: str) -> tuple[str, ...]:
    """UPDATE, DELETE and TRUNCATE refused. PostgreSQL has no REPLACE: an INSERT naming an
    existing id is a unique violation, and ``INSERT ... ON CONFLICT DO UPDATE`` runs the
    UPDATE trigger, so it is refused too."""
    return (
        f"""CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{table} is append-only' {REFUSED};
END
$$""",
        *(f"""CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table}
FOR EACH ROW EXECUTE FUNCTION {table}_append_only()""" for verb in ("UPDATE", "DELETE")),
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()""",
    )


# The ledger head (DESIGN.md §4). AFTER triggers run once the statement's rows exist, so
# the guard below sees the new move as the product's newest.
APPLY_MOVE = (
    """CREATE FUNCTION stock_moves_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE products SET stock_quantity = stock_quantity + NEW.qty_change, ledger_head = NEW.id
    WHERE id = NEW.product_id;
    RETURN NULL;
END
$$""",
    """CREATE TRIGGER stock_moves_apply AFTER INSERT ON stock_moves
FOR EACH ROW EXECUTE FUNCTION stock_moves_apply()""",
)

STARTS_AT_ZERO = (
    f"""CREATE FUNCTION products_stock_starts_at_zero() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stock_quantity changes only through stock_moves' {REFUSED};
END
$$""",
    """CREATE TRIGGER products_stock_starts_at_zero BEFORE INSERT ON products
FOR EACH ROW WHEN (NEW.stock_quantity <> 0 OR NEW.ledger_head <> 0)
EXECUTE FUNCTION products_stock_starts_at_zero()""",
)

# SQLite's FOLLOWS_LEDGER, the same three conditions. A move's id comes from a sequence
# before any lock is taken: two transactions adding moves to one product must lock the
# product row first (the write path's job), or the later commit of the lower id is refused
# here (refused, never miscounted).
FOLLOWS_LEDGER = (
    f"""CREATE FUNCTION products_stock_follows_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.ledger_head <= OLD.ledger_head
        OR NEW.ledger_head IS DISTINCT FROM (
            SELECT max(id) FROM stock_moves WHERE product_id = NEW.id)
        OR NEW.stock_quantity - OLD.stock_quantity IS DISTINCT FROM (
            SELECT qty_change FROM stock_moves WHERE id = NEW.ledger_head)
    THEN
        RAISE EXCEPTION 'stock_quantity changes only through stock_moves' {REFUSED};
    END IF;
    RETURN NEW;
END
$$""",
    """CREATE TRIGGER products_stock_follows_ledger
BEFORE UPDATE OF stock_quantity, ledger_head ON products
FOR EACH ROW WHEN (NEW.stock_quantity IS DISTINCT FROM OLD.stock_quantity
    OR NEW.ledger_head IS DISTINCT FROM OLD.ledger_head)
EXECUTE FUNCTION products_stock_follows_ledger()""",
)

STOCK_TRIGGERS = (*append_only("stock_moves"), *APPLY_MOVE, *STARTS_AT_ZERO, *FOLLOWS_LEDGER)

OFFER_EVENT_TRIGGERS = append_only("offer_events")

# The search document: a generated column (no writer can set it) weighted title > brand >
# category > description, accents folded, words not stemmed (as SQLite's unicode61), and a
# GIN index. The wrapper names unaccent's dictionary so it may be IMMUTABLE. Every name in
# the bodies is schema-qualified: pg_restore runs with an empty search_path, and computes
# the column for each restored row (a dump must restore: `shop backup`).
PRODUCT_SEARCH = (
    """CREATE FUNCTION shop_unaccent(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT public.unaccent('public.unaccent'::regdictionary, value)
$$""",
    """CREATE FUNCTION products_search_document(
    title text, brand text, category text, description text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('simple', public.shop_unaccent(coalesce(title, ''))), 'A')
        || setweight(to_tsvector('simple', public.shop_unaccent(coalesce(brand, ''))), 'B')
        || setweight(to_tsvector('simple', public.shop_unaccent(coalesce(category, ''))), 'C')
        || setweight(to_tsvector('simple', public.shop_unaccent(coalesce(description, ''))),
                     'D')
$$""",
    """ALTER TABLE products ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    products_search_document(title, brand COLLATE "C", category, description)) STORED""",
    "CREATE INDEX products_search ON products USING gin (search_vector)",
)

# The query side: a shopper's words as websearch_to_tsquery reads them (quotes, OR, -word;
# never a syntax error). Bind the text with search_text().
SEARCH_MATCH = "search_vector @@ websearch_to_tsquery('simple', shop_unaccent(%s))"


def search_text(words: str) -> str:
    """What may be bound into :data:`SEARCH_MATCH`: PostgreSQL text holds no NUL."""
    return words.replace("\x00", " ")


# The catalogue's search as shop.services.catalogue runs it (the same names as in
# shop.models.sql): every word required, the last one a prefix, accents folded; the rank
# negated so that, as with FTS5's, lower is better. The query is a FROM item, bound once.
SEARCH_SOURCE = ", to_tsquery('simple', shop_unaccent(?)) AS search_query"
SEARCH_WHERE = "p.search_vector @@ search_query"
SEARCH_RANK = "(-ts_rank(p.search_vector, search_query))::float8"
# A search in newest order is the ordinary statement here: see docs/scaling.md.
newest_search = None

# PostgreSQL's planner takes the partial index of featured products by itself.
FEATURED_NEWEST_SOURCE = "products AS p"


def search_query(terms: list[str]) -> str:
    """Words (letters and digits only, so no tsquery syntax) as a tsquery: all required,
    the last one a prefix."""
    return " & ".join([*terms[:-1], f"{terms[-1]}:*"])


EXTRA_SCHEMA = STOCK_TRIGGERS + OFFER_EVENT_TRIGGERS + PRODUCT_SEARCH
