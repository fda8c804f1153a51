"""The catalogue: browsing and searching products, and the admin's product edits.

Every list shape is served by one index (models/catalog.py): the filters pick an index
range, the sort is that index's order with the id as tie-breaker, and the cursor is the
sort key of the last row, so each page is a bounded range read however deep it is.
Search goes through FTS5; what a user types is turned into quoted terms, never passed
through as query syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import peewee

from shop import clock
from shop.db import write_transaction
from shop.errors import Conflict, NotFound
from shop.models import Image, Product
from shop.models.catalog import ProductSearch
from shop.services.pagination import DEFAULT_LIMIT, Page, decode_cursor, page_of
from shop.services.refusals import refusal

# sort name -> the key columns, and whether they run descending.
SORTS: dict[str, tuple[tuple[peewee.Field, ...], bool]] = {
    "newest": ((Product.created_at, Product.id), True),
    "price_asc": ((Product.price_cents, Product.id), False),
    "price_desc": ((Product.price_cents, Product.id), True),
}
RELEVANCE = "relevance"
MAX_SEARCH_TERMS = 16
_TERM = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits, as FTS5's unicode61 sees them
_RANK = ProductSearch.rank


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

    @property
    def effective_sort(self) -> str:
        if self.sort is not None:
            return self.sort
        return RELEVANCE if self.q is not None else "newest"


def search_expression(text: str) -> str | None:
    """User text as a safe FTS5 query: each word a quoted term, all required, the last one
    a prefix (search as you type). None when the text has no searchable word."""
    terms = _TERM.findall(text)[:MAX_SEARCH_TERMS]
    if not terms:
        return None
    quoted = [f'"{term[:64]}"' for term in terms]
    quoted[-1] += "*"
    return " ".join(quoted)


# A price range read in newest order: below this many rows in the range, read the range by
# price and sort it; above, walk newest-first and filter (20 hits come within a few hundred
# rows). Either way a page costs a bounded amount, whatever the range.
WIDE_PRICE_RANGE = 1000


def _price_column(query: ProductQuery) -> peewee.Node:
    """``price_cents``, or ``+price_cents`` (which SQLite will not use an index for) when
    a wide price range is read in newest order: the planner's statistics know nothing of
    how prices spread, and would read and sort the whole range."""
    probe = price_probe(query)
    if probe is None or probe.scalar() < WIDE_PRICE_RANGE:
        return Product.price_cents
    return peewee.NodeList((peewee.SQL("+"), Product.price_cents), glue="")


def price_probe(query: ProductQuery) -> peewee.ModelSelect | None:
    """How many rows a price range in newest order holds, counting no further than
    WIDE_PRICE_RANGE (a bounded walk of the price index); None for other shapes."""
    ranged = query.min_price_cents is not None or query.max_price_cents is not None
    if not ranged or query.q is not None or query.effective_sort != "newest":
        return None
    rows = (_filtered(query, Product.price_cents).select(peewee.SQL("1"))
            .limit(WIDE_PRICE_RANGE))
    return Product.select(peewee.fn.count(peewee.SQL("*"))).from_(rows)


def _filtered(query: ProductQuery, price: peewee.Node | None = None) -> peewee.ModelSelect:
    price = price if price is not None else Product.price_cents
    select = Product.select().where(Product.status == query.status)
    for name in ("category", "brand", "size", "condition"):
        value = getattr(query, name)
        if value is not None:
            select = select.where(getattr(Product, name) == value)
    if query.min_price_cents is not None:
        select = select.where(price >= query.min_price_cents)
    if query.max_price_cents is not None:
        select = select.where(price <= query.max_price_cents)
    if query.featured is not None:
        # A literal, not a parameter: only `featured = 1` can use the partial index.
        select = select.where(Product.featured == peewee.SQL("1" if query.featured else "0"))
    return select


def _keyset_query(select: peewee.ModelSelect, sort: str, after: list[Any] | None,
                  limit: int) -> peewee.ModelSelect:
    columns, descending = SORTS[sort]
    if after is not None:
        key, bound = peewee.Tuple(*columns), peewee.Tuple(*after)
        select = select.where(key < bound if descending else key > bound)
    order = [c.desc() if descending else c.asc() for c in columns]
    return select.order_by(*order).limit(limit + 1)


def _matching(select: peewee.ModelSelect, expression: str) -> peewee.ModelSelect:
    return (select.join(ProductSearch, on=(ProductSearch.rowid == Product.id))
            .where(peewee.Expression(ProductSearch.document, "MATCH", expression)))


def _search_query(select: peewee.ModelSelect, expression: str, after: list[Any] | None,
                  limit: int) -> peewee.ModelSelect:
    select = _matching(select, expression).select_extend(_RANK.alias("search_rank"))
    if after is not None:
        select = select.where(peewee.Tuple(_RANK, Product.id) > peewee.Tuple(*after))
    return select.order_by(_RANK, Product.id).limit(limit + 1)


def _sort_key(sort: str) -> tuple[type, ...]:
    if sort == RELEVANCE:
        return (float, int)
    return (str if sort == "newest" else int, int)


def _key_of(sort: str, product: Product) -> list[Any]:
    if sort == RELEVANCE:
        return [product.search_rank, product.id]
    if sort == "newest":
        return [clock.to_text(product.created_at), product.id]
    return [product.price_cents, product.id]


def page_select(query: ProductQuery, *, limit: int = DEFAULT_LIMIT,
                cursor: str | None = None) -> peewee.ModelSelect | None:
    """The one statement that reads a page (``limit + 1`` rows); None when a search has no
    searchable word. Tests and benchmarks EXPLAIN exactly this."""
    sort = query.effective_sort
    after = decode_cursor(cursor, f"products:{sort}", _sort_key(sort)) if cursor else None
    select = _filtered(query, _price_column(query))
    if query.q is None:
        return _keyset_query(select, sort, after, limit)
    expression = search_expression(query.q)
    if expression is None:
        return None
    if sort == RELEVANCE:
        return _search_query(select, expression, after, limit)
    return _keyset_query(_matching(select, expression), sort, after, limit)


def list_products(query: ProductQuery, *, limit: int = DEFAULT_LIMIT,
                  cursor: str | None = None) -> Page[dict[str, Any]]:
    """One page of products matching ``query``, in its sort order."""
    select = page_select(query, limit=limit, cursor=cursor)
    if select is None:
        return Page([], None)
    sort = query.effective_sort
    page = page_of(list(select.objects()), limit, lambda p: _key_of(sort, p),
                   f"products:{sort}")
    return Page(_with_images(page.items), page.next_cursor)


def _with_images(products: list[Product]) -> list[dict[str, Any]]:
    """Products as plain data with their images: one query for the whole page."""
    images: dict[int, list[dict[str, Any]]] = {p.id: [] for p in products}
    if products:
        rows = (Image.select().where(Image.product.in_(list(images)))
                .order_by(Image.product, Image.position, Image.id))
        for image in rows:
            images[image.product_id].append(image_data(image))
    return [product_data(p, images[p.id]) for p in products]


def image_data(image: Image) -> dict[str, Any]:
    return {"id": image.id, "cloudflare_id": image.cloudflare_id, "url": image.url,
            "variants": image.variants, "position": image.position}


def product_data(product: Product, images: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": product.id, "sku": product.sku, "title": product.title,
        "description": product.description, "brand": product.brand,
        "category": product.category, "size": product.size, "condition": product.condition,
        "price_cents": product.price_cents, "status": product.status,
        "stock_quantity": product.stock_quantity, "featured": bool(product.featured),
        "images": images, "created_at": product.created_at, "updated_at": product.updated_at,
    }


def get_product(product_id: int, *, include_unpublished: bool = False) -> dict[str, Any]:
    """One product with its images; 404 for a product a shopper may not see."""
    product = Product.get_or_none(Product.id == product_id)
    if product is None or (product.status != "active" and not include_unpublished):
        raise NotFound("no such product")
    return _with_images([product])[0]


EDITABLE = ("sku", "title", "description", "brand", "category", "size", "condition",
            "price_cents", "status", "featured")


def create_product(fields: dict[str, Any]) -> dict[str, Any]:
    """A new product with no stock (stock arrives as ledger rows); 409 for a taken sku."""
    now = clock.now()
    values = {k: v for k, v in fields.items() if k in EDITABLE}
    with write_transaction():
        try:
            with Product._meta.database.atomic():
                product = Product.create(**values, created_at=now, updated_at=now)
        except peewee.IntegrityError as exc:
            raise refusal(exc, Product) from exc
        return _with_images([product])[0]


def update_product(product_id: int, changes: dict[str, Any]) -> dict[str, Any]:
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
        if changes:
            try:
                with Product._meta.database.atomic():
                    (Product.update(**changes, updated_at=clock.now())
                     .where(Product.id == product_id).execute())
            except peewee.IntegrityError as exc:
                raise refusal(exc, Product) from exc
        return _with_images([Product.get_by_id(product_id)])[0]


def add_image(product_id: int, cloudflare_id: str, url: str,
              variants: list[str]) -> dict[str, Any]:
    """Attach an image after the product's last one."""
    with write_transaction():
        if not Product.select().where(Product.id == product_id).exists():
            raise NotFound("no such product")
        last = (Image.select(peewee.fn.max(Image.position))
                .where(Image.product == product_id).scalar())
        image = Image.create(product=product_id, cloudflare_id=cloudflare_id, url=url,
                             variants=variants, position=0 if last is None else last + 1,
                             created_at=clock.now())
        return image_data(image)
