-- The shop's schema as of migration 011_payments, on PostgreSQL: the baseline step of
-- shop.services.migrations.migrate_postgresql. Generated once from the models
-- (baseline_sql()); never edit it: later changes go in migrate_postgresql() of a
-- new migration file.

CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public;

CREATE COLLATION IF NOT EXISTS nocase (
    provider = icu, locale = 'und-u-ks-level2', deterministic = false);

CREATE OR REPLACE FUNCTION json_valid(value text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    PERFORM value::json;
    RETURN true;
EXCEPTION WHEN others THEN
    RETURN false;
END
$$;

CREATE TABLE "users" ("id" SERIAL NOT NULL PRIMARY KEY, "email" TEXT NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254 AND email LIKE '%_@_%'), "password_hash" TEXT NOT NULL, "name" TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200), "role" TEXT NOT NULL CHECK (role IN ('customer', 'admin')), "created_at" TEXT NOT NULL, "updated_at" TEXT NOT NULL);

CREATE UNIQUE INDEX "users_email" ON "users" ("email");

CREATE TABLE "sessions" ("id" SERIAL NOT NULL PRIMARY KEY, "user_id" INTEGER NOT NULL, "token_hash" TEXT NOT NULL CHECK (length(token_hash) = 64), "created_at" TEXT NOT NULL, "expires_at" TEXT NOT NULL, "revoked_at" TEXT, FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE);

CREATE INDEX "sessions_user_id" ON "sessions" ("user_id");

CREATE UNIQUE INDEX "sessions_token_hash" ON "sessions" ("token_hash");

CREATE TABLE "password_resets" ("id" SERIAL NOT NULL PRIMARY KEY, "user_id" INTEGER NOT NULL, "token_hash" TEXT NOT NULL CHECK (length(token_hash) = 64), "created_at" TEXT NOT NULL, "expires_at" TEXT NOT NULL, "used_at" TEXT, FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE);

CREATE INDEX "password_resets_user_id" ON "password_resets" ("user_id");

CREATE UNIQUE INDEX "password_resets_token_hash" ON "password_resets" ("token_hash");

CREATE TABLE "addresses" ("id" SERIAL NOT NULL PRIMARY KEY, "user_id" INTEGER NOT NULL, "kind" TEXT NOT NULL CHECK (kind IN ('billing', 'delivery')), "name" TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200), "line1" TEXT NOT NULL CHECK (length(line1) BETWEEN 1 AND 200), "line2" TEXT, "city" TEXT NOT NULL CHECK (length(city) BETWEEN 1 AND 100), "county" TEXT, "eircode" TEXT, "country" TEXT NOT NULL CHECK (length(country) = 2 AND country = upper(country)), "is_default" SMALLINT NOT NULL CHECK (is_default IN (0, 1)), "created_at" TEXT NOT NULL, "updated_at" TEXT NOT NULL, FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE);

CREATE INDEX "addresses_user_id" ON "addresses" ("user_id");

CREATE UNIQUE INDEX "addresses_one_default" ON "addresses" ("user_id", "kind") WHERE is_default = 1;

CREATE TABLE "login_failures" ("id" SERIAL NOT NULL PRIMARY KEY, "email" TEXT NOT NULL, "created_at" TEXT NOT NULL, "client" TEXT NOT NULL DEFAULT '');

CREATE INDEX "login_failures_email_created_at" ON "login_failures" ("email", "created_at");

CREATE INDEX "login_failures_client_created_at" ON "login_failures" ("client", "created_at");

CREATE TABLE "rate_limit_hits" ("id" SERIAL NOT NULL PRIMARY KEY, "scope" TEXT NOT NULL CHECK (scope IN ('password_reset')), "key" TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 100), "created_at" TEXT NOT NULL);

CREATE INDEX "rate_limit_hits_scope_key_created_at" ON "rate_limit_hits" ("scope", "key", "created_at");

