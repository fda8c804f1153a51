"""Products and images. Stock is not set here: see ``shop.models.stock``."""

from __future__ import annotations

import peewee
from peewee import Check

from shop.models.base import (
    BaseModel,
    DialectCheck,
    Glob,
    JSONField,
    UtcDateTimeField,
    flag,
    json_text,
    one_of,
)
from shop.models.enums import CONDITIONS, PRODUCT_STATUSES
from shop.models.selling import CATEGORY_SLUG, SellItem, SellSubmission


class Product(BaseModel):
    sku = peewee.TextField(unique=True, constraints=[Check("length(sku) BETWEEN 1 AND 64")])
    title = peewee.TextField(constraints=[Check("length(title) BETWEEN 1 AND 200")])
    description = peewee.TextField(default="")
    # NOCASE: shoppers type "levi's" for "Levi's"; the (status, brand|size, ...) indexes
    # take the column's collation, so the filters stay index range reads (migration 008).
    brand = peewee.TextField(default="", collation="NOCASE")
    category = peewee.TextField(constraints=[DialectCheck(*CATEGORY_SLUG)])
    size = peewee.TextField(default="", collation="NOCASE")
    condition = peewee.TextField(constraints=[one_of("condition", CONDITIONS)])
    price_cents = peewee.IntegerField(constraints=[Check("price_cents > 0")])
    status = peewee.TextField(default="draft", constraints=[one_of("status", PRODUCT_STATUSES)])
    featured = peewee.BooleanField(default=False, constraints=[flag("featured")])
    # Available to sell now; moved only by the stock_moves triggers (see models/sql.py).
    stock_quantity = peewee.IntegerField(default=0, constraints=[Check("stock_quantity >= 0")])
    # RESTRICT: a bought-in seller item stays traceable while its product exists.
    source_item = peewee.ForeignKeyField(SellItem, null=True, unique=True,
                                         on_delete="RESTRICT", backref="products")
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()
    # Id of the last ledger row applied to stock_quantity (0: none yet); set only by the
    # stock_moves_apply trigger. Last, as migration 002 added it with ALTER TABLE.
    ledger_head = peewee.IntegerField(default=0, constraints=[
        peewee.SQL("DEFAULT 0"), Check("ledger_head >= 0")])
    # What the shop paid for a bought-in item (its share of the submission's final price).
    cost_cents = peewee.IntegerField(null=True, constraints=[
        Check("cost_cents IS NULL OR cost_cents >= 0")])

    class Meta:
        table_name = "products"
        # One index per catalogue query shape: equality columns first, the sort column
        # last (the rowid, the tie-breaker, is implicitly after it), so a page is a range
        # read of one index with no temporary sort. See services/catalogue.py.
        indexes = (
            (("status", "created_at"), False),
            (("status", "price_cents"), False),
            (("status", "category", "created_at"), False),
            (("status", "category", "price_cents"), False),
            (("status", "brand", "created_at"), False),
            (("status", "brand", "price_cents"), False),
            (("status", "size", "created_at"), False),
            (("status", "size", "price_cents"), False),
            (("status", "stock_quantity"), False),  # the Today page's low stock (012)
        )


# Featured products are few: a partial index serves the home page's newest-first list.
# Queries must say `featured = 1` literally (a bound parameter cannot match a partial index).
Product.add_index(peewee.ModelIndex(
    Product, (Product.status, Product.created_at), where=peewee.SQL("featured = 1"),
    name="products_featured_status_created_at",
))


class Image(BaseModel):
    """The only source of truth for pictures: belongs to a product or to a submission.

    Either a reference to a picture hosted elsewhere (``cloudflare_id`` and ``url``) or a
    photo the shop stored (``storage_key``, the SHA-256 naming its variant files, and the
    full variant's ``width`` and ``height``): exactly one of the two (migration 009).
    """

    # index=False: (product_id, position) below serves the key and the display order.
    product = peewee.ForeignKeyField(Product, null=True, on_delete="CASCADE", backref="images",
                                     index=False)
    submission = peewee.ForeignKeyField(SellSubmission, null=True, on_delete="CASCADE",
                                        backref="images")
    cloudflare_id = peewee.TextField(null=True, constraints=[
        Check("cloudflare_id IS NULL OR length(cloudflare_id) >= 1")])
    url = peewee.TextField(null=True, constraints=[
        Check("url IS NULL OR length(url) BETWEEN 1 AND 2000")])
    variants = JSONField(default=list, constraints=[json_text("variants")])
    position = peewee.IntegerField(default=0, constraints=[Check("position >= 0")])
    created_at = UtcDateTimeField()
    # A seller's photo of one item of the submission; it goes to that item's product.
    sell_item = peewee.ForeignKeyField(SellItem, null=True, on_delete="CASCADE",
                                       backref="images")
    storage_key = peewee.TextField(null=True, index=True, constraints=[DialectCheck(
        "storage_key IS NULL OR (length(storage_key) = 64 AND ",
        Glob("storage_key", "*[^0-9a-f]*", negate=True), ")")])
    width = peewee.IntegerField(null=True, constraints=[
        Check("width IS NULL OR width BETWEEN 1 AND 100000")])
    height = peewee.IntegerField(null=True, constraints=[
        Check("height IS NULL OR height BETWEEN 1 AND 100000")])

    class Meta:
        table_name = "images"
        constraints = [
            Check("(product_id IS NULL) <> (submission_id IS NULL)"),
            Check("sell_item_id IS NULL OR submission_id IS NOT NULL"),
            Check("CASE WHEN storage_key IS NULL THEN cloudflare_id IS NOT NULL AND url IS NOT "
                  "NULL AND width IS NULL AND height IS NULL ELSE cloudflare_id IS NULL AND "
                  "url IS NULL AND width IS NOT NULL AND height IS NOT NULL END"),
        ]
        indexes = ((("product", "position"), False),)

