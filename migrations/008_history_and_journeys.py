"""History nobody can rewrite, and the columns the finished journeys need (issue 14).

- ``stock_moves`` and ``offer_events`` refuse an INSERT naming an id that exists: an
  ``INSERT OR REPLACE`` would otherwise delete the old row with no DELETE trigger firing
  (``recursive_triggers`` is off) and put a different one in its place.
- ``products``: ``brand`` and ``size`` compare case-insensitively (COLLATE NOCASE, which
  the (status, brand|size, ...) indexes take on, so the filters stay index range reads),
  and ``cost_cents``, what the shop paid for a bought-in item. A rebuild (D1.md's recipe).
- ``orders``: the unused ``idempotency_key``/``request_hash`` columns and their index go
  (``idempotency_records`` serves every keyed route); guest orders get ``guest_email`` and
  ``access_token_hash``, and ``user_id`` may be NULL until an account claims them.
- ``images.sell_item_id``: a seller's photo of one item, which goes to that item's product.
- ``sell_items.asking_price_cents``: the seller's price per item, shares out the final price.
- ``analytics_totals``: the day's orders, revenue, units sold and offers accepted.
"""

from __future__ import annotations

from shop.services.migrations import rebuild_table

NO_REPLACE = tuple(
    f"""CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table}
WHEN EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, '{table} is append-only');
END"""
    for table in ("stock_moves", "offer_events")
)

PRODUCTS = """CREATE TABLE "products" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "sku" TEXT NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    "title" TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    "description" TEXT NOT NULL,
    "brand" TEXT NOT NULL COLLATE NOCASE,
    "category" TEXT NOT NULL CHECK (length(category) BETWEEN 1 AND 40 AND category NOT GLOB '*[^a-z0-9-]*'),
    "size" TEXT NOT NULL COLLATE NOCASE,
    "condition" TEXT NOT NULL CHECK (condition IN ('new', 'like_new', 'good', 'fair')),
    "price_cents" INTEGER NOT NULL CHECK (price_cents > 0),
    "status" TEXT NOT NULL CHECK (status IN ('draft', 'active', 'sold_out', 'archived')),
    "featured" INTEGER NOT NULL CHECK (featured IN (0, 1)),
    "stock_quantity" INTEGER NOT NULL CHECK (stock_quantity >= 0),
    "source_item_id" INTEGER,
    "created_at" TEXT NOT NULL,
    "updated_at" TEXT NOT NULL,
    "ledger_head" INTEGER NOT NULL DEFAULT 0 CHECK (ledger_head >= 0),
    "cost_cents" INTEGER CHECK (cost_cents IS NULL OR cost_cents >= 0),
    FOREIGN KEY ("source_item_id") REFERENCES "sell_items" ("id") ON DELETE RESTRICT
)"""

ORDERS = """CREATE TABLE "orders" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "order_number" TEXT NOT NULL,
    "user_id" INTEGER,
    "status" TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')),
    "payment_status" TEXT NOT NULL CHECK (payment_status IN ('unpaid', 'paid', 'refunded')),
    "shipping_method" TEXT NOT NULL CHECK (shipping_method IN ('collect', 'deliver')),
    "subtotal_cents" INTEGER NOT NULL CHECK (subtotal_cents >= 0),
    "shipping_cents" INTEGER NOT NULL CHECK (shipping_cents >= 0),
    "total_cents" INTEGER NOT NULL CHECK (total_cents >= 0),
    "delivery_address" TEXT CHECK (delivery_address IS NULL OR json_valid(delivery_address)),
    "created_at" TEXT NOT NULL,
    "updated_at" TEXT NOT NULL,
    "guest_email" TEXT CHECK (guest_email IS NULL OR length(guest_email) BETWEEN 3 AND 254),
    "access_token_hash" TEXT CHECK (access_token_hash IS NULL OR length(access_token_hash) = 64),
    FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE RESTRICT,
    CHECK (total_cents = subtotal_cents + shipping_cents),
    CHECK ((shipping_method = 'deliver') = (delivery_address IS NOT NULL)),
    CHECK (user_id IS NOT NULL OR guest_email IS NOT NULL),
    CHECK ((guest_email IS NULL) = (access_token_hash IS NULL))
)"""
ORDER_COLUMNS = ["id", "order_number", "user_id", "status", "payment_status",
                 "shipping_method", "subtotal_cents", "shipping_cents", "total_cents",
                 "delivery_address", "created_at", "updated_at"]

IMAGES = """CREATE TABLE "images" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "product_id" INTEGER,
    "submission_id" INTEGER,
    "cloudflare_id" TEXT NOT NULL CHECK (length(cloudflare_id) >= 1),
    "url" TEXT NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    "variants" TEXT NOT NULL CHECK (json_valid(variants)),
    "position" INTEGER NOT NULL CHECK (position >= 0),
    "created_at" TEXT NOT NULL,
    "sell_item_id" INTEGER,
    FOREIGN KEY ("product_id") REFERENCES "products" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("submission_id") REFERENCES "sell_submissions" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("sell_item_id") REFERENCES "sell_items" ("id") ON DELETE CASCADE,
    CHECK ((product_id IS NULL) <> (submission_id IS NULL)),
    CHECK (sell_item_id IS NULL OR submission_id IS NOT NULL)
)"""

AFTER = (
    'CREATE UNIQUE INDEX "orders_access_token_hash" ON "orders" ("access_token_hash")',
    'CREATE INDEX "orders_unclaimed_guest_email" ON "orders" ("guest_email") WHERE user_id IS NULL',
    'CREATE INDEX "images_sell_item_id" ON "images" ("sell_item_id")',
    'ALTER TABLE "sell_items" ADD COLUMN "asking_price_cents" INTEGER CHECK (asking_price_cents IS NULL OR asking_price_cents BETWEEN 1 AND 100000000)',
    """CREATE TABLE "analytics_totals" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "day" TEXT NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    "orders" INTEGER NOT NULL CHECK (orders >= 0),
    "revenue_cents" INTEGER NOT NULL CHECK (revenue_cents >= 0),
    "units_sold" INTEGER NOT NULL CHECK (units_sold >= 0),
    "offers_accepted" INTEGER NOT NULL CHECK (offers_accepted >= 0),
    "computed_at" TEXT NOT NULL
)""",
    'CREATE UNIQUE INDEX "analytics_totals_day" ON "analytics_totals" ("day")',
)


def migrate(migrator, database, *, fake=False):
    for statement in NO_REPLACE:
        migrator.sql(statement)
    migrator.run(rebuild_table, "products", PRODUCTS)
    migrator.sql('DROP INDEX "orders_user_id_idempotency_key"')
    migrator.run(rebuild_table, "orders", ORDERS, copy_columns=ORDER_COLUMNS)
    migrator.run(rebuild_table, "images", IMAGES)
    for statement in AFTER:
        migrator.sql(statement)
