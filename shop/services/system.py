"""Start-up and per-request plumbing the outer layers need, so they never touch the database.

The API and the CLI call these instead of importing ``shop.db``: that keeps every
transaction inside a service.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import peewee

from shop.checkpoints import WAL_LIMIT_BYTES
from shop.config import Settings, set_settings
from shop.db import (
    busy_timeout_pragma,
    checkpointer,
    database,
    database_label,
    disconnect_all,
    engine,
    faults,
    init_database,
    recover,
)
from shop.errors import (
    Busy,
    Damaged,
    ReadOnly,
    ServerGone,
    ShopError,
    StorageError,
    StorageFull,
    is_busy,
    storage_fault,
)

log = logging.getLogger(__name__)


def configure(settings: Settings) -> Settings:
    """Install settings, point the database at ``settings.database``, pick the mailer."""
    from shop.services import mail

    set_settings(settings)
    mail.configure(settings)
    # With Litestream replicating, its read lock makes every TRUNCATE of the shop's end
    # "busy" and only adds waits (benchmarks/wal_growth.py --replica): the WAL's bound is
    # then Litestream's own checkpoints (docs/deployment.md).
    checkpointer.wal_limit_bytes = None if settings.replica_url else WAL_LIMIT_BYTES
    try:
        init_database(settings.database_target, busy_timeout_ms=settings.busy_timeout_ms)
    except OSError as exc:
        raise StorageError(f"cannot use the database file {settings.database}: "
                           f"{exc.strerror or exc}") from exc
    return settings


# The next step for a file that cannot be trusted, the same wherever it is said.
RESTORE_STEP = ("stop the shop and restore a backup: `shop restore PATH`, "
                "or `shop restore --from-replica`")
# What to do about each storage fault, by its kind.
_NEXT_STEPS: tuple[tuple[type[StorageError], str], ...] = (
    (StorageFull, "free some space on its disk, then run it again"),
    (ReadOnly, "check the permissions of the file, its folder and its mount"),
    (ServerGone, "check that the database server is running and reachable, then run it "
                 "again"),
    (StorageError, "check the disk and the path, then run it again"),
)

# What SQLite says about a file that is no shop database (no storage fault: SQLite's
# generic error, told apart only by its words), for a person.
_SCHEMA_MESSAGES = (
    ("no such table", "has no shop tables (is it migrated? run `shop migrate`)"),
    ("no such column", "has an older schema (run `shop migrate`)"),
)


def explain(fault: StorageError, where: object) -> StorageError:
    """``fault`` (from :func:`shop.errors.storage_fault`) as one line that names the file
    and the next step, of the same kind."""
    if isinstance(fault, Damaged):
        return damaged(damaged_lines(fault), where)
    step = next(step for kind, step in _NEXT_STEPS if isinstance(fault, kind))
    said = type(fault)(f"{fault.message} ({where}); {step}", details=fault.details,
                       retry_after=fault.retry_after)
    said.explained = True  # type: ignore[attr-defined]
    return said


def damaged_lines(fault: Damaged) -> list[str]:
    """What a :class:`Damaged` fault says went wrong, as integrity-report lines."""
    reason = fault.details.get("reason") or "SQLITE_CORRUPT"
    if reason == "SQLITE_NOTADB":  # SQLite's name for its result code, not its message
        return ["it is not a SQLite database, SQLITE_NOTADB, or not a database at all: "
                "is --database / SHOP_DATABASE the right file?"]
    return [f"SQLite cannot read some of its pages, {reason}"]


def damaged(problems: list[str], where: object = None) -> Damaged:
    """The database (or ``where``) fails its integrity check: one line naming the first
    problems and the next step."""
    shown = "; ".join(" ".join(p.split()) for p in problems[:3])
    more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
    said = Damaged(f"the database {where or database_label()} is damaged ({shown}{more}); "
                   f"{RESTORE_STEP}", details={"problems": problems})
    said.explained = True  # type: ignore[attr-defined]
    return said


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn a database file the shop cannot use into a :class:`StorageError` (or one of
    its kinds: :class:`Damaged`, :class:`StorageFull`, :class:`ReadOnly`, decided by
    SQLite's result code or the errno) that names the file and says what to do, for the
    CLI, which must not import the driver. Lock waits are already
    :class:`~shop.errors.Busy`; anything else SQLite reports keeps its own words, still
    as one line."""
    try:
        yield
    except StorageError as fault:  # write_transaction's own: said for a person, not a CLI
        if getattr(fault, "explained", False) or fault.__cause__ is None:
            raise
        raise explain(fault, database_label()) from fault.__cause__
    except (peewee.DatabaseError, sqlite3.DatabaseError) as exc:
        fault = storage_fault(exc)
        if fault is not None:
            raise explain(fault, database_label()) from exc
        text = " ".join(str(exc).split())
        what = next((says for needle, says in _SCHEMA_MESSAGES if needle in text.lower()),
                    f"failed: {text}")
        raise StorageError(f"the database {database_label()} {what}") from exc


