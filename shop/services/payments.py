"""Payments (issue 16): every transition of a charge or a refund (this module owns them all).

A payment row moves ``pending`` → ``succeeded`` | ``failed`` | ``expired`` (a charge) or
``pending`` → ``succeeded`` | ``failed`` (a refund), here and nowhere else. Orders keep
owning the order's own transitions (``shop.services.orders``): when one needs money back,
orders asks this module for a refund and applies its own change when the money came back.

No network call runs inside a write transaction (DESIGN.md §5). Every call to Stripe is
three steps: record the attempt (a ``pending`` row carrying the idempotency key it will
send), call Stripe outside any transaction, record the answer. A crash or a timeout
between the steps leaves a ``pending`` row whose key makes the next try (the caller's
retry, or ``shop orders expire-unpaid``) repeat the same request, never a second one:
Stripe answers a repeated key with its first answer.

Webhooks are verified by the library (signature and a 300 s tolerance) before a byte of
them is read; each event id is recorded in the transaction of its effect, so a replay, or
two deliveries at once, take effect once.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import peewee
import stripe

from shop import clock
from shop.config import get_settings
from shop.db import serialize_on, write_transaction
from shop.errors import Conflict, Invalid, ProviderUnavailable
from shop.models import Order, Payment, WebhookEvent
from shop.services import audit, notifications

log = logging.getLogger(__name__)

WEBHOOK_TOLERANCE_SECONDS = 300
# Stripe's Checkout Session lives 30 minutes to 24 hours; it is made to end with the
# order's unpaid window, but never sooner than Stripe allows.
SESSION_MIN = timedelta(minutes=30)
SESSION_MAX = timedelta(hours=24)
# An open session this close to its end is not handed out again: a new one is made.
SESSION_MARGIN = timedelta(minutes=2)
SIGNATURE_RULE = "must be Stripe's signature of this very body, made in the last 5 minutes"
# A charge Stripe may still report paid: open, or ended by its clock before the news came.
OPEN = ("pending", "expired")
PAID_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")


@functools.lru_cache(maxsize=4)
def _stripe(secret_key: str, api_base: str) -> stripe.StripeClient:
    base = {"api": api_base} if api_base else None
    return stripe.StripeClient(secret_key, base_addresses=base, max_network_retries=2)


def _client() -> stripe.StripeClient:
    settings = get_settings()
    return _stripe(settings.stripe_secret_key, settings.stripe_api_base)


def _refusal(exc: stripe.StripeError) -> str | None:
    """Stripe's reason when it decided not to act (a 4xx it will repeat for this request),
    else None: unreachable, 5xx, rate limited or the key busy, so the outcome is open."""
    status = getattr(exc, "http_status", None)
    if isinstance(exc, stripe.APIConnectionError) or status is None:
        return None
    if status >= 500 or status in (409, 429):
        return None
    message = getattr(exc, "user_message", None) or "Stripe refused the request"
    return str(message)[:400]


def _view(row: Payment) -> dict[str, Any]:
    return {"id": row.id, "provider": row.provider, "status": row.status,
            "checkout_url": row.checkout_url,
            "expires_at": clock.to_text(row.expires_at) if row.expires_at else None}


def summaries(order_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each order's payments, oldest first (one statement), for the order views."""
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in order_ids}
    if not order_ids:
        return out
    for row in (Payment.select(Payment.id, Payment.order, Payment.kind, Payment.provider,
                               Payment.status, Payment.amount_cents, Payment.created_at)
                .where(Payment.order.in_(order_ids)).order_by(Payment.id)):
        out[row.order_id].append({
            "id": row.id, "kind": row.kind, "provider": row.provider, "status": row.status,
            "amount_cents": row.amount_cents, "created_at": clock.to_text(row.created_at)})
    return out


def _set(row: Payment, *, from_: tuple[str, ...] = ("pending",), **values: Any) -> bool:
    """Move a row on from ``from_`` (inside a transaction); False when it is no longer
    there (someone else recorded the answer first): the caller then does nothing more."""
    values["updated_at"] = clock.now()
    changed = (Payment.update(**values)
               .where((Payment.id == row.id) & Payment.status.in_(from_)).execute())
    return bool(changed)


