"""Settings, read from the environment once, with safe defaults for development.

Everything that differs between a laptop, CI and the shop's container is here, so no
other module reads ``os.environ``. A `.env` file is not required: the shell, the
container or cron sets the variables.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEV_SECRET_KEY = "dev-only-secret-key-change-me"
DEVELOPMENT_ENVIRONMENTS = frozenset({"development", "test"})


class ConfigError(ValueError):
    """A setting is missing or malformed; raised at start-up, never mid-request."""


def _int(env: dict[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


SMTP_SCHEMES = ("smtp://", "smtps://", "smtp+starttls://")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _choice(env: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = (env.get(name) or choices[0]).lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _log_level(env: dict[str, str]) -> str:
    level = (env.get("SHOP_LOG_LEVEL") or "INFO").upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"SHOP_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return level


# An origin as a browser sends it: scheme, host and an optional port; nothing else (no path,
# no trailing slash, no wildcard), so each one is matched exactly.
_ORIGIN = re.compile(r"https?://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?")


def _origins(env: dict[str, str]) -> tuple[str, ...]:
    origins = tuple(o.strip() for o in (env.get("SHOP_CORS_ORIGINS") or "").split(",")
                    if o.strip())
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ConfigError("SHOP_CORS_ORIGINS must list exact origins such as "
                              f"https://shop.example.com, comma-separated; got {origin!r}")
    return origins


# An http(s) address without a trailing slash (SHOP_PUBLIC_URL, SHOP_STRIPE_API_BASE).
_HTTP_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?")


def _public_url(env: dict[str, str]) -> str:
    """Where shoppers reach the shop (links in mail, Stripe's return pages)."""
    return _url(env, "SHOP_PUBLIC_URL", "https://shop.example.com") or "http://localhost:8000"


def _shop_name(env: dict[str, str]) -> str:
    name = (env.get("SHOP_NAME") or "edge-shop").strip()
    if len(name) > 100 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ConfigError("SHOP_NAME must be one line of at most 100 characters")
    return name


_S3_URL = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]*)?")


def _media_url(env: dict[str, str]) -> str:
    url = env.get("SHOP_MEDIA_URL", "")
    if url and not _S3_URL.fullmatch(url):
        raise ConfigError("SHOP_MEDIA_URL must be empty (the folder SHOP_MEDIA_DIR) or "
                          f"s3://bucket/prefix; got {url!r}")
    return url


def _replica_url(env: dict[str, str]) -> str:
    """Litestream's replica (SHOP_REPLICA_URL) replicates a SQLite file: with the shop on
    PostgreSQL (SHOP_DATABASE_URL) it would replicate nothing, so say so at start-up."""
    url = env.get("SHOP_REPLICA_URL", "")
    if url and env.get("SHOP_DATABASE_URL"):
        raise ConfigError("SHOP_REPLICA_URL is Litestream's, which replicates a SQLite file "
                          "only; with SHOP_DATABASE_URL (PostgreSQL) unset it and use the "
                          "server's own WAL archiving or replicas (docs/scaling.md)")
    return url


_CURRENCY = re.compile(r"[a-z]{3}")
PAYMENT_PROVIDERS = ("manual", "stripe")


def _url(env: dict[str, str], name: str, example: str) -> str:
    url = (env.get(name) or "").rstrip("/")
    if url and not _HTTP_URL.fullmatch(url):
        raise ConfigError(f"{name} must be an http(s) address such as {example}; got {url!r}")
    return url


def _database_url(env: dict[str, str]) -> str:
    url = env.get("SHOP_DATABASE_URL", "").strip()
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("SHOP_DATABASE_URL must be a PostgreSQL URL "
                          "(postgresql://user:password@host/dbname); leave it unset for SQLite")
    return url


def _currency(env: dict[str, str]) -> str:
    currency = (env.get("SHOP_CURRENCY") or "eur").lower()
    if not _CURRENCY.fullmatch(currency):
        raise ConfigError(f"SHOP_CURRENCY must be a three-letter ISO code such as eur; "
                          f"got {currency!r}")
    return currency


