"""The sell side: payout references, negotiation history for reviews and payouts, and
indexes for the lists and the offer-expiry sweep.

``offer_events.action`` gains ``review`` and ``payout`` so that every step of both
lifecycles is in the history. That changes a CHECK, so the table is rebuilt with
``rebuild_table`` (D1.md's recipe: its append-only triggers are dropped and recreated, and
no row is lost on SQLite or D1). The rest is ADD COLUMN and indexes.
"""

from __future__ import annotations

from shop.services.migrations import rebuild_table

OFFER_EVENTS = """CREATE TABLE "offer_events" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "submission_id" INTEGER NOT NULL,
    "actor" TEXT NOT NULL CHECK (actor IN ('shop', 'seller')),
    "actor_user_id" INTEGER,
    "action" TEXT NOT NULL CHECK (action IN ('offer', 'counter', 'accept', 'reject', 'withdraw', 'expire', 'review', 'payout')),
    "amount_cents" INTEGER CHECK (amount_cents IS NULL OR amount_cents >= 0),
    "message" TEXT NOT NULL,
    "created_at" TEXT NOT NULL,
    FOREIGN KEY ("submission_id") REFERENCES "sell_submissions" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("actor_user_id") REFERENCES "users" ("id") ON DELETE RESTRICT,
    CHECK (action NOT IN ('offer', 'counter', 'accept') OR amount_cents IS NOT NULL)
)"""

STATEMENTS = (
    'ALTER TABLE "sell_submissions" ADD COLUMN "payout_reference" TEXT',
    'DROP INDEX "sell_submissions_seller_id"',
    'CREATE INDEX "sell_submissions_seller_id_created_at" ON "sell_submissions" ("seller_id", "created_at")',
    'CREATE INDEX "sell_submissions_status_created_at" ON "sell_submissions" ("status", "created_at")',
    'CREATE INDEX "sell_submissions_offer_status_created_at" ON "sell_submissions" ("offer_status", "created_at")',
    'CREATE INDEX "sell_submissions_offer_status_offer_expires_at" ON "sell_submissions" ("offer_status", "offer_expires_at")',
)


def migrate(migrator, database, *, fake=False):
    for statement in STATEMENTS:
        migrator.sql(statement)
    migrator.run(rebuild_table, "offer_events", OFFER_EVENTS)
