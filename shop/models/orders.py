"""Orders and their lines: prices and the delivery address are snapshots, never live links."""

from __future__ import annotations

import peewee
from peewee import Check

from shop.models.accounts import User
from shop.models.base import BaseModel, JSONField, UtcDateTimeField, json_text, one_of
from shop.models.catalog import Product
from shop.models.enums import (
    IDEMPOTENCY_SCOPES,
    ORDER_STATUSES,
    PAYMENT_STATUSES,
    SHIPPING_METHODS,
)


class Order(BaseModel):
    order_number = peewee.TextField(unique=True)
    # RESTRICT: an order is accounting history; its customer cannot vanish under it.
    # NULL for a guest's order (``guest_email`` says who) until an account claims it.
    user = peewee.ForeignKeyField(User, null=True, on_delete="RESTRICT", backref="orders",
                                  index=False)
    status = peewee.TextField(default="pending", constraints=[one_of("status", ORDER_STATUSES)])
    payment_status = peewee.TextField(default="unpaid", constraints=[
        one_of("payment_status", PAYMENT_STATUSES)])
    shipping_method = peewee.TextField(default="collect", constraints=[
        one_of("shipping_method", SHIPPING_METHODS)])
    subtotal_cents = peewee.IntegerField(constraints=[Check("subtotal_cents >= 0")])
    shipping_cents = peewee.IntegerField(constraints=[Check("shipping_cents >= 0")])
    total_cents = peewee.IntegerField(constraints=[Check("total_cents >= 0")])
    delivery_address = JSONField(null=True, constraints=[
        json_text("delivery_address", nullable=True)])
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()
    # A guest's order: the email it was placed with (lowercase), and the SHA-256 of the
    # access token that shows it without signing in (migration 008).
    guest_email = peewee.TextField(null=True, constraints=[
        Check("guest_email IS NULL OR length(guest_email) BETWEEN 3 AND 254")])
    access_token_hash = peewee.TextField(null=True, unique=True, constraints=[
        Check("access_token_hash IS NULL OR length(access_token_hash) = 64")])

    class Meta:
        table_name = "orders"
        constraints = [
            Check("total_cents = subtotal_cents + shipping_cents"),
            Check("(shipping_method = 'deliver') = (delivery_address IS NOT NULL)"),
            Check("user_id IS NOT NULL OR guest_email IS NOT NULL"),
            Check("(guest_email IS NULL) = (access_token_hash IS NULL)"),
        ]
        indexes = (
            (("user", "created_at"), False),
            (("status", "created_at"), False),  # the admin's list by status, newest first
            (("created_at",), False),           # and of every order
            # Today's collect orders to put aside (pending, collect), oldest first (012).
            (("status", "shipping_method", "created_at"), False),
        )


# A new account claims the guest orders placed with its email: a short partial index.
Order.add_index(peewee.ModelIndex(Order, (Order.guest_email,), where=peewee.SQL("user_id IS NULL"),
                                  name="orders_unclaimed_guest_email"))


class OrderItem(BaseModel):
    order = peewee.ForeignKeyField(Order, on_delete="CASCADE", backref="items", index=False)
    product = peewee.ForeignKeyField(Product, on_delete="RESTRICT", backref="order_items")
    title = peewee.TextField()
    unit_price_cents = peewee.IntegerField(constraints=[Check("unit_price_cents > 0")])
    quantity = peewee.IntegerField(constraints=[Check("quantity > 0")])
    line_total_cents = peewee.IntegerField()

    class Meta:
        table_name = "order_items"
        constraints = [Check("line_total_cents = quantity * unit_price_cents")]
        indexes = ((("order", "product"), True),)


class IdempotencyRecord(BaseModel):
    """The answer a keyed request got, so a retry gets it again (checkout, offer responses).

    Written in the same transaction as the effect it records: either both exist or
    neither. ``request_hash`` tells a retry (same body) from a reuse of the key for a
    different request (409).
    """

    user = peewee.ForeignKeyField(User, on_delete="CASCADE", index=False)
    scope = peewee.TextField(constraints=[one_of("scope", IDEMPOTENCY_SCOPES)])
    key = peewee.TextField(constraints=[Check("length(key) BETWEEN 1 AND 255")])
    request_hash = peewee.TextField(constraints=[Check("length(request_hash) = 64")])
    status_code = peewee.IntegerField(constraints=[Check("status_code BETWEEN 200 AND 299")])
    response = JSONField(constraints=[json_text("response")])
    created_at = UtcDateTimeField(index=True)

    class Meta:
        table_name = "idempotency_records"
        indexes = ((("user", "scope", "key"), True),)
