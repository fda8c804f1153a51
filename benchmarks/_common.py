"""Helpers shared by the benchmarks: a raw sqlite3 connection with the shop's pragmas,
percentiles, and a scratch folder."""

from __future__ import annotations

import sqlite3
from pathlib import Path

PRAGMAS = ("foreign_keys = 1", "journal_mode = wal", "synchronous = normal",
           "busy_timeout = 5000")


def raw_connect(path: Path) -> sqlite3.Connection:
    """What the service layer is measured against: the standard library, same pragmas."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(f"PRAGMA {pragma}")
    return conn


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
