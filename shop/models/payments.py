"""Payments (issue 16): every charge and refund of an order, and the provider events seen.

A row is money asked for (``charge``) or given back (``refund``). The database holds the
rules that must survive any writer: provider references are unique, an order has at most
one ``succeeded`` charge and at most one open (``pending``) one (partial unique indexes),
a refund names the charge it returns money from, and every idempotency key sent to the
provider is unique, so a retry of one action can only ever repeat that action.
"""

from __future__ import annotations

import peewee
from peewee import Check

from shop.models.base import BaseModel, DialectCheck, Glob, UtcDateTimeField, one_of
from shop.models.enums import (
    PAYMENT_KINDS,
    PAYMENT_PROVIDERS,
    PAYMENT_ROW_STATUSES,
    REFUND_REASONS,
    WEBHOOK_PROVIDERS,
)
from shop.models.orders import Order


class Payment(BaseModel):
    # RESTRICT: money moved for this order; the record outlives any wish to delete it.
    order = peewee.ForeignKeyField(Order, on_delete="RESTRICT", backref="payments", index=False)
    kind = peewee.TextField(constraints=[one_of("kind", PAYMENT_KINDS)])
    provider = peewee.TextField(constraints=[one_of("provider", PAYMENT_PROVIDERS)])
    status = peewee.TextField(constraints=[one_of("status", PAYMENT_ROW_STATUSES)])
    amount_cents = peewee.IntegerField(constraints=[Check("amount_cents > 0")])
    currency = peewee.TextField(constraints=[DialectCheck(
        "length(currency) = 3 AND ", Glob("currency", "*[^a-z]*", negate=True))])
    # The provider's id of this row's object: a Checkout Session (cs_...) for a charge, a
    # refund (re_...) for a refund. NULL until the provider answered.
    provider_ref = peewee.TextField(null=True, unique=True, constraints=[
        Check("provider_ref IS NULL OR length(provider_ref) BETWEEN 1 AND 255")])
    # The payment intent the money went through (refunds are made against it).
    payment_intent = peewee.TextField(null=True, constraints=[
        Check("payment_intent IS NULL OR length(payment_intent) BETWEEN 1 AND 255")])
    # Sent as the Idempotency-Key with this row's one request to the provider.
    idempotency_key = peewee.TextField(null=True, unique=True, constraints=[
        Check("idempotency_key IS NULL OR length(idempotency_key) BETWEEN 1 AND 255")])
    refund_of = peewee.ForeignKeyField("self", null=True, on_delete="RESTRICT",
                                       backref="refunds")
    refund_reason = peewee.TextField(null=True, constraints=[
        one_of("refund_reason", REFUND_REASONS, nullable=True)])
    # A return's refund: the units it pays back, applied when the provider agreed.
    refund_items = peewee.TextField(null=True, constraints=[
        Check("refund_items IS NULL OR json_valid(refund_items)")])
    checkout_url = peewee.TextField(null=True, constraints=[
        Check("checkout_url IS NULL OR length(checkout_url) BETWEEN 1 AND 2000")])
    expires_at = UtcDateTimeField(null=True)
    failure_reason = peewee.TextField(null=True, constraints=[
        Check("failure_reason IS NULL OR length(failure_reason) BETWEEN 1 AND 500")])
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()

    class Meta:
        table_name = "payments"
        constraints = [
            Check("(kind = 'refund') = (refund_of_id IS NOT NULL)"),
            Check("(kind = 'refund') = (refund_reason IS NOT NULL)"),
            Check("refund_items IS NULL OR refund_reason = 'return'"),
            Check("status <> 'failed' OR failure_reason IS NOT NULL"),
            Check("status <> 'expired' OR kind = 'charge'"),
        ]
        indexes = ((("order", "created_at"), False),)


# At most one succeeded charge per order, and at most one open one: whoever writes.
Payment.add_index(peewee.ModelIndex(
    Payment, (Payment.order,), unique=True, name="payments_one_success",
    where=peewee.SQL("kind = 'charge' AND status = 'succeeded'")))
Payment.add_index(peewee.ModelIndex(
    Payment, (Payment.order,), unique=True, name="payments_one_open_charge",
    where=peewee.SQL("kind = 'charge' AND status = 'pending'")))


class WebhookEvent(BaseModel):
    """A provider event, recorded in the transaction of its effect: each takes effect once."""

    provider = peewee.TextField(constraints=[one_of("provider", WEBHOOK_PROVIDERS)])
    event_id = peewee.TextField(constraints=[Check("length(event_id) BETWEEN 1 AND 255")])
    event_type = peewee.TextField(constraints=[Check("length(event_type) BETWEEN 1 AND 255")])
    outcome = peewee.TextField(constraints=[Check("length(outcome) BETWEEN 1 AND 500")])
    received_at = UtcDateTimeField(index=True)

    class Meta:
        table_name = "webhook_events"
        indexes = ((("provider", "event_id"), True),)
