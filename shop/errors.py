"""The error tree every layer raises; one function in the API layer turns it into HTTP.

Codes are stable snake_case strings that clients may branch on; messages are for people.
"""

from __future__ import annotations

from typing import Any


class ShopError(Exception):
    """Base of every expected failure. ``status`` is the HTTP status the API answers."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, details: dict[str, Any] | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after


class Invalid(ShopError):
    code, status = "invalid", 400


class Unauthorized(ShopError):
    code, status = "unauthorized", 401


class Forbidden(ShopError):
    code, status = "forbidden", 403


class NotFound(ShopError):
    code, status = "not_found", 404


class MethodNotAllowed(ShopError):
    code, status = "method_not_allowed", 405


class Conflict(ShopError):
    code, status = "conflict", 409


class InsufficientStock(Conflict):
    code = "insufficient_stock"


class ReservationExpired(Conflict):
    code = "reservation_expired"


class InvalidOfferTransition(Conflict):
    code = "invalid_offer_transition"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class PayloadTooLarge(ShopError):
    code, status = "payload_too_large", 413


class RateLimited(ShopError):
    code, status = "rate_limited", 429


class Busy(ShopError):
    """The database stayed locked past the busy timeout: the client should retry soon."""

    code, status = "busy", 503


class StorageError(ShopError):
    """The database file cannot be used (unreadable, not a database, no such folder)."""

    code, status = "storage", 503


class Internal(ShopError):
    code, status = "internal", 500
