"""WAL checkpoints in a background thread, never inside a request's or a job's commit, and
a write-ahead log that stays bounded under steady writes.

SQLite copies its write-ahead log back into the database file (a checkpoint) inside the
COMMIT of whichever connection takes the log past 1,000 pages. That connection is serving a
request, or is a cron job's step still holding the shop's writer queue (:mod:`shop.db`), so
everyone queued behind it waits for the copy and its fsyncs. Measured beside a prune of
200,000 events: a checkout whose own commit checkpointed took 148 ms, one queued behind a
checkpointing job step 125 ms; with the checkpoints moved here the longest took 33 ms.

So the shop's connections turn automatic checkpoints off (``wal_autocheckpoint = 0``) and
every process that commits a write wakes its own checkpointer thread. It runs a PASSIVE
checkpoint, the kind SQLite's automatic ones are: it never waits for a reader or a writer,
and it copies only what no reader still needs. It does so at most every
``INTERVAL_SECONDS``, on a connection of its own.

A PASSIVE checkpoint never makes the log shorter. SQLite starts the log over from its
beginning only when a writer finds every frame already copied and no reader on an older
snapshot; under a steady stream of commits one always lands while the checkpoint copies, so
the log only grows (issue 20: 587 MB in 20 s of full-speed checkouts, a 40 MB disk full in
8 s). So when, after its PASSIVE pass, the log is over ``WAL_LIMIT_BYTES``, the thread takes
the shop's writer queue (the same lock and file lock every write transaction queues on, so
no commit can land meanwhile) and runs one TRUNCATE checkpoint: it copies what the PASSIVE
pass left (a fraction of a second's commits), waits at most ``READER_WAIT_MS`` for readers
still on an older snapshot, starts the log over and truncates the file to zero bytes.
Queued writers wait for that one short checkpoint, never for a commit that checkpoints.
If readers outlast the wait, SQLite copies what it can and leaves the log alone (the result
is "busy"); the thread then tries again only once the log has doubled, or after a PASSIVE
pass that copied every frame.

Litestream (replication) keeps a read transaction open between its own checkpoints so that
no checkpoint starts the log over before it has shipped every frame. SQLite honours that
read lock in every checkpoint mode: a TRUNCATE here then ends "busy" after
``READER_WAIT_MS``, having passed nothing Litestream has not copied. Litestream keeps the
log short itself (a PASSIVE checkpoint at 1,000 pages, under its own write lock), so with
it the limit here is rarely reached.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.2  # at most five checkpoints a second per writing process
WAL_LIMIT_BYTES = 16 * 2**20  # past this, one TRUNCATE checkpoint with writers held
READER_WAIT_MS = 50  # how long that checkpoint waits for readers on an older snapshot
NOT_STARTED = (1, -1, -1)  # a checkpoint's result when another one was running
WRITERS_WAIT_SECONDS = 1.0  # how long the thread queues for the writer lock before giving up


def _connect(path: str | Path, busy_timeout_ms: int) -> sqlite3.Connection | None:
    try:
        # mode=rw: never create a file that was deleted or replaced in the meantime.
        return sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True,
                               timeout=busy_timeout_ms / 1000, isolation_level=None)
    except sqlite3.Error:
        return None


def _run_checkpoint(path: str | Path, mode: str,
                    busy_timeout_ms: int) -> tuple[int, int, int] | None:
    conn = _connect(path, busy_timeout_ms)
    if conn is None:
        return None
    try:
        return conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    except sqlite3.Error as exc:
        log.debug("%s checkpoint of %s skipped: %s", mode, path, exc)
        return None
    finally:
        conn.close()


def checkpoint(path: str | Path) -> tuple[int, int, int] | None:
    """One PASSIVE checkpoint of ``path``: (busy, frames in the log, frames copied), or
    None when the file is gone or the checkpoint could not run (the next one catches up)."""
    return _run_checkpoint(path, "PASSIVE", 0)


def truncate(path: str | Path) -> tuple[int, int, int] | None:
    """One TRUNCATE checkpoint of ``path``: (0, 0, 0) when the log was started over and its
    file emptied; busy = 1 when a reader (or a writer outside the shop's queue, such as
    Litestream) outlasted ``READER_WAIT_MS``. Another process's checkpoint still running
    makes SQLite refuse at once (busy, -1, -1): it is tried again within the same wait."""
    conn = _connect(path, READER_WAIT_MS)
    if conn is None:
        return None
    deadline = time.monotonic() + READER_WAIT_MS / 1000
    try:
        while True:
            left_ms = max(1, round((deadline - time.monotonic()) * 1000))
            conn.execute(f"PRAGMA busy_timeout = {left_ms}")
            result = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if result != NOT_STARTED or time.monotonic() > deadline:
                return result
            time.sleep(0.001)
    except sqlite3.Error as exc:
        log.debug("TRUNCATE checkpoint of %s skipped: %s", path, exc)
        return None
    finally:
        conn.close()


def wal_size(path: str | Path) -> int:
    """Bytes in ``path``'s write-ahead log file (0 when there is none)."""
    try:
        return os.path.getsize(f"{path}-wal")
    except OSError:
        return 0


