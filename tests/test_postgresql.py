"""The models' schema on PostgreSQL: the same tables, columns, CHECKs, UNIQUEs, foreign key
actions and triggers as on SQLite, and what only PostgreSQL needs proving (ON CONFLICT,
TRUNCATE, full-text search). The rule-by-rule cases run on both engines in
test_constraints.py. The shop does not serve from PostgreSQL yet (docs/scaling.md).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import peewee
import pytest

from shop.introspect import describe, describe_postgresql
from shop.models import ALL_MODELS, Product, create_schema
from shop.models.sql_pg import SEARCH_MATCH, search_text
from tests.populate import populate
from tests.test_catalogue import HOSTILE

T = "'2026-01-01T00:00:00.000000Z'"
# Only the engine's own machinery differs: SQLite's FTS5 table and its triggers, and the
# REPLACE guard (PostgreSQL has no REPLACE; a duplicate id is a unique violation there).
SQLITE_ONLY_TRIGGERS = {"products_fts_insert", "products_fts_delete", "products_fts_update",
                        "stock_moves_no_replace", "offer_events_no_replace"}
POSTGRESQL_ONLY_TRIGGERS = {"stock_moves_no_truncate", "offer_events_no_truncate"}


@pytest.fixture(scope="module")
def sqlite_schema(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = Path(tmp_path_factory.mktemp("schema")) / "models.db"
    db = peewee.SqliteDatabase(str(path))
    with db.bind_ctx(ALL_MODELS):
        create_schema(db)
    db.close()
    conn = sqlite3.connect(path)
    try:
        return describe(conn)
    finally:
        conn.close()


def _index_shapes(schema_indexes: dict, table: str, *, postgresql: bool) -> set:
    """(columns, unique, partial) of every index of a table but the primary key's."""
    shapes = set()
    for info in schema_indexes.values():
        if info["table"] != table:
            continue
        if postgresql:
            if info["primary"] or info["method"] != "btree":
                continue
            shapes.add((tuple(c.strip('"') for c in info["columns"]), info["unique"],
                        bool(info["where"])))
        else:
            if info["origin"] == "pk":
                continue
            columns = tuple(name for _, name, _, _, key in info["columns"] if key)
            shapes.add((columns, info["unique"], info["partial"]))
    return shapes


def test_the_models_schema_is_the_same_on_both_engines(sqlite_schema, pg_populated) -> None:
    pg = describe_postgresql(pg_populated)
    lite = sqlite_schema
    assert set(pg["tables"]) == set(lite["tables"]) - {"products_fts"}
    for table, info in lite["tables"].items():
        if table == "products_fts":
            continue
        mine = pg["tables"][table]
        columns = [(c[0], bool(c[2]) or bool(c[5])) for c in info["columns"]]  # name, NOT NULL
        theirs = [(name, not_null) for name, _type, not_null, generated in mine["columns"]
                  if not generated]
        assert theirs == columns, table
        assert [(t, f, to, d) for t, f, to, _u, d in mine["foreign_keys"]] == \
            [(t, f, to, d) for t, f, to, _u, d, _m in info["foreign_keys"]], table
        assert len(mine["checks"]) == len(info["checks"]), (table, mine["checks"])
        assert _index_shapes(pg["indexes"], table, postgresql=True) == \
            _index_shapes(lite["indexes"], table, postgresql=False), table
    assert set(pg["triggers"]) == \
        (set(lite["triggers"]) - SQLITE_ONLY_TRIGGERS) | POSTGRESQL_ONLY_TRIGGERS
    for name, info in pg["triggers"].items():
        assert info["table"] == lite["triggers"].get(name, info)["table"], name
    # Full-text search: a generated tsvector column with a GIN index.
    assert ("search_vector", "tsvector", False, True) in pg["tables"]["products"]["columns"]
    assert pg["indexes"]["products_search"]["method"] == "gin"
    # The flags keep SQLite's 0/1 (featured = 1 means the same on both engines).
    assert ("featured", "smallint", True, False) in pg["tables"]["products"]["columns"]


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc.__cause__ or exc.__context__, "sqlstate", None) or getattr(
        getattr(exc, "args", [None])[0], "sqlstate", None)


