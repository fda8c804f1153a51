"""The shared error body for every failure, /healthz, the size limit and the OpenAPI document."""

from __future__ import annotations

import logging
import re

import pytest

from shop.errors import Busy


def _assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


def test_healthz(client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok", "database": "ok"}


def test_flask_own_errors_use_the_shared_body(client) -> None:
    _assert_error(client.get("/api/nowhere"), 404, "not_found")
    r = client.delete("/api/me")
    _assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers["Allow"]


def test_bodies_over_the_limit_get_413(app) -> None:
    client = app.test_client()
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    r = client.post("/api/auth/register", data=big, content_type="application/json")
    _assert_error(r, 413, "payload_too_large")


def test_unexpected_exceptions_are_logged_and_answered_without_a_traceback(app, caplog):
    def boom():
        raise RuntimeError("secret internals")

    def busy():
        raise Busy("busy", retry_after=1)

    app.add_url_rule("/api/boom", view_func=boom)
    app.add_url_rule("/api/busy", view_func=busy)
    client = app.test_client()
    with caplog.at_level(logging.ERROR):
        r = client.get("/api/boom")
    err = _assert_error(r, 500, "internal")
    assert "secret internals" not in r.get_data(as_text=True)
    assert "Traceback" not in r.get_data(as_text=True)
    assert "secret internals" in caplog.text
    assert err["message"]
    r = client.get("/api/busy")
    _assert_error(r, 503, "busy")
    assert r.headers["Retry-After"] == "1"


def test_openapi_describes_every_route_with_schemas(app, client) -> None:
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        if rule.rule.startswith(("/admin", "/sell/")):
            # HTML pages (API.md "Pages"), not part of the JSON API's document.
            assert not any(p.startswith(("/admin", "/sell/")) for p in doc["paths"])
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, f"{method} {path} is not documented"
    register = doc["paths"]["/api/auth/register"]["post"]
    schema_ref = register["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert set(schema["required"]) == {"email", "password", "name"}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["password"]["minLength"] == 10
    assert "409" in register["responses"] and "201" in register["responses"]
    me = doc["paths"]["/api/me/addresses/{kind}"]["put"]
    assert me["security"] == [{"bearer": []}]


@pytest.mark.sqlite_only  # a file fault
def test_healthz_reports_a_broken_database_as_503(app, db_path) -> None:
    from shop.services import system

    system.close_connection()
    db_path.unlink()
    db_path.mkdir()  # the database path is now a folder: SQLite cannot open it
    r = app.test_client().get("/healthz")
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert r.get_json()["error"]["code"] == "storage_error"
    assert r.get_json()["error"]["details"] == {"database": "storage_error"}


def test_every_request_has_an_id_and_json_logs_carry_it(db_path, capsys) -> None:
    import json
    import logging

    from shop.api import create_app

    app = create_app({"DATABASE": db_path, "TESTING": True, "LOG_FORMAT": "json"})

    @app.get("/api/log-something")
    def log_something():
        logging.getLogger("shop.test").warning("a thing happened")
        return {"ok": True}

    client = app.test_client()
    r = client.get("/api/log-something", headers={"X-Request-Id": "abc12345-trace"})
    assert r.headers["X-Request-Id"] == "abc12345-trace"
    generated = client.get("/healthz").headers["X-Request-Id"]
    assert len(generated) == 32
    assert client.get("/healthz", headers={"X-Request-Id": "bad id!"}
                      ).headers["X-Request-Id"] != "bad id!"
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith("{")]
    mine = [entry for entry in lines if entry["message"] == "a thing happened"]
    assert mine and mine[0]["request_id"] == "abc12345-trace"
    assert mine[0]["level"] == "warning" and mine[0]["logger"] == "shop.test"
