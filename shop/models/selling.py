"""Sell submissions: a seller's batch of items, the shop's offer, and the negotiation log."""

from __future__ import annotations

import peewee
from peewee import Check

from shop.models.accounts import User
from shop.models.base import BaseModel, DialectCheck, Glob, UtcDateTimeField, one_of
from shop.models.enums import (
    CONDITIONS,
    OFFER_ACTIONS,
    OFFER_ACTORS,
    OFFER_STATUSES,
    PAYOUT_STATUSES,
    SELLER_RESPONSES,
    SUBMISSION_STATUSES,
)

CATEGORY_SLUG = ("length(category) BETWEEN 1 AND 40 AND ",
                 Glob("category", "*[^a-z0-9-]*", negate=True))


class SellSubmission(BaseModel):
    batch_id = peewee.TextField(unique=True)
    # RESTRICT: a seller with submissions keeps their negotiation history.
    # index=False: (seller_id, created_at) below serves the key and the seller's list.
    seller = peewee.ForeignKeyField(User, on_delete="RESTRICT", backref="submissions",
                                    index=False)
    # Review lifecycle and negotiation are separate state machines.
    status = peewee.TextField(default="pending", constraints=[
        one_of("status", SUBMISSION_STATUSES)])
    offer_status = peewee.TextField(default="no_offer", constraints=[
        one_of("offer_status", OFFER_STATUSES)])
    seller_price_cents = peewee.IntegerField(null=True, constraints=[
        Check("seller_price_cents IS NULL OR seller_price_cents >= 0")])
    offered_price_cents = peewee.IntegerField(null=True, constraints=[
        Check("offered_price_cents IS NULL OR offered_price_cents >= 0")])
    final_price_cents = peewee.IntegerField(null=True, constraints=[
        Check("final_price_cents IS NULL OR final_price_cents >= 0")])
    seller_response = peewee.TextField(null=True, constraints=[
        one_of("seller_response", SELLER_RESPONSES, nullable=True)])
    responded_at = UtcDateTimeField(null=True)
    offer_expires_at = UtcDateTimeField(null=True)
    payout_status = peewee.TextField(default="none", constraints=[
        one_of("payout_status", PAYOUT_STATUSES)])
    notes = peewee.TextField(default="")
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()
    # The bank or payment reference of a paid payout (migration 006 added it, hence last).
    payout_reference = peewee.TextField(null=True)

    class Meta:
        table_name = "sell_submissions"
        constraints = [
            Check("offer_status = 'no_offer' OR offered_price_cents IS NOT NULL"),
            Check("(offer_status = 'accepted') = (final_price_cents IS NOT NULL)"),
            Check("(offer_status = 'accepted') = (payout_status <> 'none')"),
        ]
        indexes = (
            (("created_at",), False),                 # the admin's list, newest first
            (("status", "created_at"), False),        # ... filtered by review state
            (("offer_status", "created_at"), False),  # ... filtered by negotiation state
            (("status", "offer_status", "created_at"), False),  # ... by both (migration 012)
            (("offer_status", "offer_expires_at"), False),  # the expiry sweep
            (("seller", "created_at"), False),        # a seller's own list
        )


# The Today page's payouts owed (migration 012): the few unpaid ones, oldest first.
SellSubmission.add_index(peewee.ModelIndex(
    SellSubmission, (SellSubmission.created_at,), where=peewee.SQL("payout_status = 'owed'"),
    name="sell_submissions_owed_created_at"))


class SellItem(BaseModel):
    submission = peewee.ForeignKeyField(SellSubmission, on_delete="CASCADE", backref="items")
    title = peewee.TextField(constraints=[Check("length(title) BETWEEN 1 AND 200")])
    brand = peewee.TextField(default="")
    category = peewee.TextField(constraints=[DialectCheck(*CATEGORY_SLUG)])
    size = peewee.TextField(default="")
    condition = peewee.TextField(constraints=[one_of("condition", CONDITIONS)])
    notes = peewee.TextField(default="")
    created_at = UtcDateTimeField()
    # What the seller hopes for this item; shares out the final price (migration 008).
    asking_price_cents = peewee.IntegerField(null=True, constraints=[
        Check("asking_price_cents IS NULL OR asking_price_cents BETWEEN 1 AND 100000000")])

    class Meta:
        table_name = "sell_items"


class OfferEvent(BaseModel):
    """Append-only negotiation history (triggers refuse UPDATE and DELETE)."""

    submission = peewee.ForeignKeyField(SellSubmission, on_delete="RESTRICT",
                                        backref="offer_events")
    actor = peewee.TextField(constraints=[one_of("actor", OFFER_ACTORS)])
    actor_user = peewee.ForeignKeyField(User, null=True, on_delete="RESTRICT",
                                        backref="offer_events")
    action = peewee.TextField(constraints=[one_of("action", OFFER_ACTIONS)])
    amount_cents = peewee.IntegerField(null=True, constraints=[
        Check("amount_cents IS NULL OR amount_cents >= 0")])
    message = peewee.TextField(default="")
    created_at = UtcDateTimeField()

    class Meta:
        table_name = "offer_events"
        constraints = [
            Check("action NOT IN ('offer', 'counter', 'accept') OR amount_cents IS NOT NULL"),
        ]
