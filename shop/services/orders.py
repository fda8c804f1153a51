"""Checkout and orders: the unit of work that turns a cart into an order, and every
transition of an order afterwards (this module owns them all).

Checkout owns its transaction (Saleor's way): it re-reads the buyer's holds inside the
write lock, ends the stale ones exactly as the cart does (``holds.settle_holder``), writes
the order, its lines and the ledger rows (``reservation_converted`` +q, then ``sale`` -q
per line), all or nothing. A keyed retry gets the stored answer
(``shop.services.idempotency``); an unkeyed double submit finds the cart already empty:
never a second order.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee

from shop import clock
from shop.config import get_settings
from shop.db import database, write_transaction
from shop.errors import Conflict, Internal, Invalid, NotFound, constraint_of
from shop.models import Address, Order, OrderItem, StockMove, User
from shop.services import audit, holds, idempotency, notifications
from shop.services.codes import readable_code
from shop.services.holds import Hold, Holder
from shop.services.ledger import append_move, follow_stock
from shop.services.pagination import DEFAULT_LIMIT, Page, newest_first
from shop.services.passwords import new_token, token_hash

# The only status changes there are: (from, to) -> payment status afterwards (None: same).
TRANSITIONS: dict[tuple[str, str], str | None] = {
    ("pending", "paid"): "paid",
    ("paid", "shipped"): None,
    ("shipped", "delivered"): None,
    ("pending", "cancelled"): None,
    ("paid", "cancelled"): "refunded",
}
RETURNABLE = ("paid", "shipped", "delivered")
# A new order number is drawn again when one is taken (40 random bits: rare, not never).
NUMBER_ATTEMPTS = 5


def new_order_number() -> str:
    return readable_code("ES")


def _returned(order_ids: list[int]) -> dict[tuple[int, int], int]:
    """Units returned so far per (order, product), from the ledger."""
    if not order_ids:
        return {}
    rows = (StockMove.select(StockMove.order, StockMove.product,
                             peewee.fn.sum(StockMove.qty_change))
            .where(StockMove.order.in_(order_ids) & (StockMove.reason == "return"))
            .group_by(StockMove.order, StockMove.product).tuples())
    return {(o, p): n for o, p, n in rows}


def _customers(orders: list[Order]) -> dict[int, dict[str, Any]]:
    """Who placed each order: the account, else the guest's email (one statement)."""
    ids = {o.user_id for o in orders if o.user_id is not None}
    users = {u.id: u for u in User.select(User.id, User.email, User.name)
             .where(User.id.in_(list(ids)))} if ids else {}
    out = {}
    for o in orders:
        user = users.get(o.user_id)
        out[o.id] = ({"id": user.id, "email": user.email, "name": user.name} if user
                     else {"id": None, "email": o.guest_email, "name": None})
    return out


def _views(orders: list[Order], known: dict[int, list[OrderItem]] | None = None, *,
           with_customer: bool = False) -> list[dict[str, Any]]:
    """Orders as plain data with their lines (two more statements for any number, none
    for an order whose ``known`` lines were just written); ``with_customer`` for the
    owner's views."""
    ids = [o.id for o in orders]
    lines: dict[int, list[OrderItem]] = defaultdict(list)
    if known is not None:
        lines.update(known)
    elif ids:
        for item in OrderItem.select().where(OrderItem.order.in_(ids)).order_by(OrderItem.id):
            lines[item.order_id].append(item)
    returned = _returned(ids) if known is None else {}
    customers = _customers(orders) if with_customer else {}
    views = []
    for o in orders:
        view = {
            "order_number": o.order_number, "status": o.status,
            "payment_status": o.payment_status, "shipping_method": o.shipping_method,
            "items": [{"product_id": i.product_id, "title": i.title, "quantity": i.quantity,
                       "unit_price_cents": i.unit_price_cents,
                       "line_total_cents": i.line_total_cents,
                       "returned_quantity": returned.get((o.id, i.product_id), 0)}
                      for i in lines[o.id]],
            "subtotal_cents": o.subtotal_cents, "shipping_cents": o.shipping_cents,
            "total_cents": o.total_cents, "delivery_address": o.delivery_address,
            "created_at": clock.to_text(o.created_at),
            "updated_at": clock.to_text(o.updated_at),
        }
        if with_customer:
            view["customer"] = customers[o.id]
        views.append(view)
    return views


