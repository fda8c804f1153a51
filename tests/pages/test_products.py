"""Products in the dashboard (issue 15, "Products"; API.md "Pages"): the list with search
and filters, the new-product and edit forms, photos, stock with a required note, and the
ledger. Every form is checked three ways: it works for an admin (rows written, audited),
it is refused to a customer (403) and a guest (303 to sign-in), and without this session's
CSRF token it is a 400 that changes nothing. Expected answers are written out here."""

from __future__ import annotations

import io
import json
import random
import re
from pathlib import Path

import pytest
from PIL import Image

from shop.services import catalogue, stock
from tests.pages.conftest import Pages
from tests.shopping import product, rows

pytestmark = pytest.mark.usefixtures("clean_ledger")


def png(size: tuple[int, int] = (40, 30), color=(30, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def noisy_png(side: int) -> bytes:
    """A PNG that does not compress: random pixels, about 3 x side^2 bytes."""
    rng = random.Random(side)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3)).save(out, "PNG")
    return out.getvalue()


def state(db_path: Path) -> dict[str, list[tuple]]:
    """Everything a product form could change."""
    return {
        "products": rows(db_path, "SELECT * FROM products ORDER BY id"),
        "images": rows(db_path, "SELECT id, product_id, position, storage_key FROM images "
                                "ORDER BY id"),
        "moves": rows(db_path, "SELECT * FROM stock_moves ORDER BY id"),
        "audit": rows(db_path, "SELECT id FROM audit_logs ORDER BY id"),
    }


def image_ids(db_path: Path, product_id: int) -> list[int]:
    return [r[0] for r in rows(db_path, "SELECT id FROM images WHERE product_id = ? "
                                        "ORDER BY position", product_id)]


def upload(owner: Pages, product_id: int, data: bytes, name: str = "photo.png", **kwargs):
    return owner.post(f"/admin/products/{product_id}/images",
                      {"file": (io.BytesIO(data), name)},
                      content_type="multipart/form-data", **kwargs)


def with_photos(owner: Pages, product_id: int, colors) -> list[int]:
    for color in colors:
        assert upload(owner, product_id, png(color=color)).status_code == 303
    return image_ids(owner.client.application.config["DATABASE"], product_id)


NEW = {"sku": "COAT-7", "title": "Wool coat", "description": "Warm.\r\nNavy, two buttons.",
       "brand": "Acme", "category": "coats", "size": "M", "condition": "like_new",
       "price": "49.90", "status": "active", "featured": "1"}


def field_error(html: str, name: str) -> str:
    """The sentence shown next to the field ``name`` (its note under the control)."""
    match = re.search(rf'<p class="error" id="f-{name}-note">([^<]*)</p>', html)
    assert match, f"no error next to {name}"
    return match.group(1)


# --- who may open the pages and send the forms -------------------------------------------------

PAGES = ["/admin/products", "/admin/products?status=draft&q=coat", "/admin/products/new",
         "/admin/products/{pid}"]


@pytest.mark.parametrize("path", PAGES)
def test_each_page_is_200_for_an_admin_403_for_a_customer_303_for_a_guest(
        owner: Pages, shopper: Pages, app, path: str) -> None:
    path = path.format(pid=product(1))
    assert owner.get(path).status_code == 200
    assert owner.get(path).content_type.startswith("text/html")
    r = shopper.get(path)
    assert r.status_code == 403
    assert "for the shop&#39;s admins" in r.get_data(as_text=True)
    guest = Pages(app.test_client())
    r = guest.get(path)
    assert r.status_code == 303
    assert r.headers["Location"].startswith("/admin/login?next=/admin/products")


def forms(db_path: Path, pid: int) -> list[tuple[str, dict]]:
    """Every form of the product pages, filled in as a person would."""
    (image,) = image_ids(db_path, pid)[:1] or [0]
    return [
        ("/admin/products/new", dict(NEW)),
        (f"/admin/products/{pid}", {**NEW, "sku": "P-1", "title": "Changed"}),
        (f"/admin/products/{pid}/stock", {"qty_change": "2", "reason": "restock",
                                          "note": "found two"}),
        (f"/admin/products/{pid}/images", {"file": (io.BytesIO(png()), "a.png")}),
        (f"/admin/products/{pid}/images/{image}/move", {"position": "1"}),
        (f"/admin/products/{pid}/images/{image}/delete", {}),
    ]


