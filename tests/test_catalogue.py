"""The catalogue over HTTP (API.md "Catalogue"): filters, sorts and keyset pages, search
that no input can break, and the admin's product, image and stock routes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time

from shop.api import create_app
from shop.db import database, init_database
from shop.services import catalogue, stock, system
from shop.services.migrations import migrate
from tests import engine

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
BRANDS = ("Barbour", "Hermès", "Levi's")
CATEGORIES = ("coats", "shoes", "bags")


def make(n: int, **over: Any) -> dict[str, Any]:
    """Product n of the test catalogue: created_at and price repeat so sorts hit ties."""
    fields = {
        "sku": f"T-{n:03d}", "title": f"{('Wool', 'Silk', 'Leather')[n % 3]} item {n}",
        "description": "A fine thing.", "brand": BRANDS[n % 3],
        "category": CATEGORIES[(n // 3) % 3], "size": ("S", "M", "L", "42")[n % 4],
        "condition": ("new", "like_new", "good", "fair")[(n // 2) % 4],
        "price_cents": 1000 + (n % 5) * 500, "status": "active", "featured": n % 7 == 0,
    }
    fields.update(over)
    return fields


def _stock_shelf() -> list[dict[str, Any]]:
    """40 active products with a unit each, two active ones with none (not buyable now),
    and a few hidden ones, created four to a minute (ties)."""
    made = []
    for n in range(50):
        status = "active" if n < 42 else ("draft", "sold_out", "archived")[n % 3]
        with freeze_time(T0 + timedelta(minutes=n // 4)):
            product = catalogue.create_product(make(n, status=status))
            if n < 40:
                stock.adjust(product["id"], 1, "restock")
                product["stock_quantity"] = 1
            made.append(product)
    return made


@pytest.fixture(scope="module")
def _shared_shelf(tmp_path_factory, module_database_url
                  ) -> Iterator[tuple[Flask, list[dict[str, Any]]]]:
    path = tmp_path_factory.mktemp("shelf") / "shop.db"
    init_database(module_database_url or path)
    if module_database_url is None:
        migrate()
    app = create_app({"DATABASE": path, "DATABASE_URL": module_database_url or "",
                      "TESTING": True})
    yield app, _stock_shelf()
    database.close()


@pytest.fixture
def reader(_shared_shelf) -> FlaskClient:
    """A client on the shared shelf, for tests that only read it."""
    app, _ = _shared_shelf
    system.configure(app.config["SHOP_SETTINGS"])  # other tests may have moved the database
    return app.test_client()


@pytest.fixture
def shelf(_shared_shelf, reader) -> list[dict[str, Any]]:
    return _shared_shelf[1]


@pytest.fixture
def own_shelf(app) -> list[dict[str, Any]]:
    """A shelf of this test's own, for tests that write to it."""
    return _stock_shelf()


def pages(client, params: dict[str, Any], limit: int, headers=None) -> list[list[dict]]:
    out, cursor = [], None
    for _ in range(200):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        r = client.get("/api/products", query_string=query, headers=headers or {})
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        out.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError("pagination did not end")


def expected(shelf: list[dict], params: dict[str, Any]) -> list[int]:
    """What API.md says a page holds. A shopper sees only what can be bought now: active
    with stock available; an admin asking for a status sees all of it."""
    rows = [p for p in shelf if p["status"] == params.get("status", "active")]
    if "status" not in params:
        rows = [p for p in rows if p["stock_quantity"] > 0]
    for name in ("category", "brand", "size", "condition"):
        if name in params:
            rows = [p for p in rows if p[name] == params[name]]
    if "featured" in params:
        rows = [p for p in rows if p["featured"] == (params["featured"] == "true")]
    rows = [p for p in rows if params.get("min_price_cents", 0) <= p["price_cents"]
            <= params.get("max_price_cents", 10**9)]
    sort = params.get("sort", "newest")
    if sort == "newest":
        rows.sort(key=lambda p: (p["created_at"], p["id"]), reverse=True)
    elif sort == "price_asc":
        rows.sort(key=lambda p: (p["price_cents"], p["id"]))
    else:
        rows.sort(key=lambda p: (p["price_cents"], p["id"]), reverse=True)
    return [p["id"] for p in rows]


