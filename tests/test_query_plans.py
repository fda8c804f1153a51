"""Each catalogue query shape reads one index range in sort order: no full SCAN and no
temporary B-tree sort, at a few thousand products with planner statistics, on the first
page and deeper ones. These are the statements the API runs (catalogue.page_statement),
and the page's images are a range read of (product_id, position) per product."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shop.db import database, init_database
from shop.services import catalogue, demo
from shop.services.catalogue import ProductQuery
from shop.services.migrations import migrate

# sqlite_only: SQLite's EXPLAIN QUERY PLAN (PostgreSQL's plans: docs/scaling.md).
pytestmark = pytest.mark.sqlite_only

# shape -> (query, the index that must serve it)
SHAPES = {
    "newest": (ProductQuery(), "products_status_created_at"),
    "price_asc": (ProductQuery(sort="price_asc"), "products_status_price_cents"),
    "price_desc": (ProductQuery(sort="price_desc"), "products_status_price_cents"),
    "category": (ProductQuery(category="coats"), "products_status_category_created_at"),
    "category by price": (ProductQuery(category="shoes", sort="price_asc"),
                          "products_status_category_price_cents"),
    "brand": (ProductQuery(brand="Barbour"), "products_status_brand_created_at"),
    "brand with no active rows": (ProductQuery(brand="Vintage Atelier"),
                                  "products_status_brand_created_at"),
    "brand by price": (ProductQuery(brand="Barbour", sort="price_desc"),
                       "products_status_brand_price_cents"),
    "size": (ProductQuery(size="M"), "products_status_size_created_at"),
    "size by price": (ProductQuery(size="L", sort="price_asc"),
                      "products_status_size_price_cents"),
    "condition": (ProductQuery(condition="fair"), "products_status_created_at"),
    "price range by price": (ProductQuery(min_price_cents=2000, max_price_cents=4000,
                                          sort="price_asc"), "products_status_price_cents"),
    "featured": (ProductQuery(featured=True), "products_featured_status_created_at"),
    "featured in a price range": (ProductQuery(featured=True, min_price_cents=1000,
                                               max_price_cents=60_000),
                                  "products_featured_status_created_at"),
    "admin: drafts": (ProductQuery(status="draft"), "products_status_created_at"),
}


@pytest.fixture(scope="module")
def catalogue_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("plans") / "shop.db"
    init_database(path)
    migrate()
    demo.seed_catalogue(3000)  # refreshes statistics at the end
    yield path
    database.close()


def _plan(query: ProductQuery, cursor: str | None = None) -> list[str]:
    statement = catalogue.page_statement(query, cursor=cursor)
    return [row[3] for row in database.execute_sql(f"EXPLAIN QUERY PLAN {statement.sql}",
                                                   statement.params)]


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_reads_one_index_range_in_sort_order(catalogue_db, shape) -> None:
    init_database(catalogue_db)
    query, index = SHAPES[shape]
    assert database.execute_sql("SELECT count(*) FROM sqlite_stat1").fetchone()[0] > 0
    first = catalogue.list_products(query)
    for cursor in (None, first.next_cursor):
        plan = _plan(query, cursor)
        products = [s for s in plan if s.startswith(("SEARCH p ", "SCAN p "))]
        assert len(products) == 1, plan
        assert products[0].startswith("SEARCH") and f"USING INDEX {index} " in products[0], plan
        assert not any("TEMP B-TREE" in step for step in plan), plan
    if shape == "brand with no active rows":
        assert first.items == []
    else:
        assert first.items and first.next_cursor


# sqlite_stat1 for products as `seed-demo --products 1000000` left it (ANALYZE with
# analysis_limit samples, so the counts disagree): there, SQLite rated the partial index of
# featured products no better than the newest index for featured products in newest order.
STATISTICS_AT_A_MILLION = {
    "products_featured_status_created_at": "11352 1001 1",
    "products_status_created_at": "453024 1001 1",
    "products_status_price_cents": "1048320 1001 251",
    "products_status_category_created_at": "564006 1001 1001 1",
    "products_status_brand_created_at": "519436 1001 667 1",
    "products_status_size_created_at": "782560 1001 1001 1",
    "products_status_stock_quantity": "757620 1001 1001",
}


def test_featured_products_read_their_partial_index_whatever_the_statistics(
        tmp_path) -> None:
    init_database(tmp_path / "shop.db")
    migrate()
    demo.seed_catalogue(500)
    database.execute_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'products'")
    for index, stat in STATISTICS_AT_A_MILLION.items():
        database.execute_sql("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES "
                             "('products', ?, ?)", (index, stat))
    database.execute_sql("ANALYZE sqlite_schema")  # SQLite reads the statistics again
    query = ProductQuery(featured=True)
    first = catalogue.list_products(query)
    assert first.items and all(p["featured"] for p in first.items)
    for cursor in (None, first.next_cursor):
        plan = _plan(query, cursor)
        assert [s for s in plan if s.startswith(("SEARCH p ", "SCAN p "))] == [
            "SEARCH p USING INDEX products_featured_status_created_at (status=?"
            + (")" if cursor is None else " AND created_at<?)")], plan
    database.close()


def test_a_page_of_images_is_read_in_display_order_from_its_index(catalogue_db) -> None:
    init_database(catalogue_db)
    sql = catalogue._IMAGES.format("?, ?, ?")
    plan = [r[3] for r in database.execute_sql(f"EXPLAIN QUERY PLAN {sql}", (1, 2, 3))]
    assert plan == ["SEARCH images USING INDEX images_product_id_position (product_id=?)"]


def test_search_reads_the_full_text_index_and_products_by_key(catalogue_db) -> None:
    init_database(catalogue_db)
    plan = _plan(ProductQuery(q="wool coat"))
    assert any("VIRTUAL TABLE INDEX" in step for step in plan), plan
    assert any("USING INTEGER PRIMARY KEY" in step for step in plan), plan
    assert not any(step.startswith("SCAN p ") for step in plan), plan


@pytest.mark.parametrize("query", [ProductQuery(q="boots", sort="newest"),
                                   ProductQuery(q="b", sort="newest"),
                                   ProductQuery(q="coat", sort="newest", category="coats")],
                         ids=["a word", "a prefix of many", "with a filter"])
def test_search_in_newest_order_walks_the_index_by_key_and_sorts_nothing(catalogue_db,
                                                                         query) -> None:
    """FTS5 hands out the matches newest first (its key, models/sql.py), and the page
    stops after a page: no temp B-tree that would sort every match, and the statement
    returns a page and the rest of one second, however many products match."""
    init_database(catalogue_db)
    expression = catalogue.search_expression(query.q)
    matches = database.execute_sql("SELECT count(*) FROM products_fts WHERE products_fts "
                                   "MATCH ?", (expression,)).fetchone()[0]
    assert matches > 100
    first = catalogue.list_products(query)
    assert len(first.items) == 20 and first.next_cursor
    for cursor in (None, first.next_cursor):
        plan = _plan(query, cursor)
        assert not any("TEMP B-TREE" in step for step in plan), plan
        assert not any(step.startswith("SCAN p ") for step in plan), plan
        assert any(step.startswith("SCAN products_fts VIRTUAL TABLE") for step in plan), plan
        statement = catalogue.page_statement(query, cursor=cursor)
        rows = database.execute_sql(statement.sql, statement.params).fetchall()
        # 21 rows and those of one second: the catalogue makes a product every 7 minutes.
        assert 21 <= len(rows) <= 25, len(rows)


@pytest.mark.parametrize(("low", "high", "index", "sorts"), [
    (500, 60_000, "products_status_created_at", False),  # wide: walk newest-first, filter
    (2_000, 3_000, "products_status_created_at", False),  # 459 rows: past the bound, 88
    (2_000, 2_050, "products_status_price_cents", True),  # narrow: read it, sort the range
])
def test_a_price_range_in_newest_order_takes_the_bounded_plan(catalogue_db, low, high, index,
                                                              sorts) -> None:
    """Walking the newest index reads about 21 x catalogue / in-range rows, reading the
    range by price and sorting it reads the range's rows, each costing about 8 walked
    ones: the walk costs less once the range holds sqrt(21 x 3000 / 8) = 88 rows of this
    catalogue of 3,000 (a bound that grows with the catalogue: 1,620 at 10^6)."""
    init_database(catalogue_db)
    query = ProductQuery(min_price_cents=low, max_price_cents=high)
    in_range = database.execute_sql(
        "SELECT count(*) FROM products WHERE status = 'active' AND price_cents BETWEEN ? AND ?",
        (low, high)).fetchone()[0]
    assert database.execute_sql("SELECT max(id) FROM products").fetchone()[0] == 3000
    assert (in_range >= 88) != sorts, in_range
    plan = _plan(query)
    assert any(s.startswith("SEARCH p ") and f"USING INDEX {index} " in s for s in plan), plan
    assert any("TEMP B-TREE FOR ORDER BY" in step for step in plan) == sorts
    page = catalogue.list_products(query)
    assert page.items and all(low <= p["price_cents"] <= high for p in page.items)


def test_statistics_refresh_themselves_when_a_request_closes(client, db_path,
                                                             monkeypatch) -> None:
    """A catalogue that grew without statistics gets them from the next request's close
    (PRAGMA optimize, at most every OPTIMIZE_EVERY_SECONDS per process: this one is due),
    without anyone running ANALYZE by hand."""
    import sqlite3

    from shop.services import system

    monkeypatch.setattr(system, "_optimize_due", 0.0)

    conn = sqlite3.connect(db_path)
    conn.execute("DELETE FROM sqlite_stat1")
    conn.commit()
    conn.close()
    demo._seed_chunk([demo._generated_product(n) for n in range(1, 501)])  # no ANALYZE
    database.close()
    assert client.get("/api/products?category=coats").status_code == 200
    conn = sqlite3.connect(db_path)
    try:
        tables = {r[0] for r in conn.execute("SELECT tbl FROM sqlite_stat1")}
    finally:
        conn.close()
    assert "products" in tables