def _view(order: Order, lines: list[OrderItem] | None = None, *,
          with_customer: bool = False) -> dict[str, Any]:
    """One order; ``lines``: the lines just written (a new order has no returns yet)."""
    known = {order.id: lines} if lines is not None else None
    return _views([order], known, with_customer=with_customer)[0]


# Checkout's statements, constant (the ORM cost more than SQLite: benchmarks/checkout.py).
_NEW_ORDER = ("INSERT INTO orders (order_number, user_id, guest_email, access_token_hash, "
              "status, payment_status, shipping_method, subtotal_cents, shipping_cents, "
              "total_cents, delivery_address, created_at, updated_at) "
              "VALUES (?, ?, ?, ?, 'pending', 'unpaid', ?, ?, ?, ?, ?, ?, ?)")
_NEW_LINE = ("INSERT INTO order_items (order_id, product_id, title, unit_price_cents, quantity,"
             " line_total_cents) VALUES (?, ?, ?, ?, ?, ?)")


@dataclass(frozen=True)
class Buyer:
    """Who checks out: a signed-in user, or a guest's cart session with an email."""

    user_id: int | None = None
    session_id: str | None = None
    email: str | None = None

    @property
    def holder(self) -> Holder:
        if self.user_id is not None:
            return Holder(user_id=self.user_id)
        return Holder(session_id=self.session_id)


def _default_address(user_id: int | None) -> dict[str, Any] | None:
    if user_id is None:
        return None
    saved = (Address.select().where((Address.user == user_id) & (Address.kind == "delivery")
                                    & (Address.is_default == True))  # noqa: E712
             .first())
    if saved is None:
        return None
    return {"name": saved.name, "line1": saved.line1, "line2": saved.line2,
            "city": saved.city, "county": saved.county, "eircode": saved.eircode,
            "country": saved.country}


def checkout(buyer: Buyer | int, shipping_method: str = "collect",
             delivery_address: dict[str, Any] | None = None,
             idempotency_key: str | None = None) -> tuple[int, dict[str, Any]]:
    """Turn the buyer's live holds into an order; returns (HTTP status, body).

    The body is ``{"order": ...}``, and for a guest also ``{"order_token": ...}``, shown
    once (only its hash is kept). The server prices shipping: ``collect`` is free,
    ``deliver`` costs SHOP_SHIPPING_CENTS and needs an address, the one sent or else the
    buyer's saved default (kept on the order as a snapshot). Stale holds (expired, or on
    a product taken off sale) end first, as the cart ends them; 400 when no live hold is
    left.
    """
    if isinstance(buyer, int):
        buyer = Buyer(user_id=buyer)
    if buyer.user_id is None and not buyer.email:
        raise Invalid("a guest checkout needs an email address for the order",
                      details={"fields": {"email": "required for a guest checkout"}})
    if shipping_method == "deliver" and delivery_address is None:
        delivery_address = _default_address(buyer.user_id)
        if delivery_address is None:
            raise Invalid("delivery needs a delivery_address (or a saved default one)",
                          details={"fields": {"delivery_address": "required to deliver"}})
    address = delivery_address if shipping_method == "deliver" else None
    shipping = get_settings().shipping_cents if shipping_method == "deliver" else 0
    keyed = None
    if buyer.user_id is not None:
        keyed = idempotency.keyed(buyer.user_id, "checkout", idempotency_key,
                                  {"shipping_method": shipping_method,
                                   "delivery_address": address})
    token = new_token() if buyer.user_id is None else None
    email = buyer.email.strip().lower() if buyer.user_id is None and buyer.email else None
    now = clock.now()
    with write_transaction():
        stored = idempotency.replay(keyed)
        if stored is not None:
            return stored
        cart = holds.settle_holder(buyer.holder, now)
        if cart:
            body = _place(buyer, cart, token, email, shipping_method, shipping, address, now)
            idempotency.remember(keyed, 201, body)
    if not cart:  # raised after commit: the stale holds it ended stay ended
        raise Invalid("the cart is empty: nothing is held for you now",
                      details={"fields": {"cart": "no live holds"}})
    return 201, body


