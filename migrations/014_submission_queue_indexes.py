"""The submissions queue (issue 15, /admin/submissions and GET /api/admin/submissions),
newest first, reads one index range in sort order for every filter it takes.

Unfiltered, the list had no index on created_at: SQLite scanned every submission and
sorted them (about 190 ms at 10^5 submissions). Filtered by both statuses, the
(status, offer_status) index of 001 gave no order, and the planner walked
(offer_status, created_at) instead, reading every row of a common offer status when the
pair is rare (65 ms for approved / no_offer at 10^5). Both now end in created_at (the
rowid, the pagination tie-breaker, is implicitly after it); the second replaces 001's
(status, offer_status), which it also serves.
"""

from __future__ import annotations

STATEMENTS = (
    'CREATE INDEX "sell_submissions_created_at" ON "sell_submissions" ("created_at")',
    'DROP INDEX "sell_submissions_status_offer_status"',
    'CREATE INDEX "sell_submissions_status_offer_status_created_at" ON "sell_submissions" ("status", "offer_status", "created_at")',
)


def migrate(migrator, database, *, fake=False):
    for statement in STATEMENTS:
        migrator.sql(statement)


def migrate_postgresql(migrator, database):
    # The same statements: indexes read alike on both engines.
    for statement in STATEMENTS:
        migrator.sql(statement)
