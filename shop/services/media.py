"""Where photos are kept, and how they leave: one small storage interface, two backends.

- ``LocalStorage``: files under SHOP_MEDIA_DIR (default ``var/media``), served at
  ``/media/...`` by the app or, better, by the reverse proxy (docs/deployment.md);
- ``S3Storage``: an S3-compatible bucket (SHOP_MEDIA_URL=s3://bucket/prefix, the API at
  SHOP_MEDIA_ENDPOINT: AWS, Cloudflare R2, MinIO...), through boto3.

A stored photo is three files named after its key (the SHA-256 of its full variant):
``ab/<key>-thumb.webp``, ``-card.webp``, ``-full.webp``. A name never changes what it
holds, so they are served as immutable.

The order that keeps rows and files consistent:
1. ``store``: decode and re-encode (photos.process), then write the files: outside any
   transaction. Writing a file that exists refreshes its age instead (the grace period
   below counts from the last upload of those bytes).
2. the caller inserts the row in its own short transaction;
3. ``ensure``: after the commit, any file that vanished meanwhile is written again.

``collect_garbage`` (``shop media gc``) deletes files older than a grace period that no
row names, a batch at a time, deciding and deleting under the write lock: a row inserted
before that is seen and keeps its files; one inserted after finds them gone in step 3 and
puts them back. Idempotent, and safe beside live uploads.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from shop.config import Settings, get_settings
from shop.db import database, write_transaction
from shop.errors import Busy, StorageError
from shop.services import batches, photos

VARIANT_NAMES = tuple(name for name, _edge in photos.VARIANTS)
CACHE_CONTROL = "public, max-age=31536000, immutable"
CONTENT_TYPE = "image/webp"
# A stored file's name, or one being written (a crash can leave that behind).
_NAME = re.compile(r"([0-9a-f]{2})/([0-9a-f]{64})-(thumb|card|full)\.webp(\.[0-9a-f]{32}\.tmp)?")


def file_name(key: str, variant: str) -> str:
    return f"{key[:2]}/{key}-{variant}.webp"


def key_of(name: str) -> str | None:
    """The key a stored file belongs to; None for a name that is not a finished file."""
    match = _NAME.fullmatch(name)
    if match is None or match.group(1) != match.group(2)[:2] or match.group(4):
        return None
    return match.group(2)


class Storage(Protocol):
    def put(self, name: str, data: bytes) -> None:
        """Write the file (or, if it exists, refresh its age)."""

    def exists(self, name: str) -> bool: ...

    def url(self, name: str) -> str: ...

    def listing(self) -> Iterator[tuple[str, float]]:
        """Every file as (name, modified as a Unix time), in name order."""

    def delete(self, names: list[str]) -> None: ...


class LocalStorage:
    def __init__(self, root: Path, public_url: str = "") -> None:
        self.root = Path(root)
        self.public_url = public_url or "/media/"

    def path(self, name: str) -> Path:
        if _NAME.fullmatch(name) is None:  # nothing else is ever a path under the root
            raise ValueError(f"not a media file name: {name!r}")
        return self.root / name

    def put(self, name: str, data: bytes) -> None:
        path = self.path(name)
        for _attempt in range(5):
            try:
                self._put(path, data)
                return
            except FileNotFoundError:
                continue  # gc took the file (or the half-written one) meanwhile: again
            except OSError as exc:
                raise StorageError(f"cannot write the photo to {self.root}: "
                                   f"{exc.strerror or exc}", retry_after=5) from exc
        raise StorageError(f"cannot write the photo to {self.root}: it keeps vanishing",
                           retry_after=5)

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        if path.exists():
            os.utime(path)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(partial, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, path)  # whole or absent, never half a file
        finally:
            partial.unlink(missing_ok=True)

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def url(self, name: str) -> str:
        return self.public_url.rstrip("/") + "/" + name

    def listing(self) -> Iterator[tuple[str, float]]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if not (folder.is_dir() and re.fullmatch(r"[0-9a-f]{2}", folder.name)):
                continue
            for entry in sorted(folder.iterdir()):
                name = f"{folder.name}/{entry.name}"
                if _NAME.fullmatch(name):
                    try:
                        yield name, entry.stat().st_mtime
                    except FileNotFoundError:
                        continue

    def delete(self, names: list[str]) -> None:
        for name in names:
            self.path(name).unlink(missing_ok=True)


class S3Storage:
    """An S3-compatible bucket. Credentials come from boto3's usual places (the
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY variables, a profile, an instance role)."""

    def __init__(self, url: str, endpoint: str = "", public_url: str = "") -> None:
        import boto3
        from botocore.config import Config

        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint = endpoint.rstrip("/")
        self.client = boto3.client(
            "s3", endpoint_url=self.endpoint or None,
            config=Config(connect_timeout=5, read_timeout=30,
                          retries={"max_attempts": 3, "mode": "standard"}))
        if public_url:
            self.public_url = public_url.rstrip("/") + "/"
        elif self.endpoint:
            self.public_url = f"{self.endpoint}/{bucket}/{self.prefix}"
        else:
            self.public_url = f"https://{bucket}.s3.amazonaws.com/{self.prefix}"

    def _failed(self, exc: Exception) -> StorageError:
        return StorageError(f"the photo storage (bucket {self.bucket}) did not answer: "
                            f"{type(exc).__name__}", retry_after=5)

    def put(self, name: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:  # a PUT of the same name refreshes LastModified: that is the age gc reads
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data,
                                   ContentType=CONTENT_TYPE, CacheControl=CACHE_CONTROL)
        except (BotoCoreError, ClientError) as exc:
            raise self._failed(exc) from exc

    def exists(self, name: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + name)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._failed(exc) from exc
        except BotoCoreError as exc:
            raise self._failed(exc) from exc

    def url(self, name: str) -> str:
        return self.public_url + name

    def listing(self) -> Iterator[tuple[str, float]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for item in page.get("Contents", []):
                name = item["Key"][len(self.prefix):]
                if _NAME.fullmatch(name):
                    yield name, item["LastModified"].timestamp()

    def delete(self, names: list[str]) -> None:
        for start in range(0, len(names), 1000):
            chunk = names[start:start + 1000]
            self.client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": self.prefix + n} for n in chunk], "Quiet": True})


_storage: tuple[Settings, Storage] | None = None


def storage(settings: Settings | None = None) -> Storage:
    """The backend the settings name (one per settings object)."""
    global _storage
    settings = settings or get_settings()
    if _storage is None or _storage[0] is not settings:
        backend: Storage
        if settings.media_url:
            backend = S3Storage(settings.media_url, settings.media_endpoint,
                                settings.media_public_url)
        else:
            backend = LocalStorage(settings.media_dir, settings.media_public_url)
        _storage = (settings, backend)
    return _storage[1]


def local_file(name: str) -> Path | None:
    """The file to serve at /media/<name>, when photos are on the local disk."""
    backend = storage()
    if not isinstance(backend, LocalStorage) or key_of(name) is None:
        return None
    path = backend.path(name)
    return path if path.is_file() else None


# --- a photo's way in ------------------------------------------------------------------------

def store(data: bytes) -> photos.Processed:
    """Check, re-encode and write an upload's variants (outside any transaction)."""
    processed = photos.process(data, workers=get_settings().media_workers)
    backend = storage()
    for variant, blob in processed.files.items():
        backend.put(file_name(processed.key, variant), blob)
    return processed


