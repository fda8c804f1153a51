"""Server-rendered pages over the same services as the API: the owner's dashboard under
``/admin`` and the seller's page ``/sell/<batch_id>`` (API.md, "Pages").

A page view parses a form, calls one service and renders a template: no logic in
templates, no transaction here (the services own them), and every change is audited by
the service that makes it. The layer sits below ``shop.api`` (``create_app`` registers it)
and above ``shop.services``; it never imports the API, so the two stay separate: pages
sign in with a session cookie, the API with bearer tokens, and neither accepts the other.
"""

from __future__ import annotations

from flask import Flask

from shop.config import Settings
from shop.pages.web import error_page, wants_html

__all__ = ["error_page", "register_pages", "wants_html"]


def register_pages(app: Flask, settings: Settings) -> None:
    """Add the page blueprints and the session cookie's settings to ``app``."""
    from shop.pages import (  # noqa: F401  (their routes join the blueprints)
        analytics,
        audit,
        auth,
        operations,
        orders,
        products,
        sell,
        submissions,
        today,
    )
    from shop.pages.web import TEMPLATE_GLOBALS, admin, seller

    app.config.update(
        SESSION_COOKIE_NAME="shop_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not settings.is_development,
        PERMANENT_SESSION_LIFETIME=settings.session_days * 24 * 3600,
        # A form's CSRF token lives as long as the signed-in session it belongs to.
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.jinja_env.globals.update(TEMPLATE_GLOBALS)
    app.register_blueprint(admin)
    app.register_blueprint(seller)
