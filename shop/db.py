"""The one Database object, its per-connection pragmas, and the write transaction.

The database is deferred: the app factory, the CLI and the tests call :func:`init_database`
with a path. Peewee keeps one connection per thread, and every connection it opens gets the
pragmas below, because SQLite forgets ``foreign_keys`` and ``busy_timeout`` per connection.

Connections are pooled (peewee's ``playhouse.pool``): closing one at the end of a request
hands it back for the next. Opening a connection costs ~0.7 ms at this schema's size (SQLite
parses every table, index and trigger on first use), more than a catalogue page's query.

PostgreSQL (docs/scaling.md, "PostgreSQL: status"): ``SHOP_DATABASE_URL=postgresql://...``
points the same shared ``database`` (a Peewee ``DatabaseProxy``) at a server through psycopg
3. The engine differences live here and in ``shop.models.sql_pg`` (the DDL Peewee cannot
declare): the services write one dialect of raw SQL (``?`` placeholders, SQLite's words
for a refusal), and :class:`ShopPostgresqlDatabase` translates the statement and the
refusal; the write transaction is a plain ``BEGIN`` with a lock timeout instead of
SQLite's writer queue, and :func:`lock_products` takes the row locks a ledger move needs.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import peewee
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

from shop import clock
from shop.checkpoints import Checkpointer
from shop.errors import Busy, StorageError, is_busy, refused, storage_fault, unreachable

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
_sqlite = PooledSqliteDatabase(None, pragmas=_pragmas(DEFAULT_BUSY_TIMEOUT_MS),
                               max_connections=None, stale_timeout=POOL_STALE_SECONDS)


class _SharedDatabase(peewee.DatabaseProxy):
    """Peewee's proxy, through which an attribute may also be set on (and deleted from)
    the database it stands for, as on the database itself (the migration recorder wraps
    ``execute_sql`` so)."""

    __slots__ = ()
    _OWN = frozenset({"obj", "_callbacks", "_Model"})

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self.obj, name, value)

    def __delattr__(self, name: str) -> None:
        if name in self._OWN:
            object.__delattr__(self, name)
        else:
            delattr(self.obj, name)


# The one database every model and service uses: SQLite's file, or a PostgreSQL server.
database = _SharedDatabase()
database.initialize(_sqlite)
checkpointer = Checkpointer()  # given the writer queue below: writers_held


def init_database(target: str | Path, *,
                  busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
    """Point the shared database at a file (creating its folder) or, given a
    ``postgresql://`` URL, at a PostgreSQL server; closing any open connection."""
    if str(target) == ":memory:":
        raise ValueError("the shop needs a database file: :memory: hides locking behaviour")
    busy_timeout_ms = max(busy_timeout_ms, DEFAULT_BUSY_TIMEOUT_MS)
    global _busy_timeout_ms
    if is_postgresql_url(target):
        disconnect_all()
        _busy_timeout_ms = busy_timeout_ms
        database.initialize(postgresql_database(str(target), lock_timeout_ms=busy_timeout_ms))
        if _clock_sync is not None and _clock_sync[0] == str(target) and \
                _real_monotonic() - _clock_sync[1] < CLOCK_RESYNC_SECONDS:
            clock.set_offset(_clock_sync[2])  # the same server, measured moments ago
        else:
            try:
                sync_clock()
            except StorageError:
                # The server is unreachable now: the shop still starts and answers 503
                # storage_error until it is back; the first write transaction after that
                # measures the clock before it decides anything. Not a warning: whatever
                # uses the database next says the server is away (a command's one Error
                # line, a 503), and nothing is decided on the unmeasured clock meanwhile.
                clock.set_offset(None)
                log.info("could not reach the database server to read its clock; "
                         "measuring it again before the next write")
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    disconnect_all()
    _busy_timeout_ms = busy_timeout_ms
    database.initialize(_sqlite)
    clock.set_offset(None)  # one box: its own clock
    _sqlite.init(str(path), pragmas=_pragmas(busy_timeout_ms), check_same_thread=False)