CREATE TABLE "sell_submissions" ("id" SERIAL NOT NULL PRIMARY KEY, "batch_id" TEXT NOT NULL, "seller_id" INTEGER NOT NULL, "status" TEXT NOT NULL CHECK (status IN ('pending', 'reviewing', 'approved', 'rejected', 'withdrawn')), "offer_status" TEXT NOT NULL CHECK (offer_status IN ('no_offer', 'offer_sent', 'countered', 'accepted', 'rejected', 'expired')), "seller_price_cents" INTEGER CHECK (seller_price_cents IS NULL OR seller_price_cents >= 0), "offered_price_cents" INTEGER CHECK (offered_price_cents IS NULL OR offered_price_cents >= 0), "final_price_cents" INTEGER CHECK (final_price_cents IS NULL OR final_price_cents >= 0), "seller_response" TEXT CHECK (seller_response IS NULL OR seller_response IN ('accept', 'reject', 'counter')), "responded_at" TEXT, "offer_expires_at" TEXT, "payout_status" TEXT NOT NULL CHECK (payout_status IN ('none', 'owed', 'paid')), "notes" TEXT NOT NULL, "created_at" TEXT NOT NULL, "updated_at" TEXT NOT NULL, "payout_reference" TEXT, FOREIGN KEY ("seller_id") REFERENCES "users" ("id") ON DELETE RESTRICT, CHECK (offer_status = 'no_offer' OR offered_price_cents IS NOT NULL), CHECK ((offer_status = 'accepted') = (final_price_cents IS NOT NULL)), CHECK ((offer_status = 'accepted') = (payout_status <> 'none')));

CREATE UNIQUE INDEX "sell_submissions_batch_id" ON "sell_submissions" ("batch_id");

CREATE INDEX "sell_submissions_status_offer_status" ON "sell_submissions" ("status", "offer_status");

CREATE INDEX "sell_submissions_status_created_at" ON "sell_submissions" ("status", "created_at");

CREATE INDEX "sell_submissions_offer_status_created_at" ON "sell_submissions" ("offer_status", "created_at");

CREATE INDEX "sell_submissions_offer_status_offer_expires_at" ON "sell_submissions" ("offer_status", "offer_expires_at");

CREATE INDEX "sell_submissions_seller_id_created_at" ON "sell_submissions" ("seller_id", "created_at");

CREATE TABLE "sell_items" ("id" SERIAL NOT NULL PRIMARY KEY, "submission_id" INTEGER NOT NULL, "title" TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200), "brand" TEXT NOT NULL, "category" TEXT NOT NULL CHECK (length(category) BETWEEN 1 AND 40 AND category !~ '^.*[^a-z0-9-].*$'), "size" TEXT NOT NULL, "condition" TEXT NOT NULL CHECK (condition IN ('new', 'like_new', 'good', 'fair')), "notes" TEXT NOT NULL, "created_at" TEXT NOT NULL, "asking_price_cents" INTEGER CHECK (asking_price_cents IS NULL OR asking_price_cents BETWEEN 1 AND 100000000), FOREIGN KEY ("submission_id") REFERENCES "sell_submissions" ("id") ON DELETE CASCADE);

CREATE INDEX "sell_items_submission_id" ON "sell_items" ("submission_id");

CREATE TABLE "offer_events" ("id" SERIAL NOT NULL PRIMARY KEY, "submission_id" INTEGER NOT NULL, "actor" TEXT NOT NULL CHECK (actor IN ('shop', 'seller')), "actor_user_id" INTEGER, "action" TEXT NOT NULL CHECK (action IN ('offer', 'counter', 'accept', 'reject', 'withdraw', 'expire', 'review', 'payout')), "amount_cents" INTEGER CHECK (amount_cents IS NULL OR amount_cents >= 0), "message" TEXT NOT NULL, "created_at" TEXT NOT NULL, FOREIGN KEY ("submission_id") REFERENCES "sell_submissions" ("id") ON DELETE RESTRICT, FOREIGN KEY ("actor_user_id") REFERENCES "users" ("id") ON DELETE RESTRICT, CHECK (action NOT IN ('offer', 'counter', 'accept') OR amount_cents IS NOT NULL));

