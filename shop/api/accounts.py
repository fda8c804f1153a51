"""Accounts endpoints (API.md "Accounts")."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from shop.api import schemas
from shop.api.auth import bearer_token, client_address, current_user
from shop.api.routing import header, route
from shop.errors import NotFound
from shop.services import accounts

bp = Blueprint("accounts", __name__, url_prefix="/api")


def user_json(user: Any) -> dict[str, Any]:
    return {
        "id": user.id, "email": user.email, "name": user.name, "role": user.role,
        "created_at": user.created_at,
        "addresses": [schemas.AddressOut.model_validate(a) for a in accounts.addresses_of(user)],
    }


def _signed_in(result: accounts.SignedIn) -> dict[str, Any]:
    return {"user": user_json(result.user), "token": result.token,
            "expires_at": result.expires_at}


@route(bp, "/auth/register", "POST", summary="Create an account and sign in", status=201,
       body=schemas.RegisterIn, response=schemas.SessionOut, errors=[400, 409])
def register(body: schemas.RegisterIn) -> Any:
    return _signed_in(accounts.register(body.email, body.password, body.name))


@route(bp, "/auth/login", "POST", summary="Sign in (and bring a guest cart along)",
       body=schemas.LoginIn, response=schemas.SessionOut, errors=[400, 401, 429],
       headers=["X-Cart-Session"])
def login(body: schemas.LoginIn) -> Any:
    signed_in = accounts.login(body.email, body.password, client_address(),
                               cart_session=header("X-Cart-Session"))
    answer = _signed_in(signed_in)
    if signed_in.cart is not None:
        answer["cart"] = signed_in.cart
    return answer


@route(bp, "/auth/logout", "POST", summary="Revoke the current token", status=204,
       auth="user", errors=[401])
def logout() -> None:
    current_user()
    accounts.logout(bearer_token() or "")


@route(bp, "/me", "GET", summary="The signed-in user", response=schemas.UserWrapper,
       auth="user", errors=[401])
def me() -> Any:
    return {"user": user_json(current_user())}


@route(bp, "/me/addresses/<kind>", "PUT", summary="Set the billing or delivery address",
       body=schemas.AddressIn, response=schemas.AddressWrapper, auth="user",
       errors=[400, 401, 404])
def put_address(kind: str, body: schemas.AddressIn) -> Any:
    user = current_user()
    if kind not in ("billing", "delivery"):
        raise NotFound("address kind must be billing or delivery")
    address = accounts.set_address(user, kind, body.model_dump())
    return {"address": address}


@route(bp, "/auth/password-reset", "POST", summary="Mail a password reset code", status=202,
       body=schemas.PasswordResetIn, response=schemas.Accepted, errors=[400, 429])
def password_reset(body: schemas.PasswordResetIn) -> Any:
    accounts.request_password_reset(body.email, client_address())
    return {"status": "accepted"}


@route(bp, "/auth/password-reset/confirm", "POST", summary="Choose a new password",
       status=204, body=schemas.PasswordResetConfirmIn, errors=[400])
def password_reset_confirm(body: schemas.PasswordResetConfirmIn) -> None:
    accounts.confirm_password_reset(body.token, body.password)