def test_every_form_without_or_with_a_wrong_csrf_token_is_400_and_changes_nothing(
        owner: Pages, db_path: Path) -> None:
    pid = product(1)
    with_photos(owner, pid, [(255, 0, 0), (0, 255, 0)])
    before = state(db_path)
    for path, data in forms(db_path, pid):
        for token in ("", "forged"):
            form = {k: ((io.BytesIO(png()), "a.png") if k == "file" else v)
                    for k, v in data.items()}
            r = owner.post(path, form, csrf=token)
            assert r.status_code == 400, (path, token)
            assert "nothing was changed" in r.get_data(as_text=True)
    assert state(db_path) == before


def test_every_form_is_403_for_a_customer_and_303_for_a_guest_changing_nothing(
        owner: Pages, shopper: Pages, app, db_path: Path) -> None:
    pid = product(1)
    with_photos(owner, pid, [(255, 0, 0), (0, 255, 0)])
    before = state(db_path)
    guest = Pages(app.test_client())
    for path, data in forms(db_path, pid):
        r = shopper.post(path, data)
        assert r.status_code == 403, path
        r = guest.post(path, {k: v for k, v in data.items() if k != "file"})
        assert r.status_code == 303, path
        assert r.headers["Location"].startswith("/admin/login")
    assert state(db_path) == before


# --- the list ----------------------------------------------------------------------------------

def test_the_list_shows_active_products_by_default_and_every_status_on_request(
        owner: Pages) -> None:
    product(2, sku="ACT-1", title="Tweed jacket", price=4500)
    product(0, sku="DRF-1", title="Linen shirt", status="draft")
    product(0, sku="ARC-1", title="Old boots", status="archived")
    html = owner.text("/admin/products")
    assert '<a href="/admin/products" aria-current="page">Products</a>' in html
    assert "Tweed jacket" in html and "ACT-1" in html and "€45.00" in html
    assert "Linen shirt" not in html and "Old boots" not in html
    html = owner.text("/admin/products?status=draft")
    assert "Linen shirt" in html and "Tweed jacket" not in html
    html = owner.text("/admin/products?status=archived")
    assert "Old boots" in html and "Linen shirt" not in html
    # Sold out: the last unit gone, the product follows its stock.
    sold = product(1, sku="SLD-1", title="Silk scarf")
    stock.adjust(sold, -1, "adjustment", note="lost")
    html = owner.text("/admin/products?status=sold_out")
    assert "Silk scarf" in html and "Tweed jacket" not in html
    r = owner.get("/admin/products?status=everything")
    assert r.status_code == 400
    assert "status must be one of draft, active, sold_out, archived" in r.get_data(as_text=True)


def test_search_category_and_stock_filters_use_the_catalogue_search(owner: Pages) -> None:
    product(1, sku="A-1", title="Navy wool coat", category="coats")
    product(1, sku="A-2", title="Red wool scarf", category="scarves")
    product(0, sku="A-3", title="Grey wool coat", category="coats", status="draft")
    html = owner.text("/admin/products?q=wool")
    assert "Navy wool coat" in html and "Red wool scarf" in html
    assert "Grey wool coat" not in html  # a draft: not in the active list
    html = owner.text("/admin/products?q=woo&category=coats")  # prefix, as you type
    assert "Navy wool coat" in html and "Red wool scarf" not in html
    html = owner.text("/admin/products?status=draft&q=grey")
    assert "Grey wool coat" in html
    assert "No products match" in owner.text("/admin/products?status=draft&q=grey&stock=in_stock")
    assert "Grey wool coat" in owner.text("/admin/products?status=draft&q=grey&stock=")
    # What was searched stays in the form.
    assert 'value="woo"' in owner.text("/admin/products?q=woo")


def test_the_list_shows_a_thumbnail_when_a_photo_exists(owner: Pages, db_path: Path) -> None:
    pid = product(1, title="Photographed coat")
    product(1, sku="P-2", title="Plain coat")
    with_photos(owner, pid, [(10, 10, 10)])
    (key,) = rows(db_path, "SELECT storage_key FROM images WHERE product_id = ?", pid)[0]
    html = owner.text("/admin/products")
    assert html.count('<img class="thumb"') == 1
    assert f'{key}-thumb.webp' in html


