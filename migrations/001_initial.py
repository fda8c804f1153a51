"""Initial schema: every table, CHECK, UNIQUE, foreign key, index and trigger of DESIGN.md §3-§4.

Written out as SQL and reviewed, not produced by peewee-migrate's auto-diff (which drops
CHECKs, mangles partial indexes and cannot express triggers). Forward-only: to undo it,
restore a backup.
"""

from __future__ import annotations

STATEMENTS = (
    """CREATE TABLE "users" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "email" TEXT NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254 AND email LIKE '%_@_%'),
    "password_hash" TEXT NOT NULL,
    "name" TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    "role" TEXT NOT NULL CHECK (role IN ('customer', 'admin')),
    "created_at" TEXT NOT NULL,
    "updated_at" TEXT NOT NULL
)""",
    'CREATE UNIQUE INDEX "users_email" ON "users" ("email")',
    """CREATE TABLE "sessions" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "user_id" INTEGER NOT NULL,
    "token_hash" TEXT NOT NULL CHECK (length(token_hash) = 64),
    "created_at" TEXT NOT NULL,
    "expires_at" TEXT NOT NULL,
    "revoked_at" TEXT,
    FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE
)""",
    'CREATE INDEX "sessions_user_id" ON "sessions" ("user_id")',
    'CREATE UNIQUE INDEX "sessions_token_hash" ON "sessions" ("token_hash")',
    """CREATE TABLE "password_resets" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "user_id" INTEGER NOT NULL,
    "token_hash" TEXT NOT NULL CHECK (length(token_hash) = 64),
    "created_at" TEXT NOT NULL,
    "expires_at" TEXT NOT NULL,
    "used_at" TEXT,
    FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE
)""",
    'CREATE INDEX "password_resets_user_id" ON "password_resets" ("user_id")',
    'CREATE UNIQUE INDEX "password_resets_token_hash" ON "password_resets" ("token_hash")',
    """CREATE TABLE "addresses" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "user_id" INTEGER NOT NULL,
    "kind" TEXT NOT NULL CHECK (kind IN ('billing', 'delivery')),
    "name" TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    "line1" TEXT NOT NULL CHECK (length(line1) BETWEEN 1 AND 200),
    "line2" TEXT,
    "city" TEXT NOT NULL CHECK (length(city) BETWEEN 1 AND 100),
    "county" TEXT,
    "eircode" TEXT,
    "country" TEXT NOT NULL CHECK (length(country) = 2 AND country = upper(country)),
    "is_default" INTEGER NOT NULL CHECK (is_default IN (0, 1)),
    "created_at" TEXT NOT NULL,
    "updated_at" TEXT NOT NULL,
    FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE
)""",
    'CREATE INDEX "addresses_user_id" ON "addresses" ("user_id")',
    'CREATE UNIQUE INDEX "addresses_one_default" ON "addresses" ("user_id", "kind") WHERE is_default = 1',
    """CREATE TABLE "login_failures" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "email" TEXT NOT NULL,
    "created_at" TEXT NOT NULL
)""",
    'CREATE INDEX "login_failures_email_created_at" ON "login_failures" ("email", "created_at")',
    """CREATE TABLE "sell_submissions" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "batch_id" TEXT NOT NULL,
    "seller_id" INTEGER NOT NULL,
    "status" TEXT NOT NULL CHECK (status IN ('pending', 'reviewing', 'approved', 'rejected', 'withdrawn')),
    "offer_status" TEXT NOT NULL CHECK (offer_status IN ('no_offer', 'offer_sent', 'countered', 'accepted', 'rejected', 'expired')),
    "seller_price_cents" INTEGER CHECK (seller_price_cents IS NULL OR seller_price_cents >= 0),
    "offered_price_cents" INTEGER CHECK (offered_price_cents IS NULL OR offered_price_cents >= 0),
    "final_price_cents" INTEGER CHECK (final_price_cents IS NULL OR final_price_cents >= 0),
    "seller_response" TEXT CHECK (seller_response IS NULL OR seller_response IN ('accept', 'reject', 'counter')),
    "responded_at" TEXT,
    "offer_expires_at" TEXT,
    "payout_status" TEXT NOT NULL CHECK (payout_status IN ('none', 'owed', 'paid')),
    "notes" TEXT NOT NULL,
    "created_at" TEXT NOT NULL,
    "updated_at" TEXT NOT NULL,
    FOREIGN KEY ("seller_id") REFERENCES "users" ("id") ON DELETE RESTRICT,
    CHECK (offer_status = 'no_offer' OR offered_price_cents IS NOT NULL),
    CHECK ((offer_status = 'accepted') = (final_price_cents IS NOT NULL)),
    CHECK ((offer_status = 'accepted') = (payout_status <> 'none'))
)""",
    'CREATE UNIQUE INDEX "sell_submissions_batch_id" ON "sell_submissions" ("batch_id")',
    'CREATE INDEX "sell_submissions_seller_id" ON "sell_submissions" ("seller_id")',
    'CREATE INDEX "sell_submissions_status_offer_status" ON "sell_submissions" ("status", "offer_status")',
    """CREATE TABLE "sell_items" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "submission_id" INTEGER NOT NULL,
    "title" TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    "brand" TEXT NOT NULL,
    "category" TEXT NOT NULL CHECK (length(category) BETWEEN 1 AND 40 AND category NOT GLOB '*[^a-z0-9-]*'),
    "size" TEXT NOT NULL,
    "condition" TEXT NOT NULL CHECK (condition IN ('new', 'like_new', 'good', 'fair')),
    "notes" TEXT NOT NULL,
    "created_at" TEXT NOT NULL,
    FOREIGN KEY ("submission_id") REFERENCES "sell_submissions" ("id") ON DELETE CASCADE
)""",
    'CREATE INDEX "sell_items_submission_id" ON "sell_items" ("submission_id")',
    """CREATE TABLE "offer_events" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "submission_id" INTEGER NOT NULL,
    "actor" TEXT NOT NULL CHECK (actor IN ('shop', 'seller')),
    "actor_user_id" INTEGER,
    "action" TEXT NOT NULL CHECK (action IN ('offer', 'counter', 'accept', 'reject', 'withdraw', 'expire')),
    "amount_cents" INTEGER CHECK (amount_cents IS NULL OR amount_cents >= 0),
    "message" TEXT NOT NULL,
    "created_at" TEXT NOT NULL,
    FOREIGN KEY ("submission_id") REFERENCES "sell_submissions" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("actor_user_id") REFERENCES "users" ("id") ON DELETE RESTRICT,
    CHECK (action NOT IN ('offer', 'counter', 'accept') OR amount_cents IS NOT NULL)
)""",
    'CREATE INDEX "offer_events_submission_id" ON "offer_events" ("submission_id")',
    'CREATE INDEX "offer_events_actor_user_id" ON "offer_events" ("actor_user_id")',
    """CREATE TABLE "products" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "sku" TEXT NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    "title" TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    "description" TEXT NOT NULL,
    "brand" TEXT NOT NULL,
    "category" TEXT NOT NULL CHECK (length(category) BETWEEN 1 AND 40 AND category NOT GLOB '*[^a-z0-9-]*'),
    "size" TEXT NOT NULL,
    "condition" TEXT NOT NULL CHECK (condition IN ('new', 'like_new', 'good', 'fair')),
    "price_cents" INTEGER NOT NULL CHECK (price_cents > 0),
    "status" TEXT NOT NULL CHECK (status IN ('draft', 'active', 'sold_out', 'archived')),
    "featured" INTEGER NOT NULL CHECK (featured IN (0, 1)),
    "stock_quantity" INTEGER NOT NULL CHECK (stock_quantity >= 0),
    "source_item_id" INTEGER,
    "created_at" TEXT NOT NULL,
    "updated_at" TEXT NOT NULL,
    FOREIGN KEY ("source_item_id") REFERENCES "sell_items" ("id") ON DELETE RESTRICT
)""",
    'CREATE UNIQUE INDEX "products_sku" ON "products" ("sku")',
    'CREATE UNIQUE INDEX "products_source_item_id" ON "products" ("source_item_id")',
    'CREATE INDEX "products_category_status" ON "products" ("category", "status")',
    'CREATE INDEX "products_brand" ON "products" ("brand")',
    'CREATE INDEX "products_size" ON "products" ("size")',
    'CREATE INDEX "products_price_cents" ON "products" ("price_cents")',
    'CREATE INDEX "products_status_created_at" ON "products" ("status", "created_at")',
    'CREATE INDEX "products_featured" ON "products" ("status") WHERE featured = 1',
    """CREATE TABLE "images" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "product_id" INTEGER,
    "submission_id" INTEGER,
    "cloudflare_id" TEXT NOT NULL CHECK (length(cloudflare_id) >= 1),
    "url" TEXT NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    "variants" TEXT NOT NULL CHECK (json_valid(variants)),
    "position" INTEGER NOT NULL CHECK (position >= 0),
    "created_at" TEXT NOT NULL,
    FOREIGN KEY ("product_id") REFERENCES "products" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("submission_id") REFERENCES "sell_submissions" ("id") ON DELETE CASCADE,
    CHECK ((product_id IS NULL) <> (submission_id IS NULL))
)""",
    'CREATE INDEX "images_product_id" ON "images" ("product_id")',
    'CREATE INDEX "images_submission_id" ON "images" ("submission_id")',
    """CREATE TABLE "orders" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "order_number" TEXT NOT NULL,
    "user_id" INTEGER NOT NULL,
    "status" TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')),
    "payment_status" TEXT NOT NULL CHECK (payment_status IN ('unpaid', 'paid', 'refunded')),
    "shipping_method" TEXT NOT NULL CHECK (shipping_method IN ('collect', 'deliver')),
    "subtotal_cents" INTEGER NOT NULL CHECK (subtotal_cents >= 0),
    "shipping_cents" INTEGER NOT NULL CHECK (shipping_cents >= 0),
    "total_cents" INTEGER NOT NULL CHECK (total_cents >= 0),
    "delivery_address" TEXT CHECK (delivery_address IS NULL OR json_valid(delivery_address)),
    "idempotency_key" TEXT,
    "request_hash" TEXT,
    "created_at" TEXT NOT NULL,
    "updated_at" TEXT NOT NULL,
    FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE RESTRICT,
    CHECK (total_cents = subtotal_cents + shipping_cents),
    CHECK ((shipping_method = 'deliver') = (delivery_address IS NOT NULL)),
    CHECK ((idempotency_key IS NULL) = (request_hash IS NULL))
)""",
    'CREATE UNIQUE INDEX "orders_order_number" ON "orders" ("order_number")',
    'CREATE UNIQUE INDEX "orders_user_id_idempotency_key" ON "orders" ("user_id", "idempotency_key")',
    'CREATE INDEX "orders_user_id_created_at" ON "orders" ("user_id", "created_at")',
    """CREATE TABLE "order_items" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "order_id" INTEGER NOT NULL,
    "product_id" INTEGER NOT NULL,
    "title" TEXT NOT NULL,
    "unit_price_cents" INTEGER NOT NULL CHECK (unit_price_cents > 0),
    "quantity" INTEGER NOT NULL CHECK (quantity > 0),
    "line_total_cents" INTEGER NOT NULL,
    FOREIGN KEY ("order_id") REFERENCES "orders" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("product_id") REFERENCES "products" ("id") ON DELETE RESTRICT,
    CHECK (line_total_cents = quantity * unit_price_cents)
)""",
    'CREATE INDEX "order_items_product_id" ON "order_items" ("product_id")',
    'CREATE UNIQUE INDEX "order_items_order_id_product_id" ON "order_items" ("order_id", "product_id")',
    """CREATE TABLE "product_reservations" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "product_id" INTEGER NOT NULL,
    "user_id" INTEGER,
    "session_id" TEXT,
    "quantity" INTEGER NOT NULL CHECK (quantity > 0),
    "created_at" TEXT NOT NULL,
    "expires_at" TEXT NOT NULL,
    FOREIGN KEY ("product_id") REFERENCES "products" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE RESTRICT,
    CHECK ((user_id IS NULL) <> (session_id IS NULL))
)""",
    'CREATE INDEX "product_reservations_user_id" ON "product_reservations" ("user_id")',
    'CREATE INDEX "product_reservations_expires_at" ON "product_reservations" ("expires_at")',
    'CREATE UNIQUE INDEX "product_reservations_product_id_user_id" ON "product_reservations" ("product_id", "user_id")',
    'CREATE UNIQUE INDEX "product_reservations_product_id_session_id" ON "product_reservations" ("product_id", "session_id")',
    'CREATE INDEX "product_reservations_session_id" ON "product_reservations" ("session_id")',
    """CREATE TABLE "stock_moves" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "product_id" INTEGER NOT NULL,
    "qty_change" INTEGER NOT NULL CHECK (qty_change <> 0),
    "reason" TEXT NOT NULL CHECK (reason IN ('restock', 'purchase', 'sale', 'return', 'adjustment', 'reserved', 'reservation_released', 'reservation_expired', 'reservation_converted')),
    "order_id" INTEGER,
    "reservation_id" INTEGER,
    "submission_id" INTEGER,
    "actor_id" INTEGER,
    "note" TEXT,
    "created_at" TEXT NOT NULL,
    FOREIGN KEY ("product_id") REFERENCES "products" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("order_id") REFERENCES "orders" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("submission_id") REFERENCES "sell_submissions" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("actor_id") REFERENCES "users" ("id") ON DELETE RESTRICT,
    CHECK ((reason NOT IN ('restock', 'purchase', 'return', 'reservation_released', 'reservation_expired', 'reservation_converted') OR qty_change > 0) AND (reason NOT IN ('sale', 'reserved') OR qty_change < 0)),
    CHECK (reason <> 'adjustment' OR length(trim(coalesce(note, ''))) > 0),
    CHECK (reason NOT LIKE 'reserv%' OR reservation_id IS NOT NULL)
)""",
    'CREATE INDEX "stock_moves_product_id" ON "stock_moves" ("product_id")',
    'CREATE INDEX "stock_moves_order_id" ON "stock_moves" ("order_id")',
    'CREATE INDEX "stock_moves_reservation_id" ON "stock_moves" ("reservation_id")',
    'CREATE INDEX "stock_moves_submission_id" ON "stock_moves" ("submission_id")',
    'CREATE INDEX "stock_moves_actor_id" ON "stock_moves" ("actor_id")',
    """CREATE TABLE "analytics_events" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "event_type" TEXT NOT NULL CHECK (event_type IN ('page_view', 'product_view', 'search', 'add_to_cart', 'remove_from_cart', 'checkout_started', 'sell_started')),
    "user_id" INTEGER,
    "session_id" TEXT,
    "product_id" INTEGER,
    "path" TEXT,
    "metadata" TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
    "created_at" TEXT NOT NULL,
    FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE SET NULL,
    FOREIGN KEY ("product_id") REFERENCES "products" ("id") ON DELETE SET NULL
)""",
    'CREATE INDEX "analytics_events_product_id" ON "analytics_events" ("product_id")',
    'CREATE INDEX "analytics_events_created_at" ON "analytics_events" ("created_at")',
    'CREATE INDEX "analytics_events_event_type_created_at" ON "analytics_events" ("event_type", "created_at")',
    'CREATE INDEX "analytics_events_user_id_created_at" ON "analytics_events" ("user_id", "created_at")',
    """CREATE TABLE "analytics_daily" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "day" TEXT NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    "event_type" TEXT NOT NULL CHECK (event_type IN ('page_view', 'product_view', 'search', 'add_to_cart', 'remove_from_cart', 'checkout_started', 'sell_started')),
    "count" INTEGER NOT NULL CHECK (count >= 0),
    "top_products" TEXT NOT NULL CHECK (json_valid(top_products)),
    "computed_at" TEXT NOT NULL
)""",
    'CREATE UNIQUE INDEX "analytics_daily_day_event_type" ON "analytics_daily" ("day", "event_type")',
    """CREATE TABLE "system_logs" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "level" TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warning', 'error', 'critical')),
    "source" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "context" TEXT CHECK (context IS NULL OR json_valid(context)),
    "created_at" TEXT NOT NULL
)""",
    'CREATE INDEX "system_logs_created_at" ON "system_logs" ("created_at")',
    """CREATE TABLE "audit_logs" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "actor_id" INTEGER NOT NULL,
    "action" TEXT NOT NULL,
    "entity_type" TEXT NOT NULL,
    "entity_id" TEXT NOT NULL,
    "before_state" TEXT CHECK (before_state IS NULL OR json_valid(before_state)),
    "after_state" TEXT CHECK (after_state IS NULL OR json_valid(after_state)),
    "created_at" TEXT NOT NULL,
    FOREIGN KEY ("actor_id") REFERENCES "users" ("id") ON DELETE RESTRICT
)""",
    'CREATE INDEX "audit_logs_actor_id" ON "audit_logs" ("actor_id")',
    'CREATE INDEX "audit_logs_created_at" ON "audit_logs" ("created_at")',
    'CREATE INDEX "audit_logs_entity_type_entity_id" ON "audit_logs" ("entity_type", "entity_id")',
    """CREATE TRIGGER stock_moves_no_update BEFORE UPDATE ON stock_moves
BEGIN
    SELECT RAISE(ABORT, 'stock_moves is append-only');
END""",
    """CREATE TRIGGER stock_moves_no_delete BEFORE DELETE ON stock_moves
BEGIN
    SELECT RAISE(ABORT, 'stock_moves is append-only');
END""",
    """CREATE TRIGGER stock_moves_apply AFTER INSERT ON stock_moves
BEGIN
    UPDATE products SET stock_quantity = stock_quantity + NEW.qty_change
    WHERE id = NEW.product_id;
END""",
    """CREATE TRIGGER products_stock_starts_at_zero BEFORE INSERT ON products
WHEN NEW.stock_quantity <> 0
BEGIN
    SELECT RAISE(ABORT, 'stock_quantity changes only through stock_moves');
END""",
    """CREATE TRIGGER products_stock_follows_ledger BEFORE UPDATE OF stock_quantity ON products
WHEN NEW.stock_quantity IS NOT (
    SELECT coalesce(sum(qty_change), 0) FROM stock_moves WHERE product_id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'stock_quantity changes only through stock_moves');
END""",
    """CREATE TRIGGER offer_events_no_update BEFORE UPDATE ON offer_events
BEGIN
    SELECT RAISE(ABORT, 'offer_events is append-only');
END""",
    """CREATE TRIGGER offer_events_no_delete BEFORE DELETE ON offer_events
BEGIN
    SELECT RAISE(ABORT, 'offer_events is append-only');
END""",
    """CREATE VIRTUAL TABLE products_fts USING fts5(
    title, brand, category, description,
    content='products', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
)""",
    """CREATE TRIGGER products_fts_insert AFTER INSERT ON products
BEGIN
    INSERT INTO products_fts (rowid, title, brand, category, description)
    VALUES (NEW.id, NEW.title, NEW.brand, NEW.category, NEW.description);
END""",
    """CREATE TRIGGER products_fts_delete AFTER DELETE ON products
BEGIN
    INSERT INTO products_fts (products_fts, rowid, title, brand, category, description)
    VALUES ('delete', OLD.id, OLD.title, OLD.brand, OLD.category, OLD.description);
END""",
    """CREATE TRIGGER products_fts_update
AFTER UPDATE OF title, brand, category, description ON products
BEGIN
    INSERT INTO products_fts (products_fts, rowid, title, brand, category, description)
    VALUES ('delete', OLD.id, OLD.title, OLD.brand, OLD.category, OLD.description);
    INSERT INTO products_fts (rowid, title, brand, category, description)
    VALUES (NEW.id, NEW.title, NEW.brand, NEW.category, NEW.description);
END""",
)


def migrate(migrator, database, *, fake=False):
    for statement in STATEMENTS:
        migrator.sql(statement)
