"""A PostgreSQL server the shop cannot reach (API.md "Errors": 503 with `Retry-After` and
the fault's code, never a 500): the shop starts without it, answers 503 `storage_error`
while it is gone, and carries on by itself when it is back.

The server is made to go away for real: the shop reaches PostgreSQL through a TCP relay on
127.0.0.1 to the test server's socket, and the test cuts the relay (every connection
closed, nothing listening) and opens it again on the same port.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest

from shop.api import create_app
from shop.db import database, disconnect_all, init_database
from shop.errors import ServerGone
from shop.services import jobs

# engine_fixed: the relay is to PostgreSQL, in the first pass.
pytestmark = pytest.mark.engine_fixed

SHOP = Path(sys.executable).with_name("shop")
UNREACHABLE = {"error": {"code": "storage_error",
                         "message": "the shop cannot reach its database just now",
                         "details": {"reason": "08001"}}}


class Relay:
    """127.0.0.1:<port> relayed to a PostgreSQL socket, which can be cut and opened again."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, []
        for s in [listener, *sockets]:
            if s is not None:
                _shut(s)
                s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = self._connect()
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    server.close()
                    return
                self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _connect(self) -> socket.socket:
        if self.target.startswith("/"):
            s = socket.socket(socket.AF_UNIX)
            s.connect(self.target)
        else:
            host, port = self.target.rsplit(":", 1)
            s = socket.create_connection((host, int(port)))
        return s

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                _shut(s)


