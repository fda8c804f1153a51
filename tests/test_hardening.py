"""Issue 10's defects, each with the test that failed before its fix: hostile text at the
edge, rows the database refuses, bodies too large however they are sent."""

from __future__ import annotations

import pytest

from shop.db import write_transaction
from shop.errors import ShopError
from tests.conftest import PASSWORD, sign_up
from tests.test_constraints import CASES

ADDRESS = {"name": "Ann", "line1": "1 Main St", "city": "Cork"}


@pytest.mark.parametrize(("route", "body", "field"), [
    ("/api/auth/register", {"email": "a\u0000@example.com", "password": PASSWORD,
                            "name": "Ann"}, "email"),
    ("/api/auth/register", {"email": "ann@example.com", "password": PASSWORD,
                            "name": "An\u0000n"}, "name"),
    ("/api/auth/register", {"email": "ann@example.com", "password": PASSWORD,
                            "name": "Ann\u007f"}, "name"),
    ("/api/auth/register", {"email": "ann @example.com", "password": PASSWORD,
                            "name": "Ann"}, "email"),
    ("/api/auth/register", {"email": "ann@example.com", "password": PASSWORD,
                            "name": "   "}, "name"),
])
def test_control_characters_and_blank_text_are_refused_naming_the_field(client, route, body,
                                                                         field) -> None:
    r = client.post(route, json=body)
    assert r.status_code == 400, r.get_json()
    assert field in r.get_json()["error"]["details"]["fields"]


@pytest.mark.parametrize(("change", "field"), [
    ({"name": "\u0000"}, "name"), ({"line1": "a\nb"}, "line1"),
    ({"city": "\t" + "c" * 100}, "city"), ({"city": " " + "c" * 100}, "city"),
    ({"city": "c" * 101}, "city"), ({"county": "Co\u0001rk"}, "county"),
    ({"eircode": "T12\u0000"}, "eircode"), ({"country": "ie"}, "country"),
])
def test_address_fields_are_checked_as_sent(client, change, field) -> None:
    """Lengths and patterns apply to the value as sent, as the OpenAPI document says:
    a leading tab or space counts, nothing is stripped first."""
    headers = sign_up(client, "ann@example.com")
    r = client.put("/api/me/addresses/billing", json={**ADDRESS, **change}, headers=headers)
    assert r.status_code == 400, r.get_json()
    assert field in r.get_json()["error"]["details"]["fields"]
    ok = client.put("/api/me/addresses/billing", json={**ADDRESS, "city": "c" * 100},
                    headers=headers)
    assert ok.status_code == 200


def test_the_document_states_the_rules_validation_applies(client) -> None:
    schemas = client.get("/api/openapi.json").get_json()["components"]["schemas"]
    city = schemas["AddressIn"]["properties"]["city"]
    assert city["maxLength"] == 100 and "\\x00-\\x1f" in city["pattern"]
    email = schemas["RegisterIn"]["properties"]["email"]["pattern"]
    # Spaces are spelled out: JSON Schema's ECMA-262 \s is not the validating engine's \s.
    assert " \\x85\\xa0" in email and "\\s" not in email


@pytest.mark.parametrize(("name", "bad"), [(c[0], c[1]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_a_row_the_database_refuses_is_a_4xx_naming_a_field_never_a_500(db, name, bad):
    """Every rule of the schema, broken inside a service transaction: the answer is a
    ShopError with a 4xx status and a field, which the API renders as the error body."""
    from tests.populate import populate

    populate()
    with pytest.raises(ShopError) as caught, write_transaction():
        _run_in_transaction(bad)
    assert caught.value.status in (400, 409), (name, caught.value)
    assert caught.value.details.get("fields"), (name, caught.value.details)


def _run_in_transaction(script: str) -> None:
    from shop.db import database

    for statement in script.split(";"):
        if statement.strip():
            database.execute_sql(statement)

