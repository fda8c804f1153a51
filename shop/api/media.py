"""Stored photos at /media/<shard>/<name>, when they are on the local disk.

In production the reverse proxy serves SHOP_MEDIA_DIR at /media/ itself
(docs/deployment.md); this view is the same thing for development and a lone server.
Only names the shop writes are ever looked up (``media.local_file`` checks the pattern), so
a path in the URL reaches nothing else. Every name holds one content forever: immutable.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, send_file

from shop.api.routing import route
from shop.errors import NotFound
from shop.services import media

bp = Blueprint("media", __name__)
YEAR_SECONDS = 365 * 24 * 3600


@route(bp, "/media/<shard>/<name>", "GET",
       summary="A stored photo variant (WebP; cached for a year, immutable)")
def photo(shard: str, name: str) -> Any:
    path = media.local_file(f"{shard}/{name}")
    if path is None:
        raise NotFound("no such photo")
    response = send_file(path, mimetype=media.CONTENT_TYPE, max_age=YEAR_SECONDS,
                         conditional=True, etag=True)
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response
