"""The owner's orders: a list to filter and search, and one page per order with its
actions (mark paid, shipped, delivered, cancel; take items back).

Each form calls the service the API calls for the same thing (``orders.change_status``
for POST /api/admin/orders/<n>/status, ``orders.return_items`` for .../returns), once;
the service decides and audits. The page only offers the status changes the service's
own table (``orders.TRANSITIONS``) allows from the order's status, but a refusal (a stale
page, a forged form) still comes back in the service's words, next to the form.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, request, url_for

from shop.errors import Invalid, ShopError
from shop.pages.web import admin, field_errors, form_values, int_field, nav, page, submit
from shop.services import audit, dashboard, orders

nav("admin.orders", "Orders")

# The statuses an order can have, in the order it lives through them (API.md).
STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled")
STATUS_OPTIONS = [(s, s.capitalize()) for s in STATUSES]
# What each status change's button says.
ACTIONS = {"paid": "Mark paid", "shipped": "Mark shipped", "delivered": "Mark delivered",
           "cancelled": "Cancel order"}
HISTORY_ROWS = 50


def _status_filter() -> str | None:
    status = request.args.get("status", "").strip()
    if not status:
        return None
    if status not in STATUSES:
        raise Invalid("choose a status from the list",
                      details={"fields": {"status": "not an order status"}})
    return status


@admin.route("/orders", endpoint="orders")
def orders_list() -> Response:
    """Every order, newest first, or the ones a search finds; 20 a page."""
    q = request.args.get("q", "").strip()
    values = {"status": request.args.get("status", ""), "q": q}
    cursor = request.args.get("cursor") or None
    try:
        status = _status_filter()
        if q:
            found = dashboard.search_orders(q, status, cursor=cursor)
        else:
            found = orders.all_orders(status, cursor=cursor)
    except ShopError as exc:
        return page("admin/orders.html", exc.status, rows=[], next_url=None, values=values,
                    errors=field_errors(exc), error=exc.message, status_options=STATUS_OPTIONS)
    next_url = None
    if found.next_cursor:
        next_url = url_for("admin.orders", status=status or None, q=q or None,
                           cursor=found.next_cursor)
    return page("admin/orders.html", rows=found.items, next_url=next_url, values=values,
                errors={}, error=None, status_options=STATUS_OPTIONS, searched=bool(q))


def _detail(order_number: str, status: int = 200, **forms: Any) -> Response:
    """The order's page; ``forms``: a failed form's error and what was typed."""
    order = orders.get_order(order_number, admin=True)
    allowed = [to for (frm, to) in orders.TRANSITIONS if frm == order["status"]]
    history = audit.entries("order", order["order_number"], limit=HISTORY_ROWS).items
    return page("admin/orders_detail.html", status, order=order,
                billing=dashboard.billing_address(order["customer"]["id"]),
                actions=[(to, ACTIONS[to]) for to in allowed], history=history,
                returnable=order["status"] in orders.RETURNABLE,
                status_error=forms.get("status_error"),
                return_error=forms.get("return_error"),
                return_errors=forms.get("return_errors", {}),
                return_values=forms.get("return_values", {}))


@admin.route("/orders/<order_number>")
def orders_detail(order_number: str) -> Response:
    return _detail(order_number)


@admin.route("/orders/<order_number>/status", methods=["POST"])
def orders_status(order_number: str) -> Response:
    """One status change, through ``orders.change_status`` (as the API's)."""
    wanted = request.form.get("status", "")
    return submit(
        lambda: orders.change_status(order_number, wanted, actor_id=g.admin.id),
        done=f"Order {order_number} is now {wanted}.",
        then=url_for("admin.orders_detail", order_number=order_number),
        again=lambda exc: _detail(order_number, exc.status, status_error=exc.message))


def _return_lines() -> list[tuple[int, int]]:
    """(product_id, units) for each line with a number typed in ``qty-<product_id>``;
    0 or blank leaves a line out. A 400 naming the field for anything but a whole
    number of 0 or more; a 400 when no line has any."""
    lines = []
    for name in request.form:
        if not name.startswith("qty-"):
            continue
        product = name.removeprefix("qty-")
        if not product.isdigit():
            raise Invalid("that is not a line of this order",
                          details={"fields": {name: "not a line of this order"}})
        label = "The number of units"
        quantity = int_field(name, label=label, required=False)
        if quantity is None or quantity == 0:
            continue
        if quantity < 0:
            raise Invalid(f"{label} must be 0 or more",
                          details={"fields": {name: "0 or more"}})
        lines.append((int(product), quantity))
    if not lines:
        raise Invalid("type how many units come back on at least one line",
                      details={"fields": {}})
    return lines


@admin.route("/orders/<order_number>/returns", methods=["POST"])
def orders_returns(order_number: str) -> Response:
    """Units coming back into stock, through ``orders.return_items`` (as the API's)."""
    def again(exc: ShopError) -> Response:
        errors = field_errors(exc)
        product = (exc.details or {}).get("product_id")
        if product is not None:  # the line the service refused
            errors[f"qty-{product}"] = exc.message
        return _detail(order_number, exc.status, return_error=exc.message,
                       return_errors=errors, return_values=form_values())

    try:
        lines = _return_lines()
    except ShopError as exc:
        return again(exc)
    units = sum(q for _, q in lines)
    return submit(
        lambda: orders.return_items(order_number, lines, actor_id=g.admin.id),
        done=f"{units} unit{'s' if units != 1 else ''} of order {order_number} "
             f"{'are' if units != 1 else 'is'} back in stock.",
        then=url_for("admin.orders_detail", order_number=order_number),
        again=again)
