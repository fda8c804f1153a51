"""A seller's page (issue 15, "A seller's page"; API.md "Pages"): /sell/<batch_id> opens
for the submission's signed-in seller, or by the signed, expiring link in the shop's offer
mail, and takes the seller's answer (accept, reject, counter) through the same service as
POST /api/offers/<batch_id>/respond. Anything else sees the page of a batch that is not
there."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time

from shop import clock
from tests.conftest import sign_up
from tests.pages.conftest import Pages, csrf_of
from tests.pages.test_submissions import ITEMS, api, events, everything, state, submit
from tests.shopping import rows

LINK = re.compile(r"https?://[^/\s]+(/sell/[A-Z0-9-]+\?t=[A-Za-z0-9_.-]+)\n")
NOT_THERE = ("No submission opens at this address. A link from our mail lasts a few weeks; "
             "after that, sign in with your account to see your submission.")


@pytest.fixture
def seller(client: FlaskClient) -> dict[str, str]:
    return sign_up(client, "sam@example.com")


@pytest.fixture
def admin_headers(client: FlaskClient) -> dict[str, str]:
    return sign_up(client, "admin@example.com", admin=True)


def offer(client: FlaskClient, admin: dict[str, str], batch: str, cents: int = 3000) -> None:
    api(client, admin, f"/api/admin/submissions/{batch}/review", {"status": "reviewing"})
    api(client, admin, f"/api/admin/submissions/{batch}/offer",
        {"offered_price_cents": cents, "message": "Nice <b>boots</b>"}, 201)


def mailed_link(mailbox, batch: str) -> str:
    """The seller's page, as the newest mail about ``batch`` to the seller links to it."""
    mine = [m for m in mailbox.delivered() if m.to == "sam@example.com" and batch in m.subject]
    found = LINK.findall(mine[-1].body)
    assert len(found) == 1, mine[-1].body
    assert found[0].startswith(f"/sell/{batch}?t=")
    return found[0]


@pytest.fixture
def offered(client: FlaskClient, seller, admin_headers, mailbox) -> tuple[str, str]:
    """A batch with an open offer of €30.00, and the link in its offer mail."""
    batch = submit(client, seller)
    sub = client.get(f"/api/sell/{batch}", headers=seller).get_json()["submission"]
    api(client, seller, f"/api/sell/{batch}/items/{sub['items'][0]['id']}/images",
        {"cloudflare_id": "cf-1", "url": "https://img.test/blazer.jpg"}, 201)
    offer(client, admin_headers, batch)
    return batch, mailed_link(mailbox, batch)


def visitor(app) -> Pages:
    """A browser with nobody signed in (the seller opening the mail's link)."""
    return Pages(app.test_client())


def answer(browser: Pages, path: str, data: dict, csrf: str | None = None):
    """Send one of the page's forms: to the address its form names, with its token."""
    html = browser.text(path)
    action = re.search(r'<form method="post" action="([^"]+)">', html).group(1)
    form = dict(data)
    token = csrf_of(html) if csrf is None else csrf
    if token:
        form["csrf_token"] = token
    return browser.client.post(action.replace("&amp;", "&"), data=form)


def body(response) -> str:
    return response.get_data(as_text=True)


# --- the signed link ------------------------------------------------------------------------

