"""What a shopper's cart shows: the live holds with their products and totals.

The holds themselves, and every way one ends, belong to ``shop.services.holds``; this is
the read side, which ends stale holds through it first, exactly as checkout does.
"""

from __future__ import annotations

from typing import Any

from shop import clock
from shop.db import write_transaction
from shop.services import catalogue, holds
from shop.services.holds import Holder


def view(holder: Holder) -> dict[str, Any]:
    """The live holds with their products, line totals and the subtotal. Stale holds end
    first (a write only when there are some)."""
    now = clock.now()
    held = holds.read_holds(holder)
    if any(h.stale(clock.to_text(now)) for h in held):
        with write_transaction():
            held = holds.settle_holder(holder, now)
    products = catalogue.products_by_id([h.product_id for h in held])
    items = [{"product": products[h.product_id], "quantity": h.quantity,
              "expires_at": h.expires_at,
              "line_total_cents": h.quantity * products[h.product_id]["price_cents"]}
             for h in held]
    return {"items": items, "subtotal_cents": sum(i["line_total_cents"] for i in items)}
