"""The sell side: a seller's batch of items, the shop's offer, the negotiation, and the
atomic acceptance that turns items into stock.

Two state machines, one table each. ``REVIEW`` moves ``status`` (the shop's review) and
``OFFERS`` moves ``offer_status`` (the negotiation); each entry is (state, action, actor)
-> next state, and anything not in a table is 409 ``invalid_offer_transition`` with
nothing written. Every step appends an ``offer_events`` row in the same transaction.
Acceptance, by either side, is one write transaction: final price, the items as draft
products with a ``purchase`` move each, the payout owed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import peewee

from shop import clock
from shop.config import get_settings
from shop.db import write_transaction
from shop.errors import Conflict, Invalid, InvalidOfferTransition, NotFound
from shop.models import Image, OfferEvent, Product, SellItem, SellSubmission
from shop.services import audit, batches, idempotency
from shop.services.codes import readable_code
from shop.services.pagination import DEFAULT_LIMIT, Page, newest_first
from shop.services.stock import append_move

MAX_ITEMS = 50

# (status, action, actor) -> status. The review: only the shop acts, the seller withdraws.
REVIEW: dict[tuple[str, str, str], str] = {
    ("pending", "review", "shop"): "reviewing",
    ("reviewing", "approve", "shop"): "approved",
    ("reviewing", "reject", "shop"): "rejected",
    ("pending", "reject", "shop"): "rejected",
    ("pending", "withdraw", "seller"): "withdrawn",
    ("reviewing", "withdraw", "seller"): "withdrawn",
    ("approved", "withdraw", "seller"): "withdrawn",
}
# (offer_status, action, actor) -> offer_status. Offers need a submission under review or
# approved. An open offer is answered or expires; the shop cannot change it meanwhile, so a
# seller never accepts a price they have not seen, and a seller's accept racing the shop's
# new offer has exactly one outcome.
OFFERS: dict[tuple[str, str, str], str] = {
    ("no_offer", "offer", "shop"): "offer_sent",
    ("countered", "offer", "shop"): "offer_sent",
    ("expired", "offer", "shop"): "offer_sent",
    ("offer_sent", "accept", "seller"): "accepted",
    ("offer_sent", "reject", "seller"): "rejected",
    ("offer_sent", "counter", "seller"): "countered",
    ("countered", "accept", "shop"): "accepted",
    ("offer_sent", "expire", "shop"): "expired",
}
NEGOTIATING = ("reviewing", "approved")
# The review action a requested status stands for.
REVIEW_ACTIONS = {"reviewing": "review", "approved": "approve", "rejected": "reject"}


def new_batch_id() -> str:
    return readable_code("SB")


# --- reading ------------------------------------------------------------------------------

def _view(sub: SellSubmission, *, full: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "batch_id": sub.batch_id, "seller_id": sub.seller_id, "status": sub.status,
        "offer_status": sub.offer_status, "seller_price_cents": sub.seller_price_cents,
        "offered_price_cents": sub.offered_price_cents,
        "final_price_cents": sub.final_price_cents, "seller_response": sub.seller_response,
        "responded_at": sub.responded_at, "offer_expires_at": sub.offer_expires_at,
        "payout_status": sub.payout_status, "payout_reference": sub.payout_reference,
        "notes": sub.notes, "created_at": sub.created_at, "updated_at": sub.updated_at,
    }
    if full:
        data["items"] = [{"id": i.id, "title": i.title, "brand": i.brand,
                          "category": i.category, "size": i.size, "condition": i.condition,
                          "notes": i.notes}
                         for i in SellItem.select().where(SellItem.submission == sub.id)
                         .order_by(SellItem.id)]
        data["images"] = [{"id": i.id, "cloudflare_id": i.cloudflare_id, "url": i.url,
                           "variants": i.variants, "position": i.position}
                          for i in Image.select().where(Image.submission == sub.id)
                          .order_by(Image.position, Image.id)]
        data["offer_events"] = [{"actor": e.actor, "action": e.action,
                                 "amount_cents": e.amount_cents, "message": e.message,
                                 "created_at": e.created_at}
                                for e in OfferEvent.select().where(
                                    OfferEvent.submission == sub.id).order_by(OfferEvent.id)]
    return data


def _json_view(sub: SellSubmission) -> dict[str, Any]:
    """The view with times as text (it is stored for idempotent replays)."""
    def text(value: Any) -> Any:
        if isinstance(value, datetime):
            return clock.to_text(value)
        if isinstance(value, list):
            return [text(v) for v in value]
        if isinstance(value, dict):
            return {k: text(v) for k, v in value.items()}
        return value
    return text(_view(sub))


def _find(batch_id: str, seller_id: int | None = None) -> SellSubmission:
    """The submission; with ``seller_id``, only that seller's (anyone else's is a 404)."""
    sub = SellSubmission.get_or_none(SellSubmission.batch_id == batch_id)
    if sub is None or (seller_id is not None and sub.seller_id != seller_id):
        raise NotFound("no such submission")
    return sub


def _expire_if_due(sub: SellSubmission, now: datetime) -> SellSubmission:
    """Lazy expiry: an offer past its date becomes ``expired`` (inside a transaction)."""
    if (sub.offer_status == "offer_sent" and sub.offer_expires_at is not None
            and sub.offer_expires_at <= now):
        return _step(sub, "expire", "shop", None, now, message="no answer in time")
    return sub


def get_submission(batch_id: str, *, seller_id: int | None = None) -> dict[str, Any]:
    now = clock.now()
    sub = _find(batch_id, seller_id)
    if sub.offer_status == "offer_sent" and sub.offer_expires_at <= now:
        with write_transaction():
            sub = _expire_if_due(_find(batch_id, seller_id), now)
    return _view(sub)


def _page(select: peewee.ModelSelect, tag: str, limit: int,
          cursor: str | None) -> Page[dict[str, Any]]:
    page = newest_first(select, SellSubmission.created_at, SellSubmission.id, tag, limit,
                        cursor)
    return Page([_view(s, full=False) for s in page.items], page.next_cursor)


def submissions_of(seller_id: int, *, limit: int = DEFAULT_LIMIT,
                   cursor: str | None = None) -> Page[dict[str, Any]]:
    return _page(SellSubmission.select().where(SellSubmission.seller == seller_id),
                 "sell:mine", limit, cursor)


def all_submissions(status: str | None = None, offer_status: str | None = None, *,
                    limit: int = DEFAULT_LIMIT,
                    cursor: str | None = None) -> Page[dict[str, Any]]:
    select = SellSubmission.select()
    if status is not None:
        select = select.where(SellSubmission.status == status)
    if offer_status is not None:
        select = select.where(SellSubmission.offer_status == offer_status)
    return _page(select, f"sell:{status}:{offer_status}", limit, cursor)


# --- writing --------------------------------------------------------------------------------

def submit(seller_id: int, items: list[dict[str, Any]], seller_price_cents: int | None,
           notes: str = "") -> dict[str, Any]:
    """A new batch of 1-50 items with the seller's asking price."""
    if not 1 <= len(items) <= MAX_ITEMS:
        raise Invalid(f"a submission has 1 to {MAX_ITEMS} items",
                      details={"fields": {"items": f"1 to {MAX_ITEMS}"}})
    now = clock.now()
    with write_transaction():
        sub = SellSubmission.create(batch_id=new_batch_id(), seller=seller_id,
                                    seller_price_cents=seller_price_cents, notes=notes,
                                    created_at=now, updated_at=now)
        SellItem.insert_many([{**item, "submission": sub.id, "created_at": now}
                              for item in items]).execute()
        return _view(sub)


