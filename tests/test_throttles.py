"""Sign-in and reset throttles keyed so an attacker cannot lock the owner out, reset mail
that leaks nothing, and SMTP (DESIGN.md §11; issue 10, defects 2, 3, 4 and 8)."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from freezegun import freeze_time

from shop import clock
from shop.config import ConfigError, Settings
from shop.services import accounts, mail
from tests.conftest import PASSWORD, sign_up
from tests.servers import free_port

WRONG = "not the password"


def _login(client, email: str, password: str, ip: str, **headers: str) -> int:
    return client.post("/api/auth/login", json={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": ip}, headers=headers).status_code


@pytest.fixture
def tight_app(make_app) -> Flask:
    """Low limits, so that each one is reached in a few (slow, hashed) attempts."""
    return make_app({"TESTING": True, "LOGIN_MAX_FAILURES": 3,
                     "LOGIN_CLIENT_MAX_FAILURES": 6, "LOGIN_ACCOUNT_MAX_FAILURES": 9,
                     "RESET_CLIENT_MAX_REQUESTS": 3, "RESET_ACCOUNT_MAX_MAILS": 2})


def test_failures_from_one_client_never_lock_the_owner_out(client) -> None:
    sign_up(client, "owner@example.com")
    with freeze_time(clock.now()):
        for _ in range(5):
            assert _login(client, "owner@example.com", WRONG, "203.0.113.9") == 401
        assert _login(client, "owner@example.com", WRONG, "203.0.113.9") == 429
        # The attacker's client is stopped, even with the right password...
        assert _login(client, "owner@example.com", PASSWORD, "203.0.113.9") == 429
        # ...the owner, from a client that has not failed, is not.
        assert _login(client, "owner@example.com", PASSWORD, "198.51.100.7") == 200


def test_one_client_cannot_spray_passwords_over_many_accounts(tight_app) -> None:
    client = tight_app.test_client()
    statuses = [_login(client, f"user{n}@example.com", WRONG, "203.0.113.9")
                for n in range(10)]
    assert statuses == [401] * 6 + [429] * 4
    assert _login(client, "user9@example.com", WRONG, "198.51.100.7") == 401  # others can


def test_an_account_has_a_ceiling_across_clients(tight_app) -> None:
    client = tight_app.test_client()
    sign_up(client, "owner@example.com")
    for n in range(9):  # a botnet: one failure from each of nine clients
        assert _login(client, "owner@example.com", WRONG, f"10.0.0.{n}") == 401
    assert _login(client, "owner@example.com", PASSWORD, "198.51.100.7") == 429


@pytest.mark.parametrize(("hops", "distinct"), [(0, False), (1, True)])
def test_x_forwarded_for_counts_only_behind_the_configured_proxies(make_app, hops, distinct):
    app = make_app({"TESTING": True, "PROXY_HOPS": hops, "LOGIN_MAX_FAILURES": 2})
    client = app.test_client()
    sign_up(client, "owner@example.com")
    for _ in range(2):
        _login(client, "owner@example.com", WRONG, "127.0.0.1", **{"X-Forwarded-For": "6.6.6.6"})
    status = _login(client, "owner@example.com", PASSWORD, "127.0.0.1",
                    **{"X-Forwarded-For": "7.7.7.7"})
    # Behind one proxy the two forwarded clients are different people; with no proxy
    # configured the header is ignored and both are the proxy's own address.
    assert status == (200 if distinct else 429)


def test_reset_requests_are_limited_per_client_and_mails_per_account(tight_app) -> None:
    client = tight_app.test_client()
    sent = []
    previous = mail.set_mailer(sent.append)
    try:
        sign_up(client, "owner@example.com")
        reset = {"email": "owner@example.com"}

        def ask(ip: str) -> int:
            return client.post("/api/auth/password-reset", json=reset,
                               environ_base={"REMOTE_ADDR": ip}).status_code

        assert [ask("203.0.113.9") for _ in range(4)] == [202, 202, 202, 429]
        assert ask("198.51.100.7") == 202  # another client is not limited by the first
        assert mail.drain(10)
        assert len(sent) == 2  # but the account got no more than its mails per hour
        unknown = client.post("/api/auth/password-reset", json={"email": "nobody@example.com"},
                              environ_base={"REMOTE_ADDR": "192.0.2.1"})
        assert unknown.status_code == 202 and unknown.get_json() == {"status": "accepted"}
    finally:
        mail.set_mailer(previous)


def test_the_reset_answer_never_waits_for_mail(client) -> None:
    """The mail goes out from the outbox after commit: the answer is the same work for a
    known and an unknown account, however slow the mail server."""
    sign_up(client, "owner@example.com")
    release, started = threading.Event(), threading.Event()

    def slow(message: mail.Message) -> None:
        started.set()
        release.wait(10)

    previous = mail.set_mailer(slow)
    try:
        r = client.post("/api/auth/password-reset", json={"email": "owner@example.com"})
        assert r.status_code == 202
        assert started.wait(10) and not release.is_set()  # answered while mail is stuck
    finally:
        release.set()
        assert mail.drain(10)
        mail.set_mailer(previous)


def test_a_made_up_reset_code_costs_no_password_hash(client, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(accounts, "hash_password", lambda p: calls.append(p) or "x")
    r = client.post("/api/auth/password-reset/confirm",
                    json={"token": "madeupcode123456", "password": "a whole new password"})
    assert r.status_code == 400 and calls == []


def test_stale_throttle_records_are_pruned(client) -> None:
    with freeze_time(clock.now()) as frozen:
        _login(client, "a@example.com", WRONG, "203.0.113.9")
        client.post("/api/auth/password-reset", json={"email": "a@example.com"})
        assert mail.drain(10)
        frozen.tick(timedelta(minutes=10))
        _login(client, "b@example.com", WRONG, "203.0.113.9")
        assert accounts.prune_throttles() == 0  # all still inside their windows
        frozen.tick(timedelta(minutes=6))
        assert accounts.prune_throttles() == 2  # the first failure and the reset request
        assert _login(client, "b@example.com", WRONG, "203.0.113.9") == 401


# -- mail over SMTP, and no secrets in the logs ---------------------------------------------

def test_production_refuses_to_start_without_smtp() -> None:
    with pytest.raises(ConfigError, match="SHOP_SMTP_URL"):
        Settings.from_env({"SHOP_ENV": "production", "SHOP_SECRET_KEY": "s" * 32})
    with pytest.raises(ConfigError, match="SHOP_SMTP_URL"):
        Settings.from_env({"SHOP_SMTP_URL": "http://mail.example.com"})
    ok = Settings.from_env({"SHOP_ENV": "production", "SHOP_SECRET_KEY": "s" * 32,
                            "SHOP_SMTP_URL": "smtps://u:p@mail.example.com"})
    assert "smtps" not in repr(ok) and "s" * 32 not in repr(ok)


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1."""
    from aiosmtpd.controller import Controller

    received: list = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


