"""Transactional mail (issue 16, Mail): every mail of the buyer, the seller and the owner
arrives at a real SMTP server (aiosmtpd on 127.0.0.1) with its recipient, subject and link;
HTML is escaped; the outbox row is written in the event's transaction (a rolled-back
action queues nothing); a failing server never fails the request and the row retries with
back-off until it is left ``failed``; no token reaches the log."""

from __future__ import annotations

import email
import email.policy
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from freezegun import freeze_time

from shop import clock
from shop.db import database
from shop.services import analytics, mail, notifications, orders, selling
from tests.conftest import sign_up
from tests.servers import free_port
from tests.shopping import hold, product, rows

SHOP = "Second Chance"
BASE = "https://shop.example.com"
ITEM = {"title": "Tweed blazer", "brand": "Magee", "category": "jackets", "size": "M",
        "condition": "good", "notes": ""}


@dataclass
class Mail:
    to: list[str]
    sender: str
    subject: str
    text: str
    html: str


@dataclass
class SmtpServer:
    port: int
    received: list[Mail] = field(default_factory=list)
    answer: str = "250 OK"  # what the server says to a message (a 4xx/5xx refuses it)

    def delivered(self) -> list[Mail]:
        assert mail.drain(10), "the mail thread did not finish"
        return self.received

    def to(self, recipient: str) -> list[Mail]:
        return [m for m in self.delivered() if recipient in m.to]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1."""
    from aiosmtpd.controller import Controller

    server = SmtpServer(free_port())

    class Handler:
        async def handle_DATA(self, _server, _session, envelope):
            if server.answer.startswith("250"):
                message = email.message_from_bytes(envelope.content,
                                                   policy=email.policy.default)
                server.received.append(Mail(
                    to=list(envelope.rcpt_tos), sender=message["From"],
                    subject=message["Subject"],
                    text=message.get_body(("plain",)).get_content().replace("\r\n", "\n"),
                    html=message.get_body(("html",)).get_content().replace("\r\n", "\n")))
            return server.answer

    controller = Controller(Handler(), hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        mail.drain(10)
        controller.stop()


def _app(make_app, smtp_url: str, **overrides) -> Flask:
    """The shop over this test's database (conftest's ``make_app``), mailing by SMTP."""
    return make_app({"TESTING": True, "SMTP_URL": smtp_url, "MAIL_FROM": "shop@example.com",
                     "SHOP_NAME": SHOP, "PUBLIC_URL": BASE, **overrides})


@pytest.fixture
def client(make_app, smtp):
    app = _app(make_app, f"smtp://127.0.0.1:{smtp.port}", OFFER_DAYS=1)
    yield app.test_client()
    mail.drain(10)
    mail.set_mailer(mail.log_mailer)
    database.close()


@pytest.fixture
def owner(client):
    return sign_up(client, "owner@example.com", admin=True)


def _outbox(db_path: Path) -> list[tuple]:
    return rows(db_path, "SELECT kind, recipient, status, attempts, secret IS NOT NULL "
                         "FROM mail_outbox ORDER BY id")


def _checkout(client, headers, pid: int, **body) -> dict:
    assert hold(client, headers, pid).status_code in (200, 201)
    r = client.post("/api/checkout", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _status(client, owner, number: str, status: str) -> None:
    r = client.post(f"/api/admin/orders/{number}/status", json={"status": status},
                    headers=owner)
    assert r.status_code == 200, r.get_json()


# -- the buyer ------------------------------------------------------------------------------

def test_a_buyer_hears_of_each_step_of_an_order(client, owner, smtp) -> None:
    ann = sign_up(client, "ann@example.com")
    pid = product(2, title="<script>alert(1)</script> coat")
    number = _checkout(client, ann, pid)["order"]["order_number"]
    placed, = smtp.to("ann@example.com")
    assert placed.subject == f"{SHOP}: your order {number}"
    assert placed.sender == f"{SHOP} <shop@example.com>"
    assert f"{BASE}/orders/{number}\n" in placed.text and "token" not in placed.text
    assert f"You get this mail from {SHOP} because you placed order {number}" in placed.text
    # The text part is plain text; the HTML part escapes what a user typed.
    assert "<script>alert(1)</script> coat" in placed.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; coat" in placed.html
    assert "<script>" not in placed.html
    assert f'href="{BASE}/orders/{number}"' in placed.html

    _status(client, owner, number, "paid")
    _status(client, owner, number, "shipped")
    _status(client, owner, number, "delivered")  # no mail for this one
    subjects = [m.subject for m in smtp.to("ann@example.com")]
    assert subjects == [f"{SHOP}: your order {number}",
                        f"{SHOP}: payment received for order {number}",
                        f"{SHOP}: order {number} is on its way"]
    assert smtp.to("owner@example.com") == []  # the owner is not mailed for a sale


def test_a_cancelled_order_says_whether_it_was_refunded(client, owner, smtp) -> None:
    ann = sign_up(client, "ann@example.com")
    pid = product(2)
    unpaid = _checkout(client, ann, pid)["order"]["order_number"]
    assert client.post(f"/api/orders/{unpaid}/cancel", headers=ann).status_code == 200
    paid = _checkout(client, ann, pid)["order"]["order_number"]
    _status(client, owner, paid, "paid")
    _status(client, owner, paid, "cancelled")
    cancelled = [m for m in smtp.to("ann@example.com") if "cancelled" in m.subject]
    assert [m.subject for m in cancelled] == [
        f"{SHOP}: order {unpaid} is cancelled",
        f"{SHOP}: order {paid} is cancelled and refunded"]
    assert "Nothing was paid" in cancelled[0].text
    assert "€25.00 you paid is refunded" in cancelled[1].text


def test_a_guest_gets_the_token_link_and_no_log_shows_the_token(
        client, smtp, db_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    pid = product(1)
    guest = {"X-Cart-Session": hold(client, {}, pid).get_json()["cart_session"]}
    body = client.post("/api/checkout", json={"email": "Guest@Example.com"}, headers=guest)
    assert body.status_code == 201
    token, number = body.get_json()["order_token"], body.get_json()["order"]["order_number"]
    placed, = smtp.to("guest@example.com")
    assert f"{BASE}/orders/{number}?token={token}" in placed.text
    assert f'href="{BASE}/orders/{number}?token={token}"' in placed.html
    shop_log = "\n".join(r.getMessage() for r in caplog.records
                         if not r.name.startswith("mail.log"))  # not the SMTP server's own
    assert token not in shop_log
    # The token waited in the outbox only until the mail left.
    assert _outbox(db_path) == [("order_placed", "guest@example.com", "sent", 1, 0)]
    assert token not in str(rows(db_path, "SELECT * FROM mail_outbox"))


def test_the_development_mailer_redacts_a_guests_token(client, caplog) -> None:
    mail.set_mailer(mail.log_mailer)
    caplog.set_level(logging.INFO)
    pid = product(1)
    guest = {"X-Cart-Session": hold(client, {}, pid).get_json()["cart_session"]}
    body = client.post("/api/checkout", json={"email": "guest@example.com"}, headers=guest)
    token = body.get_json()["order_token"]
    assert mail.drain(10)
    assert f"?token={mail.REDACTED}" in caplog.text  # the mail was logged...
    assert token not in caplog.text  # ...without its token


def test_payment_events_for_the_payments_module(client, owner, smtp, db_path) -> None:
    """``payment_received`` and ``payment_failed`` are called inside the payment's
    transaction: each event mails once, however many paths announce it."""
    sign_up(client, "second-admin@example.com", admin=True)
    ann = sign_up(client, "ann@example.com")
    order = _checkout(client, ann, product(1))["order"]["order_number"]
    order_id = rows(db_path, "SELECT id FROM orders WHERE order_number = ?", order)[0][0]
    from shop.db import write_transaction

    with write_transaction():  # as the webhook's transaction does
        notifications.payment_failed(order_id, "amount 100 does not match 2500",
                                     attempt="evt_1")
        notifications.payment_failed(order_id, "replayed", attempt="evt_1")  # the same event
    _status(client, owner, order, "paid")  # the owner marks it paid...
    with write_transaction():
        notifications.payment_received(order_id)  # ...and the provider says so too
    failed = [m for m in smtp.delivered() if "failed" in m.subject]
    assert sorted(r for m in failed for r in m.to) == ["owner@example.com",
                                                       "second-admin@example.com"]
    assert failed[0].subject == f"{SHOP}: a payment for order {order} failed"
    assert "amount 100 does not match 2500" in failed[0].text
    assert f"{BASE}/admin/orders/{order}" in failed[0].text
    assert "because you are an administrator of" in failed[0].text
    received = [m for m in smtp.to("ann@example.com") if "payment received" in m.subject]
    assert len(received) == 1


# -- the seller and the owner ---------------------------------------------------------------

def _submit(client, seller, title: str = "Tweed blazer") -> str:
    r = client.post("/api/sell", json={"items": [{**ITEM, "title": title}],
                                       "seller_price_cents": 4000, "notes": ""},
                    headers=seller)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["submission"]["batch_id"]


def _offer(client, owner, batch: str, cents: int, message: str = "") -> None:
    r = client.post(f"/api/admin/submissions/{batch}/offer",
                    json={"offered_price_cents": cents, "message": message}, headers=owner)
    assert r.status_code == 201, r.get_json()


def test_a_seller_and_the_owner_hear_of_each_step_of_a_submission(client, owner, smtp) -> None:
    seller = sign_up(client, "sam@example.com")
    batch = _submit(client, seller, title="Boots <b>bold</b>")
    received, = smtp.to("sam@example.com")
    assert received.subject == f"{SHOP}: we received your items ({batch})"
    new, = smtp.to("owner@example.com")
    assert new.subject == f"{SHOP}: new submission {batch} (1 item(s))"
    assert f"{BASE}/admin/submissions/{batch}" in new.text
    assert "Boots &lt;b&gt;bold&lt;/b&gt;" in new.html and "<b>bold" not in new.html

    assert client.post(f"/api/admin/submissions/{batch}/review", json={"status": "reviewing"},
                       headers=owner).status_code == 200
    _offer(client, owner, batch, 3000, "Lovely <i>boots</i>")
    offer = smtp.to("sam@example.com")[-1]
    assert offer.subject == f"{SHOP}: our offer for {batch}: €30.00"
    # The seller's page by a signed link (services/links.py), in both parts, to the seller
    # only; the owner's mails link to the dashboard.
    link, = re.findall(rf"{re.escape(BASE)}/sell/{batch}\?t=[A-Za-z0-9_.-]{{40,}}\n",
                       offer.text)
    assert f'href="{link.strip()}"' in offer.html
    assert "/sell/" not in new.text + new.html
    assert "Lovely &lt;i&gt;boots&lt;/i&gt;" in offer.html

    r = client.post(f"/api/offers/{batch}/respond", headers=seller,
                    json={"response": "counter", "counter_price_cents": 3500})
    assert r.status_code == 200
    assert smtp.to("sam@example.com")[-1].subject == \
        f"{SHOP}: we received your counter-offer for {batch}"
    counter = smtp.to("owner@example.com")[-1]
    assert counter.subject == f"{SHOP}: counter-offer on {batch}: €35.00"
    assert f"{BASE}/admin/submissions/{batch}" in counter.text

    _offer(client, owner, batch, 3200)  # a second offer is a second mail
    r = client.post(f"/api/offers/{batch}/respond", headers=seller, json={"response": "accept"})
    assert r.status_code == 200
    assert client.post(f"/api/admin/submissions/{batch}/payout", json={"reference": "TR-77"},
                       headers=owner).status_code == 200
    assert [m.subject for m in smtp.to("sam@example.com")] == [
        f"{SHOP}: we received your items ({batch})",
        f"{SHOP}: our offer for {batch}: €30.00",
        f"{SHOP}: we received your counter-offer for {batch}",
        f"{SHOP}: our offer for {batch}: €32.00",
        f"{SHOP}: agreed, €32.00 for {batch}",
        f"{SHOP}: your payout for {batch} is sent"]
    payout = smtp.to("sam@example.com")[-1]
    assert "TR-77" in payout.text and "because you sold items to" in payout.text
    assert len(smtp.to("owner@example.com")) == 2  # new submission, counter-offer


def test_the_shop_accepting_a_counter_tells_the_seller(client, owner, smtp) -> None:
    seller = sign_up(client, "sam@example.com")
    batch = _submit(client, seller)
    client.post(f"/api/admin/submissions/{batch}/review", json={"status": "reviewing"},
                headers=owner)
    _offer(client, owner, batch, 3000)
    client.post(f"/api/offers/{batch}/respond", headers=seller,
                json={"response": "counter", "counter_price_cents": 3500})
    assert client.post(f"/api/admin/submissions/{batch}/accept-counter",
                       headers=owner).status_code == 200
    assert smtp.to("sam@example.com")[-1].subject == f"{SHOP}: agreed, €35.00 for {batch}"


def test_an_offer_about_to_expire_is_reminded_once(client, owner, smtp, runner,
                                                   db_path) -> None:
    """SHOP_OFFER_DAYS=1 in this app: an offer ends within a day as soon as it is made."""
    seller = sign_up(client, "sam@example.com")
    batch = _submit(client, seller)
    client.post(f"/api/admin/submissions/{batch}/review", json={"status": "reviewing"},
                headers=owner)
    _offer(client, owner, batch, 3000)
    assert selling.remind_offers() == 1
    assert selling.remind_offers() == 0  # once per offer
    reminder = smtp.to("sam@example.com")[-1]
    assert reminder.subject == f"{SHOP}: our offer for {batch} ends tomorrow"
    assert re.search(rf"{re.escape(BASE)}/sell/{batch}\?t=\S{{40,}}\n", reminder.text)
    assert len([m for m in smtp.delivered() if "ends tomorrow" in m.subject]) == 1
    # The cron command says what it did (and finds nothing more to send).
    result = runner.invoke(["offers", "remind"],
                           env={"SHOP_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}"})
    assert result.exit_code == 0, result.output
    assert "queued 0 reminder(s)" in result.output


def test_an_offer_with_days_left_is_not_reminded(make_app, smtp) -> None:
    app = _app(make_app, f"smtp://127.0.0.1:{smtp.port}", OFFER_DAYS=14)
    client = app.test_client()
    owner = sign_up(client, "owner@example.com", admin=True)
    batch = _submit(client, sign_up(client, "sam@example.com"))
    client.post(f"/api/admin/submissions/{batch}/review", json={"status": "reviewing"},
                headers=owner)
    _offer(client, owner, batch, 3000)
    assert selling.remind_offers() == 0
    with freeze_time(clock.now() + timedelta(days=13, hours=1)):
        assert selling.remind_offers() == 1
    mail.set_mailer(mail.log_mailer)


# -- the outbox -----------------------------------------------------------------------------

def test_a_rolled_back_action_queues_nothing(client, smtp, db_path, monkeypatch) -> None:
    """The mail is written in the checkout's own transaction: when anything after it in
    that transaction fails, the mail goes with the order."""
    ann = sign_up(client, "ann@example.com")
    pid = product(1)
    assert hold(client, ann, pid).status_code in (200, 201)
    user_id = rows(db_path, "SELECT id FROM users WHERE email = 'ann@example.com'")[0][0]

    def fail(*_args, **_kwargs):
        raise RuntimeError("the disk said no")

    monkeypatch.setattr(orders.idempotency, "remember", fail)
    with pytest.raises(RuntimeError):
        orders.checkout(user_id)
    assert rows(db_path, "SELECT count(*) FROM orders") == [(0,)]
    assert _outbox(db_path) == []
    assert smtp.delivered() == []
    monkeypatch.undo()
    orders.checkout(user_id)  # the control: the same checkout, committed, mails
    assert [m.to for m in smtp.delivered()] == [["ann@example.com"]]


def test_queueing_outside_a_transaction_is_refused(client) -> None:
    with pytest.raises(RuntimeError, match="inside the transaction"):
        mail.queue("order_placed", "a@example.com", "x", {})


@pytest.fixture
def down_client(make_app) -> Iterator:
    """The shop with an SMTP server that is down (nothing listens on its port) and a
    password in its URL."""
    app = _app(make_app, f"smtp://mailer:s3cret-pass@127.0.0.1:{free_port()}")
    yield app.test_client()
    mail.drain(10)
    mail.set_mailer(mail.log_mailer)
    database.close()


def test_a_down_mail_server_never_fails_the_request_and_the_mail_backs_off_then_fails(
        down_client, db_path, runner, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with freeze_time(clock.now()) as frozen:
        ann = sign_up(down_client, "ann@example.com")
        _checkout(down_client, ann, product(1))  # 201, whatever the mail server
        assert mail.drain(10)
        queued_at = clock.now()
        kind, to, status, attempts, _ = _outbox(db_path)[0]
        assert (kind, to, status, attempts) == ("order_placed", "ann@example.com", "queued", 1)
        waits = []
        for attempt in range(2, mail.MAX_ATTEMPTS + 1):
            due, = rows(db_path, "SELECT next_attempt_at FROM mail_outbox")[0]
            waits.append(clock.from_text(due) - clock.now())
            assert mail.send_due().sent == 0  # not yet due: nothing is tried
            assert _outbox(db_path)[0][3] == attempt - 1
            frozen.move_to(clock.from_text(due))
            report = mail.send_due()
            assert _outbox(db_path)[0][3] == attempt
            assert (report.failed, report.retrying) == (
                (1, 0) if attempt == mail.MAX_ATTEMPTS else (0, 1))
        assert waits == [timedelta(minutes=m) for m in (5, 10, 20, 40, 80, 160, 240)]
        (status, error), = rows(db_path, "SELECT status, last_error FROM mail_outbox")
        assert status == "failed" and "ConnectionRefusedError" in error
        assert clock.now() - queued_at < mail.GIVE_UP_AFTER
    assert "s3cret-pass" not in error and "s3cret-pass" not in caplog.text
    result = runner.invoke(["mail", "status"])
    assert result.exit_code == 0, result.output
    assert "queued 0 (0 retrying), sent 0, failed 1" in result.output
    assert "order_placed to ann@example.com" in result.output
    assert "ConnectionRefusedError" in result.output


def test_a_refusing_server_is_retried_and_a_mail_older_than_the_bound_is_given_up(
        client, smtp, db_path) -> None:
    smtp.answer = "451 try again later"
    with freeze_time(clock.now()) as frozen:
        ann = sign_up(client, "ann@example.com")
        _checkout(client, ann, product(1))
        assert mail.drain(10)
        (status, attempts, error), = rows(db_path, "SELECT status, attempts, last_error "
                                                   "FROM mail_outbox")
        assert (status, attempts) == ("queued", 1) and "451" in error
        frozen.tick(mail.GIVE_UP_AFTER)  # a day later, the server still refuses
        assert mail.send_due().failed == 1
        assert _outbox(db_path)[0][2:4] == ("failed", 2)


def test_shop_mail_send_delivers_what_a_stopped_process_left(client, smtp, db_path,
                                                             runner) -> None:
    """A row claimed by a process that died before recording the result is due again
    after the lease; cron's `shop mail send` sends it."""
    ann = sign_up(client, "ann@example.com")
    smtp.answer = "451 not now"
    _checkout(client, ann, product(1))
    assert mail.drain(10) and _outbox(db_path)[0][2:4] == ("queued", 1)
    with freeze_time(clock.now() + mail.retry_delay(1)):
        claimed = mail._claim(clock.now(), 10)  # ...and the sender dies here
    assert len(claimed) == 1
    smtp.answer = "250 OK"
    with freeze_time(clock.now() + mail.retry_delay(1) + mail.LEASE / 2):
        assert mail.send_due().sent == 0  # still leased
    with freeze_time(clock.now() + mail.retry_delay(1) + mail.LEASE):
        result = runner.invoke(["mail", "send"],
                               env={"SHOP_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}"})
    assert result.exit_code == 0, result.output
    assert "sent 1, to retry 0, given up 0" in result.output
    assert [m.to for m in smtp.received] == [["ann@example.com"]]
    assert _outbox(db_path)[0][2:4] == ("sent", 3)


