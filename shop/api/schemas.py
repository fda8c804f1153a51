"""Request and response schemas of the HTTP API (API.md). The OpenAPI document uses these."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, PlainSerializer, StringConstraints

from shop import clock
from shop.api.routing import QueryModel, RequestModel, ResponseModel, explained
from shop.services.accounts import EMAIL_MAX_LENGTH, EMAIL_PATTERN, WHITE_SPACE
from shop.services.holds import MAX_QUANTITY
from shop.services.pagination import DEFAULT_LIMIT, MAX_LIMIT

UtcTime = Annotated[datetime, PlainSerializer(clock.to_text, return_type=str, when_used="json")]

# --- text rules ---------------------------------------------------------------------------
# Control characters are refused in the pattern itself, so the OpenAPI document states the
# rule that validation applies; nothing is stripped before lengths are checked.
_LINE = r"[^\x00-\x1f\x7f]"
_MULTILINE = r"[^\x00-\x08\x0b-\x1f\x7f]"  # tab and newline allowed
# Spaces spelled out, never \s: the document's regexes are ECMA-262 (JSON Schema), which reads
# \s differently from the regex engine pydantic validates with (U+0085, U+FEFF...).
_SPACES = WHITE_SPACE
_VISIBLE = rf"[^{_SPACES}\x00-\x1f\x7f]"


def line(max_length: int, *, required: bool = False) -> type[str]:
    """One line of text, no control characters; ``required``: at least one non-space."""
    pattern = rf"^{_LINE}*{_VISIBLE}{_LINE}*$" if required else rf"^{_LINE}*$"
    sentence = (f"must be 1 to {max_length} characters on one line, not all spaces, "
                "without control characters" if required else
                f"must be up to {max_length} characters on one line, without control characters")
    return explained(Annotated[str, StringConstraints(
        min_length=1 if required else 0, max_length=max_length, pattern=pattern)], sentence)


def multiline(max_length: int) -> type[str]:
    return explained(Annotated[str, StringConstraints(max_length=max_length,
                                                      pattern=rf"^{_MULTILINE}*$")],
                     f"must be up to {max_length} characters; tabs and new lines are allowed, "
                     "other control characters are not")


def whole(low: int, high: int, what: str = "a whole number") -> type[int]:
    return explained(Annotated[int, Field(ge=low, le=high)], f"must be {what} from {low} to {high}")


Email = explained(Annotated[str, StringConstraints(
    min_length=3, max_length=EMAIL_MAX_LENGTH, pattern=EMAIL_PATTERN)],
    f"must be an email address like name@example.com, up to {EMAIL_MAX_LENGTH} characters")
# Any characters: a password is hashed, never shown or stored as text.
Password = explained(Annotated[str, StringConstraints(min_length=10, max_length=200)],
                     "must be 10 to 200 characters")
Name = line(200, required=True)


class RegisterIn(RequestModel):
    email: Email
    password: Password
    name: Name


class LoginIn(RequestModel):
    email: Email
    password: explained(Annotated[str, StringConstraints(min_length=1, max_length=200)],
                        "must be 1 to 200 characters")


class PasswordResetIn(RequestModel):
    email: Email


class PasswordResetConfirmIn(RequestModel):
    token: explained(Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{10,200}$")],
                     "must be the code from the reset mail: 10 to 200 letters, digits, "
                     "hyphens or underscores")
    password: Password


class AddressIn(RequestModel):
    name: Name
    line1: line(200, required=True)
    line2: line(200) | None = None
    city: line(100, required=True)
    county: line(200) | None = None
    eircode: explained(Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 ]{1,10}$")],
                       "must be an Eircode like D02 X285: 1 to 10 letters, digits and spaces"
                       ) | None = None
    country: explained(Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")],
                       "must be a two-letter country code in capitals, like IE") = "IE"


class AddressOut(ResponseModel):
    kind: Literal["billing", "delivery"]
    name: str
    line1: str
    line2: str | None
    city: str
    county: str | None
    eircode: str | None
    country: str


class UserOut(ResponseModel):
    id: int
    email: str
    name: str
    role: Literal["customer", "admin"]
    created_at: UtcTime
    addresses: list[AddressOut] = Field(default_factory=list)


class UserWrapper(ResponseModel):
    user: UserOut


class AddressWrapper(ResponseModel):
    address: AddressOut


class SessionOut(ResponseModel):
    user: UserOut
    token: str
    expires_at: UtcTime
    cart: CartMergeOut | None = Field(
        default=None, description="What a guest cart (X-Cart-Session) brought along.")


class Accepted(ResponseModel):
    status: Literal["accepted"] = "accepted"


class HealthOut(ResponseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "error"]


Slug = explained(Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,40}$")],
                 "must be a lowercase slug of letters, digits and hyphens, up to 40 characters")
Sku = explained(Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")],
                "must be 1 to 64 letters, digits, dots, underscores or hyphens, starting with "
                "a letter or digit")
Condition = Literal["new", "like_new", "good", "fair"]
ProductStatus = Literal["draft", "active", "sold_out", "archived"]
PriceCents = whole(1, 100_000_000, "a whole number of cents")
Limit = whole(1, MAX_LIMIT)
# Opaque: only a next_cursor the same list gave out is one; any other text is a 400 naming it.
Cursor = explained(Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,512}$")],
                   "must be the next_cursor of the page before, as it was given")
# Short enough that a search with every filter at its longest fits in one request line
# (shop.api.worker.LIMIT_REQUEST_LINE): see tests/test_http_edge.py.
MAX_SEARCH_LENGTH = 200


class PhotoVariants(ResponseModel):
    """An uploaded photo's WebP variants: longest edge about 200, 600 and 1600 pixels."""

    thumb: str
    card: str
    full: str