def test_reset_mail_goes_over_smtp_and_its_code_never_reaches_the_log(
        make_app, smtp_server, caplog) -> None:
    port, received = smtp_server
    app = make_app({"TESTING": True, "ENVIRONMENT": "production",
                    "SMTP_URL": f"smtp://127.0.0.1:{port}", "MAIL_FROM": "shop@example.com"})
    client = app.test_client()
    sign_up(client, "owner@example.com")
    caplog.set_level("DEBUG")
    assert client.post("/api/auth/password-reset",
                       json={"email": "owner@example.com"}).status_code == 202
    assert mail.drain(10)
    assert len(received) == 1
    envelope = received[0]
    assert envelope.mail_from == "shop@example.com"
    assert envelope.rcpt_tos == ["owner@example.com"]
    body = email.message_from_bytes(envelope.content, policy=email.policy.default).get_content()
    code = body.split("new password: ", 1)[1].split()[0]
    assert len(code) > 20
    # The shop's own log (not the test SMTP server's, which logs what it receives).
    shop_log = "\n".join(r.getMessage() for r in caplog.records
                         if not r.name.startswith("mail.log"))
    assert code not in shop_log
    r = client.post("/api/auth/password-reset/confirm",
                    json={"token": code, "password": "a whole new password"})
    assert r.status_code == 204
    mail.set_mailer(mail.log_mailer)


def test_only_the_development_mailer_logs_codes(client, caplog) -> None:
    """The control for the test above: in development, without SMTP, the log mailer does
    put the code in the log, so that test's check can fail."""
    sign_up(client, "owner@example.com")
    mail.set_mailer(mail.log_mailer)
    caplog.set_level("INFO")
    client.post("/api/auth/password-reset", json={"email": "owner@example.com"})
    assert mail.drain(10)
    assert "Use this code to choose a new password" in caplog.text
