"""Analytics events and their daily rollup, system logs, the admin audit log, the mail
outbox and the cron jobs' runs."""

from __future__ import annotations

import peewee
from peewee import Check

from shop.models.accounts import User
from shop.models.base import (
    BaseModel,
    DialectCheck,
    Glob,
    JSONField,
    UtcDateTimeField,
    json_text,
    one_of,
)
from shop.models.catalog import Product
from shop.models.enums import EVENT_TYPES, JOB_OUTCOMES, LOG_LEVELS, MAIL_STATUSES

DAY = Glob("day", "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]")


class AnalyticsEvent(BaseModel):
    event_type = peewee.TextField(constraints=[one_of("event_type", EVENT_TYPES)])
    # SET NULL: events are statistics; they outlive the user or product they mention.
    user = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    session_id = peewee.TextField(null=True)
    product = peewee.ForeignKeyField(Product, null=True, on_delete="SET NULL")
    path = peewee.TextField(null=True)
    metadata = JSONField(null=True, constraints=[json_text("metadata", nullable=True)])
    created_at = UtcDateTimeField(index=True)
    # Who sent it, for the per-client rate limit (migration 007 added it, hence last).
    client = peewee.TextField(null=True)

    class Meta:
        table_name = "analytics_events"
        indexes = (
            (("event_type", "created_at"), False),
            (("user", "created_at"), False),
            (("client", "created_at"), False),
        )


class AnalyticsDaily(BaseModel):
    day = peewee.TextField(constraints=[
        DialectCheck(DAY)])
    event_type = peewee.TextField(constraints=[one_of("event_type", EVENT_TYPES)])
    count = peewee.IntegerField(constraints=[Check("count >= 0")])
    top_products = JSONField(default=list, constraints=[json_text("top_products")])
    computed_at = UtcDateTimeField()

    class Meta:
        table_name = "analytics_daily"
        indexes = ((("day", "event_type"), True),)


class AnalyticsTotals(BaseModel):
    """The day's business in one row, from orders and offers (not from events)."""

    day = peewee.TextField(unique=True, constraints=[
        DialectCheck(DAY)])
    orders = peewee.IntegerField(constraints=[Check("orders >= 0")])
    revenue_cents = peewee.IntegerField(constraints=[Check("revenue_cents >= 0")])
    units_sold = peewee.IntegerField(constraints=[Check("units_sold >= 0")])
    offers_accepted = peewee.IntegerField(constraints=[Check("offers_accepted >= 0")])
    computed_at = UtcDateTimeField()

    class Meta:
        table_name = "analytics_totals"


class SystemLog(BaseModel):
    level = peewee.TextField(constraints=[one_of("level", LOG_LEVELS)])
    source = peewee.TextField()
    message = peewee.TextField()
    context = JSONField(null=True, constraints=[json_text("context", nullable=True)])
    created_at = UtcDateTimeField(index=True)

    class Meta:
        table_name = "system_logs"


class AuditLog(BaseModel):
    # RESTRICT: who did what is kept as long as the log is. NULL: the shop itself acted on
    # what a payment provider told it (a refused payment, a late one refunded; migration 011).
    actor = peewee.ForeignKeyField(User, null=True, on_delete="RESTRICT", backref="audit_logs")
    action = peewee.TextField()
    entity_type = peewee.TextField()
    entity_id = peewee.TextField()
    before_state = JSONField(null=True, constraints=[json_text("before_state", nullable=True)])
    after_state = JSONField(null=True, constraints=[json_text("after_state", nullable=True)])
    created_at = UtcDateTimeField(index=True)

    class Meta:
        table_name = "audit_logs"
        indexes = (
            (("entity_type", "entity_id"), False),
            # The audit page's filters, newest first (migration 012): a range of each, read
            # in id order, with no sort.
            (("entity_type", "id"), False),
            (("actor", "entity_type", "id"), False),
        )


class MailOutbox(BaseModel):
    """A mail the shop decided to send, written in the transaction of the event that
    caused it and sent after commit (shop/services/mail.py). ``params`` is what the
    template needs, as it was at the event; ``secret`` (a guest's order token) is kept
    only until the mail is sent or given up, apart so that no log shows it."""

    kind = peewee.TextField(constraints=[Check("length(kind) BETWEEN 1 AND 50")])
    recipient = peewee.TextField(constraints=[Check("length(recipient) BETWEEN 3 AND 254")])
    # What the mail is about, once: the same event never queues the same mail twice.
    dedupe_key = peewee.TextField(unique=True, constraints=[
        Check("length(dedupe_key) BETWEEN 1 AND 400")])
    params = JSONField(constraints=[json_text("params")])
    secret = peewee.TextField(null=True)
    status = peewee.TextField(default="queued", constraints=[one_of("status", MAIL_STATUSES)])
    attempts = peewee.IntegerField(default=0, constraints=[Check("attempts >= 0")])
    next_attempt_at = UtcDateTimeField()
    last_error = peewee.TextField(null=True, constraints=[
        Check("last_error IS NULL OR length(last_error) <= 1000")])
    created_at = UtcDateTimeField()
    sent_at = UtcDateTimeField(null=True)

    class Meta:
        table_name = "mail_outbox"
        constraints = [
            Check("(status = 'sent') = (sent_at IS NOT NULL)"),
            Check("status = 'queued' OR secret IS NULL"),
        ]
        indexes = (
            (("status", "next_attempt_at"), False),
            (("status", "created_at"), False),
        )


class JobRun(BaseModel):
    """One run of a cron command (``shop/services/jobs.py``): a row when it starts, its
    outcome when it ends. A row with no outcome is running, or its process died. ``job``
    is a slug (the command's name), so a new cron command needs no migration."""

    job = peewee.TextField(constraints=[DialectCheck(
        "length(job) BETWEEN 1 AND 40 AND ", Glob("job", "*[^a-z0-9-]*", negate=True))])
    started_at = UtcDateTimeField()
    finished_at = UtcDateTimeField(null=True)
    outcome = peewee.TextField(null=True, constraints=[
        one_of("outcome", JOB_OUTCOMES, nullable=True)])
    detail = peewee.TextField(null=True, constraints=[
        Check("detail IS NULL OR length(detail) <= 1000")])

    class Meta:
        table_name = "job_runs"
        constraints = [
            Check("(finished_at IS NULL) = (outcome IS NULL)"),
            Check("finished_at IS NULL OR finished_at >= started_at"),
        ]
        # A job's runs newest first: SQLite reads this index backwards, with no sort.
        indexes = ((("job", "started_at"), False),)
