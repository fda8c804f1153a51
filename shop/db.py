"""The one Database object, its per-connection pragmas, and the write transaction.

The database is deferred: the app factory, the CLI and the tests call :func:`init_database`
with a path. Peewee keeps one connection per thread, and every connection it opens gets the
pragmas below, because SQLite forgets ``foreign_keys`` and ``busy_timeout`` per connection.

Connections are pooled (peewee's ``playhouse.pool``): closing one at the end of a request
hands it back for the next. Opening a connection costs ~0.7 ms at this schema's size (SQLite
parses every table, index and trigger on first use), more than a catalogue page's query.

PostgreSQL (docs/scaling.md, "PostgreSQL: status"): :func:`postgresql_database` opens the
same models' database on a server through psycopg 3. Its engine differences are here (the
connection) and in ``shop.models.sql_pg`` (the DDL Peewee cannot declare). The shop itself
does not serve from PostgreSQL yet: the services' raw SQL is still SQLite's.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import peewee
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

from shop.checkpoints import Checkpointer
from shop.errors import Busy, StorageError, refused, storage_fault

log = logging.getLogger(__name__)
DEFAULT_BUSY_TIMEOUT_MS = 5000
# A pooled connection is replaced after this long, so none lives for ever.
POOL_STALE_SECONDS = 300


def _pragmas(busy_timeout_ms: int) -> list[tuple[str, object]]:
    return [
        ("foreign_keys", 1),
        ("journal_mode", "wal"),
        ("synchronous", "normal"),
        ("busy_timeout", busy_timeout_ms),
        ("wal_autocheckpoint", 0),  # checkpoints run in a background thread: shop.checkpoints
    ]


_busy_timeout_ms = DEFAULT_BUSY_TIMEOUT_MS
database = PooledSqliteDatabase(None, pragmas=_pragmas(DEFAULT_BUSY_TIMEOUT_MS),
                                max_connections=None, stale_timeout=POOL_STALE_SECONDS)
checkpointer = Checkpointer()  # given the writer queue below: writers_held


def init_database(path: str | Path, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
    """Point the shared database at a file (creating its folder), closing any open connection."""
    if str(path) == ":memory:":
        raise ValueError("the shop needs a database file: :memory: hides locking behaviour")
    busy_timeout_ms = max(busy_timeout_ms, DEFAULT_BUSY_TIMEOUT_MS)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    disconnect_all()
    global _busy_timeout_ms
    _busy_timeout_ms = busy_timeout_ms
    database.init(str(path), pragmas=_pragmas(busy_timeout_ms), check_same_thread=False)


_before_disconnect: list[Callable[[], object]] = []


def before_disconnect(callback: Callable[[], object]) -> None:
    """Have :func:`disconnect_all` call ``callback`` first (the mail thread finishes what
    it is sending before the file is switched or replaced)."""
    if callback not in _before_disconnect:
        _before_disconnect.append(callback)


class ShopPostgresqlDatabase(PooledPostgresqlDatabase):
    """The shop's schema on PostgreSQL, with the SQLite schema's value conventions.

    Flags stay 0/1 integers (SMALLINT, not BOOLEAN), so ``featured = 1`` means the same on
    both engines, and a Python bool is sent as 0/1. SQL built by Peewee carries
    ``ctx.state.dialect == "postgresql"``, which the models' per-dialect CHECKs read
    (``shop.models.base``).
    """

    field_types = {**PooledPostgresqlDatabase.field_types, "BOOL": "SMALLINT"}
    dialect = "postgresql"

    def get_context_options(self) -> dict:
        return {**super().get_context_options(), "dialect": self.dialect}

    def _connect(self):  # type: ignore[no-untyped-def]
        conn = super()._connect()
        conn.adapters.register_dumper(bool, _psycopg.BoolAsInt)
        conn.cursor_factory = _psycopg.Cursor
        return conn


def _psycopg_pieces() -> object:
    import psycopg
    from psycopg.adapt import Dumper
    from psycopg.postgres import types

    class BoolAsInt(Dumper):
        oid = types["int2"].oid

        def dump(self, obj: bool) -> bytes:
            return b"1" if obj else b"0"

    class Cursor(psycopg.Cursor):
        """Peewee sends a statement without parameters with an empty tuple; psycopg would
        then read each ``%`` of it (``LIKE 'reserv%'``) as a placeholder."""

        def execute(self, query, params=None, **kwargs):  # type: ignore[no-untyped-def]
            return super().execute(query, params or None, **kwargs)

    return type("Pieces", (), {"BoolAsInt": BoolAsInt, "Cursor": Cursor})


def is_postgresql_url(target: str | Path) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


def postgresql_database(url: str) -> ShopPostgresqlDatabase:
    """A database on a PostgreSQL server (``postgresql://user:pass@host/db``), pooled, in
    autocommit between transactions. Bind the models to it with ``bind_ctx(ALL_MODELS)``."""
    if not is_postgresql_url(url):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    global _psycopg
    if _psycopg is None:
        _psycopg = _psycopg_pieces()
    return ShopPostgresqlDatabase(url, prefer_psycopg3=True, max_connections=None,
                                  stale_timeout=POOL_STALE_SECONDS)


_psycopg: Any = None  # psycopg is imported only when PostgreSQL is used


def dialect_of(db: peewee.Database) -> str:
    """``"postgresql"`` or ``"sqlite"``: which raw SQL a database takes."""
    return getattr(db, "dialect", "sqlite")


def disconnect_all() -> None:
    """Close every connection, pooled ones included (before pointing at another file, or
    replacing this one), once no checkpoint is running and no mail is being sent."""
    for callback in _before_disconnect:
        callback()
    checkpointer.stop()
    if database.database is not None:
        database.close_all()
    for fd in _writer_files.values():
        os.close(fd)
    _writer_files.clear()


def busy_timeout_pragma() -> str:
    """The statement that gives a connection its configured busy timeout back."""
    return f"PRAGMA busy_timeout = {_busy_timeout_ms}"


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


# Writers queue before they ask SQLite for its write lock. SQLite's lock has no queue: a
# waiting connection polls with a sleeping backoff (1, 2, 5 ... 100 ms) and can miss every
# short gap between another writer's transactions, for seconds (measured: gthread threads'
# checkouts, and a cron prune beside a stream of checkouts, which never finished). Threads
# of one process queue on this re-entrant lock (nested calls are savepoints); processes
# then take a file lock beside the database, polled every fraction of a millisecond.
_process_writer = threading.RLock()
_writer_files: dict[str, int] = {}
_FILE_LOCK_POLL = 0.0002


def _after_fork_in_child() -> None:
    """A forked child starts with no writer state of its own. It inherits the parent's
    descriptors, and flock belongs to the open file description: on the parent's
    descriptor, the child's LOCK_EX would succeed while the parent holds the lock, and
    two processes would both think they are the writer. The RLock may also have been
    held by a parent thread that does not exist in the child. (Closing the child's copy
    does not release the parent's lock: the parent's descriptor still holds it.)"""
    global _process_writer
    _process_writer = threading.RLock()
    for fd in _writer_files.values():
        os.close(fd)
    _writer_files.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _writer_file() -> int:
    """This process's descriptor of ``<database>-writer.lock`` (flock is per description)."""
    path = f"{database.database}-writer.lock"
    if path not in _writer_files:
        _writer_files[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    return _writer_files[path]


def _lock_writer_file(deadline: float) -> int:
    fd = _writer_file()
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise Busy("the shop is busy; try again in a moment", retry_after=1) from None
            time.sleep(_FILE_LOCK_POLL)


@contextmanager
def writers_held(seconds: float) -> Iterator[bool]:
    """The shop's writer queue, taken as a write transaction takes it but with no SQLite
    transaction: True once no write transaction of the shop (any thread, any process) can
    run until the block ends, False when that took longer than ``seconds``. The
    checkpointer holds it for the one checkpoint that keeps the WAL bounded."""
    lock = _process_writer  # read now: a forked child replaces it
    if not lock.acquire(timeout=seconds):
        yield False
        return
    fd = None
    try:
        try:
            fd = _lock_writer_file(time.monotonic() + seconds)
        except Busy:
            yield False
            return
        yield True
    finally:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        lock.release()


checkpointer.hold_writers = writers_held


_pending = threading.local()  # this thread's after-commit callbacks


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the outermost write transaction of this thread has committed
    and released its locks (at once outside any); dropped if it rolls back. Registering
    the same callback twice runs it once. A failing callback is logged, never raised: the
    commit it follows has happened."""
    if not database.in_transaction():
        _run_callbacks([callback])
        return
    callbacks = _pending.__dict__.setdefault("callbacks", [])
    if callback not in callbacks:
        callbacks.append(callback)


def _run_callbacks(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("an after-commit callback failed")


@contextmanager
def write_transaction() -> Iterator[None]:
    """``BEGIN IMMEDIATE``: take the write lock before the first read.

    A DEFERRED transaction that reads and then writes fails at once with "database is
    locked" on the lock upgrade, whatever the busy timeout; IMMEDIATE waits up to the
    busy timeout instead. A lock held longer than that becomes :class:`Busy` (HTTP 503
    with Retry-After), never a 500; a row the schema refuses becomes a 4xx naming the
    field (:func:`shop.errors.refused`); a full disk, read-only files or an I/O error
    become their :class:`~shop.errors.StorageError` (503), and the connection that met
    one is dropped, never handed to the next request (see :func:`recover`). Nested calls
    become savepoints.
    """
    deadline = time.monotonic() + _busy_timeout_ms / 1000
    if not _process_writer.acquire(timeout=_busy_timeout_ms / 1000):
        raise Busy("the shop is busy; try again in a moment", retry_after=1)
    fd = None
    outermost = not database.in_transaction()
    committed = False
    if outermost:
        _pending.callbacks = []
    try:
        if outermost:  # the outermost call takes the file lock
            fd = _lock_writer_file(deadline)
        with database.atomic("IMMEDIATE"):
            yield
    except (peewee.IntegrityError, sqlite3.IntegrityError) as exc:
        raise refused(str(exc)) from exc
    except (peewee.DatabaseError, sqlite3.DatabaseError, OSError) as exc:
        if _is_lock_error(exc):
            raise Busy("the shop is busy; try again in a moment", retry_after=1) from exc
        fault = recover(exc) if outermost else storage_fault(exc)
        if fault is not None:
            raise fault from exc
        raise
    else:
        if outermost:
            faults.cleared()
            committed = True
    finally:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        _process_writer.release()
        if fd is not None:  # the outermost transaction ended, and no lock is held now
            checkpointer.committed(database.database)
        if outermost:
            callbacks, _pending.callbacks = _pending.callbacks, []
            if committed:
                _run_callbacks(callbacks)


class Faults:
    """The storage fault this process is living through, told to the operator once per
    episode (not once per request), with the time it was last seen for /healthz."""

    SENTENCES = {
        "storage_full": "the disk holding {path} is full: the shop refuses writes (503 "
                        "storage_full) and goes on serving reads until space is freed; it "
                        "recovers by itself",
        "read_only": "the database {path}, its -wal or -shm file, or its folder cannot be "
                     "written (a read-only mount, or files owned by another user): the shop "
                     "refuses writes (503 read_only) until they can be; it recovers by itself",
        "storage_error": "SQLite reports an I/O error or a damaged file at {path}: the shop "
                         "answers 503 storage_error; run `shop stock verify`, and if it "
                         "reports damage, `shop restore`",
    }

    def __init__(self) -> None:
        self.code: str | None = None  # the open episode, for the log
        self.last_code: str | None = None  # the last fault met, for /healthz
        self.last_seen = 0.0

    def seen(self, fault: StorageError) -> None:
        self.last_seen = time.monotonic()
        self.last_code = fault.code
        if self.code != fault.code:
            self.code = fault.code
            log.error(self.SENTENCES.get(fault.code, self.SENTENCES["storage_error"])
                      .format(path=database.database))

    def cleared(self) -> None:
        """A write went through: the episode is over for the log. (/healthz still shows
        the fault for a few seconds: one small write, a mail's say, can fit where a
        checkout's cannot.)"""
        if self.code is not None:
            log.warning("the database %s takes writes again (after %s)", database.database,
                        self.code)
            self.code = None

    def recent(self, within: float) -> str | None:
        """The last fault met, if that was in the last ``within`` seconds."""
        if self.last_code is not None and time.monotonic() - self.last_seen <= within:
            return self.last_code
        return None


faults = Faults()


def recover(exc: BaseException) -> StorageError | None:
    """After a database error outside any transaction: drop this thread's connection (a
    connection that failed mid-write may be left in a state no later request should
    inherit: it is closed, never returned to the pool), and return the storage fault the
    error stands for, told to the operator once per episode; None if it is none."""
    fault = storage_fault(exc)
    if fault is not None:
        faults.seen(fault)
    discard_connection()
    return fault


def discard_connection() -> None:
    """Close this thread's connection for good, not back to the pool (outside any
    transaction). Closing a broken connection may fail too: its state is dropped anyway."""
    if database.database is None or database.in_transaction():
        return
    try:
        database.manual_close()
    except (peewee.DatabaseError, sqlite3.DatabaseError):
        database._state.reset()


def foreign_key_problems() -> list[tuple]:
    """Rows of ``PRAGMA foreign_key_check``: empty when every reference resolves."""
    return list(database.execute_sql("PRAGMA foreign_key_check").fetchall())
