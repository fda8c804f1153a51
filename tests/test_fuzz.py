"""Fuzzing every route of /api/openapi.json with schemathesis: all its checks, anonymous,
as a customer and as an admin, against the app on a real database file.

Bounded: a few examples per operation (plus schemathesis' boundary-value phase), so it
runs in CI in well under two minutes. New routes are covered as soon as they are in the
document. Requests go through the WSGI app in-process; nothing leaves the machine.

The configuration is the project's schemathesis.toml, the same one ``schemathesis run``
reads from the repository root: every check on, with the refusals it lists and nothing else.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation import GenerationMode

from shop.api import create_app
from shop.db import database, init_database
from shop.errors import Unauthorized
from shop.services import accounts, catalogue, demo, system
from shop.services.migrations import migrate
from tests import engine

pytestmark = pytest.mark.slow

_FOLDER = Path(tempfile.mkdtemp(prefix="shop-fuzz-"))
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)
_DATABASE = _FOLDER / "shop.db"
if not engine.postgresql():  # on PostgreSQL the module's database comes with `seeded`
    init_database(_DATABASE)
    migrate()
    database.close()
APP = create_app({"DATABASE": _DATABASE, "MEDIA_DIR": _FOLDER / "media", "TESTING": True,
                  # CORS on, as a shop with a separate front end runs it.
                  "CORS_ORIGINS": ("https://shop.example.com",),
                  # Fuzzing signs in and asks for resets far more than anyone would.
                  "LOGIN_MAX_FAILURES": 10_000, "LOGIN_CLIENT_MAX_FAILURES": 10_000,
                  "LOGIN_ACCOUNT_MAX_FAILURES": 10_000, "RESET_CLIENT_MAX_REQUESTS": 10_000})
SETTINGS = APP.config["SHOP_SETTINGS"]
CONFIG = schemathesis.Config.from_path(Path(__file__).parents[1] / "schemathesis.toml")
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", APP, config=CONFIG)
PASSWORD = "demo password 1"

# The only answers of 400 to well-formed input: the field each names, per operation. They are
# refusals the schema cannot state (state, or a rule across fields told in words); the
# operations are the ones schemathesis.toml lets answer valid data with 400. Any other 400 to
# valid data is a defect: the document promised more than the shop accepts.
_LISTS = ["/api/products", "/api/orders", "/api/sell", "/api/admin/orders",
          "/api/admin/submissions", "/api/admin/audit", "/api/admin/products/{product_id}/moves"]
BUSINESS_REFUSALS: dict[tuple[str, str], set[str]] = {
    **{("GET", path): {"cursor"} for path in _LISTS},  # not a next_cursor of this list
    ("GET", "/api/admin/analytics/daily"): {"from", "to"},  # over 366 days, or reversed
    ("POST", "/api/auth/password-reset/confirm"): {"token"},  # no live reset code
    # An empty cart; nowhere to deliver; a guest (X-Cart-Session) without an email.
    ("POST", "/api/checkout"): {"cart", "delivery_address", "email"},
    ("POST", "/api/offers/{batch_id}/respond"): {"counter_price_cents"},  # counter, no price
    ("POST", "/api/admin/products/{product_id}/stock"): {"qty_change", "note"},  # sign; note
    # Bytes that are not a complete JPEG, PNG or WebP: the schema can only say "binary".
    ("POST", "/api/admin/products/{product_id}/images"): {"file"},
    ("POST", "/api/sell/{batch_id}/items/{item_id}/images"): {"file"},
}

# Who is asking in the current test; schemathesis' own auth applies it (below).
_IDENTITY: dict[str, str | None] = {"email": None, "token": None}


def _use_fuzz_database() -> None:
    """Other tests point the shared database elsewhere; each example points it back."""
    if database.database != str(SETTINGS.database_target):
        system.configure(SETTINGS)


@schema.auth(refresh_interval=None)
class _Bearer:
    """The identity's bearer token, through schemathesis' auth: it leaves the header off
    where a case tests a missing Authorization, which headers passed to ``call`` would
    put back. A token a fuzzed logout revoked is replaced, so a run never goes on as a
    stranger without knowing it."""

    def get(self, case: Any, context: Any) -> str | None:
        email = _IDENTITY["email"]
        if email is None:
            return None
        _use_fuzz_database()
        try:
            accounts.authenticate(_IDENTITY["token"] or "")
        except Unauthorized:
            _IDENTITY["token"] = accounts.login(email, PASSWORD, "fuzz").token
        return _IDENTITY["token"]

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module")
def seeded(module_database_url: str | None) -> None:
    """The fuzzed shop's rows; on the PostgreSQL run in the module's own database."""
    global SETTINGS
    if module_database_url is not None:
        SETTINGS = SETTINGS.with_overrides({"DATABASE_URL": module_database_url})
        APP.config["SHOP_SETTINGS"] = SETTINGS
    _use_fuzz_database()
    demo.seed(PASSWORD)
    demo.seed_catalogue(30)
    catalogue.create_product({"sku": "FUZZ-1", "title": "Fuzz", "category": "coats",
                              "condition": "good", "price_cents": 100, "status": "active"})


@pytest.fixture(scope="module", params=["anonymous", "customer", "admin"])
def identity(request, seeded) -> str:
    email = None if request.param == "anonymous" else f"{request.param}@example.com"
    _IDENTITY.update(email=email, token=None)
    return request.param


def _refused_fields(response: Any) -> set[str]:
    try:
        return set(response.json()["error"]["details"].get("fields", {}))
    except (ValueError, KeyError, TypeError, AttributeError):
        return {"<no error body>"}


# On PostgreSQL (the second pass) fewer generated examples per operation: the first pass
# fuzzes each route with 12 already; the second looks for what only PostgreSQL refuses,
# and schemathesis' boundary-value phase, which max_examples does not bound, runs in full.
EXAMPLES = 4 if engine.postgresql() else 12


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_route_survives_the_fuzzer(case, identity) -> None:
    _use_fuzz_database()
    # Every check of schemathesis runs here (it raises on a failure); the one claim this
    # suite exists for is stated too: whatever arrives, never a server error.
    response = case.call_and_validate()
    assert response.status_code < 500, (case.method, case.path, response.status_code)
    if (response.status_code == 400 and case.meta is not None
            and case.meta.generation.mode == GenerationMode.POSITIVE):
        allowed = BUSINESS_REFUSALS.get((case.method.upper(), case.path), set())
        refused = _refused_fields(response)
        assert refused and refused <= allowed, (
            f"{case.method} {case.path}: valid input refused, naming {sorted(refused)}; "
            f"documented refusals here: {sorted(allowed)}", response.text)