def test_the_link_in_the_offer_mail_opens_the_page_and_the_seller_accepts(
        app, offered, db_path: Path) -> None:
    batch, link = offered
    browser = visitor(app)
    html = browser.text(link)
    assert f"<h1>Your submission {batch}</h1>" in html
    assert "<h3>Tweed blazer</h3>" in html and "<h3>Brogues</h3>" in html
    assert '<img src="https://img.test/blazer.jpg" alt="Photo 1 of Tweed blazer"' in html
    assert "<dt>Our offer</dt><dd>€30.00, open until <time" in html
    assert "Nice &lt;b&gt;boots&lt;/b&gt;" in html  # the offer's message, in the history
    assert '<label for="f-counter_price">Your price for the whole batch (€)' in html
    assert re.findall(r'<button type="submit"[^>]*>([^<]+)</button>', html) == [
        "Accept the offer", "Send my price", "Reject the offer"]
    # Every form posts back with the link's token, and the session's CSRF token.
    actions = re.findall(r'<form method="post" action="([^"]+)">', html)
    assert actions == [link.replace(f"/sell/{batch}?", f"/sell/{batch}/respond?")] * 3

    r = answer(browser, link, {"response": "accept"})
    assert r.status_code == 303 and r.headers["Location"] == link
    html = browser.text(link)
    assert "You accepted the offer." in html
    assert "Agreed: the shop buys your items for €30.00." in html
    assert "<dt>Payout</dt><dd>on its way</dd>" in html
    assert "<button" not in html  # nothing left to answer
    # In one step: the price final, each item a draft product with a purchase move.
    assert state(db_path, batch) == ("reviewing", "accepted", 3000, 3000, 4000, "owed", None)
    assert events(db_path, batch)[-1] == ("seller", "accept", 3000, "")
    assert rows(db_path, "SELECT seller_response FROM sell_submissions") == [("accept",)]
    products = rows(db_path, "SELECT p.title, p.status, p.cost_cents, i.title FROM products p "
                             "JOIN sell_items i ON i.id = p.source_item_id ORDER BY p.id")
    assert products == [("Tweed blazer", "draft", 1875, "Tweed blazer"),
                        ("Brogues", "draft", 1125, "Brogues")]
    moves = rows(db_path, "SELECT m.qty_change, m.reason, p.title FROM stock_moves m "
                          "JOIN products p ON p.id = m.product_id ORDER BY m.id")
    assert moves == [(1, "purchase", "Tweed blazer"), (1, "purchase", "Brogues")]


def test_the_link_lasts_the_offer_and_a_week_then_is_a_404(app, offered,
                                                           db_path: Path) -> None:
    """SHOP_OFFER_DAYS is 14 here: the link opens the page for 14 + 7 days."""
    batch, link = offered
    with freeze_time(clock.now() + timedelta(days=21) - timedelta(minutes=5)):
        html = visitor(app).text(link)
        assert "<span class=\"badge\">expired</span>" in html  # the offer, not the link
    with freeze_time(clock.now() + timedelta(days=21, minutes=5)):
        r = visitor(app).get(link)
        assert r.status_code == 404
        assert NOT_THERE in body(r)
        assert batch not in body(r)


def test_an_altered_link_is_a_404_like_a_batch_that_is_not_there(app, offered,
                                                                 db_path: Path) -> None:
    batch, link = offered
    browser = visitor(app)
    missing = browser.get("/sell/SB-NOTHERE1?t=x")
    assert missing.status_code == 404
    path, token = link.split("?t=")
    # Alter the signature's first character: all six of its bits are signature bits. The
    # last character's low bits are base64 padding, so 'A' -> 'B' there can decode to the
    # very same signature (it did, once in CI).
    head, signature = token.rsplit(".", 1)
    flipped = f"{head}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    for wrong in (f"{path}?t={flipped}", f"{path}?t=", f"{path}?t=not-a-token",
                  f"{path}?t={token}x"):
        r = browser.get(wrong)
        assert r.status_code == 404, wrong
        assert body(r) == body(missing)
    before = everything(db_path, batch)
    r = browser.client.post(f"{path}/respond?t={flipped}", data={"response": "accept"})
    assert r.status_code == 404
    assert everything(db_path, batch) == before


def test_a_link_opens_only_its_own_batch(app, client: FlaskClient, seller, admin_headers,
                                         mailbox, offered, db_path: Path) -> None:
    _batch, link = offered
    other = submit(client, seller, items=ITEMS[:1])
    offer(client, admin_headers, other, 1000)
    other_link = mailed_link(mailbox, other)
    browser = visitor(app)
    assert browser.get(other_link).status_code == 200
    token = link.split("?t=")[1]
    r = browser.get(f"/sell/{other}?t={token}")
    assert r.status_code == 404 and NOT_THERE in body(r)
    before = everything(db_path, other)
    r = browser.client.post(f"/sell/{other}/respond?t={token}", data={"response": "accept"})
    assert r.status_code == 404
    assert everything(db_path, other) == before


