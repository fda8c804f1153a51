"""WAL checkpoints in a background thread, never inside a request's or a job's commit.

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
``INTERVAL_SECONDS``, on a connection of its own. Litestream (replication) keeps a read
transaction open so that no checkpoint passes what it has not copied yet; a PASSIVE one
respects that, as the automatic ones did.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.2  # at most five checkpoints a second per writing process


def checkpoint(path: str | Path) -> tuple[int, int, int] | None:
    """One PASSIVE checkpoint of ``path``: (busy, frames in the log, frames copied), or
    None when the file is gone or the checkpoint could not run (the next one catches up)."""
    try:
        # mode=rw: never create a file that was deleted or replaced in the meantime.
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=0,
                               isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        return conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error as exc:
        log.debug("checkpoint of %s skipped: %s", path, exc)
        return None
    finally:
        conn.close()


class Checkpointer:
    """A process's checkpointer: :meth:`committed` after each write, :meth:`stop` before
    the database file is closed for good or replaced."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a thread does not survive fork

    def _reset(self) -> None:
        self._running = threading.Lock()  # held while a checkpoint runs; stop() waits for it
        self._starting = threading.Lock()
        self._wake = threading.Event()
        self._path: str | None = None
        self._thread: threading.Thread | None = None

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

    def stop(self) -> None:
        """Return once no checkpoint is running, and start none until the next commit."""
        with self._running:
            self._path = None
            self._wake.clear()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            with self._running:
                self._wake.clear()
                if self._path is not None:
                    try:
                        checkpoint(self._path)
                    except Exception:  # the thread must outlive any one checkpoint
                        log.exception("checkpoint of %s failed", self._path)
            time.sleep(INTERVAL_SECONDS)  # commits meanwhile wait for the next one
