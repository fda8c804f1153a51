"""The races that matter (issue 14 §3), each run several times in two real threads on one
database file: accept against expiry, accept against withdraw, the shop's accept against
its own rejection, and checkout against archive. Each race has exactly the outcomes the
contract allows, and the ledger stays clean."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from freezegun import freeze_time

from shop import clock
from shop.models import OfferEvent, Order, Product, SellSubmission, User
from shop.services import catalogue, holds, orders, selling, stock
from shop.services.holds import Holder
from tests.conftest import sign_up

ROUNDS = 6
ITEM = {"title": "Tweed blazer", "category": "jackets", "condition": "good"}


def race(calls: dict[str, Callable[[], object]]) -> dict[str, str]:
    """Every call at once, one thread each; what each got ("ok" or its error's code)."""
    start = threading.Barrier(len(calls))
    outcomes: dict[str, str] = {}

    def attempt(name: str, call: Callable[[], object]) -> None:
        start.wait(10)
        try:
            call()
            outcomes[name] = "ok"
        except Exception as exc:  # recorded, and asserted by the caller
            outcomes[name] = getattr(exc, "code", type(exc).__name__)

    threads = [threading.Thread(target=attempt, args=item) for item in calls.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def _submission(client, seller, admin, to: str = "offer_sent") -> str:
    batch = client.post("/api/sell", json={"items": [ITEM, ITEM]}, headers=seller
                        ).get_json()["submission"]["batch_id"]
    client.post(f"/api/admin/submissions/{batch}/review", json={"status": "reviewing"},
                headers=admin)
    client.post(f"/api/admin/submissions/{batch}/offer", json={"offered_price_cents": 3000},
                headers=admin)
    if to == "countered":
        client.post(f"/api/offers/{batch}/respond", headers=seller,
                    json={"response": "counter", "counter_price_cents": 3500})
    return batch


def _ids() -> tuple[int, int]:
    return (User.get(User.email == "seller@example.com").id,
            User.get(User.email == "owner@example.com").id)


def _products_of(batch: str) -> int:
    sub = SellSubmission.get(SellSubmission.batch_id == batch)
    return Product.select().where(Product.source_item.in_(
        [i.id for i in sub.items])).count()


def test_accept_racing_withdraw_has_one_outcome(client, admin_headers) -> None:
    seller = sign_up(client, "seller@example.com")
    seller_id, _ = _ids()
    seen = set()
    for _ in range(ROUNDS):
        batch = _submission(client, seller, admin_headers)
        got = race({"accept": lambda b=batch: selling.respond(b, "accept", seller_id=seller_id),
                    "withdraw": lambda b=batch: selling.withdraw(b, seller_id=seller_id)})
        seen.add(tuple(sorted(got.items())))
        sub = SellSubmission.get(SellSubmission.batch_id == batch)
        if got["accept"] == "ok":
            assert got["withdraw"] == "invalid_offer_transition"
            assert (sub.status, sub.offer_status, _products_of(batch)) == \
                ("reviewing", "accepted", 2)
        else:
            assert got == {"accept": "invalid_offer_transition", "withdraw": "ok"}
            assert (sub.status, sub.offer_status, _products_of(batch)) == \
                ("withdrawn", "offer_sent", 0)
    assert stock.verify().violations == []


def test_the_shops_accept_racing_its_rejection_has_one_outcome(client, admin_headers) -> None:
    seller = sign_up(client, "seller@example.com")
    _, admin_id = _ids()
    for _ in range(ROUNDS):
        batch = _submission(client, seller, admin_headers, to="countered")
        got = race({"accept": lambda b=batch: selling.accept_counter(b, admin_id=admin_id),
                    "reject": lambda b=batch: selling.review(b, "rejected", admin_id=admin_id)})
        sub = SellSubmission.get(SellSubmission.batch_id == batch)
        if got["accept"] == "ok":
            assert got["reject"] == "invalid_offer_transition"
            assert (sub.status, sub.offer_status, sub.payout_status) == \
                ("reviewing", "accepted", "owed")
            assert _products_of(batch) == 2
        else:
            assert got == {"accept": "invalid_offer_transition", "reject": "ok"}
            assert (sub.status, sub.offer_status, sub.payout_status) == \
                ("rejected", "countered", "none")
            assert _products_of(batch) == 0
    assert stock.verify().violations == []


def test_accept_racing_the_expiry_sweep_never_accepts_a_lapsed_offer(client,
                                                                     admin_headers) -> None:
    """Past its date, an offer is expired whichever comes first: the seller's accept
    (lazy expiry) or the cron sweep; the history says so exactly once."""
    seller = sign_up(client, "seller@example.com")
    seller_id, _ = _ids()
    for _ in range(ROUNDS):
        batch = _submission(client, seller, admin_headers)
        with freeze_time(clock.now() + timedelta(days=14, seconds=1)):
            got = race({
                "accept": lambda b=batch: selling.respond(b, "accept", seller_id=seller_id),
                "sweep": selling.expire_offers})
        assert got == {"accept": "invalid_offer_transition", "sweep": "ok"}
        sub = SellSubmission.get(SellSubmission.batch_id == batch)
        assert sub.offer_status == "expired" and _products_of(batch) == 0
        events = [e.action for e in OfferEvent.select().where(OfferEvent.submission == sub.id)
                  .order_by(OfferEvent.id)]
        assert events == ["review", "offer", "expire"]


def test_checkout_racing_archive_sells_only_what_is_still_for_sale(client) -> None:
    ann = sign_up(client, "ann@example.com")
    user_id = User.get(User.email == "ann@example.com").id
    del ann
    for n in range(ROUNDS):
        kept, gone = (catalogue.create_product({
            "sku": f"R-{n}-{k}", "title": "Coat", "category": "coats", "condition": "good",
            "price_cents": 1000, "status": "active"})["id"] for k in ("kept", "gone"))
        for pid in (kept, gone):
            stock.adjust(pid, 1, "restock")
            holds.hold(Holder(user_id=user_id), pid, 1)
        got = race({"checkout": lambda: orders.checkout(user_id),
                    "archive": lambda g=gone: catalogue.update_product(
                        g, {"status": "archived"})})
        assert got == {"checkout": "ok", "archive": "ok"}
        order = Order.select().where(Order.user == user_id).order_by(Order.id.desc()).get()
        sold = sorted(i.product_id for i in order.items)
        archived = Product.get_by_id(gone)
        assert archived.status == "archived"
        # Either the checkout came first and sold both, or the archive released the hold
        # first and the order holds only what was still for sale: never a unit lost.
        assert sold in ([kept, gone], [kept])
        assert archived.stock_quantity == (0 if sold == [kept, gone] else 1)
        assert Product.get_by_id(kept).status == "sold_out"
    assert stock.verify().violations == []


def test_a_keyed_checkout_racing_its_own_retry_gets_one_order_and_one_answer(client) -> None:
    """API.md: a retry with the same Idempotency-Key gets the stored answer. Sent twice at
    once (a double submit with a key), one places the order and the other waits for it
    and answers the same: never a second order, never "the cart is empty". On PostgreSQL
    the two transactions do not queue on one write lock, so the key is what they queue
    on."""
    sign_up(client, "ann@example.com")
    user_id = User.get(User.email == "ann@example.com").id
    for n in range(ROUNDS):
        pid = catalogue.create_product({
            "sku": f"K-{n}", "title": "Coat", "category": "coats", "condition": "good",
            "price_cents": 1000, "status": "active"})["id"]
        stock.adjust(pid, 1, "restock")
        holds.hold(Holder(user_id=user_id), pid, 1)
        answers: dict[str, tuple] = {}

        def submit(name: str, key: str = f"double-{n}", out: dict = answers) -> None:
            out[name] = orders.checkout(user_id, idempotency_key=key)

        got = race({"first": lambda: submit("first"), "again": lambda: submit("again")})
        assert got == {"first": "ok", "again": "ok"}
        assert answers["first"] == answers["again"]
        assert answers["first"][0] == 201
        assert Order.select().where(Order.user == user_id).count() == n + 1
    assert stock.verify().violations == []
