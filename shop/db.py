"""The one Database object, its per-connection pragmas, and the write transaction.

The database is deferred: the app factory, the CLI and the tests call :func:`init_database`
with a path. Peewee keeps one connection per thread, and every connection it opens gets the
pragmas below, because SQLite forgets ``foreign_keys`` and ``busy_timeout`` per connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import peewee

from shop.errors import Busy

DEFAULT_BUSY_TIMEOUT_MS = 5000


def _pragmas(busy_timeout_ms: int) -> list[tuple[str, object]]:
    return [
        ("foreign_keys", 1),
        ("journal_mode", "wal"),
        ("synchronous", "normal"),
        ("busy_timeout", busy_timeout_ms),
    ]


database = peewee.SqliteDatabase(None, pragmas=_pragmas(DEFAULT_BUSY_TIMEOUT_MS))


def init_database(path: str | Path, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
    """Point the shared database at a file (creating its folder), closing any open connection."""
    if str(path) == ":memory:":
        raise ValueError("the shop needs a database file: :memory: hides locking behaviour")
    busy_timeout_ms = max(busy_timeout_ms, DEFAULT_BUSY_TIMEOUT_MS)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not database.is_closed():
        database.close()
    database.init(
        str(path),
        pragmas=_pragmas(busy_timeout_ms),
        timeout=busy_timeout_ms / 1000,
        check_same_thread=False,
    )


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


@contextmanager
def write_transaction() -> Iterator[None]:
    """``BEGIN IMMEDIATE``: take the write lock before the first read.

    A DEFERRED transaction that reads and then writes fails at once with "database is
    locked" on the lock upgrade, whatever the busy timeout; IMMEDIATE waits up to the
    busy timeout instead. A lock held longer than that becomes :class:`Busy` (HTTP 503
    with Retry-After), never a 500. Nested calls become savepoints.
    """
    try:
        with database.atomic("IMMEDIATE"):
            yield
    except (peewee.OperationalError, sqlite3.OperationalError) as exc:
        if _is_lock_error(exc):
            raise Busy("the shop is busy; try again in a moment", retry_after=1) from exc
        raise


def foreign_key_problems() -> list[tuple]:
    """Rows of ``PRAGMA foreign_key_check``: empty when every reference resolves."""
    return list(database.execute_sql("PRAGMA foreign_key_check").fetchall())
