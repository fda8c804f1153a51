"""Continuous replication (issue 9, item 4): a shop serving with SHOP_REPLICA_URL is
killed with SIGKILL mid-traffic, its database is deleted, and `shop restore
--from-replica` brings back every order answered more than a few seconds before."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from shop.db import database, init_database
from shop.services import accounts, catalogue, stock
from shop.services.migrations import migrate
from tests.servers import BOOT_SECONDS, free_port

# sqlite_only: Litestream replicates a SQLite file.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]
SHOP = str(Path(sys.executable).with_name("shop"))
SAFE_SECONDS = 3.0  # orders answered this long before the kill must survive


def _post(url: str, body: dict, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_a_killed_shop_comes_back_from_its_replica(tmp_path) -> None:
    path = tmp_path / "data" / "shop.db"
    replica = f"file://{tmp_path / 'replica'}"
    init_database(path)
    migrate()
    token = accounts.register("buyer@example.com", "a long enough password", "B").token
    pid = catalogue.create_product({"sku": "R-1", "title": "Coat", "category": "coats",
                                    "condition": "good", "price_cents": 100,
                                    "status": "active"})["id"]
    stock.adjust(pid, 10_000, "restock")
    database.close()

    port = free_port()
    env = {**os.environ, "SHOP_REPLICA_URL": replica}
    server = subprocess.Popen([SHOP, "--database", str(path), "serve", "--bind",
                               f"127.0.0.1:{port}", "--workers", "2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    answered: list[tuple[float, str]] = []
    try:
        booted = time.monotonic() + BOOT_SECONDS  # a bound: the loop ends at the first answer
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).close()
                break
            except OSError:
                # Said here, not as a connection error at the first checkout.
                assert server.poll() is None, "shop serve exited"
                assert time.monotonic() < booted, f"shop serve did not start in {BOOT_SECONDS} s"
                time.sleep(0.2)
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:  # bounded: about 6 s of checkouts
            assert _post(base + "/api/cart/items", {"product_id": pid}, token)[0] == 201
            status, body = _post(base + "/api/checkout", {}, token)
            assert status == 201, body
            answered.append((time.monotonic(), body["order"]["order_number"]))
    finally:
        killed_at = time.monotonic()
        os.killpg(server.pid, signal.SIGKILL)  # litestream, gunicorn and its workers
        server.wait(30)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)

    restored = subprocess.run([SHOP, "--database", str(path), "restore", "--from-replica"],
                              env=env, capture_output=True, text=True, timeout=300)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    conn = sqlite3.connect(path)
    try:
        present = {r[0] for r in conn.execute("SELECT order_number FROM orders")}
    finally:
        conn.close()
    old_enough = [n for t, n in answered if killed_at - t > SAFE_SECONDS]
    assert len(answered) > 10 and old_enough
    assert set(old_enough) <= present
    lost = [killed_at - t for t, n in answered if n not in present]
    print(f"recovery point: {len(answered)} orders answered, {len(lost)} lost; the oldest "
          f"lost one was answered {max(lost, default=0):.2f} s before the kill")
    verify = subprocess.run([SHOP, "--database", str(path), "stock", "verify"],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout
