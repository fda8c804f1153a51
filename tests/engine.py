"""The test's database as a client beside the shop sees it, on either engine.

``connect(db_path)`` is ``sqlite3.connect(db_path)`` on SQLite; on the PostgreSQL run
(``SHOP_TEST_ENGINE=postgresql``) it opens this test's PostgreSQL database instead, and
takes the same SQL (``?`` placeholders become ``%s``). Tests that read or write rows
behind the shop's back use it, so they run on both engines unchanged.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from typing import Any

ENGINE = os.environ.get("SHOP_TEST_ENGINE", "sqlite")
current_url: str | None = None  # set by the database_url fixture on the PostgreSQL run


def postgresql() -> bool:
    return ENGINE == "postgresql"


class _Connection:
    """psycopg with sqlite3's surface: execute(), commit(), close(), ``with`` commits."""

    def __init__(self, url: str) -> None:
        import psycopg

        self._conn = psycopg.connect(url)

    def execute(self, sql: str, params: Any = ()) -> Any:
        # SQLite's group_concat(x) is PostgreSQL's string_agg (here in the order of x).
        sql = re.sub(r"group_concat\(([\w.]+)\)", r"string_agg(\1::text, ',' ORDER BY \1)", sql)
        parts = re.split(r"('(?:[^']|'')*')", sql)
        sql = "".join(p if i % 2 else p.replace("%", "%%").replace("?", "%s")
                      for i, p in enumerate(parts)) if params else sql
        return self._conn.execute(sql, params or None)

    def executescript(self, script: str) -> None:
        for statement in script.split(";"):
            if statement.strip():
                self._conn.execute(statement)
        self._conn.commit()

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, kind, *_rest) -> None:
        if kind is None:
            self._conn.commit()
        else:
            self._conn.rollback()


def connect(db_path: str | Path) -> Any:
    """A connection of its own to the test's database (the file, or PostgreSQL's)."""
    if postgresql():
        assert current_url is not None, "the test has no PostgreSQL database (database_url)"
        return _Connection(current_url)
    return sqlite3.connect(db_path)