def test_the_list_is_paged_by_cursor_without_duplicates(owner: Pages) -> None:
    for n in range(45):
        product(1, sku=f"S-{n:02d}")
    seen: list[str] = []
    path = "/admin/products?category=coats"
    pages = 0
    while path:
        html = owner.text(path)
        pages += 1
        seen += re.findall(r"<td>(S-\d\d)</td>", html)
        link = re.search(r'<a rel="next" href="([^"]+)"', html)
        path = link.group(1).replace("&amp;", "&") if link else ""
        if link:
            assert "category=coats" in path
    assert pages == 3
    assert sorted(seen) == [f"S-{n:02d}" for n in range(45)]
    assert seen[:2] == ["S-44", "S-43"]  # newest first
    r = owner.get("/admin/products?cursor=not-a-cursor")
    assert r.status_code == 400


# --- creating and editing ----------------------------------------------------------------------

def test_creating_a_product_stores_what_was_typed(owner: Pages, db_path: Path) -> None:
    assert 'id="f-sku"' in owner.text("/admin/products/new")
    r = owner.post("/admin/products/new", NEW)
    assert r.status_code == 303
    (pid, sku, title, description, brand, category, size, condition, price, status, featured,
     quantity) = rows(db_path, "SELECT id, sku, title, description, brand, category, size, "
                               "condition, price_cents, status, featured, stock_quantity "
                               "FROM products")[0]
    assert r.headers["Location"] == f"/admin/products/{pid}"
    assert (sku, title, description, brand, category, size, condition, price, status,
            featured, quantity) == ("COAT-7", "Wool coat", "Warm.\nNavy, two buttons.",
                                    "Acme", "coats", "M", "like_new", 4990, "active", 1, 0)
    (action, actor), = rows(db_path, "SELECT action, actor_id FROM audit_logs "
                                     "WHERE entity_type = 'product'")
    assert action == "product.create"
    assert actor == rows(db_path, "SELECT id FROM users WHERE email = 'owner@example.com'")[0][0]
    html = owner.text(r.headers["Location"])
    assert "Product COAT-7 created." in html and "<h1>Wool coat</h1>" in html


def test_a_refused_new_product_shows_each_complaint_and_keeps_what_was_typed(
        owner: Pages, db_path: Path) -> None:
    typed = {**NEW, "sku": "bad sku!", "title": "   ", "category": "Coats", "price": "12,5x"}
    r = owner.post("/admin/products/new", typed)
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert field_error(html, "sku") == ("must be 1 to 64 letters, digits, dots, underscores "
                                        "or hyphens, starting with a letter or digit")
    assert field_error(html, "title") == ("must be 1 to 200 characters on one line, not all "
                                          "spaces, without control characters")
    assert field_error(html, "category") == ("must be a lowercase slug of letters, digits and "
                                             "hyphens, up to 40 characters")
    assert field_error(html, "price") == "must be an amount such as 12.50"
    assert "the product was not saved: sku must be 1 to 64 letters" in html
    assert 'value="bad sku!"' in html and 'value="12,5x"' in html and 'value="Acme"' in html
    assert "Navy, two buttons.</textarea>" in html
    assert rows(db_path, "SELECT count(*) FROM products") == [(0,)]
    r = owner.post("/admin/products/new", {**NEW, "price": "0"})
    assert r.status_code == 400
    assert field_error(r.get_data(as_text=True), "price") == \
        "must be an amount from 0.01 to 1000000.00"
    assert rows(db_path, "SELECT count(*) FROM products") == [(0,)]


def test_a_taken_sku_is_409_next_to_the_sku(owner: Pages, db_path: Path) -> None:
    product(0, sku="COAT-7")
    r = owner.post("/admin/products/new", NEW)
    assert r.status_code == 409
    html = r.get_data(as_text=True)
    assert field_error(html, "sku") == "taken"
    assert "sku is already taken" in html
    assert rows(db_path, "SELECT count(*) FROM products") == [(1,)]