CREATE INDEX "offer_events_submission_id" ON "offer_events" ("submission_id");

CREATE INDEX "offer_events_actor_user_id" ON "offer_events" ("actor_user_id");

CREATE TABLE "products" ("id" SERIAL NOT NULL PRIMARY KEY, "sku" TEXT NOT NULL CHECK (length(sku) BETWEEN 1 AND 64), "title" TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200), "description" TEXT NOT NULL, "brand" TEXT NOT NULL COLLATE NOCASE, "category" TEXT NOT NULL CHECK (length(category) BETWEEN 1 AND 40 AND category !~ '^.*[^a-z0-9-].*$'), "size" TEXT NOT NULL COLLATE NOCASE, "condition" TEXT NOT NULL CHECK (condition IN ('new', 'like_new', 'good', 'fair')), "price_cents" INTEGER NOT NULL CHECK (price_cents > 0), "status" TEXT NOT NULL CHECK (status IN ('draft', 'active', 'sold_out', 'archived')), "featured" SMALLINT NOT NULL CHECK (featured IN (0, 1)), "stock_quantity" INTEGER NOT NULL CHECK (stock_quantity >= 0), "source_item_id" INTEGER, "created_at" TEXT NOT NULL, "updated_at" TEXT NOT NULL, "ledger_head" INTEGER NOT NULL DEFAULT 0 CHECK (ledger_head >= 0), "cost_cents" INTEGER CHECK (cost_cents IS NULL OR cost_cents >= 0), FOREIGN KEY ("source_item_id") REFERENCES "sell_items" ("id") ON DELETE RESTRICT);

CREATE UNIQUE INDEX "products_sku" ON "products" ("sku");

CREATE UNIQUE INDEX "products_source_item_id" ON "products" ("source_item_id");

CREATE INDEX "products_status_created_at" ON "products" ("status", "created_at");

CREATE INDEX "products_status_price_cents" ON "products" ("status", "price_cents");

CREATE INDEX "products_status_category_created_at" ON "products" ("status", "category", "created_at");

CREATE INDEX "products_status_category_price_cents" ON "products" ("status", "category", "price_cents");

CREATE INDEX "products_status_brand_created_at" ON "products" ("status", "brand", "created_at");

CREATE INDEX "products_status_brand_price_cents" ON "products" ("status", "brand", "price_cents");

CREATE INDEX "products_status_size_created_at" ON "products" ("status", "size", "created_at");

CREATE INDEX "products_status_size_price_cents" ON "products" ("status", "size", "price_cents");

CREATE INDEX "products_featured_status_created_at" ON "products" ("status", "created_at") WHERE featured = 1;

CREATE TABLE "images" ("id" SERIAL NOT NULL PRIMARY KEY, "product_id" INTEGER, "submission_id" INTEGER, "cloudflare_id" TEXT CHECK (cloudflare_id IS NULL OR length(cloudflare_id) >= 1), "url" TEXT CHECK (url IS NULL OR length(url) BETWEEN 1 AND 2000), "variants" TEXT NOT NULL CHECK (json_valid(variants)), "position" INTEGER NOT NULL CHECK (position >= 0), "created_at" TEXT NOT NULL, "sell_item_id" INTEGER, "storage_key" TEXT CHECK (storage_key IS NULL OR (length(storage_key) = 64 AND storage_key !~ '^.*[^0-9a-f].*$')), "width" INTEGER CHECK (width IS NULL OR width BETWEEN 1 AND 100000), "height" INTEGER CHECK (height IS NULL OR height BETWEEN 1 AND 100000), FOREIGN KEY ("product_id") REFERENCES "products" ("id") ON DELETE CASCADE, FOREIGN KEY ("submission_id") REFERENCES "sell_submissions" ("id") ON DELETE CASCADE, FOREIGN KEY ("sell_item_id") REFERENCES "sell_items" ("id") ON DELETE CASCADE, CHECK ((product_id IS NULL) <> (submission_id IS NULL)), CHECK (sell_item_id IS NULL OR submission_id IS NOT NULL), CHECK (CASE WHEN storage_key IS NULL THEN cloudflare_id IS NOT NULL AND url IS NOT NULL AND width IS NULL AND height IS NULL ELSE cloudflare_id IS NULL AND url IS NULL AND width IS NOT NULL AND height IS NOT NULL END));