# --- charges ---------------------------------------------------------------------------------

def record_manual_charge(order: Order) -> None:
    """The owner marked the order paid by hand (inside orders' transaction)."""
    now = clock.now()
    Payment.create(order=order.id, kind="charge", provider="manual", status="succeeded",
                   amount_cents=max(order.total_cents, 1), currency=get_settings().currency,
                   created_at=now, updated_at=now)


def _open_charge(order_id: int) -> Payment | None:
    return Payment.get_or_none((Payment.order == order_id) & (Payment.kind == "charge")
                               & (Payment.status == "pending"))


def _session_end(order: Order, now: datetime) -> datetime:
    """When a new session ends: with the order's unpaid window, within Stripe's limits."""
    deadline = order.created_at + timedelta(minutes=get_settings().unpaid_order_minutes)
    end = min(max(deadline, now + SESSION_MIN), now + SESSION_MAX)
    return end.replace(microsecond=0)


def begin_checkout(order: Order, now: datetime) -> tuple[dict[str, Any] | None, int | None]:
    """Step 1 of paying (inside orders' transaction, the order found and not overdue):
    the open session again, or the attempt to send. Returns (payment view, None) when an
    open session can be handed out again, else (None, id of the pending row to send)."""
    if order.status != "pending" or order.payment_status != "unpaid":
        raise Conflict(f"an order that is {order.status} and {order.payment_status} "
                       "takes no payment", details={"status": order.status,
                                                    "payment_status": order.payment_status})
    if order.total_cents <= 0:
        raise Conflict("this order costs nothing: there is nothing to pay")
    row = _open_charge(order.id)
    if row is not None and row.provider_ref is not None:
        if row.expires_at is not None and row.expires_at > now + SESSION_MARGIN:
            return _view(row), None
        _set(row, status="expired")  # Stripe ends it itself; its event may still come
        row = None
    if row is None:
        attempt = Payment.select().where((Payment.order == order.id)
                                         & (Payment.kind == "charge")).count() + 1
        row = Payment.create(
            order=order.id, kind="charge", provider="stripe", status="pending",
            amount_cents=order.total_cents, currency=get_settings().currency,
            idempotency_key=f"order-{order.id}-charge-{attempt}",
            expires_at=_session_end(order, now), created_at=now, updated_at=now)
    return None, row.id


def send_checkout(payment_id: int, order_number: str) -> dict[str, Any]:
    """Steps 2 and 3 of paying: create the Checkout Session (no transaction open), then
    record what Stripe said. A repeated attempt sends the same key and parameters, so
    Stripe hands back the session it made the first time."""
    row = Payment.get_by_id(payment_id)
    public = get_settings().public_url or "http://127.0.0.1:8000"
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": row.currency, "unit_amount": row.amount_cents,
            "product_data": {"name": f"Order {order_number}"}}}],
        "metadata": {"order_number": order_number},
        "client_reference_id": order_number,
        "payment_intent_data": {"metadata": {"order_number": order_number}},
        "success_url": f"{public}/orders/{order_number}?paid=1",
        "cancel_url": f"{public}/orders/{order_number}",
        "expires_at": int(row.expires_at.timestamp()),
    }
    try:
        session = _client().v1.checkout.sessions.create(
            params=params, options={"idempotency_key": row.idempotency_key})
    except stripe.StripeError as exc:
        reason = _refusal(exc)
        log.warning("stripe: no checkout session for order %s (%s)", order_number,
                    reason or type(exc).__name__)
        if reason is None:
            raise ProviderUnavailable("Stripe could not be reached to start the payment; "
                                      "try again in a moment") from None
        with write_transaction():
            _set(row, status="failed", failure_reason=reason)
        raise Conflict(f"Stripe refused to start the payment: {reason}",
                       details={"reason": reason}) from None
    answered = session.to_dict()
    expires = (datetime.fromtimestamp(int(answered["expires_at"]), tz=clock.now().tzinfo)
               if answered.get("expires_at") else row.expires_at)
    with write_transaction():
        (Payment.update(provider_ref=session.id, checkout_url=session.url, expires_at=expires,
                        updated_at=clock.now())
         .where((Payment.id == row.id) & Payment.provider_ref.is_null()).execute())
        return _view(Payment.get_by_id(row.id))