def add_image(batch_id: str, seller_id: int, cloudflare_id: str, url: str,
              variants: list[str]) -> dict[str, Any]:
    with write_transaction():
        sub = _find(batch_id, seller_id)
        if sub.status not in ("pending", "reviewing"):
            raise Conflict(f"a submission that is {sub.status} takes no more images",
                           details={"status": sub.status})
        last = (Image.select(peewee.fn.max(Image.position))
                .where(Image.submission == sub.id).scalar())
        image = Image.create(submission=sub.id, cloudflare_id=cloudflare_id, url=url,
                             variants=variants, position=0 if last is None else last + 1,
                             created_at=clock.now())
        return {"id": image.id, "cloudflare_id": image.cloudflare_id, "url": image.url,
                "variants": image.variants, "position": image.position}


def _refuse(sub: SellSubmission, action: str, actor: str) -> InvalidOfferTransition:
    return InvalidOfferTransition(
        f"{actor} cannot {action} a submission that is {sub.status} / {sub.offer_status}",
        details={"status": sub.status, "offer_status": sub.offer_status,
                 "action": action, "actor": actor})


def _step(sub: SellSubmission, action: str, actor: str, amount: int | None, now: datetime,
          *, actor_user: int | None = None, message: str = "",
          **changes: Any) -> SellSubmission:
    """Apply one negotiation step: the new offer status, ``changes``, and the event."""
    key = (sub.offer_status, action, actor)
    if key not in OFFERS or (action != "expire" and sub.status not in NEGOTIATING):
        raise _refuse(sub, action, actor)
    (SellSubmission.update(offer_status=OFFERS[key], updated_at=now, **changes)
     .where(SellSubmission.id == sub.id).execute())
    OfferEvent.create(submission=sub.id, actor=actor, actor_user=actor_user, action=action,
                      amount_cents=amount, message=message, created_at=now)
    return SellSubmission.get_by_id(sub.id)


