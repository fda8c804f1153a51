"""Demo data for trying the shop out: a small catalogue with stock, users and a submission."""

from __future__ import annotations

import random
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shop import clock
from shop.db import write_transaction
from shop.errors import Invalid
from shop.models import Image, Product, SellItem, SellSubmission, StockMove
from shop.services.accounts import add_user
from shop.services.ledger import append_move
from shop.services.passwords import hash_password
from shop.services.system import refresh_statistics

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


# --- a realistic catalogue of any size (seed-demo --products N) ----------------------------

GENERATED_PREFIX = "GEN-"
BRANDS = (
    "Levi's", "Barbour", "Dubarry", "Crombie", "Hermès", "Burberry", "Patagonia", "Arket",
    "COS", "Zara", "Uniqlo", "Mango", "Whistles", "Jigsaw", "Boden", "Seasalt", "Fjällräven",
    "Carhartt", "Dr. Martens", "Clarks", "Birkenstock", "Converse", "Adidas", "Nike",
    "New Balance", "Ralph Lauren", "Tommy Hilfiger", "Lacoste", "Fred Perry", "Ben Sherman",
    "Inis Meáin", "Aran Woollen Mills", "Magee", "Avoca", "Carraig Donn", "Kilkenny Design",
    "Max Mara", "Ganni", "Acne Studios", "A.P.C.", "Sézane", "& Other Stories", "Reiss",
    "Ted Baker", "Hobbs", "L.K.Bennett", "Joules", "Superdry", "North Face", "Columbia",
    "Gucci", "Prada", "Chloé", "Longchamp", "Mulberry", "Coach", "Kate Spade", "Fossil",
    "Vintage Atelier",  # every one archived: a brand filter that finds no active rows
)
CATEGORIES = {
    "coats": ("Wool coat", "Trench coat", "Parka", "Peacoat", "Duffle coat"),
    "jackets": ("Denim jacket", "Blazer", "Leather jacket", "Bomber", "Wax jacket"),
    "knitwear": ("Aran jumper", "Cardigan", "Cashmere sweater", "Roll neck", "Fair Isle vest"),
    "shirts": ("Oxford shirt", "Flannel shirt", "Linen shirt", "Silk blouse", "Polo shirt"),
    "dresses": ("Wrap dress", "Midi dress", "Shirt dress", "Slip dress", "Tea dress"),
    "trousers": ("Chinos", "Cords", "Wide-leg trousers", "Jeans", "Cargo trousers"),
    "skirts": ("Pleated skirt", "Denim skirt", "Midi skirt", "Kilt", "A-line skirt"),
    "shoes": ("Ankle boots", "Brogues", "Loafers", "Trainers", "Chelsea boots"),
    "bags": ("Tote", "Crossbody bag", "Backpack", "Clutch", "Weekender"),
    "accessories": ("Silk scarf", "Leather belt", "Wool hat", "Gloves", "Sunglasses"),
    "sportswear": ("Running top", "Fleece", "Track jacket", "Leggings", "Rain shell"),
    "kids": ("Raincoat", "Dungarees", "Knit cardigan", "Wellies", "Snowsuit"),
}
SIZES = {
    "shoes": ("36", "37", "38", "39", "40", "41", "42", "43", "44", "45"),
    "bags": ("one-size",), "accessories": ("one-size",),
    "kids": ("2-3y", "4-5y", "6-7y", "8-9y", "10-11y"),
}
CLOTHING_SIZES = ("XS", "S", "M", "L", "XL", "XXL", "6", "8", "10", "12", "14", "16")
ADJECTIVES = ("Classic", "Vintage", "Navy", "Camel", "Charcoal", "Cream", "Forest green",
              "Burgundy", "Striped", "Checked", "Oversized", "Cropped", "Tailored", "Faded")
CONDITION_WEIGHTS = (("new", 1), ("like_new", 3), ("good", 5), ("fair", 2))
STATUS_WEIGHTS = (("active", 85), ("draft", 7), ("sold_out", 5), ("archived", 3))
GENERATED_SINCE = datetime(2024, 1, 1, tzinfo=UTC)
CHUNK = 500  # products in one transaction at most
# A transaction that took longer than this halves the next one (down to MIN_CHUNK), and
# one four times quicker doubles it again: the shop's WAL checkpointer waits at most
# shop.checkpoints.WRITERS_WAIT_SECONDS for the writer queue before it gives up, and once
# each 500 products took 1-2 s (a few tens of thousands in, on a loaded 2-core machine) it
# gave up every time, and the log grew without a bound (1.2 GB for 100,000 products).
CHUNK_SECONDS = 0.25
MIN_CHUNK = 20