CREATE INDEX "images_submission_id" ON "images" ("submission_id");

CREATE INDEX "images_sell_item_id" ON "images" ("sell_item_id");

CREATE INDEX "images_storage_key" ON "images" ("storage_key");

CREATE INDEX "images_product_id_position" ON "images" ("product_id", "position");

CREATE TABLE "orders" ("id" SERIAL NOT NULL PRIMARY KEY, "order_number" TEXT NOT NULL, "user_id" INTEGER, "status" TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')), "payment_status" TEXT NOT NULL CHECK (payment_status IN ('unpaid', 'paid', 'refunded', 'partially_refunded')), "shipping_method" TEXT NOT NULL CHECK (shipping_method IN ('collect', 'deliver')), "subtotal_cents" INTEGER NOT NULL CHECK (subtotal_cents >= 0), "shipping_cents" INTEGER NOT NULL CHECK (shipping_cents >= 0), "total_cents" INTEGER NOT NULL CHECK (total_cents >= 0), "delivery_address" TEXT CHECK (delivery_address IS NULL OR json_valid(delivery_address)), "created_at" TEXT NOT NULL, "updated_at" TEXT NOT NULL, "guest_email" TEXT CHECK (guest_email IS NULL OR length(guest_email) BETWEEN 3 AND 254), "access_token_hash" TEXT CHECK (access_token_hash IS NULL OR length(access_token_hash) = 64), FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE RESTRICT, CHECK (total_cents = subtotal_cents + shipping_cents), CHECK ((shipping_method = 'deliver') = (delivery_address IS NOT NULL)), CHECK (user_id IS NOT NULL OR guest_email IS NOT NULL), CHECK ((guest_email IS NULL) = (access_token_hash IS NULL)));

CREATE UNIQUE INDEX "orders_order_number" ON "orders" ("order_number");

CREATE UNIQUE INDEX "orders_access_token_hash" ON "orders" ("access_token_hash");

CREATE INDEX "orders_user_id_created_at" ON "orders" ("user_id", "created_at");

CREATE INDEX "orders_status_created_at" ON "orders" ("status", "created_at");

CREATE INDEX "orders_created_at" ON "orders" ("created_at");

CREATE INDEX "orders_unclaimed_guest_email" ON "orders" ("guest_email") WHERE user_id IS NULL;

CREATE TABLE "order_items" ("id" SERIAL NOT NULL PRIMARY KEY, "order_id" INTEGER NOT NULL, "product_id" INTEGER NOT NULL, "title" TEXT NOT NULL, "unit_price_cents" INTEGER NOT NULL CHECK (unit_price_cents > 0), "quantity" INTEGER NOT NULL CHECK (quantity > 0), "line_total_cents" INTEGER NOT NULL, FOREIGN KEY ("order_id") REFERENCES "orders" ("id") ON DELETE CASCADE, FOREIGN KEY ("product_id") REFERENCES "products" ("id") ON DELETE RESTRICT, CHECK (line_total_cents = quantity * unit_price_cents));

CREATE INDEX "order_items_product_id" ON "order_items" ("product_id");

CREATE UNIQUE INDEX "order_items_order_id_product_id" ON "order_items" ("order_id", "product_id");

CREATE TABLE "idempotency_records" ("id" SERIAL NOT NULL PRIMARY KEY, "user_id" INTEGER NOT NULL, "scope" TEXT NOT NULL CHECK (scope IN ('checkout', 'offer_response')), "key" TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255), "request_hash" TEXT NOT NULL CHECK (length(request_hash) = 64), "status_code" INTEGER NOT NULL CHECK (status_code BETWEEN 200 AND 299), "response" TEXT NOT NULL CHECK (json_valid(response)), "created_at" TEXT NOT NULL, FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE);