def _shut(s: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other side
        s.shutdown(socket.SHUT_RDWR)


def _server_of(url: str) -> str:
    """The test server's address from its URL: a unix socket path, or host:port."""
    parts = urlsplit(url)
    port = parts.port or 5432
    host = parse_qs(parts.query).get("host", [parts.hostname or "/var/run/postgresql"])[0]
    return f"{host}/.s.PGSQL.{port}" if host.startswith("/") else f"{host}:{port}"


@pytest.fixture
def relay(pg_fresh_url: str) -> object:
    relay = Relay(_server_of(pg_fresh_url))
    relay.start()
    yield relay
    relay.cut()


def _through(url: str, port: int) -> str:
    """``url`` to the same database through 127.0.0.1:``port``."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    query = "&".join(f"{k}={v[0]}" for k, v in parse_qs(parts.query).items() if k != "host")
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}",
                                     query="&".join(filter(None, [query, "connect_timeout=3"]))))


def _sign_up(client, email: str):
    return client.post("/api/auth/register", json={
        "email": email, "password": "correct horse battery", "name": "Ann"})


def test_a_lost_database_server_is_503_storage_error_until_it_is_back(
        relay, pg_fresh_url: str, tmp_path: Path, monkeypatch) -> None:
    url = _through(pg_fresh_url, relay.port)
    monkeypatch.setenv("SHOP_DATABASE_URL", url)
    app = create_app({"DATABASE": tmp_path / "unused.db", "DATABASE_URL": url,
                      "TESTING": True})
    client = app.test_client()
    try:
        assert client.get("/healthz").get_json() == {"status": "ok", "database": "ok"}
        assert _sign_up(client, "ann@example.com").status_code == 201

        relay.cut()  # the server is gone: pooled connections die, new ones are refused
        health = client.get("/healthz")
        assert health.status_code == 503 and health.headers["Retry-After"] == "5"
        assert health.get_json()["error"]["code"] == "storage_error"
        assert health.get_json()["error"]["details"] == {"database": "storage_error"}
        for answer in (client.get("/api/products"), _sign_up(client, "bob@example.com"),
                       client.get("/api/products")):
            assert answer.status_code == 503, answer.get_json()
            assert answer.headers["Retry-After"] == "5"
            assert answer.get_json() == UNREACHABLE

        relay.start()  # back, on the same port: the shop carries on by itself
        assert client.get("/healthz").get_json() == {"status": "ok", "database": "ok"}
        assert _sign_up(client, "bob@example.com").status_code == 201
        emails = [row[0] for row in database.execute_sql(
            "SELECT email FROM users ORDER BY id").fetchall()]
        assert emails == ["ann@example.com", "bob@example.com"]  # nothing half-written
    finally:
        disconnect_all()


def test_the_shop_starts_while_its_database_server_is_away(
        relay, pg_fresh_url: str, tmp_path: Path, monkeypatch) -> None:
    url = _through(pg_fresh_url, relay.port)
    relay.cut()
    monkeypatch.setenv("SHOP_DATABASE_URL", url)
    app = create_app({"DATABASE": tmp_path / "unused.db", "DATABASE_URL": url,
                      "TESTING": True})
    client = app.test_client()
    try:
        products = client.get("/api/products")
        assert products.status_code == 503 and products.get_json() == UNREACHABLE
        # A write measures the clock first: the server away fails that as it would the write.
        signed = _sign_up(client, "bob@example.com")
        assert signed.status_code == 503 and signed.get_json() == UNREACHABLE
        relay.start()
        assert client.get("/healthz").status_code == 200
        assert _sign_up(client, "ann@example.com").status_code == 201
        emails = [row[0] for row in database.execute_sql("SELECT email FROM users").fetchall()]
        assert emails == ["ann@example.com"]
    finally:
        disconnect_all()


def test_a_command_says_the_server_is_away_in_one_line(relay, pg_fresh_url: str) -> None:
    url = _through(pg_fresh_url, relay.port)
    relay.cut()
    env = {**os.environ, "SHOP_DATABASE_URL": url}
    done = subprocess.run([str(SHOP), "stock", "verify"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert errors == [f"Error: the shop cannot reach its database just now ({url}); check "
                      "that the database server is running and reachable, then run it again"]
    assert "Traceback" not in done.stderr


def _closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on: bound, read, closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The cron commands' one line for a server that refuses connections (API.md "Errors":
# 503 storage_error's message, then the server and the next step).
AWAY = ("Error: the shop cannot reach its database just now ({url}); check that the "
        "database server is running and reachable, then run it again")


@pytest.mark.parametrize("argv", [
    ["stock", "verify"],
    ["expire-reservations"],
    ["orders", "expire-unpaid"],
    ["analytics", "rollup"],  # its bar's length is known before it reads anything
    ["mail", "send"],
])
def test_a_command_on_a_refused_server_prints_its_one_error_line_and_nothing_else(
        argv: list[str]) -> None:
    """The developers' guide: a command that fails says so in one line, exit 1, no
    noise: not the clock it could not measure nor the run it could not record first."""
    url = f"postgresql://127.0.0.1:{_closed_port()}/shop?connect_timeout=3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}
    env["SHOP_DATABASE_URL"] = url
    done = subprocess.run([str(SHOP), *argv], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [AWAY.format(url=url)]
    assert done.stdout == ""


def _warnings(caplog) -> list[tuple[str, str]]:
    """What was logged at WARNING or above (what a command shows by default)."""
    return [(r.levelname, r.getMessage()) for r in caplog.records
            if r.levelno >= logging.WARNING]


def test_a_run_that_succeeded_unrecorded_is_logged_and_one_that_failed_so_is_not(
        caplog) -> None:
    """The run's row is best effort: a job that did its work but whose row the away
    server could not take is logged (nobody else says so); a job that failed for that
    same reason is not (its caller reports the error, once)."""
    init_database(f"postgresql://127.0.0.1:{_closed_port()}/shop?connect_timeout=3")
    try:
        with jobs.run("media-gc") as job:
            job.detail = "checked 0 file(s), removed 0"
        assert _warnings(caplog) == [
            ("WARNING", "the media-gc run (ok) could not be recorded: ServerGone: the shop "
                        "cannot reach its database just now")]
        caplog.clear()
        with pytest.raises(ServerGone), jobs.run("stock-verify"):
            jobs.last_run("stock-verify")  # the job's own read meets the away server
        assert _warnings(caplog) == []
    finally:
        disconnect_all()
