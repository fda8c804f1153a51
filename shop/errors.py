"""The error tree every layer raises; one function in the API layer turns it into HTTP.

Codes are stable snake_case strings that clients may branch on; messages are for people.
"""

from __future__ import annotations

import errno
import re
from typing import Any


class ShopError(Exception):
    """Base of every expected failure. ``status`` is the HTTP status the API answers."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, details: dict[str, Any] | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after


class Invalid(ShopError):
    code, status = "invalid", 400


class Unauthorized(ShopError):
    code, status = "unauthorized", 401


class Forbidden(ShopError):
    code, status = "forbidden", 403


class NotFound(ShopError):
    code, status = "not_found", 404


class MethodNotAllowed(ShopError):
    code, status = "method_not_allowed", 405


class Conflict(ShopError):
    code, status = "conflict", 409


class InsufficientStock(Conflict):
    code = "insufficient_stock"


class ReservationExpired(Conflict):
    code = "reservation_expired"


class InvalidOfferTransition(Conflict):
    code = "invalid_offer_transition"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class PayloadTooLarge(ShopError):
    code, status = "payload_too_large", 413


class RateLimited(ShopError):
    code, status = "rate_limited", 429


class Busy(ShopError):
    """The database stayed locked past the busy timeout: the client should retry soon."""

    code, status = "busy", 503


class ProviderUnavailable(ShopError):
    """The payment provider could not be reached, or did not say whether it acted: nothing
    is decided yet and a retry (same idempotency key) will settle it. Told like ``busy``."""

    code, status = "busy", 503

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("retry_after", 5)
        super().__init__(message, **kwargs)


class StorageError(ShopError):
    """The database file cannot be used: an I/O error, a damaged or unreadable file, no
    such folder. The shop answers 503 with Retry-After and recovers by itself once the
    file can be used again."""

    code, status = "storage_error", 503


class ServerGone(StorageError):
    """The PostgreSQL server cannot be reached just now (refused, shut down, the
    connection lost): 503 storage_error like a file that cannot be used, with the
    server's next step rather than the disk's."""


class StorageFull(StorageError):
    """The disk (or SQLite's page limit) is full: nothing can be written until space
    comes back; reads go on."""

    code = "storage_full"


class ReadOnly(StorageError):
    """The database, its WAL or its shared-memory file, or their folder, cannot be
    written (a read-only mount, wrong ownership); reads go on."""

    code = "read_only"


class Damaged(StorageError):
    """The database file is damaged (SQLite's integrity check fails, or a page cannot be
    read): it cannot be trusted until a backup replaces it. Same code as StorageError."""


# SQLite's primary result codes (sqlite3.h) for the storage faults above.
SQLITE_READONLY, SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL = 8, 10, 11, 13
SQLITE_CANTOPEN, SQLITE_NOTADB = 14, 26
_FAULTS: dict[int, tuple[type[StorageError], str]] = {
    SQLITE_FULL: (StorageFull, "the disk is full: the shop cannot save anything just now"),
    SQLITE_READONLY: (ReadOnly, "the shop's files are read-only just now"),
    SQLITE_IOERR: (StorageError, "the shop cannot read or write its database just now"),
    SQLITE_CORRUPT: (Damaged, "the shop's database is damaged"),
    SQLITE_NOTADB: (Damaged, "the shop's database file is not a database"),
    SQLITE_CANTOPEN: (StorageError, "the shop cannot open its database just now"),
}
_OS_FAULTS: dict[int, tuple[type[StorageError], str]] = {
    errno.ENOSPC: _FAULTS[SQLITE_FULL],
    errno.EDQUOT: _FAULTS[SQLITE_FULL],
    errno.EROFS: _FAULTS[SQLITE_READONLY],
    errno.EACCES: _FAULTS[SQLITE_READONLY],
    errno.EPERM: _FAULTS[SQLITE_READONLY],
    errno.EIO: _FAULTS[SQLITE_IOERR],
}
# Extended codes that say more than their primary one: a WAL index (-shm) that cannot
# grow means the disk is full (SQLite cannot tell ENOSPC apart there).
SQLITE_IOERR_SHMSIZE = SQLITE_IOERR | (19 << 8)
_EXTENDED_FAULTS = {SQLITE_IOERR_SHMSIZE: _FAULTS[SQLITE_FULL]}


# PostgreSQL: the server shut down or crashed, or the database cannot be reached now
# (with the connection exceptions, SQLSTATE class 08).
_PG_GONE = frozenset({"57P01", "57P02", "57P03"})


def unreachable(reason: str) -> ServerGone:
    """The database server cannot be reached now (``reason``: the SQLSTATE, or ``08001``
    when no connection could be made at all): 503 storage_error, the shop carries on."""
    return ServerGone("the shop cannot reach its database just now", retry_after=5,
                      details={"reason": reason})


def storage_fault(exc: BaseException) -> StorageError | None:
    """The storage fault behind a database or OS error, or None when it is none.

    Decided by SQLite's result code (``sqlite_errorcode``, whose low byte is the primary
    code: SQLITE_IOERR_WRITE is an SQLITE_IOERR) or the OS errno, never by the message.
    Peewee wraps the driver's exception as its first argument; both are looked at.
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        code = getattr(current, "sqlite_errorcode", None)
        if isinstance(code, int) and (code in _EXTENDED_FAULTS or (code & 0xFF) in _FAULTS):
            kind, message = _EXTENDED_FAULTS.get(code) or _FAULTS[code & 0xFF]
            return kind(message, retry_after=5,
                        details={"reason": getattr(current, "sqlite_errorname", "")})
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and (state.startswith("08") or state in _PG_GONE):
            return unreachable(state)
        if isinstance(current, OSError) and current.errno in _OS_FAULTS:
            kind, message = _OS_FAULTS[current.errno]
            return kind(message, retry_after=5,
                        details={"reason": errno.errorcode.get(current.errno, "")})
        todo.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        todo.extend((current.__cause__, current.__context__))
    return None


