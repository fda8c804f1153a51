"""Small steps the HTTP tests share: a product with stock, a hold, a look at the rows."""

from __future__ import annotations

from pathlib import Path

from shop.services import catalogue, stock
from tests import engine


def product(units: int = 1, sku: str = "P-1", price: int = 2500, **fields) -> int:
    """An active coat with ``units`` restocked through the ledger; its id."""
    made = catalogue.create_product({"sku": sku, "title": f"Coat {sku}", "category": "coats",
                                     "condition": "good", "price_cents": price,
                                     "status": "active", **fields})
    if units:
        stock.adjust(made["id"], units, "restock")
    return made["id"]


def hold(client, headers, product_id: int, quantity: int = 1):
    return client.post("/api/cart/items", json={"product_id": product_id,
                                                "quantity": quantity}, headers=headers)


def rows(db_path: Path, sql: str, *params) -> list[tuple]:
    """What a separate connection reads from the file."""
    conn = engine.connect(db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
