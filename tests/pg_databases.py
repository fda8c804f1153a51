"""Scratch PostgreSQL databases for tests, on the server of ``SHOP_TEST_DATABASE_URL``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from urllib.parse import urlsplit, urlunsplit

from shop.db import ShopPostgresqlDatabase, postgresql_database

_names = count()


def database_url(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name`` (postgresql://user@host/db?query)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextmanager
def empty_database(server_url: str) -> Iterator[ShopPostgresqlDatabase]:
    """A new empty database (dropped afterwards, with whatever it holds by then)."""
    admin = postgresql_database(server_url)
    name = f"shop_empty_{os.getpid()}_{next(_names)}"
    admin.execute_sql(f"CREATE DATABASE {name}")
    db = postgresql_database(database_url(server_url, name))
    db.url = database_url(server_url, name)
    try:
        yield db
    finally:
        db.close_all()
        admin.execute_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close_all()
