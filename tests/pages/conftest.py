"""Fixtures for the pages: a Flask test client signed in through the sign-in form, which
sends forms with this session's CSRF token (or without it, when a test asks)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import PASSWORD, sign_up

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = CSRF_INPUT.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


class Pages:
    """A browser's view of the pages: one cookie jar, forms sent as a person would."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token = ""

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, **kwargs)

    def text(self, path: str) -> str:
        response = self.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return response.get_data(as_text=True)

    def sign_in(self, email: str, password: str = PASSWORD) -> TestResponse:
        token = csrf_of(self.client.get("/admin/login").get_data(as_text=True))
        response = self.client.post("/admin/login", data={
            "email": email, "password": password, "csrf_token": token})
        if response.status_code == 303:
            # The session (and so its CSRF token) is new after sign-in.
            self.token = csrf_of(self.client.get("/admin/login", follow_redirects=True)
                                 .get_data(as_text=True))
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: str | None = None,
             **kwargs: Any) -> TestResponse:
        """Send a form; ``csrf`` replaces this session's token ("" leaves it out)."""
        form = dict(data or {})
        token = self.token if csrf is None else csrf
        if token:
            form["csrf_token"] = token
        return self.client.post(path, data=form, **kwargs)


@pytest.fixture
def pages(client: FlaskClient) -> Pages:
    """Nobody signed in yet."""
    return Pages(client)


@pytest.fixture
def owner(client: FlaskClient) -> Pages:
    """The shop's owner, signed in to the dashboard."""
    sign_up(client, "owner@example.com", admin=True)
    signed_in = Pages(client)
    assert signed_in.sign_in("owner@example.com").status_code == 303
    return signed_in


@pytest.fixture
def shopper(app: Any) -> Pages:
    """A customer, signed in through the same form, on a client of their own."""
    client = app.test_client()
    sign_up(client, "shopper@example.com")
    signed_in = Pages(client)
    assert signed_in.sign_in("shopper@example.com").status_code == 303
    return signed_in