CREATE INDEX "idempotency_records_created_at" ON "idempotency_records" ("created_at");

CREATE UNIQUE INDEX "idempotency_records_user_id_scope_key" ON "idempotency_records" ("user_id", "scope", "key");

CREATE TABLE "payments" ("id" SERIAL NOT NULL PRIMARY KEY, "order_id" INTEGER NOT NULL, "kind" TEXT NOT NULL CHECK (kind IN ('charge', 'refund')), "provider" TEXT NOT NULL CHECK (provider IN ('manual', 'stripe')), "status" TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'expired')), "amount_cents" INTEGER NOT NULL CHECK (amount_cents > 0), "currency" TEXT NOT NULL CHECK (length(currency) = 3 AND currency !~ '^.*[^a-z].*$'), "provider_ref" TEXT CHECK (provider_ref IS NULL OR length(provider_ref) BETWEEN 1 AND 255), "payment_intent" TEXT CHECK (payment_intent IS NULL OR length(payment_intent) BETWEEN 1 AND 255), "idempotency_key" TEXT CHECK (idempotency_key IS NULL OR length(idempotency_key) BETWEEN 1 AND 255), "refund_of_id" INTEGER, "refund_reason" TEXT CHECK (refund_reason IS NULL OR refund_reason IN ('cancel', 'return', 'late_payment')), "refund_items" TEXT CHECK (refund_items IS NULL OR json_valid(refund_items)), "checkout_url" TEXT CHECK (checkout_url IS NULL OR length(checkout_url) BETWEEN 1 AND 2000), "expires_at" TEXT, "failure_reason" TEXT CHECK (failure_reason IS NULL OR length(failure_reason) BETWEEN 1 AND 500), "created_at" TEXT NOT NULL, "updated_at" TEXT NOT NULL, FOREIGN KEY ("order_id") REFERENCES "orders" ("id") ON DELETE RESTRICT, FOREIGN KEY ("refund_of_id") REFERENCES "payments" ("id") ON DELETE RESTRICT, CHECK ((kind = 'refund') = (refund_of_id IS NOT NULL)), CHECK ((kind = 'refund') = (refund_reason IS NOT NULL)), CHECK (refund_items IS NULL OR refund_reason = 'return'), CHECK (status <> 'failed' OR failure_reason IS NOT NULL), CHECK (status <> 'expired' OR kind = 'charge'));

CREATE UNIQUE INDEX "payments_provider_ref" ON "payments" ("provider_ref");

CREATE UNIQUE INDEX "payments_idempotency_key" ON "payments" ("idempotency_key");

CREATE INDEX "payments_refund_of_id" ON "payments" ("refund_of_id");

CREATE INDEX "payments_order_id_created_at" ON "payments" ("order_id", "created_at");

CREATE UNIQUE INDEX "payments_one_success" ON "payments" ("order_id") WHERE kind = 'charge' AND status = 'succeeded';

CREATE UNIQUE INDEX "payments_one_open_charge" ON "payments" ("order_id") WHERE kind = 'charge' AND status = 'pending';

CREATE TABLE "webhook_events" ("id" SERIAL NOT NULL PRIMARY KEY, "provider" TEXT NOT NULL CHECK (provider IN ('stripe')), "event_id" TEXT NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255), "event_type" TEXT NOT NULL CHECK (length(event_type) BETWEEN 1 AND 255), "outcome" TEXT NOT NULL CHECK (length(outcome) BETWEEN 1 AND 500), "received_at" TEXT NOT NULL);