def _place(buyer: Buyer, cart: list[Hold], token: str | None, email: str | None,
           shipping_method: str, shipping: int, address: dict[str, Any] | None,
           now: datetime) -> dict[str, Any]:
    """Write the order, its lines and their ledger moves (inside checkout's transaction)."""
    stamp = clock.to_text(now)
    subtotal = sum(h.quantity * h.price_cents for h in cart)
    address_text = None if address is None else json.dumps(
        address, sort_keys=True, separators=(",", ":"))
    order_id, number = _insert_order((
        buyer.user_id, email, token and token_hash(token), shipping_method, subtotal,
        shipping, subtotal + shipping, address_text, stamp, stamp))
    order = Order(id=order_id, order_number=number, user=buyer.user_id,
                  guest_email=email, status="pending", payment_status="unpaid",
                  shipping_method=shipping_method, subtotal_cents=subtotal,
                  shipping_cents=shipping, total_cents=subtotal + shipping,
                  delivery_address=address, created_at=now, updated_at=now)
    lines = [_sell(order_id, hold, buyer.user_id) for hold in cart]
    follow_stock(h.product_id for h in cart)
    notifications.order_placed(order, lines, token=token)
    body: dict[str, Any] = {"order": _view(order, lines)}
    if token is not None:
        body["order_token"] = token
    return body


def _insert_order(values: tuple) -> tuple[int, str]:
    """Insert the order under a fresh number, drawing again if the number is taken."""
    for _attempt in range(NUMBER_ATTEMPTS):
        number = new_order_number()
        try:
            return database.execute_sql(_NEW_ORDER, (number, *values)).lastrowid, number
        except peewee.IntegrityError as exc:
            if constraint_of(str(exc)) != "unique:orders.order_number":
                raise
    raise Internal("could not draw a free order number")


def _sell(order_id: int, hold: Hold, actor_id: int | None) -> OrderItem:
    """One order line from one live hold: the held units are converted and sold."""
    holds.convert(hold, order_id, actor_id)
    append_move(hold.product_id, -hold.quantity, "sale", order_id=order_id, actor_id=actor_id)
    total = hold.price_cents * hold.quantity
    database.execute_sql(_NEW_LINE, (order_id, hold.product_id, hold.title, hold.price_cents,
                                     hold.quantity, total))
    return OrderItem(order=order_id, product=hold.product_id, title=hold.title,
                     unit_price_cents=hold.price_cents, quantity=hold.quantity,
                     line_total_cents=total)


def claim_guest_orders(user_id: int, email: str) -> int:
    """A new account takes over the guest orders placed with its email (inside the
    registration's transaction); returns how many."""
    return (Order.update(user=user_id)
            .where(Order.user.is_null() & (Order.guest_email == email.strip().lower()))
            .execute())


def _page(select: peewee.ModelSelect, tag: str, limit: int, cursor: str | None, *,
          with_customer: bool = False) -> Page[dict[str, Any]]:
    page = newest_first(select, Order.created_at, Order.id, tag, limit, cursor)
    return Page(_views(page.items, with_customer=with_customer), page.next_cursor)


def orders_of(user_id: int, *, limit: int = DEFAULT_LIMIT,
              cursor: str | None = None) -> Page[dict[str, Any]]:
    return _page(Order.select().where(Order.user == user_id), "orders:mine", limit, cursor)


def all_orders(status: str | None = None, *, limit: int = DEFAULT_LIMIT,
               cursor: str | None = None) -> Page[dict[str, Any]]:
    """Every customer's orders for the owner, newest first, each with its customer."""
    select = Order.select()
    if status is not None:
        select = select.where(Order.status == status)
    return _page(select, f"orders:{status or 'all'}", limit, cursor, with_customer=True)


def _find(order_number: str, *, user_id: int | None = None, token: str | None = None,
          admin: bool = False) -> Order:
    """The order if the caller may see it: the owner, anyone with its token, or the
    owner of the shop; anyone else gets a 404 (no existence leak)."""
    order = Order.get_or_none(Order.order_number == order_number)
    if order is None:
        raise NotFound("no such order")
    if admin or (user_id is not None and order.user_id == user_id):
        return order
    if token is not None and order.access_token_hash is not None \
            and order.access_token_hash == token_hash(token):
        return order
    raise NotFound("no such order")


