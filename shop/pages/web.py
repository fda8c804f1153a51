"""What every page shares: the two blueprints, rendering, the CSRF check, HTML errors, and
the form round trip (call a service; on a refusal, show the form again with what was
typed and the shop's own words next to it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, flash, make_response, redirect, render_template, request
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from werkzeug.exceptions import HTTPException
from wtforms import ValidationError

from shop.errors import Forbidden, Invalid, ShopError

PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES = str(PACKAGE / "templates")
STATIC = str(PACKAGE / "static")

admin = Blueprint("admin", __name__, url_prefix="/admin", template_folder=TEMPLATES,
                  static_folder=STATIC, static_url_path="/static")
seller = Blueprint("seller", __name__, template_folder=TEMPLATES)

PAGE_PREFIXES = ("/admin", "/sell/")


def wants_html(path: str) -> bool:
    """Whether an answer at ``path`` is a page (HTML) rather than the API's JSON."""
    return path == "/admin" or path.startswith(PAGE_PREFIXES)


def page(template: str, status: int = 200, **context: Any) -> Response:
    """Render ``template`` with ``context`` as an HTML answer."""
    response = make_response(render_template(template, **context), status)
    # Pages show one customer's data to one signed-in person: never kept by a cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def check_csrf() -> None:
    """Refuse a form without this session's CSRF token (400, before anything changes)."""
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError as exc:
        raise CSRFError(str(exc)) from None


def field_errors(exc: ShopError) -> dict[str, str]:
    """The per-field complaints a service put in its error's details."""
    fields = (exc.details or {}).get("fields")
    return {str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {}


def submit(action: Callable[[], Any], *, done: str, then: str,
           again: Callable[[ShopError], Response]) -> Response:
    """One form's round trip: run ``action`` (one service call, one unit of work). On
    success, say ``done`` and redirect to ``then`` (so a reload never posts twice); on a
    refusal, ``again(error)`` shows the form once more, with the error's own status."""
    try:
        action()
    except ShopError as exc:
        return again(exc)
    flash(done, "done")
    return redirect(then, 303)


def form_values(names: Mapping[str, Any] | None = None) -> dict[str, str]:
    """What was typed, to show again in a form that failed."""
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    return {**dict(names or {}), **values}


def int_field(name: str, *, label: str, required: bool = True) -> int | None:
    """A whole number typed in a form (a 400 naming the field when it is not one)."""
    raw = (request.form.get(name) or "").strip()
    if not raw:
        if required:
            raise Invalid(f"{label} is required", details={"fields": {name: "required"}})
        return None
    try:
        return int(raw)
    except ValueError:
        raise Invalid(f"{label} must be a whole number",
                      details={"fields": {name: "a whole number"}}) from None


def cents_field(name: str, *, label: str, required: bool = True) -> int | None:
    """An amount typed as euros (``12``, ``12.5`` or ``12,50``), in cents."""
    raw = (request.form.get(name) or "").strip().replace(",", ".")
    if not raw:
        if required:
            raise Invalid(f"{label} is required", details={"fields": {name: "required"}})
        return None
    whole, _, part = raw.partition(".")
    if not whole.isdigit() or (part and (not part.isdigit() or len(part) > 2)):
        raise Invalid(f"{label} must be an amount such as 12.50",
                      details={"fields": {name: "an amount such as 12.50"}})
    return int(whole) * 100 + int(part.ljust(2, "0") or 0)


def error_page(status: int, title: str, message: str) -> Response:
    return page("admin/error.html", status, title=title, message=message)


def _shop_error(exc: ShopError) -> Response:
    if isinstance(exc, Forbidden):
        return error_page(403, "Not for this account", exc.message)
    response = error_page(exc.status, "That did not work", exc.message)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _csrf_error(exc: CSRFError) -> Response:
    return error_page(400, "The form expired",
                      "This form was not sent by this session's page (its security token is "
                      "missing or wrong), so nothing was changed. Go back, reload the page "
                      "and send it again.")


def http_error(exc: HTTPException) -> Response:
    """Flask's own refusals (404, 405, 413) as a page."""
    return error_page(exc.code or 500, exc.name, exc.description or exc.name)


# The dashboard's navigation: (endpoint, label), in the order each page module adds itself.
NAV: list[tuple[str, str]] = []


# Where each page stands in the navigation: the owner's day, from what needs hands now
# to what is read now and then. A page not listed goes last.
NAV_ORDER = ("admin.today", "admin.orders", "admin.products", "admin.submissions",
             "admin.analytics", "admin.audit", "admin.operations")


def nav(endpoint: str, label: str) -> None:
    """Put a page in the dashboard's navigation. Its section is the endpoint's first word
    (``admin.orders`` covers ``admin.orders_detail``), so it stays marked on sub-pages."""
    NAV.append((endpoint, label))
    NAV.sort(key=lambda entry: (NAV_ORDER.index(entry[0]) if entry[0] in NAV_ORDER
                                else len(NAV_ORDER)))


def _section(endpoint: str | None) -> str:
    return (endpoint or "").partition(".")[2].split("_")[0]


def _nav_links() -> list[tuple[str, str, bool]]:
    here = _section(request.endpoint)
    return [(endpoint, label, _section(endpoint) == here) for endpoint, label in NAV]


# Globals, not a context processor: imported macros (admin/_forms.html) see them too.
TEMPLATE_GLOBALS: dict[str, Any] = {"csrf_token": generate_csrf, "nav_links": _nav_links}


for _bp in (admin, seller):
    _bp.register_error_handler(CSRFError, _csrf_error)
    _bp.register_error_handler(ShopError, _shop_error)