# PostgreSQL's SQLSTATEs for "try again": a serialization failure, a deadlock, a lock not
# granted within lock_timeout, a statement cancelled by statement_timeout, no connection
# slot left. Told like SQLite's "database is locked": 503 busy with Retry-After.
BUSY_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57014", "53300"})


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, the exceptions it wraps (a driver's, as Peewee's first argument) and its
    causes and contexts."""
    seen: dict[int, BaseException] = {}
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen[id(current)] = current
        todo.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        todo.extend((current.__cause__, current.__context__, getattr(current, "orig", None)))
    return list(seen.values())


def is_busy(exc: BaseException) -> bool:
    """A lock wait that ran out (SQLite's "database is locked"/"busy") or a PostgreSQL
    error in BUSY_SQLSTATES: the client should simply retry."""
    for current in _chain(exc):
        if getattr(current, "sqlstate", None) in BUSY_SQLSTATES:
            return True
        text = str(current).lower()
        if "database is locked" in text or "database is busy" in text:
            return True
    return False


class Internal(ShopError):
    code, status = "internal", 500


_NOT_COLUMNS = {"and", "or", "not", "in", "is", "null", "between", "like", "glob", "case",
                "when", "then", "else", "end", "length", "lower", "upper", "trim", "json_valid",
                "coalesce", "abs", "typeof"}


# The refusals the schema's own triggers and named CHECKs make, by their exact message.
# A code path that must tell one refusal from another asks ``constraint_of``; matching a
# substring would take "stock_quantity changes only through stock_moves" (the ledger
# guard) for "CHECK constraint failed: stock_quantity >= 0" (no stock left).
CONSTRAINTS = {
    "CHECK constraint failed: stock_quantity >= 0": "stock_not_negative",
    "stock_quantity changes only through stock_moves": "ledger_guard",
    "stock_moves is append-only": "append_only",
    "offer_events is append-only": "append_only",
}


_UNIQUE = re.compile(r"UNIQUE constraint failed: ([\w.]+(?:, [\w.]+)*)")


def constraint_of(message: str) -> str | None:
    """The constraint a database refusal names: a key of CONSTRAINTS' values, or
    ``unique:<table>.<column>[, ...]`` for a UNIQUE; None when it is none of these."""
    message = message.strip()
    if message in CONSTRAINTS:
        return CONSTRAINTS[message]
    unique = _UNIQUE.fullmatch(message)
    return f"unique:{unique.group(1)}" if unique else None


def refused(message: str) -> ShopError:
    """A write the database refused, as a 4xx that names the field.

    Validation at the edge catches bad input first; this is the backstop for what only the
    schema knows (UNIQUE, and CHECKs written for every writer). SQLite's message names the
    column of a UNIQUE or NOT NULL, and quotes a CHECK's expression, whose first column is
    the field. A duplicate is a 409; anything else a 400, never a 500.
    """
    unique = _UNIQUE.search(message)
    if unique:
        field = unique.group(1).split(", ")[-1].split(".")[-1]
        return Conflict(f"{field} is already taken", details={"fields": {field: "taken"}})
    required = re.search(r"NOT NULL constraint failed: \w+\.(\w+)", message)
    if required:
        field = required.group(1)
        return Invalid(f"{field} is required", details={"fields": {field: "required"}})
    check = re.search(r"CHECK constraint failed: (.*)", message)
    if check:
        names = [n for n in re.findall(r"\b([a-z_][a-z0-9_]*)\b(?!\s*\()", check.group(1))
                 if n not in _NOT_COLUMNS]
        field = names[0] if names else "body"
        return Invalid(f"{field} is not allowed", details={"fields": {field: "not allowed"}})
    if "FOREIGN KEY constraint failed" in message:
        return Invalid("the request refers to something that does not exist",
                       details={"fields": {"body": "unknown reference"}})
    return Invalid("the shop cannot store this", details={"fields": {"body": message[:200]}})