def _payments(env: dict[str, str], environment: str) -> dict[str, Any]:
    """The payment settings; outside development, ``stripe`` needs its keys and address,
    and the library is never pointed anywhere but Stripe."""
    provider = _choice(env, "SHOP_PAYMENTS", PAYMENT_PROVIDERS)
    values = {
        "payments": provider,
        "stripe_secret_key": env.get("SHOP_STRIPE_SECRET_KEY", ""),
        "stripe_webhook_secret": env.get("SHOP_STRIPE_WEBHOOK_SECRET", ""),
        "currency": _currency(env),
        "unpaid_order_minutes": _int(env, "SHOP_UNPAID_ORDER_MINUTES", 60, minimum=1),
        "stripe_api_base": _url(env, "SHOP_STRIPE_API_BASE", "http://127.0.0.1:12111"),
    }
    if environment in DEVELOPMENT_ENVIRONMENTS:
        return values
    if values["stripe_api_base"]:
        raise ConfigError("SHOP_STRIPE_API_BASE is for tests only: leave it unset when "
                          "SHOP_ENV is not development")
    if provider == "stripe":
        missing = [name for name, key in (("SHOP_STRIPE_SECRET_KEY", "stripe_secret_key"),
                                          ("SHOP_STRIPE_WEBHOOK_SECRET", "stripe_webhook_secret"))
                   if not values[key]]
        if not env.get("SHOP_PUBLIC_URL"):  # Stripe's return pages: no localhost default
            missing.append("SHOP_PUBLIC_URL")
        if missing:
            raise ConfigError(f"SHOP_PAYMENTS=stripe needs {', '.join(missing)} when SHOP_ENV "
                              "is not development")
    return values


