"""Accounts over HTTP (API.md "Accounts"), against a real database file."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

from freezegun import freeze_time

from shop import clock
from shop.services.passwords import token_hash
from tests import engine

PASSWORD = "correct horse battery"


def register(client, email="ann@example.com", password=PASSWORD, name="Ann"):
    return client.post("/api/auth/register", json={"email": email, "password": password,
                                                   "name": name})


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def rows(db_path, sql: str, *params):
    conn = engine.connect(db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_register_signs_in_and_stores_only_hashes(client, db_path) -> None:
    r = register(client, email="Ann@Example.com")
    assert r.status_code == 201
    body = r.get_json()
    assert set(body) == {"user", "token", "expires_at"}
    assert body["user"]["email"] == "ann@example.com"
    assert body["user"]["role"] == "customer"
    assert body["expires_at"].endswith("Z")
    stored = rows(db_path, "SELECT password_hash FROM users")[0][0]
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    assert rows(db_path, "SELECT token_hash FROM sessions") == [(token_hash(body["token"]),)]

    me = client.get("/api/me", headers=auth(body["token"]))
    assert me.status_code == 200
    assert me.get_json()["user"]["email"] == "ann@example.com"


def test_register_refuses_a_taken_email_in_any_case(client) -> None:
    assert register(client).status_code == 201
    r = register(client, email="ANN@example.COM")
    assert r.status_code == 409
    assert r.get_json()["error"]["code"] == "conflict"


def test_register_validates_fields(client) -> None:
    r = register(client, password="short")
    assert r.status_code == 400
    err = r.get_json()["error"]
    assert err["code"] == "invalid" and "password" in err["details"]["fields"]
    r = client.post("/api/auth/register", json={"email": "a@b.ie", "password": PASSWORD,
                                                "name": "A", "admin": True})
    assert r.status_code == 400 and "admin" in r.get_json()["error"]["details"]["fields"]
    r = client.post("/api/auth/register", json={"email": "a@b.ie", "password": 1234567890123,
                                                "name": "A"})
    assert r.status_code == 400
    r = client.post("/api/auth/register", data="not json", content_type="application/json")
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid"
    r = client.post("/api/auth/register", json=["a", "list"])
    assert r.status_code == 400


def test_login_fails_alike_for_unknown_email_and_wrong_password(client) -> None:
    register(client)
    unknown = client.post("/api/auth/login", json={"email": "nobody@example.com",
                                                   "password": PASSWORD})
    wrong = client.post("/api/auth/login", json={"email": "ann@example.com",
                                                 "password": "wrong password"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json() == wrong.get_json()
    ok = client.post("/api/auth/login", json={"email": "ANN@example.com", "password": PASSWORD})
    assert ok.status_code == 200
    assert set(ok.get_json()) == {"token", "expires_at", "user"}


def test_repeated_failed_logins_are_throttled_with_retry_after(client) -> None:
    register(client)
    bad = {"email": "ann@example.com", "password": "wrong password"}
    with freeze_time(clock.now()) as frozen:
        for _ in range(5):
            assert client.post("/api/auth/login", json=bad).status_code == 401
        r = client.post("/api/auth/login", json=bad)
        assert r.status_code == 429
        assert r.get_json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["Retry-After"]) <= 901
        # Even the right password waits: the throttle is checked first.
        good = {"email": "ann@example.com", "password": PASSWORD}
        assert client.post("/api/auth/login", json=good).status_code == 429
        frozen.tick(timedelta(seconds=901))
        assert client.post("/api/auth/login", json=good).status_code == 200


def test_logout_revokes_the_token(client) -> None:
    token = register(client).get_json()["token"]
    assert client.post("/api/auth/logout", headers=auth(token)).status_code == 204
    r = client.get("/api/me", headers=auth(token))
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"


def test_a_session_revoked_elsewhere_is_refused_at_the_next_request(client, db_path) -> None:
    """authenticate() reads the session on every request (no per-process cache): a
    revocation by another process (a second worker, a CLI) or an expiry moved to now is
    seen at once; a role change too."""
    token = register(client).get_json()["token"]
    assert client.get("/api/me", headers=auth(token)).get_json()["user"]["role"] == "customer"
    conn = engine.connect(db_path)
    try:
        conn.execute("UPDATE users SET role = 'admin'")
        conn.commit()
        assert client.get("/api/me", headers=auth(token)).get_json()["user"]["role"] == "admin"
        conn.execute("UPDATE sessions SET expires_at = ?", (clock.to_text(clock.now()),))
        conn.commit()
        assert client.get("/api/me", headers=auth(token)).status_code == 401
        conn.execute("UPDATE sessions SET expires_at = '9999-01-01T00:00:00.000000Z', "
                     "revoked_at = ?", (clock.to_text(clock.now()),))
        conn.commit()
        assert client.get("/api/me", headers=auth(token)).status_code == 401
        conn.execute("UPDATE sessions SET revoked_at = NULL")
        conn.commit()
        assert client.get("/api/me", headers=auth(token)).status_code == 200
    finally:
        conn.close()


def test_sessions_expire(client) -> None:
    with freeze_time(clock.now()) as frozen:
        token = register(client).get_json()["token"]
        assert client.get("/api/me", headers=auth(token)).status_code == 200
        frozen.tick(timedelta(days=31))
        assert client.get("/api/me", headers=auth(token)).status_code == 401


def test_me_needs_a_valid_token(client) -> None:
    assert client.get("/api/me").status_code == 401
    assert client.get("/api/me", headers=auth("made-up")).status_code == 401
    assert client.get("/api/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_addresses_are_set_per_kind(client, db_path) -> None:
    token = register(client).get_json()["token"]
    address = {"name": "Ann", "line1": "1 Main St", "city": "Cork", "eircode": "T12 AB34"}
    r = client.put("/api/me/addresses/delivery", json=address, headers=auth(token))
    assert r.status_code == 200
    assert r.get_json()["address"]["country"] == "IE"
    r = client.put("/api/me/addresses/delivery", json={**address, "city": "Galway"},
                   headers=auth(token))
    assert r.get_json()["address"]["city"] == "Galway"
    assert client.put("/api/me/addresses/billing", json=address,
                      headers=auth(token)).status_code == 200
    assert client.put("/api/me/addresses/home", json=address,
                      headers=auth(token)).status_code == 404
    assert client.put("/api/me/addresses/billing", json={**address, "country": "Ireland"},
                      headers=auth(token)).status_code == 400
    me = client.get("/api/me", headers=auth(token)).get_json()["user"]
    assert sorted(a["kind"] for a in me["addresses"]) == ["billing", "delivery"]
    assert rows(db_path, "SELECT count(*) FROM addresses") == [(2,)]


def _reset_code(mailbox) -> str:
    return re.search(r"new password: (\S+)", mailbox.delivered()[-1].body).group(1)


def test_password_reset_is_single_use_and_revokes_sessions(client, mailbox, db_path) -> None:
    old_token = register(client).get_json()["token"]
    r = client.post("/api/auth/password-reset", json={"email": "ann@example.com"})
    assert r.status_code == 202
    code = _reset_code(mailbox)
    assert rows(db_path, "SELECT token_hash FROM password_resets") == [(token_hash(code),)]

    new_password = "a whole new password"
    r = client.post("/api/auth/password-reset/confirm", json={"token": code,
                                                              "password": new_password})
    assert r.status_code == 204
    assert client.get("/api/me", headers=auth(old_token)).status_code == 401
    again = client.post("/api/auth/password-reset/confirm", json={"token": code,
                                                                  "password": "yet another one"})
    assert again.status_code == 400
    assert client.post("/api/auth/login", json={"email": "ann@example.com",
                                                "password": new_password}).status_code == 200
    assert client.post("/api/auth/login", json={"email": "ann@example.com",
                                                "password": PASSWORD}).status_code == 401


def test_password_reset_for_unknown_email_is_202_and_sends_nothing(client, mailbox) -> None:
    r = client.post("/api/auth/password-reset", json={"email": "nobody@example.com"})
    assert r.status_code == 202
    assert mailbox.delivered() == []


def test_password_reset_codes_expire(client, mailbox) -> None:
    register(client)
    with freeze_time(clock.now()) as frozen:
        client.post("/api/auth/password-reset", json={"email": "ann@example.com"})
        frozen.tick(timedelta(minutes=61))
        r = client.post("/api/auth/password-reset/confirm",
                        json={"token": _reset_code(mailbox), "password": "a whole new password"})
        assert r.status_code == 400


def test_admin_role_comes_from_create_admin(client, runner) -> None:
    result = runner.invoke(["create-admin", "--email", "Boss@Example.com", "--password-stdin"],
                           input="boss password 1\n")
    assert result.exit_code == 0, result.output
    assert "created admin boss@example.com" in result.output
    r = client.post("/api/auth/login", json={"email": "boss@example.com",
                                             "password": "boss password 1"})
    assert r.get_json()["user"]["role"] == "admin"
    # Promoting an existing customer keeps their password.
    register(client, email="cust@example.com")
    result = runner.invoke(["create-admin", "--email", "cust@example.com"], input="")
    assert result.exit_code == 0 and "promoted" in result.output
    r = client.post("/api/auth/login", json={"email": "cust@example.com", "password": PASSWORD})
    assert r.get_json()["user"]["role"] == "admin"


def test_parallel_guesses_cannot_outrun_the_throttle(client, app) -> None:
    """Check and record happen in one write transaction, before the slow hash."""
    import threading

    register(client)
    statuses: list[int] = []

    def guess() -> None:
        c = app.test_client()
        statuses.append(c.post("/api/auth/login", json={
            "email": "ann@example.com", "password": "wrong password"}).status_code)

    threads = [threading.Thread(target=guess) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(401) == 5
    assert statuses.count(429) == 11


def test_a_reset_spends_every_outstanding_code(client, mailbox) -> None:
    register(client)
    client.post("/api/auth/password-reset", json={"email": "ann@example.com"})
    older = _reset_code(mailbox)
    client.post("/api/auth/password-reset", json={"email": "ann@example.com"})
    newer = _reset_code(mailbox)
    assert client.post("/api/auth/password-reset/confirm", json={
        "token": newer, "password": "a whole new password"}).status_code == 204
    assert client.post("/api/auth/password-reset/confirm", json={
        "token": older, "password": "an attacker's password"}).status_code == 400


def test_password_reset_answers_202_even_when_mail_fails(client) -> None:
    from shop.services import mail

    register(client)

    def broken(message):
        raise ConnectionError("smtp down")

    previous = mail.set_mailer(broken)
    try:
        known = client.post("/api/auth/password-reset", json={"email": "ann@example.com"})
        unknown = client.post("/api/auth/password-reset", json={"email": "x@example.com"})
        assert mail.drain(10)  # the broken mailer really ran, after the answer
    finally:
        mail.set_mailer(previous)
    assert known.status_code == unknown.status_code == 202


def test_create_admin_with_a_new_password_revokes_old_sessions(client, runner) -> None:
    token = register(client).get_json()["token"]
    result = runner.invoke(["create-admin", "--email", "ann@example.com", "--password-stdin"],
                           input="rotated password 1\n")
    assert result.exit_code == 0, result.output
    assert client.get("/api/me", headers=auth(token)).status_code == 401


def test_signed_in_routes_check_the_token_before_the_body(client) -> None:
    r = client.put("/api/me/addresses/billing", json={"nonsense": True})
    assert r.status_code == 401
    assert "fields" not in r.get_json()["error"]["details"]


def test_absurdly_nested_json_is_a_400_not_a_500(client) -> None:
    r = client.post("/api/auth/login", data="[" * 100_000, content_type="application/json")
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "invalid"


def test_the_shop_hashes_passwords_with_scrypt_at_its_full_cost() -> None:
    """The suite hashes cheaply in its own process (tests/conftest.py); the shop does not:
    scrypt with N=2**14, r=8, p=1, a 16-byte salt and a 32-byte key, in its own process."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", "from shop.services.passwords import hash_password, "
         "verify_password as v; h = hash_password('correct horse battery'); "
         "print(h); print(v('correct horse battery', h), v('wrong horse battery', h))"],
        capture_output=True, text=True, check=True).stdout.split("\n")
    scheme, n, r, p, salt, key = out[0].split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(key)) == 32
    assert out[1] == "True False"
