"""The D1 migration validator: every construct D1 refuses is flagged by name, and the
constructs the exporter relies on pass untouched (no false alarms in literals, comments
or trigger bodies)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shop.d1.validate import (
    D1Problem,
    check_files,
    split_statements,
    validate,
)

# sqlite_only: D1 is SQLite's dialect.
pytestmark = pytest.mark.sqlite_only


def _args(n: int) -> str:
    return ", ".join(str(i) for i in range(n))


def _union(terms: int) -> str:
    return " UNION ALL ".join(f"SELECT {i}" for i in range(terms))


# (id, SQL, a fragment the problem's message must contain)
REFUSED = [
    ("crlf", "CREATE TABLE t (x INTEGER);\r\nCREATE TABLE u (y INTEGER);\r\n", "carriage return"),
    ("nul", "CREATE TABLE t (x TEXT DEFAULT 'a\x00b');\n", "NUL"),
    ("no-final-semicolon", "CREATE TABLE t (x INTEGER);\nCREATE TABLE u (y INTEGER)\n", "';'"),
    ("begin", "BEGIN;\n", "BEGIN"),
    ("begin-transaction", "BEGIN TRANSACTION;\n", "BEGIN"),
    ("begin-immediate", "BEGIN IMMEDIATE;\n", "BEGIN"),
    ("commit", "COMMIT;\n", "COMMIT"),
    ("end", "END TRANSACTION;\n", "END"),
    ("rollback", "ROLLBACK;\n", "ROLLBACK"),
    ("savepoint", "SAVEPOINT sp;\n", "SAVEPOINT"),
    ("release", "RELEASE sp;\n", "RELEASE"),
    ("vacuum", "VACUUM;\n", "VACUUM"),
    ("attach", "ATTACH DATABASE 'other.db' AS other;\n", "ATTACH"),
    ("detach", "DETACH DATABASE other;\n", "DETACH"),
    ("temp-table", "CREATE TEMP TABLE t (x INTEGER);\n", "TEMP"),
    ("temporary-view", "CREATE TEMPORARY VIEW v AS SELECT 1;\n", "TEMPORARY"),
    ("temp-schema", "CREATE TABLE temp.t (x INTEGER);\n", "temp"),
    ("attached-schema", "CREATE TABLE other.t (x INTEGER);\n", "attached"),
    ("pragma-foreign-keys", "PRAGMA foreign_keys = OFF;\n", "foreign_keys"),
    ("pragma-journal-mode", "PRAGMA journal_mode = WAL;\n", "journal_mode"),
    ("pragma-user-version", "PRAGMA user_version = 3;\n", "user_version"),
    ("pragma-busy-timeout", "PRAGMA busy_timeout = 5000;\n", "busy_timeout"),
    ("pragma-integrity-check", "PRAGMA integrity_check;\n", "integrity_check"),
    ("pragma-schema-qualified", "PRAGMA main.journal_mode = WAL;\n", "journal_mode"),
    ("pragma-table-valued", "SELECT * FROM pragma_compile_options;\n", "compile_options"),
    ("pragma-table-valued-call", "SELECT * FROM pragma_function_list();\n", "function_list"),
    ("create-cf-table", "CREATE TABLE _cf_kv (k TEXT);\n", "_cf_"),
    ("create-cf-index", "CREATE INDEX _cf_ix ON t (x);\n", "_cf_"),
    ("drop-cf-table", "DROP TABLE IF EXISTS _cf_METADATA;\n", "_cf_"),
    ("create-sqlite-table", 'CREATE TABLE "sqlite_x" (k TEXT);\n', "sqlite_"),
    ("delete-sqlite-sequence", "DELETE FROM sqlite_sequence WHERE name = 't';\n",
     "sqlite_sequence"),
    ("delete-sqlite-stat", "DELETE FROM sqlite_stat1;\n", "sqlite_stat1"),
    ("rename-to-sqlite", "ALTER TABLE t RENAME TO sqlite_t;\n", "sqlite_t"),
    ("insert-d1-migrations", "INSERT INTO d1_migrations (name) VALUES ('0002_x.sql');\n",
     "d1_migrations"),
    ("delete-d1-migrations", "DELETE FROM d1_migrations WHERE id = 1;\n", "d1_migrations"),
    ("update-or-d1-migrations", "UPDATE OR IGNORE d1_migrations SET name = 'x';\n",
     "d1_migrations"),
    ("drop-d1-migrations", "DROP TABLE d1_migrations;\n", "d1_migrations"),
    ("trigger-writes-d1-migrations",
     "CREATE TRIGGER trg AFTER INSERT ON t BEGIN\n"
     "  DELETE FROM d1_migrations;\n"
     "END;\n",
     "d1_migrations"),
    ("regexp", "SELECT * FROM t WHERE name REGEXP '^a';\n", "REGEXP"),
    ("regexp-function", "SELECT regexp('^a', name) FROM t;\n", "regexp"),
    ("fts3", "CREATE VIRTUAL TABLE docs USING fts3(body);\n", "fts3"),
    ("fts4", "CREATE VIRTUAL TABLE docs USING fts4(title, body);\n", "fts4"),
    ("rtree", "CREATE VIRTUAL TABLE boxes USING rtree(id, x0, x1);\n", "rtree"),
    ("sqlite-version", "SELECT sqlite_version();\n", "sqlite_version"),
    ("sqlite-source-id", "SELECT sqlite_source_id();\n", "sqlite_source_id"),
    ("load-extension", "SELECT load_extension('x.so');\n", "load_extension"),
    ("ceiling-alias", "SELECT ceiling(1.5);\n", "ceiling"),
    ("unknown-in-check", "CREATE TABLE t (x TEXT CHECK (my_func(x)));\n", "my_func"),
    ("unknown-in-default", "CREATE TABLE t (x TEXT DEFAULT (uuid()));\n", "uuid"),
    ("quoted-function-name", 'SELECT "sqlite_version"();\n', "sqlite_version"),
    ("unknown-in-trigger",
     "CREATE TRIGGER trg AFTER INSERT ON t BEGIN\n"
     "  UPDATE t SET x = gen_random_uuid() WHERE rowid = NEW.rowid;\n"
     "END;\n",
     "gen_random_uuid"),
    ("json-pretty", "SELECT json_pretty('{}');\n", "json_pretty"),
    ("generate-series", "SELECT value FROM generate_series(1, 10);\n", "generate_series"),
    ("too-many-arguments", f"SELECT json_array({_args(33)});\n", "33 arguments"),
    ("too-many-arguments-nested",
     f"SELECT coalesce(NULL, json_object({_args(34)}));\n",
     "34 arguments"),
    ("compound-select", f"SELECT * FROM ({_union(6)});\n", "6 terms"),
    ("compound-select-top-level", f"INSERT INTO t (x) {_union(7)};\n", "7 terms"),
    ("compound-intersect-except",
     "SELECT 1 UNION SELECT 2 INTERSECT SELECT 3 EXCEPT SELECT 4 UNION SELECT 5 "
     "EXCEPT SELECT 6;\n",
     "6 terms"),
    ("statement-too-long",
     "INSERT INTO t (x) VALUES ('" + "a" * 100_000 + "');\n",
     "100,000"),
    ("statement-too-long-multibyte",
     "INSERT INTO t (x) VALUES ('" + "é" * 50_000 + "');\n",
     "bytes"),
    ("too-many-columns",
     "CREATE TABLE wide (" + ", ".join(f"c{i} INTEGER" for i in range(101)) + ");\n",
     "101 columns"),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "fragment"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refused_construct_is_flagged_by_name(sql: str, fragment: str) -> None:
    problems = validate(sql, filename="0001_x.sql")
    assert problems, f"no problem reported for {sql[:80]!r}"
    assert any(fragment in p.message for p in problems), [p.message for p in problems]
    assert all(p.filename == "0001_x.sql" for p in problems)


FK_GUARD = """\
PRAGMA defer_foreign_keys = on;
CREATE TABLE _bak_child AS SELECT id, parent_id FROM child;
PRAGMA defer_foreign_keys = off;
CREATE TABLE _fk_guard(n INTEGER NOT NULL CHECK (n = 0));
INSERT INTO _fk_guard SELECT count(*) FROM pragma_foreign_key_check;
DROP TABLE _fk_guard;
"""

# (id, SQL) that D1 accepts and that must produce no problem at all.
ACCEPTED = [
    # Keeping an AUTOINCREMENT counter through a table rebuild (accepted by local D1).
    ("insert-sqlite-sequence", "INSERT INTO sqlite_sequence (name, seq) SELECT 't', 5 "
     "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 't');\n"),
    ("update-sqlite-sequence", "UPDATE sqlite_sequence SET seq = 5 WHERE name = 't' "
     "AND seq < 5;\n"),
    ("table-check-xor-fk-cascade", """\
