"""The HTTP edge against a real gunicorn (``shop serve``) on 127.0.0.1: slow clients do not
stall the shop, and oversized bodies are a 413 however they are sent. One server for the
module; every loop and socket here is bounded."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import running_shop

pytestmark = pytest.mark.slow
WORKERS = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db_path: Path = tmp_path_factory.mktemp("edge") / "shop.db"
    with running_shop(db_path, workers=WORKERS) as base:
        yield base


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def test_slow_clients_do_not_stall_the_shop(server) -> None:
    """Each slow client sends headers and one byte of a declared body, then waits. With sync
    workers, as many of them as there are workers stalled /healthz for 30 s; with gthread
    workers each holds one thread, and the shop answers."""
    slow = []
    try:
        for _ in range(WORKERS * 2):
            sock = socket.create_connection(("127.0.0.1", _port(server)), timeout=5)
            sock.sendall(b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            slow.append(sock)
        for _ in range(3):
            with urllib.request.urlopen(server + "/healthz", timeout=10) as r:
                assert r.status == 200
                assert json.loads(r.read()) == {"status": "ok", "database": "ok"}
    finally:
        for sock in slow:
            sock.close()


def _chunked_post(base: str, size: int) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", _port(base), timeout=30)
    chunk = b" " * 65536

    def body() -> Iterator[bytes]:
        yield b'{"email": "a@b.c", "password": "'
        for _ in range(size // len(chunk)):
            yield chunk
        yield b'"}'

    # The server may answer and close before the client has sent everything.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        conn.request("POST", "/api/auth/login", body=body(), encode_chunked=True,
                     headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    answer = response.status, json.loads(response.read() or b"{}")
    conn.close()
    return answer


def test_an_oversized_chunked_body_is_a_413(server) -> None:
    status, body = _chunked_post(server, 2 * 1024 * 1024)  # the limit is 1 MiB
    assert status == 413, body
    assert body["error"]["code"] == "payload_too_large"


def test_a_small_chunked_body_is_read_normally(server) -> None:
    status, body = _chunked_post(server, 0)
    assert status in (400, 401), body  # read and judged: a bad login, not a size problem
    assert body["error"]["code"] in ("invalid", "unauthorized")


# --- long URLs: the search fits, anything longer is a JSON 414 -------------------------------
WIDE = "🧥"  # 4 bytes in UTF-8: 12 bytes once percent-encoded, the worst case per character


def _get(base: str, target: str) -> tuple[int, str, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", _port(base), timeout=30)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return (response.status, response.getheader("Content-Type", ""),
                json.loads(response.read()))
    finally:
        conn.close()


def _longest_search(q_length: int, *, cursor: bool = False, status: str = "active") -> str:
    """/api/products with every filter at its longest, each text in 4-byte characters."""
    query = {"category": "c" * 40, "brand": WIDE * 100, "size": WIDE * 40,
             "condition": "like_new", "min_price_cents": "100000000",
             "max_price_cents": "100000000", "featured": "false", "q": WIDE * q_length,
             "sort": "price_desc", "status": status, "limit": "100"}
    if cursor:
        query["cursor"] = "A" * 512
    return "/api/products?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)


def test_the_longest_search_fits_in_the_request_line() -> None:
    """The arithmetic behind MAX_SEARCH_LENGTH: q and every other parameter at its longest,
    in 4-byte characters, with the longest cursor, under gunicorn's limit, with room left."""
    from shop.api.schemas import MAX_SEARCH_LENGTH
    from shop.api.worker import LIMIT_REQUEST_LINE

    assert MAX_SEARCH_LENGTH == 200
    assert LIMIT_REQUEST_LINE == 8190
    line = f"GET {_longest_search(MAX_SEARCH_LENGTH, cursor=True, status='sold_out')} HTTP/1.1"
    assert len(line) == 4820  # bytes: the figure the limit is measured against
    assert len(line) < LIMIT_REQUEST_LINE


def test_a_search_of_the_longest_q_is_answered(server) -> None:
    status, content_type, body = _get(server, _longest_search(200))
    assert (status, content_type) == (200, "application/json"), body
    assert body == {"items": [], "next_cursor": None}  # an empty shop: nothing matches


def test_the_longest_cursor_too_is_read_by_the_shop(server) -> None:
    status, _, body = _get(server, _longest_search(200, cursor=True))
    assert status == 400  # the app read it: not a cursor this list gave out
    assert body["error"]["details"]["fields"] == {
        "cursor": "not a cursor of this list"}


def test_a_q_one_character_too_long_is_a_400_naming_q(server) -> None:
    status, content_type, body = _get(server, _longest_search(201))
    assert (status, content_type) == (400, "application/json")
    assert body["error"]["code"] == "invalid"
    assert body["error"]["details"]["fields"] == {"q": "must be at most 200 characters"}


def test_a_request_line_over_the_limit_is_a_json_414(server) -> None:
    status, content_type, body = _get(server, "/api/products?q=" + "a" * 8200)
    assert (status, content_type) == (414, "application/json")
    assert body == {"error": {"code": "invalid",
                              "message": "the URL is too long for the shop to read",
                              "details": {"fields": {"url": "is too long"}}}}


def test_too_many_header_fields_is_a_json_431(server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=30)
    try:
        conn.putrequest("GET", "/healthz")
        for n in range(150):  # gunicorn reads at most 100
            conn.putheader(f"X-Filler-{n}", "x")
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 431
        assert response.getheader("Content-Type") == "application/json"
        assert json.loads(response.read())["error"]["code"] == "invalid"
    finally:
        conn.close()