def test_sent_mail_is_pruned_after_the_retention_period(client, smtp, db_path) -> None:
    ann = sign_up(client, "ann@example.com")
    _checkout(client, ann, product(1))
    assert mail.drain(10)
    with freeze_time(clock.now() + timedelta(days=91)):
        assert analytics.prune(90)["mail_outbox"] == 1
    assert _outbox(db_path) == []


# API.md "Mail" and issue 16, written out: buyers (placed, paid, shipped,
# cancelled/refunded), sellers (received, offer sent, counter received, accepted, payout,
# about to expire), the owner (new submission, counter-offer, payment failed).
MAIL_KINDS = {
    "order_placed", "payment_received", "order_shipped", "order_cancelled",
    "submission_received", "offer_sent", "counter_received", "offer_accepted",
    "payout_sent", "offer_expiring", "new_submission", "counter_offer", "payment_failed",
}


def test_every_mail_kind_has_both_templates_and_says_why() -> None:
    kinds = {kind for mails in notifications.EVENTS.values() for kind, _ in mails}
    assert kinds == MAIL_KINDS
    folder = mail.TEMPLATES / "mail"
    on_disk = {p.stem for p in folder.glob("*.txt") if not p.stem.startswith("_")}
    assert on_disk == MAIL_KINDS
    for kind in MAIL_KINDS:
        assert (folder / f"{kind}.html").exists()
        for suffix in ("txt", "html"):
            assert re.search(r"{% block why %}.+{% endblock %}",
                             (folder / f"{kind}.{suffix}").read_text()), (kind, suffix)


