"""The cron jobs' runs (``job_runs``) and what the Operations page reports about the shop's
upkeep: the last run of each job, the last backup and its check, the replica, the storage.

``with jobs.run("backup") as job: ...`` records one run of a cron command: a row in one
short write transaction when it starts, its outcome in another when it ends, so the
write lock is never held across the job. A failure is recorded with the error's class
and message, whitespace folded, credentials in addresses masked, bounded in length; the
error then goes on to the caller as before. Recording is best effort: a database that
cannot take the row (a full disk, a read-only file, a long lock, a server that cannot be
reached) never stops the job, which then meets the same fault and says so, or does its
work (a read-only check) and goes unrecorded; a row it could not start is written whole
at the end if it can be. A run left unrecorded is logged once, at its end, unless the
job itself failed with that same fault: its caller reports that error, and one line of
it is enough (a command that cannot reach its database says so once, not three times).
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import peewee

from shop import clock
from shop.config import get_settings
from shop.db import database, write_transaction
from shop.errors import Busy, ShopError, StorageError, storage_fault
from shop.models import JobRun
from shop.services import backup, system
from shop.services.pagination import DEFAULT_LIMIT, Page, newest_first

log = logging.getLogger(__name__)

# The cron commands, by the slug their runs are recorded under, in the order the
# Operations page lists them (scripts/crontab.example runs them).
JOBS: dict[str, str] = {
    "expire-reservations": "Release expired cart holds",
    "orders-expire-unpaid": "Cancel unpaid orders, settle pending refunds",
    "mail-send": "Send queued mail",
    "offers-expire": "Expire unanswered offers",
    "offers-remind": "Remind sellers of offers about to expire",
    "analytics-rollup": "Roll up yesterday's analytics",
    "analytics-prune": "Delete old events, logs and runs",
    "media-gc": "Delete photo files nothing names",
    "stock-verify": "Check the file and the stock ledger",
    "backup": "Back up the database",
}
DETAIL_LENGTH = 1000  # the CHECK on job_runs.detail
# user:password@ (or token@) in an address: never written to a row anyone can read.
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")


@dataclass
class Run:
    """One run under way: the caller may set ``detail`` to what it did (one line)."""

    job: str
    started_at: datetime
    id: int | None = None
    detail: str | None = field(default=None)


def describe(exc: BaseException) -> str:
    """An error as one bounded line for ``job_runs.detail``: its class and its message."""
    message = exc.message if isinstance(exc, ShopError) else str(exc)
    return bounded(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


def bounded(text: str) -> str:
    """``text`` on one line, credentials masked, at most DETAIL_LENGTH characters."""
    line = _CREDENTIALS.sub(r"\1***@", " ".join(text.split()))
    return line if len(line) <= DETAIL_LENGTH else line[:DETAIL_LENGTH - 1] + "…"


_RECORDING_FAULTS = (ShopError, peewee.DatabaseError, sqlite3.DatabaseError, OSError)


def _recorded(write: Any) -> tuple[Any, BaseException | None]:
    """Run one recording write: its result, or None and the error of a database that
    cannot take it (the caller decides whether anyone needs telling)."""
    try:
        with write_transaction():
            return write(), None
    except _RECORDING_FAULTS as exc:
        return None, exc


@contextmanager
def run(job: str) -> Iterator[Run]:
    """Record a run of ``job`` around the block: ``ok`` when it ends normally (or exits
    with status 0), ``failed`` with the error (or the exit status) otherwise."""
    handle = Run(job, clock.now())
    handle.id, _ = _recorded(
        lambda: JobRun.create(job=job, started_at=handle.started_at).id)
    try:
        yield handle
    except SystemExit as exc:  # a command that reports its own failure exits non-zero
        ok = exc.code in (0, None)
        _finish(handle, "ok" if ok else "failed",
                handle.detail or ("" if ok else f"exit status {exc.code}"))
        raise
    except BaseException as exc:
        _finish(handle, "failed", describe(exc), failure=exc)
        raise
    _finish(handle, "ok", handle.detail or "")


def _finish(handle: Run, outcome: str, detail: str, *,
            failure: BaseException | None = None) -> None:
    """Record the run's end (or, if its start went unrecorded, the whole run). If that
    cannot be written either, say so once, unless ``failure``, the job's own error, is the
    same fault: the caller reports it, and the missing row follows from it."""
    values = {"finished_at": clock.now(), "outcome": outcome,
              "detail": bounded(detail) if detail else None}

    def write() -> None:
        if handle.id is not None:
            JobRun.update(values).where(JobRun.id == handle.id).execute()
        else:  # the start could not be recorded: the whole run, now
            JobRun.create(job=handle.job, started_at=handle.started_at, **values)

    _, unrecorded = _recorded(write)
    if unrecorded is None:
        return
    if failure is not None and _same_fault(failure, unrecorded):
        log.debug("the %s run is not recorded: %s", handle.job, describe(unrecorded))
        return
    log.warning("the %s run (%s) could not be recorded: %s", handle.job, outcome,
                describe(unrecorded))


def _fault_code(exc: BaseException) -> str | None:
    """The code of the database fault an error is (a driver's error by the storage fault
    behind it), or None for any other error."""
    if isinstance(exc, StorageError | Busy):
        return exc.code
    fault = storage_fault(exc)
    return fault.code if fault is not None else None


def _same_fault(failure: BaseException, unrecorded: BaseException) -> bool:
    """Whether the job failed with the fault that kept its run from being recorded (a
    server that cannot be reached, a full disk, a lock held too long)."""
    code = _fault_code(unrecorded)
    return code is not None and code == _fault_code(failure)


def _plain(row: JobRun) -> dict[str, Any]:
    seconds = ((row.finished_at - row.started_at).total_seconds()
               if row.finished_at is not None else None)
    return {"id": row.id, "job": row.job, "started_at": row.started_at,
            "finished_at": row.finished_at, "outcome": row.outcome, "detail": row.detail,
            "seconds": seconds}


def last_run(job: str, outcome: str | None = None) -> dict[str, Any] | None:
    """The newest run of ``job`` (with that ``outcome``, if given): the end of its range
    of the (job, started_at) index, read backwards."""
    select = JobRun.select().where(JobRun.job == job)
    if outcome is not None:
        select = select.where(JobRun.outcome == outcome)
    row = select.order_by(JobRun.started_at.desc(), JobRun.id.desc()).first()
    return _plain(row) if row is not None else None


def runs(job: str, *, limit: int = DEFAULT_LIMIT,
         cursor: str | None = None) -> Page[dict[str, Any]]:
    """A job's runs, newest first (keyset pages on (started_at, id))."""
    page = newest_first(JobRun.select().where(JobRun.job == job), JobRun.started_at,
                        JobRun.id, f"job_runs:{job}", limit, cursor)
    return Page([_plain(r) for r in page.items], page.next_cursor)


