"""A PostgreSQL database named by URL, for the operator's commands (migrate, db copy,
backup, restore): opened and checked once, said without its password."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import peewee

from shop.db import ShopPostgresqlDatabase, is_postgresql_url, postgresql_database
from shop.errors import Invalid, ShopError, StorageError

__all__ = ["Unreachable", "connected", "database_name", "is_postgresql_url", "open_database",
           "redact", "with_database"]


class Unreachable(ShopError):
    """The PostgreSQL server refused or could not be reached."""

    code, status = "database_unreachable", 503


def redact(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def database_name(url: str) -> str:
    """The database a URL names (its path; libpq's default, the user's name, when empty)."""
    parts = urlsplit(url)
    return parts.path.lstrip("/") or (parts.username or "")


def with_database(url: str, name: str) -> str:
    """``url`` naming another database on the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def open_database(url: str) -> ShopPostgresqlDatabase:
    """The database at ``url``, connected once to prove it can be (close it with
    ``close_all()``). A server that cannot be reached, or refuses, is one clear line."""
    if not is_postgresql_url(url):
        raise Invalid(f"not a PostgreSQL URL: {redact(url)!r} (postgresql://user@host/db)")
    db = postgresql_database(url)
    try:
        db.connect(reuse_if_open=True)
    except (peewee.DatabaseError, StorageError) as exc:
        # A refused connection comes as the shop's StorageError, the driver's words its cause.
        said = exc.__cause__ if isinstance(exc, StorageError) and exc.__cause__ else exc
        # libpq's words, all of them on one line: what failed, then its hint.
        reason = "; ".join(line.strip() for line in str(said).splitlines()
                           if line.strip()) or "no reason given"
        raise Unreachable(f"cannot connect to {redact(url)}: {reason}") from exc
    db.url = url  # where it is, for pg_dump / pg_restore
    return db


@contextmanager
def connected(url: str) -> Iterator[ShopPostgresqlDatabase]:
    """:func:`open_database` for the length of a block, every connection closed after."""
    db = open_database(url)
    try:
        yield db
    finally:
        db.close_all()
