"""Helpers shared by the benchmarks: a raw sqlite3 connection with the shop's pragmas,
percentiles, a scratch folder, and the HTTP clients that load a shop on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import sqlite3
import time
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


class Client:
    """One keep-alive HTTP connection to the shop on 127.0.0.1. A failed call counts as
    status 0 and the next one reconnects, so a load loop never dies on one error."""

    def __init__(self, port: int, timeout: float = 30) -> None:
        self.port, self.timeout = port, timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def call(self, method: str, path: str, body: bytes | str | None = None,
             headers: dict[str, str] | None = None) -> int:
        try:
            self.conn.request(method, path, body, headers or {})
            response = self.conn.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                   timeout=self.timeout)
            return 0

    def close(self) -> None:
        self.conn.close()


def buyer(port: int, token: str, pid: int, until: float, out: list,
          attempts: int = 10**9) -> None:
    """Hold one unit and check it out, again and again until ``until`` (or ``attempts``):
    each pair's seconds and its last status go to ``out``."""
    client = Client(port)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for _ in range(attempts):
        if time.perf_counter() >= until:
            break
        start = time.perf_counter()
        status = client.call("POST", "/api/cart/items", json.dumps({"product_id": pid}),
                             headers)
        if status == 201:
            status = client.call("POST", "/api/checkout", "{}", headers)
        out.append((time.perf_counter() - start, status))
    client.close()
