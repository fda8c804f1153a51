"""Static checks for SQL meant for Cloudflare D1 migrations (`sql/d1/NNNN_name.sql`).

Why: D1 runs SQLite inside workerd behind an authorizer and tighter limits than stock
SQLite, and some refusals only happen in production (the 32-argument limit, CRLF inside
trigger bodies, `BEGIN TRANSACTION` that wrangler strips locally). A migration that fails
half-way on the real database is expensive, so every rule in D1.md that can be decided from
the text alone is checked here, before anything is applied. Applying the files with the
pinned wrangler (`shop.d1.wrangler`) remains the proof that they work; this is the fast,
exhaustive net that also covers production-only limits.

The checks run on a small SQL tokenizer (strings, quoted identifiers, comments, blobs,
numbers, operators) plus rules over the token stream, so text inside literals and comments
never triggers a rule. Stdlib only.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

__all__ = [
    "ALLOWED_FUNCTIONS",
    "ALLOWED_PRAGMAS",
    "MAX_COMPOUND_SELECT_TERMS",
    "MAX_FUNCTION_ARGS",
    "MAX_STATEMENT_BYTES",
    "MAX_TABLE_COLUMNS",
    "D1Problem",
    "check_files",
    "split_statements",
    "validate",
]

# -- D1 limits (production values; local workerd is laxer for function arguments) -----------

MAX_STATEMENT_BYTES = 100_000
MAX_FUNCTION_ARGS = 32
MAX_COMPOUND_SELECT_TERMS = 5
MAX_TABLE_COLUMNS = 100

# PRAGMAs a migration may use. D1 itself accepts a few more (and silently ignores
# `foreign_keys`), but none of the others belongs in a schema migration.
ALLOWED_PRAGMAS: frozenset[str] = frozenset(
    {
        "defer_foreign_keys",
        "foreign_key_check",
        "foreign_key_list",
        "index_info",
        "index_list",
        "optimize",
        "table_info",
        "table_list",
    }
)

# Functions workerd's authorizer lets through (src/workerd/util/sqlite.c++,
# ALLOWED_SQLITE_FUNCTIONS), cross-checked against wrangler 4.86.0 locally. Aliases that
# stock SQLite has but workerd refuses (ceiling, power, log10, if) are deliberately absent,
# as are json_pretty and json_error_position, which workerd refuses too.
ALLOWED_FUNCTIONS: frozenset[str] = frozenset(
    {
        # core
        "abs", "changes", "char", "coalesce", "concat", "concat_ws", "format", "glob",
        "hex", "ifnull", "iif", "instr", "last_insert_rowid", "length", "like",
        "likelihood", "likely", "lower", "ltrim", "max", "min", "nullif", "octet_length",
        "printf", "quote", "random", "randomblob", "replace", "round", "rtrim", "sign",
        "substr", "substring", "total_changes", "trim", "typeof", "unhex", "unicode",
        "unlikely", "upper", "zeroblob",
        # date and time
        "date", "time", "datetime", "julianday", "unixepoch", "strftime", "timediff",
        # aggregates
        "avg", "count", "group_concat", "string_agg", "sum", "total",
        # window functions
        "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag",
        "lead", "first_value", "last_value", "nth_value",
        # math
        "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "cos", "cosh",
        "degrees", "exp", "floor", "ln", "log", "log2", "mod", "pi", "pow", "radians",
        "sin", "sinh", "sqrt", "tan", "tanh", "trunc",
        # JSON (json_each / json_tree are table-valued)
        "json", "json_array", "json_array_length", "json_extract", "json_insert",
        "json_object", "json_patch", "json_remove", "json_replace", "json_set", "json_type",
        "json_valid", "json_quote", "json_group_array", "json_group_object", "json_each",
        "json_tree",
        "jsonb", "jsonb_array", "jsonb_extract", "jsonb_insert", "jsonb_object",
        "jsonb_patch", "jsonb_remove", "jsonb_replace", "jsonb_set", "jsonb_group_array",
        "jsonb_group_object",
        # FTS5 auxiliary functions
        "highlight", "bm25", "snippet",
        # trigger bodies: RAISE(ABORT, 'message') has call syntax
        "raise",
    }
)  # fmt: skip

# Functions people reach for that D1 refuses, with the reason or the allowed spelling.
_FUNCTION_HINTS: dict[str, str] = {
    "sqlite_version": "D1 hides SQLite build details",
    "sqlite_source_id": "D1 hides SQLite build details",
    "sqlite_compileoption_get": "D1 hides SQLite build details",
    "sqlite_compileoption_used": "D1 hides SQLite build details",
    "sqlite_offset": "D1 hides SQLite internals",
    "load_extension": "D1 cannot load extensions",
    "ceiling": "use ceil()",
    "power": "use pow()",
    "log10": "use log(x), which is base 10",
    "if": "use iif()",
    "json_pretty": "workerd refuses it",
    "json_error_position": "workerd refuses it",
    "regexp": "D1 has no REGEXP implementation",
    "soundex": "not compiled into D1",
    "generate_series": "not compiled into D1",
}

_ALLOWED_VTAB_MODULES = frozenset({"fts5", "fts5vocab"})

_TRANSACTION_KEYWORDS = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})

# Bare keywords that may be followed by "(" without that being a function call.
_NON_CALL_KEYWORDS = frozenset(
    {
        "ALL", "AND", "AS", "BETWEEN", "BY", "CASE", "CAST", "CHECK", "CONFLICT", "DEFAULT",
        "DISTINCT", "DO", "ELSE", "ESCAPE", "EXCEPT", "EXISTS", "FILTER", "FROM", "HAVING",
        "IN", "INTERSECT", "IS", "JOIN", "KEY", "LIMIT", "MATCH", "MATERIALIZED", "NOT",
        "OFFSET", "ON", "OR", "OVER", "RECURSIVE", "REGEXP", "RETURNING", "SELECT", "SET",
        "THEN", "UNION", "UNIQUE", "USING", "VALUES", "WHEN", "WHERE", "WITH",
    }
)  # fmt: skip

# A name right after these keywords is a table, view or module name, so "name (" after
# them opens a column list or module arguments, not a call.
_OBJECT_NAME_KEYWORDS = frozenset({"TABLE", "INTO", "REFERENCES", "VIEW", "EXISTS", "USING"})

# Words that end the type name of a column definition.
_COLUMN_CONSTRAINT_KEYWORDS = frozenset(
    {
        "AS", "CHECK", "COLLATE", "CONSTRAINT", "DEFAULT", "GENERATED", "NOT", "NULL",
        "PRIMARY", "REFERENCES", "UNIQUE",
    }
)  # fmt: skip
_TABLE_CONSTRAINT_KEYWORDS = frozenset({"CHECK", "CONSTRAINT", "FOREIGN", "PRIMARY", "UNIQUE"})


@dataclass(frozen=True)
class D1Problem:
    """One reason D1 would refuse (or silently mishandle) a migration file.

    `statement_index` is 1-based in the order `split_statements` returns them; 0 means
    the file as a whole (line endings, NUL characters).
    """

    filename: str
    statement_index: int
    message: str

    def __str__(self) -> str:
        if self.statement_index == 0:
            return f"{self.filename}: {self.message}"
        return f"{self.filename}: statement {self.statement_index}: {self.message}"


# -- tokenizer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # ident | qident | string | blob | number | param | op
    text: str  # source text
    value: str  # identifier name (unquoted); the operator text otherwise

    @property
    def upper(self) -> str:
        """The keyword this token spells, or "" if it is not a bare word."""
        return self.text.upper() if self.kind == "ident" else ""

    @property
    def is_name(self) -> bool:
        return self.kind in ("ident", "qident")


_IDENT_START = re.compile(r"[A-Za-z_\x80-\U0010ffff]")
_IDENT_REST = re.compile(r"[A-Za-z0-9_$\x80-\U0010ffff]*")
_NUMBER = re.compile(r"0[xX][0-9A-Fa-f_]+|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_PARAM = re.compile(r"\?\d*|[:@$][A-Za-z0-9_$]+")
_OPERATORS = ("->>", "->", "||", "<<", ">>", "<=", ">=", "==", "!=", "<>")
_CLOSERS = {'"': '"', "`": "`", "[": "]"}


def _tokenize(sql: str) -> list[_Token]:
    """Tokens of `sql` without whitespace and comments; unterminated literals run to the end.

    Follows SQLite's tokenizer closely enough for rule checks: '' and "" escapes,
    [bracketed] and `backticked` identifiers, X'..' blobs, -- and /* */ comments.
    """
    tokens: list[_Token] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch.isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif ch == "'":
            end = _end_of_quoted(sql, i, "'")
            tokens.append(_Token("string", sql[i:end], ""))
            i = end
        elif ch in "xX" and sql.startswith("'", i + 1):
            end = _end_of_quoted(sql, i + 1, "'")
            tokens.append(_Token("blob", sql[i:end], ""))
            i = end
        elif ch in _CLOSERS:
            close = _CLOSERS[ch]
            if ch == "[":
                found = sql.find("]", i + 1)
                end = n if found < 0 else found + 1
                name = sql[i + 1 : end - 1]
            else:
                end = _end_of_quoted(sql, i, close)
                name = sql[i + 1 : end - 1].replace(close * 2, close)
            tokens.append(_Token("qident", sql[i:end], name))
            i = end
        elif _IDENT_START.match(ch):
            end = _IDENT_REST.match(sql, i + 1).end()  # type: ignore[union-attr]
            word = sql[i:end]
            tokens.append(_Token("ident", word, word))
            i = end
        elif ch.isdigit() or (ch == "." and i + 1 < n and sql[i + 1].isdigit()):
            match = _NUMBER.match(sql, i)
            end = match.end() if match else i + 1
            tokens.append(_Token("number", sql[i:end], sql[i:end]))
            i = end
        elif ch in "?:@$" and (match := _PARAM.match(sql, i)):
            tokens.append(_Token("param", match.group(), match.group()))
            i = match.end()
        else:
            op = next((o for o in _OPERATORS if sql.startswith(o, i)), ch)
            tokens.append(_Token("op", op, op))
            i += len(op)
    return tokens


def _end_of_quoted(sql: str, start: int, quote: str) -> int:
    """Index just past the literal opened at `start`; a doubled quote is an escape."""
    i = start + 1
    while True:
        found = sql.find(quote, i)
        if found < 0:
            return len(sql)
        if sql.startswith(quote * 2, found):
            i = found + 2
            continue
        return found + 1


def _has_code(sql: str) -> bool:
    """True if `sql` holds anything besides whitespace, comments and semicolons."""
    return any(not (t.kind == "op" and t.value == ";") for t in _tokenize(sql))


# -- splitting ------------------------------------------------------------------------------


def _split(sql: str) -> tuple[list[str], str]:
    """Complete statements, plus whatever trails the last one (stripped)."""
    statements: list[str] = []
    pending = ""
    pieces = sql.split(";")
    for piece in pieces[:-1]:
        pending += piece + ";"
        # sqlite3.complete_statement is SQLite's own sqlite3_complete(): it knows strings,
        # comments and CREATE TRIGGER ... BEGIN ... END bodies.
        # (It cannot take NUL characters; validate() reports those separately.)
        if sqlite3.complete_statement(pending.replace("\x00", " ")):
            if _has_code(pending):
                statements.append(pending.strip())
            pending = ""
    return statements, (pending + pieces[-1]).strip()


def split_statements(sql: str) -> list[str]:
    """Split a SQL script into complete statements, each stripped and ending with ';'.

    Why not split on ';': semicolons also occur inside string literals, comments and
    trigger bodies. Statements are accumulated until SQLite's own `sqlite3_complete()`
    says they are complete. Empty statements (a lone ';') are dropped. Raises ValueError
    if text other than comments follows the last ';', because D1 requires every statement
    to be terminated and silently dropping SQL would hide that.
    """
    statements, rest = _split(sql)
    if _has_code(rest):
        raise ValueError(f"incomplete statement after the last ';': {rest[:80]!r}")
    return statements


# -- rules ----------------------------------------------------------------------------------


def validate(sql: str, *, filename: str = "<sql>") -> list[D1Problem]:
    """Every problem D1 would have with the migration script `sql`; empty if none.

    Why one function over text: the exporter validates what it is about to write, and the
    CI check validates what is committed, with the same rules.
    """
    problems: list[D1Problem] = []

    def file_problem(message: str) -> None:
        problems.append(D1Problem(filename, 0, message))

    if "\r" in sql:
        line = sql.count("\n", 0, sql.index("\r")) + 1
        file_problem(
            f"carriage return (\\r, CRLF line endings) at line {line}: D1 files must use "
            "LF only (CRLF inside trigger bodies breaks remote apply)"
        )
    if "\x00" in sql:
        line = sql.count("\n", 0, sql.index("\x00")) + 1
        file_problem(f"NUL character at line {line}")

    statements, rest = _split(sql)
    for index, statement in enumerate(statements, start=1):
        for message in _check_statement(statement):
            problems.append(D1Problem(filename, index, message))
    if _has_code(rest):
        problems.append(
            D1Problem(
                filename,
                len(statements) + 1,
                "the last statement does not end with ';' (wrangler appends its own "
                f"statement after it): {rest[:60]!r}",
            )
        )
    return problems


def check_files(paths: Iterable[str | PathLike[str]]) -> list[D1Problem]:
    """Validate migration files; a file that is not UTF-8 is itself a problem.

    Files are read as bytes so CRLF is seen as written (text mode would translate it).
    """
    problems: list[D1Problem] = []
    for path in paths:
        name = str(path)
        data = Path(path).read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            message = f"not valid UTF-8 ({exc.reason} at byte {exc.start})"
            problems.append(D1Problem(name, 0, message))
            continue
        if text.startswith("\ufeff"):
            problems.append(D1Problem(name, 0, "starts with a UTF-8 byte order mark"))
            text = text[1:]
        problems.extend(validate(text, filename=name))
    return problems


def _check_statement(statement: str) -> Iterator[str]:
    size = len(statement.encode("utf-8"))
    if size > MAX_STATEMENT_BYTES:
        yield f"statement is {size:,} bytes; D1 allows at most {MAX_STATEMENT_BYTES:,}"
    tokens = _tokenize(statement)
    if not tokens:
        return
    first = tokens[0].upper
    if first in _TRANSACTION_KEYWORDS:
        yield (
            f"transaction control {first} is not allowed: D1 applies each migration file as "
            "one batch and refuses BEGIN/COMMIT/ROLLBACK/SAVEPOINT/RELEASE"
        )
        return
    if first == "VACUUM":
        yield "VACUUM is not allowed on D1"
        return
    if first in ("ATTACH", "DETACH"):
        yield f"{first} is not allowed on D1 (no attached databases)"
        return
    if first == "PRAGMA":
        yield from _check_pragma(tokens)
        return
    yield from _check_create(tokens)
    yield from _check_write_targets(tokens)
    yield from _check_expressions(tokens)


def _check_pragma(tokens: list[_Token]) -> Iterator[str]:
    if len(tokens) < 2 or not tokens[1].is_name:
        yield "malformed PRAGMA"
        return
    name_token = tokens[1]
    if len(tokens) > 3 and tokens[2].value == "." and tokens[3].is_name:
        name_token = tokens[3]
    name = name_token.value.lower()
    if name in ALLOWED_PRAGMAS:
        return
    reason = (
        " (D1 ignores it: foreign keys are always enforced; use PRAGMA defer_foreign_keys)"
        if name == "foreign_keys"
        else ""
    )
    yield (
        f"PRAGMA {name} is not allowed in D1 migrations{reason}; allowed: "
        f"{', '.join(sorted(ALLOWED_PRAGMAS))}"
    )


def _skip_if_not_exists(tokens: list[_Token], i: int) -> int:
    if [t.upper for t in tokens[i : i + 3]] == ["IF", "NOT", "EXISTS"]:
        return i + 3
    if [t.upper for t in tokens[i : i + 2]] == ["IF", "EXISTS"]:
        return i + 2
    return i


def _qualified_name(tokens: list[_Token], i: int) -> tuple[str | None, str | None, int]:
    """(schema, name, index after) for `[schema .] name` at i; name None if absent."""
    if i < len(tokens) and tokens[i].is_name:
        if i + 2 < len(tokens) and tokens[i + 1].value == "." and tokens[i + 2].is_name:
            return tokens[i].value, tokens[i + 2].value, i + 3
        return None, tokens[i].value, i + 1
    return None, None, i


def _check_create(tokens: list[_Token]) -> Iterator[str]:
    """CREATE [TEMP] [UNIQUE|VIRTUAL] TABLE|INDEX|VIEW|TRIGGER: temp objects, modules,
    column counts. (Reserved names are checked with the other write targets.)"""
    if tokens[0].upper != "CREATE" or len(tokens) < 2:
        return
    i = 1
    if tokens[i].upper in ("TEMP", "TEMPORARY"):
        kind = tokens[i + 1].upper if i + 1 < len(tokens) else ""
        yield f"CREATE {tokens[i].upper} {kind} is not allowed on D1 (no temporary objects)"
        i += 1
    if i < len(tokens) and tokens[i].upper in ("UNIQUE", "VIRTUAL"):
        i += 1
    kind = tokens[i].upper if i < len(tokens) else ""
    _, name, after = _qualified_name(tokens, _skip_if_not_exists(tokens, i + 1))
    if kind == "TABLE" and tokens[1].upper == "VIRTUAL":
        if after + 1 < len(tokens) and tokens[after].upper == "USING":
            module = tokens[after + 1].value.lower()
            if module not in _ALLOWED_VTAB_MODULES:
                hint = " (use fts5)" if module.startswith(("fts3", "fts4")) else ""
                yield (
                    f"virtual table module {module} is not available on D1{hint}; "
                    "only fts5 and fts5vocab are"
                )
    elif kind == "TABLE" and after < len(tokens) and tokens[after].value == "(":
        columns = sum(1 for _ in _column_type_words(tokens, after))
        if columns > MAX_TABLE_COLUMNS:
            yield f"table {name} has {columns} columns; D1 allows at most {MAX_TABLE_COLUMNS}"


def _write_targets(tokens: list[_Token]) -> Iterator[tuple[str, str | None, str]]:
    """(verb, schema, name) for every object the statement creates, drops or writes,
    including statements inside trigger bodies."""
    n = len(tokens)
    for i, token in enumerate(tokens):
        word = token.upper
        prev = tokens[i - 1].upper if i else ""
        nxt = tokens[i + 1].upper if i + 1 < n else ""
        start: int | None = None
        if word == "CREATE":
            j = i + 1
            if j < n and tokens[j].upper in ("TEMP", "TEMPORARY"):
                j += 1
            if j < n and tokens[j].upper in ("UNIQUE", "VIRTUAL"):
                j += 1
            if j < n and tokens[j].upper in ("TABLE", "INDEX", "VIEW", "TRIGGER"):
                start = _skip_if_not_exists(tokens, j + 1)
                word = f"CREATE {tokens[j].upper}"
                if tokens[j].upper == "INDEX":
                    # the indexed table is written to as well
                    k = next((k for k in range(start, n) if tokens[k].upper == "ON"), None)
                    if k is not None:
                        schema, name, _ = _qualified_name(tokens, k + 1)
                        if name is not None:
                            yield "CREATE INDEX ON", schema, name
                if tokens[j].upper == "TRIGGER":
                    k = next((k for k in range(start, n) if tokens[k].upper == "ON"), None)
                    if k is not None:
                        schema, name, _ = _qualified_name(tokens, k + 1)
                        if name is not None:
                            yield "CREATE TRIGGER ON", schema, name
        elif word == "DROP" and nxt in ("TABLE", "INDEX", "VIEW", "TRIGGER"):
            start = _skip_if_not_exists(tokens, i + 2)
            word = f"DROP {nxt}"
        elif word == "ALTER" and nxt == "TABLE":
            start = i + 2
            word = "ALTER TABLE"
        elif word == "RENAME" and nxt == "TO":
            start = i + 2
            word = "RENAME TO"
        elif word == "INTO":
            start = i + 1
            word = "INSERT INTO"
        elif word == "DELETE" and nxt == "FROM":
            start = i + 2
            word = "DELETE FROM"
        elif word == "UPDATE" and prev not in ("ON", "DO") and nxt not in ("OF", "ON"):
            # not `ON UPDATE CASCADE` (foreign key), `DO UPDATE` (upsert) or a trigger event
            start = i + 1
            if nxt == "OR":
                start = i + 3
            word = "UPDATE"
        if start is not None:
            schema, name, _ = _qualified_name(tokens, start)
            if name is not None:
                yield word, schema, name


def _check_write_targets(tokens: list[_Token]) -> Iterator[str]:
    seen: set[tuple[str, str]] = set()
    for verb, schema, name in _write_targets(tokens):
        lowered = name.lower()
        message = None
        if lowered.startswith("_cf_"):
            message = f"{verb} {name}: names starting with _cf_ are reserved by Cloudflare"
        elif lowered == "sqlite_sequence" and verb in ("INSERT INTO", "UPDATE"):
            # SQLite's documented way to keep an AUTOINCREMENT counter (table rebuilds).
            pass
        elif lowered.startswith("sqlite_"):
            message = f"{verb} {name}: names starting with sqlite_ are reserved by SQLite"
        elif lowered == "d1_migrations":
            message = (
                f"{verb} d1_migrations: that table belongs to wrangler, which records "
                "applied migrations in it"
            )
        elif schema is not None and schema.lower() == "temp":
            message = f"{verb} temp.{name}: no temporary objects on D1"
        elif schema is not None and schema.lower() != "main":
            message = f"{verb} {schema}.{name}: no attached databases on D1"
        if message is not None and (verb, lowered) not in seen:
            seen.add((verb, lowered))
            yield message


def _matching_paren(tokens: list[_Token], open_index: int) -> int:
    """Index of the ')' closing the '(' at `open_index` (len(tokens) if unbalanced)."""
    depth = 0
    for k in range(open_index, len(tokens)):
        if tokens[k].value == "(" and tokens[k].kind == "op":
            depth += 1
        elif tokens[k].value == ")" and tokens[k].kind == "op":
            depth -= 1
            if depth == 0:
                return k
    return len(tokens)


def _is_op(token: _Token, value: str) -> bool:
    return token.kind == "op" and token.value == value


def _column_type_words(tokens: list[_Token], open_index: int) -> Iterator[int | None]:
    """For each column definition in the list opened at `open_index`, yield the index of
    its last type word when a '(' follows it (`VARCHAR(255)`), else None. Table
    constraints (PRIMARY KEY (...), CHECK (...), ...) are not yielded."""
    close = _matching_paren(tokens, open_index)
    depth = 0
    segment_start = open_index + 1
    for k in range(open_index + 1, close + 1):
        if k < close:
            token = tokens[k]
            if _is_op(token, "("):
                depth += 1
            elif _is_op(token, ")"):
                depth -= 1
            if depth != 0 or not _is_op(token, ","):
                continue
        is_column, type_index = _column_definition(tokens, segment_start, min(k, len(tokens)))
        if is_column:
            yield type_index
        segment_start = k + 1


def _column_definition(tokens: list[_Token], start: int, end: int) -> tuple[bool, int | None]:
    """(is a column definition, index of its last type word if '(' follows it)."""
    if start >= end or tokens[start].upper in _TABLE_CONSTRAINT_KEYWORDS:
        return False, None
    j = start + 1
    while j < end and tokens[j].is_name and tokens[j].upper not in _COLUMN_CONSTRAINT_KEYWORDS:
        j += 1
    if j > start + 1 and j < end and _is_op(tokens[j], "("):
        return True, j - 1
    return True, None


def _not_call_names(tokens: list[_Token]) -> set[int]:
    """Indexes of names followed by '(' that are not function calls: column types
    (`VARCHAR(255)`, `CAST(x AS DECIMAL(10, 2))`), CTE names with column lists, and the
    indexed table of CREATE INDEX."""
    skip: set[int] = set()
    n = len(tokens)
    first = tokens[0].upper
    # CREATE TABLE t (col TYPE(n), ...)
    if first == "CREATE":
        for k in range(1, min(n, 4)):
            if tokens[k].upper == "TABLE":
                _, _, after = _qualified_name(tokens, _skip_if_not_exists(tokens, k + 1))
                if after < n and _is_op(tokens[after], "("):
                    skip.update(i for i in _column_type_words(tokens, after) if i is not None)
                break
            if tokens[k].upper == "INDEX":
                on = next((j for j in range(k, n) if tokens[j].upper == "ON"), None)
                if on is not None:
                    _, _, after = _qualified_name(tokens, on + 1)
                    skip.add(after - 1)
                break
    # ALTER TABLE t ADD [COLUMN] col TYPE(n)
    if first == "ALTER":
        for k in range(n - 1):
            if tokens[k].upper == "ADD":
                start = k + 2 if tokens[k + 1].upper == "COLUMN" else k + 1
                _, type_index = _column_definition(tokens, start, n)
                if type_index is not None:
                    skip.add(type_index)
                break
    for k in range(n - 1):
        # CAST(expr AS TYPE(n))
        if tokens[k].upper == "CAST" and _is_op(tokens[k + 1], "("):
            close = _matching_paren(tokens, k + 1)
            depth = 0
            for j in range(k + 2, close):
                if _is_op(tokens[j], "("):
                    depth += 1
                elif _is_op(tokens[j], ")"):
                    depth -= 1
                elif depth == 0 and tokens[j].upper == "AS":
                    skip.update(
                        m
                        for m in range(j + 1, close - 1)
                        if tokens[m].is_name and _is_op(tokens[m + 1], "(")
                    )
                    break
        # WITH name (a, b) AS [NOT] [MATERIALIZED] (...)
        if tokens[k].is_name and _is_op(tokens[k + 1], "("):
            close = _matching_paren(tokens, k + 1)
            words = [t.upper for t in tokens[close + 1 : close + 5]]
            if words[:1] == ["AS"] and (
                (close + 2 < n and _is_op(tokens[close + 2], "("))
                or words[1:2] in (["NOT"], ["MATERIALIZED"])
            ):
                skip.add(k)
    return skip


def _function_calls(tokens: list[_Token]) -> Iterator[tuple[str, int]]:
    """(lower-case name, argument count) for every function call in the statement."""
    skip = _not_call_names(tokens)
    n = len(tokens)
    for k in range(n - 1):
        token = tokens[k]
        if not token.is_name or not _is_op(tokens[k + 1], "(") or k in skip:
            continue
        if token.upper in _NON_CALL_KEYWORDS:
            continue
        before = k - 1
        if before >= 1 and _is_op(tokens[before], "."):
            before -= 2  # schema-qualified name: look before `schema .`
        if before >= 0 and tokens[before].upper in _OBJECT_NAME_KEYWORDS:
            continue
        yield token.value.lower(), _count_arguments(tokens, k + 1)


def _count_arguments(tokens: list[_Token], open_index: int) -> int:
    """Top-level commas + 1 inside the call's parentheses (0 for `f()`); an aggregate's
    ORDER BY ends the argument list."""
    close = _matching_paren(tokens, open_index)
    if close == open_index + 1:
        return 0
    count, depth = 1, 0
    for j in range(open_index + 1, close):
        token = tokens[j]
        if _is_op(token, "("):
            depth += 1
        elif _is_op(token, ")"):
            depth -= 1
        elif depth == 0 and _is_op(token, ","):
            count += 1
        elif depth == 0 and token.upper == "ORDER":
            break
    return count


def _compound_select_terms(tokens: list[_Token]) -> Iterator[int]:
    """Number of terms of every SELECT (1 for a plain one), one count per parenthesis
    level; ';' separates the statements of a trigger body."""
    counts = [0]
    for token in tokens:
        if _is_op(token, "("):
            counts.append(0)
        elif _is_op(token, ")") and len(counts) > 1:
            yield counts.pop() + 1
        elif _is_op(token, ";"):
            yield counts[-1] + 1
            counts[-1] = 0
        elif token.upper in ("UNION", "INTERSECT", "EXCEPT"):
            counts[-1] += 1
    yield from (count + 1 for count in counts)


def _check_expressions(tokens: list[_Token]) -> Iterator[str]:
    """REGEXP, compound SELECT size, table-valued PRAGMAs and function calls."""
    if any(t.upper == "REGEXP" for t in tokens):
        yield "REGEXP (the operator or the regexp() function) is not available on D1"

    for terms in _compound_select_terms(tokens):
        if terms > MAX_COMPOUND_SELECT_TERMS:
            yield (
                f"compound SELECT with {terms} terms (UNION/INTERSECT/EXCEPT); D1 allows "
                f"at most {MAX_COMPOUND_SELECT_TERMS}"
            )

    # Table-valued PRAGMA functions: FROM pragma_x or pragma_x(...).
    for k, token in enumerate(tokens):
        if not token.is_name or not token.value.lower().startswith("pragma_"):
            continue
        called = k + 1 < len(tokens) and _is_op(tokens[k + 1], "(")
        read = k > 0 and tokens[k - 1].upper in ("FROM", "JOIN")
        if (called or read) and token.value.lower()[7:] not in ALLOWED_PRAGMAS:
            yield (
                f"{token.value.lower()} (table-valued PRAGMA {token.value.lower()[7:]}) is "
                f"not allowed on D1; allowed: {', '.join(sorted(ALLOWED_PRAGMAS))}"
            )

    reported: set[str] = set()
    for name, arguments in _function_calls(tokens):
        if arguments > MAX_FUNCTION_ARGS:
            yield (
                f"function {name}() called with {arguments} arguments; D1 allows at most "
                f"{MAX_FUNCTION_ARGS} in production"
            )
        if name.startswith("pragma_") or name in ALLOWED_FUNCTIONS or name in reported:
            continue
        reported.add(name)
        hint = _FUNCTION_HINTS.get(name, "not on workerd's function allow-list")
        yield f"function {name}() is not allowed on D1 ({hint})"
