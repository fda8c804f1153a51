"""Payments through a provider (issue 16): ``payments``, ``webhook_events``, and two
constraint changes.

- ``orders.payment_status`` gains ``partially_refunded`` (a return refunds part of a Stripe
  charge). A CHECK cannot be altered in SQLite, so ``orders`` is rebuilt (D1.md's recipe,
  as 008 did; ``order_items`` and the ledger's rows are kept by ``rebuild_table``). A new
  column beside ``payment_status`` was the alternative; it was not taken because the order
  would then carry its payment state in two places that can disagree, and every reader
  (views, rollups, the owner's filters) would need both.
- ``audit_logs.actor_id`` may be NULL: the shop itself acts on what the provider says (a
  payment refused for a wrong amount, a late payment refunded), and the owner must see it
  in the audit log. A rebuild too (``audit_logs`` has no children).
- ``payments``: every charge and refund; at most one succeeded and one open charge per
  order (partial unique indexes), provider references and idempotency keys unique.
- ``webhook_events``: each provider event id once.

Numbered 011: 010 is the mail outbox's, written beside this one. peewee-migrate applies
files in name order with no need for contiguous numbers, and neither file depends on the
other.
"""

from __future__ import annotations

from shop.services.migrations import rebuild_table

ORDERS = """CREATE TABLE "orders" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "order_number" TEXT NOT NULL,
    "user_id" INTEGER,
    "status" TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')),
    "payment_status" TEXT NOT NULL CHECK (payment_status IN ('unpaid', 'paid', 'refunded', 'partially_refunded')),
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

AUDIT_LOGS = """CREATE TABLE "audit_logs" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "actor_id" INTEGER,
    "action" TEXT NOT NULL,
    "entity_type" TEXT NOT NULL,
    "entity_id" TEXT NOT NULL,
    "before_state" TEXT CHECK (before_state IS NULL OR json_valid(before_state)),
    "after_state" TEXT CHECK (after_state IS NULL OR json_valid(after_state)),
    "created_at" TEXT NOT NULL,
    FOREIGN KEY ("actor_id") REFERENCES "users" ("id") ON DELETE RESTRICT
)"""

NEW = (
    """CREATE TABLE "payments" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "order_id" INTEGER NOT NULL,
    "kind" TEXT NOT NULL CHECK (kind IN ('charge', 'refund')),
    "provider" TEXT NOT NULL CHECK (provider IN ('manual', 'stripe')),
    "status" TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'expired')),
    "amount_cents" INTEGER NOT NULL CHECK (amount_cents > 0),
    "currency" TEXT NOT NULL CHECK (length(currency) = 3 AND currency NOT GLOB '*[^a-z]*'),
    "provider_ref" TEXT CHECK (provider_ref IS NULL OR length(provider_ref) BETWEEN 1 AND 255),
    "payment_intent" TEXT CHECK (payment_intent IS NULL OR length(payment_intent) BETWEEN 1 AND 255),
    "idempotency_key" TEXT CHECK (idempotency_key IS NULL OR length(idempotency_key) BETWEEN 1 AND 255),
    "refund_of_id" INTEGER,
    "refund_reason" TEXT CHECK (refund_reason IS NULL OR refund_reason IN ('cancel', 'return', 'late_payment')),
    "refund_items" TEXT CHECK (refund_items IS NULL OR json_valid(refund_items)),
    "checkout_url" TEXT CHECK (checkout_url IS NULL OR length(checkout_url) BETWEEN 1 AND 2000),
    "expires_at" TEXT,
    "failure_reason" TEXT CHECK (failure_reason IS NULL OR length(failure_reason) BETWEEN 1 AND 500),
    "created_at" TEXT NOT NULL,
    "updated_at" TEXT NOT NULL,
    FOREIGN KEY ("order_id") REFERENCES "orders" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("refund_of_id") REFERENCES "payments" ("id") ON DELETE RESTRICT,
    CHECK ((kind = 'refund') = (refund_of_id IS NOT NULL)),
    CHECK ((kind = 'refund') = (refund_reason IS NOT NULL)),
    CHECK (refund_items IS NULL OR refund_reason = 'return'),
    CHECK (status <> 'failed' OR failure_reason IS NOT NULL),
    CHECK (status <> 'expired' OR kind = 'charge')
)""",
    'CREATE UNIQUE INDEX "payments_provider_ref" ON "payments" ("provider_ref")',
    'CREATE UNIQUE INDEX "payments_idempotency_key" ON "payments" ("idempotency_key")',
    'CREATE INDEX "payments_refund_of_id" ON "payments" ("refund_of_id")',
    'CREATE INDEX "payments_order_id_created_at" ON "payments" ("order_id", "created_at")',
    """CREATE UNIQUE INDEX "payments_one_success" ON "payments" ("order_id") WHERE kind = 'charge' AND status = 'succeeded'""",
    """CREATE UNIQUE INDEX "payments_one_open_charge" ON "payments" ("order_id") WHERE kind = 'charge' AND status = 'pending'""",
    """CREATE TABLE "webhook_events" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "provider" TEXT NOT NULL CHECK (provider IN ('stripe')),
    "event_id" TEXT NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
    "event_type" TEXT NOT NULL CHECK (length(event_type) BETWEEN 1 AND 255),
    "outcome" TEXT NOT NULL CHECK (length(outcome) BETWEEN 1 AND 500),
    "received_at" TEXT NOT NULL
)""",
    'CREATE INDEX "webhook_events_received_at" ON "webhook_events" ("received_at")',
    'CREATE UNIQUE INDEX "webhook_events_provider_event_id" ON "webhook_events" ("provider", "event_id")',
)


def migrate(migrator, database, *, fake=False):
    migrator.run(rebuild_table, "orders", ORDERS)
    migrator.run(rebuild_table, "audit_logs", AUDIT_LOGS)
    for statement in NEW:
        migrator.sql(statement)