def database_label() -> str:
    """The database for messages and logs: the file, or the server's URL with any
    password hidden."""
    return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", str(database.database))


def engine() -> str:
    """``"postgresql"`` or ``"sqlite"``: the engine the shared database is on now."""
    return dialect_of(database.obj)


# One clock (docs/scaling.md): on PostgreSQL every app server compares against the database
# server's time, not its own. The offset between the two is measured when the database is
# chosen and again after CLOCK_RESYNC_SECONDS of real time (a monotonic clock that test
# clocks do not move), so a server whose clock runs an hour ahead does not expire a
# shopper's live hold. The skew left is half a round trip plus the drift between syncs.
CLOCK_RESYNC_SECONDS = 600.0
_clock_sync: tuple[str, float, timedelta] | None = None  # the URL, when, the offset


def _real_monotonic() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def sync_clock() -> timedelta:
    """Measure this process's offset from the PostgreSQL server's clock and let
    :func:`shop.clock.now` follow the server; returns the offset."""
    global _clock_sync
    before = clock.local_now()
    (server,) = database.execute_sql("SELECT clock_timestamp()").fetchone()
    after = clock.local_now()
    offset = server - (before + (after - before) / 2)
    clock.set_offset(offset)
    _clock_sync = (str(database.database), _real_monotonic(), offset)
    return offset


def _maybe_resync_clock() -> None:
    """Measure the clock again before a write when it is due (never measured, or
    CLOCK_RESYNC_SECONDS ago). A server that cannot be reached fails the measurement as
    it would fail the write: that error is raised, for the write's caller to report once,
    rather than logged here too; any other failure keeps the last offset, with a
    warning."""
    if _clock_sync is None or _real_monotonic() - _clock_sync[1] > CLOCK_RESYNC_SECONDS:
        try:
            sync_clock()
        except StorageError:
            raise
        except peewee.DatabaseError as exc:
            if storage_fault(exc) is not None:
                raise
            log.warning("could not read the database server's clock; keeping the last offset")


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

    The services' raw SQL is written once, with SQLite's ``?`` placeholders: it is
    translated here (:func:`_postgresql_statement`), and a raw INSERT returns its id as
    ``cursor.lastrowid``. A refusal (SQLSTATE class 23) is raised with SQLite's words for
    it (``UNIQUE constraint failed: users.email``, ``CHECK constraint failed: ...``), so
    :func:`shop.errors.refused` and :func:`shop.errors.constraint_of` read one language;
    the driver's error stays its ``__cause__``.
    """

    field_types = {**PooledPostgresqlDatabase.field_types, "BOOL": "SMALLINT"}
    dialect = "postgresql"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._checks: dict[tuple[str, str], str] = {}

    def get_context_options(self) -> dict:
        return {**super().get_context_options(), "dialect": self.dialect}

    def _connect(self):  # type: ignore[no-untyped-def]
        import psycopg

        try:
            conn = super()._connect()
        except psycopg.OperationalError as exc:
            # No connection could be made (refused, no route, timed out): libpq says so
            # with no SQLSTATE, so the shop names it SQLSTATE 08001 ("unable to establish
            # connection") and answers 503 storage_error, never a 500.
            raise unreachable("08001") from exc
        conn.adapters.register_dumper(bool, _psycopg.BoolAsInt)
        conn.cursor_factory = _psycopg.Cursor
        return conn

    def execute_sql(self, sql, params=None):  # type: ignore[no-untyped-def]
        sql, returning = _postgresql_statement(sql)
        try:
            cursor = super().execute_sql(sql, params)
        except peewee.IntegrityError as exc:
            cause = getattr(exc, "orig", None) or exc.__context__ or exc
            raise peewee.IntegrityError(self._sqlite_words(cause)) from cause
        if returning:
            row = cursor.fetchone()
            cursor.lastrowid = row[0] if row else None
        return cursor

    def _sqlite_words(self, error: Exception) -> str:
        """A refusal as SQLite words it (the services and the API read one language)."""
        diag = getattr(error, "diag", None)
        state = getattr(error, "sqlstate", None)
        if diag is None:
            return str(error)
        table = diag.table_name or ""
        if state == "23505":
            key = re.match(r"Key \((.*)\)=\(", diag.message_detail or "")
            names = [n for n in re.findall(r"(?<!::)\b([a-z_][a-z0-9_]*)\b(?!\s*\()",
                                           key.group(1))] if key else []
            return "UNIQUE constraint failed: " + ", ".join(f"{table}.{n}" for n in names)
        if state == "23502":
            return f"NOT NULL constraint failed: {table}.{diag.column_name}"
        if state == "23503":
            return "FOREIGN KEY constraint failed"
        if state == "23514":
            text = self._check_text(table, diag.constraint_name or "")
            return f"CHECK constraint failed: {text}"
        return diag.message_primary or str(error)

    def _check_text(self, table: str, name: str) -> str:
        """A CHECK's expression as written (``stock_quantity >= 0``), read on a side
        connection: this one's transaction has failed and answers nothing more."""
        if (table, name) not in self._checks:
            import psycopg

            with psycopg.connect(self.database, **self.connect_params) as side:
                rows = side.execute(
                    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                    "FROM pg_constraint WHERE contype = 'c'").fetchall()
            for relation, constraint, text in rows:
                text = re.sub(r"^CHECK \((.*)\)$", r"\1", text)
                if text.startswith("(") and text.endswith(")"):
                    text = text[1:-1]
                self._checks[(relation.strip('"'), constraint)] = text
        return self._checks.get((table, name), name)