@pytest.mark.parametrize(("table", "values"), [
    ("stock_moves", f"(product_id, qty_change, reason, created_at) VALUES (1, 9, 'restock', {T})"),
    ("offer_events", f"(submission_id, actor, action, amount_cents, message, created_at) "
                     f"VALUES (1, 'shop', 'offer', 9, '', {T})"),
], ids=["stock_moves", "offer_events"])
def test_history_is_append_only_against_upserts_and_truncate(pg_populated, table, values):
    db = pg_populated
    before = db.execute_sql(f"SELECT * FROM {table} ORDER BY id").fetchall()
    cols, rest = values.split(" VALUES ")
    with_id = f"INSERT INTO {table} (id, {cols[1:]} VALUES (1, {rest[1:]}"
    # An existing id: a plain INSERT is a unique violation ...
    with pytest.raises(peewee.IntegrityError) as plain:
        db.execute_sql(with_id)
    assert _sqlstate(plain.value) == "23505"
    # ... and an upsert runs the UPDATE trigger, which refuses it.
    for column in ("created_at", "id"):
        with pytest.raises(peewee.IntegrityError, match="append-only"):
            db.execute_sql(f"{with_id} ON CONFLICT (id) DO UPDATE SET {column} = "
                           f"EXCLUDED.{column}")
    with pytest.raises(peewee.IntegrityError, match="append-only"):
        db.execute_sql(f"TRUNCATE {table} CASCADE")
    assert db.execute_sql(f"SELECT * FROM {table} ORDER BY id").fetchall() == before
    db.execute_sql(f"INSERT INTO {table} {values}")  # an ordinary insert still passes


def test_hostile_search_text_never_errors(pg_populated) -> None:
    db = pg_populated
    for q in HOSTILE:
        rows = db.execute_sql(f"SELECT id FROM products WHERE {SEARCH_MATCH} ORDER BY "
                              f"ts_rank(search_vector, websearch_to_tsquery('simple', "
                              f"shop_unaccent(%s))) DESC, id", (search_text(q),) * 2)
        assert isinstance(rows.fetchall(), list), q


def test_search_folds_accents_and_follows_the_text(pg_populated) -> None:
    db = pg_populated
    Product.update(brand="Hermès", title="Silk scarf").where(Product.id == 2).execute()

    def found(q: str) -> list:
        return [r[0] for r in db.execute_sql(
            f"SELECT id FROM products WHERE {SEARCH_MATCH} ORDER BY id", (q,))]

    assert found("hermes") == [2]
    assert found("HERMÈS scarf") == [2]
    assert found('"silk scarf" -wool') == [2]
    assert found("product") == [1]  # "Product 2" was renamed: the column followed
    with pytest.raises(peewee.DatabaseError):  # no writer sets the document by hand
        db.execute_sql("UPDATE products SET search_vector = to_tsvector('x') WHERE id = 1")


def test_flags_and_brands_keep_sqlite_meaning(pg_populated) -> None:
    db = pg_populated
    Product.update(featured=True).where(Product.id == 1).execute()
    assert db.execute_sql("SELECT id FROM products WHERE featured = 1").fetchall() == [(1,)]
    assert Product.get_by_id(1).featured is True
    Product.update(brand="Levi's").where(Product.id == 1).execute()
    assert db.execute_sql("SELECT id FROM products WHERE brand = 'LEVI''S'").fetchall() == \
        [(1,)]


def test_the_schema_builds_on_an_empty_database_and_takes_the_rows(pg_populated) -> None:
    """The migrations and populate() on PostgreSQL (the template did both): the rows are
    there, and every balance equals its ledger sum."""
    db = pg_populated
    assert db.execute_sql("SELECT count(*) FROM products").fetchone() == (2,)
    assert db.execute_sql(
        "SELECT p.id FROM products p WHERE stock_quantity <> (SELECT coalesce(sum(qty_change), 0)"
        " FROM stock_moves m WHERE m.product_id = p.id) OR ledger_head <> (SELECT max(id)"
        " FROM stock_moves m WHERE m.product_id = p.id)").fetchall() == []


def test_populate_is_the_same_on_both_engines(pg_populated, db) -> None:
    from shop.db import database

    with database.bind_ctx(ALL_MODELS):  # pg_populated bound them to PostgreSQL
        populate()

    for table in ("users", "products", "stock_moves", "orders", "images", "offer_events"):
        lite = [tuple(r) for r in database.execute_sql(f"SELECT * FROM {table} ORDER BY id")]
        pg = [tuple(r)[:len(lite[0])] for r in
              pg_populated.execute_sql(f"SELECT * FROM {table} ORDER BY id")]
        assert pg == lite, table