def ensure(processed: photos.Processed) -> None:
    """After the row's commit: put back any file gc took in between (see the module)."""
    backend = storage()
    for variant, blob in processed.files.items():
        name = file_name(processed.key, variant)
        if not backend.exists(name):
            backend.put(name, blob)


def image_view(row: dict[str, Any]) -> dict[str, Any]:
    """An image as the API shows it: a stored photo's URLs come from its key (so moving
    the files to a bucket or a CDN changes no row); a reference is shown as it was given."""
    view: dict[str, Any] = {"id": row["id"], "position": row["position"]}
    key = row.get("storage_key")
    if key:
        backend = storage()
        urls = {name: backend.url(file_name(key, name)) for name in VARIANT_NAMES}
        view.update(url=urls["full"], variants=urls, width=row["width"],
                    height=row["height"])
    else:
        view.update(cloudflare_id=row["cloudflare_id"], url=row["url"],
                    variants=row["variants"])
    if "item_id" in row:
        view["item_id"] = row["item_id"]
    return view


# --- a file's way out ----------------------------------------------------------------------------

GC_BATCH = 200
GC_GRACE_SECONDS = 3600


@dataclass
class Collected:
    checked: int = 0
    removed: int = 0


PARTIAL_GRACE_SECONDS = 3600  # a file still being written is left alone at least this long