def test_after_commit_callbacks_run_once_and_only_after_a_commit(db) -> None:
    """What wakes the mail thread: never for a rolled-back transaction, once for a
    committed one however many mails it queued, and only when the outermost one ends."""
    from shop.db import after_commit, write_transaction

    calls: list[str] = []

    def note() -> None:
        calls.append("woken" if not database.in_transaction() else "too early")

    with pytest.raises(RuntimeError), write_transaction():
        after_commit(note)
        raise RuntimeError("rolled back")
    assert calls == []
    with write_transaction():
        with write_transaction():  # a savepoint: not the end yet
            after_commit(note)
        after_commit(note)
        assert calls == []
    assert calls == ["woken"]
    with write_transaction():
        pass
    assert calls == ["woken"]  # nothing left over for the next transaction


def test_mail_queued_during_the_pause_is_claimed_and_recorded_in_one_go(db, monkeypatch) -> None:
    """Under load the mail thread must not take the writer queue two or three times per
    order: mail queued by several transactions within LINGER of the first wake is sent
    from one claim, with no empty claim after it, and recorded sent."""
    import time

    from shop.db import write_transaction

    sent: list[mail.Message] = []
    claims: list[int] = []
    real_claim = mail._claim

    def counting_claim(now, batch):
        rows = real_claim(now, batch)
        claims.append(len(rows))
        return rows

    monkeypatch.setattr(mail, "_claim", counting_claim)
    monkeypatch.setattr(mail, "render", lambda kind, to, params, secret=None:
                        mail.Message(to=to, subject=kind, body="-"))
    # A pause far longer than the test, ended by drain() once the five are queued: with a
    # pause of 2 s the five commits (and their 0.1 s sleeps) had to fit in it, which a
    # loaded CI box need not grant; then the claim came early and found four.
    monkeypatch.setattr(mail, "LINGER", 600.0)
    previous = mail.set_mailer(sent.append)
    try:
        for n in range(5):
            with write_transaction():
                mail.queue("order_placed", f"b{n}@example.com", f"order:{n}", {})
            time.sleep(0.1)  # orders arriving over a while, all within the pause
        assert sent == []  # still pausing: nothing claimed at the first wake
        assert mail.drain(10)  # ends the pause
    finally:
        mail.set_mailer(previous)
    assert sorted(m.to for m in sent) == [f"b{n}@example.com" for n in range(5)]
    assert claims == [5]
    statuses = database.execute_sql("SELECT status, attempts FROM mail_outbox").fetchall()
    assert statuses == [("sent", 1)] * 5