def test_editing_changes_what_was_changed_and_keeps_the_rest(owner: Pages,
                                                             db_path: Path) -> None:
    pid = product(3, sku="P-1", description="Long, warm.", brand="Acme", size="L")
    with_photos(owner, pid, [(1, 2, 3)])
    html = owner.text(f"/admin/products/{pid}")
    assert 'value="25.00"' in html and "Long, warm.</textarea>" in html
    before = rows(db_path, "SELECT sku, description, brand, size, category, condition, "
                           "stock_quantity, created_at FROM products WHERE id = ?", pid)
    form = {"sku": "P-1", "title": "Coat P-1, relined", "description": "Long, warm.",
            "brand": "Acme", "category": "coats", "size": "L", "condition": "good",
            "price": "19.5", "status": "active"}
    r = owner.post(f"/admin/products/{pid}", form)
    assert r.status_code == 303 and r.headers["Location"] == f"/admin/products/{pid}"
    assert rows(db_path, "SELECT title, price_cents FROM products WHERE id = ?", pid) == \
        [("Coat P-1, relined", 1950)]
    assert rows(db_path, "SELECT sku, description, brand, size, category, condition, "
                         "stock_quantity, created_at FROM products WHERE id = ?", pid) == before
    assert len(image_ids(db_path, pid)) == 1
    (before_state, after_state), = rows(
        db_path, "SELECT before_state, after_state FROM audit_logs "
                 "WHERE action = 'product.update'")
    assert json.loads(before_state) == {"title": "Coat P-1", "price_cents": 2500}
    assert json.loads(after_state) == {"title": "Coat P-1, relined", "price_cents": 1950}
    assert "Product saved." in owner.text(f"/admin/products/{pid}")


def test_the_sku_cannot_change_after_stock_moved_and_nothing_changes(
        owner: Pages, db_path: Path) -> None:
    pid = product(1, sku="P-1")
    before = state(db_path)
    r = owner.post(f"/admin/products/{pid}", {**NEW, "sku": "P-2", "title": "Renamed"})
    assert r.status_code == 409
    html = r.get_data(as_text=True)
    assert field_error(html, "sku") == "fixed after the first stock move"
    assert "the sku cannot change once stock has moved" in html
    assert 'value="P-2"' in html and 'value="Renamed"' in html
    assert state(db_path) == before


def test_a_missing_product_is_404(owner: Pages) -> None:
    r = owner.get("/admin/products/999")
    assert r.status_code == 404
    assert "no such product" in r.get_data(as_text=True)


# --- stock -------------------------------------------------------------------------------------

def test_a_restock_of_three_appends_one_move_and_the_balance_follows(
        owner: Pages, db_path: Path) -> None:
    pid = product(2)
    r = owner.post(f"/admin/products/{pid}/stock",
                   {"qty_change": "3", "reason": "restock", "note": "three more from the loft"})
    assert r.status_code == 303 and r.headers["Location"] == f"/admin/products/{pid}#stock"
    moves = rows(db_path, "SELECT qty_change, reason, note, actor_id FROM stock_moves "
                          "WHERE product_id = ? ORDER BY id", pid)
    owner_id = rows(db_path, "SELECT id FROM users WHERE email = 'owner@example.com'")[0][0]
    assert moves == [(2, "restock", None, None), (3, "restock", "three more from the loft",
                                                  owner_id)]
    assert rows(db_path, "SELECT stock_quantity FROM products WHERE id = ?", pid) == [(5,)]
    assert rows(db_path, "SELECT action FROM audit_logs WHERE entity_type = 'product' "
                         "AND actor_id = ?", owner_id) == [("stock.restock",)]
    html = owner.text(f"/admin/products/{pid}")
    assert "Stock changed." in html and "<strong>5</strong> in stock now." in html
    assert "three more from the loft" in html and "owner@example.com" in html


@pytest.mark.parametrize("note", ["", "   "])
@pytest.mark.parametrize("reason", ["restock", "adjustment", "return"])
def test_a_stock_change_without_a_note_is_refused_and_changes_nothing(
        owner: Pages, db_path: Path, reason: str, note: str) -> None:
    pid = product(2)
    before = state(db_path)
    r = owner.post(f"/admin/products/{pid}/stock",
                   {"qty_change": "3", "reason": reason, "note": note})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert field_error(html, "note") == "is required: say why the stock changes"
    assert 'id="f-qty_change" name="qty_change" type="number" value="3"' in html
    assert f'<option value="{reason}" selected>' in html
    assert state(db_path) == before


def test_taking_away_more_than_there_is_is_409_and_appends_nothing(
        owner: Pages, db_path: Path) -> None:
    pid = product(2)
    before = state(db_path)
    r = owner.post(f"/admin/products/{pid}/stock",
                   {"qty_change": "-5", "reason": "adjustment", "note": "stocktake"})
    assert r.status_code == 409
    html = r.get_data(as_text=True)
    assert "not enough stock" in html
    assert field_error(html, "qty_change") == ("only 2 in stock: the balance cannot go "
                                               "below zero")
    assert 'value="-5"' in html and 'value="stocktake"' in html
    assert state(db_path) == before


