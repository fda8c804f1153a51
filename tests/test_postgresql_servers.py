"""Several app servers against one PostgreSQL (docs/scaling.md): the scale-out proof.

Two real ``shop serve`` (gunicorn, each in its own process group, on its own port) share one
PostgreSQL database; buyers split across them race for the last units, and the database
alone keeps the count: exactly as many orders as units, none oversold, the ledger clean.
And one clock: an app server whose own clock runs an hour ahead still decides expiries by
the database server's time, so it never ends another shopper's live hold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from shop import clock
from shop.db import database, init_database, write_transaction
from shop.services import accounts, catalogue, holds, stock, system
from shop.services.holds import Holder
from shop.services.migrations import migrate
from tests.servers import running_shop

# engine_fixed: two servers on PostgreSQL, in the first pass.
pytestmark = [pytest.mark.slow, pytest.mark.engine_fixed]

BUYERS = 40
UNITS = 3
ROUNDS = 5
PASSWORD = "correct horse battery"
SHOP = Path(sys.executable).with_name("shop")


def _call(base: str, path: str, body: dict, token: str) -> int:
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _buy(base: str, token: str, product_id: int, out: list[tuple[int, int]]) -> None:
    """Hold one unit, and check it out if the hold was granted."""
    held = _call(base, "/api/cart/items", {"product_id": product_id}, token)
    bought = _call(base, "/api/checkout", {}, token) if held == 201 else None
    out.append((held, bought))


def _product(n: int, units: int) -> int:
    made = catalogue.create_product({"sku": f"RACE-{n}", "title": f"Last coat {n}",
                                     "category": "coats", "condition": "good",
                                     "price_cents": 2500, "status": "active"})
    stock.adjust(made["id"], units, "restock")
    return made["id"]


def test_two_servers_on_one_postgresql_never_oversell(pg_fresh_url: str, tmp_path) -> None:
    init_database(pg_fresh_url)
    system.prepare_schema()  # the schema is there already: nothing to do
    password_hash = accounts.hash_password(PASSWORD)
    tokens = []
    for n in range(BUYERS):
        with write_transaction():
            accounts.add_user(f"buyer{n}@example.com", password_hash, "B", "customer",
                              clock.now())
        tokens.append(accounts.login(f"buyer{n}@example.com", PASSWORD).token)
    products = [_product(n, UNITS) for n in range(ROUNDS)]
    database.close_all()

    env = {"SHOP_DATABASE_URL": pg_fresh_url}
    sqlite_file = tmp_path / "unused.db"  # --database is ignored with SHOP_DATABASE_URL
    with running_shop(sqlite_file, workers=2, threads=8, env=env) as first, \
            running_shop(sqlite_file, workers=2, threads=8, env=env) as second:
        for product_id in products:
            answers: list[tuple[int, int]] = []
            racers = [threading.Thread(target=_buy, args=(
                (first, second)[n % 2], token, product_id, answers))
                for n, token in enumerate(tokens)]
            for racer in racers:
                racer.start()
            for racer in racers:
                racer.join()
            assert len(answers) == BUYERS
            assert sum(1 for _held, bought in answers if bought == 201) == UNITS, answers
            # Refused holds are 409 insufficient_stock (or 503 busy: try again); never 500.
            assert {held for held, _ in answers} <= {201, 409, 503}, answers

    init_database(pg_fresh_url)
    for product_id in products:
        product = catalogue.get_product(product_id, include_unpublished=True)
        assert (product["stock_quantity"], product["status"]) == (0, "sold_out")
    sold = database.execute_sql(
        "SELECT product_id, -sum(qty_change) FROM stock_moves WHERE reason = 'sale' "
        "GROUP BY product_id ORDER BY product_id").fetchall()
    assert sold == [(p, UNITS) for p in products]  # 0 oversold
    orders = database.execute_sql("SELECT count(*) FROM orders").fetchone()[0]
    assert orders == UNITS * ROUNDS
    database.close_all()
    verify = subprocess.run([str(SHOP), "stock", "verify"], capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr


# A process whose own clock runs an hour ahead sweeps expired holds.
AHEAD = """
import datetime, sys
from freezegun import freeze_time

ahead = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
with freeze_time(ahead, tick=True):
    from shop.config import Settings
    from shop.services import holds, system

    system.configure(Settings.from_env())
    print(holds.expire_all_due())
"""


def _sweep_an_hour_ahead(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", AHEAD], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _a_live_hold() -> int:
    with write_transaction():
        ann = accounts.add_user("ann@example.com", "x", "Ann", "customer", clock.now())
    product_id = _product(1, 1)
    holds.hold(Holder(user_id=ann.id), product_id, 1)  # live for SHOP_HOLD_MINUTES (15)
    return product_id


def test_a_server_an_hour_ahead_keeps_to_the_database_clock(pg_fresh_url: str) -> None:
    init_database(pg_fresh_url)
    product_id = _a_live_hold()
    database.close_all()
    assert _sweep_an_hour_ahead({"SHOP_DATABASE_URL": pg_fresh_url}) == "0"
    init_database(pg_fresh_url)
    assert catalogue.get_product(product_id, include_unpublished=True)["stock_quantity"] == 0
    assert database.execute_sql("SELECT count(*) FROM product_reservations").fetchone() == (1,)
    assert stock.verify().violations == []
    database.close_all()


def test_on_sqlite_one_box_has_one_clock(tmp_path) -> None:
    """The contrast, as today on one box: SQLite's shop reads the machine's clock, so a
    process an hour ahead finds the hold expired."""
    path = tmp_path / "shop.db"
    init_database(path)
    migrate()
    product_id = _a_live_hold()
    database.close()
    env = {"SHOP_DATABASE": str(path), "SHOP_DATABASE_URL": ""}
    assert _sweep_an_hour_ahead(env) == "1"
    init_database(path)
    assert catalogue.get_product(product_id, include_unpublished=True)["stock_quantity"] == 1


def test_a_row_lock_held_past_the_lock_timeout_is_a_503(pg_fresh_url: str) -> None:
    """Another client holds the product's row lock longer than the lock timeout (5 s):
    the shop answers 503 busy with Retry-After, never a 500, and writes nothing."""
    import psycopg

    from shop.api import create_app
    from tests.conftest import sign_up

    init_database(pg_fresh_url)
    product_id = _product(1, 2)
    client = create_app({"DATABASE_URL": pg_fresh_url, "TESTING": True}).test_client()
    headers = sign_up(client, "ann@example.com")
    with psycopg.connect(pg_fresh_url) as blocker:  # a transaction, open until the end
        blocker.execute("SELECT id FROM products WHERE id = %s FOR UPDATE", (product_id,))
        r = client.post("/api/cart/items", json={"product_id": product_id, "quantity": 1},
                        headers=headers)
        blocker.rollback()
    assert r.status_code == 503
    assert r.get_json()["error"]["code"] == "busy" and r.headers["Retry-After"] == "1"
    assert database.execute_sql("SELECT count(*) FROM product_reservations").fetchone() == (0,)
    database.close_all()