FILTERS = [
    {}, {"category": "shoes"}, {"brand": "Hermès"}, {"size": "M"}, {"condition": "fair"},
    {"min_price_cents": 1500, "max_price_cents": 2500}, {"min_price_cents": 3000},
    {"featured": "true"}, {"featured": "false"}, {"category": "coats", "brand": "Barbour"},
    {"brand": "Nobody"},
]
SORTS = [{}, {"sort": "price_asc"}, {"sort": "price_desc"}]


@pytest.mark.parametrize("limit", [1, 3, 7, 100])
@pytest.mark.parametrize(("filters", "sort"), list(itertools.product(FILTERS, SORTS)),
                         ids=lambda v: "&".join(f"{k}={x}" for k, x in v.items()) or "-")
def test_every_filter_and_sort_pages_through_exactly_the_matching_rows(
        reader, shelf, filters, sort, limit) -> None:
    params = {**filters, **sort}
    got = pages(reader, params, limit)
    ids = [p["id"] for page in got for p in page]
    assert ids == expected(shelf, params)
    assert all(len(page) == limit for page in got[:-1])  # only the last page is short
    assert len(got[-1]) <= limit


def test_an_item_has_the_contract_fields_and_only_active_products_are_public(reader, shelf):
    items = [p for page in pages(reader, {}, 100) for p in page]
    assert len(items) == 40 and {p["status"] for p in items} == {"active"}
    assert {"id", "sku", "title", "brand", "category", "size", "condition", "price_cents",
            "stock_quantity", "featured", "images", "created_at"} <= set(items[0])
    assert items[0]["created_at"].endswith("Z")
    hidden = next(p for p in shelf if p["status"] == "draft")
    assert reader.get(f"/api/products/{hidden['id']}").status_code == 404
    shown = reader.get(f"/api/products/{items[0]['id']}")
    assert shown.status_code == 200 and shown.get_json()["product"]["id"] == items[0]["id"]


# "item" is in every title: the search in newest order (a walk of the search key) too.
@pytest.mark.parametrize(("sort", "q"), [("newest", None), ("price_asc", None),
                                         ("price_desc", None), ("newest", "item")])
def test_rows_inserted_between_page_reads_cause_no_duplicates_or_gaps(client, own_shelf,
                                                                      sort, q):
    before = set(expected(own_shelf, {"sort": sort}))
    seen: list[int] = []
    cursor, n = None, 100
    while True:
        query = {"sort": sort, "limit": 6, **({"cursor": cursor} if cursor else {}),
                 **({"q": q} if q else {})}
        body = client.get("/api/products", query_string=query).get_json()
        seen.extend(p["id"] for p in body["items"])
        # Between reads: new products before, inside and after the pages already read.
        for offset in (-30, 5, 60):
            with freeze_time(T0 + timedelta(minutes=offset)):
                catalogue.create_product(make(n, price_cents=1000 + (n % 9) * 250))
            n += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a product was listed twice"
    assert before <= set(seen), "a product that existed throughout was skipped"


HOSTILE = ['"', '""', "'", "*", "coat*", "NEAR(wool silk)", "wool NEAR silk", "(((", ")",
           "title:wool", "-wool", "wool OR", "AND", "NOT silk", "^wool", "wool + silk",
           "\x00", "🧥👢", "%", "_", "\\", "' OR 1=1 --", "a" * 200,
           " ".join(["wool"] * 40), "ÅÄÖ", "\u202e", "{wool}", "[silk]"]


@pytest.mark.parametrize("q", HOSTILE, ids=range(len(HOSTILE)))
def test_search_text_of_any_kind_never_errors(reader, shelf, q) -> None:
    for sort in (None, "newest", "price_asc"):
        params = {"q": q, **({"sort": sort} if sort else {})}
        r = reader.get("/api/products", query_string=params)
        assert r.status_code == 200, (q, r.get_json())
        assert isinstance(r.get_json()["items"], list)


def test_search_finds_words_prefixes_and_ignores_accents_in_relevance_order(reader, shelf):
    ids = [p["id"] for page in pages(reader, {"q": "leather"}, 4) for p in page]
    assert ids and all(shelf[i - 1]["title"].startswith("Leather") for i in ids)
    assert len(ids) == len(set(ids)) == sum(
        1 for p in shelf if p["status"] == "active" and p["stock_quantity"]
        and p["title"].startswith("Leather"))
    assert [p["brand"] for p in pages(reader, {"q": "herm"}, 50)[0]] == ["Hermès"] * 13
    assert pages(reader, {"q": "hermes", "brand": "Barbour"}, 50) == [[]]
    newest = [p["id"] for p in pages(reader, {"q": "silk", "sort": "newest"}, 50)[0]]
    assert newest == [i for i in expected(shelf, {}) if shelf[i - 1]["title"].startswith("Silk")]


