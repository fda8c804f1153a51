"""The sell side over HTTP (API.md "Selling"): submissions, both lifecycles through their
transition tables, atomic acceptance, payouts, expiry, idempotent answers, and the race
between a seller's accept and the shop's new offer."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from datetime import timedelta

import pytest
from freezegun import freeze_time

from shop import clock
from shop.db import database, init_database
from shop.services import selling, stock
from tests.conftest import sign_up

ITEM = {"title": "Tweed blazer", "brand": "Magee", "category": "jackets", "size": "M",
        "condition": "good", "notes": "a small mark on the cuff"}


@pytest.fixture
def seller(client):
    return sign_up(client, "seller@example.com")


def submit(client, headers, items=None, price=4000) -> str:
    r = client.post("/api/sell", json={"items": items or [ITEM, {**ITEM, "title": "Brogues",
                                                                  "category": "shoes"}],
                                       "seller_price_cents": price, "notes": "clear-out"},
                    headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["submission"]["batch_id"]


def admin_view(client, admin, batch) -> dict:
    return client.get(f"/api/admin/submissions/{batch}", headers=admin).get_json()["submission"]


def test_a_seller_submits_a_batch_and_reads_it_back(client, seller) -> None:
    batch = submit(client, seller)
    assert batch.startswith("SB-") and len(batch) == 12
    sub = client.get(f"/api/sell/{batch}", headers=seller).get_json()["submission"]
    assert (sub["status"], sub["offer_status"], sub["seller_price_cents"]) == \
        ("pending", "no_offer", 4000)
    assert [i["title"] for i in sub["items"]] == ["Tweed blazer", "Brogues"]
    image = client.post(f"/api/sell/{batch}/images", headers=seller,
                        json={"cloudflare_id": "cf-1", "url": "https://img.test/1.jpg"})
    assert image.status_code == 201
    listed = client.get("/api/sell", headers=seller).get_json()["items"]
    assert [s["batch_id"] for s in listed] == [batch]


@pytest.mark.parametrize(("body", "field"), [
    ({"items": [ITEM] * 51, "seller_price_cents": 100}, "items"),
    ({"items": [], "seller_price_cents": 100}, "items"),
    ({"items": [ITEM], "seller_price_cents": -1}, "seller_price_cents"),
    ({"items": [ITEM], "seller_price_cents": 10**12}, "seller_price_cents"),
    ({"items": [{**ITEM, "category": "Jackets!"}]}, "items.0.category"),
    ({"items": [{**ITEM, "condition": "mint"}]}, "items.0.condition"),
    ({"items": [{**ITEM, "title": "x\u0000y"}]}, "items.0.title"),
])
def test_bad_submissions_are_a_400_naming_the_field(client, seller, body, field) -> None:
    r = client.post("/api/sell", json=body, headers=seller)
    assert r.status_code == 400
    assert field in r.get_json()["error"]["details"]["fields"]


def test_another_user_gets_404_and_changes_nothing(client, seller, admin_headers,
                                                   customer_headers) -> None:
    batch = submit(client, seller)
    client.post(f"/api/admin/submissions/{batch}/review", json={"status": "reviewing"},
                headers=admin_headers)
    client.post(f"/api/admin/submissions/{batch}/offer", json={"offered_price_cents": 3000},
                headers=admin_headers)
    before = admin_view(client, admin_headers, batch)
    stranger = customer_headers
    assert client.get(f"/api/sell/{batch}", headers=stranger).status_code == 404
    assert client.post(f"/api/sell/{batch}/withdraw", headers=stranger).status_code == 404
    assert client.post(f"/api/offers/{batch}/respond", json={"response": "accept"},
                       headers=stranger).status_code == 404
    assert client.post(f"/api/sell/{batch}/images", headers=stranger, json={
        "cloudflare_id": "x", "url": "https://img.test/x.jpg"}).status_code == 404
    assert client.post(f"/api/admin/submissions/{batch}/offer", headers=stranger,
                       json={"offered_price_cents": 1}).status_code == 403
    assert admin_view(client, admin_headers, batch) == before


# -- the transition tables, every combination -------------------------------------------------

def _reach(client, seller, admin, state: str) -> str:
    """A submission in the given offer state (under review), by the API."""
    batch = submit(client, seller)
    client.post(f"/api/admin/submissions/{batch}/review", json={"status": "reviewing"},
                headers=admin)
    if state == "no_offer":
        return batch
    client.post(f"/api/admin/submissions/{batch}/offer", json={"offered_price_cents": 3000},
                headers=admin)
    answers = {"countered": {"response": "counter", "counter_price_cents": 3500},
               "accepted": {"response": "accept"}, "rejected": {"response": "reject"}}
    if state in answers:
        client.post(f"/api/offers/{batch}/respond", json=answers[state], headers=seller)
    if state == "expired":
        selling.expire_offers()  # nothing due yet
        with freeze_time(clock.now() + timedelta(days=15)):
            assert selling.expire_offers() == 1
    return batch


ACTIONS = {
    ("offer", "shop"): ("POST", "/api/admin/submissions/{b}/offer", {"offered_price_cents": 2800},
                        "admin"),
    ("accept", "shop"): ("POST", "/api/admin/submissions/{b}/accept-counter", None, "admin"),
    ("accept", "seller"): ("POST", "/api/offers/{b}/respond", {"response": "accept"}, "seller"),
    ("reject", "seller"): ("POST", "/api/offers/{b}/respond", {"response": "reject"}, "seller"),
    ("counter", "seller"): ("POST", "/api/offers/{b}/respond",
                           {"response": "counter", "counter_price_cents": 3300}, "seller"),
}
STATES = ["no_offer", "offer_sent", "countered", "accepted", "rejected", "expired"]


@pytest.mark.parametrize(("state", "action"), list(itertools.product(STATES, ACTIONS)),
                         ids=lambda v: v if isinstance(v, str) else "-".join(v))
def test_every_offer_step_is_allowed_by_the_table_or_409_with_nothing_written(
        client, seller, admin_headers, state, action) -> None:
    batch = _reach(client, seller, admin_headers, state)
    before = admin_view(client, admin_headers, batch)
    method, path, body, who = ACTIONS[action]
    headers = admin_headers if who == "admin" else seller
    r = client.open(path.format(b=batch), method=method, json=body, headers=headers)
    after = admin_view(client, admin_headers, batch)
    expected = selling.OFFERS.get((state, *action))
    if expected is None:
        assert r.status_code == 409, (state, action, r.get_json())
        assert r.get_json()["error"]["code"] == "invalid_offer_transition"
        assert after == before
    else:
        assert r.status_code in (200, 201), (state, action, r.get_json())
        assert after["offer_status"] == expected
        assert after["offer_events"][:-1] == before["offer_events"]
        assert after["offer_events"][-1]["action"] == action[0]
        assert after["offer_events"][-1]["actor"] == action[1]


REVIEWS = ["pending", "reviewing", "approved", "rejected", "withdrawn"]


@pytest.mark.parametrize(("start", "target"),
                         list(itertools.product(REVIEWS, ["reviewing", "approved", "rejected",
                                                          "withdrawn"])))
def test_every_review_step_is_allowed_by_the_table_or_409(client, seller, admin_headers,
                                                          start, target) -> None:
    batch = submit(client, seller)
    path = {"pending": [], "reviewing": ["reviewing"], "approved": ["reviewing", "approved"],
            "rejected": ["rejected"], "withdrawn": []}
    for step in path[start]:
        client.post(f"/api/admin/submissions/{batch}/review", json={"status": step},
                    headers=admin_headers)
    if start == "withdrawn":
        client.post(f"/api/sell/{batch}/withdraw", headers=seller)
    before = admin_view(client, admin_headers, batch)
    assert before["status"] == start
    if target == "withdrawn":
        r = client.post(f"/api/sell/{batch}/withdraw", headers=seller)
        allowed = (start, "withdraw", "seller") in selling.REVIEW
    else:
        r = client.post(f"/api/admin/submissions/{batch}/review", json={"status": target},
                        headers=admin_headers)
        allowed = (start, selling.REVIEW_ACTIONS[target], "shop") in selling.REVIEW
    after = admin_view(client, admin_headers, batch)
    if allowed:
        assert r.status_code == 200 and after["status"] == target
        assert len(after["offer_events"]) == len(before["offer_events"]) + 1
    else:
        assert r.status_code == 409 and after == before


# -- acceptance, payouts, expiry, idempotency ------------------------------------------------

def test_acceptance_turns_the_items_into_draft_stock_in_one_step(client, seller,
                                                                 admin_headers, db_path):
    batch = _reach(client, seller, admin_headers, "offer_sent")
    client.post(f"/api/sell/{batch}/images", headers=seller,
                json={"cloudflare_id": "cf-1", "url": "https://img.test/1.jpg"})
    assert client.post(f"/api/admin/submissions/{batch}/payout", json={"reference": "x"},
                       headers=admin_headers).status_code == 409  # nothing owed yet
    r = client.post(f"/api/offers/{batch}/respond", json={"response": "accept"},
                    headers=seller)
    sub = r.get_json()["submission"]
    assert (sub["offer_status"], sub["final_price_cents"], sub["payout_status"],
            sub["seller_response"]) == ("accepted", 3000, "owed", "accept")
    assert sub["responded_at"]
    conn = sqlite3.connect(db_path)
    products = conn.execute(
        "SELECT p.id, p.status, p.stock_quantity, p.title, i.title, p.price_cents FROM products p "
        "JOIN sell_items i ON i.id = p.source_item_id ORDER BY p.id").fetchall()
    assert [(s, q) for _, s, q, *_ in products] == [("draft", 1), ("draft", 1)]
    assert all(p[3] == p[4] for p in products)
    assert all(p[5] == 3000 for p in products)  # twice the price paid per item
    moves = conn.execute("SELECT reason, qty_change, submission_id IS NOT NULL FROM "
                         "stock_moves").fetchall()
    assert moves == [("purchase", 1, 1), ("purchase", 1, 1)]
    assert conn.execute("SELECT count(*) FROM images WHERE product_id IS NOT NULL"
                        ).fetchone() == (2,)
    conn.close()
    assert stock.verify().violations == []
    paid = client.post(f"/api/admin/submissions/{batch}/payout",
                       json={"reference": "SEPA-2026-0042"}, headers=admin_headers)
    assert paid.status_code == 200
    assert paid.get_json()["submission"]["payout_status"] == "paid"
    assert paid.get_json()["submission"]["offer_events"][-1]["action"] == "payout"
    assert client.post(f"/api/admin/submissions/{batch}/payout", json={"reference": "again"},
                       headers=admin_headers).status_code == 409
    assert client.post(f"/api/sell/{batch}/withdraw", headers=seller).status_code == 409


def test_the_shop_accepting_a_counter_fixes_the_counter_price(client, seller, admin_headers):
    batch = _reach(client, seller, admin_headers, "countered")
    r = client.post(f"/api/admin/submissions/{batch}/accept-counter", headers=admin_headers)
    assert r.status_code == 200
    sub = r.get_json()["submission"]
    assert (sub["offer_status"], sub["final_price_cents"]) == ("accepted", 3500)
    assert [e["action"] for e in sub["offer_events"]] == ["review", "offer", "counter",
                                                          "accept"]


def test_an_unanswered_offer_expires_lazily_and_by_the_sweep(client, seller, admin_headers,
                                                             runner) -> None:
    batch = _reach(client, seller, admin_headers, "offer_sent")
    other = _reach(client, seller, admin_headers, "offer_sent")
    with freeze_time(clock.now() + timedelta(days=14, seconds=1)):
        r = client.post(f"/api/offers/{batch}/respond", json={"response": "accept"},
                        headers=seller)
        assert r.status_code == 409  # expired on the way in: nothing to accept
        sub = client.get(f"/api/sell/{batch}", headers=seller).get_json()["submission"]
        assert sub["offer_status"] == "expired"
        assert sub["offer_events"][-1]["action"] == "expire"
        swept = runner.invoke(["offers", "expire"])
        assert swept.exit_code == 0 and "expired 1 offer" in swept.output
        again = runner.invoke(["offers", "expire"])
        assert "expired 0 offer" in again.output
    assert admin_view(client, admin_headers, other)["offer_status"] == "expired"
    renewed = client.post(f"/api/admin/submissions/{batch}/offer",
                          json={"offered_price_cents": 2500}, headers=admin_headers)
    assert renewed.get_json()["submission"]["offer_status"] == "offer_sent"


def test_a_counter_needs_an_amount_and_the_answer_is_idempotent(client, seller,
                                                                admin_headers) -> None:
    batch = _reach(client, seller, admin_headers, "offer_sent")
    r = client.post(f"/api/offers/{batch}/respond", json={"response": "counter"},
                    headers=seller)
    assert r.status_code == 400
    assert "counter_price_cents" in r.get_json()["error"]["details"]["fields"]
    keyed = {**seller, "Idempotency-Key": "answer-1"}
    body = {"response": "counter", "counter_price_cents": 3900}
    first = client.post(f"/api/offers/{batch}/respond", json=body, headers=keyed)
    again = client.post(f"/api/offers/{batch}/respond", json=body, headers=keyed)
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    assert len(admin_view(client, admin_headers, batch)["offer_events"]) == 3
    other = client.post(f"/api/offers/{batch}/respond", json={"response": "reject"},
                        headers=keyed)
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_conflict"


def test_the_admin_lists_submissions_by_status_and_offer_status(client, seller,
                                                                admin_headers) -> None:
    open_offer = _reach(client, seller, admin_headers, "offer_sent")
    fresh = submit(client, seller)
    everything = client.get("/api/admin/submissions", headers=admin_headers).get_json()
    assert [s["batch_id"] for s in everything["items"]] == [fresh, open_offer]
    sent = client.get("/api/admin/submissions?offer_status=offer_sent",
                      headers=admin_headers).get_json()
    assert [s["batch_id"] for s in sent["items"]] == [open_offer]
    pending = client.get("/api/admin/submissions?status=pending", headers=admin_headers)
    assert [s["batch_id"] for s in pending.get_json()["items"]] == [fresh]


# -- the race: the seller accepts while the shop sends a new offer ---------------------------

def _race_once(batch: str, seller_id: int, admin_id: int) -> dict[str, str]:
    """Both at once, in two threads on the same database file; what each one got."""
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def attempt(name: str, call) -> None:
        start.wait(10)
        try:
            call()
            outcomes[name] = "ok"
        except Exception as exc:  # recorded, and asserted by the caller
            outcomes[name] = type(exc).__name__

    threads = [
        threading.Thread(target=attempt, args=(
            "accept", lambda: selling.respond(batch, "accept", seller_id=seller_id))),
        threading.Thread(target=attempt, args=(
            "offer", lambda: selling.offer(batch, 2000, admin_id=admin_id))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def test_accept_racing_a_new_offer_has_exactly_one_outcome(client, seller, admin_headers,
                                                           app, db_path) -> None:
    from shop.models import User

    seller_id = User.get(User.email == "seller@example.com").id
    admin_id = User.get(User.email == "owner@example.com").id
    for _ in range(8):
        batch = _reach(client, seller, admin_headers, "offer_sent")
        outcomes = _race_once(batch, seller_id, admin_id)
        assert outcomes == {"accept": "ok", "offer": "InvalidOfferTransition"}, outcomes
        sub = admin_view(client, admin_headers, batch)
        assert sub["final_price_cents"] == 3000  # the price the seller saw
        assert [e["action"] for e in sub["offer_events"]] == ["review", "offer", "accept"]
    init_database(db_path)
    assert stock.verify().violations == []
    database.close()
