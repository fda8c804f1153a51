"""The cron jobs' runs, and the audit log's filters (issue 15, Operations and Audit log).

- ``job_runs``: one row per run of a cron command (``shop/services/jobs.py``), written when
  it starts and completed when it ends, so the Operations page shows the last run of each
  job, the last backup and its check, and a run that never finished. ``job`` is a slug
  (the command's name) rather than a fixed list, so a new cron command needs no rebuild
  of this table; ``detail`` is bounded. The index serves "a job's runs, newest first"
  (SQLite reads it backwards, with no sort). ``shop analytics prune`` deletes old runs.
- Two indexes on ``audit_logs`` for the audit page's filters, newest first: by entity
  type, and by actor and entity type. Each is a range read in id order (the rowid ends
  every index), so a page of 20 rows reads about 20 index entries whatever the log's size.

New tables and indexes only: no rebuild.
"""

from __future__ import annotations

STATEMENTS = (
    """CREATE TABLE "job_runs" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "job" TEXT NOT NULL CHECK (length(job) BETWEEN 1 AND 40 AND job NOT GLOB '*[^a-z0-9-]*'),
    "started_at" TEXT NOT NULL,
    "finished_at" TEXT,
    "outcome" TEXT CHECK (outcome IS NULL OR outcome IN ('ok', 'failed')),
    "detail" TEXT CHECK (detail IS NULL OR length(detail) <= 1000),
    CHECK ((finished_at IS NULL) = (outcome IS NULL)),
    CHECK (finished_at IS NULL OR finished_at >= started_at)
)""",
    'CREATE INDEX "job_runs_job_started_at" ON "job_runs" ("job", "started_at")',
    'CREATE INDEX "audit_logs_entity_type_id" ON "audit_logs" ("entity_type", "id")',
    'CREATE INDEX "audit_logs_actor_id_entity_type_id" ON "audit_logs" '
    '("actor_id", "entity_type", "id")',
)


def migrate(migrator, database, *, fake=False):
    for statement in STATEMENTS:
        migrator.sql(statement)


# PostgreSQL: a SERIAL key, and the slug rule as a regular expression (no GLOB there), as
# the model renders it for that dialect (shop/models/base.py); the indexes are the same.
JOB_RUNS_POSTGRESQL = (
    'CREATE TABLE "job_runs" ("id" SERIAL NOT NULL PRIMARY KEY, "job" TEXT NOT NULL '
    "CHECK (length(job) BETWEEN 1 AND 40 AND job !~ '^.*[^a-z0-9-].*$'), "
    '"started_at" TEXT NOT NULL, "finished_at" TEXT, "outcome" TEXT '
    "CHECK (outcome IS NULL OR outcome IN ('ok', 'failed')), "
    '"detail" TEXT CHECK (detail IS NULL OR length(detail) <= 1000), '
    "CHECK ((finished_at IS NULL) = (outcome IS NULL)), "
    "CHECK (finished_at IS NULL OR finished_at >= started_at))"
)


def migrate_postgresql(migrator, database):
    migrator.sql(JOB_RUNS_POSTGRESQL)
    for statement in STATEMENTS[1:]:
        migrator.sql(statement)
