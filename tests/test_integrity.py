"""History nobody can rewrite, and the defects of issue 14 §1, each reproduced: every test
here failed on the code before its fix."""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import peewee
import pytest

from shop import db as shop_db
from shop.db import database, write_transaction
from shop.errors import Busy
from shop.services import orders, stock
from tests import engine
from tests.conftest import sign_up
from tests.populate import populate
from tests.shopping import hold, product

T = "'2026-01-01T00:00:00.000000Z'"


# -- 1. REPLACE cannot rewrite history ------------------------------------------------------

def _ledger(conn) -> list[tuple]:
    return conn.execute("SELECT * FROM stock_moves ORDER BY id").fetchall()


@pytest.mark.sqlite_only  # REPLACE is SQLite's (PostgreSQL: test_constraints.py)
@pytest.mark.parametrize("verb", ["INSERT OR REPLACE", "REPLACE"])
def test_replace_cannot_rewrite_a_stock_move(db, verb) -> None:
    """SQLite runs no DELETE trigger for a REPLACE while recursive_triggers is off: the
    append-only triggers alone let it delete move 1 and re-target it at product 2."""
    populate()
    database.close()
    conn = sqlite3.connect(db, isolation_level=None)
    before = _ledger(conn)
    stocks = conn.execute("SELECT id, stock_quantity, ledger_head FROM products").fetchall()
    with pytest.raises(sqlite3.IntegrityError, match="stock_moves is append-only"):
        conn.execute(f"{verb} INTO stock_moves (id, product_id, qty_change, reason, "
                     f"created_at) VALUES (1, 2, 1, 'restock', {T})")
    assert _ledger(conn) == before
    assert conn.execute("SELECT id, stock_quantity, ledger_head FROM products").fetchall() \
        == stocks
    # An ordinary insert (the id left to SQLite) still works.
    conn.execute(f"INSERT INTO stock_moves (product_id, qty_change, reason, created_at) "
                 f"VALUES (2, 1, 'restock', {T})")
    conn.close()


@pytest.mark.sqlite_only  # REPLACE is SQLite's
@pytest.mark.parametrize("verb", ["INSERT OR REPLACE", "REPLACE"])
def test_replace_cannot_rewrite_an_offer_event(db, verb) -> None:
    populate()
    database.close()
    conn = sqlite3.connect(db, isolation_level=None)
    before = conn.execute("SELECT * FROM offer_events ORDER BY id").fetchall()
    with pytest.raises(sqlite3.IntegrityError, match="offer_events is append-only"):
        conn.execute(f"{verb} INTO offer_events (id, submission_id, actor, action, "
                     f"amount_cents, message, created_at) VALUES (1, 1, 'seller', 'accept', "
                     f"1, 'mine now', {T})")
    assert conn.execute("SELECT * FROM offer_events ORDER BY id").fetchall() == before
    conn.close()


def _sold_twice(client) -> tuple[int, int, int]:
    """Two products, one order each; returns (first product, second, first's sale id)."""
    ann = sign_up(client, "ann@example.com")
    first, second = product(2), product(2, sku="P-2")
    hold(client, ann, first)
    client.post("/api/checkout", json={}, headers=ann)
    hold(client, ann, second)
    client.post("/api/checkout", json={}, headers=ann)
    (sale,) = database.execute_sql("SELECT id FROM stock_moves WHERE reason = 'sale' "
                                   "AND product_id = ?", (first,)).fetchone()
    return first, second, sale


def test_verify_catches_a_move_rewritten_at_another_product(client, db_path) -> None:
    """Someone with the file drops the guard and re-targets a sale: both products are
    flagged (before, only the one that lost the move was)."""
    first, second, sale = _sold_twice(client)
    database.close()
    with engine.connect(db_path) as conn:
        if engine.postgresql():  # no REPLACE there: the append-only guard is on UPDATE
            conn.execute("DROP TRIGGER stock_moves_no_update ON stock_moves")
            conn.execute(f"UPDATE stock_moves SET product_id = {second} WHERE id = {sale}")
        else:
            conn.execute("DROP TRIGGER stock_moves_no_replace")
            conn.execute("DROP TRIGGER products_stock_follows_ledger")
            conn.execute(f"INSERT OR REPLACE INTO stock_moves (id, product_id, qty_change, "
                         f"reason, order_id, created_at) SELECT id, {second}, qty_change, "
                         f"reason, order_id, created_at FROM stock_moves WHERE id = {sale}")
    conn.close()
    flagged = {v.product_id for v in stock.verify().violations}
    assert flagged == {first, second}


def test_verify_catches_an_invented_sale_that_matches_the_balance(client, db_path) -> None:
    """A sale written with no order behind it moves the balance the triggers' way, so the
    sums agree; its provenance does not."""
    first, _second, _sale = _sold_twice(client)
    database.close()
    with engine.connect(db_path) as conn:
        conn.execute(f"INSERT INTO stock_moves (product_id, qty_change, reason, created_at) "
                     f"VALUES ({first}, -1, 'sale', {T})")
    conn.close()
    problems = [(v.product_id, v.problem) for v in stock.verify().violations]
    assert problems == [(first, "sale moves of order (none) sell 1 but the order line has "
                                "no line")]


def test_verify_is_clean_on_an_honest_ledger(client) -> None:
    _sold_twice(client)
    assert stock.verify().violations == []


# -- 6. an order-number collision is drawn again --------------------------------------------

