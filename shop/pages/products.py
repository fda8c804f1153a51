"""Products (issue 15): the catalogue as the owner sees it (every status), a product's
page with its fields, photos, stock and ledger, and the forms that change them.

Each form is one call of the service the API's route calls: ``product_admin`` (the
product's fields, checked as the API checks them; a stock change with a required note),
``catalogue`` (photos). A refused form comes back with what was typed and the service's
words next to the field they name, with the service's status.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, g, redirect, request, url_for

from shop.errors import InsufficientStock, Invalid, ShopError
from shop.pages.auth import signed_in_user
from shop.pages.web import (
    admin,
    cents_field,
    field_errors,
    form_values,
    int_field,
    nav,
    page,
    submit,
)
from shop.services import catalogue, photos, product_admin, stock
from shop.services.catalogue import ProductQuery

nav("admin.products", "Products")

STATUSES = (("active", "Active"), ("draft", "Draft"), ("sold_out", "Sold out"),
            ("archived", "Archived"))
CONDITIONS = (("new", "New"), ("like_new", "Like new"), ("good", "Good"), ("fair", "Fair"))
SORTS = (("newest", "Newest first"), ("price_asc", "Price, low to high"),
         ("price_desc", "Price, high to low"))
STOCK_FILTERS = (("in_stock", "In stock only"),)
REASONS = tuple((reason, reason.capitalize()) for reason in stock.MANUAL_REASONS)
TEXT_FIELDS = ("sku", "title", "description", "brand", "category", "size", "condition",
               "status")
# What a multipart photo form may carry besides the file: boundaries, part headers and
# the CSRF token (as the API's upload route allows, shop.api.routing.MULTIPART_OVERHEAD).
UPLOAD_OVERHEAD = 64 * 1024


# --- the list --------------------------------------------------------------------------------

def _filters() -> dict[str, str]:
    """The list's filters as typed in its query string (empty ones left out)."""
    names = ("q", "status", "category", "stock", "sort")
    return {n: request.args[n].strip() for n in names if (request.args.get(n) or "").strip()}


@admin.route("/products")
def products() -> Response:
    filters = _filters()
    status = filters.get("status", "active")
    if status not in dict(STATUSES):
        raise Invalid("status must be one of draft, active, sold_out, archived",
                      details={"fields": {"status": "not a product status"}})
    sort = filters.get("sort")
    if sort is not None and sort not in dict(SORTS):
        raise Invalid("sort must be one of newest, price_asc, price_desc",
                      details={"fields": {"sort": "not a sort"}})
    query = ProductQuery(status=status, category=filters.get("category"),
                         q=filters.get("q"), sort=sort,
                         in_stock=filters.get("stock") == "in_stock")
    found = catalogue.list_products(query, cursor=request.args.get("cursor") or None)
    next_url = (url_for("admin.products", **filters, cursor=found.next_cursor)
                if found.next_cursor else None)
    return page("admin/products.html", products=found.items, next_url=next_url,
                values={"status": status, **filters}, statuses=STATUSES, sorts=SORTS,
                stock_filters=STOCK_FILTERS, thumb=thumb)


def thumb(image: dict[str, Any]) -> str:
    """The small picture of an image: a stored photo's thumb, or a reference's URL."""
    variants = image.get("variants")
    return variants["thumb"] if isinstance(variants, dict) else image["url"]


# --- a product's fields ---------------------------------------------------------------------

def _typed_product() -> tuple[dict[str, Any], str | None]:
    """The product form's fields as the service takes them, and why the price could not be
    read (not an amount), if it could not."""
    fields: dict[str, Any] = {n: request.form.get(n, "") for n in TEXT_FIELDS}
    # Browsers send a textarea's new lines as CRLF; the shop stores LF.
    fields["description"] = fields["description"].replace("\r\n", "\n")
    fields["featured"] = request.form.get("featured") == "1"
    try:
        fields["price_cents"] = cents_field("price", label="Price")
    except Invalid as exc:
        sentence = field_errors(exc).get("price", "")
        return fields, "is required" if sentence == "required" else f"must be {sentence}"
    return fields, None


def _form_errors(exc: ShopError) -> dict[str, str]:
    """The service's field complaints, under the form's names (the price is typed in euros
    in the field ``price``)."""
    errors = field_errors(exc)
    if "price_cents" in errors:
        errors["price"] = errors.pop("price_cents")
    return errors


def _save_product(product_id: int | None) -> dict[str, Any]:
    """Check what was typed and create or change the product: one service call."""
    fields, unreadable = _typed_product()
    if unreadable:  # tell every field's complaint at once, not only the price's
        raise product_admin.invalid({**product_admin.problems(fields, partial=True),
                                     "price_cents": unreadable})
    if product_id is None:
        return product_admin.create_product(fields, actor_id=g.admin.id)
    return product_admin.update_product(product_id, fields, actor_id=g.admin.id)


def _product_form_context() -> dict[str, Any]:
    return {"statuses": STATUSES, "conditions": CONDITIONS}


@admin.route("/products/new", methods=["GET", "POST"])
def products_new() -> Response:
    if request.method == "GET":
        return page("admin/products_new.html", values={"status": "draft"}, errors={},
                    **_product_form_context())
    try:
        created = _save_product(None)
    except ShopError as exc:
        return page("admin/products_new.html", exc.status, values=form_values(),
                    errors=_form_errors(exc), error=exc.message, **_product_form_context())
    flash(f"Product {created['sku']} created.", "done")
    return redirect(url_for("admin.products_detail", product_id=created["id"]), 303)


