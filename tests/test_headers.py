"""CORS for exactly the origins in SHOP_CORS_ORIGINS, and the security headers every
answer carries (API.md, Conventions: "Browsers on other origins")."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shop.config import ConfigError, Settings

SHOP_FRONT = "https://shop.example.com"
DEV_FRONT = "http://localhost:5173"


@pytest.fixture
def cors_app(make_app, monkeypatch) -> Flask:
    monkeypatch.setenv("SHOP_CORS_ORIGINS", f"{SHOP_FRONT}, {DEV_FRONT}")
    return make_app({"TESTING": True})


@pytest.fixture
def cors_client(cors_app: Flask) -> FlaskClient:
    return cors_app.test_client()


def _cors_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def _listed(value: str | None) -> set[str]:
    return {item.strip().lower() for item in (value or "").split(",") if item.strip()}


def _preflight(client: FlaskClient, path: str, origin: str, method: str = "POST"):
    return client.options(path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers":
            "Authorization, Idempotency-Key, X-Cart-Session, Content-Type"})


def test_a_listed_origin_may_read_answers_and_their_headers(cors_client) -> None:
    for origin in (SHOP_FRONT, DEV_FRONT):
        r = cors_client.get("/api/products", headers={"Origin": origin})
        assert r.status_code == 200
        assert r.headers["Access-Control-Allow-Origin"] == origin
        assert _listed(r.headers.get("Access-Control-Expose-Headers")) == {
            "x-cart-session", "retry-after"}
        assert "Access-Control-Allow-Credentials" not in r.headers  # bearer tokens only
        assert "origin" in _listed(r.headers.get("Vary"))  # caches keep origins apart


def test_a_preflight_from_a_listed_origin_is_answered(cors_client) -> None:
    for path in ("/api/cart/items", "/api/checkout", "/api/admin/products"):
        r = _preflight(cors_client, path, SHOP_FRONT)
        assert r.status_code == 200, (path, r.get_data(as_text=True))  # not 401: no token yet
        assert r.headers["Access-Control-Allow-Origin"] == SHOP_FRONT
        assert _listed(r.headers.get("Access-Control-Allow-Headers")) == {
            "authorization", "idempotency-key", "x-cart-session", "content-type"}
        assert "post" in _listed(r.headers.get("Access-Control-Allow-Methods"))
        assert r.headers["Access-Control-Max-Age"] == "600"


def test_a_preflight_asking_for_another_header_is_not_granted_it(cors_client) -> None:
    r = cors_client.options("/api/cart/items", headers={
        "Origin": SHOP_FRONT, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "X-Secret-Thing"})
    assert "x-secret-thing" not in _listed(r.headers.get("Access-Control-Allow-Headers"))


@pytest.mark.parametrize("origin", [
    "https://evil.example",
    "http://shop.example.com",  # another scheme is another origin
    "https://shop.example.com:8443",  # and another port
    "https://shop.example.com.evil.example",
    "https://evilshop.example.com",
    "null",
])
def test_any_other_origin_gets_no_cors_header_at_all(cors_client, origin) -> None:
    assert _cors_headers(cors_client.get("/api/products", headers={"Origin": origin})) == {}
    assert _cors_headers(_preflight(cors_client, "/api/cart/items", origin)) == {}


def test_no_origin_header_gets_no_cors_header(cors_client) -> None:
    """Without an Origin the list of allowed origins is not given away."""
    assert _cors_headers(cors_client.get("/api/products")) == {}


def test_by_default_no_origin_is_allowed(client) -> None:
    assert _cors_headers(client.get("/api/products", headers={"Origin": SHOP_FRONT})) == {}
    assert _cors_headers(_preflight(client, "/api/cart/items", SHOP_FRONT)) == {}


def test_a_listed_origin_can_read_an_error_too(cors_client) -> None:
    r = cors_client.get("/api/me", headers={"Origin": SHOP_FRONT})
    assert r.status_code == 401
    assert r.headers["Access-Control-Allow-Origin"] == SHOP_FRONT


@pytest.mark.parametrize(("method", "path", "status"), [
    ("get", "/api/products", 200),
    ("get", "/healthz", 200),
    ("get", "/api/openapi.json", 200),
    ("get", "/api/no-such-thing", 404),
    ("get", "/nowhere", 404),
    ("delete", "/api/products", 405),
    ("get", "/api/me", 401),
    ("post", "/api/auth/login", 400),
])
def test_every_answer_carries_the_security_headers(client, method, path, status) -> None:
    r = getattr(client, method)(path)
    assert r.status_code == status
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in r.headers  # development: maybe plain HTTP


def test_an_unexpected_failure_carries_the_security_headers(app, client, monkeypatch) -> None:
    from shop.services import catalogue

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(catalogue, "list_products", broken)
    r = client.get("/api/products")
    assert r.status_code == 500
    assert r.get_json()["error"]["code"] == "internal"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_hsts_outside_development_only(make_app, monkeypatch) -> None:
    monkeypatch.setenv("SHOP_ENV", "production")
    monkeypatch.setenv("SHOP_SECRET_KEY", "a production secret, long enough")
    monkeypatch.setenv("SHOP_SMTP_URL", "smtp://mail.invalid:25")
    client = make_app().test_client()
    for path in ("/api/products", "/api/no-such-thing"):
        r = client.get(path)
        assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_cors_origins_are_exact_origins() -> None:
    env = {"SHOP_CORS_ORIGINS": " https://shop.example.com ,http://localhost:5173,"}
    assert Settings.from_env(env).cors_origins == ("https://shop.example.com",
                                                   "http://localhost:5173")
    assert Settings.from_env({}).cors_origins == ()
    for bad in ("*", "https://shop.example.com/", "shop.example.com",
                "https://*.example.com", "https://shop.example.com/path", "ftp://x.example"):
        with pytest.raises(ConfigError, match="SHOP_CORS_ORIGINS"):
            Settings.from_env({"SHOP_CORS_ORIGINS": bad})
