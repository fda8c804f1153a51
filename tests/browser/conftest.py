"""Real-browser tests: Debian's chromium, driven by Playwright, against a real gunicorn.

scripts/test.sh installs chromium (as root, with apt-get) and exports SHOP_TEST_CHROMIUM;
without a browser these tests fail under CI=true and skip, saying why, elsewhere (as the
PostgreSQL tests do). Playwright's own browser download is never used.

Fixtures: ``browser`` (one chromium for the session), ``live_shop`` (``shop serve`` on a
fresh copy of a seeded SQLite file; on the PostgreSQL run, of a seeded PostgreSQL
database, given to the server and the test's commands as SHOP_DATABASE_URL), ``page``
(a new browser context per test, 1280x720).
Helpers: ``phone_width(page)``, ``screenshot(page, name)``, ``sign_in(page, base_url,
email, password)``. A failing test that used ``page`` leaves ``FAILED-<test>.png`` beside
the screenshots.
"""

from __future__ import annotations

import itertools
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import engine
from tests.conftest import ENGINE, ROOT
from tests.servers import running_shop

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

# The flags chromium needs on these machines (no GPU, no sandbox as root, no outside calls).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DEFAULT_CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 375, "height": 812}
TIMEOUT_MS = 10_000  # per action and assertion: a missing element fails in seconds, not 30

ADMIN_EMAIL = "admin@example.com"  # made by `shop seed-demo`
CUSTOMER_EMAIL = "customer@example.com"
DEMO_PASSWORD = "browser-tests-password"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser tests need chromium in CI: {reason}", pytrace=False)
    pytest.skip(f"no browser for the tests: {reason}")


def artefacts_dir() -> Path:
    """Where tests leave files for people to look at: SHOP_TEST_ARTEFACTS, else
    test-artefacts/ at the repository root (ignored by git)."""
    return Path(os.environ.get("SHOP_TEST_ARTEFACTS") or ROOT / "test-artefacts")


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG as <artefacts>/screenshots/<name>.png and return its path."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "screenshot"
    path = artefacts_dir() / "screenshots" / f"{safe}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


def phone_width(page: Page) -> None:
    """Make the page 375 px wide (a phone), from the next layout on."""
    page.set_viewport_size(PHONE)


def sign_in(page: Page, base_url: str, email: str, password: str) -> None:
    """Sign in through /admin/login as a person would, and wait for the Today page.

    The page contract: a form with labelled Email and Password inputs (and a hidden
    csrf_token), a "Sign in" button, then a redirect to /admin whose <h1> is "Today".
    """
    from playwright.sync_api import expect

    page.goto(base_url + "/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(base_url) + r"/admin/?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Today")


# -- the browser ----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium: SHOP_TEST_CHROMIUM (scripts/test.sh), else /usr/bin/chromium."""
    path = os.environ.get("SHOP_TEST_CHROMIUM") or DEFAULT_CHROMIUM
    if reason := os.environ.get("SHOP_TEST_BROWSER_UNAVAILABLE"):
        _unavailable(reason)  # scripts/_browser.sh found none, or one that cannot run
    if not os.access(path, os.X_OK):
        _unavailable(f"no {path} (scripts/test.sh installs Debian's chromium as root; "
                     "elsewhere: apt install chromium)")
    return path


@pytest.fixture(scope="session")
def playwright(chromium_path: str) -> Iterator[Playwright]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        _unavailable(f"the playwright package is not installed ({e}; pip install -e '.[test]')")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright, chromium_path: str) -> Iterator[Browser]:
    """One headless chromium for the whole session (launching one costs about a second)."""
    from playwright.sync_api import expect

    # The context's default timeout covers actions only; expect() assertions have their
    # own, 5 s unless set here. A click that posts to gunicorn and redraws can take longer
    # on a loaded 2-core box running both passes side by side.
    expect.set_options(timeout=TIMEOUT_MS)
    browser = playwright.chromium.launch(executable_path=chromium_path,
                                         args=list(CHROMIUM_ARGS))
    yield browser
    browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a new browser context (no cookies or storage from other tests), 1280x720;
    ``phone_width(page)`` narrows it. On failure, a screenshot of where it stood."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            try:
                screenshot(page, f"FAILED-{request.node.name}")
            except Exception as e:  # the page may be gone with the failure
                print(f"no failure screenshot: {e}", file=sys.stderr)
        context.close()


