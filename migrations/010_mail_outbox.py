"""The durable mail outbox (issue 16, Mail).

A mail is written to ``mail_outbox`` in the same transaction as the event that causes it
(an order never exists without its mail queued; a rolled-back action queues nothing) and
sent after commit, retried with back-off and given up after a bound, leaving the row
``failed`` with its last error. ``dedupe_key`` is UNIQUE: the same event never queues the
same mail twice (offer reminders are sent once). A guest's order token waits in ``secret``
only while the row is queued (a CHECK). A new table and its indexes: no rebuild.
"""

from __future__ import annotations

STATEMENTS = (
    """CREATE TABLE "mail_outbox" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "kind" TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 50),
    "recipient" TEXT NOT NULL CHECK (length(recipient) BETWEEN 3 AND 254),
    "dedupe_key" TEXT NOT NULL CHECK (length(dedupe_key) BETWEEN 1 AND 400),
    "params" TEXT NOT NULL CHECK (json_valid(params)),
    "secret" TEXT,
    "status" TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    "attempts" INTEGER NOT NULL CHECK (attempts >= 0),
    "next_attempt_at" TEXT NOT NULL,
    "last_error" TEXT CHECK (last_error IS NULL OR length(last_error) <= 1000),
    "created_at" TEXT NOT NULL,
    "sent_at" TEXT,
    CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    CHECK (status = 'queued' OR secret IS NULL)
)""",
    'CREATE UNIQUE INDEX "mail_outbox_dedupe_key" ON "mail_outbox" ("dedupe_key")',
    'CREATE INDEX "mail_outbox_status_next_attempt_at" ON "mail_outbox" ("status", "next_attempt_at")',
    'CREATE INDEX "mail_outbox_status_created_at" ON "mail_outbox" ("status", "created_at")',
)


def migrate(migrator, database, *, fake=False):
    for statement in STATEMENTS:
        migrator.sql(statement)