# --- refunds ---------------------------------------------------------------------------------

def _charge_of(order_id: int) -> Payment | None:
    return Payment.get_or_none((Payment.order == order_id) & (Payment.kind == "charge")
                               & (Payment.status == "succeeded"))


def _refunded(charge_id: int, *, pending_too: bool = False) -> int:
    statuses = ("succeeded", "pending") if pending_too else ("succeeded",)
    return (Payment.select(peewee.fn.coalesce(peewee.fn.sum(Payment.amount_cents), 0))
            .where((Payment.refund_of == charge_id) & Payment.status.in_(statuses)).scalar())


def refund_pending(order_id: int) -> bool:
    """A refund of this order was asked for and Stripe's answer is not recorded yet."""
    return Payment.select().where((Payment.order == order_id) & (Payment.kind == "refund")
                                  & (Payment.status == "pending")).exists()


def prepare_refund(order: Order, reason: str, amount: int | None = None,
                   items: dict[int, int] | None = None) -> int | None:
    """Step 1 of a refund (inside orders' transaction): the pending refund row to send, or
    None when the order's money did not go through Stripe (paid by hand, or not at all):
    the order then changes at once, as before. ``amount`` None: all that is left."""
    charge = _charge_of(order.id)
    if charge is None or charge.provider != "stripe":
        return None
    items_text = None if items is None else json.dumps(
        [{"product_id": p, "quantity": q} for p, q in sorted(items.items())])
    open_ = Payment.get_or_none((Payment.order == order.id) & (Payment.kind == "refund")
                                & (Payment.status == "pending"))
    if open_ is not None:
        if open_.refund_reason == reason and open_.refund_items == items_text:
            return open_.id  # the same action again: the same request, the same key
        raise Conflict("a refund for this order is under way: try again in a moment")
    left = charge.amount_cents - _refunded(charge.id)
    amount = left if amount is None else min(amount, left)
    if amount <= 0:
        return None  # nothing left to give back (already refunded in full)
    now = clock.now()
    row = Payment.create(
        order=order.id, kind="refund", provider="stripe", status="pending",
        amount_cents=amount, currency=charge.currency, payment_intent=charge.payment_intent,
        refund_of=charge.id, refund_reason=reason,
        refund_items=items_text,
        idempotency_key=f"order-{order.id}-refund-{reason}-{_count_refunds(order.id) + 1}",
        created_at=now, updated_at=now)
    return row.id


def _count_refunds(order_id: int) -> int:
    return Payment.select().where((Payment.order == order_id)
                                  & (Payment.kind == "refund")).count()


@dataclass(frozen=True)
class RefundAnswer:
    ok: bool
    provider_ref: str | None = None
    reason: str | None = None


def send_refund(refund_id: int) -> RefundAnswer:
    """Step 2 of a refund: ask Stripe (no transaction open). Raises ProviderUnavailable
    when the outcome is open: the row stays pending, and a retry sends the same key."""
    row = Payment.get_by_id(refund_id)
    if row.status != "pending":
        return RefundAnswer(ok=row.status == "succeeded", provider_ref=row.provider_ref,
                            reason=row.failure_reason)
    order_number = Order.get_by_id(row.order_id).order_number
    try:
        refund = _client().v1.refunds.create(
            params={"payment_intent": row.payment_intent, "amount": row.amount_cents,
                    "metadata": {"order_number": order_number,
                                 "reason": row.refund_reason}},
            options={"idempotency_key": row.idempotency_key})
    except stripe.StripeError as exc:
        reason = _refusal(exc)
        log.warning("stripe: refund %s of order %s not made (%s)", row.id, order_number,
                    reason or type(exc).__name__)
        if reason is None:
            raise ProviderUnavailable("Stripe could not be reached for the refund; nothing "
                                      "has changed: try again in a moment") from None
        return RefundAnswer(ok=False, reason=reason)
    if refund.to_dict().get("status") in ("failed", "canceled"):
        return RefundAnswer(ok=False, reason=f"Stripe answered the refund {refund.status}")
    return RefundAnswer(ok=True, provider_ref=refund.id)


