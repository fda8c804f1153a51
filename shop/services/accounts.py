"""Accounts: registration, sign-in with throttling, sessions, password reset, addresses.

Passwords are hashed before any write transaction opens. Session and reset tokens are
returned to the caller once and stored only as SHA-256 hashes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import peewee

from shop import clock
from shop.config import get_settings
from shop.db import database, serialize_on, write_transaction
from shop.errors import Conflict, Invalid, NotFound, RateLimited, Unauthorized
from shop.models import Address, LoginFailure, PasswordReset, RateLimitHit, Session, User
from shop.services import holds, mail, orders
from shop.services.passwords import (
    DUMMY_HASH,
    MIN_PASSWORD_LENGTH,
    hash_password,
    new_token,
    token_hash,
    verify_password,
)

GENERIC_LOGIN_FAILURE = "email or password is wrong"


@dataclass(frozen=True)
class SignedIn:
    """What register and login hand back: the raw token exists only here."""

    user: User
    token: str
    expires_at: datetime
    # What a guest cart brought along on sign-in (``holds.merge_guest_cart``), if sent.
    cart: dict[str, Any] | None = None


# What the shop accepts as an email address (the API's schema states the same pattern).
# White space spelled out: JSON Schema's regex dialect and Python's disagree on what \s is.
WHITE_SPACE = r" \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
EMAIL_PATTERN = rf"^[^@{WHITE_SPACE}\x00-\x1f\x7f]+@[^@{WHITE_SPACE}\x00-\x1f\x7f]+$"
EMAIL_MAX_LENGTH = 254


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _check_email(email: str) -> None:
    if len(email) > EMAIL_MAX_LENGTH or not re.fullmatch(EMAIL_PATTERN, email):
        raise Invalid(f"{email!r} is not an email address",
                      details={"fields": {"email": "not an email address"}})


def _check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"password must be at least {MIN_PASSWORD_LENGTH} characters",
                      details={"fields": {"password": "too short"}})


def _open_session(user: User, now: datetime) -> SignedIn:
    token = new_token()
    expires_at = now + timedelta(days=get_settings().session_days)
    Session.create(user=user, token_hash=token_hash(token), created_at=now,
                   expires_at=expires_at)
    return SignedIn(user=user, token=token, expires_at=expires_at)


def add_user(email: str, password_hash: str, name: str, role: str, now: datetime) -> User:
    """Insert an account (inside a write transaction); a row the schema refuses is a 400."""
    try:
        return User.create(email=normalize_email(email), password_hash=password_hash,
                           name=name.strip(), role=role, created_at=now, updated_at=now)
    except peewee.IntegrityError as exc:
        raise Invalid("the email or name is not valid",
                      details={"fields": {"email": "check", "name": "check"}}) from exc


def register(email: str, password: str, name: str) -> SignedIn:
    """Create a customer account and sign it in. 409 if the email is taken (any case)."""
    email = normalize_email(email)
    _check_password_rules(password)
    password_hash = hash_password(password)
    now = clock.now()
    with write_transaction():
        # PostgreSQL's READ COMMITTED would let two sign-ups of one email both find it
        # free, and the second would meet the UNIQUE index (a 400, not the 409 below).
        serialize_on(f"account-email:{email}")
        if User.select().where(User.email == email).exists():
            raise Conflict("an account with this email already exists")
        user = add_user(email, password_hash, name, "customer", now)
        orders.claim_guest_orders(user.id, email)
        return _open_session(user, now)


def _throttled(select: peewee.ModelSelect, column: peewee.Field, limit: int,
               window: timedelta, now: datetime) -> int | None:
    """Seconds until ``select`` (rows of the last ``window``) holds fewer than ``limit``
    rows, or None when it already does. Reads at most ``limit`` rows of an index."""
    nth = (select.select(column).where(column > now - window).order_by(column.desc())
           .offset(limit - 1).limit(1).scalar())
    if nth is None:
        return None
    free_at = clock.from_text(nth) + window if isinstance(nth, str) else nth + window
    return max(1, int((free_at - now).total_seconds()) + 1)


def _claim_attempt(email: str, client: str, now: datetime) -> None:
    """Count this sign-in attempt as a failure up front, or refuse it when over a limit.

    Three limits (DESIGN.md §11): per (account, client); per client across accounts, so
    one client cannot spray passwords over many accounts; and a much higher per-account
    ceiling across clients. Failures from other clients therefore never lock the owner
    out below that ceiling. Checking and recording in one write transaction means
    parallel guesses cannot slip past while their (slow) password checks run; a
    successful sign-in clears its own (account, client) record afterwards.
    """
    settings = get_settings()
    window = timedelta(seconds=settings.login_window_seconds)
    rows = LoginFailure.select()
    limits = (
        (rows.where((LoginFailure.email == email) & (LoginFailure.client == client)),
         settings.login_max_failures),
        (rows.where(LoginFailure.client == client), settings.login_client_max_failures),
        (rows.where(LoginFailure.email == email), settings.login_account_max_failures),
    )
    with write_transaction():
        serialize_on(f"login-email:{email}", f"login-client:{client}")
        for select, limit in limits:
            wait = _throttled(select, LoginFailure.created_at, limit, window, now)
            if wait is not None:
                raise RateLimited("too many failed sign-ins; try again later",
                                  retry_after=wait)
        LoginFailure.create(email=email, client=client, created_at=now)


def login(email: str, password: str, client: str = "", *,
          cart_session: str | None = None) -> SignedIn:
    """Sign in. Unknown email and wrong password fail alike; repeated failures → 429.
    With ``cart_session``, the guest's cart moves to the account in the same transaction
    as the new session: both happen, or (busy, say) neither does."""
    email = normalize_email(email)
    _claim_attempt(email, client, clock.now())
    user = User.get_or_none(User.email == email)
    # Hash even for an unknown email, so timing does not reveal which accounts exist.
    ok = verify_password(password, user.password_hash if user else DUMMY_HASH)
    if not ok or user is None:
        raise Unauthorized(GENERIC_LOGIN_FAILURE)
    with write_transaction():
        LoginFailure.delete().where((LoginFailure.email == email)
                                    & (LoginFailure.client == client)).execute()
        signed_in = _open_session(user, clock.now())
        if cart_session is not None:
            signed_in = replace(signed_in,
                                cart=holds.merge_guest_cart(cart_session, user.id))
        return signed_in


# Every signed-in request runs this: one constant statement on the token's unique index
# (revoked and expired sessions refused in it), the row turned into a User by hand. The
# query as a peewee join cost ~0.5 ms to build and read; this costs ~30 µs (issue 19). It
# reads the session on every request, so a sign-out takes effect on the next one.
_USER_FIELDS = User._meta.sorted_fields
_AUTHENTICATE = ("SELECT " + ", ".join(f"u.{f.column_name}" for f in _USER_FIELDS)
                 + " FROM sessions s JOIN users u ON u.id = s.user_id"
                 " WHERE s.token_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ?")


def authenticate(token: str) -> User:
    """The user behind a bearer token; 401 if it is unknown, revoked or expired."""
    return session_user(token_hash(token))


def session_user(digest: str) -> User:
    """The user behind a session, named by its token's digest; 401 if it is unknown,
    revoked or expired. The pages' cookie carries the digest, never the token, so a
    cookie can never be replayed as the API's bearer token."""
    row = database.execute_sql(_AUTHENTICATE, (digest, clock.to_text(clock.now()))).fetchone()
    if row is None:
        raise Unauthorized("sign in again")
    user = User(__no_default__=1, **{f.name: f.python_value(value)
                                     for f, value in zip(_USER_FIELDS, row, strict=True)})
    user._dirty.clear()  # as read from the database: nothing to save
    return user