def _generated_product(n: int) -> dict[str, Any]:
    """Product number ``n`` of the generated catalogue: the same n always gives the same row."""
    rng = random.Random(n)
    brand = rng.choice(BRANDS)
    category = rng.choice(tuple(CATEGORIES))
    noun = rng.choice(CATEGORIES[category])
    condition = rng.choices(*zip(*CONDITION_WEIGHTS, strict=True))[0]
    status = "archived" if brand == "Vintage Atelier" else \
        rng.choices(*zip(*STATUS_WEIGHTS, strict=True))[0]
    # Prices in 50-cent steps from €5 to ~€600, skewed cheap; many ties on purpose.
    price = max(500, min(60000, int(rng.lognormvariate(8.3, 0.8)) // 50 * 50))
    # Spread over two years, in whole minutes so that some products share a created_at.
    created = GENERATED_SINCE + timedelta(minutes=n * 7 + rng.randrange(0, 30))
    return {
        "sku": f"{GENERATED_PREFIX}{n:07d}",
        "title": f"{rng.choice(ADJECTIVES)} {noun.lower()}",
        "description": f"{noun} by {brand}, {condition.replace('_', ' ')} condition.",
        "brand": brand, "category": category,
        "size": rng.choice(SIZES.get(category, CLOTHING_SIZES)),
        "condition": condition, "price_cents": price, "status": status,
        "featured": status == "active" and rng.random() < 0.02,
        "created_at": created, "updated_at": created,
        "_stock": 0 if status in ("sold_out", "archived") else rng.choice((1, 1, 1, 2, 3)),
        "_images": rng.choice((0, 0, 0, 1, 2)),
    }


def seed_catalogue(count: int, *,
                   on_progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Make sure the generated catalogue has ``count`` products, with their restock moves
    and some images, in short transactions (at most ``CHUNK`` products, fewer when one
    takes longer than ``CHUNK_SECONDS``, so that checkouts beside it and the WAL
    checkpointer get the writer queue in time). Returns (created, total).

    Deterministic and idempotent: running it again with the same count changes nothing,
    with a larger count it adds the missing products. Statistics are refreshed at the end
    so the planner picks the right index at this size.
    """
    if count < 0:
        raise Invalid("the number of products must not be negative",
                      details={"fields": {"products": "negative"}})
    existing = Product.select().where(Product.sku.startswith(GENERATED_PREFIX)).count()
    created, size = 0, CHUNK
    while existing + created < count:
        start = existing + created + 1
        numbers = range(start, min(start + size, count + 1))
        rows = [_generated_product(n) for n in numbers]
        began = time.monotonic()
        _seed_chunk(rows)
        took = time.monotonic() - began
        if took > CHUNK_SECONDS:
            size = max(MIN_CHUNK, size // 2)
        elif took < CHUNK_SECONDS / 4:
            size = min(CHUNK, size * 2)
        created += len(numbers)
        if on_progress is not None:
            on_progress(len(numbers))
    if created:
        refresh_statistics(full=True)
    return created, max(existing, count)


def _seed_chunk(rows: list[dict[str, Any]]) -> None:
    now = clock.now()
    with write_transaction():
        Product.insert_many(
            [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
        ).execute()
        ids = dict(Product.select(Product.sku, Product.id)
                   .where(Product.sku.in_([r["sku"] for r in rows])).tuples())
        moves = [{"product": ids[r["sku"]], "qty_change": r["_stock"], "reason": "restock",
                  "note": "generated catalogue", "created_at": r["created_at"]}
                 for r in rows if r["_stock"]]
        if moves:
            StockMove.insert_many(moves).execute()  # the ledger triggers set each balance
        images = [{"product": ids[r["sku"]], "cloudflare_id": f"gen-{r['sku'].lower()}-{i}",
                   "url": f"https://images.example.com/{r['sku'].lower()}-{i}.jpg",
                   "variants": ["thumb", "public"], "position": i, "created_at": now}
                  for r in rows for i in range(r["_images"])]
        if images:
            Image.insert_many(images).execute()