def _one_second_shelf(per_second: int) -> list[dict[str, Any]]:
    """36 products, ``per_second`` to a second, and within a second created in the order
    opposite to their ids (later ids earlier by microseconds), some pairs at the very same
    instant, some past the half second (a second's rounding is no boundary of the order):
    search in newest order must follow (created_at, id) exactly, not the order products
    were added."""
    made = []
    for n in range(36):
        second, k = divmod(n, per_second)
        if per_second == 6:
            micro = (0, 0, 200_000, 450_000, 550_000, 999_999)[5 - k]  # k 4 and 5: the same
        else:
            micro = (per_second - 1 - k) // 2 * 57_000  # pairs at one instant, .0 to .969
        with freeze_time(T0 + timedelta(seconds=second, microseconds=micro)):
            product = catalogue.create_product(make(n, title=f"Tweed {('cap', 'coat')[n % 2]}"
                                                    if n % 5 else f"Linen shirt {n}"))
            stock.adjust(product["id"], 1, "restock")
            made.append(product | {"stock_quantity": 1})
    return made


@pytest.mark.parametrize("limit", [1, 2, 5, 7, 100])
@pytest.mark.parametrize("per_second", [6, 36])
def test_search_in_newest_order_pages_through_the_matches_by_created_at_then_id(
        app, limit, per_second) -> None:
    made = _one_second_shelf(per_second)
    client = app.test_client()
    by_id = {p["id"]: p for p in made}
    # Written out: (second, microsecond) of each row, newest first, ids descending on ties.
    tweed = [p for p in made if p["title"].startswith("Tweed")]
    assert len(tweed) == 28
    # "tweed", "cap" and "linen" are in titles only (no brand, category or description).
    for params in ({"q": "tweed"}, {"q": "twe"}, {"q": "tweed cap"},
                   {"q": "tweed", "category": "shoes"}, {"q": "linen"}):
        got = pages(client, {**params, "sort": "newest"}, limit)
        ids = [p["id"] for page in got for p in page]
        words = params["q"].split()
        want = [p for p in made if all(
            any(w.lower().startswith(word) for w in p["title"].split()) for word in words)
            and p["category"] == params.get("category", p["category"])]
        want.sort(key=lambda p: (p["created_at"], p["id"]), reverse=True)
        assert ids == [p["id"] for p in want], params
        assert all(len(page) == limit for page in got[:-1])
        created = [by_id[i]["created_at"] for i in ids]
        assert created == sorted(created, reverse=True)
    # Written out: the newest tweed, by the shelf's n. Second 5 holds n 31..34 at .55,
    # .45, .2 and .0 (n 30 and 35 are linen); second 4 n 24 at .999999, then 26, 27 and
    # 28/29 at the same instant, the higher id first.
    first = [p["id"] for p in pages(client, {"q": "tweed", "sort": "newest"}, 9)[0]]
    if per_second == 6:
        assert [made.index(by_id[i]) for i in first] == [31, 32, 33, 34, 24, 26, 27, 29, 28]
    else:  # one second; n 0 and 1 at .969, 2 and 3 at .912, ... (n 0 and 5 are linen)
        assert [made.index(by_id[i]) for i in first] == [1, 3, 2, 4, 7, 6, 9, 8, 11]


@pytest.mark.parametrize("cursor", ["garbage", "eyJ4IjoxfQ", "W10", "WyJwcm9kdWN0czpuZXdlc3QiXQ",
                                    "!!!!", "a" * 600])
def test_a_tampered_cursor_is_a_400_naming_it(reader, shelf, cursor) -> None:
    r = reader.get("/api/products", query_string={"cursor": cursor})
    assert r.status_code == 400
    assert "cursor" in r.get_json()["error"]["details"]["fields"]


