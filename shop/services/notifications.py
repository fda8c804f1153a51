"""Which event sends which mail to whom: the one place (issue 16, Mail).

The lifecycle modules call one function here per transition, inside the transaction of
that transition (``orders`` for an order, ``selling`` for a submission; the payments
module for ``payment_received`` and ``payment_failed``). Each function reads what its mails
say, as it is at that moment, and queues them in the durable outbox
(``shop.services.mail.queue``): they leave once the transaction commits, and never if it
rolls back. An event queues each of its mails once (a repeated call is a no-op), so a
caller need not know whether another path already announced it.

``EVENTS`` is the table: for each event, the mails it sends (``shop/templates/mail/<kind>
.txt`` and ``.html``) and to whom: the buyer (the account's email, or the guest's), the
seller, or the owner (every admin).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from shop import clock
from shop.config import get_settings
from shop.db import database
from shop.models import OfferEvent, Order, OrderItem, SellItem, SellSubmission, User
from shop.services import mail

BUYER, SELLER, OWNER = "buyer", "seller", "owner"

# event -> the mails it sends: (template kind, audience)
EVENTS: dict[str, tuple[tuple[str, str], ...]] = {
    # an order (services/orders.py; payments for the payment events)
    "order_placed": (("order_placed", BUYER),),
    "payment_received": (("payment_received", BUYER),),
    "order_shipped": (("order_shipped", BUYER),),
    "order_cancelled": (("order_cancelled", BUYER),),
    "payment_failed": (("payment_failed", OWNER),),
    # a submission (services/selling.py)
    "submission_received": (("submission_received", SELLER), ("new_submission", OWNER)),
    "offer_sent": (("offer_sent", SELLER),),
    "counter_received": (("counter_received", SELLER), ("counter_offer", OWNER)),
    "offer_accepted": (("offer_accepted", SELLER),),
    "payout_sent": (("payout_sent", SELLER),),
    "offer_expiring": (("offer_expiring", SELLER),),
}

_EMAIL_OF = "SELECT email FROM users WHERE id = ?"


def _admins() -> list[str]:
    return [u.email for u in User.select(User.email).where(User.role == "admin")
            .order_by(User.id)]


def _email_of(user_id: int) -> str:
    return database.execute_sql(_EMAIL_OF, (user_id,)).fetchone()[0]


def _send(event: str, key: str, params: dict[str, Any], *, buyer: str | None = None,
          seller: str | None = None, secret: str | None = None) -> int:
    """Queue every mail of ``event`` (inside the caller's transaction); how many were new.
    Only the buyer's mail carries ``secret``."""
    queued = 0
    for kind, audience in EVENTS[event]:
        recipients: Iterable[str | None] = (
            _admins() if audience == OWNER else [buyer if audience == BUYER else seller])
        for recipient in recipients:
            if recipient:
                queued += mail.queue(kind, recipient, f"{kind}:{key}", params,
                                     secret=secret if audience == BUYER else None)
    return queued


# --- orders ---------------------------------------------------------------------------------

def _order_params(order: Order, lines: Iterable[OrderItem]) -> dict[str, Any]:
    return {"order_number": order.order_number, "guest": order.user_id is None,
            "shipping_method": order.shipping_method,
            "items": [{"title": i.title, "quantity": i.quantity,
                       "line_total_cents": i.line_total_cents} for i in lines],
            "subtotal_cents": order.subtotal_cents, "shipping_cents": order.shipping_cents,
            "total_cents": order.total_cents}


def _buyer(order: Order) -> str | None:
    return order.guest_email if order.user_id is None else _email_of(order.user_id)


def _order_event(event: str, order_id: int, key: str, **extra: Any) -> int:
    order = Order.get_by_id(order_id)
    lines = OrderItem.select().where(OrderItem.order == order_id).order_by(OrderItem.id)
    return _send(event, f"order:{order_id}{key}", {**_order_params(order, lines), **extra},
                 buyer=_buyer(order))


def order_placed(order: Order, lines: list[OrderItem], *, token: str | None = None) -> int:
    """Checkout (its transaction; given what it just wrote, so it costs one insert): the
    buyer's confirmation, with a pay link when payments are online, and for a guest the
    order's link with its token (the mail goes only to them)."""
    online = str(getattr(get_settings(), "payments", "manual")) != "manual"
    return _send("order_placed", f"order:{order.id}",
                 {**_order_params(order, lines), "pay_online": online},
                 buyer=_buyer(order), secret=token)


def payment_received(order_id: int) -> int:
    """The order is paid (the owner marking it, or the payment provider's webhook, in its
    transaction): the buyer hears once, whichever path came first."""
    return _order_event("payment_received", order_id, "")


def order_shipped(order_id: int) -> int:
    return _order_event("order_shipped", order_id, "")


def order_cancelled(order_id: int, *, refunded: bool) -> int:
    """Cancelled by the buyer or the owner; ``refunded`` when it had been paid."""
    return _order_event("order_cancelled", order_id, "", refunded=refunded)


def payment_failed(order_id: int, reason: str, *, attempt: str | None = None) -> int:
    """A payment for the order failed (the payments module, in its transaction): every
    admin hears, with the reason (never a secret: the caller words it). ``attempt`` names
    the payment attempt, so a replayed event mails once; without it every call mails."""
    order = Order.get_by_id(order_id)
    attempt = attempt or clock.to_text(clock.now())
    return _send("payment_failed", f"order:{order_id}:{attempt}",
                 {"order_number": order.order_number, "total_cents": order.total_cents,
                  "reason": reason[:500]})


# --- submissions ----------------------------------------------------------------------------

def _submission_params(sub: SellSubmission) -> tuple[dict[str, Any], str]:
    """What a submission's mails say, and the seller's email."""
    def text(value: datetime | None) -> str | None:
        return None if value is None else clock.to_text(value)[:16].replace("T", " ")
    seller = User.get_by_id(sub.seller_id)
    return {"batch_id": sub.batch_id, "seller_name": seller.name,
            "titles": [i.title for i in SellItem.select(SellItem.title)
                       .where(SellItem.submission == sub.id).order_by(SellItem.id)],
            "seller_price_cents": sub.seller_price_cents,
            "offered_price_cents": sub.offered_price_cents,
            "final_price_cents": sub.final_price_cents,
            "offer_expires_at": text(sub.offer_expires_at)}, seller.email


def _submission_event(event: str, submission_id: int, key: str, **extra: Any) -> int:
    sub = SellSubmission.get_by_id(submission_id)
    params, seller = _submission_params(sub)
    return _send(event, f"submission:{submission_id}:{key}", {**params, **extra},
                 seller=seller)


def _last_event(submission_id: int) -> OfferEvent:
    return (OfferEvent.select().where(OfferEvent.submission == submission_id)
            .order_by(OfferEvent.id.desc()).get())


def submission_received(submission_id: int) -> int:
    """A new submission: the seller's receipt, and every admin hears of it."""
    return _submission_event("submission_received", submission_id, "received")


def offer_sent(submission_id: int) -> int:
    """The shop's offer, with the link to the seller's page and the message."""
    event = _last_event(submission_id)
    return _submission_event("offer_sent", submission_id, f"event:{event.id}",
                             message=event.message)


def counter_received(submission_id: int) -> int:
    """The seller's counter: their receipt, and every admin hears of it."""
    event = _last_event(submission_id)
    return _submission_event("counter_received", submission_id, f"event:{event.id}",
                             counter_price_cents=event.amount_cents, message=event.message)


def offer_accepted(submission_id: int) -> int:
    """Accepted, by either side: the price is final and the payout owed."""
    return _submission_event("offer_accepted", submission_id, "accepted")


def payout_sent(submission_id: int, reference: str) -> int:
    return _submission_event("payout_sent", submission_id, "payout", reference=reference)


def offer_expiring(submission_id: int) -> int:
    """The open offer ends within a day: one reminder per offer (its end is its name)."""
    sub = SellSubmission.get_by_id(submission_id)
    params, seller = _submission_params(sub)
    return _send("offer_expiring", f"submission:{submission_id}:"
                 f"{clock.to_text(sub.offer_expires_at)}", params, seller=seller)