def finish_refund(refund_id: int, answer: RefundAnswer) -> Payment | None:
    """Step 3 (inside orders' transaction): record Stripe's answer. Returns the row when
    this call recorded it (the caller then applies the order's change), None when the
    answer was already recorded (by a retry or the cron): nothing more to do."""
    row = Payment.get_by_id(refund_id)
    if answer.ok:
        changed = _set(row, status="succeeded", provider_ref=answer.provider_ref)
    else:
        changed = _set(row, status="failed", failure_reason=answer.reason or "refused")
        if changed:
            audit.record_provider("payment.refund_refused", "order",
                                  Order.get_by_id(row.order_id).order_number, None,
                                  {"refund": row.id, "amount_cents": row.amount_cents,
                                   "reason": answer.reason})
    return Payment.get_by_id(refund_id) if changed else None


def order_of(payment_id: int) -> int:
    return Payment.get_by_id(payment_id).order_id


def refunded_status(order_id: int) -> str:
    """The order's payment_status after its refunds: refunded, or partially_refunded."""
    charge = _charge_of(order_id)
    if charge is None:
        return "refunded"
    return "refunded" if _refunded(charge.id) >= charge.amount_cents else "partially_refunded"


def pending_refunds(older_than: datetime, batch: int) -> list[int]:
    """Refunds whose answer was never recorded (a crash, a timeout), for the cron."""
    return [r.id for r in Payment.select(Payment.id).where(
        (Payment.kind == "refund") & (Payment.status == "pending")
        & (Payment.created_at <= older_than)).order_by(Payment.id).limit(batch)]


# --- webhooks --------------------------------------------------------------------------------

