"""Shared field types and helpers for the models.

Rules that must hold whoever writes (the app, a cron script, a hand-run SQL shell, D1)
live in the schema as CHECKs, UNIQUEs, foreign keys and triggers, not in Python.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import peewee

from shop import clock
from shop.db import database


def one_of(column: str, values: Iterable[str], *, nullable: bool = False) -> peewee.SQL:
    """A CHECK that keeps a text column inside an enumeration (or NULL, if ``nullable``)."""
    quoted = ", ".join(f"'{v}'" for v in values)
    allowed = f"{column} IN ({quoted})"
    return peewee.Check(f"{column} IS NULL OR {allowed}" if nullable else allowed)


def flag(column: str) -> peewee.SQL:
    """A CHECK for a 0/1 boolean column."""
    return peewee.Check(f"{column} IN (0, 1)")


def json_text(column: str, *, nullable: bool = False) -> peewee.SQL:
    """A CHECK that a text column holds valid JSON."""
    if nullable:
        return peewee.Check(f"{column} IS NULL OR json_valid({column})")
    return peewee.Check(f"json_valid({column})")


class UtcDateTimeField(peewee.TextField):
    """Aware UTC datetimes stored as fixed-width ISO-8601 text (text order = time order)."""

    def db_value(self, value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return clock.to_text(value)

    def python_value(self, value: Any) -> datetime | None:
        return None if value is None else clock.from_text(value)


class JSONField(peewee.TextField):
    """JSON stored as text, with stable key order so equal values compare equal in SQL."""

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    def python_value(self, value: Any) -> Any:
        return None if value is None else json.loads(value)


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False