def get_order(order_number: str, *, user_id: int | None = None, token: str | None = None,
              admin: bool = False) -> dict[str, Any]:
    """One order, for its owner, a holder of its token, or an admin (with the customer)."""
    order = _find(order_number, user_id=user_id, token=token, admin=admin)
    return _view(order, with_customer=admin)


def _move(order: Order, status: str, actor_id: int | None) -> None:
    """Move an order along TRANSITIONS (inside a transaction); anything else is a 409 with
    nothing written. Cancelling returns every unit not yet returned, with ``return``
    moves."""
    if (order.status, status) not in TRANSITIONS:
        allowed = sorted(to for (frm, to) in TRANSITIONS if frm == order.status)
        raise Conflict(f"an order that is {order.status} cannot become {status}",
                       details={"from": order.status, "to": status, "allowed": allowed})
    payment = TRANSITIONS[(order.status, status)] or order.payment_status
    if status == "cancelled":
        returned = _returned([order.id])
        products = []
        for item in OrderItem.select().where(OrderItem.order == order.id):
            left = item.quantity - returned.get((order.id, item.product_id), 0)
            if left:
                append_move(item.product_id, left, "return", order_id=order.id,
                            actor_id=actor_id, note="order cancelled")
                products.append(item.product_id)
        follow_stock(products)
    (Order.update(status=status, payment_status=payment, updated_at=clock.now())
     .where(Order.id == order.id).execute())
    if status == "paid":
        notifications.payment_received(order.id)
    elif status == "shipped":
        notifications.order_shipped(order.id)
    elif status == "cancelled":
        notifications.order_cancelled(order.id, refunded=payment == "refunded")
    audit.record(actor_id, "order.status", "order", order.order_number,
                 {"status": order.status, "payment_status": order.payment_status},
                 {"status": status, "payment_status": payment})


def change_status(order_number: str, status: str, *, actor_id: int) -> dict[str, Any]:
    """The owner moves an order on (TRANSITIONS)."""
    with write_transaction():
        order = _find(order_number, admin=True)
        _move(order, status, actor_id)
        return _view(Order.get_by_id(order.id), with_customer=True)


def cancel(order_number: str, *, user_id: int | None = None,
           token: str | None = None) -> dict[str, Any]:
    """The buyer cancels their own order while it is pending or paid (the stock comes
    back); once shipped it is a 409."""
    with write_transaction():
        order = _find(order_number, user_id=user_id, token=token)
        _move(order, "cancelled", user_id)
        return _view(Order.get_by_id(order.id))


def return_items(order_number: str, items: list[tuple[int, int]], *,
                 actor_id: int) -> dict[str, Any]:
    """Take units back into stock (``return`` moves), never more than were bought."""
    wanted: dict[int, int] = defaultdict(int)
    for product_id, quantity in items:
        wanted[product_id] += quantity
    with write_transaction():
        order = _find(order_number, admin=True)
        if order.status not in RETURNABLE:
            raise Conflict(f"an order that is {order.status} takes no returns",
                           details={"status": order.status})
        bought = {i.product_id: i.quantity
                  for i in OrderItem.select().where(OrderItem.order == order.id)}
        returned = _returned([order.id])
        for product_id, quantity in sorted(wanted.items()):
            if product_id not in bought:
                raise Invalid(f"product {product_id} is not in this order",
                              details={"fields": {"items": f"product {product_id} not bought"}})
            already = returned.get((order.id, product_id), 0)
            if already + quantity > bought[product_id]:
                raise Conflict("that is more than was bought", details={
                    "product_id": product_id, "bought": bought[product_id],
                    "returned": already})
            append_move(product_id, quantity, "return", order_id=order.id, actor_id=actor_id)
        follow_stock(wanted)
        audit.record(actor_id, "order.return", "order", order.order_number, None,
                     {"returned": [{"product_id": p, "quantity": q}
                                   for p, q in sorted(wanted.items())]})
        return _view(order, with_customer=True)
