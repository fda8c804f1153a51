"""Uploaded photos, decoded and checked before anything is kept (DESIGN.md §11).

Nothing here trusts the upload. Its type is what Pillow finds decoding it (JPEG, PNG or
WebP; the file name and Content-Type are never read); its size is checked from the header,
before a pixel is decoded, against MAX_PIXELS (and Pillow's own decompression-bomb guard is
set to the same limit and made an error). Then it is decoded whole (a truncated file fails
here), turned upright by its EXIF orientation, converted to sRGB, and re-encoded from
pixels alone into three WebP variants: no EXIF, GPS, XMP or ICC block, and no byte of the
upload, reaches a stored file.

Why WebP only: every browser a shop's customers use decodes it (Safari since 14, 2020),
it is ~30% smaller than JPEG at the same quality, and one format keeps one file per
variant. The variants' names are the SHA-256 of the full variant (``Processed.key``), so
the same photo uploaded twice is stored once.

The work runs in a small pool of processes (SHOP_MEDIA_WORKERS per server process, at a
lower CPU priority): decoding a 12-megapixel JPEG is ~0.2 s of CPU that would otherwise
compete with checkouts on equal terms. ``process`` is called outside any transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import multiprocessing
import os
import threading
import warnings
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from shop.errors import Busy, Invalid, PayloadTooLarge

MAX_PHOTOS = 10  # per product, and per seller item
MAX_BYTES = 10 * 1024 * 1024  # per file
MAX_PIXELS = 40_000_000  # width x height, read from the header
FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
# name -> longest edge in pixels; each is made from the one before, and never upscaled.
VARIANTS = (("full", 1600), ("card", 600), ("thumb", 200))
WEBP_QUALITY = 80
FIELD = "file"


@dataclass(frozen=True)
class Processed:
    """A photo ready to store: its key, the full variant's size, and the variants' bytes."""

    key: str
    width: int
    height: int
    files: dict[str, bytes]


# What the worker answers: ("ok", Processed) or (error kind, sentence). Exceptions with
# keyword-only arguments do not cross a process boundary, so the caller raises them.
_NOT_IMAGE = "must be a complete JPEG, PNG or WebP image"


def _refusal(kind: str, sentence: str) -> Invalid | PayloadTooLarge:
    if kind == "too_large":
        return PayloadTooLarge(f"the {FIELD} {sentence}",
                               details={"fields": {FIELD: sentence}})
    return Invalid(f"{FIELD} {sentence}", details={"fields": {FIELD: sentence}})


def _scaled(size: tuple[int, int], edge: int) -> tuple[int, int]:
    width, height = size
    scale = edge / max(width, height)
    if scale >= 1:
        return size
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_srgb(image, icc: bytes | None):
    """The pixels in sRGB, so the profile can be dropped (a wide-gamut phone photo would
    look washed out without it). A profile Pillow cannot read leaves the pixels as they are."""
    if not icc:
        return image
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"),
                                         outputMode=image.mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image


def decode(data: bytes) -> tuple[str, object]:
    """The work itself (in a pool process): ("ok", Processed) or (kind, sentence)."""
    from PIL import Image, ImageOps

    if len(data) > MAX_BYTES:
        return "too_large", f"may be at most {MAX_BYTES // (1024 * 1024)} MiB"
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    too_many = f"may have at most {MAX_PIXELS // 1_000_000} megapixels"
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            # Reads the header only: the format and the size, before any pixel.
            image = Image.open(io.BytesIO(data), formats=sorted(FORMATS))
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            return "too_large", too_many
        except (OSError, SyntaxError, ValueError, EOFError):
            return "invalid", _NOT_IMAGE
        if image.format not in FORMATS:
            return "invalid", _NOT_IMAGE
        width, height = image.size
        if width < 1 or height < 1:
            return "invalid", _NOT_IMAGE
        if width * height > MAX_PIXELS:
            return "too_large", too_many
        try:
            if image.format == "JPEG":  # decode at 1/2, 1/4 or 1/8 scale when that is enough
                image.draft("RGB", (VARIANTS[0][1], VARIANTS[0][1]))
            image.load()
            image = ImageOps.exif_transpose(image)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            return "too_large", too_many
        except (OSError, SyntaxError, ValueError, EOFError, MemoryError):
            return "invalid", _NOT_IMAGE  # truncated or corrupt: never served half
    icc = image.info.get("icc_profile")
    alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P"
                                                   and "transparency" in image.info)
    image = _to_srgb(image.convert("RGBA" if alpha else "RGB"), icc)
    # Pixels only from here on: nothing the upload carried besides them goes further.
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    files: dict[str, bytes] = {}
    current = clean
    for name, edge in VARIANTS:
        size = _scaled(current.size, edge)
        if size != current.size:
            current = current.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        out = io.BytesIO()
        current.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
        files[name] = out.getvalue()
        if name == "full":
            full_size = current.size
    key = hashlib.sha256(files["full"]).hexdigest()
    return "ok", Processed(key=key, width=full_size[0], height=full_size[1], files=files)


def _lower_priority() -> None:
    with contextlib.suppress(OSError):
        os.nice(10)  # checkouts first: a photo can wait a moment


_pool: Executor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def _executor(workers: int) -> Executor:
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():  # one pool per (forked) process
            _pool = ProcessPoolExecutor(max_workers=workers,
                                        mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_lower_priority)
            _pool_pid = os.getpid()
        return _pool


def _reset(pool: Executor) -> None:
    global _pool
    with _pool_lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown() -> None:
    """Stop this process's pool (tests, and a server process on its way out)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def process(data: bytes, *, workers: int = 1) -> Processed:
    """Check and re-encode an upload; 400 ``invalid`` or 413 ``payload_too_large`` naming
    ``file`` otherwise. ``workers`` 0 does the work in the calling thread."""
    if len(data) > MAX_BYTES:  # before it is copied to a worker
        raise _refusal("too_large", f"may be at most {MAX_BYTES // (1024 * 1024)} MiB")
    if workers <= 0:
        kind, result = decode(data)
    else:
        pool = _executor(workers)
        try:
            kind, result = pool.submit(decode, data).result()
        except BrokenProcessPool:  # a worker died (killed, out of memory): start afresh
            _reset(pool)
            raise Busy("the photo could not be processed just now; try again",
                       retry_after=1) from None
    if kind != "ok":
        raise _refusal(kind, str(result))
    assert isinstance(result, Processed)
    return result