@functools.lru_cache(maxsize=1024)
def _postgresql_statement(sql: str) -> tuple[str, bool]:
    """The services' raw SQL for psycopg: ``?`` placeholders (outside quotes) become
    ``%s`` and a literal ``%`` doubles; a raw INSERT gets ``RETURNING id`` (there is no
    lastrowid). Peewee's own SQL (``%s`` already, no ``?``) passes unchanged. Returns the
    statement and whether it returns the new id."""
    parts = re.split(r"('(?:[^']|'')*')", sql)
    if not any("?" in part for i, part in enumerate(parts) if i % 2 == 0):
        return sql, False
    sql = "".join(part.replace("%", "%%") if i % 2 else
                  part.replace("%", "%%").replace("?", "%s") for i, part in enumerate(parts))
    returning = (sql.lstrip()[:6].upper() == "INSERT" and "RETURNING" not in sql.upper())
    if returning:
        sql += " RETURNING id"
    return sql, returning


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


def postgresql_database(url: str, *,
                        lock_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> ShopPostgresqlDatabase:
    """A database on a PostgreSQL server (``postgresql://user:pass@host/db``), pooled, in
    autocommit between transactions. Bind the models to it with ``bind_ctx(ALL_MODELS)``.

    A statement waits at most ``lock_timeout_ms`` for a row lock (then SQLSTATE 55P03,
    answered as 503 ``busy``, as SQLite's busy timeout is), and a transaction left idle
    is ended by the server after a minute."""
    if not is_postgresql_url(url):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    global _psycopg
    if _psycopg is None:
        _psycopg = _psycopg_pieces()
    options = (f"-c lock_timeout={int(lock_timeout_ms)} "
               "-c idle_in_transaction_session_timeout=60000 -c TimeZone=UTC")
    return ShopPostgresqlDatabase(url, prefer_psycopg3=True, max_connections=None,
                                  stale_timeout=POOL_STALE_SECONDS, options=options)


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
    return is_busy(exc)


def lock_products(product_ids: Iterable[int]) -> bool:
    """Inside a write transaction, before a ledger move: lock these products' rows, in id
    order (no two transactions wait on each other in a circle). On PostgreSQL a move's id
    comes from a sequence before any lock, so without the row lock the head guard would
    refuse the later commit of a lower id; and every hold and move of a product is written
    under its lock, so two servers never end one hold twice. On SQLite the write
    transaction already holds the one write lock: nothing to do. Returns whether locks
    were taken (then what was read before them should be read again)."""
    if engine() != "postgresql":
        return False
    ids = sorted(set(product_ids))
    if ids:
        _lock_rows(ids)
    return bool(ids)


def lock_product_rows(product_ids: Iterable[int]) -> dict[int, tuple[str, int]]:
    """:func:`lock_products`, answering each product's (status, stock_quantity) as read
    under the lock (missing ids: no such product), in the same statement: a hold needs
    both, and on PostgreSQL every statement is a round trip. On SQLite, a plain read under
    the write lock the transaction already holds."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    if engine() != "postgresql":
        rows = database.execute_sql(
            f"SELECT id, status, stock_quantity FROM products WHERE id IN "
            f"({', '.join('?' * len(ids))})", tuple(ids)).fetchall()
        return {i: (status, balance) for i, status, balance in rows}
    return _lock_rows(ids)


def lock_products_in(subquery: str, params: tuple) -> set[int] | None:
    """:func:`lock_products` for the products whose ids ``subquery`` selects (a holder's
    holds), in one statement where reading the ids first and then locking them would be
    two: returns the ids locked on PostgreSQL (read what depends on them after this, and
    only for them), None on SQLite (nothing to lock)."""
    if engine() != "postgresql":
        return None
    known = _balances()
    rows = database.execute_sql(
        f"SELECT id, stock_quantity FROM products WHERE id IN ({subquery}) "
        "ORDER BY id FOR UPDATE", params).fetchall()
    if known is not None:
        known.update(rows)
    return {i for i, _balance in rows}


def known_balance(product_id: int) -> int | None:
    """The product's balance as this PostgreSQL write transaction holds it locked (no
    statement), or None: not locked here, or SQLite (read it if it matters)."""
    known = _balances()
    return None if known is None else known.get(product_id)


def _lock_rows(ids: list[int]) -> dict[int, tuple[str, int]]:
    """PostgreSQL: lock the rows not yet locked by this transaction (one statement, id
    order), remembering each balance (:func:`lock_for_move` then needs no statement);
    returns every asked row's (status, balance). A row locked earlier in the transaction
    is read again only for its status, which is not remembered (it can change under our
    own lock)."""
    known = _balances()
    rows = database.execute_sql(
        f"SELECT id, status, stock_quantity FROM products WHERE id IN "
        f"({', '.join('?' * len(ids))}) ORDER BY id FOR UPDATE", tuple(ids)).fetchall()
    if known is not None:
        for i, _status, balance in rows:
            known[i] = balance
    return {i: (status, balance) for i, status, balance in rows}


def serialize_on(*keys: str) -> None:
    """Inside a write transaction that counts rows and then adds one (a throttle): make
    the transactions naming the same key run one after another. PostgreSQL's READ
    COMMITTED would let parallel ones all count the same rows; a transaction-scoped
    advisory lock per key (taken in key order) queues them. SQLite's write transaction
    queues every writer already."""
    if engine() != "postgresql":
        return
    for key in sorted(set(keys)):
        database.execute_sql("SELECT pg_advisory_xact_lock(hashtext(?))", (key,)).fetchall()


def locked(query: peewee.Select) -> peewee.Select:
    """``query`` reading rows this transaction is about to change: ``FOR UPDATE`` on
    PostgreSQL (READ COMMITTED: two servers must not both read an offer as open and both
    answer it; a row another transaction changed is read again once it commits), the
    query itself on SQLite, whose write transaction holds the one write lock already."""
    return query.for_update() if engine() == "postgresql" else query


def lock_for_move(product_id: int) -> int | None:
    """Just before a ledger move of this product: on PostgreSQL, lock its row (a no-op
    when this transaction holds it already) and return its balance, so a move the
    balance cannot cover is refused before the statement (PostgreSQL would abort the
    whole transaction where SQLite undoes one statement). A row this write transaction
    locked already is not read again: its balance is remembered from the lock and kept
    up to date by :func:`moved` (only the ledger's moves change it, and nobody else can
    while we hold the lock). None on SQLite, where the write lock is held and the CHECK
    refuses the statement alone."""
    if engine() != "postgresql":
        return None
    known = _balances()
    if known is not None and product_id in known:
        return known[product_id]
    row = database.execute_sql("SELECT stock_quantity FROM products WHERE id = ? FOR UPDATE",
                               (product_id,)).fetchone()
    if row is not None and known is not None:
        known[product_id] = row[0]
    return None if row is None else row[0]


def moved(product_id: int, qty_change: int) -> None:
    """A ledger move of a product this transaction locked was written: its remembered
    balance follows (the trigger applied the same change to the row)."""
    known = _balances()
    if known is not None and product_id in known:
        known[product_id] += qty_change


# The balances of the rows the open PostgreSQL write transaction has locked (per thread),
# None outside one: only inside write_transaction, whose end (or any error inside it)
# forgets them, so a remembered balance never outlives its lock or a rolled-back write.
_locked = threading.local()


def _balances() -> dict[int, int] | None:
    return getattr(_locked, "balances", None)


def read_snapshot() -> Any:
    """A read-only transaction whose statements all see one snapshot (``stock verify``
    beside live traffic): SQLite's deferred transaction takes its snapshot at the first
    read; PostgreSQL's READ COMMITTED would take one per statement, so REPEATABLE READ."""
    if engine() == "postgresql":
        return database.atomic(isolation_level="REPEATABLE READ")
    return database.atomic()


