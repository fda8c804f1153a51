"""The sell side: a seller's batch of items, the shop's offer, the negotiation, and the
atomic acceptance that turns items into stock. This module owns every transition of a
submission.

A submission has two statuses that move together: ``status`` (the shop's review) and
``offer_status`` (the negotiation). ``RULES`` is the one table of what may happen: for
each (action, actor), the pairs of statuses it may start from and what it moves them to.
Every action is checked against both statuses there, and nowhere else; anything else is
409 ``invalid_offer_transition`` with nothing written. Every step appends an
``offer_events`` row in the same transaction. Acceptance, by either side, is one write
transaction: final price, each item a draft product with its own photos, a cost basis
and a ``purchase`` move, the payout owed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import peewee

from shop import clock
from shop.config import get_settings
from shop.db import locked, write_transaction
from shop.errors import Conflict, Invalid, InvalidOfferTransition, NotFound
from shop.models import Image, OfferEvent, Product, SellItem, SellSubmission
from shop.services import audit, batches, idempotency, media, notifications, photos
from shop.services.codes import readable_code
from shop.services.ledger import append_move
from shop.services.pagination import DEFAULT_LIMIT, Page, newest_first

MAX_ITEMS = 50
MAX_PHOTOS = photos.MAX_PHOTOS

ANY_STATUS = frozenset({"pending", "reviewing", "approved", "rejected", "withdrawn"})
NEGOTIATING = frozenset({"reviewing", "approved"})
NOT_ACCEPTED = frozenset({"no_offer", "offer_sent", "countered", "rejected", "expired"})
# No offer is waiting for an answer: the shop may decide (an open offer stands until the
# seller answers it or it expires, so a seller never accepts a price that has changed).
UNANSWERED = frozenset({"no_offer", "countered", "rejected", "expired"})


@dataclass(frozen=True)
class Rule:
    """Where an action may start (both statuses) and where it leads (None: unchanged)."""

    statuses: frozenset[str]
    offers: frozenset[str]
    status: str | None = None
    offer: str | None = None
    event: str | None = None  # the offer_events action; default: the action's own name


RULES: dict[tuple[str, str], Rule] = {
    # The review. Once accepted, the batch is the shop's stock: no review moves it.
    ("review", "shop"): Rule(frozenset({"pending"}), frozenset({"no_offer"}),
                             status="reviewing", event="review"),
    ("approve", "shop"): Rule(frozenset({"reviewing"}), NOT_ACCEPTED, status="approved",
                              event="review"),
    ("reject", "shop"): Rule(frozenset({"pending", "reviewing"}), UNANSWERED,
                             status="rejected", event="review"),
    ("withdraw", "seller"): Rule(frozenset({"pending", "reviewing", "approved"}),
                                 NOT_ACCEPTED, status="withdrawn"),
    # The negotiation, only while the submission is under review or approved.
    ("offer", "shop"): Rule(NEGOTIATING, frozenset({"no_offer", "countered", "expired"}),
                            offer="offer_sent"),
    ("accept", "seller"): Rule(NEGOTIATING, frozenset({"offer_sent"}), offer="accepted"),
    ("reject", "seller"): Rule(NEGOTIATING, frozenset({"offer_sent"}), offer="rejected"),
    ("counter", "seller"): Rule(NEGOTIATING, frozenset({"offer_sent"}), offer="countered"),
    ("accept", "shop"): Rule(NEGOTIATING, frozenset({"countered"}), offer="accepted"),
    ("expire", "shop"): Rule(ANY_STATUS, frozenset({"offer_sent"}), offer="expired"),
    # Photos, while the shop has not decided on the batch.
    ("photo", "seller"): Rule(frozenset({"pending", "reviewing"}), NOT_ACCEPTED),
}
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
        images = [_image_data(i) for i in Image.select().where(Image.submission == sub.id)
                  .order_by(Image.position, Image.id)]
        data["items"] = [{"id": i.id, "title": i.title, "brand": i.brand,
                          "category": i.category, "size": i.size, "condition": i.condition,
                          "notes": i.notes, "asking_price_cents": i.asking_price_cents,
                          "images": [m for m in images if m["item_id"] == i.id]}
                         for i in SellItem.select().where(SellItem.submission == sub.id)
                         .order_by(SellItem.id)]
        data["images"] = images
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
    sub = locked(SellSubmission.select().where(SellSubmission.batch_id == batch_id)).first()
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
        notifications.submission_received(sub.id)
        return _view(sub)


def _photo_owner(batch_id: str, seller_id: int, item_id: int | None) -> tuple[
        SellSubmission, peewee.ModelSelect]:
    """The seller's open submission and the images of the item (or the batch) a photo goes
    to; 404 for anyone else's, 409 once the shop has decided (RULES)."""
    sub = _find(batch_id, seller_id)
    _rule(sub, "photo", "seller")
    mine = Image.select().where(Image.submission == sub.id)
    if item_id is not None:
        if not SellItem.select().where((SellItem.id == item_id)
                                       & (SellItem.submission == sub.id)).exists():
            raise NotFound("no such item in this submission")
        mine = mine.where(Image.sell_item == item_id)
    else:
        mine = mine.where(Image.sell_item.is_null())
    return sub, mine.order_by(Image.position, Image.id)


