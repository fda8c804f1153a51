"""The Flask application: blueprints that parse input, call one service, render JSON."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from shop.config import Settings
from shop.services import system


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app. ``test_config`` overrides settings by name (e.g. ``{"DATABASE": p}``)."""
    from shop.api import accounts, analytics, cart, catalogue, health, media, selling
    from shop.api.errors import register_error_handlers
    from shop.api.headers import register_headers
    from shop.api.logs import configure_logging
    from shop.api.routing import IdConverter
    from shop.pages import register_pages

    settings = Settings.from_env().with_overrides(test_config)
    system.configure(settings)

    app = Flask(__name__)
    if settings.proxy_hops:
        # Trust exactly this many proxies' X-Forwarded-For entries; with 0 the header is
        # ignored, so a client cannot choose the address the throttles count.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops)  # type: ignore[method-assign]
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        JSON_SORT_KEYS=False,
        SHOP_SETTINGS=settings,
    )
    if test_config:
        app.config.update({k: v for k, v in test_config.items() if k.isupper()})

    # Connections open on first use (so /healthz can report a database that will not open)
    # and close at the end of every request.
    @app.teardown_request
    def _close(exc: BaseException | None) -> None:
        system.close_connection()

    configure_logging(app, settings)
    app.url_map.converters["id"] = IdConverter
    register_error_handlers(app)
    register_headers(app, settings)
    app.register_blueprint(health.bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(catalogue.bp)
    app.register_blueprint(cart.bp)
    app.register_blueprint(selling.bp)
    app.register_blueprint(analytics.bp)
    app.register_blueprint(media.bp)
    register_pages(app, settings)
    return app