def execute_unlogged(sql: str, params: tuple) -> Any:
    """Run ``sql`` on this thread's connection without Peewee's statement log (whose DEBUG
    lines show parameters: for statements that carry a secret). Returns the cursor."""
    if engine() == "postgresql":
        return database.connection().execute(_postgresql_statement(sql)[0], params)
    return database.connection().execute(sql, params)


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
    if engine() == "postgresql":
        with _postgresql_transaction():
            yield
        return
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


@contextmanager
def _postgresql_transaction() -> Iterator[None]:
    """:func:`write_transaction` on PostgreSQL: a plain ``BEGIN`` (READ COMMITTED; the
    rows a write depends on are locked with :func:`lock_products`), no writer queue and no
    file lock. A lock wait past the lock timeout, a deadlock or a serialization failure is
    :class:`Busy` (503 with Retry-After), never a 500; a refusal names the field."""
    outermost = not database.in_transaction()
    committed = False
    if outermost:
        _pending.callbacks = []
        _locked.balances = {}
    try:
        if outermost:  # a server gone away fails here as at BEGIN, and is said so below
            _maybe_resync_clock()
        try:
            with database.atomic():
                yield
        except BaseException:
            if not outermost:  # a savepoint rolled back: the balances may have too
                _locked.balances = {}
            raise
    except peewee.IntegrityError as exc:
        raise refused(str(exc)) from exc
    except (peewee.DatabaseError, OSError) as exc:
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
        if outermost:
            _locked.balances = None
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
                      .format(path=database_label()))

    def cleared(self) -> None:
        """A write went through: the episode is over for the log. (/healthz still shows
        the fault for a few seconds: one small write, a mail's say, can fit where a
        checkout's cannot.)"""
        if self.code is not None:
            log.warning("the database %s takes writes again (after %s)", database_label(),
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
    """Rows of ``PRAGMA foreign_key_check``: empty when every reference resolves
    (PostgreSQL checks each reference as it is written: always empty there)."""
    if engine() == "postgresql":
        return []
    return list(database.execute_sql("PRAGMA foreign_key_check").fetchall())
