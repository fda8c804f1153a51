"""The admin audit log: who changed what, with the state before and after.

``record`` is called by the services, inside the transaction of the action it records, so
an action and its audit row commit together or not at all. Views never call it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shop import clock
from shop.models import AuditLog
from shop.services.pagination import DEFAULT_LIMIT, Page, decode_cursor, page_of


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
            limit: int = DEFAULT_LIMIT, cursor: str | None = None) -> Page[dict[str, Any]]:
    """The log, newest first, optionally for one kind of entity or one entity."""
    tag = f"audit:{entity_type}:{entity_id}"
    select = AuditLog.select()
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