CREATE INDEX "webhook_events_received_at" ON "webhook_events" ("received_at");

CREATE UNIQUE INDEX "webhook_events_provider_event_id" ON "webhook_events" ("provider", "event_id");

CREATE TABLE "product_reservations" ("id" SERIAL NOT NULL PRIMARY KEY, "product_id" INTEGER NOT NULL, "user_id" INTEGER, "session_id" TEXT, "quantity" INTEGER NOT NULL CHECK (quantity > 0), "created_at" TEXT NOT NULL, "expires_at" TEXT NOT NULL, FOREIGN KEY ("product_id") REFERENCES "products" ("id") ON DELETE CASCADE, FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE RESTRICT, CHECK ((user_id IS NULL) <> (session_id IS NULL)));

CREATE INDEX "product_reservations_user_id" ON "product_reservations" ("user_id");

CREATE INDEX "product_reservations_expires_at" ON "product_reservations" ("expires_at");

CREATE UNIQUE INDEX "product_reservations_product_id_user_id" ON "product_reservations" ("product_id", "user_id");

CREATE UNIQUE INDEX "product_reservations_product_id_session_id" ON "product_reservations" ("product_id", "session_id");

CREATE INDEX "product_reservations_session_id" ON "product_reservations" ("session_id");

CREATE TABLE "stock_moves" ("id" SERIAL NOT NULL PRIMARY KEY, "product_id" INTEGER NOT NULL, "qty_change" INTEGER NOT NULL CHECK (qty_change <> 0), "reason" TEXT NOT NULL CHECK (reason IN ('restock', 'purchase', 'sale', 'return', 'adjustment', 'reserved', 'reservation_released', 'reservation_expired', 'reservation_converted')), "order_id" INTEGER, "reservation_id" INTEGER, "submission_id" INTEGER, "actor_id" INTEGER, "note" TEXT, "created_at" TEXT NOT NULL, FOREIGN KEY ("product_id") REFERENCES "products" ("id") ON DELETE RESTRICT, FOREIGN KEY ("order_id") REFERENCES "orders" ("id") ON DELETE RESTRICT, FOREIGN KEY ("submission_id") REFERENCES "sell_submissions" ("id") ON DELETE RESTRICT, FOREIGN KEY ("actor_id") REFERENCES "users" ("id") ON DELETE RESTRICT, CHECK ((reason NOT IN ('restock', 'purchase', 'return', 'reservation_released', 'reservation_expired', 'reservation_converted') OR qty_change > 0) AND (reason NOT IN ('sale', 'reserved') OR qty_change < 0)), CHECK (reason <> 'adjustment' OR length(trim(coalesce(note, ''))) > 0), CHECK (reason NOT LIKE 'reserv%' OR reservation_id IS NOT NULL));

CREATE INDEX "stock_moves_product_id" ON "stock_moves" ("product_id");

CREATE INDEX "stock_moves_order_id" ON "stock_moves" ("order_id");

CREATE INDEX "stock_moves_reservation_id" ON "stock_moves" ("reservation_id");

CREATE INDEX "stock_moves_submission_id" ON "stock_moves" ("submission_id");

CREATE INDEX "stock_moves_actor_id" ON "stock_moves" ("actor_id");

CREATE TABLE "analytics_events" ("id" SERIAL NOT NULL PRIMARY KEY, "event_type" TEXT NOT NULL CHECK (event_type IN ('page_view', 'product_view', 'search', 'add_to_cart', 'remove_from_cart', 'checkout_started', 'sell_started')), "user_id" INTEGER, "session_id" TEXT, "product_id" INTEGER, "path" TEXT, "metadata" TEXT CHECK (metadata IS NULL OR json_valid(metadata)), "created_at" TEXT NOT NULL, "client" TEXT, FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE SET NULL, FOREIGN KEY ("product_id") REFERENCES "products" ("id") ON DELETE SET NULL);

