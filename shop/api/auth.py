"""Who is calling: the bearer token turned into a user, and the role checks."""

from __future__ import annotations

from typing import Any

from flask import g, request

from shop.errors import Forbidden, Unauthorized
from shop.services import accounts


def client_address() -> str:
    """Who is calling, for throttles: the peer address, or the X-Forwarded-For entry that
    ProxyFix picked when SHOP_PROXY_HOPS trusted proxies stand in front (see create_app)."""
    return request.remote_addr or "unknown"


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def current_user(*, required: bool = True) -> Any:
    """The signed-in user (cached per request); 401 if required and absent or invalid."""
    if "user" not in g:
        token = bearer_token()
        if token is None:
            if required:
                raise Unauthorized("sign in first")
            return None
        g.user = accounts.authenticate(token)
    return g.user


def require_admin() -> Any:
    """The signed-in admin: 401 without a valid token, 403 for a non-admin."""
    user = current_user()
    if user.role != "admin":
        raise Forbidden("admins only")
    return user