class ImageOut(ResponseModel):
    """A photo the shop stored (``variants`` are its URLs, with ``width`` and ``height``
    of the full one) or a reference to a picture hosted elsewhere (``cloudflare_id``, and
    ``variants`` as the names it was given)."""

    id: int
    cloudflare_id: str | None = Field(default=None,
                                      description="A reference's id; absent for uploads.")
    url: str
    variants: list[str] | PhotoVariants
    position: int
    width: int | None = None
    height: int | None = None


class ProductOut(ResponseModel):
    id: int
    sku: str
    title: str
    description: str
    brand: str
    category: str
    size: str
    condition: Condition
    price_cents: int
    status: ProductStatus
    stock_quantity: int
    featured: bool
    images: list[ImageOut]
    created_at: UtcTime
    updated_at: UtcTime


class ProductWrapper(ResponseModel):
    product: ProductOut


class ProductPage(ResponseModel):
    items: list[ProductOut]
    next_cursor: str | None


class ProductListQuery(QueryModel):
    category: Slug | None = None
    brand: line(100) | None = None
    size: line(40) | None = None
    condition: Condition | None = None
    min_price_cents: whole(0, 100_000_000, "a whole number of cents") | None = None
    max_price_cents: whole(0, 100_000_000, "a whole number of cents") | None = None
    featured: bool | None = None
    # Any text: it is turned into search terms, never passed to FTS5 as query syntax.
    q: explained(Annotated[str, StringConstraints(max_length=MAX_SEARCH_LENGTH)],
                 f"must be at most {MAX_SEARCH_LENGTH} characters") | None = None
    sort: Literal["newest", "price_asc", "price_desc"] | None = None
    status: ProductStatus | None = Field(
        default=None, description="Admins only; everyone else sees active products.")
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


class ProductCreateIn(RequestModel):
    sku: Sku
    title: line(200, required=True)
    description: multiline(5000) = ""
    brand: line(100) = ""
    category: Slug
    size: line(40) = ""
    condition: Condition
    price_cents: PriceCents
    status: ProductStatus = "draft"
    featured: bool = False