# --- a product's page -------------------------------------------------------------------------

def _values_of(product: dict[str, Any]) -> dict[str, str]:
    values = {n: str(product[n]) for n in TEXT_FIELDS}
    values["price"] = f"{product['price_cents'] / 100:.2f}"
    if product["featured"]:
        values["featured"] = "1"
    return values


def _detail(product_id: int, status: int = 200, **forms: Any) -> Response:
    """The product's page; ``forms`` holds a refused form's values and errors
    (``edit``, ``upload``, ``photos``, ``stock``: each {values, errors, error})."""
    product = catalogue.get_product(product_id, include_unpublished=True)
    moves = product_admin.ledger(product_id, cursor=request.args.get("moves") or None)
    next_url = (url_for("admin.products_detail", product_id=product_id,
                        moves=moves.next_cursor) + "#ledger" if moves.next_cursor else None)
    blank = {"values": {}, "errors": {}, "error": None}
    edit = forms.get("edit") or {**blank, "values": _values_of(product)}
    return page("admin/products_detail.html", status, product=product, moves=moves.items,
                next_url=next_url, edit=edit, upload=forms.get("upload") or blank,
                photos_form=forms.get("photos") or blank,
                stock_form=forms.get("stock") or {**blank, "values": {"reason": "restock"}},
                reasons=REASONS, thumb=thumb, max_photos=photos.MAX_PHOTOS,
                **_product_form_context())


def _refused(exc: ShopError, errors: dict[str, str] | None = None) -> dict[str, Any]:
    return {"values": form_values(), "errors": field_errors(exc) if errors is None else errors,
            "error": exc.message}


def _here(product_id: int, anchor: str) -> str:
    return url_for("admin.products_detail", product_id=product_id) + anchor


@admin.route("/products/<int:product_id>", methods=["GET", "POST"])
def products_detail(product_id: int) -> Response:
    if request.method == "GET":
        return _detail(product_id)
    return submit(lambda: _save_product(product_id), done="Product saved.",
                  then=_here(product_id, ""),
                  again=lambda exc: _detail(product_id, exc.status,
                                            edit=_refused(exc, _form_errors(exc))))


# --- photos -----------------------------------------------------------------------------------

@admin.before_app_request
def _room_for_a_photo() -> None:
    """The photo form's body may be as large as a photo (10 MiB), above the app's
    SHOP_MAX_REQUEST_BYTES, as the API's upload route allows; for an admin only, and before
    the dashboard's guard reads the form for its CSRF token."""
    if request.endpoint == "admin.products_upload" and request.method == "POST":
        user = signed_in_user()
        if user is not None and user.role == "admin":
            request.max_content_length = photos.MAX_BYTES + UPLOAD_OVERHEAD


@admin.route("/products/<int:product_id>/images", methods=["POST"])
def products_upload(product_id: int) -> Response:
    upload = request.files.get(photos.FIELD)

    def add() -> None:
        if upload is None or not upload.filename:
            raise Invalid("choose a photo to upload",
                          details={"fields": {photos.FIELD: "choose a JPEG, PNG or WebP file"}})
        data = upload.stream.read(photos.MAX_BYTES + 1)
        catalogue.add_photo(product_id, data, actor_id=g.admin.id)

    return submit(add, done="Photo added.", then=_here(product_id, "#photos"),
                  again=lambda exc: _detail(product_id, exc.status, upload=_refused(exc)))


@admin.route("/products/<int:product_id>/images/<int:image_id>/move", methods=["POST"])
def products_move_image(product_id: int, image_id: int) -> Response:
    def move() -> None:
        position = int_field("position", label="Position")
        catalogue.move_image(product_id, image_id, position, actor_id=g.admin.id)

    return submit(move, done="Photo moved.", then=_here(product_id, "#photos"),
                  again=lambda exc: _detail(product_id, exc.status, photos=_refused(exc)))


@admin.route("/products/<int:product_id>/images/<int:image_id>/delete", methods=["POST"])
def products_delete_image(product_id: int, image_id: int) -> Response:
    return submit(lambda: catalogue.remove_image(product_id, image_id, actor_id=g.admin.id),
                  done="Photo deleted.", then=_here(product_id, "#photos"),
                  again=lambda exc: _detail(product_id, exc.status, photos=_refused(exc)))


# --- stock ------------------------------------------------------------------------------------

def _stock_refused(exc: ShopError) -> dict[str, Any]:
    refused = _refused(exc)
    if isinstance(exc, InsufficientStock):
        available = exc.details.get("available")
        refused["errors"] = {"qty_change": f"only {available} in stock: the balance cannot "
                                           "go below zero"}
    return refused


@admin.route("/products/<int:product_id>/stock", methods=["POST"])
def products_stock(product_id: int) -> Response:
    def change() -> None:
        qty = int_field("qty_change", label="Change")
        product_admin.adjust_stock(product_id, qty, request.form.get("reason", ""),
                                   request.form.get("note", ""), actor_id=g.admin.id)

    return submit(change, done="Stock changed.", then=_here(product_id, "#stock"),
                  again=lambda exc: _detail(product_id, exc.status,
                                            stock=_stock_refused(exc)))
