"""Every CHECK, UNIQUE, foreign key and trigger, table-driven.

For each rule: one write that breaks it raises IntegrityError and changes nothing (the probe
query reads the same before and after), and one write that keeps it passes. The writes are
plain SQL, as any client (a cron script, a SQL shell, D1) could send them.

Every case runs on both engines, SQLite and PostgreSQL (``engine``), with one expected
outcome: only the text of a statement may differ by dialect, in :func:`_dialect`.
"""

from __future__ import annotations

import re

import peewee
import pytest

from shop.db import dialect_of
from tests.populate import populate

T = "'2026-01-01T00:00:00.000000Z'"
H64 = "'" + "c" * 64 + "'"


def _user(email: str = "new@example.com", role: str = "customer") -> str:
    return (f"INSERT INTO users (email, password_hash, name, role, created_at, updated_at) "
            f"VALUES ('{email}', 'x', 'N', '{role}', {T}, {T})")


def _product(sku: str = "NEW-1", **over: object) -> str:
    values = {"sku": f"'{sku}'", "title": "'T'", "description": "''", "brand": "''",
              "category": "'coats'", "size": "''", "condition": "'good'",
              "price_cents": "100", "status": "'draft'", "featured": "0",
              "stock_quantity": "0", "created_at": T, "updated_at": T}
    values.update({k: str(v) for k, v in over.items()})
    return (f"INSERT INTO products ({', '.join(values)}) VALUES ({', '.join(values.values())})")


def _move(product: int = 1, qty: int = 1, reason: str = "restock", extra: str = "") -> str:
    cols, vals = "", ""
    if extra:
        cols, vals = extra.split("=")
        cols, vals = ", " + cols, ", " + vals
    return (f"INSERT INTO stock_moves (product_id, qty_change, reason, created_at{cols}) "
            f"VALUES ({product}, {qty}, '{reason}', {T}{vals})")


def _order(number: str = "ORD-NEW", sub: int = 100, ship: int = 0, total: int = 100,
           method: str = "collect", address: str = "NULL", user: str = "1",
           email: str = "NULL", token: str = "NULL") -> str:
    return ("INSERT INTO orders (order_number, user_id, status, payment_status, shipping_method,"
            " subtotal_cents, shipping_cents, total_cents, delivery_address, guest_email,"
            f" access_token_hash, created_at, updated_at) VALUES ('{number}', {user}, 'pending',"
            f" 'unpaid', '{method}', {sub}, {ship}, {total}, {address}, {email}, {token}, {T},"
            f" {T})")


def _image(product: str = "1", submission: str = "NULL", variants: str = "'[]'") -> str:
    return ("INSERT INTO images (product_id, submission_id, cloudflare_id, url, variants,"
            f" position, created_at) VALUES ({product}, {submission}, 'cf', 'https://x',"
            f" {variants}, 0, {T})")


def _hold(product: int = 1, user: str = "NULL", session: str = "'s-new'", qty: int = 1) -> str:
    return ("INSERT INTO product_reservations (product_id, user_id, session_id, quantity,"
            f" created_at, expires_at) VALUES ({product}, {user}, {session}, {qty}, {T}, {T})")


def _submission(batch: str = "b-new", status: str = "pending", offer: str = "no_offer",
                offered: str = "NULL", final: str = "NULL", payout: str = "none") -> str:
    return ("INSERT INTO sell_submissions (batch_id, seller_id, status, offer_status,"
            " offered_price_cents, final_price_cents, payout_status, notes, created_at,"
            f" updated_at) VALUES ('{batch}', 1, '{status}', '{offer}', {offered}, {final},"
            f" '{payout}', '', {T}, {T})")


def _offer_event(actor: str = "shop", action: str = "offer", amount: str = "500") -> str:
    return ("INSERT INTO offer_events (submission_id, actor, action, amount_cents, message,"
            f" created_at) VALUES (1, '{actor}', '{action}', {amount}, '', {T})")


def _address(kind: str = "billing", country: str = "IE", default: int = 1, user: int = 1) -> str:
    return ("INSERT INTO addresses (user_id, kind, name, line1, city, country, is_default,"
            f" created_at, updated_at) VALUES ({user}, '{kind}', 'N', 'L', 'C', '{country}',"
            f" {default}, {T}, {T})")


