"""Connection pragmas, BEGIN IMMEDIATE, and lock contention becoming ``busy``."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from shop.db import database, init_database, write_transaction
from shop.errors import Busy

# sqlite_only: the connection's PRAGMAs and SQLite's one write lock.
pytestmark = pytest.mark.sqlite_only


def _pragmas() -> dict[str, object]:
    return {name: database.execute_sql(f"PRAGMA {name}").fetchone()[0]
            for name in ("foreign_keys", "journal_mode", "synchronous", "busy_timeout")}


def _in_threads(work, count: int) -> list[BaseException]:
    """Run ``work`` in ``count`` threads, each with its own connection; return their errors."""
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            work()
        except BaseException as exc:
            errors.append(exc)
        finally:
            database.close()

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_every_connection_gets_the_pragmas_in_every_thread(db) -> None:
    seen: list[dict[str, object]] = []
    assert _in_threads(lambda: seen.append(_pragmas()), 6) == []
    assert len(seen) == 6
    for pragmas in seen:
        # synchronous NORMAL is 1; busy_timeout is in milliseconds
        assert pragmas == {"foreign_keys": 1, "journal_mode": "wal", "synchronous": 1,
                           "busy_timeout": 5000}


def test_memory_databases_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="memory"):
        init_database(":memory:")


def test_write_transaction_begins_immediate(db) -> None:
    statements: list[str] = []
    database.connection().set_trace_callback(statements.append)
    try:
        with write_transaction():
            database.execute_sql("SELECT 1")
    finally:
        database.connection().set_trace_callback(None)
    assert statements[0] == "BEGIN IMMEDIATE"
    assert statements[-1] == "COMMIT"


def test_a_lock_held_past_the_busy_timeout_becomes_busy(db) -> None:
    """Another writer holds the lock; after busy_timeout (5 s) the service answers Busy."""
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Busy) as caught, write_transaction():
            pass
        assert caught.value.retry_after == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with write_transaction():  # the lock is free again
        pass


def test_concurrent_writers_wait_for_each_other_instead_of_failing(db) -> None:
    """Read-then-write transactions in many threads: none fails with 'database is locked'."""
    database.execute_sql("CREATE TABLE counter (n INTEGER NOT NULL)")
    database.execute_sql("INSERT INTO counter VALUES (0)")
    database.close()

    def bump() -> None:
        for _ in range(20):
            with write_transaction():
                n = database.execute_sql("SELECT n FROM counter").fetchone()[0]
                database.execute_sql("UPDATE counter SET n = ?", (n + 1,))

    assert _in_threads(bump, 4) == []
    assert database.execute_sql("SELECT n FROM counter").fetchone()[0] == 80


def test_a_pooled_connection_keeps_its_busy_timeout_after_a_request(app, client) -> None:
    """close_connection() lowers the busy timeout for PRAGMA optimize; the connection then
    goes back to the pool, and the next request must wait for locks as usual."""
    from shop.services import system

    assert client.get("/api/products").status_code == 200
    assert database.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 5000
    system.close_connection()
    assert database.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_pragma_optimize_runs_at_most_every_interval_per_process(app, monkeypatch) -> None:
    """Requests' closes run PRAGMA optimize once per OPTIMIZE_EVERY_SECONDS, not each time
    (its statements cost every request a slice of the writer queue)."""
    from shop.services import system

    monkeypatch.setattr(system, "_optimize_due", 0.0)
    statements: list[str] = []
    database.connection().set_trace_callback(statements.append)
    try:
        for _ in range(3):
            database.connection()
            system.close_connection()
        assert sum("PRAGMA optimize" in s for s in statements) == 1
        monkeypatch.setattr(system, "_optimize_due", 0.0)  # the interval has passed
        database.connection()
        system.close_connection()
        assert sum("PRAGMA optimize" in s for s in statements) == 2
    finally:
        database.connection().set_trace_callback(None)
        database.close()
