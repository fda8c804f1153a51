"""Keyset pagination: opaque cursors and pages, shared by every list.

A cursor is the sort key of the last row a client saw, tagged with the list and sort it
belongs to, as base64url JSON. Reading the next page is then a range read that starts
where the previous one stopped: it costs the same on page 1,000 as on page 1, and rows
inserted meanwhile never shift a page (no duplicates, no gaps), unlike OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import peewee

from shop import clock
from shop.errors import Invalid

T = TypeVar("T")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 512


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(tag: str, values: Sequence[Any]) -> str:
    raw = json.dumps([tag, *values], separators=(",", ":"), ensure_ascii=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _bad_cursor() -> Invalid:
    return Invalid("the cursor is not valid for this list; start again without it",
                   details={"fields": {"cursor": "not a cursor of this list"}})


def decode_cursor(cursor: str, tag: str, types: Sequence[type]) -> list[Any]:
    """The key values in ``cursor``, checked against ``tag`` and ``types``; 400 otherwise."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise _bad_cursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _bad_cursor() from None
    if not isinstance(data, list) or len(data) != len(types) + 1 or data[0] != tag:
        raise _bad_cursor()
    values = data[1:]
    for value, kind in zip(values, types, strict=True):
        ok = (isinstance(value, int | float) and not isinstance(value, bool)
              if kind is float else type(value) is kind)
        if not ok or (kind is int and not -(2**63) <= value < 2**63):
            raise _bad_cursor()
    return values


def page_of(rows: list[T], limit: int, key: Callable[[T], Sequence[Any]], tag: str) -> Page[T]:
    """Cut ``rows`` (fetched with ``limit + 1``) to a page and the cursor after its last row."""
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, encode_cursor(tag, key(rows[-1])))


def newest_first(select: Any, created: Any, key: Any, tag: str, limit: int,
                 cursor: str | None) -> Page[Any]:
    """A page of ``select`` newest first, keyed on (created, key), for any model with a
    creation time: a range read of an index ending in (..., created_at)."""
    if cursor:
        when, last = decode_cursor(cursor, tag, (str, int))
        select = select.where(peewee.Tuple(created, key) < peewee.Tuple(when, last))
    rows = list(select.order_by(created.desc(), key.desc()).limit(limit + 1))
    name = created.name
    return page_of(rows, limit, lambda r: [clock.to_text(getattr(r, name)), r.id], tag)
