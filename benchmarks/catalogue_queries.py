"""Catalogue query shapes at scale: plan, p50/p95, and p95 ÷ a primary-key fetch.

Seeds (or reuses) a catalogue of N products with ``seed-demo --products N``'s generator,
then for every query shape of ``GET /api/products`` prints the plan SQLite chooses, and
p50/p95 over R runs of (1) the page statement alone through raw sqlite3 and (2) the whole
service call (Peewee, the images of the page, building the dicts). Each is divided by
the same measure of a primary-key fetch of one product. Goals (issue: catalogue at
scale): no full SCAN, no temp B-tree sort, every shape's statement p95 ≤ 5 ms. A search in
newest order returns a page and the rest of one second (sql.newest_search), sorted by the
service: its "statement" is that read.
Asserts nothing.

    python benchmarks/catalogue_queries.py                       # 10^5 products
    python benchmarks/catalogue_queries.py --products 20000 --runs 100
    python benchmarks/catalogue_queries.py --database var/bench.db   # keep and reuse it
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import percentile, raw_connect

from shop.db import database, init_database
from shop.services import catalogue, demo
from shop.services.catalogue import ProductQuery
from shop.services.migrations import migrate

SHAPES = {
    "newest (home page)": ProductQuery(),
    "price_asc": ProductQuery(sort="price_asc"),
    "price_desc": ProductQuery(sort="price_desc"),
    "category": ProductQuery(category="coats"),
    "category by price": ProductQuery(category="shoes", sort="price_asc"),
    "brand": ProductQuery(brand="Barbour"),
    "brand, no active rows": ProductQuery(brand="Vintage Atelier"),
    "brand by price": ProductQuery(brand="Barbour", sort="price_desc"),
    "size": ProductQuery(size="M"),
    "size by price": ProductQuery(size="L", sort="price_asc"),
    "condition": ProductQuery(condition="fair"),
    "price range by price": ProductQuery(min_price_cents=2000, max_price_cents=4000,
                                         sort="price_asc"),
    "price range, newest": ProductQuery(min_price_cents=2000, max_price_cents=4000),
    "narrow price, newest": ProductQuery(min_price_cents=15000, max_price_cents=15200),
    "featured": ProductQuery(featured=True),
    "category + brand": ProductQuery(category="shoes", brand="Clarks"),
    "search (relevance)": ProductQuery(q="leather boots"),  # no product matches both
    "search (relevance), 1.7%": ProductQuery(q="cashmere"),  # scores every match
    "search, newest": ProductQuery(q="cashmere", sort="newest"),
    "search 'c', newest": ProductQuery(q="c", sort="newest"),  # a one-letter prefix
    "search + category, newest": ProductQuery(q="cashmere", category="knitwear",
                                              sort="newest"),
    "page 50 of newest": ProductQuery(),
    "page 50 of search, newest": ProductQuery(q="cashmere", sort="newest"),
}
DEEP = {"page 50 of newest", "page 50 of search, newest"}  # read after 49 pages (a cursor)


def _time(fn, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return percentile(samples, 50), percentile(samples, 95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--database", type=Path, help="reuse (or create) this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shop-bench-") as tmp:
        path = args.database or Path(tmp) / "catalogue.db"
        init_database(path)
        migrate()
        started = time.perf_counter()
        created, total = demo.seed_catalogue(
            args.products, on_progress=lambda n: print(".", end="", file=sys.stderr,
                                                       flush=True))
        print(f"\ncatalogue: {total:,} products ({created:,} generated in "
              f"{time.perf_counter() - started:.1f} s)", file=sys.stderr)
        raw = raw_connect(path)
        pk = "SELECT * FROM products WHERE id = ?"
        pk_raw = _time(lambda: raw.execute(pk, (total // 2,)).fetchall(), args.runs)
        pk_service = _time(lambda: catalogue.get_product(total // 2, include_unpublished=True),
                           args.runs)
        cursors = {}
        for name in DEEP:
            cursor = None
            for _ in range(49):
                cursor = catalogue.list_products(SHAPES[name], cursor=cursor).next_cursor
            cursors[name] = cursor
        print(f"primary-key fetch: statement p50 {pk_raw[0]:.3f} ms p95 {pk_raw[1]:.3f} ms; "
              f"service p50 {pk_service[0]:.3f} ms p95 {pk_service[1]:.3f} ms")
        print(f"{'shape':26s} {'stmt p50':>9s} {'stmt p95':>9s} {'÷pk':>6s} "
              f"{'svc p50':>8s} {'svc p95':>8s} {'÷pk':>6s}  plan")
        worst = 0.0
        for name, query in SHAPES.items():
            page_cursor = cursors.get(name)
            statement = catalogue.page_statement(query, cursor=page_cursor)
            sql, params = statement.sql, list(statement.params)
            # A price range in newest order first probes the range (bounded): time it too.
            probe = catalogue.price_probe(query)
            if probe is not None:
                sql = f"SELECT * FROM ({probe.sql}) LEFT JOIN ({sql}) ON 1"
                params = [*probe.params, *params]
            plan = " | ".join(r[3] for r in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            stmt = _time(lambda s=sql, p=params: raw.execute(s, p).fetchall(), args.runs)
            svc = _time(lambda q=query, c=page_cursor: catalogue.list_products(q, cursor=c),
                        args.runs)
            worst = max(worst, stmt[1])
            print(f"{name:26s} {stmt[0]:9.3f} {stmt[1]:9.3f} {stmt[1] / pk_raw[1]:6.1f} "
                  f"{svc[0]:8.3f} {svc[1]:8.3f} {svc[1] / pk_service[1]:6.1f}  {plan}")
        print(f"worst statement p95: {worst:.2f} ms (goal ≤ 5 ms)")
        raw.close()
        database.close()


if __name__ == "__main__":
    main()
