"""Analytics (issue 9): events on the hot path, the idempotent rollup, retention."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from freezegun import freeze_time

from shop import clock
from shop.services import analytics, catalogue
from tests import engine

DAY = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _event(client, event_type="product_view", ip="198.51.100.1", **extra):
    return client.post("/api/events", json={"event_type": event_type, **extra},
                       environ_base={"REMOTE_ADDR": ip})


def test_events_are_validated_small_and_limited_per_client(client, db_path) -> None:
    pid = catalogue.create_product({"sku": "E-1", "title": "Coat", "category": "coats",
                                    "condition": "good", "price_cents": 100})["id"]
    assert _event(client, product_id=pid, path="/p/1",
                  metadata={"source": "home", "position": 3}).status_code == 202
    for bad, field in (({"event_type": "click"}, "event_type"),
                       ({"metadata": {f"k{n}": n for n in range(21)}}, "metadata"),
                       ({"metadata": {"nested": {"a": 1}}}, "metadata.nested"),
                       ({"path": "x" * 501}, "path")):
        r = client.post("/api/events", json={"event_type": "search", **bad})
        assert r.status_code == 400, bad
        assert any(k.startswith(field) for k in r.get_json()["error"]["details"]["fields"])
    unknown = _event(client, product_id=999_999)  # like a cart hold of an unknown product
    assert unknown.status_code == 404
    assert unknown.get_json()["error"]["code"] == "not_found"
    conn = engine.connect(db_path)
    assert conn.execute("SELECT client FROM analytics_events").fetchall() == \
        [("198.51.100.1",)]
    conn.close()


def test_one_client_is_limited_others_are_not(app, db_path) -> None:
    from shop.api import create_app

    app = create_app({"DATABASE": db_path, "TESTING": True, "EVENTS_PER_MINUTE": 3})
    client = app.test_client()
    with freeze_time(clock.now()) as frozen:
        assert [_event(client).status_code for _ in range(4)] == [202, 202, 202, 429]
        assert _event(client, ip="203.0.113.5").status_code == 202
        frozen.tick(timedelta(seconds=61))
        assert _event(client).status_code == 202


def test_the_rollup_is_idempotent_and_counts_a_late_event_once(client, runner,
                                                                admin_headers) -> None:
    pids = [catalogue.create_product({"sku": f"R-{n}", "title": "Coat", "category": "coats",
                                      "condition": "good", "price_cents": 100})["id"]
            for n in range(3)]
    with freeze_time(DAY):
        for pid, views in zip(pids, (3, 1, 2), strict=True):
            for _ in range(views):
                _event(client, product_id=pid)
        _event(client, "search")
    with freeze_time(DAY + timedelta(days=1)):
        _event(client, "search")  # the next day: not counted in DAY
    with freeze_time(DAY + timedelta(days=1, hours=2)):
        first = runner.invoke(["analytics", "rollup"])
        assert first.exit_code == 0 and "rolled up 7 event(s) of 2026-03-10" in first.output
        again = runner.invoke(["analytics", "rollup", "--day", "2026-03-10"])
        assert "rolled up 7 event(s)" in again.output
    rows = client.get("/api/admin/analytics/daily?from=2026-03-10&to=2026-03-10",
                      headers=admin_headers).get_json()["items"]
    assert [(r["event_type"], r["count"]) for r in rows] == [("product_view", 6), ("search", 1)]
    assert rows[0]["top_products"] == [{"product_id": pids[0], "count": 3},
                                       {"product_id": pids[2], "count": 2},
                                       {"product_id": pids[1], "count": 1}]
    with freeze_time(DAY + timedelta(hours=5)):
        _event(client, "search")  # a late event for DAY, arriving before the re-run
    analytics.rollup(date(2026, 3, 10))
    rows = analytics.daily(date(2026, 3, 10), date(2026, 3, 10), "search")
    assert rows[0]["count"] == 2  # counted once, not added to the earlier total
    bad = client.get("/api/admin/analytics/daily?from=2026-03-10&to=2026-01-01",
                     headers=admin_headers)
    assert bad.status_code == 400
    assert client.get("/api/admin/analytics/daily?from=2026-03-10&to=2026-03-10"
                      ).status_code == 401


@pytest.mark.parametrize("batch", [2, 5000])
def test_prune_keeps_what_is_recent_and_deletes_the_rest_in_batches(client, runner, db_path,
                                                                    monkeypatch, batch):
    monkeypatch.setattr(analytics, "PRUNE_BATCH", batch)
    with freeze_time(DAY - timedelta(days=100)):
        for _ in range(5):
            _event(client, "search")
    with freeze_time(DAY):
        _event(client, "search")
    with freeze_time(DAY + timedelta(days=1)):
        result = runner.invoke(["analytics", "prune", "--days", "90"])
    assert result.exit_code == 0, result.output
    assert "pruned 5 analytics_events" in result.output
    conn = engine.connect(db_path)
    assert conn.execute("SELECT count(*) FROM analytics_events").fetchone() == (1,)
    conn.close()


# --- POST /api/events refuses a body over 8 KiB before parsing it ---------------------------

EVENT = b'{"event_type": "search"}'


def _padded(size: int, start: bytes = EVENT) -> bytes:
    """``start`` followed by spaces up to ``size`` bytes: still the same JSON."""
    return start + b" " * (size - len(start))


class _CountingStream:
    """A request body that records how much of it the app read."""

    def __init__(self, data: bytes) -> None:
        self.data, self.read_bytes = data, 0

    def read(self, size: int = -1) -> bytes:
        size = len(self.data) - self.read_bytes if size is None or size < 0 else size
        chunk = self.data[self.read_bytes:self.read_bytes + size]
        self.read_bytes += len(chunk)
        return chunk


def _assert_payload_too_large(r) -> None:
    assert r.status_code == 413
    body = r.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["message"] == "the body may be at most 8192 bytes"


def test_an_event_of_exactly_8_kib_is_accepted(client, db_path) -> None:
    body = _padded(8192)
    assert len(body) == 8192
    r = client.post("/api/events", data=body, content_type="application/json")
    assert r.status_code == 202, r.get_json()
    conn = engine.connect(db_path)
    assert conn.execute("SELECT count(*) FROM analytics_events").fetchone()[0] == 1
    conn.close()


def test_an_event_over_8_kib_is_a_413_and_nothing_is_recorded(client, db_path) -> None:
    for body in (_padded(8193), _padded(8193, b"not json at all"), _padded(64 * 1024)):
        # Valid JSON or not: refused for its size, before it is parsed (never a 400).
        r = client.post("/api/events", data=body, content_type="application/json")
        _assert_payload_too_large(r)
    conn = engine.connect(db_path)
    assert conn.execute("SELECT count(*) FROM analytics_events").fetchone()[0] == 0
    conn.close()


def _chunked_post(app, path: str, stream: _CountingStream) -> tuple[int, dict]:
    """POST a body with no Content-Length, as a server passes on a chunked request."""
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    environ = EnvironBuilder(path=path, method="POST", content_type="application/json",
                             headers={"Transfer-Encoding": "chunked"}).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ.update({"wsgi.input": stream, "wsgi.input_terminated": True})
    app_iter, status, _headers = run_wsgi_app(app, environ, buffered=True)
    return int(status.split()[0]), json.loads(b"".join(app_iter))


def test_a_chunked_event_is_read_no_further_than_8_kib_and_a_byte(app) -> None:
    """Without a Content-Length the app reads at most 8 KiB + 1 bytes of a long body."""
    stream = _CountingStream(_padded(1024 * 1024))
    status, body = _chunked_post(app, "/api/events", stream)
    assert status == 413 and body["error"] == {
        "code": "payload_too_large", "message": "the body may be at most 8192 bytes",
        "details": {}}
    assert 0 < stream.read_bytes <= 8193
    exact = _CountingStream(_padded(8192))
    status, body = _chunked_post(app, "/api/events", exact)
    assert status == 202, body
    assert exact.read_bytes == 8192


def test_other_routes_keep_the_general_limit(client) -> None:
    """The 8 KiB limit is the events route's own: a 9 KiB sign-in body is parsed (and
    refused for what it says, not for its size)."""
    body = _padded(9 * 1024, b'{"email": "a@b.ie", "password": "wrong password"}')
    r = client.post("/api/auth/login", data=body, content_type="application/json")
    assert r.status_code == 401


def test_the_openapi_document_states_the_events_size_limit(client) -> None:
    doc = client.get("/api/openapi.json").get_json()
    refused = doc["paths"]["/api/events"]["post"]["responses"]["413"]
    assert "8192 bytes" in refused["description"]
    assert refused["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
