"""Turn a row the database refused into a 4xx that names the field.

Validation at the edge should catch bad input first; this is the backstop for what only
the schema knows (UNIQUE, CHECKs written for every writer). SQLite's message names the
column for UNIQUE and NOT NULL, and quotes the expression for a CHECK, from which the
first column of the table it mentions is the field.
"""

from __future__ import annotations

import re

import peewee

from shop.errors import Conflict, Invalid, ShopError


def refusal(exc: peewee.IntegrityError, model: type[peewee.Model]) -> ShopError:
    """A 409 for a duplicate, a 400 naming the field for anything else the schema refused."""
    text = str(exc)
    columns = [f.column_name for f in model._meta.sorted_fields]
    unique = re.search(r"UNIQUE constraint failed: ([\w.]+(?:, [\w.]+)*)", text)
    if unique:
        names = [c.split(".")[-1] for c in unique.group(1).split(", ")]
        field = _field_name(model, names[-1])
        return Conflict(f"{field} is already taken", details={"fields": {field: "taken"}})
    named = re.search(r"NOT NULL constraint failed: [\w]+\.(\w+)", text)
    if named:
        field = _field_name(model, named.group(1))
        return Invalid(f"{field} is required", details={"fields": {field: "required"}})
    check = re.search(r"CHECK constraint failed: (.*)", text)
    if check:
        mentioned = [c for c in columns if re.search(rf"\b{re.escape(c)}\b", check.group(1))]
        field = _field_name(model, mentioned[0]) if mentioned else "body"
        return Invalid(f"{field} is not allowed", details={"fields": {field: "not allowed"}})
    return Invalid("the shop cannot store this", details={"fields": {"body": "refused"}})


def _field_name(model: type[peewee.Model], column: str) -> str:
    for field in model._meta.sorted_fields:
        if field.column_name == column:
            return field.name if not isinstance(field, peewee.ForeignKeyField) else column
    return column
