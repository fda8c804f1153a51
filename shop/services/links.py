"""Signed links to a seller's page: ``/sell/<batch_id>?t=<token>`` opens one submission
for its seller without signing in (the offer mail carries it; API.md "Pages").

The token is an ``itsdangerous`` URL-safe timed signature, with the shop's secret key and
a salt of its own (so no other signed value of the shop, such as the session cookie, is
ever accepted as one), over ``[batch_id, seller_id]``: it opens that batch only, for that
seller only, and only while the batch is still that seller's. It lasts ``offer_days + 7``
days from signing (``SHOP_OFFER_DAYS``, 14 by default, so 21 days): the whole life of the
offer it was mailed with, and a week more to read the outcome; after that, the seller
signs in. A token that is expired, altered, for another batch, or signed with another key
opens nothing, and looks exactly like a batch that does not exist.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeTimedSerializer

from shop.config import Settings, get_settings
from shop.models import SellSubmission, User

SALT = "shop.sell-link.v1"
GRACE = timedelta(days=7)  # after the offer's own SHOP_OFFER_DAYS
PARAMETER = "t"  # /sell/<batch_id>?t=<token>

def lifetime(settings: Settings | None = None) -> timedelta:
    """How long a signed link opens its page: the offer's days and a week."""
    return timedelta(days=(settings or get_settings()).offer_days) + GRACE


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=SALT)


def sell_token(batch_id: str, seller_id: int, settings: Settings | None = None) -> str:
    """A token that opens ``batch_id`` for ``seller_id`` for :func:`lifetime` from now."""
    return _serializer(settings or get_settings()).dumps([batch_id, seller_id])


def seller_of(token: str, batch_id: str, settings: Settings | None = None) -> int | None:
    """The seller a token speaks for on ``batch_id``; None when it is expired, altered,
    signed for another batch, or not a token at all."""
    settings = settings or get_settings()
    try:
        payload: Any = _serializer(settings).loads(
            token, max_age=int(lifetime(settings).total_seconds()))
    except BadSignature:  # SignatureExpired is one too
        return None
    if (isinstance(payload, list) and len(payload) == 2 and payload[0] == batch_id
            and isinstance(payload[1], int) and not isinstance(payload[1], bool)):
        return payload[1]
    return None


def sell_url(base: str, batch_id: str, recipient: str,
             settings: Settings | None = None) -> str:
    """The seller's page of ``batch_id`` for a mail to ``recipient``: signed when the
    recipient is the batch's seller (their own address), plain for anyone else (the owner
    signs in). Called while a mail is rendered, with the sender's connection open."""
    plain = f"{base}/sell/{quote(batch_id, safe='')}"
    found = list(SellSubmission.select(SellSubmission.seller, User.email)
                 .join(User, on=(User.id == SellSubmission.seller))
                 .where(SellSubmission.batch_id == batch_id).limit(1).tuples())
    if not found or found[0][1] != recipient:
        return plain
    return f"{plain}?{PARAMETER}={sell_token(batch_id, found[0][0], settings)}"
