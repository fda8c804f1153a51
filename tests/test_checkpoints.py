"""WAL checkpoints run on the shop's background thread, never inside a commit.

Whether a row has reached the database file (rather than only the write-ahead log) is read
from the file's bytes, so these tests see what SQLite did, not what the code says.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from shop import checkpoints
from shop.db import checkpointer, database, init_database, write_transaction

# sqlite_only: WAL checkpoints, read from the file's bytes.
pytestmark = pytest.mark.sqlite_only

LOG_ROW = ("INSERT INTO system_logs (level, source, message, created_at) "
           "VALUES ('info', 'test', ?, '2026-01-01T00:00:00Z')")
WAIT_SECONDS = 10


def log_marker(marker: str, *, padding_pages: int = 0) -> None:
    """One write transaction: the marker row, after ``padding_pages`` pages of filler."""
    with write_transaction():
        for n in range(padding_pages):
            database.execute_sql(LOG_ROW, (f"filler {n} " + "x" * 4000,))
        database.execute_sql(LOG_ROW, (marker,))


def in_main_file(path: Path, marker: str) -> bool:
    return marker.encode() in path.read_bytes()


def until(condition, seconds: float = WAIT_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_shop_connections_leave_checkpoints_to_the_thread(db: Path) -> None:
    assert database.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_commit_returns_without_checkpointing_and_the_thread_then_does(db: Path,
                                                                        monkeypatch) -> None:
    """1,200 pages pass SQLite's automatic threshold (1,000): had the commit checkpointed,
    the marker would be in the file before the held-back thread ran."""
    release = threading.Event()
    ran: list[tuple | None] = []
    real = checkpoints.checkpoint

    def held_back(path):
        release.wait(WAIT_SECONDS)
        ran.append(real(path))
        return ran[-1]

    monkeypatch.setattr(checkpoints, "checkpoint", held_back)
    log_marker("marker-after-a-big-commit", padding_pages=1200)
    assert not in_main_file(db, "marker-after-a-big-commit")
    release.set()
    assert until(lambda: ran) and in_main_file(db, "marker-after-a-big-commit")
    busy, frames, copied = ran[0]
    assert busy == 0 and frames >= 1200 and copied == frames


def test_small_commits_reach_the_file_while_connections_stay_open(db: Path) -> None:
    for n in range(3):
        log_marker(f"small-marker-{n}")
        assert until(lambda n=n: in_main_file(db, f"small-marker-{n}"))


def test_no_checkpoint_after_stop_and_none_creates_a_deleted_file(db: Path,
                                                                  tmp_path: Path) -> None:
    gone = tmp_path / "gone.db"
    assert checkpoints.checkpoint(gone) is None
    assert not gone.exists()
    checkpointer.stop()
    log_marker("marker-after-stop")  # the next commit starts them again
    assert until(lambda: in_main_file(db, "marker-after-stop"))


def _child_writes(path: str, wrote, done) -> None:
    init_database(path)
    log_marker("marker-from-a-forked-child")
    wrote.set()
    done.wait(WAIT_SECONDS)  # keep the connection open: only a checkpoint moves the row


def test_a_forked_process_checkpoints_its_own_commits(db: Path) -> None:
    """The parent's thread did not survive the fork; the child starts its own."""
    log_marker("marker-from-the-parent")  # the parent's thread exists before the fork...
    assert until(lambda: in_main_file(db, "marker-from-the-parent"))  # ...and is idle
    context = multiprocessing.get_context("fork")
    wrote, done = context.Event(), context.Event()
    child = context.Process(target=_child_writes, args=(str(db), wrote, done))
    child.start()
    try:
        assert wrote.wait(WAIT_SECONDS)
        assert until(lambda: in_main_file(db, "marker-from-a-forked-child"))
    finally:
        done.set()
        child.join(WAIT_SECONDS)
    assert child.exitcode == 0


# A bounded WAL (issue 20). A reader's open snapshot stands for Litestream's read lock, or
# a slow request: while it is open no checkpoint may start the log over, so the log grows.
LIMIT = 64 * 4096  # 64 pages; the shop's is checkpoints.WAL_LIMIT_BYTES
PAGES = 4  # filler pages a commit
ONE_COMMIT = 4 * PAGES * (4096 + 24)  # the pages a commit writes, generously (and indexes)


def _grow_past_the_limit_behind_a_reader(db: Path) -> None:
    """Commits while a reader holds a snapshot: the log passes the limit; the reader still
    reads its snapshot (no checkpoint passed it); then it ends and more commits come."""
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    before = reader.execute("SELECT count(*) FROM system_logs").fetchone()[0]
    n = 0
    while checkpoints.wal_size(db) <= 2 * LIMIT and n < 200:
        log_marker(f"held-{n}", padding_pages=PAGES)
        n += 1
    assert checkpoints.wal_size(db) > 2 * LIMIT  # the reader pinned the log
    assert reader.execute("SELECT count(*) FROM system_logs").fetchone()[0] == before
    reader.execute("COMMIT")
    reader.close()
    for m in range(5):
        log_marker(f"after-the-reader-{m}", padding_pages=PAGES)