def test_the_services_own_rules_for_a_stock_change_show_next_to_their_field(
        owner: Pages, db_path: Path) -> None:
    pid = product(2)
    before = state(db_path)
    cases = [({"qty_change": "-1", "reason": "restock"}, "qty_change", "must be positive"),
             ({"qty_change": "0", "reason": "adjustment"}, "qty_change", "out of range"),
             ({"qty_change": "two", "reason": "restock"}, "qty_change", "a whole number"),
             ({"qty_change": "1", "reason": "sale"}, "reason", "not allowed")]
    for typed, name, sentence in cases:
        r = owner.post(f"/admin/products/{pid}/stock", {**typed, "note": "why"})
        assert r.status_code == 400, typed
        assert field_error(r.get_data(as_text=True), name) == sentence
    assert state(db_path) == before


# --- the ledger --------------------------------------------------------------------------------

def test_the_ledger_is_newest_first_and_paged_without_duplicates(owner: Pages) -> None:
    pid = product(1)
    for n in range(24):
        stock.adjust(pid, 1, "restock", note=f"move {n + 2:02d}")
    notes: list[str] = []
    path = f"/admin/products/{pid}"
    pages = 0
    while path:
        html = owner.text(path)
        pages += 1
        notes += re.findall(r"<td>(move \d\d)</td>", html)
        link = re.search(r'<a rel="next" href="([^"]+)"', html)
        path = link.group(1).replace("&amp;", "&") if link else ""
    assert pages == 2
    assert notes == [f"move {n:02d}" for n in range(25, 1, -1)]  # 24 notes, newest first
    html = owner.text(f"/admin/products/{pid}")
    assert html.count("<td>restock</td>") == 20
    assert "Older moves" in html
    assert owner.get(f"/admin/products/{pid}?moves=nope").status_code == 400


def test_a_ledger_row_names_the_order_it_belongs_to(owner: Pages, client, ann) -> None:
    pid = product(2)
    r = client.post("/api/cart/items", json={"product_id": pid, "quantity": 1}, headers=ann)
    assert r.status_code in (200, 201)
    r = client.post("/api/checkout", json={"shipping_method": "collect"}, headers=ann)
    assert r.status_code == 201, r.get_json()
    number = r.get_json()["order"]["order_number"]
    html = owner.text(f"/admin/products/{pid}")
    assert f'<a href="/admin/orders/{number}">Order {number}</a>' in html


# --- photos ------------------------------------------------------------------------------------

def test_uploading_a_png_adds_an_image_row(owner: Pages, db_path: Path) -> None:
    pid = product(1)
    r = upload(owner, pid, png())
    assert r.status_code == 303 and r.headers["Location"] == f"/admin/products/{pid}#photos"
    ((position, key, width, height),) = rows(
        db_path, "SELECT position, storage_key, width, height FROM images "
                 "WHERE product_id = ?", pid)
    assert (position, width, height) == (0, 40, 30) and len(key) == 64
    assert rows(db_path, "SELECT action FROM audit_logs WHERE action LIKE 'product.image%'") \
        == [("product.image",)]
    html = owner.text(f"/admin/products/{pid}")
    assert "Photo added." in html
    assert f'{key}-thumb.webp" alt="Photo 1 of Coat P-1"' in html


def test_a_photo_over_the_apps_one_mib_limit_is_taken_by_this_form_only(
        owner: Pages, db_path: Path) -> None:
    pid = product(1)
    big = noisy_png(700)  # ~1.4 MiB: above SHOP_MAX_REQUEST_BYTES, under the 10 MiB of a photo
    assert 1024 * 1024 < len(big) < 10 * 1024 * 1024
    assert upload(owner, pid, big).status_code == 303
    assert len(image_ids(db_path, pid)) == 1
    before = state(db_path)
    r = owner.post(f"/admin/products/{pid}", {**NEW, "sku": "P-1", "description": "x" * len(big)})
    assert r.status_code == 413
    assert state(db_path) == before


def test_a_file_over_ten_mib_is_413_and_changes_nothing(owner: Pages, db_path: Path) -> None:
    pid = product(1)
    before = state(db_path)
    r = upload(owner, pid, b"\x89PNG" + b"x" * (11 * 1024 * 1024))
    assert r.status_code == 413  # the body is over the form's limit: never read
    r = upload(owner, pid, b"x" * (10 * 1024 * 1024 + 100))  # within it, over a photo's
    assert r.status_code == 413
    assert field_error(r.get_data(as_text=True), "file") == "may be at most 10 MiB"
    assert state(db_path) == before


