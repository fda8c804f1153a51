"""Checkout under real concurrency: a real gunicorn with 4 workers on 127.0.0.1, real
threads as buyers (issue 7, tests a and b), and lock contention as a 503 (item 6)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from shop.db import database, init_database
from shop.services import accounts, catalogue, stock
from shop.services.migrations import migrate
from tests import engine
from tests.servers import running_shop
from tests.shopping import rows

pytestmark = pytest.mark.slow
BUYERS, UNITS, ROUNDS = 40, 3, 5


def _call(url: str, method: str, body: dict | None, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method, headers={
        "Content-Type": "application/json", **headers},
        data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory,
         module_database_url: str | None) -> Iterator[dict]:
    """One shop for the module: a migrated file, or on the PostgreSQL run the module's
    fresh database (``target``), the server and `shop stock verify` told by ``env``."""
    path: Path = tmp_path_factory.mktemp("races") / "shop.db"
    target = module_database_url or path
    env = {"SHOP_DATABASE_URL": module_database_url} if module_database_url else {}
    init_database(target)
    if module_database_url is None:
        migrate()
    tokens = [accounts.register(f"buyer{n}@example.com", "a long enough password",
                                f"Buyer {n}").token for n in range(BUYERS)]
    pid = catalogue.create_product({"sku": "LAST-ONES", "title": "Last ones",
                                    "category": "coats", "condition": "good",
                                    "price_cents": 4000, "status": "active"})["id"]
    database.close()
    with running_shop(path, workers=4, env=env) as base:
        yield {"base": base, "path": path, "target": target, "url": module_database_url,
               "env": env, "tokens": tokens, "product": pid}


def _rows(shop: dict, sql: str, *params) -> list[tuple]:
    """What a connection of its own reads from the module's database (tests/engine.py
    reads a test's own database: pointed at the module's for this read)."""
    previous, engine.current_url = engine.current_url, shop["url"]
    try:
        return rows(shop["path"], sql, *params)
    finally:
        engine.current_url = previous


def _race(base: str, pid: int, tokens: list[str]) -> tuple[list[int], list[int]]:
    """Every buyer at once: hold one unit, and check out if the hold was granted."""
    start = threading.Barrier(len(tokens))
    holds: list[int] = []
    checkouts: list[int] = []

    def buy(token: str) -> None:
        auth = {"Authorization": f"Bearer {token}"}
        start.wait(30)
        status, _ = _call(base + "/api/cart/items", "POST",
                          {"product_id": pid, "quantity": 1}, auth)
        holds.append(status)
        if status == 201:
            checkouts.append(_call(base + "/api/checkout", "POST", {}, auth)[0])

    threads = [threading.Thread(target=buy, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return holds, checkouts


def test_forty_buyers_race_for_the_last_three_units(shop) -> None:
    base, pid = shop["base"], shop["product"]
    for round_ in range(ROUNDS):
        init_database(shop["target"])
        stock.adjust(pid, UNITS, "restock", note=f"round {round_}")
        database.close()
        holds, checkouts = _race(base, pid, shop["tokens"])
        assert Counter(holds) == {201: UNITS, 409: BUYERS - UNITS}, (round_, Counter(holds))
        assert checkouts == [201] * UNITS, round_
        sold = _rows(shop, "SELECT count(*) FROM orders")[0][0]
        assert sold == UNITS * (round_ + 1)
    assert _rows(shop, "SELECT stock_quantity FROM products WHERE id = ?", pid) == [(0,)]
    verify = subprocess.run([str(Path(sys.executable).with_name("shop")), "--database",
                             str(shop["path"]), "stock", "verify"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, **shop["env"]})
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_eight_identical_checkouts_make_one_order(shop) -> None:
    base, pid, token = shop["base"], shop["product"], shop["tokens"][0]
    init_database(shop["target"])
    stock.adjust(pid, 1, "restock", note="idempotency race")
    database.close()
    auth = {"Authorization": f"Bearer {token}"}
    assert _call(base + "/api/cart/items", "POST", {"product_id": pid, "quantity": 1},
                 auth)[0] == 201
    before = _rows(shop, "SELECT count(*) FROM orders")[0][0]
    start = threading.Barrier(8)
    answers: list[tuple[int, dict]] = []

    def checkout() -> None:
        start.wait(30)
        answers.append(_call(base + "/api/checkout", "POST", {"shipping_method": "collect"},
                             {**auth, "Idempotency-Key": "race-1"}))

    threads = [threading.Thread(target=checkout) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(answers) == 8
    assert {status for status, _ in answers} <= {201, 409}
    numbers = {body["order"]["order_number"] for status, body in answers if status == 201}
    assert len(numbers) == 1  # every 201 is the same order
    assert _rows(shop, "SELECT count(*) FROM orders")[0][0] == before + 1


@pytest.mark.sqlite_only  # the SQLite write lock; PostgreSQL: test_postgresql_servers.py
def test_a_write_waiting_past_the_busy_timeout_is_a_503(app, client, customer_headers,
                                                        db_path) -> None:
    """Another connection holds the write lock for longer than the busy timeout (5 s):
    the shop answers 503 busy with Retry-After, never a 500, and writes nothing."""
    init_database(db_path)
    pid = catalogue.create_product({"sku": "B-1", "title": "Busy", "category": "coats",
                                    "condition": "good", "price_cents": 100,
                                    "status": "active"})["id"]
    stock.adjust(pid, 2, "restock")
    database.close()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        r = client.post("/api/cart/items", json={"product_id": pid, "quantity": 1},
                        headers=customer_headers)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert r.status_code == 503
    assert r.get_json()["error"]["code"] == "busy" and r.headers["Retry-After"] == "1"
    assert rows(db_path, "SELECT count(*) FROM product_reservations") == [(0,)]


def test_a_sellers_accept_racing_the_shops_new_offer_over_http(shop) -> None:
    """Issue 8's race over gunicorn: each round exactly one of the two wins (the accept,
    since an open offer cannot be replaced), and the history shows exactly that."""
    base = shop["base"]
    init_database(shop["target"])
    accounts.create_admin("owner@example.com", "the owner's password")
    admin = {"Authorization": "Bearer " + accounts.login(
        "owner@example.com", "the owner's password", "race").token}
    database.close()
    seller = {"Authorization": f"Bearer {shop['tokens'][1]}"}
    item = {"title": "Coat", "category": "coats", "condition": "good"}
    for _ in range(5):
        status, body = _call(base + "/api/sell", "POST", {"items": [item]}, seller)
        assert status == 201, body
        batch = body["submission"]["batch_id"]
        admin_url = f"{base}/api/admin/submissions/{batch}"
        _call(admin_url + "/review", "POST", {"status": "reviewing"}, admin)
        _call(admin_url + "/offer", "POST", {"offered_price_cents": 3000}, admin)
        start = threading.Barrier(2)
        answers: dict[str, int] = {}

        def accept(batch: str = batch, start: threading.Barrier = start,
                   answers: dict = answers) -> None:
            start.wait(30)
            answers["accept"] = _call(f"{base}/api/offers/{batch}/respond", "POST",
                                      {"response": "accept"}, seller)[0]

        def new_offer(url: str = admin_url, start: threading.Barrier = start,
                      answers: dict = answers) -> None:
            start.wait(30)
            answers["offer"] = _call(url + "/offer", "POST", {"offered_price_cents": 2000},
                                     admin)[0]

        threads = [threading.Thread(target=accept), threading.Thread(target=new_offer)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert answers == {"accept": 200, "offer": 409}, answers
        history = _call(admin_url, "GET", None, admin)[1]["submission"]
        assert [e["action"] for e in history["offer_events"]] == ["review", "offer", "accept"]
        assert history["final_price_cents"] == 3000