def test_a_cursor_from_another_sort_is_refused(reader, shelf) -> None:
    cursor = reader.get("/api/products", query_string={"limit": 2}).get_json()["next_cursor"]
    r = reader.get("/api/products", query_string={"limit": 2, "cursor": cursor,
                                                  "sort": "price_asc"})
    assert r.status_code == 400


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"sort": "random"}, "sort"),
    ({"condition": "mint"}, "condition"), ({"min_price_cents": -1}, "min_price_cents"),
    ({"category": "Coats!"}, "category"), ({"featured": "maybe"}, "featured"),
    ({"colour": "red"}, "colour"), ({"min_price_cents": "9" * 30}, "min_price_cents"),
])
def test_bad_query_parameters_are_a_400_naming_the_parameter(reader, params, field) -> None:
    r = reader.get("/api/products", query_string=params)
    assert r.status_code == 400
    assert field in r.get_json()["error"]["details"]["fields"]


def test_statuses_other_than_active_are_for_admins(client, own_shelf, admin_headers,
                                                   customer_headers) -> None:
    assert client.get("/api/products?status=draft").status_code == 403
    assert client.get("/api/products?status=draft", headers=customer_headers).status_code == 403
    drafts = pages(client, {"status": "draft"}, 10, headers=admin_headers)[0]
    assert drafts and {p["status"] for p in drafts} == {"draft"}
    assert client.get(f"/api/products/{drafts[0]['id']}", headers=admin_headers
                      ).status_code == 200
    assert client.get("/api/products", headers={"Authorization": "Bearer nope"}
                      ).status_code == 401


# -- admin: products, images, stock ------------------------------------------------------

NEW = {"sku": "COAT-1", "title": "Tweed coat", "category": "coats", "condition": "good",
       "price_cents": 4500}


def test_only_admins_create_products(client, admin_headers, customer_headers) -> None:
    assert client.post("/api/admin/products", json=NEW).status_code == 401
    assert client.post("/api/admin/products", json=NEW, headers=customer_headers
                       ).status_code == 403
    r = client.post("/api/admin/products", json=NEW, headers=admin_headers)
    assert r.status_code == 201
    product = r.get_json()["product"]
    assert product["status"] == "draft" and product["stock_quantity"] == 0
    again = client.post("/api/admin/products", json=NEW, headers=admin_headers)
    assert again.status_code == 409 and "sku" in again.get_json()["error"]["details"]["fields"]


@pytest.mark.parametrize(("change", "field"), [
    ({"category": "Coats"}, "category"), ({"title": "   "}, "title"),
    ({"title": "bad\x00title"}, "title"), ({"title": "x" * 201}, "title"),
    ({"price_cents": 0}, "price_cents"), ({"price_cents": 10**12}, "price_cents"),
    ({"price_cents": "45"}, "price_cents"), ({"condition": "mint"}, "condition"),
    ({"sku": "has space"}, "sku"), ({"stock_quantity": 5}, "stock_quantity"),
    ({"description": "line\x07bell"}, "description"),
])
def test_bad_product_fields_are_a_400_naming_the_field(client, admin_headers, change, field):
    r = client.post("/api/admin/products", json={**NEW, **change}, headers=admin_headers)
    assert r.status_code == 400, r.get_json()
    assert field in r.get_json()["error"]["details"]["fields"]


def test_patch_changes_what_is_sent_and_the_sku_is_fixed_once_stock_moved(
        client, admin_headers, db_path) -> None:
    pid = client.post("/api/admin/products", json=NEW, headers=admin_headers
                      ).get_json()["product"]["id"]
    url = f"/api/admin/products/{pid}"
    r = client.patch(url, json={"price_cents": 3900, "status": "active", "featured": True,
                                "sku": "COAT-2"}, headers=admin_headers)
    assert r.status_code == 200
    product = r.get_json()["product"]
    assert (product["price_cents"], product["status"], product["featured"], product["sku"]) \
        == (3900, "active", True, "COAT-2")
    assert product["title"] == NEW["title"]
    for bad in ({}, {"title": None}, {"price_cents": -5}):
        assert client.patch(url, json=bad, headers=admin_headers).status_code == 400
    assert client.post(f"{url}/stock", json={"qty_change": 1, "reason": "restock"},
                       headers=admin_headers).status_code == 201
    fixed = client.patch(url, json={"sku": "COAT-3"}, headers=admin_headers)
    assert fixed.status_code == 409
    assert client.patch(url, json={"sku": "COAT-2", "title": "Renamed"},
                        headers=admin_headers).status_code == 200
    assert client.patch("/api/admin/products/999999", json={"title": "x"},
                        headers=admin_headers).status_code == 404
    assert client.patch(f"/api/admin/products/{2**64}", json={"title": "x"},
                        headers=admin_headers).status_code == 404


