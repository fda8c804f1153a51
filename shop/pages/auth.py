"""Signing in to the pages: a session cookie that names a server-side session.

Sign-in goes through ``accounts.login``, so the API's throttles apply, and sign-out
revokes the session on the server, not only in the browser. The cookie is Flask's signed
session (HttpOnly, SameSite=Lax, Secure outside development) and holds the session
token's digest, not the token: the API reads bearer tokens only, so neither the cookie
nor what is inside it is ever accepted by ``/api``. Any account may sign in (a
seller then sees their own ``/sell`` pages); the dashboard answers 403 to anyone but an
admin.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Response, flash, g, redirect, request, session, url_for

from shop.errors import ShopError, Unauthorized
from shop.pages.web import admin, check_csrf, page
from shop.services import accounts
from shop.services.passwords import token_hash

SESSION = "sid"  # the server-side session, by its token's digest
OPEN_ENDPOINTS = frozenset({"admin.login", "admin.static"})


def client_address() -> str:
    """Who is signing in, for the throttles (ProxyFix has set it when proxies are trusted)."""
    return request.remote_addr or "unknown"


def signed_in_user() -> Any | None:
    """The account behind this browser's session cookie, or None (cached per request)."""
    if "page_user" not in g:
        digest = session.get(SESSION)
        user = None
        if isinstance(digest, str):
            try:
                user = accounts.session_user(digest)
            except Unauthorized:  # revoked or expired: forget it
                session.pop(SESSION, None)
        g.page_user = user
    return g.page_user


def _local(target: str | None) -> str:
    """Where to go after sign-in: only a dashboard path or a seller's page of this site,
    never elsewhere."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith(("/admin", "/sell/")) \
                and not target.startswith("//"):
            return target
    return url_for("admin.today")


@admin.before_request
def _guard() -> Response | None:
    """Every dashboard request: a guest goes to sign-in, anyone but an admin gets 403,
    and a form without this session's CSRF token is refused before anything changes."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    user = signed_in_user()
    if user is None:
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")), 303)
    if user.role != "admin" and request.endpoint != "admin.logout":
        return page("admin/error.html", 403, title="Not for this account",
                    message="The dashboard is for the shop's admins. Sign out and sign in "
                            "with an admin account.", signed_in=user)
    if request.method == "POST":
        check_csrf()
    if user.role == "admin":
        g.admin = user
    return None


@admin.route("/login", methods=["GET", "POST"])
def login() -> Response:
    if request.method == "GET":
        if signed_in_user() is not None:
            return redirect(_local(request.args.get("next")), 303)
        return page("admin/login.html", next=request.args.get("next", ""))
    check_csrf()
    email = request.form.get("email", "")
    try:
        signed = accounts.login(email, request.form.get("password", ""), client_address())
    except ShopError as exc:
        response = page("admin/login.html", exc.status, error=exc.message, email=email,
                        next=request.form.get("next", ""))
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    # A fresh cookie on sign-in: nothing from before (a planted session) carries over.
    session.clear()
    session.permanent = True
    session[SESSION] = token_hash(signed.token)
    return redirect(_local(request.form.get("next")), 303)


@admin.route("/logout", methods=["POST"])
def logout() -> Response:
    digest = session.get(SESSION)
    if isinstance(digest, str):
        accounts.end_session(digest)
    session.clear()
    flash("You are signed out.", "done")
    return redirect(url_for("admin.login"), 303)
