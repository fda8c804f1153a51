"""Checkout and orders: the unit of work that turns a cart into an order, and every
transition of an order afterwards (this module owns them all).

Checkout owns its transaction (Saleor's way): it re-reads the buyer's holds inside the
write lock, ends the stale ones exactly as the cart does (``holds.settle_holder``), writes
the order, its lines and the ledger rows (``reservation_converted`` +q, then ``sale`` -q
per line), all or nothing. A keyed retry gets the stored answer
(``shop.services.idempotency``); an unkeyed double submit finds the cart already empty:
never a second order.

Payments (issue 16): ``shop.services.payments`` owns every payment row's transition; this
module asks it for a refund when an order's change gives money back, and applies that
change only once Stripe agreed: record the refund as pending (one transaction), call
Stripe (none open), then record the answer and move the order (one transaction). A refund
Stripe refuses leaves the order as it was, and says why. With Stripe, an order unpaid
after SHOP_UNPAID_ORDER_MINUTES is cancelled, its stock back through the ledger: when it is
next read or paid, and by ``shop orders expire-unpaid``.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import peewee

from shop import clock
from shop.config import get_settings
from shop.db import database, known_balance, locked, write_transaction
from shop.errors import Conflict, Internal, Invalid, NotFound
from shop.models import Address, Order, OrderItem, StockMove, User
from shop.services import audit, batches, holds, idempotency, notifications, payments
from shop.services.codes import readable_code
from shop.services.holds import Hold, Holder
from shop.services.ledger import append_move, follow_stock
from shop.services.pagination import DEFAULT_LIMIT, Page, newest_first
from shop.services.passwords import new_token, token_hash

log = logging.getLogger(__name__)

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
    paid = payments.summaries(ids) if known is None else {}
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
            "payments": paid.get(o.id, []),
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
# A number already taken inserts nothing (DO NOTHING, on both engines) rather than being
# refused: PostgreSQL aborts the whole transaction on a refused statement, where SQLite
# undoes just the statement, so a refusal could not be drawn again on PostgreSQL.
_NEW_ORDER = ("INSERT INTO orders (order_number, user_id, guest_email, access_token_hash, "
              "status, payment_status, shipping_method, subtotal_cents, shipping_cents, "
              "total_cents, delivery_address, created_at, updated_at) "
              "VALUES (?, ?, ?, ?, 'pending', 'unpaid', ?, ?, ?, ?, ?, ?, ?) "
              "ON CONFLICT (order_number) DO NOTHING")
_NEW_LINES = ("INSERT INTO order_items (order_id, product_id, title, unit_price_cents, "
              "quantity, line_total_cents) VALUES ")
_LINE = "(?, ?, ?, ?, ?, ?)"


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
    lines = _sell(order_id, cart, buyer.user_id)
    # A product whose balance (known from its lock) is still above zero stays active: no
    # statement for it (on SQLite, where nothing is known, the UPDATE decides).
    follow_stock(h.product_id for h in cart if not known_balance(h.product_id))
    notifications.order_placed(order, lines, token=token)
    body: dict[str, Any] = {"order": _view(order, lines)}
    if token is not None:
        body["order_token"] = token
    return body


def _insert_order(values: tuple) -> tuple[int, str]:
    """Insert the order under a fresh number, drawing again if the number is taken (no
    row inserted: the transaction carries on, on either engine)."""
    for _attempt in range(NUMBER_ATTEMPTS):
        number = new_order_number()
        cursor = database.execute_sql(_NEW_ORDER, (number, *values))
        if cursor.rowcount == 1:
            return cursor.lastrowid, number
    raise Internal("could not draw a free order number")


def _sell(order_id: int, cart: list[Hold], actor_id: int | None) -> list[OrderItem]:
    """The order's lines from the live holds: the held units are converted and sold
    (``holds.sell``), and the lines written in one statement."""
    holds.sell(cart, order_id, actor_id)
    lines = [OrderItem(order=order_id, product=h.product_id, title=h.title,
                       unit_price_cents=h.price_cents, quantity=h.quantity,
                       line_total_cents=h.price_cents * h.quantity) for h in cart]
    database.execute_sql(
        _NEW_LINES + ", ".join([_LINE] * len(lines)),
        tuple(v for i in lines for v in (order_id, i.product_id, i.title, i.unit_price_cents,
                                         i.quantity, i.line_total_cents)))
    return lines


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
    order = locked(Order.select().where(Order.order_number == order_number)).first()
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
    if _overdue(order, clock.now()):
        order = _expire_one(order.id)
    return _view(order, with_customer=admin)


# --- unpaid online orders --------------------------------------------------------------------

def _unpaid_cutoff(now: datetime) -> datetime | None:
    """Orders created before this and still unpaid are overdue (None: manual payments,
    where an order waits for its buyer to pay on collection)."""
    settings = get_settings()
    if settings.payments != "stripe":
        return None
    return now - timedelta(minutes=settings.unpaid_order_minutes)


def _overdue(order: Order, now: datetime) -> bool:
    cutoff = _unpaid_cutoff(now)
    return (cutoff is not None and order.status == "pending"
            and order.payment_status == "unpaid" and order.created_at <= cutoff)


def _expire_if_overdue(order: Order, now: datetime) -> bool:
    """Cancel an overdue order, its stock back (inside a transaction). A payment that
    still arrives for it is refunded (``payments``)."""
    if not _overdue(order, now):
        return False
    _move(order, "cancelled", None, note="unpaid too long")
    return True


def _expire_one(order_id: int) -> Order:
    with write_transaction():
        order = locked(Order.select().where(Order.id == order_id)).get()  # under the lock
        _expire_if_overdue(order, clock.now())
        return Order.get_by_id(order_id)


EXPIRY_BATCH = 200


def expire_unpaid(batch: int = EXPIRY_BATCH) -> int:
    """Cancel up to ``batch`` overdue unpaid orders in one short transaction (cron);
    idempotent and safe twice at once (each is re-checked under the lock)."""
    now = clock.now()
    cutoff = _unpaid_cutoff(now)
    if cutoff is None:
        return 0
    with write_transaction():
        due = list(Order.select().where((Order.status == "pending")
                                        & (Order.created_at <= cutoff)
                                        & (Order.payment_status == "unpaid"))
                   .order_by(Order.created_at).limit(batch))
        for order in due:
            _expire_if_overdue(order, now)
        return len(due)


def expire_all_unpaid() -> int:
    """The cron job: every overdue unpaid order, in short batches."""
    return batches.run(expire_unpaid, EXPIRY_BATCH)


def settle_pending_refunds(older_than_minutes: int = 1, batch: int = 100) -> tuple[int, int]:
    """Refunds whose answer was never recorded (a crash or a timeout after step 1): ask
    Stripe again with the same key and apply the answer. Returns (settled, still open)."""
    settled = still_open = 0
    cutoff = clock.now() - timedelta(minutes=older_than_minutes)
    for refund_id in payments.pending_refunds(cutoff, batch):
        try:
            complete_refund(refund_id, None, raise_refusal=False)
            settled += 1
        except Exception:  # one refund's trouble must not stop the others
            log.warning("refund %s still open", refund_id, exc_info=True)
            still_open += 1
    return settled, still_open


# --- paying ----------------------------------------------------------------------------------

def pay(order_number: str, *, user_id: int | None = None,
        token: str | None = None) -> dict[str, Any]:
    """A Stripe Checkout Session for the order (its owner, or a guest with its token):
    the open one again, or a new one. 409 when the order is paid, cancelled, or unpaid for
    too long (it is cancelled then), or when the shop takes no payment online."""
    settings = get_settings()
    now = clock.now()
    with write_transaction():
        order = _find(order_number, user_id=user_id, token=token)
        if settings.payments != "stripe":
            raise Conflict("this shop takes payment on collection or by bank transfer: "
                           "there is nothing to pay online", details={"provider": "manual"})
        expired = _expire_if_overdue(order, now)
        if not expired:
            view, attempt = payments.begin_checkout(order, now)
    if expired:  # raised after commit: the cancellation stands
        raise Conflict("this order was not paid in time and is cancelled; its items are back "
                       "on sale", details={"status": "cancelled"})
    if view is not None:
        return view
    return payments.send_checkout(attempt, order.order_number)


def mark_paid(order: Order) -> None:
    """Stripe took the money (inside the webhook's transaction)."""
    _move(order, "paid", None)


def stripe_webhook(payload: bytes, signature: str | None) -> dict[str, Any]:
    """A Stripe event: verified before it is read, applied once, in one transaction; a
    payment that came too late is refunded after commit."""
    event = payments.verify_stripe_event(payload, signature)
    with write_transaction():
        outcome, refund_id = payments.stripe_event(event)
    log.info("stripe event %s (%s): %s", event["id"], event["type"], outcome)
    if refund_id is not None:
        try:
            complete_refund(refund_id, None, raise_refusal=False)
        except Exception:  # it stays pending; the cron asks again
            log.warning("refund %s of a late payment still open", refund_id, exc_info=True)
    return {"received": True}


def _move(order: Order, status: str, actor_id: int | None, *,
          payment_status: str | None = None, note: str = "order cancelled") -> None:
    """Move an order along TRANSITIONS (inside a transaction); anything else is a 409 with
    nothing written. Cancelling returns every unit not yet returned, with ``return``
    moves. ``payment_status``: what a refund just made it (else TRANSITIONS says)."""
    if (order.status, status) not in TRANSITIONS:
        allowed = sorted(to for (frm, to) in TRANSITIONS if frm == order.status)
        raise Conflict(f"an order that is {order.status} cannot become {status}",
                       details={"from": order.status, "to": status, "allowed": allowed})
    if payment_status is None and payments.refund_pending(order.id):
        raise Conflict("a refund for this order is under way: try again in a moment")
    payment = payment_status or TRANSITIONS[(order.status, status)] or order.payment_status
    if status == "cancelled":
        returned = _returned([order.id])
        products = []
        for item in OrderItem.select().where(OrderItem.order == order.id):
            left = item.quantity - returned.get((order.id, item.product_id), 0)
            if left:
                append_move(item.product_id, left, "return", order_id=order.id,
                            actor_id=actor_id, note=note)
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
    """The owner moves an order on (TRANSITIONS). Marking it paid records a manual
    charge (money taken in person), whatever the provider; cancelling a paid Stripe
    order refunds it first."""
    with write_transaction():
        order = _find(order_number, admin=True)
        refund_id = _cancel_refund(order) if status == "cancelled" else None
        if refund_id is None:
            _move(order, status, actor_id)
            if status == "paid":
                payments.record_manual_charge(order)
            return _view(Order.get_by_id(order.id), with_customer=True)
    return complete_refund(refund_id, actor_id, with_customer=True)


def cancel(order_number: str, *, user_id: int | None = None,
           token: str | None = None) -> dict[str, Any]:
    """The buyer cancels their own order while it is pending or paid (the stock comes
    back, and a Stripe payment is refunded first); once shipped it is a 409."""
    with write_transaction():
        order = _find(order_number, user_id=user_id, token=token)
        refund_id = _cancel_refund(order)
        if refund_id is None:
            _move(order, "cancelled", user_id)
            return _view(Order.get_by_id(order.id))
    return complete_refund(refund_id, user_id)


def _cancel_refund(order: Order) -> int | None:
    """Step 1 of cancelling a paid Stripe order (inside the transaction): the refund to
    send, after checking the cancellation itself is allowed; None: cancel at once."""
    if (order.status, "cancelled") not in TRANSITIONS or order.status != "paid":
        return None  # _move refuses it, or there is no money to give back
    return payments.prepare_refund(order, "cancel")


def complete_refund(refund_id: int, actor_id: int | None, *, with_customer: bool = False,
                    raise_refusal: bool = True) -> dict[str, Any]:
    """Steps 2 and 3 of a refund: ask Stripe (no transaction open), then record its answer
    and, when the money went back, make the order's change in one transaction: cancel it,
    take the returned units back, or (a late payment) mark it refunded. A refusal leaves
    the order as it was: 409 with Stripe's reason."""
    answer = payments.send_refund(refund_id)
    with write_transaction():
        refund = payments.finish_refund(refund_id, answer)
        order = locked(Order.select().where(Order.id == payments.order_of(refund_id))).get()
        if refund is not None and answer.ok:
            status = payments.refunded_status(order.id)
            if refund.refund_reason == "cancel":
                _move(order, "cancelled", actor_id, payment_status=status)
            elif refund.refund_reason == "return":
                items = {i["product_id"]: i["quantity"] for i in json.loads(refund.refund_items)}
                _take_back(order, items, actor_id)
                _set_payment_status(order, status, actor_id)
            elif order.status == "cancelled":  # a late payment, given back
                _set_payment_status(order, status, actor_id)
        view = _view(Order.get_by_id(order.id), with_customer=with_customer)
    if not answer.ok and raise_refusal:
        raise Conflict(f"Stripe refused the refund, so the order is unchanged: "
                       f"{answer.reason}", details={"reason": answer.reason})
    return view


def _set_payment_status(order: Order, payment_status: str, actor_id: int | None) -> None:
    if payment_status == order.payment_status:
        return
    (Order.update(payment_status=payment_status, updated_at=clock.now())
     .where(Order.id == order.id).execute())
    audit.record(actor_id, "order.payment_status", "order", order.order_number,
                 {"payment_status": order.payment_status}, {"payment_status": payment_status})


def return_items(order_number: str, items: list[tuple[int, int]], *,
                 actor_id: int) -> dict[str, Any]:
    """Take units back into stock (``return`` moves), never more than were bought."""
    wanted: dict[int, int] = defaultdict(int)
    for product_id, quantity in items:
        wanted[product_id] += quantity
    with write_transaction():
        order = _find(order_number, admin=True)
        prices = _check_return(order, wanted)
        amount = sum(prices[p] * q for p, q in wanted.items())
        refund_id = payments.prepare_refund(order, "return", amount, dict(wanted))
        if refund_id is None:
            _take_back(order, wanted, actor_id)
            return _view(order, with_customer=True)
    return complete_refund(refund_id, actor_id, with_customer=True)


def _check_return(order: Order, wanted: dict[int, int]) -> dict[int, int]:
    """Refuse a return that cannot be taken (409/400, nothing written); the unit prices."""
    if order.status not in RETURNABLE:
        raise Conflict(f"an order that is {order.status} takes no returns",
                       details={"status": order.status})
    lines = {i.product_id: i for i in OrderItem.select().where(OrderItem.order == order.id)}
    returned = _returned([order.id])
    for product_id, quantity in sorted(wanted.items()):
        if product_id not in lines:
            raise Invalid(f"product {product_id} is not in this order",
                          details={"fields": {"items": f"product {product_id} not bought"}})
        already = returned.get((order.id, product_id), 0)
        if already + quantity > lines[product_id].quantity:
            raise Conflict("that is more than was bought", details={
                "product_id": product_id, "bought": lines[product_id].quantity,
                "returned": already})
    return {p: line.unit_price_cents for p, line in lines.items()}


def _take_back(order: Order, wanted: dict[int, int], actor_id: int | None) -> None:
    """The returned units go back into stock, checked again (inside a transaction)."""
    for product_id, quantity in sorted(wanted.items()):
        append_move(product_id, quantity, "return", order_id=order.id, actor_id=actor_id)
    follow_stock(wanted)
    audit.record(actor_id, "order.return", "order", order.order_number, None,
                 {"returned": [{"product_id": p, "quantity": q}
                               for p, q in sorted(wanted.items())]})
