"""Orders for the admin's lists, and one idempotency mechanism for keyed requests.

``orders`` gets (status, created_at) and (created_at), so the admin's order list, with or
without a status filter, is a range read newest first. ``idempotency_records`` keeps the
answer of a keyed request (checkout, an offer response) written in the same transaction
as its effect, so a retry gets the same answer and never a second effect. (The
``idempotency_key``/``request_hash`` columns of ``orders`` from 001 are left unused:
one table serves every keyed route.)
"""

from __future__ import annotations

STATEMENTS = (
    'CREATE INDEX "orders_status_created_at" ON "orders" ("status", "created_at")',
    'CREATE INDEX "orders_created_at" ON "orders" ("created_at")',
    """CREATE TABLE "idempotency_records" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "user_id" INTEGER NOT NULL,
    "scope" TEXT NOT NULL CHECK (scope IN ('checkout', 'offer_response')),
    "key" TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    "request_hash" TEXT NOT NULL CHECK (length(request_hash) = 64),
    "status_code" INTEGER NOT NULL CHECK (status_code BETWEEN 200 AND 299),
    "response" TEXT NOT NULL CHECK (json_valid(response)),
    "created_at" TEXT NOT NULL,
    FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE
)""",
    'CREATE INDEX "idempotency_records_created_at" ON "idempotency_records" ("created_at")',
    'CREATE UNIQUE INDEX "idempotency_records_user_id_scope_key" ON "idempotency_records" ("user_id", "scope", "key")',
)


def migrate(migrator, database, *, fake=False):
    for statement in STATEMENTS:
        migrator.sql(statement)
