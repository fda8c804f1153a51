"""The sell side over HTTP (API.md "Selling"): submissions, both lifecycles through their
transition tables, atomic acceptance, payouts, expiry, idempotent answers, and the race
between a seller's accept and the shop's new offer."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta

import pytest
from freezegun import freeze_time

from shop import clock
from shop.db import database
from shop.services import selling, stock
from tests import engine
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
    "review": ("POST", "/api/admin/submissions/{b}/review", {"status": "reviewing"}, "admin"),
    "approve": ("POST", "/api/admin/submissions/{b}/review", {"status": "approved"}, "admin"),
    "reject_review": ("POST", "/api/admin/submissions/{b}/review", {"status": "rejected"},
                      "admin"),
    "offer": ("POST", "/api/admin/submissions/{b}/offer", {"offered_price_cents": 3000},
              "admin"),
    "accept_counter": ("POST", "/api/admin/submissions/{b}/accept-counter", None, "admin"),
    "accept": ("POST", "/api/offers/{b}/respond", {"response": "accept"}, "seller"),
    "reject": ("POST", "/api/offers/{b}/respond", {"response": "reject"}, "seller"),
    "counter": ("POST", "/api/offers/{b}/respond",
                {"response": "counter", "counter_price_cents": 3500}, "seller"),
    "withdraw": ("POST", "/api/sell/{b}/withdraw", None, "seller"),
}
# Each (status, offer_status) state, and the steps that reach it.
PATHS = {
    ("pending", "no_offer"): [],
    ("reviewing", "no_offer"): ["review"],
    ("approved", "no_offer"): ["review", "approve"],
    ("rejected", "no_offer"): ["reject_review"],
    ("withdrawn", "no_offer"): ["withdraw"],
    ("reviewing", "offer_sent"): ["review", "offer"],
    ("reviewing", "countered"): ["review", "offer", "counter"],
    ("reviewing", "accepted"): ["review", "offer", "accept"],
    ("approved", "accepted"): ["review", "approve", "offer", "accept"],
    ("reviewing", "rejected"): ["review", "offer", "reject"],
    ("reviewing", "expired"): ["review", "offer", "expire"],
    ("withdrawn", "offer_sent"): ["review", "offer", "withdraw"],
}
# API.md "Selling", written out: review moves pending → reviewing → approved, and
# pending|reviewing → rejected, never while an offer waits for its answer and never after
# acceptance; an offer while reviewing or approved, unless one is open or accepted; the
# seller answers only an open offer; the shop accepts only a counter; the seller withdraws
# only before acceptance. Everything else is 409 invalid_offer_transition.
ALLOWED: dict[tuple[str, str], dict[str, tuple[str, str]]] = {
    ("pending", "no_offer"): {"review": ("reviewing", "no_offer"),
                              "reject_review": ("rejected", "no_offer"),
                              "withdraw": ("withdrawn", "no_offer")},
    ("reviewing", "no_offer"): {"approve": ("approved", "no_offer"),
                                "reject_review": ("rejected", "no_offer"),
                                "withdraw": ("withdrawn", "no_offer"),
                                "offer": ("reviewing", "offer_sent")},
    ("approved", "no_offer"): {"withdraw": ("withdrawn", "no_offer"),
                               "offer": ("approved", "offer_sent")},
    ("rejected", "no_offer"): {},
    ("withdrawn", "no_offer"): {},
    ("reviewing", "offer_sent"): {"approve": ("approved", "offer_sent"),
                                  "withdraw": ("withdrawn", "offer_sent"),
                                  "accept": ("reviewing", "accepted"),
                                  "reject": ("reviewing", "rejected"),
                                  "counter": ("reviewing", "countered")},
    ("reviewing", "countered"): {"approve": ("approved", "countered"),
                                 "reject_review": ("rejected", "countered"),
                                 "withdraw": ("withdrawn", "countered"),
                                 "offer": ("reviewing", "offer_sent"),
                                 "accept_counter": ("reviewing", "accepted")},
    ("reviewing", "accepted"): {},
    ("approved", "accepted"): {},
    ("reviewing", "rejected"): {"approve": ("approved", "rejected"),
                                "reject_review": ("rejected", "rejected"),
                                "withdraw": ("withdrawn", "rejected")},
    ("reviewing", "expired"): {"approve": ("approved", "expired"),
                               "reject_review": ("rejected", "expired"),
                               "withdraw": ("withdrawn", "expired"),
                               "offer": ("reviewing", "offer_sent")},
    ("withdrawn", "offer_sent"): {},
}


def _act(client, seller, admin, batch: str, action: str):
    method, path, body, who = ACTIONS[action]
    return client.open(path.format(b=batch), method=method, json=body,
                       headers=admin if who == "admin" else seller)


def _reach(client, seller, admin, state: str | tuple[str, str]) -> str:
    """A submission in the given state, by the API (an offer state alone: under review)."""
    if isinstance(state, str):
        state = ("reviewing", state)
    batch = submit(client, seller)
    for step in PATHS[state]:
        if step == "expire":
            with freeze_time(clock.now() + timedelta(days=15)):
                assert selling.expire_offers() == 1
        else:
            assert _act(client, seller, admin, batch, step).status_code in (200, 201), step
    return batch


@pytest.mark.parametrize(("state", "action"), list(itertools.product(PATHS, ACTIONS)),
                         ids=lambda v: v if isinstance(v, str) else "/".join(v))
def test_every_action_in_every_state_is_the_contracts_answer(
        client, seller, admin_headers, state, action) -> None:
    """Both statuses are checked for every action (issue 14, defect 2: the shop could
    reject a submission the seller had already accepted)."""
    batch = _reach(client, seller, admin_headers, state)
    before = admin_view(client, admin_headers, batch)
    assert (before["status"], before["offer_status"]) == state
    r = _act(client, seller, admin_headers, batch, action)
    after = admin_view(client, admin_headers, batch)
    expected = ALLOWED[state].get(action)
    if expected is None:
        assert r.status_code == 409, (state, action, r.get_json())
        assert r.get_json()["error"]["code"] == "invalid_offer_transition"
        assert after == before
    else:
        assert r.status_code in (200, 201), (state, action, r.get_json())
        assert (after["status"], after["offer_status"]) == expected
        assert after["offer_events"][:-1] == before["offer_events"]
        assert len(after["offer_events"]) == len(before["offer_events"]) + 1


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
    conn = engine.connect(db_path)
    products = conn.execute(
        "SELECT p.id, p.status, p.stock_quantity, p.title, i.title, p.price_cents FROM products p "
        "JOIN sell_items i ON i.id = p.source_item_id ORDER BY p.id").fetchall()
    assert [(s, q) for _, s, q, *_ in products] == [("draft", 1), ("draft", 1)]
    assert all(p[3] == p[4] for p in products)
    assert all(p[5] == 3000 for p in products)  # twice the price paid per item
    moves = conn.execute("SELECT reason, qty_change, submission_id IS NOT NULL FROM "
                         "stock_moves").fetchall()
    assert moves == [("purchase", 1, 1), ("purchase", 1, 1)]
    # A photo of the whole batch stays with the submission: no product shows it.
    assert conn.execute("SELECT count(*) FROM images WHERE product_id IS NOT NULL"
                        ).fetchone() == (0,)
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


def _photo(client, seller, batch, item_id, name):
    return client.post(f"/api/sell/{batch}/items/{item_id}/images", headers=seller,
                       json={"cloudflare_id": name, "url": f"https://img.test/{name}.jpg"})


def test_each_product_gets_its_own_items_photos_and_a_share_of_the_price(
        client, seller, admin_headers, db_path) -> None:
    """API.md "Selling": on acceptance each draft product gets only its own item's photos
    and a cost_cents; the cost bases add up to the final price, in proportion to the
    asking prices (3000 at 1:2:3 → 500, 1000, 1500); the shelf price starts from it."""
    items = [{**ITEM, "title": t, "asking_price_cents": a}
             for t, a in (("Scarf", 1000), ("Blazer", 2000), ("Boots", 3000))]
    batch = submit(client, seller, items=items)
    sub = client.get(f"/api/sell/{batch}", headers=seller).get_json()["submission"]
    scarf, blazer, _boots = (i["id"] for i in sub["items"])
    assert [i["asking_price_cents"] for i in sub["items"]] == [1000, 2000, 3000]
    assert _photo(client, seller, batch, scarf, "scarf-1").status_code == 201
    assert _photo(client, seller, batch, scarf, "scarf-2").status_code == 201
    r = _photo(client, seller, batch, blazer, "blazer-1")
    assert r.status_code == 201 and r.get_json()["image"]["item_id"] == blazer
    sub = client.get(f"/api/sell/{batch}", headers=seller).get_json()["submission"]
    assert [[m["cloudflare_id"] for m in i["images"]] for i in sub["items"]] == \
        [["scarf-1", "scarf-2"], ["blazer-1"], []]
    for step in ("review", "offer", "accept"):
        assert _act(client, seller, admin_headers, batch, step).status_code in (200, 201)
    conn = engine.connect(db_path)
    rows = conn.execute(
        "SELECT i.title, p.cost_cents, p.price_cents, (SELECT group_concat(m.cloudflare_id) "
        "FROM images m WHERE m.product_id = p.id) FROM products p "
        "JOIN sell_items i ON i.id = p.source_item_id ORDER BY p.id").fetchall()
    conn.close()
    assert rows == [("Scarf", 500, 1000, "scarf-1,scarf-2"), ("Blazer", 1000, 2000, "blazer-1"),
                    ("Boots", 1500, 3000, None)]


def test_without_every_asking_price_the_price_is_shared_equally_to_the_cent(
        client, seller, admin_headers, db_path) -> None:
    items = [{**ITEM, "title": t} for t in ("A", "B", "C")]
    items[0]["asking_price_cents"] = 9000  # one price is not every price
    batch = submit(client, seller, items=items)
    for step in ("review", "offer", "accept"):  # the offer is 3000 cents
        _act(client, seller, admin_headers, batch, step)
    conn = engine.connect(db_path)
    costs = [c for (c,) in conn.execute("SELECT cost_cents FROM products ORDER BY id")]
    conn.close()
    assert costs == [1000, 1000, 1000] and sum(costs) == 3000


def test_item_photos_are_limited_and_belong_to_the_submission(client, seller,
                                                               admin_headers) -> None:
    batch = submit(client, seller)
    other = submit(client, seller)
    item = client.get(f"/api/sell/{batch}", headers=seller).get_json()["submission"][
        "items"][0]["id"]
    assert _photo(client, seller, other, item, "x").status_code == 404  # not that batch's
    for n in range(10):
        assert _photo(client, seller, batch, item, f"p{n}").status_code == 201
    r = _photo(client, seller, batch, item, "eleventh")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "conflict"
    for step in ("review", "offer", "accept"):
        _act(client, seller, admin_headers, batch, step)
    r = _photo(client, seller, batch, item + 1, "late")  # decided: no more photos
    assert r.status_code == 409


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
    assert stock.verify().violations == []
    database.close()
