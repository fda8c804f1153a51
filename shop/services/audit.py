"""The admin audit log: who changed what, with the state before and after.

``record`` is called by the services, inside the transaction of the action it records, so
an action and its audit row commit together or not at all. Views never call it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from shop import clock
from shop.errors import Invalid, NotFound
from shop.models import AuditLog, User
from shop.services.pagination import DEFAULT_LIMIT, Page, decode_cursor, page_of

# What the log is about (the API's AuditQuery lists the same).
ENTITY_TYPES = ("product", "order", "submission")
_ENTITY_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return clock.to_text(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def record(actor_id: int | None, action: str, entity_type: str, entity_id: object,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    """One audit row (inside the caller's write transaction). No actor, no row: seeds and
    migrations are not admin actions."""
    if actor_id is None:
        return
    AuditLog.create(actor=actor_id, action=action, entity_type=entity_type,
                    entity_id=str(entity_id), before_state=_plain(before),
                    after_state=_plain(after), created_at=clock.now())


def record_provider(action: str, entity_type: str, entity_id: object,
                    before: dict[str, Any] | None = None,
                    after: dict[str, Any] | None = None) -> None:
    """An audit row for what the shop did on a payment provider's word, with no person
    behind it (actor NULL): a payment refused for its amount, a late one refunded."""
    AuditLog.create(actor=None, action=action, entity_type=entity_type,
                    entity_id=str(entity_id), before_state=_plain(before),
                    after_state=_plain(after), created_at=clock.now())


def entries(entity_type: str | None = None, entity_id: str | None = None, *,
            actor_id: int | None = None, limit: int = DEFAULT_LIMIT,
            cursor: str | None = None) -> Page[dict[str, Any]]:
    """The log, newest first, optionally for one kind of entity or one entity, and for one
    actor. Each filter is a range of an index read in id order (migration 012)."""
    tag = f"audit:{entity_type}:{entity_id}"
    if actor_id is not None:
        tag += f":{actor_id}"
    select = AuditLog.select()
    if actor_id is not None:
        select = select.where(AuditLog.actor == actor_id)
    if entity_type is not None:
        select = select.where(AuditLog.entity_type == entity_type)
    if entity_id is not None:
        select = select.where(AuditLog.entity_id == entity_id)
    if cursor:
        (before,) = decode_cursor(cursor, tag, (int,))
        select = select.where(AuditLog.id < before)
    rows = list(select.order_by(AuditLog.id.desc()).limit(limit + 1))
    page = page_of(rows, limit, lambda a: [a.id], tag)
    return Page([{"id": a.id, "actor_id": a.actor_id, "action": a.action,
                  "entity_type": a.entity_type, "entity_id": a.entity_id,
                  "before": a.before_state, "after": a.after_state,
                  "created_at": a.created_at} for a in page.items], page.next_cursor)


def search(actor: str = "", entity_type: str = "", entity_id: str = "", *,
           limit: int = DEFAULT_LIMIT, cursor: str | None = None) -> Page[dict[str, Any]]:
    """The audit page's filters as typed: the actor by email or account number, the kind
    of entity and its id (an id needs its kind: the index is (entity_type, entity_id)).
    400 naming the field for what cannot be a filter, 404 for an email no account has.
    Each entry names its actor's email (primary-key lookups, one page's worth)."""
    actor, entity_type, entity_id = actor.strip(), entity_type.strip(), entity_id.strip()
    actor_id = None
    if actor.isdigit() and len(actor) <= 18:
        actor_id = int(actor)
    elif "@" in actor:
        user = User.get_or_none(User.email == actor.lower())
        if user is None:
            raise NotFound(f"no account has the email {actor}",
                           details={"fields": {"actor": "no account has this email"}})
        actor_id = user.id
    elif actor:
        raise Invalid("the actor must be an email address or an account number",
                      details={"fields": {"actor": "an email address or an account number"}})
    if entity_type and entity_type not in ENTITY_TYPES:
        raise Invalid(f"the entity must be one of {', '.join(ENTITY_TYPES)}",
                      details={"fields": {"entity_type": "one of " + ", ".join(ENTITY_TYPES)}})
    if entity_id and not _ENTITY_ID.fullmatch(entity_id):
        raise Invalid("the entity id must be 1 to 64 letters, digits or hyphens",
                      details={"fields": {"entity_id": "1 to 64 letters, digits or hyphens"}})
    if entity_id and not entity_type:
        raise Invalid("choose the kind of entity the id belongs to",
                      details={"fields": {"entity_type": "required with an id"}})
    page = entries(entity_type or None, entity_id or None, actor_id=actor_id, limit=limit,
                   cursor=cursor)
    ids = {e["actor_id"] for e in page.items if e["actor_id"] is not None}
    emails = dict(User.select(User.id, User.email).where(User.id.in_(ids)).tuples()) \
        if ids else {}
    return Page([{**e, "actor_email": emails.get(e["actor_id"]),
                  "changes": changes(e["before"], e["after"])} for e in page.items],
                page.next_cursor)


def changes(before: dict[str, Any] | None,
            after: dict[str, Any] | None) -> list[tuple[str, Any, Any]]:
    """What an entry changed, field by field: (field, before, after) for each field whose
    value differs (None where a side has no such field), in field order."""
    before, after = before or {}, after or {}
    return [(key, before.get(key), after.get(key)) for key in sorted({*before, *after})
            if before.get(key) != after.get(key)]