def test_a_link_signed_with_another_key_opens_nothing(app, offered, db_path: Path) -> None:
    from itsdangerous import URLSafeTimedSerializer

    batch, _link = offered
    (seller_id,), = rows(db_path, "SELECT seller_id FROM sell_submissions")
    forged = URLSafeTimedSerializer("not the shop's key", salt="shop.sell-link.v1").dumps(
        [batch, seller_id])
    assert visitor(app).get(f"/sell/{batch}?t={forged}").status_code == 404


# --- signed in ------------------------------------------------------------------------------

def test_a_guest_without_a_link_signs_in_and_comes_back(app, offered, db_path: Path) -> None:
    batch, _link = offered
    browser = visitor(app)
    r = browser.get(f"/sell/{batch}")
    assert r.status_code == 303
    assert r.headers["Location"] == f"/admin/login?next=/sell/{batch}"
    before = everything(db_path, batch)
    r = browser.client.post(f"/sell/{batch}/respond", data={"response": "accept"})
    assert r.status_code == 303 and r.headers["Location"].startswith("/admin/login?next=")
    assert everything(db_path, batch) == before
    # The sign-in form follows a seller's page (and nothing outside the site).
    html = browser.text(f"/admin/login?next=/sell/{batch}")
    assert f'name="next" value="/sell/{batch}"' in html
    r = browser.client.post("/admin/login", data={
        "email": "sam@example.com", "password": "correct horse battery",
        "next": f"/sell/{batch}", "csrf_token": csrf_of(html)})
    assert r.status_code == 303 and r.headers["Location"] == f"/sell/{batch}"
    html = browser.text(f"/sell/{batch}")
    assert f"<h1>Your submission {batch}</h1>" in html
    assert "Sign out" in html


def test_after_sign_in_a_sell_path_elsewhere_is_not_followed(app, client: FlaskClient,
                                                             seller) -> None:
    browser = visitor(app)
    for target in ("https://evil.example/sell/SB-1", "//evil.example/sell/SB-1", "/sellx",
                   "/sell"):
        html = browser.text("/admin/login")
        r = browser.client.post("/admin/login", data={
            "email": "sam@example.com", "password": "correct horse battery", "next": target,
            "csrf_token": csrf_of(html)})
        assert r.status_code == 303 and r.headers["Location"] == "/admin", target
        browser.client.post("/admin/logout", data={"csrf_token": csrf_of(html)})
        browser.client.delete_cookie("shop_session")


def test_another_signed_in_account_sees_a_404(app, client: FlaskClient, offered, owner: Pages,
                                              db_path: Path) -> None:
    batch, _link = offered
    sign_up(client, "ria@example.com")
    ria = visitor(app)
    assert ria.sign_in("ria@example.com").status_code == 303
    before = everything(db_path, batch)
    for browser in (ria, owner):  # the shop's admin works on /admin, not as the seller
        r = browser.get(f"/sell/{batch}")
        assert r.status_code == 404 and NOT_THERE in body(r)
        r = browser.post(f"/sell/{batch}/respond", {"response": "accept"})
        assert r.status_code == 404
    assert everything(db_path, batch) == before


@pytest.fixture
def sam(app, offered) -> Pages:
    """The seller, signed in on a browser of their own."""
    browser = visitor(app)
    assert browser.sign_in("sam@example.com").status_code == 303
    return browser


def test_the_signed_in_seller_counters(sam: Pages, offered, db_path: Path, mailbox) -> None:
    batch, _link = offered
    r = answer(sam, f"/sell/{batch}", {"response": "counter", "counter_price": "35",
                                       "message": "they are nearly new"})
    assert r.status_code == 303 and r.headers["Location"] == f"/sell/{batch}"
    html = sam.text(f"/sell/{batch}")
    assert "Your counter-offer is sent to the shop." in html
    assert "<dt>You ask</dt><dd>€35.00</dd>" in html
    assert '<span class="badge">countered</span>' in html
    assert "<button" not in html.split("<main")[1].split("<h2")[0]
    assert state(db_path, batch)[:2] == ("reviewing", "countered")
    assert state(db_path, batch)[4] == 3500
    assert events(db_path, batch)[-1] == ("seller", "counter", 3500, "they are nearly new")
    owner_mail = [m for m in mailbox.delivered() if m.to == "admin@example.com"][-1]
    assert owner_mail.subject.endswith(f"counter-offer on {batch}: €35.00")