HoldWriters = Callable[[float], AbstractContextManager[bool]]


def _no_writer_queue(seconds: float) -> AbstractContextManager[bool]:
    return nullcontext(True)


class Checkpointer:
    """A process's checkpointer: :meth:`committed` after each write, :meth:`stop` before
    the database file is closed for good or replaced.

    ``hold_writers(seconds)`` is the shop's writer queue (:func:`shop.db.writers_held`): a
    context manager that yields True once no write transaction of the shop can run, or
    False when it could not get there within ``seconds``. ``wal_limit_bytes`` (None: never)
    is the log size past which the thread runs a TRUNCATE checkpoint with writers held."""

    def __init__(self, hold_writers: HoldWriters = _no_writer_queue,
                 wal_limit_bytes: int | None = WAL_LIMIT_BYTES) -> None:
        self.hold_writers = hold_writers
        self.wal_limit_bytes = wal_limit_bytes
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a thread does not survive fork

    def _reset(self) -> None:
        self._running = threading.Lock()  # held while a checkpoint runs; stop() waits for it
        self._starting = threading.Lock()
        self._wake = threading.Event()
        self._urgent = threading.Event()  # the log is over the limit: no pause first
        self._path: str | None = None
        self._thread: threading.Thread | None = None
        self._truncate_past: int | None = None  # after a busy TRUNCATE: the size to pass

    def committed(self, path: str) -> None:
        """A write transaction committed to ``path``: checkpoint soon, on another thread."""
        self._path = path
        if self._thread is None:
            with self._starting:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, daemon=True,
                                                    name="wal-checkpointer")
                    self._thread.start()
        self._wake.set()
        if self._over_limit(wal_size(path)):  # a stat: a few microseconds
            self._urgent.set()

    def _over_limit(self, size: int) -> bool:
        limit = self.wal_limit_bytes
        return limit is not None and size > max(limit, self._truncate_past or 0)

    def stop(self) -> None:
        """Return once no checkpoint is running, and start none until the next commit."""
        with self._running:
            self._path = None
            self._wake.clear()

    def finish(self) -> tuple[int, int, int] | None:
        """Before a process that wrote exits (a ``shop`` command): :meth:`stop`, then a
        PASSIVE pass and one TRUNCATE checkpoint with the shop's writers held (as the
        thread does past the limit: a live shop's writers wait only for what the PASSIVE
        pass left). The command then leaves the log empty, not as long as its last commits
        made it: a daemon thread dies with the process, mid-wait, and nothing closes the
        pooled connections before exit, so SQLite's checkpoint on the last close runs
        only if the interpreter's shutdown happens to close them (``seed-demo --products
        100000`` left 1.2 GB of log beside a 117 MB file).
        Its result; None when this process committed nothing since the last stop, the log
        is empty, there is no limit (Litestream's read lock would make it busy) or the
        writers stayed busy past ``WRITERS_WAIT_SECONDS``."""
        path = self._path
        self.stop()
        if path is None or self.wal_limit_bytes is None or wal_size(path) == 0:
            return None
        checkpoint(path)  # first copy what it can without holding anyone up, as _run does
        try:
            with self.hold_writers(WRITERS_WAIT_SECONDS) as held:
                return truncate(path) if held else None
        except OSError as exc:  # the writer lock file: the command's own error matters more
            log.debug("last checkpoint of %s skipped: %s", path, exc)
            return None

    def bound(self, path: str) -> tuple[int, int, int] | None:
        """If the log of ``path`` is over the limit: one TRUNCATE checkpoint with the
        shop's writers held, and its result; else None."""
        limit = self.wal_limit_bytes
        size = wal_size(path)
        if limit is None or size <= limit:
            self._truncate_past = None
            return None
        if not self._over_limit(size):
            return None
        with self.hold_writers(WRITERS_WAIT_SECONDS) as held:
            size = wal_size(path)
            if not held or size <= limit:  # another process's thread got there first
                return None
            result = truncate(path)
        if result is not None and result[0] and result != NOT_STARTED:
            # A reader held on (Litestream holds one for good): retry once the log has
            # doubled, so a reader that stays costs a few waits, not one a limit.
            self._truncate_past = 2 * size
            log.info("WAL of %s is %d bytes; a reader held it past %d ms", path, size,
                     READER_WAIT_MS)
        else:
            self._truncate_past = None
        return result

    def _run(self) -> None:
        while True:
            self._wake.wait()
            with self._running:
                self._wake.clear()
                path = self._path
                if path is not None:
                    try:
                        result = checkpoint(path)
                        if result is not None and result[0] == 0 and result[1] == result[2]:
                            self._truncate_past = None  # no reader holds the log back now
                        self.bound(path)
                    except Exception:  # the thread must outlive any one checkpoint
                        log.exception("checkpoint of %s failed", path)
            # Commits meanwhile wait for the next one, unless one finds the log over the limit.
            self._urgent.wait(INTERVAL_SECONDS)
            self._urgent.clear()