def review(batch_id: str, status: str, *, admin_id: int) -> dict[str, Any]:
    """The shop moves the review on (pending → reviewing → approved | rejected)."""
    now = clock.now()
    with write_transaction():
        sub = _find(batch_id)
        action = REVIEW_ACTIONS[status]
        if (sub.status, action, "shop") not in REVIEW:
            raise _refuse(sub, action, "shop")
        (SellSubmission.update(status=status, updated_at=now)
         .where(SellSubmission.id == sub.id).execute())
        OfferEvent.create(submission=sub.id, actor="shop", actor_user=admin_id,
                          action="review", message=status, created_at=now)
        audit.record(admin_id, "submission.review", "submission", batch_id,
                     {"status": sub.status}, {"status": status})
        return _view(SellSubmission.get_by_id(sub.id))


def withdraw(batch_id: str, *, seller_id: int) -> dict[str, Any]:
    """The seller takes the batch back, any time before acceptance."""
    now = clock.now()
    with write_transaction():
        sub = _expire_if_due(_find(batch_id, seller_id), now)
        if (sub.status, "withdraw", "seller") not in REVIEW or sub.offer_status == "accepted":
            raise _refuse(sub, "withdraw", "seller")
        (SellSubmission.update(status="withdrawn", updated_at=now)
         .where(SellSubmission.id == sub.id).execute())
        OfferEvent.create(submission=sub.id, actor="seller", actor_user=seller_id,
                          action="withdraw", created_at=now)
        return _view(SellSubmission.get_by_id(sub.id))


def offer(batch_id: str, offered_price_cents: int, message: str = "", *,
          admin_id: int) -> dict[str, Any]:
    """The shop's offer (also its answer to a counter, or a new offer after one expired)."""
    now = clock.now()
    expires = now + timedelta(days=get_settings().offer_days)
    with write_transaction():
        sub = _expire_if_due(_find(batch_id), now)
        before = {"offer_status": sub.offer_status,
                  "offered_price_cents": sub.offered_price_cents}
        sub = _step(sub, "offer", "shop", offered_price_cents, now, actor_user=admin_id,
                    message=message, offered_price_cents=offered_price_cents,
                    offer_expires_at=expires)
        audit.record(admin_id, "submission.offer", "submission", batch_id, before,
                     {"offer_status": sub.offer_status,
                      "offered_price_cents": offered_price_cents})
        return _view(sub)


def accept_counter(batch_id: str, *, admin_id: int) -> dict[str, Any]:
    """The shop accepts the seller's counter: the counter price becomes final."""
    now = clock.now()
    with write_transaction():
        sub = _find(batch_id)
        if (sub.offer_status, "accept", "shop") not in OFFERS:
            raise _refuse(sub, "accept", "shop")
        accepted = _accept(sub, sub.seller_price_cents, "shop", admin_id, now)
        audit.record(admin_id, "submission.accept_counter", "submission", batch_id,
                     {"offer_status": sub.offer_status},
                     {"offer_status": "accepted",
                      "final_price_cents": accepted.final_price_cents})
        return _view(accepted)


