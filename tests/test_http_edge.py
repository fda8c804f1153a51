"""The HTTP edge against a real gunicorn (``shop serve``) on 127.0.0.1: slow clients do not
stall the shop, and oversized bodies are a 413 however they are sent. One server for the
module; every loop and socket here is bounded."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
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
