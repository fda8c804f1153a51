"""Refusals read like sentences (API.md "Errors"): no regex pattern and no library wording in
any message or detail, and each constrained field says its own rule."""

from __future__ import annotations

import json

import pytest

from shop.api.routing import HEADERS

# What must never reach a client: pieces of a regex, and pydantic's own phrasing.
FRAGMENTS = ["^", "$", "\\x", "[^", "pattern", "String should", "Input should", "pydantic",
             "Extra inputs", "Field required"]

# (method, path, who, body or query, field, the sentence expected for that field)
CASES = [
    ("POST", "/api/auth/register", None,
     {"email": "no-at-sign", "password": "long enough pw", "name": "Ann"},
     "email", "must be an email address like name@example.com, up to 254 characters"),
    ("POST", "/api/auth/register", None,
     {"email": "a@b.c", "password": "short", "name": "Ann"},
     "password", "must be 10 to 200 characters"),
    ("POST", "/api/auth/register", None,
     {"email": "a@b.c", "password": "long enough pw", "name": "   "},
     "name", "must be 1 to 200 characters on one line, not all spaces, "
             "without control characters"),
    ("POST", "/api/auth/register", None,
     {"email": "a@b.c", "password": "long enough pw", "name": "Ann", "role": "admin"},
     "role", "is not a field of this request"),
    ("POST", "/api/auth/login", None, {"password": "x"}, "email", "is required"),
    ("POST", "/api/auth/password-reset/confirm", None,
     {"token": "bad token!", "password": "long enough pw"},
     "token", "must be the code from the reset mail: 10 to 200 letters, digits, hyphens "
              "or underscores"),
    ("POST", "/api/admin/products", "admin",
     {"sku": "-bad", "title": "T", "category": "Coats", "condition": "new",
      "price_cents": 100},
     "sku", "must be 1 to 64 letters, digits, dots, underscores or hyphens, starting with "
            "a letter or digit"),
    ("POST", "/api/admin/products", "admin",
     {"sku": "S-1", "title": "T", "category": "Coats & Jackets", "condition": "new",
      "price_cents": 100},
     "category", "must be a lowercase slug of letters, digits and hyphens, up to 40 "
                 "characters"),
    ("POST", "/api/admin/products", "admin",
     {"sku": "S-1", "title": "T", "category": "coats", "condition": "mint",
      "price_cents": 100},
     "condition", "must be one of 'new', 'like_new', 'good' or 'fair'"),
    ("POST", "/api/admin/products", "admin",
     {"sku": "S-1", "title": "T", "category": "coats", "condition": "new",
      "price_cents": 0},
     "price_cents", "must be a whole number of cents from 1 to 100000000"),
    ("POST", "/api/admin/products", "admin",
     {"sku": "S-1", "title": "T\x07", "category": "coats", "condition": "new",
      "price_cents": 1},
     "title", "must be 1 to 200 characters on one line, not all spaces, "
              "without control characters"),
    ("POST", "/api/cart/items", None, {"product_id": 1, "quantity": 2.5},
     "quantity", "must be a whole number from 1 to 100"),
    ("POST", "/api/cart/items", None, {"product_id": "one"},
     "product_id", "must be an id, a whole number of at least 1"),
    ("PUT", "/api/me/addresses/delivery", "customer",
     {"name": "A", "line1": "1 Main St", "city": "Cork", "country": "ie"},
     "country", "must be a two-letter country code in capitals, like IE"),
    ("POST", "/api/events", None, {"event_type": "search", "metadata": {"Bad Key": 1}},
     "metadata.Bad Key", "must be 1 to 40 lowercase letters, digits or underscores"),
    ("GET", "/api/products", None, {"q": "a" * 201},
     "q", "must be at most 200 characters"),
    ("GET", "/api/products", None, {"cursor": "not a cursor!"},
     "cursor", "must be the next_cursor of the page before, as it was given"),
    ("GET", "/api/products", None, {"limit": "0"}, "limit", "must be a whole number from 1 to 100"),
    ("GET", "/api/products", None, {"featured": "maybe"}, "featured", "must be true or false"),
]


def _headers(who, admin_headers, customer_headers):
    return {"admin": admin_headers, "customer": customer_headers}.get(who, {})


def _assert_sentences(body: dict) -> None:
    error = body["error"]
    text = json.dumps([error["message"], error["details"]], ensure_ascii=False)
    for fragment in FRAGMENTS:
        assert fragment not in text, (fragment, text)


@pytest.mark.parametrize(("method", "path", "who", "data", "field", "sentence"), CASES,
                         ids=[f"{c[1]}:{c[4]}" for c in CASES])
def test_each_field_says_its_rule_in_a_sentence(client, admin_headers, customer_headers,
                                                method, path, who, data, field, sentence):
    headers = _headers(who, admin_headers, customer_headers)
    if method == "GET":
        response = client.get(path, query_string=data, headers=headers)
    else:
        response = client.open(path, method=method, json=data, headers=headers)
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["error"]["code"] == "invalid"
    assert body["error"]["details"]["fields"][field] == sentence
    _assert_sentences(body)


@pytest.mark.parametrize(("name", "value", "sentence"), [
    ("X-Cart-Session", "short",
     "must be the cart session id the shop issued: 16 to 64 letters, digits, hyphens or "
     "underscores"),
])
def test_a_bad_header_is_told_in_a_sentence(client, customer_headers, name, value, sentence):
    # Signed in or not, a header that is sent is checked.
    for headers in ({}, customer_headers):
        response = client.get("/api/cart", headers={**headers, name: value})
        assert response.status_code == 400
        body = response.get_json()
        assert body["error"]["details"]["fields"] == {name: sentence}
        assert body["error"]["message"] == f"the {name} header {sentence}"
        _assert_sentences(body)
    assert HEADERS[name]["rule"] == sentence


def test_idempotency_key_rule_is_a_sentence(client, customer_headers) -> None:
    response = client.post("/api/checkout", json={},
                           headers={**customer_headers, "Idempotency-Key": "tab\there"})
    assert response.status_code == 400
    assert response.get_json()["error"]["details"]["fields"] == {
        "Idempotency-Key": "must be 1 to 255 printable ASCII characters"}
    _assert_sentences(response.get_json())


@pytest.mark.parametrize(("raw", "sentence"), [
    (b"{not json", "must be JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"product_id": NaN}', "must be JSON"),
])
def test_a_body_that_is_not_an_object_is_told_so(client, raw, sentence) -> None:
    response = client.post("/api/cart/items", data=raw,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["details"]["fields"] == {"body": sentence}


def test_a_whole_number_written_with_a_point_is_that_number(client) -> None:
    """JSON Schema calls 1.0 an integer, and the document says integer: it is accepted as 1
    (the product does not exist, so the answer is the 404 for that, not a 400)."""
    for raw in (b'{"product_id": 999999, "quantity": 1.0}',
                b'{"product_id": 999999, "quantity": 1e0}'):
        response = client.post("/api/cart/items", data=raw,
                               headers={"Content-Type": "application/json"})
        assert response.status_code == 404, response.get_json()


def test_an_event_about_an_unknown_product_is_a_404_naming_it(client) -> None:
    response = client.post("/api/events", json={"event_type": "product_view",
                                                "product_id": 999999})
    assert response.status_code == 404
    assert response.get_json()["error"] == {
        "code": "not_found", "message": "no such product",
        "details": {"fields": {"product_id": "names no product"}}}
