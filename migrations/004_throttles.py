"""Throttles keyed so an attacker cannot lock the owner out (DESIGN.md §11).

Failed sign-ins are counted per (account, client), per client across accounts (password
spraying) and per account across clients (a high ceiling), so ``login_failures`` gains the
client's address. Password-reset requests are counted per client in ``rate_limit_hits``.
No rebuild: ADD COLUMN with a SQL default, a new table, new indexes.
"""

from __future__ import annotations

STATEMENTS = (
    'ALTER TABLE "login_failures" ADD COLUMN "client" TEXT NOT NULL DEFAULT \'\'',
    'CREATE INDEX "login_failures_client_created_at" ON "login_failures" ("client", "created_at")',
    """CREATE TABLE "rate_limit_hits" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "scope" TEXT NOT NULL CHECK (scope IN ('password_reset')),
    "key" TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 100),
    "created_at" TEXT NOT NULL
)""",
    'CREATE INDEX "rate_limit_hits_scope_key_created_at" ON "rate_limit_hits" ("scope", "key", "created_at")',
)


def migrate(migrator, database, *, fake=False):
    for statement in STATEMENTS:
        migrator.sql(statement)