CREATE TABLE "order_line" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "order_id" INTEGER NOT NULL REFERENCES "order" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    "product_id" INTEGER REFERENCES "product" ("id") ON DELETE SET NULL,
    "bundle_id" INTEGER,
    "price" DECIMAL(10, 2) NOT NULL DEFAULT 0 CHECK ("price" >= 0),
    "name" VARCHAR(255) NOT NULL COLLATE NOCASE,
    "created_at" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    "stamp" INTEGER NOT NULL DEFAULT (unixepoch()),
    "total" INTEGER GENERATED ALWAYS AS ("price" * 2) VIRTUAL,
    CONSTRAINT "one_target" CHECK (("product_id" IS NULL) <> ("bundle_id" IS NULL)),
    CHECK (CASE WHEN "bundle_id" IS NOT NULL THEN "price" > 0 ELSE 1 END),
    FOREIGN KEY ("bundle_id") REFERENCES "bundle" ("id") ON DELETE RESTRICT,
    UNIQUE ("order_id", "product_id")
);
CREATE TABLE "tag" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL UNIQUE) STRICT, WITHOUT ROWID;
"""),
    ("partial-and-expression-index", """\
CREATE UNIQUE INDEX IF NOT EXISTS "ix_hold_active" ON "hold" ("product_id", "user_id")
    WHERE "released_at" IS NULL AND "expires_at" > 0;
CREATE INDEX "ix_user_email" ON "user" (lower("email"));
"""),
    ("trigger-raise-and-update", """\
CREATE TRIGGER "trg_stock_guard" BEFORE UPDATE OF "quantity", "reserved" ON "stock"
FOR EACH ROW WHEN NEW."quantity" < NEW."reserved"
BEGIN
    SELECT RAISE(ABORT, 'stock: reserved exceeds quantity; refused');
    UPDATE "audit" SET "n" = "n" + 1 WHERE "id" = 1;
    INSERT INTO "audit_log" ("what", "at") VALUES ('BEGIN; COMMIT;', datetime('now'));
    DELETE FROM "scratch" WHERE "id" = OLD."id";
END;
"""),
    ("fts5-external-content", """\
CREATE VIRTUAL TABLE "product_fts" USING fts5(title, content='products', content_rowid='id');
CREATE TRIGGER "product_ai" AFTER INSERT ON "products" BEGIN
    INSERT INTO "product_fts" (rowid, title) VALUES (NEW.id, NEW.title);
END;
CREATE TRIGGER "product_ad" AFTER DELETE ON "products" BEGIN
    INSERT INTO "product_fts" ("product_fts", rowid, title) VALUES ('delete', OLD.id, OLD.title);
END;
SELECT highlight(product_fts, 0, '<b>', '</b>'), snippet(product_fts, 0, '[', ']', '...', 8)
FROM product_fts WHERE product_fts MATCH 'shoe' ORDER BY bm25(product_fts);
"""),
    ("json-and-dates", """\
CREATE TABLE "event" (
    "payload" TEXT NOT NULL CHECK (json_valid("payload")),
    "kind" TEXT GENERATED ALWAYS AS ("payload" ->> '$.kind') VIRTUAL
);
SELECT json_extract(payload, '$.a'), payload -> '$.b', json_group_array(kind),
       strftime('%Y-%m-%d', 'now'), date('now', '-1 day'), julianday('now'),
       timediff('2024-01-01', '2023-01-01'), iif(1, 2, 3), printf('%05d', 7)
FROM "event";
SELECT value FROM json_each('[1, 2]');
"""),
    ("pragmas", """\
PRAGMA defer_foreign_keys = on;
PRAGMA defer_foreign_keys = off;
PRAGMA foreign_key_check;
PRAGMA table_info("product");
PRAGMA index_list('product');
PRAGMA optimize;
SELECT name FROM pragma_table_info('product');
"""),
    ("fk-guard-recipe", FK_GUARD),
    ("string-with-transaction-words", """\
INSERT INTO "note" ("body") VALUES ('BEGIN; COMMIT; VACUUM; PRAGMA foreign_keys = OFF;');
INSERT INTO "note" ("body") VALUES ('it''s; sqlite_version() REGEXP _cf_x');
"""),
    ("comments-with-forbidden-words", """\
-- sqlite_version(); BEGIN; COMMIT;
/* PRAGMA journal_mode = WAL; SELECT load_extension('x'); */
CREATE TABLE "c" ("x" INTEGER); -- trailing comment; VACUUM;
-- a comment after the last statement
"""),
    ("windows-ctes-upserts", """\
WITH RECURSIVE "n"("i") AS (SELECT 1 UNION ALL SELECT "i" + 1 FROM "n" WHERE "i" < 5),
     "m" AS MATERIALIZED (SELECT 2 AS "i")
SELECT row_number() OVER w, rank() OVER w, lag("i") OVER (ORDER BY "i"),
       sum("i") FILTER (WHERE "i" > 1) OVER w, CAST("i" AS DECIMAL(10, 2))