CREATE INDEX "analytics_events_product_id" ON "analytics_events" ("product_id");

CREATE INDEX "analytics_events_created_at" ON "analytics_events" ("created_at");

CREATE INDEX "analytics_events_event_type_created_at" ON "analytics_events" ("event_type", "created_at");

CREATE INDEX "analytics_events_user_id_created_at" ON "analytics_events" ("user_id", "created_at");

CREATE INDEX "analytics_events_client_created_at" ON "analytics_events" ("client", "created_at");

CREATE TABLE "analytics_daily" ("id" SERIAL NOT NULL PRIMARY KEY, "day" TEXT NOT NULL CHECK (day ~ '^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$'), "event_type" TEXT NOT NULL CHECK (event_type IN ('page_view', 'product_view', 'search', 'add_to_cart', 'remove_from_cart', 'checkout_started', 'sell_started')), "count" INTEGER NOT NULL CHECK (count >= 0), "top_products" TEXT NOT NULL CHECK (json_valid(top_products)), "computed_at" TEXT NOT NULL);

CREATE UNIQUE INDEX "analytics_daily_day_event_type" ON "analytics_daily" ("day", "event_type");

CREATE TABLE "analytics_totals" ("id" SERIAL NOT NULL PRIMARY KEY, "day" TEXT NOT NULL CHECK (day ~ '^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$'), "orders" INTEGER NOT NULL CHECK (orders >= 0), "revenue_cents" INTEGER NOT NULL CHECK (revenue_cents >= 0), "units_sold" INTEGER NOT NULL CHECK (units_sold >= 0), "offers_accepted" INTEGER NOT NULL CHECK (offers_accepted >= 0), "computed_at" TEXT NOT NULL);

CREATE UNIQUE INDEX "analytics_totals_day" ON "analytics_totals" ("day");