@dataclass(frozen=True)
class Settings:
    database: Path = Path("var/shop.db")
    # postgresql://user:password@host/db: the shop on a PostgreSQL server instead of the
    # SQLite file (docs/scaling.md); empty: SQLite.
    database_url: str = field(default="", repr=False)  # may carry a password
    secret_key: str = field(default=DEV_SECRET_KEY, repr=False)
    environment: str = "development"
    hold_minutes: int = 15
    session_days: int = 30
    reset_token_minutes: int = 60
    shipping_cents: int = 495
    offer_days: int = 14
    log_level: str = "INFO"
    log_format: str = "text"
    max_request_bytes: int = 1024 * 1024
    busy_timeout_ms: int = 5000
    login_max_failures: int = 5
    login_client_max_failures: int = 20
    login_account_max_failures: int = 100
    login_window_seconds: int = 900
    reset_client_max_requests: int = 5
    reset_window_seconds: int = 900
    reset_account_max_mails: int = 3
    proxy_hops: int = 0
    events_per_minute: int = 120
    replica_url: str = field(default="", repr=False)  # may carry credentials
    smtp_url: str = field(default="", repr=False)  # may carry a password
    mail_from: str = "shop@localhost"
    # Mail says who sent it (the shop's name) and links back to the shop's public address.
    shop_name: str = "edge-shop"
    # The shop's public address: links in mail, Stripe's return pages.
    public_url: str = "http://localhost:8000"
    cors_origins: tuple[str, ...] = ()
    # Uploaded photos (shop/services/media.py): a folder, or an S3-compatible bucket.
    media_dir: Path = Path("var/media")
    media_url: str = ""  # s3://bucket/prefix; empty: the local folder media_dir
    media_endpoint: str = ""  # the S3 API's address (R2, MinIO...); empty: AWS
    media_public_url: str = ""  # where browsers fetch photos; empty: /media/ or the bucket
    media_workers: int = 1  # photo-processing processes per server process; 0: in-request
    # Payments (issue 16): manual (the owner marks orders paid) or Stripe Checkout.
    payments: str = "manual"
    stripe_secret_key: str = field(default="", repr=False)
    stripe_webhook_secret: str = field(default="", repr=False)
    currency: str = "eur"
    unpaid_order_minutes: int = 60  # with stripe, an order unpaid this long is cancelled
    stripe_api_base: str = ""  # tests only: where the stripe library sends its requests

    @property
    def database_target(self) -> str | Path:
        """What the shop's database is: the PostgreSQL URL if one is set, else the file."""
        return self.database_url or self.database

    @property
    def database_name(self) -> str:
        """The database for messages: the file, or the server's URL without a password."""
        if not self.database_url:
            return str(self.database)
        return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", self.database_url)

    @property
    def is_development(self) -> bool:
        return self.environment in DEVELOPMENT_ENVIRONMENTS

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Build settings from the environment (``os.environ`` unless given)."""
        env = dict(os.environ if env is None else env)
        environment = env.get("SHOP_ENV", "development")
        secret = env.get("SHOP_SECRET_KEY", "")
        if not secret:
            if environment not in DEVELOPMENT_ENVIRONMENTS:
                raise ConfigError("SHOP_SECRET_KEY is required when SHOP_ENV is not development")
            secret = DEV_SECRET_KEY
        smtp_url = env.get("SHOP_SMTP_URL", "")
        if smtp_url and not smtp_url.startswith(SMTP_SCHEMES):
            raise ConfigError("SHOP_SMTP_URL must start with " + ", ".join(SMTP_SCHEMES))
        if not smtp_url and environment not in DEVELOPMENT_ENVIRONMENTS:
            # The development mailer logs messages, reset codes included: never in production.
            raise ConfigError("SHOP_SMTP_URL is required when SHOP_ENV is not development "
                              "(e.g. smtps://user:password@smtp.example.com:465)")
        return cls(
            database=Path(env.get("SHOP_DATABASE") or "var/shop.db"),
            database_url=_database_url(env),
            secret_key=secret,
            environment=environment,
            hold_minutes=_int(env, "SHOP_HOLD_MINUTES", 15, minimum=1),
            session_days=_int(env, "SHOP_SESSION_DAYS", 30, minimum=1),
            reset_token_minutes=_int(env, "SHOP_RESET_TOKEN_MINUTES", 60, minimum=1),
            shipping_cents=_int(env, "SHOP_SHIPPING_CENTS", 495),
            offer_days=_int(env, "SHOP_OFFER_DAYS", 14, minimum=1),
            log_level=_log_level(env),
            log_format=_choice(env, "SHOP_LOG_FORMAT", ("text", "json")),
            max_request_bytes=_int(env, "SHOP_MAX_REQUEST_BYTES", 1024 * 1024, minimum=1024),
            busy_timeout_ms=_int(env, "SHOP_BUSY_TIMEOUT_MS", 5000, minimum=5000),
            login_max_failures=_int(env, "SHOP_LOGIN_MAX_FAILURES", 5, minimum=1),
            login_client_max_failures=_int(env, "SHOP_LOGIN_CLIENT_MAX_FAILURES", 20,
                                           minimum=1),
            login_account_max_failures=_int(env, "SHOP_LOGIN_ACCOUNT_MAX_FAILURES", 100,
                                            minimum=1),
            login_window_seconds=_int(env, "SHOP_LOGIN_WINDOW_SECONDS", 900, minimum=1),
            reset_client_max_requests=_int(env, "SHOP_RESET_CLIENT_MAX_REQUESTS", 5, minimum=1),
            reset_window_seconds=_int(env, "SHOP_RESET_WINDOW_SECONDS", 900, minimum=1),
            reset_account_max_mails=_int(env, "SHOP_RESET_ACCOUNT_MAX_MAILS", 3, minimum=1),
            proxy_hops=_int(env, "SHOP_PROXY_HOPS", 0),
            events_per_minute=_int(env, "SHOP_EVENTS_PER_MINUTE", 120, minimum=1),
            replica_url=_replica_url(env),
            smtp_url=smtp_url,
            mail_from=env.get("SHOP_MAIL_FROM") or "shop@localhost",
            shop_name=_shop_name(env),
            public_url=_public_url(env),
            cors_origins=_origins(env),
            media_dir=Path(env.get("SHOP_MEDIA_DIR") or "var/media"),
            media_url=_media_url(env),
            media_endpoint=env.get("SHOP_MEDIA_ENDPOINT", ""),
            media_public_url=env.get("SHOP_MEDIA_PUBLIC_URL", ""),
            media_workers=_int(env, "SHOP_MEDIA_WORKERS", 1),
            **_payments(env, environment),
        )

    def with_overrides(self, overrides: dict[str, Any] | None) -> Settings:
        """Return a copy with the named settings replaced (used by tests and the app factory)."""
        if not overrides:
            return self
        known = {f.name for f in fields(self)}
        values = {k.lower(): v for k, v in overrides.items() if k.lower() in known}
        if "database" in values:
            values["database"] = Path(values["database"])
        if "media_dir" in values:
            values["media_dir"] = Path(values["media_dir"])
        return replace(self, **values)


_current: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    global _current
    if _current is None:
        _current = Settings.from_env()
    return _current


def set_settings(settings: Settings) -> Settings:
    """Install settings for this process (the app factory and the CLI call this)."""
    global _current
    _current = settings
    return settings
