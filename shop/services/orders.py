"""Checkout and orders: the unit of work that turns a cart into an order, and what the
shop does with orders afterwards.

Checkout owns its transaction (Saleor's way): it re-reads the caller's holds inside the
write lock, settles expired ones, writes the order, its lines and the ledger rows
(``reservation_converted`` +q then ``sale`` -q per line) and deletes the holds, all or
nothing. A keyed retry gets the stored answer (``shop.services.idempotency``); an unkeyed
double submit finds the cart already empty: never a second order.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import peewee

from shop import clock
from shop.config import get_settings
from shop.db import database, write_transaction
from shop.errors import Conflict, InsufficientStock, Invalid, NotFound, ReservationExpired
from shop.models import Order, OrderItem, StockMove
from shop.services import audit, idempotency
from shop.services.codes import readable_code
from shop.services.pagination import DEFAULT_LIMIT, Page, newest_first
from shop.services.stock import append_move

# The only status changes there are: (from, to) -> payment status afterwards (None: same).
TRANSITIONS: dict[tuple[str, str], str | None] = {
    ("pending", "paid"): "paid",
    ("paid", "shipped"): None,
    ("shipped", "delivered"): None,
    ("pending", "cancelled"): None,
    ("paid", "cancelled"): "refunded",
}
RETURNABLE = ("paid", "shipped", "delivered")


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


def _views(orders: list[Order],
           known: dict[int, list[OrderItem]] | None = None) -> list[dict[str, Any]]:
    """Orders as plain data with their lines (two more statements for any number, none
    for an order whose ``known`` lines were just written)."""
    ids = [o.id for o in orders]
    lines: dict[int, list[OrderItem]] = defaultdict(list)
    if known is not None:
        lines.update(known)
    elif ids:
        for item in OrderItem.select().where(OrderItem.order.in_(ids)).order_by(OrderItem.id):
            lines[item.order_id].append(item)
    returned = _returned(ids) if known is None else {}
    return [{
        "order_number": o.order_number, "status": o.status,
        "payment_status": o.payment_status, "shipping_method": o.shipping_method,
        "items": [{"product_id": i.product_id, "title": i.title, "quantity": i.quantity,
                   "unit_price_cents": i.unit_price_cents,
                   "line_total_cents": i.line_total_cents,
                   "returned_quantity": returned.get((o.id, i.product_id), 0)}
                  for i in lines[o.id]],
        "subtotal_cents": o.subtotal_cents, "shipping_cents": o.shipping_cents,
        "total_cents": o.total_cents, "delivery_address": o.delivery_address,
        "created_at": clock.to_text(o.created_at), "updated_at": clock.to_text(o.updated_at),
    } for o in orders]


def _view(order: Order, lines: list[OrderItem] | None = None) -> dict[str, Any]:
    """One order; ``lines``: the lines just written (a new order has no returns yet)."""
    return _views([order], {order.id: lines} if lines is not None else None)[0]


# Checkout's statements, constant (the ORM cost more than SQLite: benchmarks/checkout.py).
_CART = ("SELECT r.id, r.product_id, r.quantity, r.expires_at, p.title, p.price_cents, "
         "p.status FROM product_reservations AS r JOIN products AS p ON p.id = r.product_id "
         "WHERE r.user_id = ? ORDER BY r.product_id")
_NEW_ORDER = ("INSERT INTO orders (order_number, user_id, status, payment_status, "
              "shipping_method, subtotal_cents, shipping_cents, total_cents, delivery_address,"
              " created_at, updated_at) VALUES (?, ?, 'pending', 'unpaid', ?, ?, ?, ?, ?, ?, ?)")
_NEW_LINE = ("INSERT INTO order_items (order_id, product_id, title, unit_price_cents, quantity,"
             " line_total_cents) VALUES (?, ?, ?, ?, ?, ?)")


@dataclass(frozen=True)
class _CartLine:
    hold_id: int
    product_id: int
    quantity: int
    expires_at: str
    title: str
    price_cents: int
    status: str


def checkout(user_id: int, shipping_method: str = "collect",
             delivery_address: dict[str, Any] | None = None,
             idempotency_key: str | None = None) -> tuple[int, dict[str, Any]]:
    """Turn the caller's holds into an order; returns (HTTP status, ``{"order": ...}``).

    The server prices shipping: ``collect`` is free, ``deliver`` costs SHOP_SHIPPING_CENTS
    and needs an address (kept on the order as a snapshot). 400 for an empty cart, 409
    ``reservation_expired`` when a hold ran out and its stock is gone.
    """
    if shipping_method == "deliver" and delivery_address is None:
        raise Invalid("delivery needs a delivery_address",
                      details={"fields": {"delivery_address": "required to deliver"}})
    address = delivery_address if shipping_method == "deliver" else None
    shipping = get_settings().shipping_cents if shipping_method == "deliver" else 0
    keyed = idempotency.keyed(user_id, "checkout", idempotency_key,
                              {"shipping_method": shipping_method,
                               "delivery_address": address})
    now = clock.now()
    stamp = clock.to_text(now)
    with write_transaction():
        stored = idempotency.replay(keyed)
        if stored is not None:
            return stored
        cart = [_CartLine(*row) for row in database.execute_sql(_CART, (user_id,))]
        if not cart:
            raise Invalid("the cart is empty", details={"fields": {"cart": "empty"}})
        subtotal = sum(line.quantity * line.price_cents for line in cart)
        number = new_order_number()
        order_id = database.execute_sql(_NEW_ORDER, (
            number, user_id, shipping_method, subtotal, shipping, subtotal + shipping,
            None if address is None else json.dumps(address, sort_keys=True,
                                                    separators=(",", ":")),
            stamp, stamp)).lastrowid
        order = Order(id=order_id, order_number=number, user=user_id, status="pending",
                      payment_status="unpaid", shipping_method=shipping_method,
                      subtotal_cents=subtotal, shipping_cents=shipping,
                      total_cents=subtotal + shipping, delivery_address=address,
                      created_at=now, updated_at=now)
        lines = [_sell(order_id, line, user_id, stamp) for line in cart]
        body = {"order": _view(order, lines)}
        idempotency.remember(keyed, 201, body)
    return 201, body


def _sell(order_id: int, line: _CartLine, user_id: int, now: str) -> OrderItem:
    """One order line from one hold: the held units are converted and sold."""
    if line.status != "active":
        raise Conflict(f"{line.title} is no longer for sale",
                       details={"product_id": line.product_id})
    if line.expires_at > now:  # fixed-width UTC text: text order is time order
        append_move(line.product_id, line.quantity, "reservation_converted",
                    order_id=order_id, reservation_id=line.hold_id, actor_id=user_id)
    else:  # expired, not yet swept: give it back, then sell only if the stock is still here
        append_move(line.product_id, line.quantity, "reservation_expired",
                    reservation_id=line.hold_id)
    try:
        append_move(line.product_id, -line.quantity, "sale", order_id=order_id,
                    actor_id=user_id)
    except InsufficientStock as exc:
        raise ReservationExpired(
            f"your hold on {line.title} expired and the stock has gone",
            details={"product_id": line.product_id, **exc.details}) from exc
    total = line.price_cents * line.quantity
    database.execute_sql(_NEW_LINE, (order_id, line.product_id, line.title, line.price_cents,
                                     line.quantity, total))
    database.execute_sql("DELETE FROM product_reservations WHERE id = ?", (line.hold_id,))
    return OrderItem(order=order_id, product=line.product_id, title=line.title,
                     unit_price_cents=line.price_cents, quantity=line.quantity,
                     line_total_cents=total)


def _page(select: peewee.ModelSelect, tag: str, limit: int,
          cursor: str | None) -> Page[dict[str, Any]]:
    page = newest_first(select, Order.created_at, Order.id, tag, limit, cursor)
    return Page(_views(page.items), page.next_cursor)


def orders_of(user_id: int, *, limit: int = DEFAULT_LIMIT,
              cursor: str | None = None) -> Page[dict[str, Any]]:
    return _page(Order.select().where(Order.user == user_id), "orders:mine", limit, cursor)


def all_orders(status: str | None = None, *, limit: int = DEFAULT_LIMIT,
               cursor: str | None = None) -> Page[dict[str, Any]]:
    select = Order.select()
    if status is not None:
        select = select.where(Order.status == status)
    return _page(select, f"orders:{status or 'all'}", limit, cursor)


def get_order(order_number: str, *, user_id: int | None = None) -> dict[str, Any]:
    """One order; with ``user_id``, only that user's (anyone else's is a 404)."""
    order = Order.get_or_none(Order.order_number == order_number)
    if order is None or (user_id is not None and order.user_id != user_id):
        raise NotFound("no such order")
    return _view(order)


def _locked_order(order_number: str) -> Order:
    order = Order.get_or_none(Order.order_number == order_number)
    if order is None:
        raise NotFound("no such order")
    return order


def change_status(order_number: str, status: str, *, actor_id: int) -> dict[str, Any]:
    """Move an order along TRANSITIONS; anything else is a 409 with nothing written.
    Cancelling returns every unit not yet returned, with ``return`` moves."""
    with write_transaction():
        order = _locked_order(order_number)
        if (order.status, status) not in TRANSITIONS:
            allowed = sorted(to for (frm, to) in TRANSITIONS if frm == order.status)
            raise Conflict(f"an order that is {order.status} cannot become {status}",
                           details={"from": order.status, "to": status, "allowed": allowed})
        payment = TRANSITIONS[(order.status, status)] or order.payment_status
        if status == "cancelled":
            returned = _returned([order.id])
            for item in OrderItem.select().where(OrderItem.order == order.id):
                left = item.quantity - returned.get((order.id, item.product_id), 0)
                if left:
                    append_move(item.product_id, left, "return", order_id=order.id,
                                actor_id=actor_id, note="order cancelled")
        (Order.update(status=status, payment_status=payment, updated_at=clock.now())
         .where(Order.id == order.id).execute())
        audit.record(actor_id, "order.status", "order", order.order_number,
                     {"status": order.status, "payment_status": order.payment_status},
                     {"status": status, "payment_status": payment})
        return _view(Order.get_by_id(order.id))


def return_items(order_number: str, items: list[tuple[int, int]], *,
                 actor_id: int) -> dict[str, Any]:
    """Take units back into stock (``return`` moves), never more than were bought."""
    wanted: dict[int, int] = defaultdict(int)
    for product_id, quantity in items:
        wanted[product_id] += quantity
    with write_transaction():
        order = _locked_order(order_number)
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
        audit.record(actor_id, "order.return", "order", order.order_number, None,
                     {"returned": [{"product_id": p, "quantity": q}
                                   for p, q in sorted(wanted.items())]})
        return _view(order)