# -- the shop -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LiveShop:
    """A running ``shop serve``: where it answers and who can sign in."""

    base_url: str
    admin_email: str
    admin_password: str
    customer_email: str
    customer_password: str
    db_path: Path

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture(scope="session")
def seeded_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Once per session: a migrated SQLite file with `shop seed-demo`'s catalogue, admin,
    customer and sell submission (all with DEMO_PASSWORD)."""
    path = tmp_path_factory.mktemp("browser-seed") / "shop.db"
    shop = Path(sys.executable).with_name("shop")
    subprocess.run([str(shop), "--database", str(path), "seed-demo", "--password",
                    DEMO_PASSWORD], check=True, capture_output=True, timeout=120)
    return path


@pytest.fixture(scope="session")
def seeded_postgresql(request: pytest.FixtureRequest) -> Iterator[str]:
    """On the PostgreSQL run, once per session: a database made as a deployer makes one
    (`shop migrate`, then `shop seed-demo`, as above), the template of each test's copy.
    Its name."""
    from shop.db import postgresql_database
    from shop.services.pg import with_database

    server = request.getfixturevalue("postgresql_url")
    name = f"shop_browser_seed_{os.getpid()}"
    admin = postgresql_database(server)
    admin.execute_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.execute_sql(f"CREATE DATABASE {name}")
    shop = Path(sys.executable).with_name("shop")
    env = {**os.environ, "SHOP_DATABASE_URL": with_database(server, name)}
    for argv in (["migrate"], ["seed-demo", "--password", DEMO_PASSWORD]):
        subprocess.run([str(shop), *argv], check=True, capture_output=True, timeout=120,
                       env=env)
    try:
        yield name
    finally:
        admin.execute_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close_all()


_copies = itertools.count()


@pytest.fixture
def live_database(tmp_path: Path, request: pytest.FixtureRequest,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This test's own copy of the seeded database: a file; on the PostgreSQL run, a
    database copied from the seeded one, in SHOP_DATABASE_URL for the server and the
    commands the test runs (and for ``tests.engine.connect``). The file's path."""
    db_path = tmp_path / "shop.db"
    if ENGINE != "postgresql":
        seeded = request.getfixturevalue("seeded_database")
        with sqlite3.connect(seeded) as source, sqlite3.connect(db_path) as copy:
            source.backup(copy)
        source.close()
        copy.close()
        yield db_path
        return
    from shop.db import postgresql_database
    from shop.services.pg import with_database

    seeded = request.getfixturevalue("seeded_postgresql")
    server = request.getfixturevalue("postgresql_url")
    name = f"shop_browser_{os.getpid()}_{next(_copies)}"
    admin = postgresql_database(server)
    admin.execute_sql(f"CREATE DATABASE {name} TEMPLATE {seeded} STRATEGY FILE_COPY")
    engine.current_url = with_database(server, name)
    monkeypatch.setenv("SHOP_DATABASE_URL", engine.current_url)
    try:
        yield db_path
    finally:
        admin.execute_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close_all()


@pytest.fixture
def live_shop(live_database: Path, tmp_path: Path) -> Iterator[LiveShop]:
    """A real gunicorn (`shop serve`, 2 workers) on 127.0.0.1 and a free port, on this
    test's own copy of the seeded database, so tests may change what they like."""
    env = {"SHOP_MEDIA_DIR": str(tmp_path / "media")}
    with running_shop(live_database, workers=2, threads=4, env=env) as base:
        yield LiveShop(base, ADMIN_EMAIL, DEMO_PASSWORD, CUSTOMER_EMAIL, DEMO_PASSWORD,
                       live_database)