def logout(token: str) -> None:
    """Revoke the session of ``token`` (idempotent)."""
    end_session(token_hash(token))


def end_session(digest: str) -> None:
    """Revoke the session named by its token's digest (idempotent)."""
    with write_transaction():
        (Session.update(revoked_at=clock.now())
         .where((Session.token_hash == digest) & Session.revoked_at.is_null())
         .execute())


def request_password_reset(email: str, client: str = "") -> None:
    """Mail a single-use reset code if the account exists; the same answer, and the same
    work, either way (no leak of which accounts exist, by content or by timing).

    429 when one client asks too often. Repeats for one account send at most a few mails
    an hour, silently (a flood must not fill someone's inbox). The mail goes out after
    commit, from the outbox thread: the answer never waits for it.
    """
    settings = get_settings()
    email = normalize_email(email)
    token = new_token()
    now = clock.now()
    message = None
    with write_transaction():
        serialize_on(f"password-reset:{client[:100]}", f"reset-email:{email}")
        wait = _throttled(
            RateLimitHit.select().where((RateLimitHit.scope == "password_reset")
                                        & (RateLimitHit.key == client[:100] or "-")),
            RateLimitHit.created_at, settings.reset_client_max_requests,
            timedelta(seconds=settings.reset_window_seconds), now)
        if wait is not None:
            raise RateLimited("too many password reset requests; try again later",
                              retry_after=wait)
        RateLimitHit.create(scope="password_reset", key=client[:100] or "-", created_at=now)
        user = User.get_or_none(User.email == email)
        recent = 0 if user is None else (PasswordReset.select().where(
            (PasswordReset.user == user.id)
            & (PasswordReset.created_at > now - timedelta(hours=1))).count())
        if user is not None and recent < settings.reset_account_max_mails:
            expires_at = now + timedelta(minutes=settings.reset_token_minutes)
            PasswordReset.create(user=user, token_hash=token_hash(token), created_at=now,
                                 expires_at=expires_at)
            message = mail.Message(
                to=email, subject="Reset your password",
                body=f"Use this code to choose a new password: {token}\n"
                     f"It works once, until {clock.to_text(expires_at)}.")
    if message is not None:
        mail.send_later(message)


