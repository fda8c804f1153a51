"""The Today page (issue 15): what needs the owner's hands now, as counts and short lists
linking to the pages where the work is done; and every statement behind it reads one
index range at 10^5 orders and 10^5 products (EXPLAIN QUERY PLAN, with statistics).

The definitions the page states, written out here as the contract:
- to pack: orders that are ``paid`` (not yet shipped), and ``pending`` collect orders
  (put aside for a buyer who pays on collection); oldest first.
- unpaid: ``pending`` orders; oldest first.
- to review: submissions with status ``pending``; countered: offer_status ``countered``;
  payouts owed: payout_status ``owed``; oldest first.
- low stock: ``active`` products with 1 unit or fewer; fewest first.
- ageing: ``active`` products created 30 days ago or more, in bands 30-59, 60-89 and 90+
  days (created exactly 30 days ago: in the first); oldest first.
Each list shows at most 10 rows and a "See all" link when there are more.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time

from shop import clock
from shop.db import database, init_database, write_transaction
from shop.services import accounts, dashboard
from shop.services.migrations import migrate
from tests.conftest import PASSWORD, sign_up
from tests.pages.conftest import Pages
from tests.pages.test_orders import api_admin, move, place, place_as_guest
from tests.shopping import hold, product

pytestmark = pytest.mark.usefixtures("clean_ledger")

ITEM = {"title": "Tweed blazer", "brand": "Magee", "category": "jackets", "size": "M",
        "condition": "good"}


def section(html: str, id_: str) -> str:
    """One card of the page, from its heading to the next card."""
    start = html.index(f'aria-labelledby="{id_}"')
    end = html.find("<section", start)
    return html[start:end if end != -1 else None]


def count_of(html: str, id_: str) -> int | str:
    """A section's count: a number, or "1000+" past the cap."""
    match = re.search(rf'<h2 id="{id_}">[^<]*<span class="count">(\d+\+?)</span></h2>', html)
    assert match, id_
    return int(match.group(1)) if match.group(1).isdigit() else match.group(1)


def orders_in(card: str) -> list[str]:
    return re.findall(r'href="/admin/orders/(ES-[0-9A-Z-]+)"', card)


def test_today_is_for_admins_only(owner: Pages, shopper: Pages, app) -> None:
    html = owner.text("/admin")
    assert "<h1>Today</h1>" in html
    assert '<a href="/admin" aria-current="page">Today</a>' in html
    assert html.index(">Today</a>") < html.index(">Orders</a>")  # Today comes first
    assert shopper.get("/admin").status_code == 403
    r = Pages(app.test_client()).get("/admin")
    assert r.status_code == 303 and r.headers["Location"] == "/admin/login?next=/admin"


def test_an_empty_shop_has_nothing_waiting(owner: Pages) -> None:
    html = owner.text("/admin")
    for id_ in ("to-pack", "unpaid", "to-review", "countered", "payouts", "low-stock",
                "ageing"):
        assert count_of(html, id_) == 0
    assert "See all" not in html


def test_orders_to_pack_and_unpaid_orders(client, owner: Pages) -> None:
    ann = sign_up(client, "ann@example.com")
    address = {"name": "Ann", "line1": "1 Main St", "city": "Cork"}
    paid_post = place(client, ann, product(1, sku="A"), shipping_method="deliver",
                      delivery_address=address)
    collect = place(client, ann, product(1, sku="B"))  # pending, to collect and pay
    transfer = place(client, ann, product(1, sku="C"), shipping_method="deliver",
                     delivery_address=address)  # pending, waiting for a transfer
    shipped = place_as_guest(client, product(1, sku="D"), "walk.in@example.com")
    paid_collect = place_as_guest(client, product(1, sku="E"), "walk.in@example.com")
    move(client, paid_post, "paid")
    move(client, shipped, "paid", "shipped")
    move(client, paid_collect, "paid")
    html = owner.text("/admin")
    assert count_of(html, "to-pack") == 3
    assert orders_in(section(html, "to-pack")) == [paid_post, collect, paid_collect]
    assert count_of(html, "unpaid") == 2
    assert orders_in(section(html, "unpaid")) == [collect, transfer]
    card = section(html, "to-pack")
    assert "walk.in@example.com" in card and "ann@example.com" in card
    assert "€25.00" in card