def test_a_text_file_is_refused_400_next_to_the_file_input(owner: Pages,
                                                           db_path: Path) -> None:
    pid = product(1)
    before = state(db_path)
    r = upload(owner, pid, b"just some words, not a picture\n", "notes.txt")
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert field_error(html, "file") == "must be a complete JPEG, PNG or WebP image"
    r = owner.post(f"/admin/products/{pid}/images", {})
    assert r.status_code == 400
    assert field_error(r.get_data(as_text=True), "file") == "choose a JPEG, PNG or WebP file"
    assert state(db_path) == before


def test_moving_and_deleting_photos_change_the_image_rows(owner: Pages,
                                                          db_path: Path) -> None:
    pid = product(1)
    first, second, third = with_photos(owner, pid, [(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    html = owner.text(f"/admin/products/{pid}")
    assert 'aria-label="Move photo 1 earlier"' not in html
    assert 'aria-label="Move photo 3 later"' not in html
    r = owner.post(f"/admin/products/{pid}/images/{third}/move", {"position": "1"})
    assert r.status_code == 303 and r.headers["Location"] == f"/admin/products/{pid}#photos"
    assert rows(db_path, "SELECT id, position FROM images WHERE product_id = ? "
                         "ORDER BY position", pid) == [(first, 0), (third, 1), (second, 2)]
    r = owner.post(f"/admin/products/{pid}/images/{first}/delete")
    assert r.status_code == 303
    assert rows(db_path, "SELECT id, position FROM images WHERE product_id = ? "
                         "ORDER BY position", pid) == [(third, 0), (second, 1)]
    assert [a for (a,) in rows(db_path, "SELECT action FROM audit_logs WHERE action LIKE "
                                        "'product.image%' ORDER BY id")] == \
        ["product.image"] * 3 + ["product.images.order", "product.image.delete"]
    assert "Photo deleted." in owner.text(f"/admin/products/{pid}")
    # Another product's photo is not this product's: 404, nothing changes.
    other = product(1, sku="P-2")
    before = state(db_path)
    r = owner.post(f"/admin/products/{other}/images/{second}/delete")
    assert r.status_code == 404
    assert "no such image on this product" in r.get_data(as_text=True)
    assert state(db_path) == before


# --- the form's rules are the API's --------------------------------------------------------------

CASES = [
    {"sku": "A.b_c-1"}, {"sku": "-lead"}, {"sku": "x" * 64}, {"sku": "x" * 65}, {"sku": ""},
    {"title": "Coat"}, {"title": " "}, {"title": "a\tb"}, {"title": "é" * 200},
    {"title": "é" * 201}, {"description": "line\nline\tend"}, {"description": "bell\x07"},
    {"description": "x" * 5001}, {"brand": "x" * 100}, {"brand": "x" * 101},
    {"category": "coats-2"}, {"category": "Coats"}, {"size": "x" * 41},
    {"condition": "mint"}, {"price_cents": 0}, {"price_cents": 100_000_000},
    {"price_cents": 100_000_001}, {"status": "sold_out"}, {"status": "gone"},
]


@pytest.mark.parametrize("change", CASES, ids=[str(c)[:40] for c in CASES])
def test_the_forms_checks_agree_with_the_apis_schema(change: dict) -> None:
    """The dashboard checks the typed fields itself (it may not import shop.api): each
    value the API's schema refuses is refused here too, under the same field."""
    from pydantic import ValidationError

    from shop.api.schemas import ProductCreateIn
    from shop.services import product_admin

    fields = {"sku": "P-1", "title": "Coat", "category": "coats", "condition": "good",
              "price_cents": 100, **change}
    try:
        ProductCreateIn.model_validate(fields)
        api_refuses: set[str] = set()
    except ValidationError as exc:
        api_refuses = {str(e["loc"][0]) for e in exc.errors()}
    assert set(product_admin.problems(fields)) == api_refuses


def test_a_product_made_in_the_dashboard_reads_the_same_through_the_api(
        owner: Pages, client) -> None:
    r = owner.post("/admin/products/new", NEW)
    pid = int(r.headers["Location"].rsplit("/", 1)[1])
    made = client.get(f"/api/products/{pid}").get_json()["product"]
    assert {k: made[k] for k in ("sku", "title", "description", "price_cents", "featured")} \
        == {"sku": "COAT-7", "title": "Wool coat", "description": "Warm.\nNavy, two buttons.",
            "price_cents": 4990, "featured": True}
    assert catalogue.get_product(pid, include_unpublished=True)["condition"] == "like_new"
