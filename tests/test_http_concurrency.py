"""Real gunicorn on 127.0.0.1 with several workers: concurrent writers never get a 500."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import running_shop
from tests.shopping import rows

pytestmark = pytest.mark.slow


def _post(url: str, body: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def server(db_path: Path, database_url: str | None) -> Iterator[tuple[str, Path]]:
    """gunicorn over this test's database: a file it migrates itself on SQLite, the
    fresh database of SHOP_DATABASE_URL (``database_url``) on PostgreSQL."""
    with running_shop(db_path, workers=3) as base:
        yield base, db_path


def test_concurrent_registrations_of_one_email_make_one_account(server) -> None:
    base, db_path = server
    statuses: list[int] = []
    body = {"email": "race@example.com", "password": "a long enough password", "name": "R"}

    def register() -> None:
        statuses.append(_post(base + "/api/auth/register", body))

    threads = [threading.Thread(target=register) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == [201] + [409] * 11
    assert rows(db_path, "SELECT count(*) FROM users") == [(1,)]
    assert rows(db_path, "SELECT count(*) FROM sessions") == [(1,)]