def _sweep(names: list[tuple[str, float]], cutoff: float) -> int:
    """One batch: delete the files older than ``cutoff`` that no row names (and files
    left half-written for an hour), deciding and deleting under the write lock. Returns
    how many files were removed."""
    partial_cutoff = min(cutoff, time.time() - PARTIAL_GRACE_SECONDS)
    old = [(name, key_of(name)) for name, modified in names
           if modified < (cutoff if key_of(name) else partial_cutoff)]
    if not old:
        return 0
    keys = sorted({key for _name, key in old if key is not None})
    with write_transaction():
        named: set[str] = set()
        if keys:
            marks = ", ".join("?" * len(keys))
            cursor = database.execute_sql(
                f"SELECT DISTINCT storage_key FROM images WHERE storage_key IN ({marks})",
                tuple(keys))
            named = {key for (key,) in cursor}
        doomed = [name for name, key in old if key not in named]
        storage().delete(doomed)
    return len(doomed)


def collect_garbage(*, grace_seconds: int = GC_GRACE_SECONDS, batch: int = GC_BATCH,
                    on_batch: Callable[[int], None] | None = None) -> Collected:
    """Remove stored files that no image row names and that are older than the grace
    period, ``batch`` files at a time (``on_batch(checked)`` after each)."""
    result = Collected()
    cutoff = time.time() - grace_seconds
    listing = storage().listing()
    while True:
        names = [entry for _n, entry in zip(range(batch), listing, strict=False)]
        if not names:
            return result
        for attempt in range(batches.BUSY_RETRIES):
            try:
                result.removed += _sweep(names, cutoff)
                break
            except Busy:
                if attempt == batches.BUSY_RETRIES - 1:
                    raise
                time.sleep(batches.PAUSE_SECONDS)
        result.checked += len(names)
        if on_batch is not None:
            on_batch(len(names))
        if len(names) < batch:
            return result
        time.sleep(batches.PAUSE_SECONDS)  # queued writers go first


# --- display order (the owners, catalogue and selling, call these inside their transaction) --

def row_of(image: Any) -> dict[str, Any]:
    """An ``Image`` model instance as the dict ``image_view`` takes."""
    return {"id": image.id, "position": image.position, "storage_key": image.storage_key,
            "width": image.width, "height": image.height,
            "cloudflare_id": image.cloudflare_id, "url": image.url,
            "variants": image.variants}


def arrange(images: list[Any], image_id: int | None = None,
            position: int | None = None) -> list[Any]:
    """Number ``images`` (one owner's, in display order) 0, 1, 2...; with ``image_id``,
    that one moved to ``position`` first (past the end: last). Writes only what changed."""
    order = list(images)
    if image_id is not None and position is not None:
        moving = next(i for i in order if i.id == image_id)
        order.remove(moving)
        order.insert(min(position, len(order)), moving)
    for index, image in enumerate(order):
        if image.position != index:
            type(image).update(position=index).where(type(image).id == image.id).execute()
            image.position = index
    return order