def test_each_list_is_bounded_with_a_link_to_all(client, owner: Pages) -> None:
    ann = sign_up(client, "ann@example.com")
    pid = product(12)
    placed = [place(client, ann, pid) for _ in range(12)]
    html = owner.text("/admin")
    card = section(html, "unpaid")
    assert count_of(html, "unpaid") == 12
    assert orders_in(card) == placed[:10]  # the ten waiting longest
    assert '<a href="/admin/orders?status=pending">See all 12 unpaid orders</a>' in card
    # Collect orders are to pack too; the link goes to the paid ones, so it gives no count.
    card = section(html, "to-pack")
    assert count_of(html, "to-pack") == 12 and len(orders_in(card)) == 10
    assert '<a href="/admin/orders?status=paid">See all paid orders</a>' in card


def _submit(client: FlaskClient, seller: dict[str, str], price: int = 4000) -> str:
    r = client.post("/api/sell", json={"items": [ITEM], "seller_price_cents": price},
                    headers=seller)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["submission"]["batch_id"]


def _offer(client: FlaskClient, admin: dict[str, str], batch: str) -> None:
    for path, body in (("review", {"status": "reviewing"}),
                       ("offer", {"offered_price_cents": 3000})):
        r = client.post(f"/api/admin/submissions/{batch}/{path}", json=body, headers=admin)
        assert r.status_code in (200, 201), r.get_json()


def test_submissions_counter_offers_and_payouts_owed(client, owner: Pages) -> None:
    seller = sign_up(client, "seller@example.com")
    admin = api_admin(client)
    new = _submit(client, seller, 5000)
    countered, accepted, paid_out = (_submit(client, seller) for _ in range(3))
    for batch in (countered, accepted, paid_out):
        _offer(client, admin, batch)
    client.post(f"/api/offers/{countered}/respond",
                json={"response": "counter", "counter_price_cents": 3500}, headers=seller)
    for batch in (accepted, paid_out):
        r = client.post(f"/api/offers/{batch}/respond", json={"response": "accept"},
                        headers=seller)
        assert r.status_code == 200
    r = client.post(f"/api/admin/submissions/{paid_out}/payout", json={"reference": "T-1"},
                    headers=admin)
    assert r.status_code == 200
    html = owner.text("/admin")
    assert count_of(html, "to-review") == 1
    card = section(html, "to-review")
    assert f'<a href="/admin/submissions/{new}">{new}</a>' in card
    assert "seller@example.com" in card and "€50.00" in card
    assert count_of(html, "countered") == 1
    card = section(html, "countered")
    assert f'href="/admin/submissions/{countered}"' in card and "€35.00" in card
    assert count_of(html, "payouts") == 1
    card = section(html, "payouts")
    assert f'href="/admin/submissions/{accepted}"' in card and "€30.00" in card
    assert paid_out not in html


def test_low_stock_is_active_products_with_one_unit_or_fewer(client, owner: Pages) -> None:
    last = product(1, sku="LAST")
    product(2, sku="TWO")
    product(1, sku="DRAFT", status="draft")
    sold = product(1, sku="SOLD")
    held = product(1, sku="HELD")
    ann = sign_up(client, "ann@example.com")
    place(client, ann, sold)  # sold out now
    hold(client, ann, held)  # 0 left to sell, still on sale while it is held
    html = owner.text("/admin")
    card = section(html, "low-stock")
    assert count_of(html, "low-stock") == 2
    assert re.findall(r'href="/admin/products/(\d+)"', card) == [str(held), str(last)]
    assert "0 left" in card and "1 left" in card
    assert "On sale with 1 unit or fewer left." in card


