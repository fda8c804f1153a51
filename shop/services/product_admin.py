"""The dashboard's product forms (issue 15, "Products"), over the catalogue and stock
services the API calls.

A form sends text, not JSON, and the dashboard may not use the API's schemas (the pages
sit below ``shop.api``). So the typed fields are checked here, by the same rules and in
the same words as the API's ``ProductCreateIn`` / ``ProductPatchIn`` (sku, slug, one line
of text, lengths, condition, status, price range): every field at once, so a form shows
each complaint next to its own field. tests/pages/test_products.py holds both to the same
answers. Then exactly one service call does the work, in one transaction, and audits it.

The stock form asks more than the API: the dashboard requires a note on every manual
change (restock and return too), so the ledger always says why a person moved stock.
"""

from __future__ import annotations

import re
from typing import Any

from shop.db import write_transaction
from shop.errors import Invalid
from shop.models import Order, SellSubmission, User
from shop.models.enums import CONDITIONS, PRODUCT_STATUSES
from shop.services import catalogue, stock
from shop.services.accounts import WHITE_SPACE
from shop.services.pagination import DEFAULT_LIMIT, Page

# The API's rules (shop/api/schemas.py), as patterns over the whole value.
_LINE = r"[^\x00-\x1f\x7f]"
_MULTILINE = r"[^\x00-\x08\x0b-\x1f\x7f]"
_VISIBLE = rf"[^{WHITE_SPACE}\x00-\x1f\x7f]"
SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SLUG = re.compile(r"[a-z0-9-]{1,40}")
MAX_PRICE_CENTS = 100_000_000
MAX_NOTE = 500

_SKU_SENTENCE = ("must be 1 to 64 letters, digits, dots, underscores or hyphens, starting "
                 "with a letter or digit")
_SLUG_SENTENCE = "must be a lowercase slug of letters, digits and hyphens, up to 40 characters"


def _line(value: str, max_length: int, *, required: bool = False) -> str | None:
    """What is wrong with one line of text (None: nothing)."""
    pattern = rf"{_LINE}*{_VISIBLE}{_LINE}*" if required else rf"{_LINE}*"
    if (required and not value) or len(value) > max_length or not re.fullmatch(pattern, value):
        if required:
            return (f"must be 1 to {max_length} characters on one line, not all spaces, "
                    "without control characters")
        return f"must be up to {max_length} characters on one line, without control characters"
    return None


def _multiline(value: str, max_length: int) -> str | None:
    if len(value) > max_length or not re.fullmatch(rf"{_MULTILINE}*", value):
        return (f"must be up to {max_length} characters; tabs and new lines are allowed, "
                "other control characters are not")
    return None


def _one_of(value: Any, allowed: tuple[str, ...]) -> str | None:
    return None if value in allowed else f"must be one of {', '.join(allowed)}"


_RULES: dict[str, Any] = {
    "sku": lambda v: None if isinstance(v, str) and SKU.fullmatch(v) else _SKU_SENTENCE,
    "title": lambda v: _line(v, 200, required=True),
    "description": lambda v: _multiline(v, 5000),
    "brand": lambda v: _line(v, 100),
    "category": lambda v: None if isinstance(v, str) and SLUG.fullmatch(v) else _SLUG_SENTENCE,
    "size": lambda v: _line(v, 40),
    "condition": lambda v: _one_of(v, CONDITIONS),
    # Told in euros: the form's price is typed as an amount, not in cents.
    "price_cents": lambda v: (None if isinstance(v, int) and not isinstance(v, bool)
                              and 1 <= v <= MAX_PRICE_CENTS else
                              f"must be an amount from 0.01 to {MAX_PRICE_CENTS // 100}.00"),
    "status": lambda v: _one_of(v, PRODUCT_STATUSES),
    "featured": lambda v: None if isinstance(v, bool) else "must be true or false",
}
REQUIRED = ("sku", "title", "category", "condition", "price_cents")
DEFAULTS: dict[str, Any] = {"description": "", "brand": "", "size": "", "status": "draft",
                            "featured": False}


