"""The catalogue: browsing and searching products, and the admin's product edits.

Every list shape is served by one index (models/catalog.py): the filters pick an index
range, the sort is that index's order with the id as tie-breaker, and the cursor is the
sort key of the last row, so each page is a bounded range read however deep it is.
Search goes through FTS5; what a user types is turned into quoted terms, never passed
through as query syntax.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from shop import clock
from shop.db import database, engine, write_transaction
from shop.errors import Conflict, NotFound
from shop.models import Image, Product, dialect_sql
from shop.services import audit, holds, media
from shop.services.pagination import DEFAULT_LIMIT, Page, decode_cursor, page_of
from shop.services.photos import MAX_PHOTOS

# sort name -> the key columns, and whether they run descending.
SORTS: dict[str, tuple[tuple[str, str], bool]] = {
    "newest": (("p.created_at", "p.id"), True),
    "price_asc": (("p.price_cents", "p.id"), False),
    "price_desc": (("p.price_cents", "p.id"), True),
}
RELEVANCE = "relevance"
MAX_SEARCH_TERMS = 16
_TERM = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits, as FTS5's unicode61 sees them
# A price range read in newest order takes the plan that costs less: walk the newest index
# and filter (about page x catalogue / rows-in-range rows, read in id order, so mostly
# from pages already read) or read the range by price and sort it (rows-in-range rows,
# each a page of its own: about 8 times the cost of a walked row, measured at 10^6
# products). The two cost the same at sqrt(page x catalogue / 8) rows in the range
# (wide_price_range): 1,620 for a page of 21 at 10^6 products, 512 at 10^5. A fixed bound
# (it was 1,000) suits one catalogue size only. Either plan still grows as the square root
# of the catalogue (about 6 ms at the crossing at 10^6): docs/architecture.md, "Catalogue".
ROW_READ_BY_PRICE_COST = 8


def wide_price_range(catalogue_size: int, rows: int) -> int:
    """How many rows in a price range make walking the newest index cheaper than reading
    the range by price and sorting it, for a catalogue of ``catalogue_size`` products and
    a page of ``rows``."""
    return math.isqrt(rows * max(catalogue_size, 0) // ROW_READ_BY_PRICE_COST)

# The hot path of the shop is written out as SQL: building it with the ORM cost more than
# running it. A page is two statements: the products, then their images in display order
# (a range read of images (product_id, position) per product).
_COLUMNS = ("id", "sku", "title", "description", "brand", "category", "size", "condition",
            "price_cents", "status", "stock_quantity", "featured", "created_at",
            "updated_at")
_SELECT = f"SELECT {', '.join('p.' + c for c in _COLUMNS)}"
_IMAGES = ("SELECT product_id, id, cloudflare_id, url, variants, position, storage_key, width, "
           "height FROM images WHERE product_id IN ({}) ORDER BY product_id, position, id")


@dataclass(frozen=True)
class ProductQuery:
    """What a catalogue page asks for. ``sort`` None means relevance with ``q``, else newest."""

    status: str = "active"
    category: str | None = None
    brand: str | None = None
    size: str | None = None
    condition: str | None = None
    min_price_cents: int | None = None
    max_price_cents: int | None = None
    featured: bool | None = None
    q: str | None = None
    sort: str | None = None
    # Shoppers see only what can be bought now: a product with no unit left to hold
    # (all held in carts, or none yet) stays out of their lists.
    in_stock: bool = False

    @property
    def effective_sort(self) -> str:
        if self.sort is not None:
            return self.sort
        return RELEVANCE if self.q is not None else "newest"


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple[Any, ...]
    # True when the rows come in an order close to the sort's, a bounded few more than a
    # page, for the caller to sort (SQLite's search in newest order: sql.newest_search).
    sort_rows: bool = False


def search_expression(text: str) -> str | None:
    """User text as a safe full-text query (FTS5's on SQLite, a tsquery on PostgreSQL):
    each word a term, all required, the last one a prefix (search as you type). None when
    the text has no searchable word."""
    terms = _TERM.findall(text)[:MAX_SEARCH_TERMS]
    if not terms:
        return None
    return dialect_sql(engine()).search_query([term[:64] for term in terms])


def _conditions(query: ProductQuery, price: str = "p.price_cents") -> tuple[list[str], list]:
    where, params = ["p.status = ?"], [query.status]
    if query.in_stock:
        where.append("p.stock_quantity > 0")
    for name in ("category", "brand", "size", "condition"):
        value = getattr(query, name)
        if value is not None:
            where.append(f"p.{name} = ?")
            params.append(value)
    if query.min_price_cents is not None:
        where.append(f"{price} >= ?")
        params.append(query.min_price_cents)
    if query.max_price_cents is not None:
        where.append(f"{price} <= ?")
        params.append(query.max_price_cents)
    if query.featured is not None:
        # A literal, not a parameter: only `featured = 1` can use the partial index.
        where.append("p.featured = 1" if query.featured else "p.featured = 0")
    return where, params


def price_probe(query: ProductQuery, rows: int = DEFAULT_LIMIT + 1) -> Statement | None:
    """How many rows a price range in newest order holds, counting no further than
    wide_price_range (a bounded read of the price index); None for other shapes. The
    catalogue's size is its highest id (a read of one index entry): an estimate is enough
    to choose a plan, and it never changes a result."""
    ranged = query.min_price_cents is not None or query.max_price_cents is not None
    if not ranged or query.q is not None or query.effective_sort != "newest":
        return None
    (size,) = database.execute_sql("SELECT max(id) FROM products").fetchone()
    where, params = _conditions(query)
    return Statement(f"SELECT count(*) FROM (SELECT 1 FROM products AS p WHERE "
                     f"{' AND '.join(where)} LIMIT ?) AS probe",
                     (*params, wide_price_range(size or 0, rows)))


def _price_column(query: ProductQuery, rows: int) -> str:
    """``p.price_cents``, or ``+p.price_cents`` (which SQLite will not use an index for)
    when a wide price range is read in newest order: the planner's statistics know nothing
    of how prices spread, and would read and sort the whole range."""
    probe = price_probe(query, rows)
    if probe is None:
        return "p.price_cents"
    (count,) = database.execute_sql(probe.sql, probe.params).fetchone()
    return "+p.price_cents" if count >= probe.params[-1] else "p.price_cents"


def _sort_types(sort: str) -> tuple[type, ...]:
    if sort == RELEVANCE:
        return (float, int)
    return (str if sort == "newest" else int, int)


def page_statement(query: ProductQuery, *, limit: int = DEFAULT_LIMIT,
                   cursor: str | None = None) -> Statement | None:
    """The one statement that reads a page (``limit + 1`` rows; for a search in newest
    order on SQLite, those and the rest of one second, unsorted: ``sort_rows``); None when
    a search has no searchable word. Tests and benchmarks EXPLAIN exactly this."""
    sort = query.effective_sort
    after = decode_cursor(cursor, f"products:{sort}", _sort_types(sort)) if cursor else None
    where, params = _conditions(query, _price_column(query, limit + 1))
    search = dialect_sql(engine())
    select, source = _SELECT, "products AS p"
    if query.featured and query.q is None and sort == "newest":
        # The partial index of featured products, named: at 10^6 products SQLite's
        # statistics (sampled) rate it no better than the newest index, whose walk reads
        # about fifty rows for each featured one.
        source = search.FEATURED_NEWEST_SOURCE
    if query.q is not None:
        expression = search_expression(query.q)
        if expression is None:
            return None
        source += search.SEARCH_SOURCE
        where.append(search.SEARCH_WHERE)
        # The query's parameter goes where its text is: in the FROM item, or the WHERE.
        params.insert(0 if "?" in search.SEARCH_SOURCE else len(params), expression)
    if sort == RELEVANCE:
        select += f", {search.SEARCH_RANK} AS search_rank"
        columns, descending = (search.SEARCH_RANK, "p.id"), False
    else:
        columns, descending = SORTS[sort]
    if query.q is not None and sort == "newest" and search.newest_search is not None:
        # Not every match read and sorted: a bounded part of them, walked in newest order
        # (SQLite: the FTS5 key; see sql.newest_search). The caller sorts those few rows.
        sql, values = search.newest_search(select, where, params, after=after,
                                           rows=limit + 1)
        return Statement(sql, values, sort_rows=True)
    if after is not None:
        where.append(f"({', '.join(columns)}) {'<' if descending else '>'} (?, ?)")
        params.extend(after)
    direction = " DESC" if descending else ""
    order = ", ".join(c + direction for c in columns)
    sql = f"{select} FROM {source} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
    return Statement(sql, (*params, limit + 1))


def _products(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as API products, with their images (one statement for the whole page)."""
    products = {r["id"]: {c: r[c] for c in _COLUMNS} | {"images": []} for r in rows}
    if products:
        cursor = database.execute_sql(_IMAGES.format(", ".join("?" * len(products))),
                                      tuple(products))
        for (product_id, image_id, cloudflare_id, url, variants, position, key, width,
             height) in cursor:
            products[product_id]["images"].append(media.image_view({
                "id": image_id, "cloudflare_id": cloudflare_id, "url": url,
                "variants": json.loads(variants), "position": position,
                "storage_key": key, "width": width, "height": height}))
    for product in products.values():
        product["featured"] = bool(product["featured"])
    return list(products.values())


def _rows(statement: Statement) -> list[dict[str, Any]]:
    cursor = database.execute_sql(statement.sql, statement.params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _key_of(sort: str, row: dict[str, Any]) -> list[Any]:
    if sort == RELEVANCE:
        return [row["search_rank"], row["id"]]
    return [row["created_at" if sort == "newest" else "price_cents"], row["id"]]


def list_products(query: ProductQuery, *, limit: int = DEFAULT_LIMIT,
                  cursor: str | None = None) -> Page[dict[str, Any]]:
    """One page of products matching ``query``, in its sort order."""
    statement = page_statement(query, limit=limit, cursor=cursor)
    if statement is None:
        return Page([], None)
    sort = query.effective_sort
    rows = _rows(statement)
    if statement.sort_rows:
        rows.sort(key=lambda r: _key_of(sort, r), reverse=True)
    page = page_of(rows, limit, lambda r: _key_of(sort, r), f"products:{sort}")
    return Page(_products(page.items), page.next_cursor)


def image_data(image: Image) -> dict[str, Any]:
    return media.image_view(media.row_of(image))


def products_by_id(ids: list[int]) -> dict[int, dict[str, Any]]:
    """API products (with images) for these ids, in two statements whatever their number."""
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    rows = _rows(Statement(f"{_SELECT} FROM products AS p WHERE p.id IN ({marks})",
                           tuple(ids)))
    return {p["id"]: p for p in _products(rows)}


def _fetch(product_id: int) -> dict[str, Any] | None:
    rows = _rows(Statement(f"{_SELECT} FROM products AS p WHERE p.id = ?", (product_id,)))
    return _products(rows)[0] if rows else None


def get_product(product_id: int, *, include_unpublished: bool = False) -> dict[str, Any]:
    """One product with its images; 404 for a product a shopper may not see (a draft or
    an archived one). A sold-out one is shown as ``sold_out``: links to it keep working."""
    product = _fetch(product_id)
    if product is None or (product["status"] not in ("active", "sold_out")
                           and not include_unpublished):
        raise NotFound("no such product")
    return product


EDITABLE = ("sku", "title", "description", "brand", "category", "size", "condition",
            "price_cents", "status", "featured")


def create_product(fields: dict[str, Any], *, actor_id: int | None = None) -> dict[str, Any]:
    """A new product with no stock (stock arrives as ledger rows); 409 for a taken sku."""
    now = clock.now()
    values = {k: v for k, v in fields.items() if k in EDITABLE}
    with write_transaction():  # a taken sku is a 409 naming it (errors.refused)
        product = Product.create(**values, created_at=now, updated_at=now)
        created = _fetch(product.id)
        audit.record(actor_id, "product.create", "product", product.id, None, created)
        return created


def update_product(product_id: int, changes: dict[str, Any], *,
                   actor_id: int | None = None) -> dict[str, Any]:
    """Change the given fields. The sku is fixed once stock has moved: the ledger, orders
    and labels already name it."""
    changes = {k: v for k, v in changes.items() if k in EDITABLE}
    with write_transaction():
        product = Product.get_or_none(Product.id == product_id)
        if product is None:
            raise NotFound("no such product")
        if "sku" in changes and changes["sku"] != product.sku and product.ledger_head:
            raise Conflict("the sku cannot change once stock has moved",
                           details={"fields": {"sku": "fixed after the first stock move"}})
        before = _fetch(product_id)
        if changes:
            (Product.update(**changes, updated_at=clock.now())
             .where(Product.id == product_id).execute())
        if changes.get("status", "active") != "active":
            holds.take_off_sale(product_id, actor_id)
        after = _fetch(product_id)
        audit.record(actor_id, "product.update", "product", product_id,
                     {k: before[k] for k in changes}, {k: after[k] for k in changes})
        return after


def _product_images(product_id: int) -> list[Image]:
    return list(Image.select().where(Image.product == product_id)
                .order_by(Image.position, Image.id))


def _room_for_a_photo(product_id: int) -> list[Image]:
    """The product's images; 404 for no product, 409 when it has MAX_PHOTOS already."""
    if not Product.select().where(Product.id == product_id).exists():
        raise NotFound("no such product")
    images = _product_images(product_id)
    if len(images) >= MAX_PHOTOS:
        raise Conflict(f"a product takes at most {MAX_PHOTOS} photos: delete one first",
                       details={"product_id": product_id, "limit": MAX_PHOTOS})
    return images


def add_image(product_id: int, cloudflare_id: str, url: str, variants: list[str], *,
              actor_id: int | None = None) -> dict[str, Any]:
    """Attach a reference to a picture hosted elsewhere, after the product's last image."""
    with write_transaction():
        images = _room_for_a_photo(product_id)
        image = Image.create(product=product_id, cloudflare_id=cloudflare_id, url=url,
                             variants=variants, position=len(images), created_at=clock.now())
        audit.record(actor_id, "product.image", "product", product_id, None,
                     image_data(image))
        return image_data(image)


def add_photo(product_id: int, data: bytes, *, actor_id: int | None = None) -> dict[str, Any]:
    """Upload a photo (after the product's last image): checked and re-encoded, its files
    written, then the row, then the files made sure of (see services/media.py)."""
    _room_for_a_photo(product_id)  # cheap refusals before the work
    stored = media.store(data)
    with write_transaction():
        images = _room_for_a_photo(product_id)
        image = Image.create(product=product_id, storage_key=stored.key, width=stored.width,
                             height=stored.height, variants=list(media.VARIANT_NAMES),
                             position=len(images), created_at=clock.now())
        audit.record(actor_id, "product.image", "product", product_id, None,
                     image_data(image))
        view = image_data(image)
    media.ensure(stored)
    return view


def _product_image(product_id: int, image_id: int) -> list[Image]:
    images = _product_images(product_id)
    if not any(i.id == image_id for i in images):
        raise NotFound("no such image on this product")
    return images


def move_image(product_id: int, image_id: int, position: int, *,
               actor_id: int | None = None) -> list[dict[str, Any]]:
    """Show this image at ``position`` (0 first; past the end: last); the product's images
    in their new order."""
    with write_transaction():
        images = _product_image(product_id, image_id)
        before = [i.id for i in images]
        order = media.arrange(images, image_id, position)
        audit.record(actor_id, "product.images.order", "product", product_id,
                     {"order": before}, {"order": [i.id for i in order]})
        return [image_data(i) for i in order]


def remove_image(product_id: int, image_id: int, *, actor_id: int | None = None) -> None:
    """Delete one image; the others close up. Its files go with ``shop media gc`` once no
    row names them."""
    with write_transaction():
        images = _product_image(product_id, image_id)
        gone = next(i for i in images if i.id == image_id)
        Image.delete().where(Image.id == image_id).execute()
        media.arrange([i for i in images if i.id != image_id])
        audit.record(actor_id, "product.image.delete", "product", product_id,
                     image_data(gone), None)