def test_ageing_stock_bands_by_days_since_the_product_was_created(owner: Pages) -> None:
    now = clock.now().replace(microsecond=0)
    made = {}
    for sku, age in (("D29", timedelta(days=30) - timedelta(seconds=1)),
                     ("D30", timedelta(days=30)), ("D59", timedelta(days=59, hours=23)),
                     ("D60", timedelta(days=60)), ("D90", timedelta(days=90)),
                     ("D400", timedelta(days=400))):
        with freeze_time(now - age):
            made[sku] = product(1, sku=sku)
    with freeze_time(now - timedelta(days=100)):
        product(1, sku="OLD-DRAFT", status="draft")
        product(0, sku="OLD-SOLD-OUT", status="sold_out")
    with freeze_time(now):
        html = owner.text("/admin")
    card = section(html, "ageing")
    assert count_of(html, "ageing") == 5
    assert re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", card) == [
        ("30\u201359 days", "2"), ("60\u201389 days", "1"), ("90+ days", "2")]
    assert re.findall(r'href="/admin/products/(\d+)"', card) == [
        str(made[s]) for s in ("D400", "D90", "D60", "D59", "D30")]
    assert "400 days listed" in card and "30 days listed" in card


# -- query plans at 10^5 orders and 10^5 products ---------------------------------------------

ROWS = 100_000
BASE = "2026-06-01"


@pytest.fixture(scope="module")
def big_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """10^5 products (70% on sale, ages 0-399 days), 10^5 orders over 2,000 customers and
    guests, 20,000 submissions; statistics refreshed, as a live shop has them."""
    path = tmp_path_factory.mktemp("today") / "shop.db"
    init_database(path)
    migrate()
    stamp = "strftime('%Y-%m-%dT%H:%M:%S', '{}', '-' || ({}) || ' minutes') || '.000000Z'"
    with write_transaction():
        database.execute_sql(f"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
        INSERT INTO users (email, password_hash, name, role, created_at, updated_at)
        SELECT 'u' || i || '@example.com', 'x', 'U', 'customer', '{BASE}T00:00:00.000000Z',
               '{BASE}T00:00:00.000000Z' FROM n""")
        database.execute_sql(f"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})
        INSERT INTO products (sku, title, description, brand, category, size, condition,
            price_cents, status, featured, stock_quantity, created_at, updated_at, ledger_head)
        SELECT 'S-' || i, 'Coat ' || i, '', 'Brand', 'coats', 'M', 'good', 1000 + i % 5000,
            CASE WHEN i % 10 < 7 THEN 'active' WHEN i % 10 < 9 THEN 'sold_out' ELSE 'draft' END,
            0, 0, {stamp.format(BASE, "(i % 400) * 1440")}, '{BASE}T00:00:00.000000Z', 0
        FROM n""")
        database.execute_sql(f"""
        INSERT INTO stock_moves (product_id, qty_change, reason, created_at)
        SELECT id, 1 + id % 3, 'restock', '{BASE}T00:00:00.000000Z' FROM products
        WHERE status = 'active'""")
        database.execute_sql(f"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})
        INSERT INTO orders (order_number, user_id, guest_email, access_token_hash, status,
            payment_status, shipping_method, subtotal_cents, shipping_cents, total_cents,
            delivery_address, created_at, updated_at)
        SELECT printf('ES-%04d-%04d', i / 10000, i % 10000),
            CASE WHEN i % 2 = 1 THEN 1 + i % 2000 END,
            CASE WHEN i % 2 = 0 THEN 'g' || (i % 5000) || '@example.com' END,
            CASE WHEN i % 2 = 0 THEN printf('%064d', i) END,
            s.status, CASE WHEN s.status IN ('pending', 'cancelled') THEN 'unpaid' ELSE 'paid' END,
            CASE WHEN i % 3 = 0 THEN 'collect' ELSE 'deliver' END, 1000, 0, 1000,
            CASE WHEN i % 3 = 0 THEN NULL ELSE '{{"line1":"x"}}' END,
            {stamp.format(BASE, f"{ROWS} - i")}, {stamp.format(BASE, f"{ROWS} - i")}
        FROM n JOIN (SELECT 0 AS k, 'pending' AS status UNION ALL SELECT 1, 'paid'
            UNION ALL SELECT 2, 'shipped' UNION ALL SELECT 3, 'delivered'
            UNION ALL SELECT 4, 'delivered' UNION ALL SELECT 5, 'delivered'
            UNION ALL SELECT 6, 'cancelled') AS s ON s.k = i % 7""")
        database.execute_sql(f"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
        INSERT INTO sell_submissions (batch_id, seller_id, status, offer_status,
            seller_price_cents, offered_price_cents, final_price_cents, payout_status, notes,
            created_at, updated_at)
        SELECT 'SB-' || i, 1 + i % 2000,
            CASE WHEN i % 6 = 0 THEN 'pending' ELSE 'approved' END,
            CASE i % 6 WHEN 0 THEN 'no_offer' WHEN 1 THEN 'offer_sent' WHEN 2 THEN 'countered'
                WHEN 5 THEN 'rejected' ELSE 'accepted' END,
            1000, CASE WHEN i % 6 = 0 THEN NULL ELSE 900 END,
            CASE WHEN i % 6 IN (3, 4) THEN 900 END,
            CASE WHEN i % 6 NOT IN (3, 4) THEN 'none' WHEN i % 10 = 3 THEN 'owed' ELSE 'paid' END,
            '', {stamp.format(BASE, "20000 - i")}, {stamp.format(BASE, "20000 - i")} FROM n""")
    database.execute_sql("ANALYZE")
    database.close()
    yield path
    database.close()


