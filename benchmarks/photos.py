"""Photo uploads over a real gunicorn, and what they do to checkouts beside them.

Starts ``shop serve`` on 127.0.0.1 with a scratch database and media folder, makes a
12-megapixel JPEG (4000 x 3000, with EXIF orientation) with Pillow, then measures, each
for S seconds in the same run:

1. checkouts/s with C buyers alone (hold one unit, check out; keep-alive clients);
2. uploads/s of that JPEG with U uploaders (an admin, multipart, to products that take
   10 photos each) alone;
3. both at once: checkouts/s while the uploads run ÷ checkouts/s alone (goal ≥ 0.8: the
   decoding runs in SHOP_MEDIA_WORKERS processes per server process, at a lower CPU
   priority, so it must not starve checkouts).

Every request is bounded (a timeout); only 127.0.0.1 is contacted; the scratch folder is
deleted after. The clients share the machine's cores with the server, so absolute figures
understate a real deployment; the ratio is the figure. Asserts nothing.

    python benchmarks/photos.py
    python benchmarks/photos.py --seconds 10 --uploaders 4 --buyers 8 --media-workers 1
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

from _common import Client, buyer, percentile  # noqa: E402

from shop import clock  # noqa: E402
from shop.db import database, init_database, write_transaction  # noqa: E402
from shop.services import accounts, catalogue, stock  # noqa: E402
from shop.services.migrations import migrate  # noqa: E402
from tests.servers import running_shop  # noqa: E402

PASSWORD = "a long enough password"
PRODUCT = {"title": "Bench coat", "category": "coats", "condition": "good",
           "price_cents": 2500, "status": "active"}


def twelve_megapixels() -> bytes:
    """A 4000 x 3000 JPEG with detail (a gradient and noise), as a phone would send."""
    from PIL import Image

    gradient = Image.linear_gradient("L").resize((4000, 3000))
    noise = Image.effect_noise((4000, 3000), 40)
    image = Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.ROTATE_180)
                                .resize((4000, 3000))))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def _multipart(data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"photo.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _uploader(port: int, token: str, products: list[int], photo: bytes, until: float,
              out: list) -> None:
    body, content_type = _multipart(photo)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    client = Client(port, timeout=60)
    for pid in products:
        for _ in range(10):
            if time.perf_counter() >= until:
                client.close()
                return
            start = time.perf_counter()
            status = client.call("POST", f"/api/admin/products/{pid}/images", body, headers)
            out.append((time.perf_counter() - start, status))
    client.close()


def _run(targets: list[tuple]) -> None:
    threads = [threading.Thread(target=t[0], args=t[1:]) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _summary(results: list, ok: int, seconds: float) -> str:
    done = [r[0] * 1000 for r in results if r[1] == ok]
    statuses = sorted({r[1] for r in results})
    if not done:
        return f"none done; statuses {statuses}"
    return (f"{len(done) / seconds:7.2f} /s, p50 {percentile(done, 50):.0f} ms, "
            f"p99 {percentile(done, 99):.0f} ms; statuses {statuses}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="each phase's length")
    parser.add_argument("--uploaders", type=int, default=4, help="concurrent upload clients")
    parser.add_argument("--buyers", type=int, default=8, help="concurrent checkout clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    parser.add_argument("--media-workers", type=int, default=1,
                        help="SHOP_MEDIA_WORKERS: photo processes per gunicorn worker "
                             "(0: in the request thread)")
    args = parser.parse_args()
    photo = twelve_megapixels()
    seconds = args.seconds
    with tempfile.TemporaryDirectory(prefix="shop-bench-photos-") as tmp:
        path = Path(tmp) / "photos.db"
        init_database(path)
        migrate()
        hashed = accounts.hash_password(PASSWORD)
        tokens = []
        for n in range(args.buyers + 1):
            with write_transaction():
                accounts.add_user(f"b{n}@example.com", hashed, "B",
                                  "admin" if n == 0 else "customer", clock.now())
            tokens.append(accounts.login(f"b{n}@example.com", PASSWORD).token)
        admin, buyers = tokens[0], tokens[1:]
        pid = catalogue.create_product({**PRODUCT, "sku": "BUY-1"})["id"]
        stock.adjust(pid, 1_000_000, "restock")
        # Enough products for the uploads: 10 photos each, a list per uploader.
        per_uploader = int(seconds * 2 * 20 / 10 / max(1, args.uploaders)) + 4
        shelves = [[catalogue.create_product({**PRODUCT, "status": "draft",
                                              "sku": f"PH-{u}-{k}"})["id"]
                    for k in range(per_uploader)] for u in range(args.uploaders)]
        database.close()
        env = {"SHOP_MEDIA_DIR": str(Path(tmp) / "media"),
               "SHOP_MEDIA_WORKERS": str(args.media_workers)}
        with running_shop(path, workers=args.workers, threads=args.threads, env=env) as base:
            port = int(base.rsplit(":", 1)[1])
            # Warm-up: each server process starts its photo pool on its first upload.
            warm: list = []
            _run([(_uploader, port, admin, shelves[0][-1:], photo,
                   time.perf_counter() + 3, warm)])
            alone: list = []
            until = time.perf_counter() + seconds
            _run([(buyer, port, t, pid, until, alone) for t in buyers])
            uploads_alone: list = []
            until = time.perf_counter() + seconds
            _run([(_uploader, port, admin, shelves[u][: per_uploader // 2], photo, until,
                   uploads_alone) for u in range(args.uploaders)])
            beside: list = []
            uploads_beside: list = []
            until = time.perf_counter() + seconds
            _run([(buyer, port, t, pid, until, beside) for t in buyers]
                 + [(_uploader, port, admin, shelves[u][per_uploader // 2: -1], photo, until,
                     uploads_beside) for u in range(args.uploaders)])
    checkouts_alone = sum(1 for r in alone if r[1] == 201) / seconds
    checkouts_beside = sum(1 for r in beside if r[1] == 201) / seconds
    print(f"gunicorn {args.workers} workers x {args.threads} threads, "
          f"SHOP_MEDIA_WORKERS={args.media_workers}; a {len(photo) / 1e6:.1f} MB "
          f"4000x3000 JPEG; {seconds:.0f} s per phase")
    print(f"  uploads alone ({args.uploaders} clients):   {_summary(uploads_alone, 201, seconds)}")
    print(f"  checkouts alone ({args.buyers} buyers):     {_summary(alone, 201, seconds)}")
    print(f"  checkouts beside uploads:        {_summary(beside, 201, seconds)}")
    print(f"  uploads beside checkouts:        {_summary(uploads_beside, 201, seconds)}")
    ratio = checkouts_beside / checkouts_alone if checkouts_alone else 0.0
    print(f"  checkouts beside ÷ alone: {ratio:.2f}   (goal ≥ 0.8)")


if __name__ == "__main__":
    main()