def test_images_attach_in_order_and_show_on_the_product(client, admin_headers) -> None:
    pid = client.post("/api/admin/products", json={**NEW, "status": "active"},
                      headers=admin_headers).get_json()["product"]["id"]
    for n in range(3):
        r = client.post(f"/api/admin/products/{pid}/images", headers=admin_headers,
                        json={"cloudflare_id": f"cf-{n}", "url": f"https://img.test/{n}.jpg",
                              "variants": ["thumb", "public"]})
        assert r.status_code == 201 and r.get_json()["image"]["position"] == n
    bad = client.post(f"/api/admin/products/{pid}/images", headers=admin_headers,
                      json={"cloudflare_id": "x", "url": "javascript:alert(1)"})
    assert bad.status_code == 400 and "url" in bad.get_json()["error"]["details"]["fields"]
    images = client.get(f"/api/products/{pid}").get_json()["product"]["images"]
    assert [i["cloudflare_id"] for i in images] == ["cf-0", "cf-1", "cf-2"]
    stock.adjust(pid, 1, "restock")  # listed once it can be bought
    listed = client.get("/api/products").get_json()["items"][0]
    assert listed["images"] == images


def _moves(db_path) -> int:
    conn = engine.connect(db_path)
    try:
        return conn.execute("SELECT count(*) FROM stock_moves").fetchone()[0]
    finally:
        conn.close()


def test_stock_changes_are_ledger_rows_and_never_go_below_zero(client, admin_headers,
                                                              db_path) -> None:
    pid = client.post("/api/admin/products", json=NEW, headers=admin_headers
                      ).get_json()["product"]["id"]
    url = f"/api/admin/products/{pid}/stock"
    r = client.post(url, json={"qty_change": 3, "reason": "restock"}, headers=admin_headers)
    assert r.status_code == 201
    assert r.get_json()["stock_quantity"] == 3 and r.get_json()["move"]["qty_change"] == 3
    r = client.post(url, json={"qty_change": -1, "reason": "adjustment", "note": "damaged"},
                    headers=admin_headers)
    assert r.status_code == 201 and r.get_json()["stock_quantity"] == 2

    count = _moves(db_path)
    short = client.post(url, json={"qty_change": -3, "reason": "adjustment", "note": "lost"},
                        headers=admin_headers)
    assert short.status_code == 409
    assert short.get_json()["error"]["code"] == "insufficient_stock"
    assert short.get_json()["error"]["details"]["available"] == 2
    for bad, field in (({"qty_change": -1, "reason": "adjustment"}, "note"),
                       ({"qty_change": -1, "reason": "restock"}, "qty_change"),
                       ({"qty_change": 0, "reason": "return"}, "qty_change"),
                       ({"qty_change": 1, "reason": "sale"}, "reason"),
                       ({"qty_change": 10**7, "reason": "restock"}, "qty_change")):
        r = client.post(url, json=bad, headers=admin_headers)
        assert r.status_code == 400 and field in r.get_json()["error"]["details"]["fields"], bad
    assert _moves(db_path) == count  # nothing written by any refusal
    assert client.post("/api/admin/products/99999/stock", headers=admin_headers,
                       json={"qty_change": 1, "reason": "restock"}).status_code == 404


def test_the_ledger_lists_newest_first_in_pages(client, admin_headers) -> None:
    pid = client.post("/api/admin/products", json=NEW, headers=admin_headers
                      ).get_json()["product"]["id"]
    for qty in range(1, 8):
        client.post(f"/api/admin/products/{pid}/stock", headers=admin_headers,
                    json={"qty_change": qty, "reason": "restock"})
    seen, cursor = [], None
    while True:
        r = client.get(f"/api/admin/products/{pid}/moves", headers=admin_headers,
                       query_string={"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200
        seen.extend(m["qty_change"] for m in r.get_json()["items"])
        cursor = r.get_json()["next_cursor"]
        if not cursor:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    assert client.get(f"/api/admin/products/{pid}/moves").status_code == 401
