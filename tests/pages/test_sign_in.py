"""Signing in to the dashboard (issue 15 §2; API.md "Pages"): a session cookie for the pages
only, the API's throttles, CSRF on every form, and 403 for anyone but an admin."""

from __future__ import annotations

from http.cookies import SimpleCookie

from flask.testing import FlaskClient

from shop.services import accounts
from tests.conftest import PASSWORD, sign_up
from tests.pages.conftest import Pages, csrf_of


def _cookie(response) -> SimpleCookie:
    jar = SimpleCookie()
    for header in response.headers.getlist("Set-Cookie"):
        jar.load(header)
    return jar


def test_a_guest_is_sent_to_sign_in_and_comes_back_after(client: FlaskClient,
                                                         pages: Pages) -> None:
    sign_up(client, "owner@example.com", admin=True)
    r = pages.get("/admin")
    assert r.status_code == 303
    assert r.headers["Location"] == "/admin/login?next=/admin"
    r = pages.get("/admin/login?next=/admin")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert '<label for="f-email">Email' in html and '<label for="f-password">Password' in html
    r = client.post("/admin/login", data={"email": "owner@example.com", "password": PASSWORD,
                                          "next": "/admin", "csrf_token": csrf_of(html)})
    assert r.status_code == 303 and r.headers["Location"] == "/admin"
    assert "<h1>Today</h1>" in pages.text("/admin")


def test_the_cookie_is_httponly_lax_and_never_opens_the_api(client: FlaskClient,
                                                            pages: Pages) -> None:
    sign_up(client, "owner@example.com", admin=True)
    r = pages.sign_in("owner@example.com")
    morsel = _cookie(r)["shop_session"]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert not morsel["secure"]  # development; production below
    # The cookie opens the dashboard but never the API.
    assert pages.get("/admin").status_code == 200
    r = client.get("/api/admin/orders")
    assert r.status_code == 401
    assert r.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/api/me").status_code == 401


def test_the_cookie_does_not_carry_a_bearer_token(client: FlaskClient, pages: Pages) -> None:
    from flask.sessions import SecureCookieSessionInterface

    sign_up(client, "owner@example.com", admin=True)
    pages.sign_in("owner@example.com")
    app = client.application
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    content = serializer.loads(client.get_cookie("shop_session").value)
    for value in content.values():
        if isinstance(value, str):
            r = client.get("/api/me", headers={"Authorization": f"Bearer {value}"})
            assert r.status_code == 401, "a value in the cookie works as a bearer token"


def test_outside_development_the_cookie_is_secure(db, database_url, tmp_path,
                                                   monkeypatch) -> None:
    from shop.api import create_app
    from shop.db import database

    accounts.create_admin("owner@example.com", PASSWORD)
    database.close()
    monkeypatch.setenv("SHOP_ENV", "production")
    monkeypatch.setenv("SHOP_SECRET_KEY", "a production secret that is long enough")
    monkeypatch.setenv("SHOP_SMTP_URL", "smtp://127.0.0.1:2525")
    app = create_app({"DATABASE": db, "DATABASE_URL": database_url or "",
                      "MEDIA_DIR": tmp_path / "media", "TESTING": True})
    signed = Pages(app.test_client())
    r = signed.sign_in("owner@example.com")
    assert r.status_code == 303
    assert _cookie(r)["shop_session"]["secure"] is True


def test_a_wrong_password_shows_the_form_again_with_the_email(client: FlaskClient,
                                                              pages: Pages) -> None:
    sign_up(client, "owner@example.com", admin=True)
    r = pages.sign_in("owner@example.com", "not the password")
    assert r.status_code == 401
    html = r.get_data(as_text=True)
    assert "email or password is wrong" in html
    assert 'value="owner@example.com"' in html
    assert pages.get("/admin").status_code == 303


def test_the_apis_sign_in_throttle_applies(client: FlaskClient, pages: Pages) -> None:
    sign_up(client, "owner@example.com", admin=True)
    # SHOP_LOGIN_MAX_FAILURES defaults to 5 per account and client (DESIGN.md §11).
    statuses = [pages.sign_in("owner@example.com", "wrong").status_code for _ in range(6)]
    assert statuses == [401, 401, 401, 401, 401, 429]
    r = pages.sign_in("owner@example.com")
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    assert "too many failed sign-ins" in r.get_data(as_text=True)


def test_sign_in_without_the_forms_token_changes_nothing(client: FlaskClient,
                                                         pages: Pages) -> None:
    sign_up(client, "owner@example.com", admin=True)
    pages.get("/admin/login")
    for token in ("", "forged"):
        r = client.post("/admin/login", data={"email": "owner@example.com",
                                              "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 400
        assert "nothing was changed" in r.get_data(as_text=True)
    assert pages.get("/admin").status_code == 303


def test_a_customer_gets_403_and_can_sign_out(shopper: Pages) -> None:
    r = shopper.get("/admin")
    assert r.status_code == 403
    assert "for the shop&#39;s admins" in r.get_data(as_text=True)
    assert shopper.get("/admin/login").status_code == 303  # already signed in
    assert shopper.post("/admin/logout").status_code == 303
    assert shopper.get("/admin").status_code == 303


def test_signing_out_revokes_the_session_on_the_server(client: FlaskClient,
                                                       owner: Pages) -> None:
    kept = client.get_cookie("shop_session").value
    r = owner.post("/admin/logout")
    assert r.status_code == 303 and r.headers["Location"] == "/admin/login"
    assert owner.get("/admin").status_code == 303
    # The cookie as it was before signing out opens nothing now.
    client.set_cookie("shop_session", kept)
    assert owner.get("/admin").status_code == 303


def test_sign_out_needs_the_forms_token(owner: Pages) -> None:
    r = owner.post("/admin/logout", csrf="")
    assert r.status_code == 400
    assert owner.get("/admin").status_code == 200


def test_after_sign_in_only_a_dashboard_path_is_followed(client: FlaskClient,
                                                         pages: Pages) -> None:
    sign_up(client, "owner@example.com", admin=True)
    for target in ("https://evil.example/admin", "//evil.example/admin", "/api/me"):
        token = csrf_of(pages.get("/admin/login").get_data(as_text=True))
        r = client.post("/admin/login", data={"email": "owner@example.com",
                                              "password": PASSWORD, "next": target,
                                              "csrf_token": token})
        assert r.status_code == 303
        assert r.headers["Location"] == "/admin"
        client.post("/admin/logout", data={"csrf_token": csrf_of(
            pages.get("/admin").get_data(as_text=True))})


def test_a_missing_page_is_a_page_and_the_api_stays_json(owner: Pages,
                                                        client: FlaskClient) -> None:
    r = owner.get("/admin/no-such-page")
    assert r.status_code == 404
    assert r.content_type.startswith("text/html")
    r = client.get("/api/no-such-route")
    assert r.status_code == 404
    assert r.get_json()["error"]["code"] == "not_found"
