"""Enumerations shared by the schema, the services and the API schemas."""

from __future__ import annotations

ROLES = ("customer", "admin")
ADDRESS_KINDS = ("billing", "delivery")
RATE_LIMIT_SCOPES = ("password_reset",)
CONDITIONS = ("new", "like_new", "good", "fair")
PRODUCT_STATUSES = ("draft", "active", "sold_out", "archived")
STOCK_REASONS = (
    "restock", "purchase", "sale", "return", "adjustment",
    "reserved", "reservation_released", "reservation_expired", "reservation_converted",
)
ORDER_STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled")
PAYMENT_STATUSES = ("unpaid", "paid", "refunded", "partially_refunded")
# Payment rows (migration 011): a charge (money in) or a refund (money back out).
PAYMENT_PROVIDERS = ("manual", "stripe")
PAYMENT_KINDS = ("charge", "refund")
PAYMENT_ROW_STATUSES = ("pending", "succeeded", "failed", "expired")
REFUND_REASONS = ("cancel", "return", "late_payment")
WEBHOOK_PROVIDERS = ("stripe",)
SHIPPING_METHODS = ("collect", "deliver")
IDEMPOTENCY_SCOPES = ("checkout", "offer_response")
SUBMISSION_STATUSES = ("pending", "reviewing", "approved", "rejected", "withdrawn")
OFFER_STATUSES = ("no_offer", "offer_sent", "countered", "accepted", "rejected", "expired")
SELLER_RESPONSES = ("accept", "reject", "counter")
PAYOUT_STATUSES = ("none", "owed", "paid")
OFFER_ACTORS = ("shop", "seller")
OFFER_ACTIONS = ("offer", "counter", "accept", "reject", "withdraw", "expire", "review",
                 "payout")
EVENT_TYPES = (
    "page_view", "product_view", "search", "add_to_cart", "remove_from_cart",
    "checkout_started", "sell_started",
)
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
MAIL_STATUSES = ("queued", "sent", "failed")
JOB_OUTCOMES = ("ok", "failed")
