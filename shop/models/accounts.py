"""Users, their sign-in sessions, password resets, addresses and failed-login records."""

from __future__ import annotations

import peewee
from peewee import Check

from shop.models.base import BaseModel, UtcDateTimeField, flag, one_of
from shop.models.enums import ADDRESS_KINDS, RATE_LIMIT_SCOPES, ROLES


class User(BaseModel):
    # Stored lower-cased so UNIQUE is case-insensitive without a collation D1 may not share.
    email = peewee.TextField(unique=True, constraints=[
        Check("email = lower(email) AND length(email) BETWEEN 3 AND 254 AND email LIKE '%_@_%'"),
    ])
    password_hash = peewee.TextField()
    name = peewee.TextField(constraints=[Check("length(name) BETWEEN 1 AND 200")])
    role = peewee.TextField(default="customer", constraints=[one_of("role", ROLES)])
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()

    class Meta:
        table_name = "users"


class Session(BaseModel):
    """A bearer token; only its SHA-256 is stored, so a leaked database leaks no sessions."""

    user = peewee.ForeignKeyField(User, on_delete="CASCADE", backref="sessions")
    token_hash = peewee.TextField(unique=True, constraints=[Check("length(token_hash) = 64")])
    created_at = UtcDateTimeField()
    expires_at = UtcDateTimeField()
    revoked_at = UtcDateTimeField(null=True)

    class Meta:
        table_name = "sessions"


class PasswordReset(BaseModel):
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", backref="password_resets")
    token_hash = peewee.TextField(unique=True, constraints=[Check("length(token_hash) = 64")])
    created_at = UtcDateTimeField()
    expires_at = UtcDateTimeField()
    used_at = UtcDateTimeField(null=True)

    class Meta:
        table_name = "password_resets"


class Address(BaseModel):
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", backref="addresses")
    kind = peewee.TextField(constraints=[one_of("kind", ADDRESS_KINDS)])
    name = peewee.TextField(constraints=[Check("length(name) BETWEEN 1 AND 200")])
    line1 = peewee.TextField(constraints=[Check("length(line1) BETWEEN 1 AND 200")])
    line2 = peewee.TextField(null=True)
    city = peewee.TextField(constraints=[Check("length(city) BETWEEN 1 AND 100")])
    county = peewee.TextField(null=True)
    eircode = peewee.TextField(null=True)
    country = peewee.TextField(default="IE", constraints=[
        Check("length(country) = 2 AND country = upper(country)"),
    ])
    is_default = peewee.BooleanField(default=True, constraints=[flag("is_default")])
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()

    class Meta:
        table_name = "addresses"


# One default address per user and kind.
Address.add_index(peewee.ModelIndex(
    Address, (Address.user, Address.kind), unique=True,
    where=peewee.SQL("is_default = 1"), name="addresses_one_default",
))


class LoginFailure(BaseModel):
    """One row per failed (or pending) sign-in, so throttling holds across gunicorn
    workers. Keyed by account and by client (DESIGN.md §11)."""

    email = peewee.TextField()
    created_at = UtcDateTimeField()
    # The client's address (migration 004 added it, hence last).
    client = peewee.TextField(default="", constraints=[peewee.SQL("DEFAULT ''")])

    class Meta:
        table_name = "login_failures"
        indexes = (
            (("email", "created_at"), False),
            (("client", "created_at"), False),
        )


class RateLimitHit(BaseModel):
    """One row per counted request of a throttled kind, per client."""

    scope = peewee.TextField(constraints=[one_of("scope", RATE_LIMIT_SCOPES)])
    key = peewee.TextField(constraints=[Check("length(key) BETWEEN 1 AND 100")])
    created_at = UtcDateTimeField()

    class Meta:
        table_name = "rate_limit_hits"
        indexes = ((("scope", "key", "created_at"), False),)
