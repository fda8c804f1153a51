"""The Audit log page: who changed what, newest first, filtered by actor and entity."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from flask import Response, request, url_for

from shop.errors import ShopError
from shop.pages.web import admin, field_errors, nav, page
from shop.services import audit

nav("admin.audit", "Audit")
FILTERS = ("actor", "entity_type", "entity_id")
ENTITY_OPTIONS = [(kind, kind.capitalize()) for kind in audit.ENTITY_TYPES]
VALUE_LENGTH = 60  # characters of one value shown in a row's details


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= VALUE_LENGTH else text[:VALUE_LENGTH - 1] + "…"


def _details(changes: list[tuple[str, Any, Any]]) -> list[str]:
    """An entry's changes, one short line per field."""
    return [f"{key}: {_value(after)}" if before is None
            else f"{key}: {_value(before)} → {_value(after)}" for key, before, after in changes]


@admin.route("/audit", endpoint="audit")
def audit_page() -> Response:
    values = {name: request.args.get(name, "") for name in FILTERS}
    try:
        found = audit.search(**values, cursor=request.args.get("cursor") or None)
    except ShopError as exc:
        return page("admin/audit.html", exc.status, values=values, error=exc.message,
                    errors=field_errors(exc), entries=None, next_url=None,
                    entity_types=ENTITY_OPTIONS)
    entries = [{**e, "details": _details(e["changes"])} for e in found.items]
    kept = {k: v for k, v in values.items() if v}
    next_url = (url_for("admin.audit") + "?" + urlencode({**kept, "cursor": found.next_cursor})
                if found.next_cursor else None)
    return page("admin/audit.html", values=values, errors={}, entries=entries,
                next_url=next_url, entity_types=ENTITY_OPTIONS)