def _usable_reset(digest: str, now: datetime) -> PasswordReset | None:
    reset = PasswordReset.get_or_none(PasswordReset.token_hash == digest)
    if reset is None or reset.used_at is not None or reset.expires_at <= now:
        return None
    return reset


def confirm_password_reset(token: str, new_password: str) -> None:
    """Set a new password with a reset code; the code is spent and every session revoked.

    The code is looked up before the new password is hashed, so a flood of made-up codes
    costs an index lookup each, not a scrypt.
    """
    _check_password_rules(new_password)
    digest = token_hash(token)
    invalid = Invalid("the reset code is invalid or has expired",
                      details={"fields": {"token": "invalid or expired"}})
    if _usable_reset(digest, clock.now()) is None:
        raise invalid
    password_hash = hash_password(new_password)
    now = clock.now()
    with write_transaction():
        reset = _usable_reset(digest, now)  # again, under the lock: it may be spent by now
        if reset is None:
            raise invalid
        # This code and every other outstanding code of the user are spent.
        PasswordReset.update(used_at=now).where(
            (PasswordReset.user == reset.user_id) & PasswordReset.used_at.is_null()).execute()
        _replace_password(reset.user, password_hash, now)


def _replace_password(user: User, password_hash: str, now: datetime) -> None:
    """A new password ends every session and clears the failed sign-ins (in a transaction)."""
    User.update(password_hash=password_hash, updated_at=now).where(User.id == user.id).execute()
    Session.update(revoked_at=now).where(
        (Session.user == user.id) & Session.revoked_at.is_null()).execute()
    LoginFailure.delete().where(LoginFailure.email == user.email).execute()


def set_password(email: str, password: str) -> User:
    """Give an existing account a new password (the operator's way back in); 404 if none."""
    email = normalize_email(email)
    _check_password_rules(password)
    password_hash = hash_password(password)
    now = clock.now()
    with write_transaction():
        serialize_on(f"account-email:{email}")  # as register() does
        user = User.get_or_none(User.email == email)
        if user is None:
            raise NotFound(f"no account with the email {email}")
        _replace_password(user, password_hash, now)
        return user


def prune_throttles(now: datetime | None = None) -> int:
    """Delete throttle records no window can count any more (for the retention job);
    returns how many rows went."""
    settings = get_settings()
    now = now or clock.now()
    with write_transaction():
        failures = LoginFailure.delete().where(
            LoginFailure.created_at <= now - timedelta(seconds=settings.login_window_seconds)
        ).execute()
        hits = RateLimitHit.delete().where(
            RateLimitHit.created_at <= now - timedelta(seconds=settings.reset_window_seconds)
        ).execute()
    return failures + hits


def addresses_of(user: User) -> list[Address]:
    return list(Address.select().where(Address.user == user.id).order_by(Address.kind))


def set_address(user: User, kind: str, fields: dict[str, Any]) -> Address:
    """Replace the user's default address of ``kind`` (billing or delivery)."""
    now = clock.now()
    with write_transaction():
        existing = Address.get_or_none((Address.user == user.id) & (Address.kind == kind)
                                       & (Address.is_default == True))  # noqa: E712
        if existing is None:
            return Address.create(user=user.id, kind=kind, is_default=True, created_at=now,
                                  updated_at=now, **fields)
        values = {"line2": None, "county": None, "eircode": None, **fields, "updated_at": now}
        Address.update(**values).where(Address.id == existing.id).execute()
        return Address.get_by_id(existing.id)


def create_admin(email: str, password: str | None, name: str = "Admin") -> tuple[User, bool]:
    """Create an admin, or promote an existing account. Returns (user, created)."""
    email = normalize_email(email)
    _check_email(email)
    password_hash = None
    if password is not None:
        _check_password_rules(password)
        password_hash = hash_password(password)
    now = clock.now()
    with write_transaction():
        serialize_on(f"account-email:{email}")  # as register() does
        user = User.get_or_none(User.email == email)
        if user is not None:
            User.update(role="admin", updated_at=now).where(User.id == user.id).execute()
            if password_hash:
                _replace_password(user, password_hash, now)
            return User.get_by_id(user.id), False
        if password_hash is None:
            raise Invalid("a new admin needs a password")
        return add_user(email, password_hash, name, "admin", now), True
