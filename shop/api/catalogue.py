"""Catalogue endpoints (API.md "Catalogue"): browsing for everyone, products and stock for
admins."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from shop.api import schemas
from shop.api.auth import current_user
from shop.api.routing import route
from shop.errors import Forbidden, Invalid
from shop.services import audit, catalogue, photos, stock
from shop.services.catalogue import ProductQuery

bp = Blueprint("catalogue", __name__, url_prefix="/api")


def _is_admin() -> bool:
    user = current_user(required=False)
    return user is not None and user.role == "admin"


def _page(page: Any) -> dict[str, Any]:
    return {"items": page.items, "next_cursor": page.next_cursor}


@route(bp, "/products", "GET", summary="Browse and search the catalogue", auth="optional",
       query=schemas.ProductListQuery, response=schemas.ProductPage, errors=[400, 403])
def list_products(query: schemas.ProductListQuery) -> Any:
    if query.status not in (None, "active") and not _is_admin():
        raise Forbidden("only admins can list products that are not active")
    filters = query.model_dump(exclude={"limit", "cursor", "status"})
    # The owner sees everything; shoppers only what can be bought now.
    page = catalogue.list_products(ProductQuery(status=query.status or "active",
                                                in_stock=not _is_admin(), **filters),
                                   limit=query.limit, cursor=query.cursor)
    return _page(page)


@route(bp, "/products/<id:product_id>", "GET", summary="One product with its images",
       auth="optional", response=schemas.ProductWrapper, errors=[404])
def get_product(product_id: int) -> Any:
    return {"product": catalogue.get_product(product_id, include_unpublished=_is_admin())}


@route(bp, "/admin/products", "POST", summary="Create a product (no stock yet)", status=201,
       auth="admin", body=schemas.ProductCreateIn, response=schemas.ProductWrapper,
       errors=[409])
def create_product(body: schemas.ProductCreateIn) -> Any:
    return {"product": catalogue.create_product(body.model_dump(),
                                                actor_id=current_user().id)}


@route(bp, "/admin/products/<id:product_id>", "PATCH", summary="Change a product's fields",
       auth="admin", body=schemas.ProductPatchIn, response=schemas.ProductWrapper,
       errors=[404, 409])
def patch_product(product_id: int, body: schemas.ProductPatchIn) -> Any:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise Invalid("send at least one field to change", details={"fields": {"body": "empty"}})
    return {"product": catalogue.update_product(product_id, changes,
                                                actor_id=current_user().id)}


@route(bp, "/admin/products/<id:product_id>/images", "POST",
       summary="Upload a photo (multipart, field file) or attach a reference (JSON)",
       status=201, auth="admin", body=schemas.ImageIn, upload=photos.FIELD,
       max_upload=photos.MAX_BYTES, response=schemas.ImageWrapper, errors=[404, 409])
def add_image(product_id: int, body: schemas.ImageIn | None, upload: bytes | None) -> Any:
    if upload is not None:
        return {"image": catalogue.add_photo(product_id, upload, actor_id=current_user().id)}
    return {"image": catalogue.add_image(product_id, body.cloudflare_id, body.url,
                                         body.variants, actor_id=current_user().id)}


@route(bp, "/admin/products/<id:product_id>/images/<id:image_id>", "PATCH",
       summary="Move an image to another place in the product's display order",
       auth="admin", body=schemas.ImagePositionIn, response=schemas.ImageList, errors=[404])
def move_image(product_id: int, image_id: int, body: schemas.ImagePositionIn) -> Any:
    return {"images": catalogue.move_image(product_id, image_id, body.position,
                                           actor_id=current_user().id)}


@route(bp, "/admin/products/<id:product_id>/images/<id:image_id>", "DELETE",
       summary="Delete an image of the product", status=204, auth="admin", errors=[404])
def remove_image(product_id: int, image_id: int) -> Any:
    catalogue.remove_image(product_id, image_id, actor_id=current_user().id)


@route(bp, "/admin/products/<id:product_id>/stock", "POST",
       summary="Restock, adjust (with a note) or return stock: one ledger row", status=201,
       auth="admin", body=schemas.StockChangeIn, response=schemas.StockChangeOut,
       errors=[404, 409])
def change_stock(product_id: int, body: schemas.StockChangeIn) -> Any:
    move, balance = stock.adjust(product_id, body.qty_change, body.reason, note=body.note,
                                 actor_id=current_user().id)
    return {"move": stock.move_data(move), "stock_quantity": balance}


@route(bp, "/admin/products/<id:product_id>/moves", "GET",
       summary="The product's stock ledger, newest first", auth="admin",
       query=schemas.PageQuery, response=schemas.MovePage, errors=[404])
def list_moves(product_id: int, query: schemas.PageQuery) -> Any:
    return _page(stock.list_moves(product_id, limit=query.limit, cursor=query.cursor))


@route(bp, "/admin/audit", "GET", summary="The admin audit log, newest first", auth="admin",
       query=schemas.AuditQuery, response=schemas.AuditPage)
def audit_log(query: schemas.AuditQuery) -> Any:
    page = audit.entries(query.entity_type, query.entity_id, limit=query.limit,
                         cursor=query.cursor)
    return _page(page)
