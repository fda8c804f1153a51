"""What the submission pages read beside ``selling``'s own views (issue 15, "Submissions"
and "A seller's page"): who each seller is and how many items a listed batch holds (the
API's list shows neither), and which of ``selling.RULES``' actions fit a submission now, so
a page offers only those as buttons. These are reads only; every change still goes
through ``selling``, which decides (a page may show a button the state no longer allows,
and the service refuses it in its own words).

Each read is one indexed query for a whole page of submissions: ``users`` by primary key,
``sell_items`` through ``sell_items_submission_id`` after ``sell_submissions_batch_id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import peewee

from shop.errors import Invalid
from shop.models import SellItem, SellSubmission, User
from shop.services import selling

# The filters of the queue, in the order a submission goes through them (the columns'
# CHECK constraints, as the API's SubmissionStatus and OfferStatus name them).
STATUSES = ("pending", "reviewing", "approved", "rejected", "withdrawn")
OFFER_STATUSES = ("no_offer", "offer_sent", "countered", "accepted", "rejected", "expired")

# What the page calls each shop action, and the RULES entry that allows it. A review
# form's three buttons are the statuses selling.review takes (selling.REVIEW_ACTIONS).
SHOP_ACTIONS = {**{status: (action, "shop") for status, action in
                   selling.REVIEW_ACTIONS.items()},
                "offer": ("offer", "shop"), "accept_counter": ("accept", "shop")}
SELLER_ACTIONS = {"accept": ("accept", "seller"), "reject": ("reject", "seller"),
                  "counter": ("counter", "seller")}


def _allowed(submission: dict[str, Any], actions: dict[str, tuple[str, str]]) -> frozenset[str]:
    fits = set()
    for name, key in actions.items():
        rule = selling.RULES[key]
        if submission["status"] in rule.statuses and submission["offer_status"] in rule.offers:
            fits.add(name)
    return frozenset(fits)


def shop_actions(submission: dict[str, Any]) -> frozenset[str]:
    """The shop's actions RULES allows on this submission now (its view from ``selling``):
    ``reviewing``/``approved``/``rejected`` (the review), ``offer``, ``accept_counter``,
    and ``payout`` while one is owed (``selling.record_payout``'s own condition)."""
    allowed = _allowed(submission, SHOP_ACTIONS)
    if submission.get("payout_status") == "owed":
        allowed |= {"payout"}
    return allowed


def seller_actions(submission: dict[str, Any]) -> frozenset[str]:
    """The seller's answers RULES allows now: ``accept``, ``reject``, ``counter``."""
    return _allowed(submission, SELLER_ACTIONS)


def people(user_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """Each seller's name and email, by id (one query by primary key)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    return {u.id: {"name": u.name, "email": u.email}
            for u in User.select(User.id, User.name, User.email).where(User.id.in_(ids))}


def item_counts(batch_ids: Iterable[str]) -> dict[str, int]:
    """How many items each listed batch holds (one grouped query over a page of batches)."""
    ids = sorted(set(batch_ids))
    if not ids:
        return {}
    rows = (SellSubmission.select(SellSubmission.batch_id, peewee.fn.COUNT(SellItem.id))
            .join(SellItem, on=(SellItem.submission == SellSubmission.id))
            .where(SellSubmission.batch_id.in_(ids))
            .group_by(SellSubmission.batch_id).tuples())
    return {batch: count for batch, count in rows}


def queue_page(status: str | None, offer_status: str | None, *, limit: int,
               cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """A page of ``selling.all_submissions`` with each row's seller and item count; a
    filter that is not a status is refused (400, naming it), as the API refuses it."""
    wrong = {name: "one of " + ", ".join(allowed) for name, value, allowed in (
        ("status", status, STATUSES), ("offer_status", offer_status, OFFER_STATUSES))
        if value is not None and value not in allowed}
    if wrong:
        raise Invalid("that is not a status a submission can have",
                      details={"fields": wrong})
    page = selling.all_submissions(status, offer_status, limit=limit, cursor=cursor)
    sellers = people(s["seller_id"] for s in page.items)
    counts = item_counts(s["batch_id"] for s in page.items)
    rows = [{**s, "seller": sellers.get(s["seller_id"]),
             "item_count": counts.get(s["batch_id"], 0)} for s in page.items]
    return rows, page.next_cursor