def _room_for_a_photo(batch_id: str, seller_id: int, item_id: int | None) -> tuple[
        SellSubmission, int]:
    """As ``_photo_owner``, and 409 when the item has MAX_PHOTOS; the next position."""
    sub, mine = _photo_owner(batch_id, seller_id, item_id)
    count = mine.count()
    if item_id is not None and count >= MAX_PHOTOS:
        raise Conflict(f"an item takes at most {MAX_PHOTOS} photos: delete one first",
                       details={"item_id": item_id, "limit": MAX_PHOTOS})
    return sub, count


def add_image(batch_id: str, seller_id: int, cloudflare_id: str, url: str,
              variants: list[str], *, item_id: int | None = None) -> dict[str, Any]:
    """A reference to a picture of the batch, or of one of its items (which goes to that
    item's product on acceptance), while the shop has not decided; at most MAX_PHOTOS per
    item."""
    with write_transaction():
        sub, position = _room_for_a_photo(batch_id, seller_id, item_id)
        image = Image.create(submission=sub.id, sell_item=item_id,
                             cloudflare_id=cloudflare_id, url=url, variants=variants,
                             position=position, created_at=clock.now())
        return _image_data(image)


def add_photo(batch_id: str, seller_id: int, item_id: int, data: bytes) -> dict[str, Any]:
    """Upload a photo of one item: who may, and whether there is room, is checked before
    the work and again in the transaction; the files are written before the row (see
    services/media.py)."""
    _room_for_a_photo(batch_id, seller_id, item_id)  # a stranger's upload costs nothing
    stored = media.store(data)
    with write_transaction():
        sub, position = _room_for_a_photo(batch_id, seller_id, item_id)
        image = Image.create(submission=sub.id, sell_item=item_id, storage_key=stored.key,
                             width=stored.width, height=stored.height,
                             variants=list(media.VARIANT_NAMES), position=position,
                             created_at=clock.now())
        view = _image_data(image)
    media.ensure(stored)
    return view


def _item_photos(batch_id: str, seller_id: int, item_id: int, image_id: int) -> list[Image]:
    _sub, mine = _photo_owner(batch_id, seller_id, item_id)
    images = list(mine)
    if not any(i.id == image_id for i in images):
        raise NotFound("no such photo of this item")
    return images


def move_photo(batch_id: str, seller_id: int, item_id: int, image_id: int,
               position: int) -> list[dict[str, Any]]:
    """Show this photo of the item at ``position`` (0 first; past the end: last)."""
    with write_transaction():
        images = _item_photos(batch_id, seller_id, item_id, image_id)
        return [_image_data(i) for i in media.arrange(images, image_id, position)]


