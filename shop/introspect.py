"""Read a SQLite schema into a plain, comparable structure.

Used to prove that two databases have the same schema (migrated vs. built from the models,
container vs. D1) by comparing what SQLite itself reports, not SQL text by eye: columns,
foreign keys with their actions, CHECK clauses, indexes with their WHERE, triggers, views
and virtual tables. Bookkeeping tables (migration history, D1's own, sqlite_*) are left out.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

IGNORED_TABLES = {"migratehistory", "d1_migrations", "_cf_METADATA", "_cf_KV"}
_SPACE = re.compile(r"\s+")


_STRING = re.compile(r"('(?:[^']|'')*')")


def _norm(sql: str | None) -> str:
    """Collapse whitespace and drop the quotes around plain identifiers, outside of string
    literals (whose content is data and must compare exactly)."""
    if sql is None:
        return ""
    parts = _STRING.split(sql.strip().rstrip(";").strip())
    for i in range(0, len(parts), 2):  # even parts are outside string literals
        text = _SPACE.sub(" ", parts[i])
        text = re.sub(r'"([A-Za-z_][A-Za-z0-9_]*)"', r"\1", text)
        text = re.sub(r"\(\s+", "(", text)
        text = re.sub(r"\s+,", ",", text)  # ADD COLUMN writes "...NOT NULL\n, new_column"
        parts[i] = re.sub(r"\s+\)", ")", text)
    return "".join(parts).strip()


def _ignored(name: str) -> bool:
    return (name in IGNORED_TABLES or name.startswith("sqlite_") or name.startswith("_cf_")
            or name.startswith("_fk_guard"))


def check_clauses(create_sql: str) -> list[str]:
    """Every CHECK (...) expression in a CREATE TABLE statement, normalised, sorted."""
    found = []
    for match in re.finditer(r"\bCHECK\s*\(", create_sql, re.IGNORECASE):
        depth, start = 1, match.end()
        i = start
        in_string = False
        while i < len(create_sql) and depth:
            ch = create_sql[i]
            if ch == "'":
                in_string = not in_string
            elif not in_string and ch == "(":
                depth += 1
            elif not in_string and ch == ")":
                depth -= 1
            i += 1
        found.append(_norm(create_sql[start:i - 1]))
    return sorted(found)


def _rows(conn: sqlite3.Connection, sql: str, *params: Any) -> list[tuple]:
    return [tuple(r) for r in conn.execute(sql, params).fetchall()]


def _shadow_tables(conn: sqlite3.Connection, virtual: list[str]) -> set[str]:
    suffixes = ("_data", "_idx", "_content", "_docsize", "_config")
    return {v + s for v in virtual for s in suffixes}


def describe(conn: sqlite3.Connection) -> dict[str, Any]:
    """The schema of ``conn`` as nested plain data, equal for equal schemas."""
    master = _rows(conn, "SELECT type, name, tbl_name, sql FROM sqlite_master")
    virtual = [n for t, n, _, s in master if t == "table" and s and
               s.upper().startswith("CREATE VIRTUAL TABLE")]
    shadows = _shadow_tables(conn, virtual)
    tables: dict[str, Any] = {}
    for kind, name, _tbl, sql in master:
        if kind != "table" or _ignored(name) or name in shadows:
            continue
        if name in virtual:
            tables[name] = {"virtual": _norm(sql)}
            continue
        columns = [
            # cid, name, type, notnull, default, pk, hidden
            (r[1], r[2].upper(), r[3], r[4], r[5], r[6])
            for r in _rows(conn, f'PRAGMA table_xinfo("{name}")')
        ]
        fks = sorted(
            # table, from, to, on_update, on_delete, match
            (r[2], r[3], r[4], r[5], r[6], r[7])
            for r in _rows(conn, f'PRAGMA foreign_key_list("{name}")')
        )
        tables[name] = {
            "columns": columns,
            "foreign_keys": fks,
            "checks": check_clauses(sql or ""),
            "autoincrement": bool(re.search(r"\bAUTOINCREMENT\b", sql or "", re.I)),
            # The whole definition too: collations, DEFERRABLE, ON CONFLICT, generated
            # columns and anything else the pragmas above do not report.
            "sql": _norm(sql),
        }
    indexes: dict[str, Any] = {}
    for kind, name, tbl, sql in master:
        if kind != "index" or _ignored(tbl) or tbl in shadows:
            continue
        info = _rows(conn, f'PRAGMA index_xinfo("{name}")')
        listed = {r[1]: r for r in _rows(conn, f'PRAGMA index_list("{tbl}")')}
        row = listed.get(name)
        where = ""
        if sql and re.search(r"\bWHERE\b", sql, re.I):
            where = _norm(re.split(r"\bWHERE\b", sql, maxsplit=1, flags=re.I)[1])
        indexes[name] = {
            "table": tbl,
            "unique": bool(row[2]) if row else None,
            "origin": row[3] if row else None,
            "partial": bool(row[4]) if row else None,
            # seqno, column name, descending, collation, key
            "columns": [(r[0], r[2], r[3], r[4], r[5]) for r in info],
            "where": where,
            "sql": _norm(sql),  # expression indexes; NULL for automatic ones
        }
    triggers = {n: {"table": t, "sql": _norm(s)} for k, n, t, s in master if k == "trigger"}
    views = {n: _norm(s) for k, n, _, s in master if k == "view"}
    return {"tables": tables, "indexes": indexes, "triggers": triggers, "views": views}


def describe_file(path: str) -> dict[str, Any]:
    """:func:`describe` for a database file, opened read-only."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return describe(conn)
    finally:
        conn.close()


