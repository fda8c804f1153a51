"""Demo data for trying the shop out: a small catalogue with stock, users and a submission."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from shop import clock
from shop.db import write_transaction
from shop.models import Image, Product, SellItem, SellSubmission
from shop.services.accounts import add_user
from shop.services.passwords import hash_password
from shop.services.stock import append_move

DEMO_PRODUCTS = (
    # sku, title, brand, category, size, condition, price_cents, stock, featured
    ("DEMO-0001", "Wool overcoat", "Crombie", "coats", "M", "good", 8900, 1, True),
    ("DEMO-0002", "Leather ankle boots", "Dubarry", "shoes", "39", "like_new", 6500, 1, True),
    ("DEMO-0003", "Silk scarf", "Hermès", "accessories", "one-size", "good", 12000, 1, False),
    ("DEMO-0004", "Denim jacket", "Levi's", "jackets", "L", "fair", 3500, 2, False),
    ("DEMO-0005", "Aran jumper", "Inis Meáin", "knitwear", "S", "new", 9500, 1, True),
    ("DEMO-0006", "Canvas tote", "Carraig Donn", "bags", "one-size", "like_new", 1800, 3, False),
)


@dataclass(frozen=True)
class DemoResult:
    created: bool
    admin_email: str
    customer_email: str
    password: str | None
    products: int


def seed(password: str | None = None) -> DemoResult:
    """Create the demo data once; a second call changes nothing and says so."""
    admin_email, customer_email = "admin@example.com", "customer@example.com"
    password = password or secrets.token_urlsafe(12)
    password_hash = hash_password(password)  # slow: before the write lock
    now = clock.now()
    with write_transaction():
        if Product.select().where(Product.sku == DEMO_PRODUCTS[0][0]).exists():
            return DemoResult(False, admin_email, customer_email, None, len(DEMO_PRODUCTS))
        admin = add_user(admin_email, password_hash, "Demo Admin", "admin", now)
        customer = add_user(customer_email, password_hash, "Demo Customer", "customer", now)
        for sku, title, brand, category, size, condition, price, stock, featured in DEMO_PRODUCTS:
            product = Product.create(
                sku=sku, title=title, brand=brand, category=category, size=size,
                condition=condition, price_cents=price, status="active", featured=featured,
                description=f"{title} by {brand}, {condition.replace('_', ' ')} condition.",
                created_at=now, updated_at=now)
            append_move(product.id, stock, "restock", actor_id=admin.id, note="demo stock")
            Image.create(product=product, cloudflare_id=f"demo-{sku.lower()}",
                         url=f"https://images.example.com/{sku.lower()}.jpg",
                         variants=["thumb", "public"], created_at=now)
        submission = SellSubmission.create(
            batch_id=str(uuid.uuid4()), seller=customer, seller_price_cents=4000,
            notes="Clearing out the wardrobe", created_at=now, updated_at=now)
        for title, category in (("Tweed blazer", "jackets"), ("Brogues", "shoes")):
            SellItem.create(submission=submission, title=title, brand="", category=category,
                            size="M", condition="good", created_at=now)
    return DemoResult(True, admin_email, customer_email, password, len(DEMO_PRODUCTS))