def remove_photo(batch_id: str, seller_id: int, item_id: int, image_id: int) -> None:
    """Delete one photo of the item, while the submission is open; the others close up."""
    with write_transaction():
        images = _item_photos(batch_id, seller_id, item_id, image_id)
        Image.delete().where(Image.id == image_id).execute()
        media.arrange([i for i in images if i.id != image_id])


def _image_data(image: Image) -> dict[str, Any]:
    return media.image_view({**media.row_of(image), "item_id": image.sell_item_id})


def cost_shares(final_price_cents: int, asking: list[int | None]) -> list[int]:
    """Each item's share of the final price, adding up to it exactly: proportional to
    the asking prices when every item has one, else equal (largest remainders first)."""
    count = len(asking)
    weights = [a for a in asking if a]
    if len(weights) != count:
        weights = [1] * count
    total = sum(weights)
    exact = [final_price_cents * w / total for w in weights]
    shares = [int(x) for x in exact]
    short = final_price_cents - sum(shares)
    for i in sorted(range(count), key=lambda i: (shares[i] - exact[i], i))[:short]:
        shares[i] += 1
    return shares


def shelf_price(cost_cents: int) -> int:
    """A starting shelf price for the owner to adjust: twice the cost, in 50-cent steps,
    at least one euro."""
    return max(100, 2 * cost_cents // 50 * 50)


def _refuse(sub: SellSubmission, action: str, actor: str) -> InvalidOfferTransition:
    return InvalidOfferTransition(
        f"{actor} cannot {action} a submission that is {sub.status} / {sub.offer_status}",
        details={"status": sub.status, "offer_status": sub.offer_status,
                 "action": action, "actor": actor})


def _rule(sub: SellSubmission, action: str, actor: str) -> Rule:
    """The rule for this action now, checked against both statuses; 409 otherwise."""
    rule = RULES.get((action, actor))
    if rule is None or sub.status not in rule.statuses or sub.offer_status not in rule.offers:
        raise _refuse(sub, action, actor)
    return rule


def _step(sub: SellSubmission, action: str, actor: str, amount: int | None, now: datetime,
          *, actor_user: int | None = None, message: str = "",
          **changes: Any) -> SellSubmission:
    """Apply one transition: both statuses as RULES says, ``changes``, and the event."""
    rule = _rule(sub, action, actor)
    if rule.status is not None:
        changes["status"] = rule.status
    if rule.offer is not None:
        changes["offer_status"] = rule.offer
    (SellSubmission.update(updated_at=now, **changes)
     .where(SellSubmission.id == sub.id).execute())
    event = rule.event or action
    OfferEvent.create(submission=sub.id, actor=actor, actor_user=actor_user, action=event,
                      amount_cents=amount,
                      message=rule.status if event == "review" else message,
                      created_at=now)
    return SellSubmission.get_by_id(sub.id)


def review(batch_id: str, status: str, *, admin_id: int) -> dict[str, Any]:
    """The shop moves the review on (pending → reviewing → approved | rejected)."""
    now = clock.now()
    with write_transaction():
        sub = _expire_if_due(_find(batch_id), now)
        before = sub.status
        sub = _step(sub, REVIEW_ACTIONS[status], "shop", None, now, actor_user=admin_id)
        audit.record(admin_id, "submission.review", "submission", batch_id,
                     {"status": before}, {"status": status})
        return _view(sub)


def withdraw(batch_id: str, *, seller_id: int) -> dict[str, Any]:
    """The seller takes the batch back, any time before acceptance."""
    now = clock.now()
    with write_transaction():
        sub = _expire_if_due(_find(batch_id, seller_id), now)
        return _view(_step(sub, "withdraw", "seller", None, now, actor_user=seller_id))


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
        notifications.offer_sent(sub.id)
        audit.record(admin_id, "submission.offer", "submission", batch_id, before,
                     {"offer_status": sub.offer_status,
                      "offered_price_cents": offered_price_cents})
        return _view(sub)


def accept_counter(batch_id: str, *, admin_id: int) -> dict[str, Any]:
    """The shop accepts the seller's counter: the counter price becomes final."""
    now = clock.now()
    with write_transaction():
        sub = _find(batch_id)
        _rule(sub, "accept", "shop")
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
            _rule(sub, "accept", "seller")
            sub = _accept(sub, sub.offered_price_cents, "seller", seller_id, now,
                          message=message, **responded)
        elif response == "reject":
            sub = _step(sub, "reject", "seller", None, now, actor_user=seller_id,
                        message=message, **responded)
        else:
            sub = _step(sub, "counter", "seller", counter_price_cents, now,
                        actor_user=seller_id, message=message,
                        seller_price_cents=counter_price_cents, **responded)
            notifications.counter_received(sub.id)
        body = {"submission": _json_view(sub)}
        idempotency.remember(keyed, 200, body)
    return 200, body


def _accept(sub: SellSubmission, price: int, actor: str, actor_user: int, now: datetime,
            *, message: str = "", **changes: Any) -> SellSubmission:
    """Acceptance, inside the caller's transaction: the price is final, each item becomes
    a draft product with its cost basis (its share of the price), a shelf price from it,
    a ``purchase`` (+1) move and copies of its own photos; the payout is owed."""
    sub = _step(sub, "accept", actor, price, now, actor_user=actor_user, message=message,
                final_price_cents=price, payout_status="owed", **changes)
    items = list(SellItem.select().where(SellItem.submission == sub.id).order_by(SellItem.id))
    photos: dict[int, list[Image]] = {}
    for image in (Image.select().where((Image.submission == sub.id)
                                       & Image.sell_item.is_null(False))
                  .order_by(Image.position, Image.id)):
        photos.setdefault(image.sell_item_id, []).append(image)
    costs = cost_shares(price, [item.asking_price_cents for item in items])
    for item, cost in zip(items, costs, strict=True):
        product = Product.create(
            sku=f"{sub.batch_id}-{item.id}", title=item.title, brand=item.brand,
            category=item.category, size=item.size, condition=item.condition,
            description=item.notes, price_cents=shelf_price(cost), cost_cents=cost,
            status="draft", source_item=item.id, created_at=now, updated_at=now)
        append_move(product.id, 1, "purchase", submission_id=sub.id, actor_id=actor_user,
                    note=f"bought in with {sub.batch_id}")
        for image in photos.get(item.id, []):  # an image has one owner: the product's copy
            Image.create(product=product.id, cloudflare_id=image.cloudflare_id,
                         url=image.url, variants=image.variants, position=image.position,
                         storage_key=image.storage_key, width=image.width,
                         height=image.height, created_at=now)
    notifications.offer_accepted(sub.id)
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
        notifications.payout_sent(sub.id, reference)
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
        due = list(locked(SellSubmission.select().where(
            (SellSubmission.offer_status == "offer_sent")
            & (SellSubmission.offer_expires_at <= now)).limit(batch)))
        for sub in due:
            _expire_if_due(sub, now)
        return len(due)


REMIND_BEFORE = timedelta(days=1)


def remind_offers(batch: int = EXPIRY_BATCH) -> int:
    """The cron job: a reminder to each seller whose open offer ends within a day, once
    per offer (the outbox keeps one per offer: running it again sends nothing more).
    Returns how many reminders were queued now."""
    now = clock.now()
    queued = 0
    last_id = 0
    while True:
        with write_transaction():
            due = list(SellSubmission.select(SellSubmission.id).where(
                (SellSubmission.offer_status == "offer_sent")
                & (SellSubmission.offer_expires_at > now)
                & (SellSubmission.offer_expires_at <= now + REMIND_BEFORE)
                & (SellSubmission.id > last_id)).order_by(SellSubmission.id).limit(batch))
            for sub in due:
                queued += notifications.offer_expiring(sub.id)
        if len(due) < batch:
            return queued
        last_id = due[-1].id
