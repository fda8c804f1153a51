"""The owner's submission pages (issue 15, "Submissions"; API.md "Selling" and "Pages"):
the queue, filtered and keyset-paginated, and one batch's page, whose forms review, offer,
accept a counter and record the payout through the same services as the API, so the
database changes exactly as the API's contract says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from shop.services import selling
from tests.conftest import sign_up
from tests.pages.conftest import Pages
from tests.shopping import rows

ITEMS = [{"title": "Tweed blazer", "brand": "Magee", "category": "jackets", "size": "M",
          "condition": "good", "notes": "a small mark on the cuff",
          "asking_price_cents": 2500},
         {"title": "Brogues", "brand": "", "category": "shoes", "size": "43",
          "condition": "fair", "notes": "", "asking_price_cents": 1500}]


# --- helpers (the seller's side goes through the API, as a seller's app would) -------------

def submit(client: FlaskClient, seller: dict[str, str], price: int = 4000,
           items: list[dict[str, Any]] | None = None) -> str:
    r = client.post("/api/sell", json={"items": items or ITEMS, "seller_price_cents": price,
                                       "notes": "a clear-out"}, headers=seller)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["submission"]["batch_id"]


def api(client: FlaskClient, headers: dict[str, str], path: str, body: dict | None = None,
        status: int = 200) -> None:
    r = client.post(path, json=body or {}, headers=headers)
    assert r.status_code == status, r.get_json()


def state(db_path: Path, batch: str) -> tuple:
    """(status, offer_status, offered, final, seller price, payout status, reference)."""
    found, = rows(db_path, "SELECT status, offer_status, offered_price_cents, "
                           "final_price_cents, seller_price_cents, payout_status, "
                           "payout_reference FROM sell_submissions WHERE batch_id = ?", batch)
    return found


def events(db_path: Path, batch: str) -> list[tuple]:
    """The batch's offer_events rows: (actor, action, amount_cents, message)."""
    return rows(db_path, "SELECT e.actor, e.action, e.amount_cents, e.message "
                         "FROM offer_events e JOIN sell_submissions s ON s.id = e.submission_id "
                         "WHERE s.batch_id = ? ORDER BY e.id", batch)


def audits(db_path: Path, batch: str) -> list[str]:
    return [a for a, in rows(db_path, "SELECT action FROM audit_logs WHERE entity_type = "
                                      "'submission' AND entity_id = ? ORDER BY id", batch)]


def everything(db_path: Path, batch: str) -> tuple:
    """What an action may change: the batch, its history, the audit log, products, moves."""
    return (state(db_path, batch), events(db_path, batch), audits(db_path, batch),
            rows(db_path, "SELECT count(*) FROM products"),
            rows(db_path, "SELECT count(*) FROM stock_moves"))


