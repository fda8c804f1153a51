"""Fuzzing every route of /api/openapi.json with schemathesis: all its checks, anonymous,
as a customer and as an admin, against the app on a real database file.

Bounded: a few examples per operation (plus schemathesis' boundary-value phase), so it
runs in CI in well under two minutes. New routes are covered as soon as they are in the
document. Requests go through the WSGI app in-process; nothing leaves the machine.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from shop.api import create_app
from shop.db import database, init_database
from shop.services import accounts, catalogue, demo, system
from shop.services.migrations import migrate

pytestmark = pytest.mark.slow

_FOLDER = Path(tempfile.mkdtemp(prefix="shop-fuzz-"))
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)
_DATABASE = _FOLDER / "shop.db"
init_database(_DATABASE)
migrate()
database.close()
APP = create_app({"DATABASE": _DATABASE, "TESTING": True,
                  # CORS on, as a shop with a separate front end runs it.
                  "CORS_ORIGINS": ("https://shop.example.com",),
                  # Fuzzing signs in and asks for resets far more than anyone would.
                  "LOGIN_MAX_FAILURES": 10_000, "LOGIN_CLIENT_MAX_FAILURES": 10_000,
                  "LOGIN_ACCOUNT_MAX_FAILURES": 10_000, "RESET_CLIENT_MAX_REQUESTS": 10_000})
SETTINGS = APP.config["SHOP_SETTINGS"]

# Business rules may refuse well-formed input (a taken sku, stock below zero, an
# adjustment without a note): those answers are documented 4xx, not failures.
REFUSALS = ["400", "401", "403", "404", "409", "413", "429"]
CONFIG = schemathesis.Config.from_dict({
    "checks": {
        "enabled": True,
        "positive_data_acceptance": {"expected-statuses": ["200", "201", "202", "204",
                                                           *REFUSALS]},
        "negative_data_rejection": {"expected-statuses": REFUSALS},
    },
})
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", APP, config=CONFIG)


def _use_fuzz_database() -> None:
    """Other tests point the shared database elsewhere; each example points it back."""
    if database.database != str(_DATABASE):
        system.configure(SETTINGS)


@pytest.fixture(scope="session")
def tokens() -> dict[str, str]:
    _use_fuzz_database()
    demo.seed("demo password 1")
    demo.seed_catalogue(30)
    catalogue.create_product({"sku": "FUZZ-1", "title": "Fuzz", "category": "coats",
                              "condition": "good", "price_cents": 100, "status": "active"})
    admin = accounts.login("admin@example.com", "demo password 1", "fuzz")
    customer = accounts.login("customer@example.com", "demo password 1", "fuzz")
    return {"admin": admin.token, "customer": customer.token}


@pytest.fixture(scope="session", params=["anonymous", "customer", "admin"])
def auth_headers(request, tokens) -> dict[str, str]:
    if request.param == "anonymous":
        return {}
    return {"Authorization": f"Bearer {tokens[request.param]}"}


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_route_survives_the_fuzzer(case, auth_headers) -> None:
    _use_fuzz_database()
    # Every check of schemathesis runs here (it raises on a failure); the one claim this
    # suite exists for is stated too: whatever arrives, never a server error.
    response = case.call_and_validate(headers=auth_headers)
    assert response.status_code < 500, (case.method, case.path, response.status_code)
