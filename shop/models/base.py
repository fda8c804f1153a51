"""Shared field types and helpers for the models.

Rules that must hold whoever writes (the app, a cron script, a hand-run SQL shell, D1)
live in the schema as CHECKs, UNIQUEs, foreign keys and triggers, not in Python.

The CHECK texts are SQLite's, and most are valid PostgreSQL as they stand. The few that are
not (``GLOB``; ``AUTOINCREMENT``) are written with the helpers below, which render SQLite's
text unchanged (the shipped migrations repeat it) and PostgreSQL's equivalent when Peewee
builds the DDL for a PostgreSQL database (``ctx.state.dialect``, see ``shop.db``).
``json_valid`` and the ``NOCASE`` collation exist on PostgreSQL as objects of the schema
(``shop.models.sql_pg.PRELUDE``), so their text is shared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import peewee

from shop import clock
from shop.db import database


def _postgresql(ctx: peewee.Context) -> bool:
    return ctx.state.dialect == "postgresql"


class Glob:
    """``column [NOT] GLOB 'pattern'`` on SQLite; the anchored regular expression on
    PostgreSQL (``*`` and ``?`` become ``.*`` and ``.``; ``[...]`` classes are kept)."""

    def __init__(self, column: str, pattern: str, *, negate: bool = False) -> None:
        self.column, self.pattern, self.negate = column, pattern, negate

    def sqlite(self) -> str:
        return f"{self.column} {'NOT GLOB' if self.negate else 'GLOB'} '{self.pattern}'"

    def postgresql(self) -> str:
        parts = re.split(r"(\[[^]]*\])", self.pattern)
        regex = "".join(p if p.startswith("[") else re.sub(r"[.^$+(){}|\\]", r"\\\g<0>", p)
                        .replace("*", ".*").replace("?", ".") for p in parts)
        return f"{self.column} {'!~' if self.negate else '~'} '^{regex}$'"


class DialectCheck(peewee.Node):
    """``CHECK (...)`` made of text and :class:`Glob` parts, rendered per dialect."""

    def __init__(self, *parts: str | Glob) -> None:
        self.parts = parts

    def text(self, postgresql: bool = False) -> str:
        return "".join(p if isinstance(p, str) else p.postgresql() if postgresql
                       else p.sqlite() for p in self.parts)

    def __sql__(self, ctx: peewee.Context) -> peewee.Context:
        return ctx.literal(f"CHECK ({self.text(_postgresql(ctx))})")


class AutoIncrementField(peewee.AutoField):
    """An id never reused after a delete: ``AUTOINCREMENT`` on SQLite; on PostgreSQL a
    SERIAL's sequence never goes back anyway."""

    def ddl(self, ctx: peewee.Context) -> peewee.NodeList:
        node_list = super().ddl(ctx)
        return node_list if _postgresql(ctx) else peewee.NodeList(
            (node_list, peewee.SQL("AUTOINCREMENT")))


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
