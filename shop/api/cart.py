"""Cart, checkout and orders endpoints (API.md "Cart", "Checkout and orders")."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from shop.api import schemas
from shop.api.auth import current_user
from shop.api.routing import Answer, header, route
from shop.config import get_settings
from shop.errors import NotFound, Unauthorized
from shop.services import cart, holds, orders
from shop.services.holds import Holder

bp = Blueprint("cart", __name__, url_prefix="/api")
CART_SESSION = "X-Cart-Session"


def _holder(*, issue: bool = False) -> tuple[Holder | None, str | None]:
    """The signed-in user, else the guest's cart session; with ``issue``, a new session
    for a guest who has none (returned second, to send back)."""
    session = header(CART_SESSION)  # checked whenever sent, even when signed in
    user = current_user(required=False)
    if user is not None:
        return Holder(user_id=user.id), None
    if session is not None:
        return Holder(session_id=session), None
    if not issue:
        return None, None
    session = holds.new_session_id()
    return Holder(session_id=session), session


@route(bp, "/cart/items", "POST", summary="Hold a product (or change the held quantity)",
       status=201, auth="optional", body=schemas.HoldIn, response=schemas.HoldOut,
       errors=[404, 409], headers=[CART_SESSION])
def hold(body: schemas.HoldIn) -> Any:
    holder, issued = _holder(issue=True)
    reservation = holds.hold(holder, body.product_id, body.quantity)
    if issued is None:
        return {"reservation": reservation}
    return {"reservation": reservation, "cart_session": issued}, {CART_SESSION: issued}


@route(bp, "/cart", "GET", summary="The live holds, line totals and subtotal",
       auth="optional", response=schemas.CartOut, headers=[CART_SESSION])
def view() -> Any:
    holder, _ = _holder()
    return cart.view(holder) if holder else {"items": [], "subtotal_cents": 0}


@route(bp, "/cart/items/<id:product_id>", "DELETE", summary="Release a hold", status=204,
       auth="optional", headers=[CART_SESSION])
def release(product_id: int) -> None:
    holder, _ = _holder()
    if holder is not None:
        holds.release(holder, product_id)


@route(bp, "/checkout", "POST", summary="Turn the cart into an order", status=201,
       auth="optional", body=schemas.CheckoutIn, response=schemas.CheckoutOut,
       errors=[409], headers=["Idempotency-Key", CART_SESSION])
def checkout(body: schemas.CheckoutIn) -> Any:
    user = current_user(required=False)
    if user is None:
        session = header(CART_SESSION)
        if session is None:
            raise Unauthorized("sign in, or send your X-Cart-Session and an email to check "
                               "out as a guest")
        buyer = orders.Buyer(session_id=session, email=body.email)
    else:
        buyer = orders.Buyer(user_id=user.id)
    address = body.delivery_address.model_dump() if body.delivery_address else None
    status, answer = orders.checkout(buyer, body.shipping_method, address,
                                     header("Idempotency-Key"))
    return Answer(answer, status)


@route(bp, "/orders", "GET", summary="My orders, newest first", auth="user",
       query=schemas.PageQuery, response=schemas.OrderPage)
def my_orders(query: schemas.PageQuery) -> Any:
    page = orders.orders_of(current_user().id, limit=query.limit, cursor=query.cursor)
    return {"items": page.items, "next_cursor": page.next_cursor}


def _caller() -> int | None:
    user = current_user(required=False)
    return None if user is None else user.id


@route(bp, "/orders/<order_number>", "GET",
       summary="One of my orders (or a guest's, with its token)", auth="optional",
       query=schemas.OrderTokenQuery, response=schemas.OrderWrapper, errors=[404])
def my_order(order_number: str, query: schemas.OrderTokenQuery) -> Any:
    return {"order": orders.get_order(order_number, user_id=_caller(), token=query.token)}


@route(bp, "/orders/<order_number>/cancel", "POST",
       summary="Cancel my order while it is pending or paid (the stock comes back)",
       auth="optional", query=schemas.OrderTokenQuery, response=schemas.OrderWrapper,
       errors=[404, 409])
def cancel(order_number: str, query: schemas.OrderTokenQuery) -> Any:
    return {"order": orders.cancel(order_number, user_id=_caller(), token=query.token)}


@route(bp, "/admin/orders/<order_number>", "GET", summary="One order, with its customer",
       auth="admin", response=schemas.OrderWrapper, errors=[404])
def admin_order(order_number: str) -> Any:
    return {"order": orders.get_order(order_number, admin=True)}


@route(bp, "/admin/orders", "GET", summary="Every customer's orders, newest first",
       auth="admin", query=schemas.OrderListQuery, response=schemas.OrderPage)
def all_orders(query: schemas.OrderListQuery) -> Any:
    page = orders.all_orders(query.status, limit=query.limit, cursor=query.cursor)
    return {"items": page.items, "next_cursor": page.next_cursor}


@route(bp, "/admin/orders/<order_number>/status", "POST",
       summary="Move an order on (pending→paid→shipped→delivered; pending|paid→cancelled)",
       auth="admin", body=schemas.OrderStatusIn, response=schemas.OrderWrapper,
       errors=[404, 409])
def change_status(order_number: str, body: schemas.OrderStatusIn) -> Any:
    return {"order": orders.change_status(order_number, body.status,
                                          actor_id=current_user().id)}


@route(bp, "/admin/orders/<order_number>/returns", "POST",
       summary="Take returned units back into stock", auth="admin", body=schemas.ReturnIn,
       response=schemas.OrderWrapper, errors=[404, 409])
def return_items(order_number: str, body: schemas.ReturnIn) -> Any:
    lines = [(line.product_id, line.quantity) for line in body.items]
    return {"order": orders.return_items(order_number, lines, actor_id=current_user().id)}


@route(bp, "/orders/<order_number>/payment", "POST",
       summary="Pay for my order online: a Stripe Checkout page (the open one again, if any)",
       status=201, auth="optional", query=schemas.OrderTokenQuery,
       response=schemas.PaymentWrapper, errors=[404, 409, 503])
def pay(order_number: str, query: schemas.OrderTokenQuery) -> Any:
    return {"payment": orders.pay(order_number, user_id=_caller(), token=query.token)}


@route(bp, "/payments/stripe/webhook", "POST",
       summary="Stripe's events (signed; each takes effect once)", raw=schemas.StripeEventIn,
       response=schemas.WebhookOut, errors=[404], headers=["Stripe-Signature"])
def stripe_webhook(raw: bytes) -> Any:
    if get_settings().payments != "stripe":
        raise NotFound("this shop takes no payments through Stripe")
    return orders.stripe_webhook(raw, request.headers.get("Stripe-Signature"))
