"""Headers on every answer: CORS for the origins in ``SHOP_CORS_ORIGINS``, and the security
headers (API.md, Conventions).

CORS is Flask-CORS, on ``/api/`` only and only for the listed origins, each matched
exactly: a request from any other origin (or none) gets no CORS header at all. Preflights
are Flask's automatic OPTIONS answers, so the routes (and the OpenAPI document) stay as
they are. Sign-in is a bearer token, never a cookie, so credentials are not allowed.

Every answer, errors and 404s included, carries ``X-Content-Type-Options: nosniff`` and
``Referrer-Policy: no-referrer`` (a JSON API and its owner's pages have nothing to tell
the sites they link to); outside development also ``Strict-Transport-Security`` (one year;
no ``includeSubDomains``, which would bind the owner's other sites to HTTPS too).
"""

from __future__ import annotations

from flask import Flask, Response
from flask_cors import CORS

from shop.config import Settings

ALLOWED_REQUEST_HEADERS = ["Authorization", "Idempotency-Key", "X-Cart-Session", "Content-Type"]
EXPOSED_HEADERS = ["X-Cart-Session", "Retry-After"]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
PREFLIGHT_MAX_AGE = 600  # seconds a browser may reuse a preflight's answer

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
HSTS = "max-age=31536000"


def register_headers(app: Flask, settings: Settings) -> None:
    """Add CORS (when origins are listed) and the security headers to every answer."""
    if settings.cors_origins:
        CORS(app, resources={r"/api/.*": {}}, origins=list(settings.cors_origins),
             allow_headers=ALLOWED_REQUEST_HEADERS, expose_headers=EXPOSED_HEADERS,
             methods=METHODS, max_age=PREFLIGHT_MAX_AGE, supports_credentials=False,
             # Without an Origin header Flask-CORS would otherwise list every origin.
             always_send=False, vary_header=True)
    headers = dict(SECURITY_HEADERS)
    if not settings.is_development:
        headers["Strict-Transport-Security"] = HSTS

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