def retention(cutoff: datetime) -> peewee.Expression:
    """The runs ``shop analytics prune`` deletes: started before ``cutoff``, except each
    job's newest run, so the Operations page never forgets a job that ran once."""
    newer = JobRun.alias("newer")
    later_run = newer.select(peewee.SQL("1")).where(
        (newer.job == JobRun.job) & (newer.started_at > JobRun.started_at))
    return (JobRun.started_at < cutoff) & peewee.fn.EXISTS(later_run)


def _mask(url: str) -> str:
    return _CREDENTIALS.sub(r"\1***@", url)


LITESTREAM_FILES_LOOKED_AT = 2000


def replica_status() -> dict[str, Any]:
    """Whether the database is replicated (SHOP_REPLICA_URL, credentials masked), whether
    the litestream program is there, and when Litestream last captured a change beside
    the database (the newest file of its ``.NAME-litestream`` folder, which it keeps while
    ``shop serve`` replicates). Nothing is asked of the replica itself: a page must not
    wait on a network."""
    url = get_settings().replica_url
    program = backup.litestream()
    found = os.path.isabs(program) and Path(program).is_file()
    folder = Path(database.database)
    folder = folder.with_name(f".{folder.name}-litestream")
    newest = _newest_file(folder) if folder.is_dir() else None
    return {"configured": bool(url), "url": _mask(url) if url else None,
            "litestream": program if found else None, "last_captured": newest}


def _newest_file(folder: Path) -> datetime | None:
    """When the newest of the first LITESTREAM_FILES_LOOKED_AT files in ``folder`` changed."""
    newest: datetime | None = None
    seen = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            seen += 1
            if seen > LITESTREAM_FILES_LOOKED_AT:
                return newest
            try:
                stamp = datetime.fromtimestamp(os.stat(Path(root, name)).st_mtime, UTC)
            except OSError:
                continue
            newest = stamp if newest is None or stamp > newest else newest
    return newest


def overview() -> dict[str, Any]:
    """Everything the Operations page shows: each job's last run, the last backup (and
    the last good one, when the last failed), the replica and the storage's health."""
    jobs = [{"job": job, "label": label, "last": last_run(job)} for job, label in JOBS.items()]
    return {"jobs": jobs,
            "backup": {"last": last_run("backup"), "last_ok": last_run("backup", "ok")},
            "replica": replica_status(),
            "storage": system.storage_health()}