# Lines of SQLite's integrity report kept: enough to say what is wrong.
INTEGRITY_LINES = 10


def integrity_problems(*, quick: bool = False) -> list[str]:
    """What SQLite's integrity check finds wrong with the database file (empty when it is
    sound). ``quick`` runs ``PRAGMA quick_check``: every page and record is read, but no
    index is compared with its table, so a row an index no longer matches (a wrong
    price that the price index still lists as right) passes; the full
    ``PRAGMA integrity_check`` finds it. A page too damaged to be read is a problem too."""
    pragma = "quick_check" if quick else "integrity_check"
    try:
        lines = [row[0] for row in
                 database.execute_sql(f"PRAGMA {pragma}({INTEGRITY_LINES})").fetchall()]
    except (peewee.DatabaseError, sqlite3.DatabaseError) as exc:
        fault = storage_fault(exc)
        if not isinstance(fault, Damaged):
            raise
        return damaged_lines(fault)
    return [] if lines == ["ok"] else lines


def require_intact(*, quick: bool = False) -> None:
    """Raise :class:`Damaged` (one line, with the next step) unless the database passes
    :func:`integrity_problems` (SQLite's file check; a PostgreSQL server checks its own
    pages)."""
    if engine() == "postgresql":
        return
    problems = integrity_problems(quick=quick)
    if problems:
        raise damaged(problems)


# A pooled connection outlives its request, so ``PRAGMA optimize`` need not run at every
# close: at most once per this many seconds per process (issue 19). Run at every close, its
# four statements cost a checkout request ~0.4 ms of the writer queue, and each ANALYZE it
# starts takes SQLite's write lock outside the shop's queue (a queued writer then polls).
OPTIMIZE_EVERY_SECONDS = 10.0
_optimize_due = 0.0  # time.monotonic() from which the next close runs it


def close_connection() -> None:
    """Close this thread's connection, rolling back anything left open by mistake.

    First, at most every OPTIMIZE_EVERY_SECONDS, ``PRAGMA optimize``, as SQLite advises:
    it analyses only tables whose statistics the queries on this connection lacked (about
    30 µs when there is nothing to do). It never waits for the write lock: if another
    writer holds it, the statistics are refreshed by a later close instead.
    """
    global _optimize_due
    if database.is_closed():
        return
    if engine() == "postgresql":  # the server keeps its own statistics (autovacuum)
        database.close()
        return
    try:
        now = time.monotonic()
        if not database.in_transaction() and now >= _optimize_due:
            _optimize_due = now + OPTIMIZE_EVERY_SECONDS
            database.execute_sql("PRAGMA busy_timeout = 0")
            try:
                refresh_statistics()
            finally:  # the connection goes back to the pool for the next request
                database.execute_sql(busy_timeout_pragma())
    except peewee.DatabaseError:
        pass  # locked, or a broken file that /healthz reports: nothing to refresh here
    finally:
        database.close()


def close_for_exit() -> None:
    """Before a ``shop`` command's process exits: close this thread's connection and, if
    the command wrote to the SQLite file, leave its write-ahead log empty (one TRUNCATE
    checkpoint with the shop's writers held: :meth:`shop.checkpoints.Checkpointer.finish`)
    rather than as long as the command's last commits made it. PostgreSQL keeps no such
    log beside the database."""
    close_connection()
    if engine() != "postgresql":
        checkpointer.finish()