def _daily(day: str = "2026-02-01", count: int = 1, event: str = "search") -> str:
    return ("INSERT INTO analytics_daily (day, event_type, count, top_products, computed_at)"
            f" VALUES ('{day}', '{event}', {count}, '[]', {T})")


def _job_run(job: str = "backup", outcome: str = "'ok'", finished: str = T,
             detail: str = "NULL") -> str:
    return ("INSERT INTO job_runs (job, started_at, finished_at, outcome, detail)"
            f" VALUES ('{job}', {T}, {finished}, {outcome}, {detail})")


COUNT = "SELECT count(*) FROM {}"
STOCK = "SELECT id, stock_quantity FROM products ORDER BY id"
HEADS = "SELECT id, stock_quantity, ledger_head FROM products ORDER BY id"

CASES = [
    # name, breaking write, keeping write, probe that the breaking write must not change
    # -- CHECK: enumerations, formats, money
    ("users.role enum", _user(role="root"), _user(), COUNT.format("users")),
    ("users.email lower-case", _user(email="Mixed@Example.com"), _user(),
     COUNT.format("users")),
    ("products.condition enum", _product(condition="'mint'"), _product(),
     COUNT.format("products")),
    ("products.status enum", _product(status="'gone'"), _product(), COUNT.format("products")),
    ("products.price_cents > 0", _product(price_cents=0), _product(),
     COUNT.format("products")),
    ("products.category slug", _product(category="'Coats!'"), _product(),
     COUNT.format("products")),
    ("products.featured flag", _product(featured=2), _product(featured=1),
     COUNT.format("products")),
    ("images product XOR submission: both", _image("1", "1"), _image("1", "NULL"),
     COUNT.format("images")),
    ("images product XOR submission: neither", _image("NULL", "NULL"), _image("NULL", "1"),
     COUNT.format("images")),
    ("images.variants is JSON", _image(variants="'not json'"), _image(variants="'[\"a\"]'"),
     COUNT.format("images")),
    ("reservations holder XOR: both", _hold(user="1", session="'s'"), _hold(),
     COUNT.format("product_reservations")),
    ("reservations holder XOR: neither", _hold(user="NULL", session="NULL"), _hold(),
     COUNT.format("product_reservations")),
    ("reservations.quantity > 0", _hold(qty=0), _hold(qty=1),
     COUNT.format("product_reservations")),
    ("stock_moves.qty_change <> 0", _move(qty=0), _move(qty=1), COUNT.format("stock_moves")),
    ("stock_moves.reason enum", _move(reason="gift"), _move(), COUNT.format("stock_moves")),
    ("stock_moves sign of reason", _move(qty=-1, reason="restock"), _move(qty=1),
     COUNT.format("stock_moves")),
    ("stock_moves adjustment needs a note", _move(qty=1, reason="adjustment"),
     _move(qty=1, reason="adjustment", extra="note='found one'"), COUNT.format("stock_moves")),
    ("stock_moves hold reasons name the hold", _move(qty=-1, reason="reserved"),
     _move(qty=-1, reason="reserved", extra="reservation_id=77"), COUNT.format("stock_moves")),
    ("orders total = subtotal + shipping", _order(sub=100, ship=5, total=100),
     _order(sub=100, ship=5, total=105), COUNT.format("orders")),
    ("orders money >= 0", _order(sub=-5, ship=5, total=0), _order(), COUNT.format("orders")),
    ("orders delivery needs an address", _order(method="deliver"),
     _order(method="deliver", address="'{\"line1\": \"x\"}'"), COUNT.format("orders")),
    ("orders a guest order names its buyer", _order(user="NULL"),
     _order(user="NULL", email="'g@example.com'", token="'" + "a" * 64 + "'"),
     COUNT.format("orders")),
    ("orders a guest order has its token", _order(user="NULL", email="'g@example.com'"),
     _order(user="NULL", email="'g@example.com'", token="'" + "b" * 64 + "'"),
     COUNT.format("orders")),
    ("order_items line total", "INSERT INTO order_items (order_id, product_id, title,"
     " unit_price_cents, quantity, line_total_cents) VALUES (1, 2, 't', 100, 2, 150)",
     "INSERT INTO order_items (order_id, product_id, title, unit_price_cents, quantity,"
     " line_total_cents) VALUES (1, 2, 't', 100, 2, 200)", COUNT.format("order_items")),
    ("sell_submissions.status enum", _submission(status="lost"), _submission(),
     COUNT.format("sell_submissions")),
    ("sell_submissions.offer_status enum", _submission(offer="maybe"), _submission(),
     COUNT.format("sell_submissions")),
    ("sell_submissions accepted has a final price and payout",
     _submission(offer="accepted", offered="500"),
     _submission(offer="accepted", offered="500", final="500", payout="owed"),
     COUNT.format("sell_submissions")),
    ("offer_events.actor enum", _offer_event(actor="bot"), _offer_event(),
     COUNT.format("offer_events")),
    ("offer_events offer carries an amount", _offer_event(amount="NULL"), _offer_event(),
     COUNT.format("offer_events")),
    ("addresses.kind enum", _address(kind="home"), _address(), COUNT.format("addresses")),
    ("addresses.country ISO alpha-2", _address(country="ie"), _address(),
     COUNT.format("addresses")),
    ("analytics_daily.day format", _daily(day="Feb 1"), _daily(), COUNT.format("analytics_daily")),
    ("analytics_daily.count >= 0", _daily(count=-1), _daily(), COUNT.format("analytics_daily")),
    ("analytics_events.event_type enum",
     f"INSERT INTO analytics_events (event_type, created_at) VALUES ('click', {T})",
     f"INSERT INTO analytics_events (event_type, created_at) VALUES ('search', {T})",
     COUNT.format("analytics_events")),
    ("system_logs.level enum",
     f"INSERT INTO system_logs (level, source, message, created_at) VALUES ('loud','t','m',{T})",
     f"INSERT INTO system_logs (level, source, message, created_at) VALUES ('info','t','m',{T})",
     COUNT.format("system_logs")),
    ("job_runs.job slug", _job_run(job="Back up!"), _job_run(job="analytics-rollup"),
     COUNT.format("job_runs")),
    ("job_runs.outcome enum", _job_run(outcome="'maybe'"), _job_run(outcome="'failed'"),
     COUNT.format("job_runs")),
    ("job_runs an outcome iff finished", _job_run(finished="NULL"),
     _job_run(finished="NULL", outcome="NULL"), COUNT.format("job_runs")),
    ("job_runs.detail bounded", _job_run(detail="'" + "x" * 1001 + "'"),
     _job_run(detail="'" + "x" * 1000 + "'"), COUNT.format("job_runs")),
    # -- UNIQUE
    ("users.email unique", _user(email="user1@example.com"), _user(), COUNT.format("users")),
    ("products.sku unique", _product(sku="SKU-1"), _product(sku="SKU-3"),
     COUNT.format("products")),
    ("orders.order_number unique", _order(number="ORD-1"), _order(number="ORD-3"),
     COUNT.format("orders")),
    ("sell_submissions.batch_id unique", _submission(batch="batch-1"), _submission(),
     COUNT.format("sell_submissions")),
    ("reservations unique per product and user", _hold(product=1, user="1", session="NULL"),
     _hold(product=2, user="1", session="NULL"), COUNT.format("product_reservations")),
    ("reservations unique per product and session", _hold(product=1, session="'guest-1'"),
     _hold(product=2, session="'guest-1'"), COUNT.format("product_reservations")),
    ("analytics_daily unique per day and type", _daily(day="2026-01-01", event="product_view"),
     _daily(day="2026-01-01", event="search"), COUNT.format("analytics_daily")),
    ("order_items unique per order and product", "INSERT INTO order_items (order_id,"
     " product_id, title, unit_price_cents, quantity, line_total_cents) VALUES"
     " (1, 1, 't', 100, 1, 100)", "INSERT INTO order_items (order_id, product_id, title,"
     " unit_price_cents, quantity, line_total_cents) VALUES (1, 2, 't', 100, 1, 100)",
     COUNT.format("order_items")),
    ("sessions.token_hash unique",
     f"INSERT INTO sessions (user_id, token_hash, created_at, expires_at) VALUES (1,"
     f" '{'1'.rjust(64, 'a')}', {T}, {T})",
     f"INSERT INTO sessions (user_id, token_hash, created_at, expires_at) VALUES (1, {H64},"
     f" {T}, {T})", COUNT.format("sessions")),
    ("one default address per user and kind", _address(kind="delivery"),
     _address(kind="delivery", default=0), COUNT.format("addresses")),
    # -- FOREIGN KEYS: orphans refused, RESTRICT refuses deletes that would lose history
    ("sessions.user_id must exist",
     f"INSERT INTO sessions (user_id, token_hash, created_at, expires_at) VALUES (999, {H64},"
     f" {T}, {T})",
     f"INSERT INTO sessions (user_id, token_hash, created_at, expires_at) VALUES (2, {H64},"
     f" {T}, {T})", COUNT.format("sessions")),
    ("images.product_id must exist", _image("999"), _image("2"), COUNT.format("images")),
    ("stock_moves.product_id must exist", _move(product=999), _move(product=2),
     COUNT.format("stock_moves")),
    ("order_items.order_id must exist", "INSERT INTO order_items (order_id, product_id,"
     " title, unit_price_cents, quantity, line_total_cents) VALUES (999, 2, 't', 1, 1, 1)",
     "INSERT INTO order_items (order_id, product_id, title, unit_price_cents, quantity,"
     " line_total_cents) VALUES (2, 1, 't', 1, 1, 1)", COUNT.format("order_items")),
    ("deleting a user with orders is restricted", "DELETE FROM users WHERE id = 1",
     _user(email="gone@example.com") + "; DELETE FROM users WHERE email = 'gone@example.com'",
     COUNT.format("users")),
    ("deleting a product with ledger rows is restricted", "DELETE FROM products WHERE id = 1",
     _product(sku="TMP") + "; DELETE FROM products WHERE sku = 'TMP'",
     COUNT.format("products")),
    # -- TRIGGERS: the ledger is append-only and is the only way stock changes
    ("stock_moves refuses UPDATE", "UPDATE stock_moves SET qty_change = 50 WHERE id = 1",
     _move(qty=50), "SELECT group_concat(qty_change) FROM stock_moves"),
    ("stock_moves refuses DELETE", "DELETE FROM stock_moves WHERE id = 1", _move(qty=1),
     COUNT.format("stock_moves")),
    ("stock never goes below zero", _move(product=1, qty=-3, reason="sale"),
     _move(product=1, qty=-2, reason="sale"), STOCK),
    ("stock_quantity is not updated directly",
     "UPDATE products SET stock_quantity = 10 WHERE id = 1",
     "UPDATE products SET title = 'Renamed' WHERE id = 1", STOCK),
    ("a product starts with no stock", _product(stock_quantity=3), _product(stock_quantity=0),
     COUNT.format("products")),
    ("a product starts with no ledger head", _product(ledger_head=4), _product(ledger_head=0),
     COUNT.format("products")),
    # -- the O(log n) guard (migration 002): only the newest move, once, by its own amount
    ("the balance cannot be replayed with an old move",
     "UPDATE products SET stock_quantity = stock_quantity + 5, ledger_head = 1 WHERE id = 1",
     "UPDATE products SET featured = 1 WHERE id = 1", HEADS),
    ("the head cannot jump to another product's move",
     "UPDATE products SET ledger_head = 8 WHERE id = 1",
     "UPDATE products SET price_cents = 999 WHERE id = 1", HEADS),
    ("the head cannot take another product's move, even by its amount",
     "UPDATE products SET ledger_head = 8, stock_quantity = stock_quantity - 1 WHERE id = 1",
     "UPDATE products SET price_cents = 999 WHERE id = 1", HEADS),
    ("the head cannot move back",
     "UPDATE products SET ledger_head = 3, stock_quantity = stock_quantity + 1 WHERE id = 1",
     "UPDATE products SET stock_quantity = stock_quantity, ledger_head = ledger_head "
     "WHERE id = 1", HEADS),
    ("the balance cannot move by another amount than the head's move",
     "UPDATE products SET stock_quantity = stock_quantity + 1 WHERE id = 1",
     _move(product=1, qty=1), HEADS),
    ("offer_events refuses UPDATE", "UPDATE offer_events SET amount_cents = 1 WHERE id = 1",
     _offer_event(), "SELECT group_concat(amount_cents) FROM offer_events"),
    ("offer_events refuses DELETE", "DELETE FROM offer_events WHERE id = 1", _offer_event(),
     COUNT.format("offer_events")),
]