class ProductPatchIn(RequestModel):
    """Only the fields sent change; null is not a value for any of them."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})  # the view says so too

    sku: Sku = None  # type: ignore[assignment]
    title: line(200, required=True) = None  # type: ignore[assignment]
    description: multiline(5000) = None  # type: ignore[assignment]
    brand: line(100) = None  # type: ignore[assignment]
    category: Slug = None  # type: ignore[assignment]
    size: line(40) = None  # type: ignore[assignment]
    condition: Condition = None  # type: ignore[assignment]
    price_cents: PriceCents = None  # type: ignore[assignment]
    status: ProductStatus = None  # type: ignore[assignment]
    featured: bool = None  # type: ignore[assignment]


class ImageIn(RequestModel):
    cloudflare_id: explained(Annotated[str, StringConstraints(
        pattern=r"^[A-Za-z0-9._:/-]{1,200}$")],
        "must be 1 to 200 letters, digits, dots, underscores, colons, slashes or hyphens")
    # A host name (no user part, no IPv6 literal) and an optional port, then any path.
    url: explained(Annotated[str, StringConstraints(
        max_length=2000,
        pattern=rf"^https?://[A-Za-z0-9.-]{{1,253}}(:[0-9]{{1,5}})?(/{_VISIBLE}*)?$")],
        "must be an http or https URL like https://images.example.com/a.jpg, up to 2000 "
        "characters, without spaces")
    variants: Annotated[list[Slug], Field(max_length=20)] = Field(default_factory=list)


class ImageWrapper(ResponseModel):
    image: ImageOut


class ImageList(ResponseModel):
    images: list[ImageOut]


class ImagePositionIn(RequestModel):
    position: whole(0, 1000, "a position (0 is shown first; past the end means last)")


def _not_zero(value: int) -> int:
    if value == 0:
        raise ValueError("zero")  # told as the field's sentence
    return value


class StockChangeIn(RequestModel):
    qty_change: explained(Annotated[int, Field(ge=-1_000_000, le=1_000_000,
                                               json_schema_extra={"not": {"const": 0}}),
                                    AfterValidator(_not_zero)],
                          "must be a whole number from -1000000 to 1000000, not 0")
    reason: Literal["restock", "adjustment", "return"]
    note: multiline(500) | None = None


class MoveOut(ResponseModel):
    id: int
    product_id: int
    qty_change: int
    reason: str
    note: str | None
    order_id: int | None
    reservation_id: int | None
    submission_id: int | None
    actor_id: int | None
    created_at: UtcTime


class StockChangeOut(ResponseModel):
    move: MoveOut
    stock_quantity: int


class MovePage(ResponseModel):
    items: list[MoveOut]
    next_cursor: str | None


class PageQuery(QueryModel):
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


# --- cart, checkout and orders --------------------------------------------------------------
Id = explained(Annotated[int, Field(ge=1, le=2**63 - 1)],
               "must be an id, a whole number of at least 1")
OrderStatus = Literal["pending", "paid", "shipped", "delivered", "cancelled"]
class HoldIn(RequestModel):
    product_id: Id
    quantity: whole(1, MAX_QUANTITY) = 1


class ReservationOut(ResponseModel):
    product_id: int
    quantity: int
    expires_at: UtcTime


class HoldOut(ResponseModel):
    reservation: ReservationOut
    cart_session: str | None = None


class CartItemOut(ResponseModel):
    product: ProductOut
    quantity: int
    expires_at: UtcTime
    line_total_cents: int


class CartOut(ResponseModel):
    items: list[CartItemOut]
    subtotal_cents: int


class CheckoutIn(RequestModel):
    """Shipping is priced by the shop; no amount is accepted from the client."""

    shipping_method: Literal["collect", "deliver"] = "collect"
    delivery_address: AddressIn | None = Field(
        default=None, description="The same rules as a saved address. To deliver without "
                                  "one, the caller's saved default delivery address is used.")
    email: Email | None = Field(
        default=None, description="A guest's email for the order (guests only; required "
                                  "for a guest checkout with X-Cart-Session).")


class OrderItemOut(ResponseModel):
    product_id: int
    title: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int
    returned_quantity: int


class OrderPaymentOut(ResponseModel):
    id: int
    kind: Literal["charge", "refund"] = Field(
        description="A charge takes money for the order; a refund gives some of it back.")
    provider: Literal["manual", "stripe"]
    status: Literal["pending", "succeeded", "failed", "expired"]
    amount_cents: int
    created_at: UtcTime


class OrderOut(ResponseModel):
    order_number: str
    status: OrderStatus
    payment_status: Literal["unpaid", "paid", "refunded", "partially_refunded"]
    shipping_method: Literal["collect", "deliver"]
    items: list[OrderItemOut]
    subtotal_cents: int
    shipping_cents: int
    total_cents: int
    delivery_address: dict[str, str | None] | None
    created_at: UtcTime
    updated_at: UtcTime
    customer: CustomerOut | None = Field(
        default=None, description="Who placed it (admin views only); a guest has only an "
                                  "email.")
    payments: list[OrderPaymentOut] = Field(
        default_factory=list, description="Its charges and refunds, oldest first.")


class CustomerOut(ResponseModel):
    id: int | None
    email: str | None
    name: str | None


class OrderWrapper(ResponseModel):
    order: OrderOut


class PaymentOut(ResponseModel):
    id: int
    provider: Literal["stripe"]
    status: Literal["pending"]
    checkout_url: str = Field(description="Stripe Checkout's page, where the buyer pays.")
    expires_at: UtcTime = Field(description="When that page stops taking payment.")


class PaymentWrapper(ResponseModel):
    payment: PaymentOut


class StripeEventIn(RequestModel):
    """A Stripe event as Stripe sends it (documented only: the route reads the raw bytes,
    and only once the Stripe-Signature header proves Stripe sent exactly them)."""

    model_config = ConfigDict(extra="allow")
    id: str
    type: str
    data: dict


class WebhookOut(ResponseModel):
    received: bool


class CheckoutOut(ResponseModel):
    order: OrderOut
    order_token: str | None = Field(
        default=None, description="Guests only, shown once: GET /api/orders/<number>?token= "
                                  "shows the order without signing in.")


class OrderTokenQuery(QueryModel):
    token: explained(Annotated[str, StringConstraints(min_length=16, max_length=128,
                                                      pattern=r"^[A-Za-z0-9_-]+$")],
                     "must be the order token the checkout gave, 16 to 128 letters, digits, "
                     "hyphens or underscores") | None = None


class OrderPage(ResponseModel):
    items: list[OrderOut]
    next_cursor: str | None


class OrderListQuery(QueryModel):
    status: OrderStatus | None = None
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


class OrderStatusIn(RequestModel):
    status: OrderStatus


class ReturnLineIn(RequestModel):
    product_id: Id
    quantity: whole(1, MAX_QUANTITY)


class ReturnIn(RequestModel):
    items: Annotated[list[ReturnLineIn], Field(min_length=1, max_length=50)]


class CartMergeOut(ResponseModel):
    merged_quantity: int
    short: list[dict[str, int]]


SessionOut.model_rebuild()
OrderOut.model_rebuild()


# --- selling --------------------------------------------------------------------------------
SubmissionStatus = Literal["pending", "reviewing", "approved", "rejected", "withdrawn"]
OfferStatus = Literal["no_offer", "offer_sent", "countered", "accepted", "rejected", "expired"]
Money = whole(0, 100_000_000, "a whole number of cents")


class SellItemIn(RequestModel):
    title: line(200, required=True)
    brand: line(100) = ""
    category: Slug
    size: line(40) = ""
    condition: Condition
    notes: multiline(2000) = ""
    asking_price_cents: PriceCents | None = Field(
        default=None, description="What the seller hopes for this item; the final price "
                                  "is shared out in proportion to these.")


class SubmissionIn(RequestModel):
    items: Annotated[list[SellItemIn], Field(min_length=1, max_length=50)]
    seller_price_cents: Money | None = None
    notes: multiline(2000) = ""


class SellImageOut(ImageOut):
    item_id: int | None = Field(default=None,
                                description="The item the photo shows; null: the batch.")


class SellImageWrapper(ResponseModel):
    image: SellImageOut


class SellImageList(ResponseModel):
    images: list[SellImageOut]


class SellItemOut(ResponseModel):
    id: int
    title: str
    brand: str
    category: str
    size: str
    condition: Condition
    notes: str
    asking_price_cents: int | None = None
    images: list[SellImageOut] = Field(default_factory=list)


class OfferEventOut(ResponseModel):
    actor: Literal["shop", "seller"]
    action: str
    amount_cents: int | None
    message: str
    created_at: UtcTime


class SubmissionOut(ResponseModel):
    batch_id: str
    seller_id: int
    status: SubmissionStatus
    offer_status: OfferStatus
    seller_price_cents: int | None
    offered_price_cents: int | None
    final_price_cents: int | None
    seller_response: Literal["accept", "reject", "counter"] | None
    responded_at: UtcTime | None
    offer_expires_at: UtcTime | None
    payout_status: Literal["none", "owed", "paid"]
    payout_reference: str | None
    notes: str
    created_at: UtcTime
    updated_at: UtcTime
    items: list[SellItemOut] = Field(default_factory=list)
    images: list[SellImageOut] = Field(default_factory=list)
    offer_events: list[OfferEventOut] = Field(default_factory=list)


class SubmissionWrapper(ResponseModel):
    submission: SubmissionOut


class SubmissionPage(ResponseModel):
    items: list[SubmissionOut]
    next_cursor: str | None


class SubmissionListQuery(QueryModel):
    status: SubmissionStatus | None = None
    offer_status: OfferStatus | None = None
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


class ReviewIn(RequestModel):
    status: Literal["reviewing", "approved", "rejected"]


class OfferIn(RequestModel):
    offered_price_cents: Money
    message: multiline(2000) = ""


class RespondIn(RequestModel):
    response: Literal["accept", "reject", "counter"]
    counter_price_cents: Money | None = Field(
        default=None, description="Required when the response is counter.")
    message: multiline(2000) = ""


class PayoutIn(RequestModel):
    reference: line(200, required=True)


# --- audit -----------------------------------------------------------------------------------
class AuditQuery(QueryModel):
    entity_type: Literal["product", "order", "submission"] | None = None
    entity_id: explained(Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,64}$")],
                         "must be 1 to 64 letters, digits or hyphens") | None = None
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


class AuditOut(ResponseModel):
    id: int
    actor_id: int | None = Field(description="Who did it; null when the shop acted on a "
                                             "payment provider's word.")
    action: str
    entity_type: str
    entity_id: str
    before: dict | None
    after: dict | None
    created_at: UtcTime


class AuditPage(ResponseModel):
    items: list[AuditOut]
    next_cursor: str | None


# --- analytics -------------------------------------------------------------------------------
EventType = Literal["page_view", "product_view", "search", "add_to_cart", "remove_from_cart",
                    "checkout_started", "sell_started"]
Scalar = explained(Annotated[str, StringConstraints(max_length=200, pattern=rf"^{_LINE}*$")] | int
                   | float | bool | None,
                   "must be up to 200 characters on one line, a number, true, false or null")


def _only_pattern_keys(schema: dict) -> None:
    schema["additionalProperties"] = False


_PATTERN_KEYS_ONLY = Field(json_schema_extra=_only_pattern_keys)


class EventIn(RequestModel):
    """Small by design: a flat metadata object of at most 20 short values."""

    event_type: EventType
    product_id: Id | None = None
    path: line(500) | None = None
    metadata: Annotated[dict[explained(Annotated[str, StringConstraints(
        pattern=r"^[a-z0-9_]{1,40}$")], "must be 1 to 40 lowercase letters, digits or underscores"),
                             Scalar], Field(max_length=20),
                        # pydantic states the key rule as patternProperties, which would let
                        # any other key through; the document says what validation does.
                        _PATTERN_KEYS_ONLY] | None = None


def _day(text: str) -> date:
    return date.fromisoformat(text)  # a day that does not exist (2026-02-30) is a 400


# A calendar day written YYYY-MM-DD, and nothing else (pydantic's lax `date` would also
# take a number of seconds since 1970 from a query string).
Day = explained(Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
                          AfterValidator(_day)],
                "must be a day written like 2026-03-31")


class DailyQuery(QueryModel):
    from_: Day | None = Field(default=None, alias="from",
                              description="First day (UTC); default: 30 days before `to`.")
    to: Day | None = Field(default=None, description="Last day (UTC); default: today.")
    event_type: EventType | None = None


class DailyOut(ResponseModel):
    day: str
    event_type: EventType
    count: int
    top_products: list[dict[str, int]]


class DailyTotalsOut(ResponseModel):
    day: str
    orders: int
    revenue_cents: int
    units_sold: int
    offers_accepted: int


class DailyPage(ResponseModel):
    items: list[DailyOut]
    totals: list[DailyTotalsOut] = Field(
        default_factory=list, description="Per day: orders placed (not cancelled), their "
                                          "revenue, units sold and offers accepted.")
    next_cursor: str | None = None
