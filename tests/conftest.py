"""Fixtures in the style of Flask's tutorial: ``app``, ``client``, ``runner``; every test
gets its own real SQLite file (never ``:memory:``, which hides locking).

With ``SHOP_TEST_ENGINE=postgresql`` (scripts/test.sh's second pass) the same fixtures give
each test a fresh PostgreSQL database instead (a copy of a template holding the schema),
and every test runs again but those marked ``sqlite_only`` or ``engine_fixed``: what is
deselected is said in the report, never skipped silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
ENGINE = os.environ.get("SHOP_TEST_ENGINE", "sqlite")
if ENGINE not in ("sqlite", "postgresql"):
    raise pytest.UsageError(f"SHOP_TEST_ENGINE must be sqlite or postgresql, not {ENGINE!r}")
ONE_PASS = ("sqlite_only", "engine_fixed")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL pass every test runs again except those whose marker says why not:
    ``sqlite_only`` (a SQLite matter by nature) and ``engine_fixed`` (the test picks its
    engines itself, or needs no database, so one pass is all of it). A new test runs on
    both engines unless it says otherwise."""
    if ENGINE != "postgresql":
        return
    keep, away = [], dict.fromkeys(ONE_PASS, 0)
    for item in items:
        marker = next((m for m in ONE_PASS if item.get_closest_marker(m) is not None), None)
        if marker is None:
            keep.append(item)
            continue
        away[marker] += 1
        config.hook.pytest_deselected(items=[item])
    items[:] = keep
    config._shop_engine_note = ", ".join(f"{n} {why}" for why, n in away.items() if n)


def pytest_report_header(config: pytest.Config) -> str:
    return f"shop engine: {ENGINE}"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    note = getattr(config, "_shop_engine_note", "")
    if note:
        terminalreporter.write_line(f"PostgreSQL run: deselected {note}")


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """scrypt at N=2**10 in the test process (about 1 ms a hash, not 60-100): nearly every
    test signs people up and in. The cost is stored with each hash and read back by
    verify_password, so the code is the same; the shop's own processes (gunicorn, `shop`
    commands) keep their cost, which tests/test_accounts.py checks."""
    from shop.services import passwords

    saved, passwords._N = passwords._N, 2**10
    yield
    passwords._N = saved


@pytest.fixture(autouse=True)
def mail_leaves_with_its_test() -> Iterator[None]:
    """Mail a test caused is sent before the test ends, from its own database. The mail
    thread waits LINGER after a commit, so a test that queues mail and ends at once (no
    ``mailbox``) used to leave it to whatever disconnected next, or to the interpreter's
    atexit flush: after pytest's summary, through a log handler on a stream pytest had
    closed ('--- Logging error ---'). Torn down last: the test's file is still there, and
    on PostgreSQL pg_fresh_url's disconnect_all has drained it already."""
    yield
    mail.drain(10)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "shop.db"


@pytest.fixture
def database_url(request: pytest.FixtureRequest,
                 monkeypatch: pytest.MonkeyPatch) -> str | None:
    """On the PostgreSQL run, a fresh database of the schema for this test (its URL, also
    in SHOP_DATABASE_URL for the apps, commands and servers the test starts); None on
    SQLite."""
    if ENGINE != "postgresql":
        return None
    from tests import engine

    engine.current_url = request.getfixturevalue("pg_fresh_url")
    monkeypatch.setenv("SHOP_DATABASE_URL", engine.current_url)
    return engine.current_url


def _open(db_path: Path, database_url: str | None) -> None:
    """Point the shared database at this test's: the migrated file, or the fresh
    PostgreSQL copy (its schema comes with the template)."""
    if database_url is None:
        init_database(db_path)
        migrate()
    else:
        init_database(database_url)


@pytest.fixture
def db(db_path: Path, database_url: str | None) -> Iterator[Path]:
    """A migrated database file (or PostgreSQL database), connected in this thread."""
    _open(db_path, database_url)
    database.connect(reuse_if_open=True)
    yield db_path
    database.close()


@pytest.fixture
def app(db_path: Path, database_url: str | None) -> Iterator[Flask]:
    _open(db_path, database_url)
    database.close()
    app = create_app({"DATABASE": db_path, "DATABASE_URL": database_url or "",
                      "MEDIA_DIR": db_path.parent / "media", "TESTING": True})
    yield app
    database.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(db_path: Path, database_url: str | None) -> CliRunner:
    class Runner(CliRunner):
        def invoke(self, args, **kwargs):  # type: ignore[override]
            if database_url is not None:
                kwargs["env"] = {"SHOP_DATABASE_URL": database_url, **(kwargs.get("env") or {})}
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
def clean_ledger(request: pytest.FixtureRequest, database_url: str | None) -> Iterator[None]:
    """After the test, every balance, head, hold and move follows the ledger (for tests
    that use the ``app``): ``pytestmark = pytest.mark.usefixtures("clean_ledger")``."""
    yield
    if "app" in request.fixturenames:
        from shop.services import stock

        assert stock.verify().violations == []


# -- PostgreSQL (docs/scaling.md, "PostgreSQL: status") ------------------------------------
# scripts/test.sh starts a throwaway server and exports SHOP_TEST_DATABASE_URL. Each test
# gets a fresh database copied from a template (CREATE DATABASE ... TEMPLATE: a file copy,
# no DDL per test). The templates' schema is built as production builds it, by the
# migrations (the frozen baseline, then each later branch, with `migratehistory`), so the
# suite tests the schema a shop really has; test_postgresql_migrations.py proves it equal
# to the models'.

