"""Cart holds and the stock ledger.

``stock_moves`` is append-only; inserting a row is the only way ``products.stock_quantity``
changes (the triggers are in ``shop.models.sql``).
"""

from __future__ import annotations

import peewee
from peewee import Check

from shop.models.accounts import User
from shop.models.base import AutoIncrementField, BaseModel, UtcDateTimeField, one_of
from shop.models.catalog import Product
from shop.models.enums import STOCK_REASONS
from shop.models.orders import Order
from shop.models.selling import SellSubmission

# The sign each reason must carry: holds take stock away, releases give it back.
REASON_SIGNS = {
    "restock": 1, "purchase": 1, "return": 1,
    "reservation_released": 1, "reservation_expired": 1, "reservation_converted": 1,
    "sale": -1, "reserved": -1,
}


class ProductReservation(BaseModel):
    """A cart hold. Deleted when released, expired or converted; the ledger keeps its story.

    AUTOINCREMENT so a deleted hold's id is never reused by another hold: the ledger refers
    to holds by id, and the per-hold invariant would mix two holds otherwise.
    """

    id = AutoIncrementField()
    # index=False: UNIQUE(product_id, ...) below serves lookups by product.
    product = peewee.ForeignKeyField(Product, on_delete="CASCADE", backref="reservations",
                                     index=False)
    # RESTRICT: deleting a holder must release the hold through the ledger first, or the
    # held units would vanish with no stock move.
    user = peewee.ForeignKeyField(User, null=True, on_delete="RESTRICT",
                                  backref="reservations")
    session_id = peewee.TextField(null=True)
    quantity = peewee.IntegerField(constraints=[Check("quantity > 0")])
    created_at = UtcDateTimeField()
    expires_at = UtcDateTimeField(index=True)

    class Meta:
        table_name = "product_reservations"
        constraints = [Check("(user_id IS NULL) <> (session_id IS NULL)")]
        indexes = (
            (("product", "user"), True),
            (("product", "session_id"), True),
            (("session_id",), False),
        )


def _sign_check() -> str:
    positive = ", ".join(f"'{r}'" for r, s in REASON_SIGNS.items() if s > 0)
    negative = ", ".join(f"'{r}'" for r, s in REASON_SIGNS.items() if s < 0)
    return (f"(reason NOT IN ({positive}) OR qty_change > 0) "
            f"AND (reason NOT IN ({negative}) OR qty_change < 0)")


class StockMove(BaseModel):
    # RESTRICT everywhere: the ledger is history, nothing it names may disappear.
    product = peewee.ForeignKeyField(Product, on_delete="RESTRICT", backref="moves")
    qty_change = peewee.IntegerField(constraints=[Check("qty_change <> 0")])
    reason = peewee.TextField(constraints=[one_of("reason", STOCK_REASONS)])
    order = peewee.ForeignKeyField(Order, null=True, on_delete="RESTRICT", backref="moves")
    # Not a foreign key: holds are deleted once settled, their moves stay.
    reservation_id = peewee.IntegerField(null=True, index=True)
    submission = peewee.ForeignKeyField(SellSubmission, null=True, on_delete="RESTRICT",
                                        backref="moves")
    actor = peewee.ForeignKeyField(User, null=True, on_delete="RESTRICT", backref="moves")
    note = peewee.TextField(null=True)
    created_at = UtcDateTimeField()

    class Meta:
        table_name = "stock_moves"
        constraints = [
            Check(_sign_check()),
            Check("reason <> 'adjustment' OR length(trim(coalesce(note, ''))) > 0"),
            Check("reason NOT LIKE 'reserv%' OR reservation_id IS NOT NULL"),
        ]
