"""Photos uploaded to the shop itself (issue 17).

An image is now either a JSON reference to a picture hosted elsewhere (``cloudflare_id``
and ``url``, as before) or a photo the shop stored: ``storage_key`` (the SHA-256 of its
full-size variant, which names its files) and the ``width`` and ``height`` of that
variant. Exactly one of the two, enforced by a CHECK, so ``cloudflare_id`` and ``url`` may
now be NULL: a rebuild (D1.md's recipe; ``images`` has no children). ``shop media gc``
looks files up by ``storage_key``: an index.
"""

from __future__ import annotations

from shop.services.migrations import rebuild_table

IMAGES = """CREATE TABLE "images" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "product_id" INTEGER,
    "submission_id" INTEGER,
    "cloudflare_id" TEXT CHECK (cloudflare_id IS NULL OR length(cloudflare_id) >= 1),
    "url" TEXT CHECK (url IS NULL OR length(url) BETWEEN 1 AND 2000),
    "variants" TEXT NOT NULL CHECK (json_valid(variants)),
    "position" INTEGER NOT NULL CHECK (position >= 0),
    "created_at" TEXT NOT NULL,
    "sell_item_id" INTEGER,
    "storage_key" TEXT CHECK (storage_key IS NULL OR (length(storage_key) = 64 AND storage_key NOT GLOB '*[^0-9a-f]*')),
    "width" INTEGER CHECK (width IS NULL OR width BETWEEN 1 AND 100000),
    "height" INTEGER CHECK (height IS NULL OR height BETWEEN 1 AND 100000),
    FOREIGN KEY ("product_id") REFERENCES "products" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("submission_id") REFERENCES "sell_submissions" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("sell_item_id") REFERENCES "sell_items" ("id") ON DELETE CASCADE,
    CHECK ((product_id IS NULL) <> (submission_id IS NULL)),
    CHECK (sell_item_id IS NULL OR submission_id IS NOT NULL),
    CHECK (CASE WHEN storage_key IS NULL THEN cloudflare_id IS NOT NULL AND url IS NOT NULL AND width IS NULL AND height IS NULL ELSE cloudflare_id IS NULL AND url IS NULL AND width IS NOT NULL AND height IS NOT NULL END)
)"""
COLUMNS = ["id", "product_id", "submission_id", "cloudflare_id", "url", "variants", "position",
           "created_at", "sell_item_id"]


def migrate(migrator, database, *, fake=False):
    migrator.run(rebuild_table, "images", IMAGES, copy_columns=COLUMNS)
    migrator.sql('CREATE INDEX "images_storage_key" ON "images" ("storage_key")')