def test_the_wal_is_cut_back_to_the_limit_once_no_reader_holds_it(db: Path,
                                                                  monkeypatch) -> None:
    monkeypatch.setattr(checkpointer, "wal_limit_bytes", LIMIT)
    _grow_past_the_limit_behind_a_reader(db)
    assert until(lambda: in_main_file(db, "after-the-reader-4"))
    assert until(lambda: checkpoints.wal_size(db) <= LIMIT + ONE_COMMIT)
    for n in range(3 * LIMIT // ONE_COMMIT):  # and it stays there
        log_marker(f"steady-{n}", padding_pages=PAGES)
        assert checkpoints.wal_size(db) <= LIMIT + 2 * ONE_COMMIT
    assert until(lambda: checkpoints.wal_size(db) <= LIMIT + ONE_COMMIT)


def test_passive_checkpoints_alone_leave_the_wal_at_its_largest(db: Path,
                                                               monkeypatch) -> None:
    """The shop before issue 20: once grown, the log file never shrinks."""
    monkeypatch.setattr(checkpointer, "wal_limit_bytes", None)
    _grow_past_the_limit_behind_a_reader(db)
    assert until(lambda: in_main_file(db, "after-the-reader-4"))
    checkpointer.stop()  # the last checkpoint has run
    assert checkpoints.wal_size(db) > 2 * LIMIT


def test_a_reader_that_stays_is_waited_for_briefly_then_left_alone(db: Path,
                                                                   monkeypatch) -> None:
    """A TRUNCATE that a reader outlasts ends busy, passes nothing, and is not retried on
    every commit (Litestream holds its read lock between its own checkpoints)."""
    monkeypatch.setattr(checkpointer, "wal_limit_bytes", LIMIT)
    ran: list[tuple | None] = []
    real = checkpoints.truncate
    monkeypatch.setattr(checkpoints, "truncate", lambda path: ran.append(real(path)) or ran[-1])
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    before = reader.execute("SELECT count(*) FROM system_logs").fetchone()[0]
    for n in range(2 * LIMIT // ONE_COMMIT + 4):
        log_marker(f"pinned-{n}", padding_pages=PAGES)
    assert until(lambda: ran)
    checkpointer.stop()
    assert ran[0][0] == 1  # busy: the reader outlasted the wait
    assert len(ran) <= 2  # then it waits for the log to double
    assert reader.execute("SELECT count(*) FROM system_logs").fetchone()[0] == before
    reader.execute("COMMIT")
    reader.close()


def test_with_a_replica_the_wal_bound_is_litestreams(tmp_path) -> None:
    """Litestream's read lock makes the shop's TRUNCATE busy every time (measured with
    benchmarks/wal_growth.py --replica): with SHOP_REPLICA_URL set the shop leaves the
    bound to Litestream's own checkpoints, and keeps it without."""
    from shop.checkpoints import WAL_LIMIT_BYTES
    from shop.config import Settings
    from shop.db import checkpointer
    from shop.services import system

    base = Settings.from_env().with_overrides({"DATABASE": tmp_path / "shop.db"})
    try:
        system.configure(base.with_overrides({"REPLICA_URL": "file:///tmp/replica"}))
        assert checkpointer.wal_limit_bytes is None
        system.configure(base)
        assert checkpointer.wal_limit_bytes == WAL_LIMIT_BYTES
    finally:
        system.configure(base)


SEEDED = 1500  # three of seed-demo's transactions, each over LIMIT of log at this size


def test_a_command_that_wrote_leaves_an_empty_wal_when_it_exits(tmp_path) -> None:
    """``seed-demo --products`` in a process of its own, the shop's limit lowered to LIMIT
    as above: its checkpointer thread dies with the process, and nothing closes the log on
    the way out, so the command itself leaves it empty (before: the last commits' and the
    statistics' pages, 1.2 GB after 100,000 products). Every product is in the file."""
    path = tmp_path / "shop.db"
    program = ("import sys; from shop.services import system; "
               f"system.WAL_LIMIT_BYTES = {LIMIT}; "
               "from shop.cli import main; main(sys.argv[1:], prog_name='shop')")

    def shop(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", program, "--database", str(path), *args],
                              capture_output=True, text=True, timeout=300)

    assert shop("migrate").returncode == 0
    seeded = shop("seed-demo", "--password", "demo password 1", "--products", str(SEEDED))
    assert seeded.returncode == 0, seeded.stderr
    assert f"generated {SEEDED} product(s)" in seeded.stdout
    assert checkpoints.wal_size(path) == 0
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM products").fetchone()[0] == 6 + SEEDED
        assert conn.execute("SELECT count(*) FROM products WHERE sku LIKE 'GEN-%'"
                            ).fetchone()[0] == SEEDED
    finally:
        conn.close()
    verified = shop("stock", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert checkpoints.wal_size(path) == 0  # a command that only read leaves it as it was
