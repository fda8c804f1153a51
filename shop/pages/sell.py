"""A seller's page (issue 15; API.md "Pages"): ``/sell/<batch_id>`` shows one submission
to its seller (items, photos, the offer and its history) and takes their answer to the
offer: accept, reject or counter, through ``selling.respond`` as ``POST
/api/offers/<batch_id>/respond`` does.

Who the seller is comes from one of two places, checked before any view runs: a signed
link from the shop's mail (``?t=<token>``, services/links.py) or the pages' session
cookie (any account signs in at ``/admin/login``). A token that does not open this batch
and a batch that is someone else's both answer the same 404 as a batch that does not
exist; a guest without a token is sent to sign in and brought back. Every form carries
this session's CSRF token, checked before anything changes.
"""

from __future__ import annotations

from flask import Response, g, redirect, request, url_for

from shop.config import get_settings
from shop.errors import Invalid, NotFound, ShopError
from shop.pages.auth import signed_in_user
from shop.pages.submissions import amount_field, text_field
from shop.pages.web import check_csrf, field_errors, form_values, page, seller, submit
from shop.services import links, sell_pages, selling

RESPONSES = ("accept", "reject", "counter")
# One answer for a batch that is not there, someone else's, and a link that does not open
# it (expired, altered, another batch's): none of them says which it was.
NOT_HERE = ("No submission opens at this address. A link from our mail lasts a few weeks; "
            "after that, sign in with your account to see your submission.")


@seller.before_request
def _who() -> Response | None:
    """The seller this request speaks for (``g.seller_id``), from the link's token or the
    signed-in account; then the CSRF check of a form."""
    batch_id = (request.view_args or {}).get("batch_id")
    if batch_id is None:  # no page of this blueprint: Flask's own 404/405
        return None
    token = request.args.get(links.PARAMETER)
    if token is not None:
        seller_id = links.seller_of(token, batch_id)
        if seller_id is None:
            raise NotFound(NOT_HERE)
        g.seller_id, g.sell_token = seller_id, token
    else:
        user = signed_in_user()
        if user is None:
            return redirect(url_for("admin.login", next=request.path), 303)
        g.seller_id, g.sell_token = user.id, None
    if request.method == "POST":
        check_csrf()
    return None


def _here(batch_id: str) -> str:
    """This page's address, with the link's token when the seller came by it."""
    return url_for("seller.submission", batch_id=batch_id, t=g.sell_token)


def _page(batch_id: str, status: int = 200, *, failed: str = "",
          exc: ShopError | None = None) -> Response:
    try:
        submission = selling.get_submission(batch_id, seller_id=g.seller_id)
    except NotFound:
        raise NotFound(NOT_HERE) from None
    return page("sell/submission.html", status, s=submission,
                allowed=sell_pages.seller_actions(submission), shop=get_settings().shop_name,
                respond_url=url_for("seller.respond", batch_id=batch_id, t=g.sell_token),
                failed=failed, error=exc.message if exc else None,
                errors=field_errors(exc) if exc else {},
                values=form_values() if exc else {})


@seller.route("/sell/<batch_id>")
def submission(batch_id: str) -> Response:
    return _page(batch_id)


DONE = {"accept": "You accepted the offer. The items are the shop's now, and your payout "
                  "is on its way.",
        "reject": "You turned the offer down.",
        "counter": "Your counter-offer is sent to the shop."}


@seller.route("/sell/<batch_id>/respond", methods=["POST"])
def respond(batch_id: str) -> Response:
    response = request.form.get("response", "")

    def action() -> None:
        if response not in RESPONSES:
            raise Invalid("answer accept, reject or counter",
                          details={"fields": {"response": "accept, reject or counter"}})
        counter = message = None
        if response == "counter":
            counter = amount_field("counter_price", label="Your price")
            message = text_field("message", label="Your message", limit=2000)
        selling.respond(batch_id, response, seller_id=g.seller_id,
                        counter_price_cents=counter, message=message or "")

    return submit(action, done=DONE.get(response, ""), then=_here(batch_id),
                  again=lambda exc: _page(batch_id, exc.status,
                                          failed=response if response in RESPONSES
                                          else "accept", exc=exc))