def problems(fields: dict[str, Any], *, partial: bool = False) -> dict[str, str]:
    """Each field's complaint, as the API's product schema words it ({} when all is well).
    ``partial``: an edit, where a field left out stays as it is."""
    found: dict[str, str] = {}
    for name in fields:
        if name not in _RULES:
            found[name] = "is not a field of a product"
    if not partial:
        for name in REQUIRED:
            if fields.get(name) is None:
                found[name] = "is required"
    for name, rule in _RULES.items():
        if name in fields and name not in found:
            sentence = "is required" if fields[name] is None else rule(fields[name])
            if sentence:
                found[name] = sentence
    return found


def invalid(found: dict[str, str]) -> Invalid:
    """The refusal of a product form: one sentence per field (the price named as the owner
    types it), and each field's complaint in the details."""
    said = "; ".join(f"{'price' if name == 'price_cents' else name} {sentence}"
                     for name, sentence in found.items())
    return Invalid(f"the product was not saved: {said}", details={"fields": found})


def _checked(fields: dict[str, Any], *, partial: bool) -> None:
    found = problems(fields, partial=partial)
    if found:
        raise invalid(found)


def create_product(fields: dict[str, Any], *, actor_id: int | None) -> dict[str, Any]:
    """A new product from the dashboard's form (no stock yet); what
    ``POST /api/admin/products`` does, after the same checks."""
    _checked(fields, partial=False)
    return catalogue.create_product({**DEFAULTS, **fields}, actor_id=actor_id)


def update_product(product_id: int, fields: dict[str, Any], *,
                   actor_id: int | None) -> dict[str, Any]:
    """Change what the form changed, as ``PATCH /api/admin/products/<id>`` does. The form
    sends every field; only those that differ from the product are changed (and audited),
    so an unchanged sku is never "changed" after stock has moved."""
    _checked(fields, partial=True)
    with write_transaction():
        current = catalogue.get_product(product_id, include_unpublished=True)
        changes = {k: v for k, v in fields.items() if current[k] != v}
        if not changes:
            return current
        return catalogue.update_product(product_id, changes, actor_id=actor_id)


def adjust_stock(product_id: int, qty_change: int, reason: str, note: str, *,
                 actor_id: int | None) -> tuple[Any, int]:
    """``stock.adjust`` (as ``POST /api/admin/products/<id>/stock``), with a note required
    whatever the reason; the new balance."""
    note = note.strip()
    if not note:
        raise Invalid("say why the stock changes: a note is required",
                      details={"fields": {"note": "is required: say why the stock changes"}})
    wrong = _multiline(note, MAX_NOTE)
    if wrong:
        raise Invalid(f"note {wrong}", details={"fields": {"note": wrong}})
    return stock.adjust(product_id, qty_change, reason, note=note, actor_id=actor_id)


def ledger(product_id: int, *, limit: int = DEFAULT_LIMIT,
           cursor: str | None = None) -> Page[dict[str, Any]]:
    """The product's ledger, newest first (``stock.list_moves``), each move with the
    order number, the actor's email and the submission's batch id it names, so a page
    can link them: three primary-key reads for the whole page, whatever its length."""
    page = stock.list_moves(product_id, limit=limit, cursor=cursor)
    moves = page.items

    def names(model: Any, column: Any, key: str) -> dict[int, str]:
        ids = {m[key] for m in moves if m[key] is not None}
        if not ids:
            return {}
        return dict(model.select(model.id, column).where(model.id.in_(sorted(ids))).tuples())

    orders = names(Order, Order.order_number, "order_id")
    actors = names(User, User.email, "actor_id")
    batches = names(SellSubmission, SellSubmission.batch_id, "submission_id")
    items = [{**m, "order_number": orders.get(m["order_id"]),
              "actor_email": actors.get(m["actor_id"]),
              "batch_id": batches.get(m["submission_id"])} for m in moves]
    return Page(items, page.next_cursor)