def test_the_seller_rejects(sam: Pages, offered, db_path: Path) -> None:
    batch, _link = offered
    r = answer(sam, f"/sell/{batch}", {"response": "reject"})
    assert r.status_code == 303
    assert "You turned the offer down." in sam.text(f"/sell/{batch}")
    assert state(db_path, batch)[:2] == ("reviewing", "rejected")
    assert events(db_path, batch)[-1] == ("seller", "reject", None, "")


@pytest.mark.parametrize(("price", "words"), [
    ("35.999", "Your price must be an amount such as 12.50"),
    ("", "Your price is required"),
    ("thirty", "Your price must be an amount such as 12.50")])
def test_a_wrong_counter_keeps_the_typed_amount(sam: Pages, offered, db_path: Path,
                                                price: str, words: str) -> None:
    batch, _link = offered
    before = everything(db_path, batch)
    r = answer(sam, f"/sell/{batch}", {"response": "counter", "counter_price": price,
                                       "message": "my <note>"})
    assert r.status_code == 400
    form = body(r).split('id="counter-title"')[1].split("</section>")[0]
    assert words in form
    assert f'name="counter_price" type="text" value="{price}"' in form
    assert "my &lt;note&gt;</textarea>" in form
    assert everything(db_path, batch) == before


def test_a_counter_the_state_no_longer_allows_shows_the_services_words(
        sam: Pages, offered, db_path: Path) -> None:
    batch, _link = offered
    html = sam.text(f"/sell/{batch}")  # the page as it was, with the counter form
    assert answer(sam, f"/sell/{batch}", {"response": "reject"}).status_code == 303
    before = everything(db_path, batch)
    action = f"/sell/{batch}/respond"
    r = sam.client.post(action, data={"response": "counter", "counter_price": "35",
                                      "message": "", "csrf_token": csrf_of(html)})
    assert r.status_code == 409
    form = body(r).split('id="counter-title"')[1].split("</section>")[0]
    assert "seller cannot counter a submission that is reviewing / rejected" in form
    assert 'name="counter_price" type="text" value="35"' in form
    assert everything(db_path, batch) == before


@pytest.mark.parametrize("token", ["", "forged"])
@pytest.mark.parametrize("by_link", [True, False])
def test_an_answer_without_its_csrf_token_changes_nothing(app, offered, db_path: Path,
                                                          token: str, by_link: bool) -> None:
    batch, link = offered
    browser = visitor(app)
    if not by_link:
        assert browser.sign_in("sam@example.com").status_code == 303
    path = link if by_link else f"/sell/{batch}"
    before = everything(db_path, batch)
    for response in ("accept", "reject", "counter"):
        r = answer(browser, path, {"response": response, "counter_price": "35"}, csrf=token)
        assert r.status_code == 400
        assert "nothing was changed" in body(r)
    assert everything(db_path, batch) == before
    assert answer(browser, path, {"response": "accept"}).status_code == 303
    assert state(db_path, batch)[1] == "accepted"


def test_only_the_sellers_own_mail_carries_a_signed_link(db) -> None:
    """The link is signed while a mail is rendered, for the batch's seller's address only;
    anyone else (the owner) gets the plain address, which asks them to sign in."""
    from shop.db import database
    from shop.services import links, selling

    conn = database.connection()
    conn.execute("INSERT INTO users (email, password_hash, name, role, created_at, "
                 "updated_at) VALUES ('sam@example.com', 'x', 'sam', 'customer', "
                 "'2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')")
    conn.commit()
    batch = selling.submit(1, [ITEMS[0]], 1000)["batch_id"]
    base = "https://shop.example.com"
    assert re.fullmatch(rf"{base}/sell/{batch}\?t=[A-Za-z0-9_.-]{{40,}}",
                        links.sell_url(base, batch, "sam@example.com"))
    assert links.sell_url(base, batch, "owner@example.com") == f"{base}/sell/{batch}"
    assert links.sell_url(base, "SB-NOTHERE1", "sam@example.com") == \
        f"{base}/sell/SB-NOTHERE1"
