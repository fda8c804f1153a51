"""Operations (issue 9): the reservation sweep run by cron, twice at once and beside live
checkouts, and the admin audit log written with every admin action."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time

from shop import clock
from shop.db import database, init_database, write_transaction
from shop.services import catalogue, holds, orders, stock
from shop.services.holds import Holder
from tests import engine

SHOP = str(Path(sys.executable).with_name("shop"))



def _target(db_path: Path) -> str | Path:
    """What ``init_database`` opens for this test: the file, or its PostgreSQL database."""
    return engine.current_url if engine.postgresql() else db_path


def _drop_database(url: str) -> None:
    """Drop a database the test made beside its own (PostgreSQL)."""
    from shop.db import postgresql_database
    from shop.services.pg import database_name, with_database

    admin = postgresql_database(with_database(url, "postgres"))
    try:
        admin.execute_sql(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')
    finally:
        admin.close_all()


def _expired_holds(count: int) -> list[int]:
    """``count`` products, each with one guest hold that ran out an hour ago."""
    ids = []
    with freeze_time(clock.now() - timedelta(hours=1)):
        for n in range(count):
            pid = catalogue.create_product({"sku": f"X-{n}", "title": "Held", "price_cents": 100,
                                            "category": "coats", "condition": "good",
                                            "status": "active"})["id"]
            stock.adjust(pid, 2, "restock")
            holds.hold(Holder(session_id=f"guest-session-{n:06d}"), pid, 1)
            ids.append(pid)
    return ids


@pytest.mark.slow
def test_two_sweeps_at_once_beside_checkouts_return_each_hold_exactly_once(db, db_path):
    products = _expired_holds(450)
    user = sign_up_service("buyer@example.com")
    database.close()
    # Live traffic on the same products while the sweeps run.
    shopper, bought = _shop_in_background(db_path, user, products[::15], threading.Event())
    sweeps = [subprocess.Popen([SHOP, "--database", str(db_path), "expire-reservations"],
                               stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0] for p in sweeps]
    shopper.join(120)
    assert all(p.returncode == 0 for p in sweeps), outputs
    swept = sum(int(re.search(r"released (\d+)", out).group(1)) for out in outputs)
    conn = engine.connect(db_path)
    try:
        expired = conn.execute("SELECT reservation_id, count(*) FROM stock_moves WHERE reason "
                               "= 'reservation_expired' GROUP BY reservation_id").fetchall()
        left = conn.execute("SELECT count(*) FROM product_reservations").fetchone()[0]
    finally:
        conn.close()
    assert len(expired) == 450 and all(n == 1 for _, n in expired)  # each exactly once
    assert swept <= 450 and left == 0  # the checkouts released the rest lazily
    assert bought == [201] * len(products[::15])
    init_database(_target(db_path))
    assert stock.verify().violations == []
    again = subprocess.run([SHOP, "--database", str(db_path), "expire-reservations"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "released 0 expired hold(s)" in again.stdout


def _shop_in_background(db_path: Path, user: int, products: Iterable[int],
                        stop: threading.Event) -> tuple[threading.Thread, list[int]]:
    """A thread holding and checking out each product in turn (until ``stop``), on its own
    connection; returns it once its first checkout is done, with the statuses it gets."""
    started, statuses = threading.Event(), []

    def shop() -> None:
        init_database(_target(db_path))
        for pid in products:
            if stop.is_set():
                break
            holds.hold(Holder(user_id=user), pid, 1)
            statuses.append(orders.checkout(user)[0])
            started.set()
        started.set()
        database.close()

    thread = threading.Thread(target=shop)
    thread.start()
    started.wait(30)
    return thread, statuses


def sign_up_service(email: str) -> int:
    from shop.services import accounts

    return accounts.register(email, "a long enough password", "Buyer").user.id


def test_every_admin_action_leaves_an_audit_row_in_its_own_transaction(
        client, admin_headers, customer_headers) -> None:
    r = client.post("/api/admin/products", headers=admin_headers, json={
        "sku": "AUD-1", "title": "Coat", "category": "coats", "condition": "good",
        "price_cents": 5000, "status": "active"})
    pid = r.get_json()["product"]["id"]
    client.patch(f"/api/admin/products/{pid}", json={"price_cents": 4500},
                 headers=admin_headers)
    client.post(f"/api/admin/products/{pid}/stock", json={"qty_change": 2, "reason": "restock"},
                headers=admin_headers)
    # A refused action writes no audit row either (one transaction).
    refused = client.post(f"/api/admin/products/{pid}/stock", headers=admin_headers,
                          json={"qty_change": -9, "reason": "adjustment", "note": "x"})
    assert refused.status_code == 409
    client.post("/api/cart/items", json={"product_id": pid}, headers=customer_headers)
    number = client.post("/api/checkout", json={}, headers=customer_headers
                         ).get_json()["order"]["order_number"]
    client.post(f"/api/admin/orders/{number}/status", json={"status": "paid"},
                headers=admin_headers)
    log = client.get("/api/admin/audit", headers=admin_headers).get_json()["items"]
    assert [e["action"] for e in log] == ["order.status", "stock.restock", "product.update",
                                          "product.create"]
    assert log[0]["before"] == {"status": "pending", "payment_status": "unpaid"}
    assert log[2]["before"] == {"price_cents": 5000} and log[2]["after"] == {"price_cents": 4500}
    only = client.get(f"/api/admin/audit?entity_type=product&entity_id={pid}",
                      headers=admin_headers).get_json()["items"]
    assert len(only) == 3
    assert client.get("/api/admin/audit", headers=customer_headers).status_code == 403


@pytest.mark.slow
def test_a_backup_taken_during_checkouts_restores_to_a_consistent_shop(db, db_path, tmp_path,
                                                                        request) -> None:
    pid = catalogue.create_product({"sku": "BK-1", "title": "Coat", "price_cents": 100,
                                    "category": "coats", "condition": "good",
                                    "status": "active"})["id"]
    stock.adjust(pid, 10_000, "restock")
    user = sign_up_service("buyer@example.com")
    database.close()
    stop = threading.Event()  # checking out without pause while the backup runs
    shopper, sold = _shop_in_background(db_path, user, itertools.repeat(pid, 2000), stop)
    copy = tmp_path / "backups" / "shop.db"
    try:
        result = subprocess.run([SHOP, "--database", str(db_path), "backup", str(copy)],
                                capture_output=True, text=True, timeout=120)
    finally:
        stop.set()
        shopper.join(120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "integrity, foreign keys and stock ledger ok" in result.stdout
    assert sold and set(sold) == {201}

    restored = tmp_path / "restored" / "shop.db"
    env = dict(os.environ)
    if engine.postgresql():  # a database of its own beside the live one
        from shop.services.pg import database_name, with_database

        env["SHOP_DATABASE_URL"] = with_database(
            engine.current_url, database_name(engine.current_url) + "_restored")
        request.addfinalizer(lambda: _drop_database(env["SHOP_DATABASE_URL"]))
    r = subprocess.run([SHOP, "--database", str(restored), "restore", str(copy)],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    with pytest.MonkeyPatch.context() as patch:  # a connection to the restored database
        if engine.postgresql():
            patch.setattr(engine, "current_url", env["SHOP_DATABASE_URL"])
        conn = engine.connect(restored)
    try:
        orders_n, items_n, sales = conn.execute(
            "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_items), "
            "(SELECT -sum(qty_change) FROM stock_moves WHERE reason = 'sale')").fetchone()
        stock_left = conn.execute("SELECT stock_quantity FROM products WHERE id = ?",
                                  (pid,)).fetchone()[0]
        held = conn.execute("SELECT coalesce(sum(quantity), 0) FROM product_reservations"
                            ).fetchone()[0]
    finally:
        conn.close()
    assert 0 < orders_n <= len(sold)  # a snapshot taken mid-stream
    assert orders_n == items_n == sales  # every order whole: no half-written checkout
    assert stock_left + held == 10_000 - sales  # a cart caught mid-checkout holds its unit
    verify = subprocess.run([SHOP, "--database", str(restored), "stock", "verify"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert verify.returncode == 0, verify.stdout


def test_restore_checks_the_copy_refuses_a_running_shop_and_keeps_the_old_file(
        db, db_path, tmp_path, runner, request) -> None:
    from shop.db import disconnect_all
    from shop.services import backup, pg_backup

    copy = tmp_path / "copy.db"
    if engine.postgresql():  # pg_dump's custom format
        pg_backup.backup(engine.current_url, copy)
    else:
        backup.backup(copy)
    database.close()
    disconnect_all()  # this process's pooled connections are not "the running shop"
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database")
    refused = runner.invoke(["restore", str(broken)])
    assert refused.exit_code == 1
    assert ("failed: pg_restore: error:" if engine.postgresql()  # pg_restore's own words
            else "not a good copy") in refused.output

    holder = engine.connect(db_path)  # the running shop: a connection stays open
    holder.execute("SELECT count(*) FROM products").fetchone()
    try:
        busy = runner.invoke(["restore", str(copy)])
    finally:
        holder.close()
    assert busy.exit_code == 1 and "in use" in busy.output
    assert db_path.exists() or engine.postgresql()

    ok = runner.invoke(["restore", str(copy)])
    assert ok.exit_code == 0, ok.output
    if engine.postgresql():  # the old database renamed NAME_before_restore_TIMESTAMP
        from shop.services.pg import database_name, with_database

        name = database_name(engine.current_url)
        conn = engine.connect(db_path)
        try:
            kept = [n for n, in conn.execute("SELECT datname FROM pg_database WHERE datname "
                                             "LIKE ?", (f"{name}_before_restore_%",))]
        finally:
            conn.close()
        for old in kept:
            request.addfinalizer(lambda old=old: _drop_database(
                with_database(engine.current_url, old)))
        assert len(kept) == 1 and f"kept as {kept[0]}" in ok.output
    else:
        kept = list(db_path.parent.glob("shop.db.before-restore-*"))
        assert len(kept) == 1 and "kept at" in ok.output


def _old_events(count: int) -> None:
    """Events from 2020, for the prune to delete."""
    with write_transaction():
        for _ in range(count):
            database.execute_sql("INSERT INTO analytics_events (event_type, created_at) "
                                 "VALUES ('page_view', '2020-01-01T00:00:00Z')")
    database.close()


def _run_on_a_terminal(argv: list[str]) -> tuple[int, str]:
    """Run ``shop argv`` with a pseudo-terminal as its stderr; returns (exit code, what the
    terminal showed)."""
    import os
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen([SHOP, *argv], stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command has exited
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return proc.wait(timeout=120), shown.decode(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize("argv, label, summary", [
    (["seed-demo", "--products", "600"], "generating products", "generated "),
    (["stock", "verify"], "checking products", "ok: 606 products"),
    (["analytics", "rollup", "--day", "2026-01-01"], "rolling up, hour by hour",
     "rolled up "),
    (["analytics", "prune"], "pruning", "pruned 20 analytics_events, 0 system_logs"),
    # pg_dump says its steps, not a bar (PostgreSQL's backup: test_postgresql_backup.py).
    pytest.param(["backup", "{tmp}/copy.db"], "copying, then checking", "backed up to ",
                 marks=pytest.mark.sqlite_only),
])
def test_long_commands_show_a_bar_on_a_terminal_and_one_line_otherwise(
        db, db_path, tmp_path, argv, label, summary) -> None:
    """Issue 9: click's bar on a terminal, drawn to its end; piped, only the summary."""
    argv = ["--database", str(db_path), *(a.format(tmp=tmp_path) for a in argv)]
    if "seed-demo" not in argv:
        subprocess.run([SHOP, *argv[:2], "seed-demo", "--products", "600"], check=True,
                       capture_output=True, timeout=120)
    _old_events(20)
    code, shown = _run_on_a_terminal(argv)
    assert code == 0, shown
    assert label in shown and re.search(r"\[#+\]", shown), shown  # a full bar
    _old_events(20)
    piped = subprocess.run([SHOP, *argv], capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.strip().splitlines()[-1].startswith(summary)
    assert "%" not in piped.stderr  # no bar drawn into a file


@pytest.mark.sqlite_only  # SQLite's online backup, page by page
def test_a_backup_reports_its_copy_growing(db, tmp_path) -> None:
    from shop.services import backup

    with write_transaction():  # about 4 MB of rows
        database.execute_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
            "INSERT INTO system_logs (level, source, message, created_at) "
            "SELECT 'info', 'test', printf('%d %.200c', i, 'x'), '2026-01-01T00:00:00Z' FROM n")
    expected = backup.copy_size()
    grew: list[int] = []
    report = backup.backup(tmp_path / "copy.db", on_copied=grew.append)
    assert len(grew) >= 2 and all(n > 0 for n in grew)  # heard while the copy was written
    assert sum(grew) <= report.bytes
    assert 0.8 < expected / report.bytes < 1.25
