"""Analytics events remember their client, so the per-client rate limit of
``POST /api/events`` is one bounded index count beside the event's own insert (no second
write on the hot path), and it holds across gunicorn workers."""

from __future__ import annotations

STATEMENTS = (
    'ALTER TABLE "analytics_events" ADD COLUMN "client" TEXT',
    'CREATE INDEX "analytics_events_client_created_at" ON "analytics_events" ("client", "created_at")',
)


def migrate(migrator, database, *, fake=False):
    for statement in STATEMENTS:
        migrator.sql(statement)
