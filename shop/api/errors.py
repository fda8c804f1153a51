"""The one place an error body is built, and the handlers that route every failure to it.

Every 4xx/5xx answer is ``{"error": {"code", "message", "details"}}``: the shop's own
errors, Flask's 404/405/413, validation failures and unexpected exceptions alike. An
unexpected exception is logged with its traceback and answered as ``internal`` without one.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, has_request_context, jsonify, request
from werkzeug.exceptions import HTTPException

from shop.errors import (
    Busy,
    Conflict,
    Forbidden,
    Internal,
    Invalid,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ShopError,
    Unauthorized,
)
from shop.pages import error_page, wants_html
from shop.services import system

log = logging.getLogger(__name__)

# Flask's own HTTP errors get the code of the shop error with the same status.
_HTTP_CODES = {cls.status: cls.code for cls in (
    Invalid, Unauthorized, Forbidden, NotFound, MethodNotAllowed, Conflict, PayloadTooLarge,
    RateLimited, Busy, Internal)}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The shared error body. The app's answers (below) and the HTTP server's own refusals of
    requests it cannot read (shop/api/worker.py) both come through here."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   retry_after: int | None = None) -> Response:
    """Build the shared error response. Every error answer of the app comes through here;
    under the pages' paths it is an HTML page with the same status and message."""
    if has_request_context() and wants_html(request.path):
        response = error_page(status, code.replace("_", " ").capitalize(), message)
    else:
        response = jsonify(error_body(code, message, details))
        response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _shop_error(exc: ShopError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.retry_after)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = _HTTP_CODES.get(status, Internal.code if status >= 500 else Invalid.code)
    response = error_response(status, code, exc.description or exc.name)
    allowed = getattr(exc, "valid_methods", None)
    if status == 405 and allowed:
        response.headers["Allow"] = ", ".join(allowed)
    return response


def _unexpected(exc: Exception) -> Response:
    fault = system.after_error(exc)
    if fault is not None:  # told to the operator once per episode, not per request
        return _shop_error(fault)
    log.exception("unhandled error", exc_info=exc)
    return error_response(Internal.status, Internal.code, "something went wrong on our side")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ShopError, _shop_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