def test_an_order_number_collision_draws_a_new_number(client, monkeypatch) -> None:
    ann = sign_up(client, "ann@example.com")
    hold(client, ann, product(2))
    taken = client.post("/api/checkout", json={}, headers=ann).get_json()["order"][
        "order_number"]
    numbers = iter([taken, "ES-FRESH-0001"])
    monkeypatch.setattr(orders, "new_order_number", lambda: next(numbers))
    hold(client, ann, product(1, sku="P-2"))
    r = client.post("/api/checkout", json={}, headers=ann)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["order"]["order_number"] == "ES-FRESH-0001"


# -- 7. refusals mapped by the constraint that fired ----------------------------------------

def test_a_restock_the_ledger_guard_refuses_is_not_insufficient_stock(client, db_path,
                                                                      admin_headers):
    pid = product(1)
    database.close()
    with engine.connect(db_path) as conn:  # the guard off for one write, then on again
        if engine.postgresql():
            conn.execute("ALTER TABLE products DISABLE TRIGGER products_stock_follows_ledger")
            conn.execute("UPDATE products SET ledger_head = 1000000 WHERE id = ?", (pid,))
            conn.execute("ALTER TABLE products ENABLE TRIGGER products_stock_follows_ledger")
        else:
            (guard,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = "
                                    "'products_stock_follows_ledger'").fetchone()
            conn.execute("DROP TRIGGER products_stock_follows_ledger")
            conn.execute("UPDATE products SET ledger_head = 1000000 WHERE id = ?", (pid,))
            conn.execute(guard)
    conn.close()
    r = client.post(f"/api/admin/products/{pid}/stock", headers=admin_headers,
                    json={"qty_change": 1, "reason": "restock"})
    assert r.status_code == 409
    assert r.get_json()["error"]["code"] == "conflict"
    assert r.get_json()["error"]["details"]["constraint"] == "ledger_guard"
    short = client.post(f"/api/admin/products/{pid}/stock", headers=admin_headers,
                        json={"qty_change": -5, "reason": "adjustment", "note": "lost"})
    assert short.status_code == 409  # refused by the guard first; still not "short"
    # On PostgreSQL the write path reads the balance under the row lock before it writes
    # (shop.db.lock_for_move): a change the balance cannot cover never reaches the guard.
    assert short.get_json()["error"]["code"] == ("insufficient_stock" if engine.postgresql()
                                                 else "conflict")


def test_a_sale_beyond_the_stock_is_insufficient_stock(client, admin_headers) -> None:
    pid = product(1)
    r = client.post(f"/api/admin/products/{pid}/stock", headers=admin_headers,
                    json={"qty_change": -2, "reason": "adjustment", "note": "lost"})
    assert r.status_code == 409
    assert r.get_json()["error"] == {"code": "insufficient_stock", "message": "not enough stock",
                                     "details": {"product_id": pid, "available": 1}}


# -- 9. a forked child never shares the parent's writer lock --------------------------------

@pytest.mark.sqlite_only  # the writer's file lock
def test_a_forked_child_waits_for_the_parents_writer_lock(db) -> None:
    """flock belongs to the open file description: on the descriptor it inherited, a
    child's LOCK_EX succeeds while the parent holds the lock."""
    entered, release = threading.Event(), threading.Event()

    def writer() -> None:
        with write_transaction():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert entered.wait(10)
    try:
        pid = os.fork()
        if pid == 0:  # the child: the parent's writer holds the lock right now
            code = 1
            try:
                shop_db._lock_writer_file(time.monotonic() + 0.3)
            except Busy:
                code = 0
            os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        thread.join()
    assert os.waitstatus_to_exitcode(status) == 0, "the child took a lock the parent held"


# -- 10. idempotency: the stored answer, the stored status, the caller's own ----------------

def test_a_replay_answers_with_the_status_that_was_stored(client, db_path) -> None:
    """The route used to answer its usual 201 whatever the record said."""
    ann = sign_up(client, "ann@example.com")
    hold(client, ann, product(1))
    headers = {**ann, "Idempotency-Key": "key-1"}
    first = client.post("/api/checkout", json={}, headers=headers)
    assert first.status_code == 201
    with engine.connect(db_path) as conn:
        conn.execute("UPDATE idempotency_records SET status_code = 200 WHERE key = 'key-1'")
    conn.close()
    again = client.post("/api/checkout", json={}, headers=headers)
    assert (again.status_code, again.get_json()) == (200, first.get_json())


def test_bob_reusing_anns_key_gets_his_own_order(client) -> None:
    ann, bob = sign_up(client, "ann@example.com"), sign_up(client, "bob@example.com")
    hold(client, ann, product(1))
    hold(client, bob, product(1, sku="P-2"))
    key = {"Idempotency-Key": "same-key"}
    hers = client.post("/api/checkout", json={}, headers={**ann, **key}).get_json()["order"]
    r = client.post("/api/checkout", json={}, headers={**bob, **key})
    assert r.status_code == 201
    his = r.get_json()["order"]
    assert his["order_number"] != hers["order_number"]
    assert [o["order_number"] for o in client.get("/api/orders", headers=bob
                                                  ).get_json()["items"]] == [his["order_number"]]


def test_the_dead_idempotency_columns_of_orders_are_gone(db) -> None:
    columns = {r[0] for r in database.execute_sql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'"
        if engine.postgresql() else "SELECT name FROM pragma_table_info('orders')")}
    assert "order_number" in columns and not {"idempotency_key", "request_hash"} & columns
    # SQLite says OperationalError, PostgreSQL ProgrammingError (an undefined column).
    with pytest.raises((peewee.OperationalError, peewee.ProgrammingError)):
        database.execute_sql("SELECT idempotency_key FROM orders WHERE 1 = 0")