CREATE TABLE "system_logs" ("id" SERIAL NOT NULL PRIMARY KEY, "level" TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warning', 'error', 'critical')), "source" TEXT NOT NULL, "message" TEXT NOT NULL, "context" TEXT CHECK (context IS NULL OR json_valid(context)), "created_at" TEXT NOT NULL);

CREATE INDEX "system_logs_created_at" ON "system_logs" ("created_at");

CREATE TABLE "audit_logs" ("id" SERIAL NOT NULL PRIMARY KEY, "actor_id" INTEGER, "action" TEXT NOT NULL, "entity_type" TEXT NOT NULL, "entity_id" TEXT NOT NULL, "before_state" TEXT CHECK (before_state IS NULL OR json_valid(before_state)), "after_state" TEXT CHECK (after_state IS NULL OR json_valid(after_state)), "created_at" TEXT NOT NULL, FOREIGN KEY ("actor_id") REFERENCES "users" ("id") ON DELETE RESTRICT);

CREATE INDEX "audit_logs_actor_id" ON "audit_logs" ("actor_id");

CREATE INDEX "audit_logs_created_at" ON "audit_logs" ("created_at");

CREATE INDEX "audit_logs_entity_type_entity_id" ON "audit_logs" ("entity_type", "entity_id");

CREATE TABLE "mail_outbox" ("id" SERIAL NOT NULL PRIMARY KEY, "kind" TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 50), "recipient" TEXT NOT NULL CHECK (length(recipient) BETWEEN 3 AND 254), "dedupe_key" TEXT NOT NULL CHECK (length(dedupe_key) BETWEEN 1 AND 400), "params" TEXT NOT NULL CHECK (json_valid(params)), "secret" TEXT, "status" TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')), "attempts" INTEGER NOT NULL CHECK (attempts >= 0), "next_attempt_at" TEXT NOT NULL, "last_error" TEXT CHECK (last_error IS NULL OR length(last_error) <= 1000), "created_at" TEXT NOT NULL, "sent_at" TEXT, CHECK ((status = 'sent') = (sent_at IS NOT NULL)), CHECK (status = 'queued' OR secret IS NULL));

CREATE UNIQUE INDEX "mail_outbox_dedupe_key" ON "mail_outbox" ("dedupe_key");

CREATE INDEX "mail_outbox_status_next_attempt_at" ON "mail_outbox" ("status", "next_attempt_at");

CREATE INDEX "mail_outbox_status_created_at" ON "mail_outbox" ("status", "created_at");

CREATE FUNCTION stock_moves_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stock_moves is append-only' USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER stock_moves_no_update BEFORE UPDATE ON stock_moves
FOR EACH ROW EXECUTE FUNCTION stock_moves_append_only();

CREATE TRIGGER stock_moves_no_delete BEFORE DELETE ON stock_moves
FOR EACH ROW EXECUTE FUNCTION stock_moves_append_only();

CREATE TRIGGER stock_moves_no_truncate BEFORE TRUNCATE ON stock_moves
FOR EACH STATEMENT EXECUTE FUNCTION stock_moves_append_only();

CREATE FUNCTION stock_moves_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE products SET stock_quantity = stock_quantity + NEW.qty_change, ledger_head = NEW.id
    WHERE id = NEW.product_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER stock_moves_apply AFTER INSERT ON stock_moves
FOR EACH ROW EXECUTE FUNCTION stock_moves_apply();

CREATE FUNCTION products_stock_starts_at_zero() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stock_quantity changes only through stock_moves' USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER products_stock_starts_at_zero BEFORE INSERT ON products
FOR EACH ROW WHEN (NEW.stock_quantity <> 0 OR NEW.ledger_head <> 0)
EXECUTE FUNCTION products_stock_starts_at_zero();

CREATE FUNCTION products_stock_follows_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.ledger_head <= OLD.ledger_head
        OR NEW.ledger_head IS DISTINCT FROM (
            SELECT max(id) FROM stock_moves WHERE product_id = NEW.id)
        OR NEW.stock_quantity - OLD.stock_quantity IS DISTINCT FROM (
            SELECT qty_change FROM stock_moves WHERE id = NEW.ledger_head)
    THEN
        RAISE EXCEPTION 'stock_quantity changes only through stock_moves' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER products_stock_follows_ledger
BEFORE UPDATE OF stock_quantity, ledger_head ON products
FOR EACH ROW WHEN (NEW.stock_quantity IS DISTINCT FROM OLD.stock_quantity
    OR NEW.ledger_head IS DISTINCT FROM OLD.ledger_head)
EXECUTE FUNCTION products_stock_follows_ledger();

CREATE FUNCTION offer_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'offer_events is append-only' USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER offer_events_no_update BEFORE UPDATE ON offer_events
FOR EACH ROW EXECUTE FUNCTION offer_events_append_only();

CREATE TRIGGER offer_events_no_delete BEFORE DELETE ON offer_events
FOR EACH ROW EXECUTE FUNCTION offer_events_append_only();

CREATE TRIGGER offer_events_no_truncate BEFORE TRUNCATE ON offer_events
FOR EACH STATEMENT EXECUTE FUNCTION offer_events_append_only();

CREATE FUNCTION shop_unaccent(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT public.unaccent('public.unaccent'::regdictionary, value)
$$;

CREATE FUNCTION products_search_document(
    title text, brand text, category text, description text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('simple', public.shop_unaccent(coalesce(title, ''))), 'A')
        || setweight(to_tsvector('simple', public.shop_unaccent(coalesce(brand, ''))), 'B')
        || setweight(to_tsvector('simple', public.shop_unaccent(coalesce(category, ''))), 'C')
        || setweight(to_tsvector('simple', public.shop_unaccent(coalesce(description, ''))),
                     'D')
$$;

ALTER TABLE products ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    products_search_document(title, brand COLLATE "C", category, description)) STORED;

CREATE INDEX products_search ON products USING gin (search_vector);
