"""Selling endpoints (API.md "Selling"): sellers submit and answer offers; the shop
reviews, offers, accepts counters and pays out."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from shop.api import schemas
from shop.api.auth import current_user
from shop.api.routing import Answer, header, route
from shop.services import photos, selling

bp = Blueprint("selling", __name__, url_prefix="/api")


def _wrap(submission: dict[str, Any]) -> dict[str, Any]:
    return {"submission": submission}


@route(bp, "/sell", "POST", summary="Submit a batch of items to sell", status=201,
       auth="user", body=schemas.SubmissionIn, response=schemas.SubmissionWrapper)
def submit(body: schemas.SubmissionIn) -> Any:
    items = [item.model_dump() for item in body.items]
    return _wrap(selling.submit(current_user().id, items, body.seller_price_cents,
                                body.notes))


@route(bp, "/sell", "GET", summary="My submissions, newest first", auth="user",
       query=schemas.PageQuery, response=schemas.SubmissionPage)
def mine(query: schemas.PageQuery) -> Any:
    page = selling.submissions_of(current_user().id, limit=query.limit, cursor=query.cursor)
    return {"items": page.items, "next_cursor": page.next_cursor}


@route(bp, "/sell/<batch_id>", "GET", summary="One of my submissions, with its history",
       auth="user", response=schemas.SubmissionWrapper, errors=[404])
def one(batch_id: str) -> Any:
    return _wrap(selling.get_submission(batch_id, seller_id=current_user().id))


@route(bp, "/sell/<batch_id>/images", "POST", summary="Attach a picture to my submission",
       status=201, auth="user", body=schemas.ImageIn, response=schemas.SellImageWrapper,
       errors=[404, 409])
def add_image(batch_id: str, body: schemas.ImageIn) -> Any:
    return {"image": selling.add_image(batch_id, current_user().id, body.cloudflare_id,
                                       body.url, body.variants)}


@route(bp, "/sell/<batch_id>/items/<id:item_id>/images", "POST",
       summary="Upload a photo of one item (multipart, field file) or attach a reference "
               "(JSON); it goes to that item's product", status=201,
       auth="user", body=schemas.ImageIn, upload=photos.FIELD, max_upload=photos.MAX_BYTES,
       response=schemas.SellImageWrapper, errors=[404, 409])
def add_item_image(batch_id: str, item_id: int, body: schemas.ImageIn | None,
                   upload: bytes | None) -> Any:
    seller = current_user().id
    if upload is not None:
        return {"image": selling.add_photo(batch_id, seller, item_id, upload)}
    return {"image": selling.add_image(batch_id, seller, body.cloudflare_id, body.url,
                                       body.variants, item_id=item_id)}


@route(bp, "/sell/<batch_id>/items/<id:item_id>/images/<id:image_id>", "PATCH",
       summary="Move a photo of one item to another place in its display order",
       auth="user", body=schemas.ImagePositionIn, response=schemas.SellImageList,
       errors=[404, 409])
def move_item_image(batch_id: str, item_id: int, image_id: int,
                    body: schemas.ImagePositionIn) -> Any:
    return {"images": selling.move_photo(batch_id, current_user().id, item_id, image_id,
                                         body.position)}


@route(bp, "/sell/<batch_id>/items/<id:item_id>/images/<id:image_id>", "DELETE",
       summary="Delete a photo of one item", status=204, auth="user", errors=[404, 409])
def remove_item_image(batch_id: str, item_id: int, image_id: int) -> Any:
    selling.remove_photo(batch_id, current_user().id, item_id, image_id)


@route(bp, "/sell/<batch_id>/withdraw", "POST", summary="Take my submission back",
       auth="user", response=schemas.SubmissionWrapper, errors=[404, 409])
def withdraw(batch_id: str) -> Any:
    return _wrap(selling.withdraw(batch_id, seller_id=current_user().id))


@route(bp, "/offers/<batch_id>/respond", "POST",
       summary="Answer the shop's offer: accept, reject or counter", auth="user",
       body=schemas.RespondIn, response=schemas.SubmissionWrapper, errors=[404, 409],
       headers=["Idempotency-Key"])
def respond(batch_id: str, body: schemas.RespondIn) -> Any:
    key = header("Idempotency-Key")
    status, answer = selling.respond(batch_id, body.response, seller_id=current_user().id,
                                     counter_price_cents=body.counter_price_cents,
                                     message=body.message, idempotency_key=key)
    return Answer(answer, status)


@route(bp, "/admin/submissions", "GET", summary="Every submission, newest first",
       auth="admin", query=schemas.SubmissionListQuery, response=schemas.SubmissionPage)
def all_submissions(query: schemas.SubmissionListQuery) -> Any:
    page = selling.all_submissions(query.status, query.offer_status, limit=query.limit,
                                   cursor=query.cursor)
    return {"items": page.items, "next_cursor": page.next_cursor}


@route(bp, "/admin/submissions/<batch_id>", "GET", summary="One submission, with its history",
       auth="admin", response=schemas.SubmissionWrapper, errors=[404])
def admin_one(batch_id: str) -> Any:
    return _wrap(selling.get_submission(batch_id))


@route(bp, "/admin/submissions/<batch_id>/review", "POST", summary="Move the review on",
       auth="admin", body=schemas.ReviewIn, response=schemas.SubmissionWrapper,
       errors=[404, 409])
def review(batch_id: str, body: schemas.ReviewIn) -> Any:
    return _wrap(selling.review(batch_id, body.status, admin_id=current_user().id))


@route(bp, "/admin/submissions/<batch_id>/offer", "POST",
       summary="Make an offer (or answer a counter with a new one)", status=201,
       auth="admin", body=schemas.OfferIn, response=schemas.SubmissionWrapper,
       errors=[404, 409])
def offer(batch_id: str, body: schemas.OfferIn) -> Any:
    return _wrap(selling.offer(batch_id, body.offered_price_cents, body.message,
                               admin_id=current_user().id))


@route(bp, "/admin/submissions/<batch_id>/accept-counter", "POST",
       summary="Accept the seller's counter", auth="admin",
       response=schemas.SubmissionWrapper, errors=[404, 409])
def accept_counter(batch_id: str) -> Any:
    return _wrap(selling.accept_counter(batch_id, admin_id=current_user().id))


@route(bp, "/admin/submissions/<batch_id>/payout", "POST", summary="Record the payout paid",
       auth="admin", body=schemas.PayoutIn, response=schemas.SubmissionWrapper,
       errors=[404, 409])
def payout(batch_id: str, body: schemas.PayoutIn) -> Any:
    return _wrap(selling.record_payout(batch_id, body.reference, admin_id=current_user().id))