@pytest.fixture(scope="session")
def postgresql_url() -> str:
    import os

    url = os.environ.get("SHOP_TEST_DATABASE_URL")
    if not url:
        reason = os.environ.get("SHOP_TEST_POSTGRES_UNAVAILABLE",
                                "SHOP_TEST_DATABASE_URL is not set (scripts/test.sh sets it)")
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI: {reason}")
        pytest.skip(f"no PostgreSQL for the tests: {reason}")
    return url


def _database_url(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name`` (postgresql://user@host/db?query)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def postgresql_template(postgresql_url: str) -> Iterator[str]:
    """The name of a template database: the migrated schema plus tests/populate.py's rows."""
    import os

    from shop.db import postgresql_database
    from shop.models import ALL_MODELS
    from shop.services.migrations import migrate_postgresql
    from tests.populate import populate

    admin = postgresql_database(postgresql_url)
    name = f"shop_template_{os.getpid()}"
    admin.execute_sql(f"DROP DATABASE IF EXISTS {name}")
    admin.execute_sql(f"CREATE DATABASE {name}")
    template = postgresql_database(_database_url(postgresql_url, name))
    migrate_postgresql(template)
    with template.bind_ctx(ALL_MODELS):
        populate()
    template.close_all()
    yield name
    admin.execute_sql(f"DROP DATABASE IF EXISTS {name}")
    admin.close_all()


_copies = iter(range(10**9))


@pytest.fixture
def pg_populated(postgresql_url: str, postgresql_template: str) -> Iterator[object]:
    """A fresh PostgreSQL database with the populated rows, the models bound to it."""
    import os

    from shop.db import postgresql_database
    from shop.models import ALL_MODELS

    admin = postgresql_database(postgresql_url)
    name = f"shop_test_{os.getpid()}_{next(_copies)}"
    admin.execute_sql(f"CREATE DATABASE {name} TEMPLATE {postgresql_template}")
    db = postgresql_database(_database_url(postgresql_url, name))
    try:
        with db.bind_ctx(ALL_MODELS):
            yield db
    finally:
        db.close_all()
        admin.execute_sql(f"DROP DATABASE {name}")
        admin.close_all()


@pytest.fixture(scope="session")
def postgresql_schema_template(postgresql_url: str) -> Iterator[str]:
    """A template database holding the migrated schema (and its history) and no rows:
    what `shop migrate` or `shop serve` make of an empty database."""
    from shop.db import postgresql_database
    from shop.services.migrations import migrate_postgresql

    admin = postgresql_database(postgresql_url)
    name = f"shop_schema_{os.getpid()}"
    admin.execute_sql(f"DROP DATABASE IF EXISTS {name}")
    admin.execute_sql(f"CREATE DATABASE {name}")
    template = postgresql_database(_database_url(postgresql_url, name))
    migrate_postgresql(template)
    template.close_all()
    yield name
    admin.execute_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close_all()


@pytest.fixture
def pg_fresh_url(postgresql_url: str, postgresql_schema_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database with the schema and no rows: its URL. Dropped after the
    test, whoever is still connected (a server it started, a pooled connection)."""
    from shop.db import disconnect_all, postgresql_database

    admin = postgresql_database(postgresql_url)
    name = f"shop_test_{os.getpid()}_{next(_copies)}"
    admin.execute_sql(f"CREATE DATABASE {name} TEMPLATE {postgresql_schema_template} "
                      "STRATEGY FILE_COPY")  # a file copy: 4x faster than WAL_LOG here
    try:
        yield _database_url(postgresql_url, name)
    finally:
        disconnect_all()
        admin.execute_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close_all()


@pytest.fixture(scope="module")
def module_database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """For a module-scoped shop: on the PostgreSQL run, one fresh database for the module
    (its URL); None on SQLite."""
    if ENGINE != "postgresql":
        yield None
        return
    from shop.db import disconnect_all, postgresql_database

    url = request.getfixturevalue("postgresql_url")
    template = request.getfixturevalue("postgresql_schema_template")
    admin = postgresql_database(url)
    name = f"shop_module_{os.getpid()}_{next(_copies)}"
    admin.execute_sql(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
    try:
        yield _database_url(url, name)
    finally:
        disconnect_all()
        admin.execute_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close_all()


# -- An app with settings of its own, on either engine -------------------------------------
# For tests whose app needs its own settings (an SMTP server, low limits, CORS, S3): the
# same database as the ``app`` fixture gives (this test's migrated file, or its fresh
# PostgreSQL database on the PostgreSQL run), so they run on both engines.

@pytest.fixture
def make_app(db_path: Path, database_url: str | None) -> Iterator[Callable[..., Flask]]:
    """``make_app(config)``: ``create_app`` over this test's database; ``config`` adds to
    (or replaces) ``DATABASE`` and ``DATABASE_URL``, ``TESTING`` is not implied."""
    def make(config: dict[str, Any] | None = None) -> Flask:
        _open(db_path, database_url)
        database.close()
        return create_app({"DATABASE": db_path, "DATABASE_URL": database_url or "",
                           **(config or {})})

    yield make
    database.close()