def verify_stripe_event(payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event, once the library has checked its signature and age; 400 otherwise."""
    secret = get_settings().stripe_webhook_secret
    try:
        stripe.Webhook.construct_event(payload, signature, secret,
                                       tolerance=WEBHOOK_TOLERANCE_SECONDS)
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError, TypeError, AttributeError):
        raise Invalid(f"the Stripe-Signature header {SIGNATURE_RULE}",
                      details={"fields": {"Stripe-Signature": SIGNATURE_RULE}}) from None
    obj = (event.get("data") or {}).get("object") if isinstance(event, dict) else None
    if not (isinstance(event.get("id"), str) and isinstance(event.get("type"), str)
            and isinstance(obj, dict)):
        raise Invalid("the body is not a Stripe event",
                      details={"fields": {"body": "must be a Stripe event"}})
    return event


def stripe_event(event: dict[str, Any]) -> tuple[str, int | None]:
    """Apply one verified event, once (inside orders' transaction). Returns what it did
    and the id of a refund to send after commit (a payment that came too late)."""
    now = clock.now()
    session = event.get("data", {}).get("object", {}).get("id")
    serialize_on(f"stripe-event:{event['id']}", f"stripe-session:{session}")  # one at a time
    exists = WebhookEvent.select().where((WebhookEvent.provider == "stripe")
                                         & (WebhookEvent.event_id == event["id"])).exists()
    if exists:
        return "replay: already applied", None
    kind, obj = event["type"], event["data"]["object"]
    refund_id = None
    if kind in PAID_EVENTS:
        outcome, refund_id = _session_paid(obj)
    elif kind == "checkout.session.expired":
        outcome = _session_ended(obj, "expired", None)
    elif kind == "checkout.session.async_payment_failed":
        outcome = _session_ended(obj, "failed", "the payment did not go through")
    else:
        outcome = f"ignored: {kind}"
    WebhookEvent.create(provider="stripe", event_id=event["id"][:255],
                        event_type=kind[:255], outcome=outcome[:500], received_at=now)
    return outcome, refund_id


def _charge_for(obj: dict[str, Any]) -> tuple[Order | None, Payment | None]:
    """The order and our charge row a Checkout Session is about (either may be None)."""
    session_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    charge = Payment.get_or_none(Payment.provider_ref == session_id) if session_id else None
    if charge is not None:
        return Order.get_by_id(charge.order_id), charge
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    number = metadata.get("order_number") or obj.get("client_reference_id")
    order = Order.get_or_none(Order.order_number == number) if isinstance(number, str) else None
    if order is None:
        return None, None
    # The session's answer raced the recording of its id (step 3): it is the open attempt.
    charge = Payment.get_or_none((Payment.order == order.id) & (Payment.kind == "charge")
                                 & (Payment.status == "pending")
                                 & Payment.provider_ref.is_null())
    if charge is not None and session_id:
        Payment.update(provider_ref=session_id).where(Payment.id == charge.id).execute()
    return order, charge


def _session_ended(obj: dict[str, Any], status: str, reason: str | None) -> str:
    _order, charge = _charge_for(obj)
    if charge is None:
        log.warning("stripe: a session ended for an order the shop does not know: ignored")
        return "unknown order"
    values: dict[str, Any] = {"status": status}
    if reason:
        values["failure_reason"] = reason
    return f"{status}: payment {charge.id}" if _set(charge, **values) else \
        f"no change: payment {charge.id} is {charge.status}"


def _session_paid(obj: dict[str, Any]) -> tuple[str, int | None]:
    from shop.services import orders  # orders owns the order's transition to paid

    order, charge = _charge_for(obj)
    if order is None or charge is None:
        log.warning("stripe: a payment for an order the shop does not know (%s): ignored",
                    "no order" if order is None else "no attempt of ours")
        return "unknown order", None
    if charge.status in ("succeeded", "failed"):
        return f"no change: payment {charge.id} is already {charge.status}", None
    if obj.get("payment_status") != "paid":
        return f"not paid yet: {str(obj.get('payment_status'))[:40]}", None
    intent = obj.get("payment_intent") if isinstance(obj.get("payment_intent"), str) else None
    settings = get_settings()
    problems = []
    if obj.get("amount_total") != order.total_cents:
        problems.append(f"Stripe took {obj.get('amount_total')!s:.20} cents, the order's "
                        f"total is {order.total_cents}")
    if obj.get("currency") != settings.currency:
        problems.append(f"Stripe took {obj.get('currency')!s:.10}, the shop charges in "
                        f"{settings.currency}")
    if problems:
        reason = "; ".join(problems)
        _set(charge, from_=OPEN, status="failed", failure_reason=reason,
             payment_intent=intent)
        audit.record_provider("payment.failed", "order", order.order_number,
                              {"payment_status": order.payment_status},
                              {"payment": charge.id, "reason": reason})
        log.warning("stripe: payment %s of order %s refused: %s", charge.id,
                    order.order_number, reason)
        notifications.payment_failed(order.id, reason, attempt=f"payment:{charge.id}")
        return f"failed: {reason}", None
    if order.status == "pending" and order.payment_status == "unpaid":
        _set(charge, from_=OPEN, status="succeeded", payment_intent=intent)
        orders.mark_paid(order)  # the buyer's mail goes with the order's move to paid
        return f"paid: payment {charge.id}", None
    # Too late: the order was cancelled (unpaid too long, or by its buyer) or is paid
    # already. The money goes back, whole.
    if _charge_of(order.id) is None:
        _set(charge, from_=OPEN, status="succeeded", payment_intent=intent)
    else:
        _set(charge, from_=OPEN, status="failed", payment_intent=intent,
             failure_reason="the order was already paid: this payment is refunded")
    now = clock.now()
    refund = Payment.create(
        order=order.id, kind="refund", provider="stripe", status="pending",
        amount_cents=charge.amount_cents, currency=charge.currency, payment_intent=intent,
        refund_of=charge.id, refund_reason="late_payment",
        idempotency_key=f"order-{order.id}-refund-late_payment-{charge.id}",
        created_at=now, updated_at=now)
    audit.record_provider("payment.late", "order", order.order_number,
                          {"status": order.status, "payment_status": order.payment_status},
                          {"payment": charge.id, "refund": refund.id})
    return f"late payment {charge.id}: refund {refund.id}", refund.id