class Statements:
    """The statements a piece of code runs, as it runs them."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, tuple]] = []

    def __enter__(self) -> Statements:
        self._run = database.execute_sql

        def spy(sql, params=None, *args, **kwargs):
            self.seen.append((sql, tuple(params or ())))
            return self._run(sql, params, *args, **kwargs)

        database.execute_sql = spy
        return self

    def __exit__(self, *exc) -> None:
        database.execute_sql = self._run

    def plans(self) -> list[list[str]]:
        return [[row[3] for row in database.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
                for sql, params in self.seen]


# Each read of the page -> how each of its statements reads its main table, in order
# (COVERING left out: whether the index holds every column read is not the point).
ORDERS_BY_STATUS = "SEARCH t1 USING INDEX orders_status_created_at (status=?)"
PENDING_COLLECT = ("SEARCH t1 USING INDEX orders_status_shipping_method_created_at "
                   "(status=? AND shipping_method=?)")
OWED = "SCAN t1 USING INDEX sell_submissions_owed_created_at"  # partial: all of it answers
LOW = "SEARCH t1 USING INDEX products_status_stock_quantity (status=? AND stock_quantity<?)"
AGE = "SEARCH t1 USING INDEX products_status_created_at (status=? AND created_at<?)"
AGE_BAND = ("SEARCH t1 USING INDEX products_status_created_at "
            "(status=? AND created_at>? AND created_at<?)")
EMAIL = "SEARCH t1 USING INDEX users_email (email=?)"
GUEST = "SEARCH t1 USING INDEX orders_unclaimed_guest_email (guest_email=?)"
READS = {
    "to pack": (lambda: dashboard.orders_to_pack(),
                [ORDERS_BY_STATUS, PENDING_COLLECT, ORDERS_BY_STATUS, PENDING_COLLECT]),
    "unpaid": (lambda: dashboard.orders_unpaid(), [ORDERS_BY_STATUS, ORDERS_BY_STATUS]),
    "to review": (lambda: dashboard.submissions_to_review(), [
        "SEARCH t1 USING INDEX sell_submissions_status_created_at (status=?)"] * 2),
    "countered": (lambda: dashboard.counter_offers(), [
        "SEARCH t1 USING INDEX sell_submissions_offer_status_offer_expires_at (offer_status=?)",
        "SEARCH t1 USING INDEX sell_submissions_offer_status_created_at (offer_status=?)"]),
    "payouts owed": (lambda: dashboard.payouts_owed(), [OWED, OWED]),
    "low stock": (lambda: dashboard.low_stock(), [LOW, LOW]),
    "ageing": (lambda: dashboard.ageing_stock(), [AGE_BAND, AGE_BAND, AGE, AGE]),
    "search: an account's email": (
        lambda: dashboard.search_orders("U8@example.com"),
        [EMAIL, GUEST, "SEARCH t1 USING INDEX orders_user_id_created_at (user_id=?)"]),
    "search: a guest's email": (lambda: dashboard.search_orders("g8@example.com"),
                                [EMAIL, GUEST]),
    "search: an order number": (lambda: dashboard.search_orders("es-0001-0007"), [
        "SEARCH t1 USING INDEX orders_order_number (order_number=?)"]),
}


@pytest.mark.sqlite_only  # EXPLAIN QUERY PLAN on a SQLite file of 10^5 rows
@pytest.mark.parametrize("read", READS)
def test_each_read_is_an_index_range_at_a_hundred_thousand_rows(big_shop, read) -> None:
    init_database(big_shop)
    assert database.execute_sql("SELECT count(*) FROM orders").fetchone()[0] == ROWS
    assert database.execute_sql("SELECT count(*) FROM products").fetchone()[0] == ROWS
    call, expected = READS[read]
    with Statements() as statements:
        answer = call()
    plans = statements.plans()
    # A capped count reads its rows in a subquery (LIMIT 1001), then counts them.
    capped = ["CO-ROUTINE _wrapped", "SCAN _wrapped"]
    main = [next(s for s in plan if s not in capped) for plan in plans]
    assert [step.replace("COVERING ", "") for step in main] == expected, plans
    for (sql, _), plan in zip(statements.seen, plans, strict=True):
        if "COUNT(1)" in sql:
            assert "LIMIT ?" in sql and len(plan) == 3 and plan[::2] == capped, (sql, plan)
            continue
        for step in plan[1:]:  # the customer or seller: by primary key, once per row
            # A guest's orders are sorted: one email's orders, never the table's.
            assert step.startswith("SEARCH t2 USING INTEGER PRIMARY KEY") \
                or (step == "USE TEMP B-TREE FOR ORDER BY" and plan[0] == GUEST), (sql, plan)
    rows = answer.items if hasattr(answer, "items") else (
        answer[1].rows if isinstance(answer, tuple) else answer.rows)
    assert rows, "the read found nothing to show at this size"


@pytest.mark.sqlite_only  # EXPLAIN QUERY PLAN on a SQLite file of 10^5 rows
def test_a_search_reads_on_from_its_cursor(big_shop) -> None:
    init_database(big_shop)
    first = dashboard.search_orders("u8@example.com", limit=10)
    with Statements() as statements:
        second = dashboard.search_orders("u8@example.com", limit=10, cursor=first.next_cursor)
    plans = statements.plans()
    assert any("orders_user_id_created_at (user_id=? AND created_at<?)" in plan[0]
               for plan in plans), plans
    seen = [o["order_number"] for o in first.items + second.items]
    assert len(seen) == len(set(seen)) == 20


@pytest.mark.sqlite_only  # the 10^5-row file is built with SQLite's SQL (strftime, printf)
def test_the_page_renders_at_a_hundred_thousand_rows(big_shop, tmp_path) -> None:
    from shop.api import create_app

    init_database(big_shop)
    accounts.create_admin("owner@example.com", PASSWORD)
    database.close()
    app = create_app({"DATABASE": big_shop, "MEDIA_DIR": tmp_path / "media",
                      "TESTING": True})
    owner = Pages(app.test_client())
    with freeze_time(f"{BASE}T00:00:00Z") as frozen:
        frozen.tick(timedelta(days=57))  # products are 57 to 456 days old
        assert owner.sign_in("owner@example.com").status_code == 303
        html = owner.text("/admin")
    # The generated shop, counted from how it was generated (i = 1..10^5): past a
    # thousand, a count says "1000+" (it reads at most 1001 index entries).
    assert sum(1 for i in range(1, ROWS + 1) if i % 7 == 1 or (i % 7 == 0 and i % 3 == 0)) \
        > 1000
    assert count_of(html, "to-pack") == "1000+"
    assert count_of(html, "unpaid") == "1000+"
    assert count_of(html, "low-stock") == "1000+"
    assert count_of(html, "ageing") == "1000+"
    active = [i for i in range(1, ROWS + 1) if i % 10 < 7]
    young = sum(1 for i in active if 57 + i % 400 < 60)
    middle = sum(1 for i in active if 60 <= 57 + i % 400 < 90)
    assert (young, middle) == (750, 5250)
    assert re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", section(html, "ageing")) == [
        ("30\u201359 days", "750"), ("60\u201389 days", "1000+"), ("90+ days", "1000+")]
    assert count_of(html, "payouts") == sum(
        1 for i in range(1, 20_001) if i % 6 in (3, 4) and i % 10 == 3) == 667
    assert count_of(html, "to-review") == "1000+"  # 3,333 pending
    assert '<a href="/admin/orders?status=pending">See all 1000+ unpaid orders</a>' in html
    assert len(orders_in(section(html, "to-pack"))) == 10
