"""One idempotency mechanism for every keyed request (checkout, offer responses).

The answer of a keyed request is stored in the same write transaction as its effect, so
they exist together or not at all. A repeat (same user, scope and key) is looked up first
inside the transaction: the same request gets the stored answer back, a different request
under the same key gets 409 ``idempotency_conflict``. Concurrent duplicates queue on the
write lock (BEGIN IMMEDIATE); the second one finds the first's record: never a second
effect. On PostgreSQL, with no one write lock, they queue on a transaction-scoped advisory
lock of the key (``db.serialize_on``) taken before the look-up.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from shop import clock
from shop.db import serialize_on
from shop.errors import IdempotencyConflict
from shop.models import IdempotencyRecord


@dataclass(frozen=True)
class Keyed:
    """An idempotency key with the request it was sent with (``request_hash``)."""

    user_id: int
    scope: str
    key: str
    request_hash: str


def request_hash(request: dict[str, Any]) -> str:
    """SHA-256 of the request's canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def keyed(user_id: int, scope: str, key: str | None,
          request: dict[str, Any]) -> Keyed | None:
    return None if key is None else Keyed(user_id, scope, key, request_hash(request))


def replay(keyed: Keyed | None) -> tuple[int, dict[str, Any]] | None:
    """The stored answer of an earlier identical request, or None. Call inside the write
    transaction that would perform the effect."""
    if keyed is None:
        return None
    # PostgreSQL's READ COMMITTED would let a concurrent duplicate look before the first
    # commits, then find the cart it was keyed for already empty (a 400, not the replay).
    serialize_on(f"idempotency:{keyed.user_id}:{keyed.scope}:{keyed.key}")
    record = IdempotencyRecord.get_or_none(
        (IdempotencyRecord.user == keyed.user_id) & (IdempotencyRecord.scope == keyed.scope)
        & (IdempotencyRecord.key == keyed.key))
    if record is None:
        return None
    if record.request_hash != keyed.request_hash:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for a different request",
            details={"fields": {"Idempotency-Key": "used for another request"}})
    return record.status_code, record.response


def remember(keyed: Keyed | None, status: int, response: dict[str, Any]) -> None:
    """Store the answer, inside the transaction that performed the effect."""
    if keyed is not None:
        IdempotencyRecord.create(user=keyed.user_id, scope=keyed.scope, key=keyed.key,
                                 request_hash=keyed.request_hash, status_code=status,
                                 response=response, created_at=clock.now())