def differences(left: dict[str, Any], right: dict[str, Any]) -> list[str]:
    """Human-readable differences between two :func:`describe` results (empty if equal)."""
    problems: list[str] = []
    for section in ("tables", "indexes", "triggers", "views"):
        a, b = left[section], right[section]
        for name in sorted(set(a) | set(b)):
            if name not in a:
                problems.append(f"{section[:-1]} {name}: only on the right")
            elif name not in b:
                problems.append(f"{section[:-1]} {name}: only on the left")
            elif a[name] != b[name]:
                problems.append(f"{section[:-1]} {name}: {a[name]!r} != {b[name]!r}")
    return problems


# -- PostgreSQL --------------------------------------------------------------------------
# The same facts read from pg_catalog, for a peewee database on PostgreSQL (public schema).
# Texts differ by dialect (CHECK clauses are re-printed by the server), so the comparable
# form is the structure: columns, NOT NULL, foreign keys with their actions, how many CHECKs,
# indexes by their columns, uniqueness and WHERE, and triggers by name.

_PG_FK_ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL",
                  "d": "SET DEFAULT"}


def describe_postgresql(db: Any) -> dict[str, Any]:
    """The schema of a PostgreSQL database (``db.execute_sql``) as nested plain data."""
    def rows(sql: str) -> list[tuple]:
        return [tuple(r) for r in db.execute_sql(sql).fetchall()]

    tables: dict[str, Any] = {}
    for (name,) in rows("SELECT relname FROM pg_class WHERE relkind = 'r' AND "
                        "relnamespace = 'public'::regnamespace ORDER BY relname"):
        if _ignored(name):
            continue
        tables[name] = {
            "columns": [(c, t, bool(nn), bool(g)) for c, t, nn, g in rows(
                "SELECT attname, format_type(atttypid, atttypmod), attnotnull, "
                f"attgenerated <> '' FROM pg_attribute WHERE attrelid = '{name}'::regclass "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum")],
            "foreign_keys": sorted(rows(
                "SELECT confrelid::regclass::text, a.attname, b.attname, "
                "confupdtype::text, confdeltype::text FROM pg_constraint c "
                "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
                "JOIN pg_attribute b ON b.attrelid = c.confrelid AND b.attnum = c.confkey[1] "
                f"WHERE c.contype = 'f' AND c.conrelid = '{name}'::regclass")),
            "checks": sorted(r[0] for r in rows(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'c' "
                f"AND conrelid = '{name}'::regclass")),
        }
        tables[name]["foreign_keys"] = [
            (t, f, to, _PG_FK_ACTIONS[u], _PG_FK_ACTIONS[d])
            for t, f, to, u, d in tables[name]["foreign_keys"]]
    indexes = {
        name: {"table": table, "unique": unique, "primary": primary,
               "columns": [c for c in columns if c], "where": where or "", "method": method}
        for name, table, unique, primary, columns, where, method in rows(
            "SELECT i.relname, t.relname, x.indisunique, x.indisprimary, "
            "ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true) "
            "      FROM generate_series(1, x.indnatts) AS k ORDER BY k), "
            "pg_get_expr(x.indpred, x.indrelid), am.amname "
            "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_am am ON am.oid = i.relam "
            "WHERE t.relnamespace = 'public'::regnamespace")
        if not _ignored(table)
    }
    triggers = {name: {"table": table, "sql": _norm(sql)} for name, table, sql in rows(
        "SELECT tgname, tgrelid::regclass::text, pg_get_triggerdef(oid) FROM pg_trigger "
        "WHERE NOT tgisinternal")}
    return {"tables": tables, "indexes": indexes, "triggers": triggers}