ENGINES = ("sqlite", "postgresql")


@pytest.fixture(params=ENGINES)
def populated(request) -> peewee.Database:
    """The database of populate()'s rows on each engine, the models bound to it."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_populated")
    request.getfixturevalue("db")
    populate()
    from shop.models import User

    return User._meta.database


def _dialect(db: peewee.Database, sql: str) -> str:
    """The statement in the database's dialect (the tests' SQL is written for SQLite)."""
    if dialect_of(db) == "postgresql":
        sql = re.sub(r"group_concat\((\w+)\)", r"string_agg(\1::text, ',' ORDER BY id)", sql)
    return sql


def _run(db: peewee.Database, script: str) -> None:
    """Each statement on its own, in autocommit: the database alone must undo a refusal."""
    assert not db.in_transaction()
    for statement in script.split(";"):
        if statement.strip():
            db.execute_sql(_dialect(db, statement))


def _probe(db: peewee.Database, sql: str) -> list:
    return [tuple(r) for r in db.execute_sql(_dialect(db, sql)).fetchall()]


def _references_resolve(db: peewee.Database) -> None:
    """Every reference resolves. PostgreSQL checks each at once, whatever the session."""
    if dialect_of(db) == "sqlite":
        assert db.execute_sql("PRAGMA foreign_key_check").fetchall() == []


@pytest.mark.parametrize(("name", "bad", "good", "probe"), CASES, ids=[c[0] for c in CASES])
def test_rule(populated, name: str, bad: str, good: str, probe: str) -> None:
    before = _probe(populated, probe)
    with pytest.raises(peewee.IntegrityError):
        _run(populated, bad)
    assert _probe(populated, probe) == before, f"{name}: the refused write left a trace"
    _run(populated, good)
    _references_resolve(populated)


def test_ledger_insert_moves_the_balance(populated) -> None:
    db = populated
    before = dict(_probe(db, STOCK))
    _run(db, _move(product=2, qty=4))
    _run(db, _move(product=2, qty=-1, reason="sale"))
    assert dict(_probe(db, STOCK))[2] == before[2] + 3
    assert _probe(db, "SELECT sum(qty_change) FROM stock_moves WHERE product_id = 2") == \
        [(before[2] + 3,)]


def test_the_head_follows_every_move_and_cannot_be_overtaken(populated) -> None:
    db = populated
    """The apply trigger moves the head to each new move; a move inserted with an id below
    the head (a hand-crafted ledger row) is refused, so the ledger applies strictly in order."""
    _run(db, _move(product=1, qty=2, extra="id=50"))
    assert _probe(db, "SELECT stock_quantity, ledger_head FROM products WHERE id = 1") == \
        [(4, 50)]
    before = _probe(db, HEADS)
    with pytest.raises(peewee.IntegrityError):
        _run(db, _move(product=1, qty=1, extra="id=40"))
    assert _probe(db, HEADS) == before
    assert _probe(db, "SELECT count(*) FROM stock_moves WHERE id = 40") == [(0,)]


def test_cascade_deletes_children_that_cannot_exist_alone(populated) -> None:
    db = populated
    _run(db, _user(email="temp@example.com"))
    uid = _probe(db, "SELECT id FROM users WHERE email = 'temp@example.com'")[0][0]
    _run(db, f"INSERT INTO sessions (user_id, token_hash, created_at, expires_at) VALUES"
         f" ({uid}, {H64}, {T}, {T})")
    _run(db, f"DELETE FROM users WHERE id = {uid}")
    assert _probe(db, f"SELECT count(*) FROM sessions WHERE user_id = {uid}") == [(0,)]


def test_set_null_keeps_statistics_when_a_product_goes(populated) -> None:
    db = populated
    _run(db, _product(sku="VIEWED"))
    pid = _probe(db, "SELECT id FROM products WHERE sku = 'VIEWED'")[0][0]
    _run(db, f"INSERT INTO analytics_events (event_type, product_id, created_at) VALUES"
         f" ('product_view', {pid}, {T})")
    _run(db, f"DELETE FROM products WHERE id = {pid}")
    assert _probe(db, "SELECT count(*) FROM analytics_events WHERE product_id IS NULL") == [(1,)]
