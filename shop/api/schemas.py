"""Request and response schemas of the HTTP API (API.md). The OpenAPI document uses these."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, PlainSerializer, StringConstraints

from shop import clock
from shop.api.routing import QueryModel, RequestModel, ResponseModel
from shop.services.accounts import EMAIL_MAX_LENGTH, EMAIL_PATTERN
from shop.services.holds import MAX_QUANTITY
from shop.services.pagination import DEFAULT_LIMIT, MAX_LIMIT

UtcTime = Annotated[datetime, PlainSerializer(clock.to_text, return_type=str, when_used="json")]

# --- text rules ---------------------------------------------------------------------------
# Control characters are refused in the pattern itself, so the OpenAPI document states the
# rule that validation applies; nothing is stripped before lengths are checked.
_LINE = r"[^\x00-\x1f\x7f]"
_MULTILINE = r"[^\x00-\x08\x0b-\x1f\x7f]"  # tab and newline allowed


def line(max_length: int, *, required: bool = False) -> type[str]:
    """One line of text, no control characters; ``required``: at least one non-space."""
    pattern = rf"^{_LINE}*[^\s\x00-\x1f\x7f]{_LINE}*$" if required else rf"^{_LINE}*$"
    return Annotated[str, StringConstraints(  # type: ignore[return-value]
        min_length=1 if required else 0, max_length=max_length, pattern=pattern)]


def multiline(max_length: int) -> type[str]:
    return Annotated[str, StringConstraints(  # type: ignore[return-value]
        max_length=max_length, pattern=rf"^{_MULTILINE}*$")]



Email = Annotated[str, StringConstraints(min_length=3, max_length=EMAIL_MAX_LENGTH,
                                         pattern=EMAIL_PATTERN)]
# Any characters: a password is hashed, never shown or stored as text.
Password = Annotated[str, StringConstraints(min_length=10, max_length=200)]
Name = line(200, required=True)


class RegisterIn(RequestModel):
    email: Email
    password: Password
    name: Name


class LoginIn(RequestModel):
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class PasswordResetIn(RequestModel):
    email: Email


class PasswordResetConfirmIn(RequestModel):
    token: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{10,200}$")]
    password: Password


class AddressIn(RequestModel):
    name: Name
    line1: line(200, required=True)
    line2: line(200) | None = None
    city: line(100, required=True)
    county: line(200) | None = None
    eircode: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 ]{1,10}$")] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "IE"


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


Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,40}$")]
Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Condition = Literal["new", "like_new", "good", "fair"]
ProductStatus = Literal["draft", "active", "sold_out", "archived"]
PriceCents = Annotated[int, Field(ge=1, le=100_000_000)]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class ImageOut(ResponseModel):
    id: int
    cloudflare_id: str
    url: str
    variants: list[str]
    position: int


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
    min_price_cents: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    max_price_cents: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    featured: bool | None = None
    # Any text: it is turned into search terms, never passed to FTS5 as query syntax.
    q: Annotated[str, StringConstraints(max_length=10_240)] | None = None
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
    cloudflare_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:/-]{1,200}$")]
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s\x00-\x1f\x7f]{1,1990}$")]
    variants: Annotated[list[Slug], Field(max_length=20)] = Field(default_factory=list)


class ImageWrapper(ResponseModel):
    image: ImageOut


class StockChangeIn(RequestModel):
    qty_change: Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
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
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
OrderStatus = Literal["pending", "paid", "shipped", "delivered", "cancelled"]
class HoldIn(RequestModel):
    product_id: Id
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)] = 1


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


class OrderOut(ResponseModel):
    order_number: str
    status: OrderStatus
    payment_status: Literal["unpaid", "paid", "refunded"]
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


class CustomerOut(ResponseModel):
    id: int | None
    email: str | None
    name: str | None


class OrderWrapper(ResponseModel):
    order: OrderOut


class CheckoutOut(ResponseModel):
    order: OrderOut
    order_token: str | None = Field(
        default=None, description="Guests only, shown once: GET /api/orders/<number>?token= "
                                  "shows the order without signing in.")


class OrderTokenQuery(QueryModel):
    token: Annotated[str, StringConstraints(min_length=16, max_length=128,
                                            pattern=r"^[A-Za-z0-9_-]+$")] | None = None


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
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]


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
Money = Annotated[int, Field(ge=0, le=100_000_000)]


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
    counter_price_cents: Money | None = None
    message: multiline(2000) = ""


class PayoutIn(RequestModel):
    reference: line(200, required=True)


# --- audit -----------------------------------------------------------------------------------
class AuditQuery(QueryModel):
    entity_type: Literal["product", "order", "submission"] | None = None
    entity_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,64}$")] | None = None
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


class AuditOut(ResponseModel):
    id: int
    actor_id: int
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
Scalar = Annotated[str, StringConstraints(max_length=200, pattern=rf"^{_LINE}*$")] | int | \
    float | bool | None


class EventIn(RequestModel):
    """Small by design: a flat metadata object of at most 20 short values."""

    event_type: EventType
    product_id: Id | None = None
    path: line(500) | None = None
    metadata: Annotated[dict[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")],
                             Scalar], Field(max_length=20)] | None = None


def _day(text: str) -> date:
    return date.fromisoformat(text)  # a day that does not exist (2026-02-30) is a 400


# A calendar day written YYYY-MM-DD, and nothing else (pydantic's lax `date` would also
# take a number of seconds since 1970 from a query string).
Day = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
                AfterValidator(_day)]


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