def disconnect() -> None:
    """Close every connection of this process once no checkpoint is running (before the
    process execs another program)."""
    close_connection()
    disconnect_all()


# Rows ANALYZE samples per index: enough for good plans, cheap at any table size.
ANALYSIS_LIMIT = 1000


def refresh_statistics(*, full: bool = False) -> None:
    """Keep the planner's statistics fresh: without them SQLite may pick a filter's index
    over the one that also serves the sort. ``PRAGMA optimize`` re-analyses only what has
    changed much (SQLite's advice: run it before closing a connection); ``full`` runs
    ANALYZE on everything (after a bulk load). PostgreSQL has no PRAGMA: its autovacuum
    keeps the statistics, and a bulk load runs its ANALYZE."""
    if engine() == "postgresql":
        if full:
            database.execute_sql("ANALYZE")
        return
    database.execute_sql(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}")
    database.execute_sql("ANALYZE" if full else "PRAGMA optimize")


# Below this much free space the disk counts as full: a checkout's commit needs a few
# pages, a checkpoint more.
MIN_FREE_BYTES = 1 << 20
# A fault seen this recently still shows on /healthz (an I/O error that no probe below
# can see, or SQLite's own page limit).
FAULT_MEMORY_SECONDS = 5.0


def storage_health() -> str | None:
    """What keeps the shop from working now, for /healthz: ``storage_full``,
    ``read_only`` or ``storage_error``; None when it can read and write. It looks, and
    never writes: the file answers a query; the file, its -wal and -shm and its folder
    can be written (access(2) says EROFS on a read-only mount, even to root); the disk
    has MIN_FREE_BYTES free; and no fault was met in the last few seconds. Each of these
    clears by itself when the fault does."""
    if engine() == "postgresql":
        try:
            database.execute_sql("SELECT 1").fetchone()
        except StorageError as exc:  # no connection could be made (shop.db)
            return exc.code
        except peewee.DatabaseError as exc:
            fault = recover(exc)
            return fault.code if fault is not None else "storage_error"
        return faults.recent(FAULT_MEMORY_SECONDS)
    path = Path(database.database)
    if not path.is_file():  # a pooled connection keeps working on a deleted file
        log.error("database file %s is missing", path)
        return "storage_error"
    try:
        database.execute_sql("SELECT 1").fetchone()
    except (peewee.DatabaseError, sqlite3.DatabaseError) as exc:
        fault = recover(exc)
        return fault.code if fault is not None else "storage_error"
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), path.parent):
        if candidate.exists() and not os.access(candidate, os.W_OK):
            return "read_only"
    disk = os.statvfs(path.parent)
    if disk.f_flag & os.ST_RDONLY:
        return "read_only"
    if disk.f_bavail * disk.f_frsize < MIN_FREE_BYTES:
        return "storage_full"
    return faults.recent(FAULT_MEMORY_SECONDS)


def after_error(exc: BaseException) -> ShopError | None:
    """An exception a request did not expect: if the database raised it, drop the
    connection (never back to the pool) and return the storage fault it stands for, to
    answer 503 instead of 500; None otherwise."""
    if is_busy(exc):  # a lock wait that ran out outside a write transaction
        return Busy("the shop is busy; try again in a moment", retry_after=1)
    if isinstance(exc, peewee.DatabaseError | sqlite3.DatabaseError | OSError):
        return recover(exc)
    return storage_fault(exc)


def prepare_schema(*, check: bool = False) -> list[str]:
    """Bring the database to the shop's schema (``shop serve``, once, not per worker; the
    commands that may start a shop): on SQLite, apply pending migrations, ``check``ing the
    file first (a damaged file is refused, not served); on PostgreSQL, the same migrations
    as ``shop migrate --database-url`` (the frozen baseline, then each later branch, under
    one advisory lock), so whichever command comes first builds the same schema with its
    ``migratehistory``, and the other finds nothing to do. Returns what was applied."""
    from shop.services.migrations import migrate, migrate_postgresql

    if engine() != "postgresql":
        if check:
            require_intact(quick=True)
        return migrate()
    return migrate_postgresql(database.obj)
