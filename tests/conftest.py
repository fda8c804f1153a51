"""Fixtures in the style of Flask's tutorial: ``app``, ``client``, ``runner``; every test
gets its own real SQLite file (never ``:memory:``, which hides locking)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from shop.api import create_app
from shop.cli import main
from shop.db import database, init_database
from shop.services import mail
from shop.services.migrations import migrate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "shop.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Path]:
    """A migrated database file, connected in this thread."""
    init_database(db_path)
    migrate()
    database.connect(reuse_if_open=True)
    yield db_path
    database.close()


@pytest.fixture
def app(db_path: Path) -> Iterator[Flask]:
    init_database(db_path)
    migrate()
    database.close()
    app = create_app({"DATABASE": db_path, "MEDIA_DIR": db_path.parent / "media",
                      "TESTING": True})
    yield app
    database.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(db_path: Path) -> CliRunner:
    class Runner(CliRunner):
        def invoke(self, args, **kwargs):  # type: ignore[override]
            return super().invoke(main, ["--database", str(db_path), *args], **kwargs)

    return Runner()


class Mailbox(list):
    """What the shop sent. Mail leaves from a background outbox after commit, so reading
    the mailbox first waits for the outbox to empty."""

    def delivered(self) -> Mailbox:
        assert mail.drain(10), "the outbox did not empty"
        return self


@pytest.fixture
def mailbox(app: Flask) -> Iterator[Mailbox]:
    sent = Mailbox()
    previous = mail.set_mailer(sent.append)  # after create_app() picked its mailer
    yield sent
    mail.drain(10)
    mail.set_mailer(previous)


PASSWORD = "correct horse battery"


def sign_up(client: FlaskClient, email: str, *, admin: bool = False) -> dict[str, str]:
    """Register through the API (promoting to admin if asked) and return auth headers."""
    from shop.services import accounts

    r = client.post("/api/auth/register", json={"email": email, "password": PASSWORD,
                                                "name": email.split("@")[0]})
    assert r.status_code == 201, r.get_json()
    if admin:
        accounts.create_admin(email, None)
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


@pytest.fixture
def admin_headers(client: FlaskClient) -> dict[str, str]:
    return sign_up(client, "owner@example.com", admin=True)


@pytest.fixture
def customer_headers(client: FlaskClient) -> dict[str, str]:
    return sign_up(client, "shopper@example.com")


@pytest.fixture
def ann(client: FlaskClient) -> dict[str, str]:
    """A signed-in shopper's auth headers."""
    return sign_up(client, "ann@example.com")


@pytest.fixture
def clean_ledger(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the test, every balance, head, hold and move follows the ledger (for tests
    that use the ``app``): ``pytestmark = pytest.mark.usefixtures("clean_ledger")``."""
    yield
    if "app" in request.fixturenames:
        from shop.services import stock

        assert stock.verify().violations == []
