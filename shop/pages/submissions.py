"""Submissions (issue 15): the queue of sellers' batches and one batch's page, where the
owner reviews it, makes an offer, accepts a counter and records the payout, each through
the same ``selling`` function as the API (API.md "Selling"), one call per form."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request, url_for

from shop.errors import Invalid, ShopError
from shop.pages.web import admin, cents_field, field_errors, form_values, nav, page, submit
from shop.services import sell_pages, selling

nav("admin.submissions", "Submissions")

PAGE_SIZE = 50
MAX_CENTS = 100_000_000  # the API's Money: up to a million euros
REVIEW_LABELS = {"reviewing": "Start the review", "approved": "Approve",
                 "rejected": "Reject"}


@admin.route("/submissions")
def submissions() -> Response:
    status = request.args.get("status") or None
    offer_status = request.args.get("offer_status") or None
    filters = {"status": status or "", "offer_status": offer_status or ""}
    try:
        rows, cursor = sell_pages.queue_page(status, offer_status, limit=PAGE_SIZE,
                                             cursor=request.args.get("cursor") or None)
    except ShopError as exc:
        return page("admin/submissions.html", exc.status, rows=[], next_url=None,
                    filters=filters, error=exc.message, errors=field_errors(exc),
                    **_choices())
    next_url = url_for("admin.submissions", status=status, offer_status=offer_status,
                       cursor=cursor) if cursor else None
    return page("admin/submissions.html", rows=rows, next_url=next_url, filters=filters,
                error=None, errors={}, **_choices())


def _choices() -> dict[str, Any]:
    return {"statuses": [(s, s) for s in sell_pages.STATUSES],
            "offer_statuses": [(s, s.replace("_", " ")) for s in sell_pages.OFFER_STATUSES]}


def _detail(batch_id: str, status: int = 200, *, failed: str = "",
            exc: ShopError | None = None) -> Response:
    """The batch's page; after a refused form, that form again with the service's words
    and what was typed."""
    submission = selling.get_submission(batch_id)
    seller = sell_pages.people([submission["seller_id"]]).get(submission["seller_id"])
    return page("admin/submissions_detail.html", status, s=submission, seller=seller,
                allowed=sell_pages.shop_actions(submission), review_labels=REVIEW_LABELS,
                failed=failed, error=exc.message if exc else None,
                errors=field_errors(exc) if exc else {},
                values=form_values() if exc else {})


@admin.route("/submissions/<batch_id>")
def submissions_detail(batch_id: str) -> Response:
    return _detail(batch_id)


def _round_trip(batch_id: str, form: str, action: Any, done: str) -> Response:
    return submit(action, done=done,
                  then=url_for("admin.submissions_detail", batch_id=batch_id),
                  again=lambda exc: _detail(batch_id, exc.status, failed=form, exc=exc))


def text_field(name: str, *, label: str, limit: int, required: bool = False,
          one_line: bool = False) -> str:
    """A line or a message typed in a form, within the API's limits (a line: no control
    characters; a message: new lines and tabs too)."""
    value = (request.form.get(name) or "").strip()
    if required and not value:
        raise Invalid(f"{label} is required", details={"fields": {name: "required"}})
    allowed = "" if one_line else "\t\n\r"
    if any((ord(c) < 32 and c not in allowed) or ord(c) == 127 for c in value):
        raise Invalid(f"{label} has a control character",
                      details={"fields": {name: "on one line, without control characters"
                                          if one_line else "without control characters"}})
    if len(value) > limit:
        raise Invalid(f"{label} is at most {limit} characters",
                      details={"fields": {name: f"at most {limit} characters"}})
    return value


def amount_field(name: str, *, label: str) -> int:
    """An amount in euros, as the API's Money takes it (up to a million euros)."""
    cents = cents_field(name, label=label)
    assert cents is not None
    if cents > MAX_CENTS:
        raise Invalid(f"{label} is at most €1,000,000.00",
                      details={"fields": {name: "at most 1000000.00"}})
    return cents


@admin.route("/submissions/<batch_id>/review", methods=["POST"])
def submissions_review(batch_id: str) -> Response:
    def action() -> None:
        status = request.form.get("status", "")
        if status not in REVIEW_LABELS:
            raise Invalid("choose reviewing, approved or rejected",
                          details={"fields": {"status": "reviewing, approved or rejected"}})
        selling.review(batch_id, status, admin_id=g.admin.id)
    return _round_trip(batch_id, "review", action,
                       f"{batch_id} is {request.form.get('status', '')} now.")


@admin.route("/submissions/<batch_id>/offer", methods=["POST"])
def submissions_offer(batch_id: str) -> Response:
    return _round_trip(batch_id, "offer", lambda: selling.offer(
        batch_id, amount_field("amount", label="Offer"),
        text_field("message", label="Message", limit=2000), admin_id=g.admin.id),
        "The offer is sent: the seller has a mail with a link to answer it.")


@admin.route("/submissions/<batch_id>/accept-counter", methods=["POST"])
def submissions_accept_counter(batch_id: str) -> Response:
    return _round_trip(batch_id, "accept_counter",
                       lambda: selling.accept_counter(batch_id, admin_id=g.admin.id),
                       "Counter accepted: the items are draft products in stock now, and "
                       "the payout is owed.")


@admin.route("/submissions/<batch_id>/payout", methods=["POST"])
def submissions_payout(batch_id: str) -> Response:
    return _round_trip(batch_id, "payout", lambda: selling.record_payout(
        batch_id, text_field("reference", label="Payment reference", limit=200, required=True,
              one_line=True),
        admin_id=g.admin.id), "The payout is recorded as paid.")