def body(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def seller(client: FlaskClient) -> dict[str, str]:
    return sign_up(client, "sam@example.com")


@pytest.fixture
def batch(client: FlaskClient, seller: dict[str, str]) -> str:
    made = submit(client, seller)
    sub = client.get(f"/api/sell/{made}", headers=seller).get_json()["submission"]
    api(client, seller, f"/api/sell/{made}/items/{sub['items'][0]['id']}/images",
        {"cloudflare_id": "cf-1", "url": "https://img.test/blazer.jpg"}, 201)
    return made


def reviewing(owner: Pages, batch: str) -> None:
    assert owner.post(f"/admin/submissions/{batch}/review",
                      {"status": "reviewing"}).status_code == 303


def offered(owner: Pages, batch: str, amount: str = "30") -> None:
    reviewing(owner, batch)
    assert owner.post(f"/admin/submissions/{batch}/offer",
                      {"amount": amount, "message": ""}).status_code == 303


# --- who may see them ---------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/admin/submissions", "/admin/submissions/{b}"])
def test_the_pages_are_for_admins(owner: Pages, shopper: Pages, pages: Pages, app,
                                  batch: str, path: str) -> None:
    path = path.format(b=batch)
    guest = Pages(app.test_client())
    r = guest.get(path)
    assert r.status_code == 303
    assert r.headers["Location"] == f"/admin/login?next={path}"
    assert shopper.get(path).status_code == 403
    assert "for the shop&#39;s admins" in body(shopper.get(path))
    html = owner.text(path)
    assert '<a href="/admin/submissions" aria-current="page">Submissions</a>' in html


@pytest.mark.parametrize(("path", "data"), [
    ("review", {"status": "reviewing"}), ("offer", {"amount": "30"}),
    ("accept-counter", {}), ("payout", {"reference": "TR-1"})])
def test_a_guest_or_a_customer_changes_nothing(client: FlaskClient, app, shopper: Pages,
                                               batch: str, db_path: Path, path: str,
                                               data: dict) -> None:
    before = everything(db_path, batch)
    guest = Pages(app.test_client())
    r = guest.post(f"/admin/submissions/{batch}/{path}", data)
    assert r.status_code == 303 and r.headers["Location"].startswith("/admin/login?next=")
    assert shopper.post(f"/admin/submissions/{batch}/{path}", data).status_code == 403
    assert everything(db_path, batch) == before


def test_a_batch_that_is_not_there_is_a_404_page(owner: Pages) -> None:
    r = owner.get("/admin/submissions/SB-NOTHERE1")
    assert r.status_code == 404
    assert r.content_type.startswith("text/html")
    assert "no such submission" in body(r)


# --- the queue ----------------------------------------------------------------------------

def test_the_queue_shows_each_batch_with_its_seller_items_and_asking_total(
        owner: Pages, client: FlaskClient, seller: dict[str, str]) -> None:
    first = submit(client, seller, price=4000)
    second = submit(client, sign_up(client, "ria@example.com"), price=1250, items=ITEMS[:1])
    html = owner.text("/admin/submissions")
    assert html.index(second) < html.index(first)  # newest first
    row = re.search(rf"<tr>\s*<td><a href=\"/admin/submissions/{first}\">{first}</a></td>"
                    r"(.*?)</tr>", html, re.S)
    assert row, html
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert cells[0] == 'sam<br><span class="muted">sam@example.com</span>'
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", cells[1])
    assert cells[2:] == ["2", "€40.00", '<span class="badge">pending</span>',
                         '<span class="badge">no offer</span>']
    assert "ria@example.com" in html and "€12.50" in html
    # Every filter has a label.
    assert '<label for="f-status">Status</label>' in html
    assert '<label for="f-offer_status">Offer</label>' in html


def test_the_queue_filters_by_status_and_offer_status(owner: Pages, client: FlaskClient,
                                                      seller: dict[str, str]) -> None:
    waiting, looked_at, with_offer = (submit(client, seller) for _ in range(3))
    reviewing(owner, looked_at)
    offered(owner, with_offer)
    html = owner.text("/admin/submissions?status=reviewing")
    assert looked_at in html and with_offer in html and waiting not in html
    assert '<option value="reviewing" selected>' in html
    html = owner.text("/admin/submissions?status=reviewing&offer_status=offer_sent")
    assert with_offer in html and looked_at not in html and waiting not in html
    html = owner.text("/admin/submissions?offer_status=no_offer")
    assert waiting in html and looked_at in html and with_offer not in html
    assert "No submissions with these statuses" in owner.text(
        "/admin/submissions?status=withdrawn")


def test_a_filter_that_is_not_a_status_is_refused_next_to_the_filters(owner: Pages) -> None:
    r = owner.get("/admin/submissions?status=lost")
    assert r.status_code == 400
    html = body(r)
    assert "that is not a status a submission can have" in html
    assert "one of pending, reviewing, approved, rejected, withdrawn" in html
    assert owner.get("/admin/submissions?cursor=garbage").status_code == 400


def test_the_queue_is_keyset_paginated(owner: Pages, client: FlaskClient,
                                       seller: dict[str, str], db_path: Path) -> None:
    seller_id, = rows(db_path, "SELECT id FROM users WHERE email = 'sam@example.com'")[0]
    made = [selling.submit(seller_id, [ITEMS[0]], 1000)["batch_id"] for _ in range(51)]
    first = owner.text("/admin/submissions")
    link = re.search(r'<a rel="next" href="([^"]+)">', first)
    assert link, "no link to the next page"
    second = owner.text(link.group(1).replace("&amp;", "&"))
    assert 'rel="next"' not in second
    shown = [re.findall(r'<a href="/admin/submissions/(SB-[^"]+)">', page)
             for page in (first, second)]
    assert [len(s) for s in shown] == [50, 1]
    assert shown[0] + shown[1] == made[::-1]
    # The filters ride along to the next page.
    filtered = owner.text("/admin/submissions?status=pending")
    assert "status=pending" in re.search(r'rel="next" href="([^"]+)"', filtered).group(1)


# --- one batch ----------------------------------------------------------------------------

def test_the_batch_page_shows_the_seller_items_photos_and_history(
        owner: Pages, client: FlaskClient, seller: dict[str, str], batch: str) -> None:
    offered(owner, batch, "30")
    api(client, seller, f"/api/offers/{batch}/respond",
        {"response": "counter", "counter_price_cents": 3500, "message": "a bit more?"})
    html = owner.text(f"/admin/submissions/{batch}")
    assert f"<h1>Submission {batch}</h1>" in html
    assert 'sam (<a href="mailto:sam@example.com">sam@example.com</a>)' in html
    assert "<h3>Tweed blazer</h3>" in html and "<h3>Brogues</h3>" in html
    assert "<dt>Asking price</dt><dd>€25.00</dd>" in html
    assert "<dt>Asking price</dt><dd>€15.00</dd>" in html
    assert '<img src="https://img.test/blazer.jpg" alt="Photo 1 of Tweed blazer"' in html
    assert "No photos of this item." in html  # the brogues
    history = re.findall(r"<tr>\s*<td><time[^>]*>[^<]*</time></td>\s*<td>([^<]*)</td>\s*"
                         r"<td>([^<]*)</td>\s*<td class=\"num\">([^<]*)</td>\s*"
                         r"<td>([^<]*)</td>", html)
    assert history == [("The shop", "review", "", "reviewing"),
                       ("The shop", "offer", "€30.00", ""),
                       ("The seller", "counter", "€35.00", "a bit more?")]


def test_the_forms_shown_are_the_ones_the_state_allows(owner: Pages, client: FlaskClient,
                                                       seller: dict[str, str],
                                                       batch: str) -> None:
    def buttons() -> list[str]:
        html = owner.text(f"/admin/submissions/{batch}")
        return re.findall(r'<button type="submit"[^>]*>([^<]+)</button>',
                          html.split("<h2>What you can do now</h2>")[1])

    assert buttons() == ["Start the review", "Reject"]
    reviewing(owner, batch)
    assert buttons() == ["Approve", "Reject", "Send the offer"]
    assert owner.post(f"/admin/submissions/{batch}/offer", {"amount": "30"}).status_code == 303
    assert buttons() == ["Approve"]  # the offer waits for the seller's answer
    api(client, seller, f"/api/offers/{batch}/respond",
        {"response": "counter", "counter_price_cents": 3500})
    assert buttons() == ["Approve", "Reject", "Send the offer", "Accept €35.00"]
    assert owner.post(f"/admin/submissions/{batch}/accept-counter").status_code == 303
    assert buttons() == ["Record the payout"]
    assert owner.post(f"/admin/submissions/{batch}/payout",
                      {"reference": "TR-77"}).status_code == 303
    assert buttons() == []
    assert "Nothing to do now: the items are bought and the seller is paid." in owner.text(
        f"/admin/submissions/{batch}")


def test_the_review_moves_the_status_and_appends_to_the_history(owner: Pages, batch: str,
                                                                db_path: Path) -> None:
    r = owner.post(f"/admin/submissions/{batch}/review", {"status": "reviewing"})
    assert r.status_code == 303 and r.headers["Location"] == f"/admin/submissions/{batch}"
    assert f"{batch} is reviewing now." in owner.text(r.headers["Location"])
    assert state(db_path, batch)[:2] == ("reviewing", "no_offer")
    assert owner.post(f"/admin/submissions/{batch}/review",
                      {"status": "approved"}).status_code == 303
    assert state(db_path, batch)[:2] == ("approved", "no_offer")
    assert events(db_path, batch) == [("shop", "review", None, "reviewing"),
                                      ("shop", "review", None, "approved")]
    assert audits(db_path, batch) == ["submission.review", "submission.review"]


def test_an_offer_typed_in_euros_is_sent_to_the_seller(owner: Pages, batch: str,
                                                       db_path: Path, mailbox) -> None:
    reviewing(owner, batch)
    r = owner.post(f"/admin/submissions/{batch}/offer",
                   {"amount": "30,50", "message": "Lovely boots"})
    assert r.status_code == 303
    assert "The offer is sent" in owner.text(r.headers["Location"])
    assert state(db_path, batch)[:3] == ("reviewing", "offer_sent", 3050)
    assert events(db_path, batch)[-1] == ("shop", "offer", 3050, "Lovely boots")
    assert audits(db_path, batch) == ["submission.review", "submission.offer"]
    offer_mail = [m for m in mailbox.delivered() if m.to == "sam@example.com"][-1]
    assert "€30.50" in offer_mail.subject


@pytest.mark.parametrize(("amount", "words"), [
    ("30.505", "Offer must be an amount such as 12.50"),
    ("", "Offer is required"),
    ("-3", "Offer must be an amount such as 12.50"),
    ("2000000", "Offer is at most €1,000,000.00")])
def test_a_wrong_amount_is_refused_and_keeps_what_was_typed(owner: Pages, batch: str,
                                                            db_path: Path, amount: str,
                                                            words: str) -> None:
    reviewing(owner, batch)
    before = everything(db_path, batch)
    r = owner.post(f"/admin/submissions/{batch}/offer",
                   {"amount": amount, "message": "kept <as typed>"})
    assert r.status_code == 400
    html = body(r)
    offer_form = html.split('id="offer-title"')[1].split("</section>")[0]
    assert words in offer_form
    assert f'name="amount" type="text" value="{amount}"' in offer_form
    assert 'aria-invalid="true"' in offer_form
    assert "kept &lt;as typed&gt;</textarea>" in offer_form
    assert everything(db_path, batch) == before


def test_an_action_the_state_does_not_allow_shows_the_services_words(
        owner: Pages, batch: str, db_path: Path) -> None:
    before = everything(db_path, batch)
    # An offer while the batch is still pending (RULES: only under review or approved).
    r = owner.post(f"/admin/submissions/{batch}/offer", {"amount": "30", "message": "hi"})
    assert r.status_code == 409
    offer_form = body(r).split('id="offer-title"')[1].split("</section>")[0]
    assert "shop cannot offer a submission that is pending / no_offer" in offer_form
    assert 'name="amount" type="text" value="30"' in offer_form
    # Approving before the review has started.
    r = owner.post(f"/admin/submissions/{batch}/review", {"status": "approved"})
    assert r.status_code == 409
    assert "shop cannot approve a submission that is pending / no_offer" in body(r)
    # Accepting a counter nobody made, paying out what is not owed.
    r = owner.post(f"/admin/submissions/{batch}/accept-counter")
    assert r.status_code == 409
    counter_form = body(r).split('id="counter-title"')[1].split("</section>")[0]
    assert "shop cannot accept a submission that is pending / no_offer" in counter_form
    r = owner.post(f"/admin/submissions/{batch}/payout", {"reference": "TR-9"})
    assert r.status_code == 409
    payout_form = body(r).split('id="payout-title"')[1].split("</section>")[0]
    assert "no payout is owed (it is none)" in payout_form
    assert 'value="TR-9"' in payout_form
    assert owner.post(f"/admin/submissions/{batch}/review",
                      {"status": "lost"}).status_code == 400
    assert everything(db_path, batch) == before


def test_accepting_the_counter_buys_the_items_in_one_step(owner: Pages, client: FlaskClient,
                                                          seller: dict[str, str], batch: str,
                                                          db_path: Path) -> None:
    offered(owner, batch, "30")
    api(client, seller, f"/api/offers/{batch}/respond",
        {"response": "counter", "counter_price_cents": 3500})
    r = owner.post(f"/admin/submissions/{batch}/accept-counter")
    assert r.status_code == 303
    assert "Counter accepted" in owner.text(r.headers["Location"])
    assert state(db_path, batch) == ("reviewing", "accepted", 3000, 3500, 3500, "owed", None)
    assert events(db_path, batch)[-1] == ("shop", "accept", 3500, "")
    assert audits(db_path, batch)[-1] == "submission.accept_counter"
    # Each item is a draft product with its share of the price (in proportion to the
    # asking prices 25 and 15: 21.88 + 13.12) and one purchase move into stock.
    products = rows(db_path, "SELECT sku, title, status, cost_cents FROM products ORDER BY id")
    assert [p[1:] for p in products] == [("Tweed blazer", "draft", 2188),
                                         ("Brogues", "draft", 1312)]
    assert all(p[0].startswith(f"{batch}-") for p in products)
    moves = rows(db_path, "SELECT m.qty_change, m.reason, s.batch_id FROM stock_moves m "
                          "JOIN sell_submissions s ON s.id = m.submission_id ORDER BY m.id")
    assert moves == [(1, "purchase", batch), (1, "purchase", batch)]
    photos = rows(db_path, "SELECT url FROM images WHERE product_id IS NOT NULL")
    assert photos == [("https://img.test/blazer.jpg",)]


def test_recording_the_payout(owner: Pages, client: FlaskClient, seller: dict[str, str],
                              batch: str, db_path: Path) -> None:
    offered(owner, batch, "30")
    api(client, seller, f"/api/offers/{batch}/respond", {"response": "accept"})
    before = everything(db_path, batch)
    r = owner.post(f"/admin/submissions/{batch}/payout", {"reference": "  "})
    assert r.status_code == 400
    assert "Payment reference is required" in body(r)
    r = owner.post(f"/admin/submissions/{batch}/payout", {"reference": "TR\x0177"})
    assert r.status_code == 400
    assert "Payment reference has a control character" in body(r)
    assert everything(db_path, batch) == before
    r = owner.post(f"/admin/submissions/{batch}/payout", {"reference": "TR-77"})
    assert r.status_code == 303
    assert "The payout is recorded as paid." in owner.text(r.headers["Location"])
    assert state(db_path, batch)[5:] == ("paid", "TR-77")
    assert events(db_path, batch)[-1] == ("shop", "payout", 3000, "TR-77")
    assert audits(db_path, batch)[-1] == "submission.payout"
    # Twice is refused in the service's words.
    r = owner.post(f"/admin/submissions/{batch}/payout", {"reference": "TR-78"})
    assert r.status_code == 409
    assert "no payout is owed (it is paid)" in body(r)
    assert state(db_path, batch)[5:] == ("paid", "TR-77")


@pytest.mark.parametrize("token", ["", "forged"])
@pytest.mark.parametrize(("path", "data"), [
    ("review", {"status": "reviewing"}), ("offer", {"amount": "30"}),
    ("accept-counter", {}), ("payout", {"reference": "TR-1"})])
def test_a_form_without_its_csrf_token_changes_nothing(owner: Pages, client: FlaskClient,
                                                       seller: dict[str, str], batch: str,
                                                       db_path: Path, path: str, data: dict,
                                                       token: str) -> None:
    # Each form in a state where it would work with its token.
    if path == "offer":
        reviewing(owner, batch)
    elif path != "review":
        offered(owner, batch, "30")
    if path == "accept-counter":
        api(client, seller, f"/api/offers/{batch}/respond",
            {"response": "counter", "counter_price_cents": 3500})
    if path == "payout":
        api(client, seller, f"/api/offers/{batch}/respond", {"response": "accept"})
    before = everything(db_path, batch)
    r = owner.post(f"/admin/submissions/{batch}/{path}", data, csrf=token)
    assert r.status_code == 400
    assert "nothing was changed" in body(r)
    assert everything(db_path, batch) == before
    assert owner.post(f"/admin/submissions/{batch}/{path}", data).status_code == 303
    assert everything(db_path, batch) != before


# --- the queue's query plans ------------------------------------------------------------------

@pytest.mark.sqlite_only  # EXPLAIN QUERY PLAN
@pytest.mark.parametrize(("status", "offer_status", "index"), [
    (None, None, "sell_submissions_created_at"),
    ("pending", None, "sell_submissions_status_created_at"),
    (None, "countered", "sell_submissions_offer_status_created_at"),
    ("approved", "no_offer", "sell_submissions_status_offer_status_created_at"),
    ("reviewing", "offer_sent", "sell_submissions_status_offer_status_created_at")])
def test_each_queue_filter_reads_one_index_range_newest_first(db, status, offer_status,
                                                              index) -> None:
    """At a few thousand submissions with planner statistics (migration 012): no sort, on
    the first page and the next, and the page's sellers and item counts by key."""
    import logging

    from shop.db import database
    from shop.services import sell_pages

    conn = database.connection()
    conn.execute("INSERT INTO users (email, password_hash, name, role, created_at, "
                 "updated_at) VALUES ('s@example.com', 'x', 's', 'customer', "
                 "'2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')")
    pairs = [("pending", "no_offer")] * 6 + [("reviewing", "offer_sent"),
                                             ("approved", "countered"), ("rejected", "no_offer")]
    conn.executemany(
        "INSERT INTO sell_submissions (batch_id, seller_id, status, offer_status, "
        "offered_price_cents, offer_expires_at, payout_status, notes, created_at, updated_at) "
        "VALUES (?, 1, ?, ?, ?, ?, 'none', '', ?, ?)",
        [(f"SB-{n:08d}", *pairs[n % len(pairs)],
          None if pairs[n % len(pairs)][1] == "no_offer" else 100,
          "2027-01-01T00:00:00.000000Z" if pairs[n % len(pairs)][1] == "offer_sent" else None,
          f"2026-01-01T00:{n // 3600 % 60:02d}:{n % 60:02d}.{n:06d}Z",
          "2026-01-01T00:00:00.000000Z") for n in range(4000)])
    conn.executemany("INSERT INTO sell_items (submission_id, title, brand, category, size, "
                     "condition, notes, created_at) VALUES (?, 'Coat', '', 'coats', '', "
                     "'good', '', '2026-01-01T00:00:00.000000Z')",
                     [(n,) for n in range(1, 4001) for _ in range(2)])
    conn.commit()
    database.execute_sql("ANALYZE")

    statements: list[tuple[str, Any]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if isinstance(record.msg, tuple):
                statements.append(record.msg)

    logger = logging.getLogger("peewee")
    handler, level = Capture(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        rows_, cursor = sell_pages.queue_page(status, offer_status, limit=50, cursor=None)
        if cursor:
            sell_pages.queue_page(status, offer_status, limit=50, cursor=cursor)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert all(r["item_count"] == 2 for r in rows_)
    plans = [[r[3] for r in database.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
             for sql, params in statements]
    assert plans, "no statement was captured"
    for plan in plans:
        assert not any("TEMP B-TREE" in step for step in plan), plan
        assert not any(step.startswith("SCAN") and "USING" not in step for step in plan), plan
    lists = [p for p in plans if any("sell_submissions_created_at" in s or "_created_at (" in s
                                     for s in p)]
    assert lists and all(any(f"USING INDEX {index}" in s for s in p) for p in lists), plans