def respond(batch_id: str, response: str, *, seller_id: int,
            counter_price_cents: int | None = None, message: str = "",
            idempotency_key: str | None = None) -> tuple[int, dict[str, Any]]:
    """The seller answers the open offer: accept, reject, or counter with a price."""
    if response == "counter" and counter_price_cents is None:
        raise Invalid("a counter needs counter_price_cents",
                      details={"fields": {"counter_price_cents": "required to counter"}})
    keyed = idempotency.keyed(seller_id, "offer_response", idempotency_key, {
        "batch_id": batch_id, "response": response,
        "counter_price_cents": counter_price_cents, "message": message})
    now = clock.now()
    with write_transaction():
        stored = idempotency.replay(keyed)
        if stored is not None:
            return stored
        sub = _expire_if_due(_find(batch_id, seller_id), now)
        responded = {"seller_response": response, "responded_at": now}
        if response == "accept":
            if (sub.offer_status, "accept", "seller") not in OFFERS:
                raise _refuse(sub, "accept", "seller")
            sub = _accept(sub, sub.offered_price_cents, "seller", seller_id, now,
                          message=message, **responded)
        elif response == "reject":
            sub = _step(sub, "reject", "seller", None, now, actor_user=seller_id,
                        message=message, **responded)
        else:
            sub = _step(sub, "counter", "seller", counter_price_cents, now,
                        actor_user=seller_id, message=message,
                        seller_price_cents=counter_price_cents, **responded)
        body = {"submission": _json_view(sub)}
        idempotency.remember(keyed, 200, body)
    return 200, body


def _accept(sub: SellSubmission, price: int, actor: str, actor_user: int, now: datetime,
            *, message: str = "", **changes: Any) -> SellSubmission:
    """Acceptance, inside the caller's transaction: the price is final, each item becomes
    a draft product with a ``purchase`` (+1) move and the batch's pictures, and the payout
    is owed."""
    sub = _step(sub, "accept", actor, price, now, actor_user=actor_user, message=message,
                final_price_cents=price, payout_status="owed", **changes)
    items = list(SellItem.select().where(SellItem.submission == sub.id).order_by(SellItem.id))
    images = list(Image.select().where(Image.submission == sub.id)
                  .order_by(Image.position, Image.id))
    # A starting shelf price for the owner to adjust: twice what the shop paid per item.
    shelf_price = max(100, (2 * price // max(len(items), 1)) // 50 * 50)
    for item in items:
        product = Product.create(
            sku=f"{sub.batch_id}-{item.id}", title=item.title, brand=item.brand,
            category=item.category, size=item.size, condition=item.condition,
            description=item.notes, price_cents=shelf_price, status="draft",
            source_item=item.id, created_at=now, updated_at=now)
        append_move(product.id, 1, "purchase", submission_id=sub.id, actor_id=actor_user,
                    note=f"bought in with {sub.batch_id}")
        for image in images:  # an image has one owner: the product gets copies
            Image.create(product=product.id, cloudflare_id=image.cloudflare_id,
                         url=image.url, variants=image.variants, position=image.position,
                         created_at=now)
    return sub


def record_payout(batch_id: str, reference: str, *, admin_id: int) -> dict[str, Any]:
    """Mark an owed payout paid; 409 unless it is owed."""
    now = clock.now()
    with write_transaction():
        sub = _find(batch_id)
        if sub.payout_status != "owed":
            raise Conflict(f"no payout is owed (it is {sub.payout_status})",
                           details={"payout_status": sub.payout_status})
        (SellSubmission.update(payout_status="paid", payout_reference=reference,
                               updated_at=now).where(SellSubmission.id == sub.id).execute())
        OfferEvent.create(submission=sub.id, actor="shop", actor_user=admin_id,
                          action="payout", amount_cents=sub.final_price_cents,
                          message=reference, created_at=now)
        audit.record(admin_id, "submission.payout", "submission", batch_id,
                     {"payout_status": "owed"},
                     {"payout_status": "paid", "payout_reference": reference})
        return _view(SellSubmission.get_by_id(sub.id))


EXPIRY_BATCH = 200


def expire_all_offers() -> int:
    """The cron job: every offer past its date, in short batches."""
    return batches.run(expire_offers, EXPIRY_BATCH)


def expire_offers(batch: int = EXPIRY_BATCH) -> int:
    """Expire up to ``batch`` unanswered offers past their date (cron), in one short
    transaction; idempotent and safe twice at once (re-read under the lock)."""
    now = clock.now()
    with write_transaction():
        due = list(SellSubmission.select().where(
            (SellSubmission.offer_status == "offer_sent")
            & (SellSubmission.offer_expires_at <= now)).limit(batch))
        for sub in due:
            _expire_if_due(sub, now)
        return len(due)