FROM "n" JOIN "m" USING ("i") WHERE EXISTS (SELECT 1) AND "i" IN (1, 2, 3)
WINDOW w AS (PARTITION BY "i" ORDER BY "i");
INSERT INTO "counter" ("k", "v") VALUES ('a', 1), ('b', 2), ('c', 3), ('d', 4), ('e', 5),
    ('f', 6), ('g', 7) ON CONFLICT ("k") DO UPDATE SET "v" = excluded."v" + 1;
SELECT group_concat("k", ',' ORDER BY "k") FROM "counter";
"""),
    ("rebuild-and-alter", """\
CREATE TABLE "product_new" ("id" INTEGER PRIMARY KEY, "name" VARCHAR(100) NOT NULL);
INSERT INTO "product_new" ("id", "name") SELECT "id", "name" FROM "product";
DROP TABLE "product";
ALTER TABLE "product_new" RENAME TO "product";
ALTER TABLE "product" ADD COLUMN "sku" VARCHAR(32) NOT NULL DEFAULT '';
ALTER TABLE "product" RENAME COLUMN "sku" TO "code";
CREATE VIEW "v_product" ("id", "label") AS SELECT "id", upper("name") FROM "product";
ANALYZE;
"""),
    ("reading-reserved-tables", """\
SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%';
SELECT name FROM d1_migrations;
"""),
    ("limits-exactly-at-maximum", f"""\
SELECT json_array({_args(32)});
SELECT * FROM ({_union(5)});
"""),
    ("empty-file", ""),
    ("comments-only", "-- nothing to do in this migration\n"),
]  # fmt: skip


@pytest.mark.parametrize("sql", [r[1] for r in ACCEPTED], ids=[r[0] for r in ACCEPTED])
def test_accepted_construct_has_no_problem(sql: str) -> None:
    assert validate(sql) == []


def test_problem_names_file_and_statement() -> None:
    sql = "CREATE TABLE a (x INTEGER);\nVACUUM;\nPRAGMA journal_mode = WAL;\n"
    problems = validate(sql, filename="sql/d1/0003_x.sql")
    assert [(p.statement_index, p.message.split()[0]) for p in problems] == [
        (2, "VACUUM"),
        (3, "PRAGMA"),
    ]
    assert str(problems[0]).startswith("sql/d1/0003_x.sql: statement 2: VACUUM")
    assert D1Problem("f", 0, "m").__str__() == "f: m"


def test_problem_is_frozen() -> None:
    problem = D1Problem("f.sql", 1, "m")
    with pytest.raises(AttributeError):
        problem.message = "other"  # type: ignore[misc]


def test_split_statements_keeps_trigger_bodies_and_string_semicolons() -> None:
    sql = """\
-- leading comment; with a semicolon
CREATE TABLE t (x TEXT DEFAULT 'a;b', y TEXT);
CREATE TRIGGER trg AFTER INSERT ON t BEGIN
    UPDATE t SET y = CASE WHEN NEW.x = 'q;' THEN 'END;' ELSE 'z' END WHERE rowid = NEW.rowid;
    INSERT INTO t (x) VALUES ("quoted;ident");
END;
;
INSERT INTO t (x) VALUES ('it''s; fine') /* ; in a comment */;
"""
    statements = split_statements(sql)
    assert len(statements) == 3
    assert statements[0].startswith("-- leading comment; with a semicolon\nCREATE TABLE t")
    assert statements[1].startswith("CREATE TRIGGER trg")
    assert statements[1].endswith("END;")
    assert "'END;'" in statements[1]
    assert statements[2] == "INSERT INTO t (x) VALUES ('it''s; fine') /* ; in a comment */;"
    assert all(s.endswith(";") and s == s.strip() for s in statements)


def test_split_statements_refuses_an_unterminated_statement() -> None:
    assert split_statements("SELECT 1;\n-- only a comment after it\n") == ["SELECT 1;"]
    with pytest.raises(ValueError, match="incomplete statement"):
        split_statements("SELECT 1;\nSELECT 2")


def test_check_files_reads_bytes(tmp_path: Path) -> None:
    good = tmp_path / "0001_good.sql"
    good.write_bytes(b"CREATE TABLE t (x INTEGER);\n")
    crlf = tmp_path / "0002_crlf.sql"
    crlf.write_bytes(b"CREATE TABLE u (x INTEGER);\r\n")
    latin1 = tmp_path / "0003_latin1.sql"
    latin1.write_bytes(b"INSERT INTO t (x) VALUES ('caf\xe9');\n")
    problems = check_files([good, crlf, latin1])
    assert [(Path(p.filename).name, p.statement_index) for p in problems] == [
        ("0002_crlf.sql", 0),
        ("0003_latin1.sql", 0),
    ]
    assert "carriage return" in problems[0].message
    assert "UTF-8" in problems[1].message
