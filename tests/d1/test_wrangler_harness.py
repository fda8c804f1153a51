"""The wrangler harness against the real, pinned wrangler CLI (offline, `--local`).

These tests need `npm ci` to have been run in the project; without node_modules they fail
(not skip) with a message saying so, because CI is expected to install it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shop.d1.wrangler import Wrangler, WranglerError, WranglerNotInstalledError

# sqlite_only: D1 is SQLite's dialect.
pytestmark = [pytest.mark.wrangler, pytest.mark.sqlite_only]

ROOT = Path(__file__).resolve().parents[2]

MIGRATION_1 = """\
CREATE TABLE "parent" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL CHECK (length("name") > 0)
);
CREATE TABLE "child" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "parent_id" INTEGER NOT NULL REFERENCES "parent" ("id") ON DELETE CASCADE,
    "label" TEXT NOT NULL DEFAULT ''
);
CREATE INDEX "ix_child_parent" ON "child" ("parent_id") WHERE "label" <> '';
"""

MIGRATION_2 = """\
CREATE TRIGGER "trg_child_label" BEFORE INSERT ON "child"
FOR EACH ROW WHEN NEW."label" = 'forbidden'
BEGIN
    SELECT RAISE(ABORT, 'child: label is forbidden; pick another');
END;
"""


@pytest.fixture(scope="module")
def wrangler(tmp_path_factory: pytest.TempPathFactory) -> Wrangler:
    """One local D1 database with the two migrations applied (wrangler calls are slow)."""
    base = tmp_path_factory.mktemp("d1")
    migrations = base / "migrations"
    migrations.mkdir()
    (migrations / "0001_init.sql").write_text(MIGRATION_1, encoding="utf-8")
    (migrations / "0002_trigger.sql").write_text(MIGRATION_2, encoding="utf-8")
    harness = Wrangler(ROOT, base / "state", migrations)
    harness.apply_migrations()
    return harness


def test_schema_is_visible_in_the_sqlite_file(wrangler: Wrangler) -> None:
    path = wrangler.sqlite_path()
    assert path.suffix == ".sqlite"
    assert path.name != "metadata.sqlite"
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        objects = dict(
            conn.execute(
                "SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            ).fetchall()
        )
        fks = conn.execute(
            'SELECT "table", "on_delete" FROM pragma_foreign_key_list(?)', ("child",)
        )
        foreign_keys = fks.fetchall()
    finally:
        conn.close()
    assert objects == {
        "_cf_METADATA": "table",
        "d1_migrations": "table",
        "parent": "table",
        "child": "table",
        "ix_child_parent": "index",
        "trg_child_label": "trigger",
    }
    assert foreign_keys == [("parent", "CASCADE")]


def test_schema_is_visible_through_execute(wrangler: Wrangler) -> None:
    rows = wrangler.execute(
        "SELECT name, type FROM sqlite_master WHERE name IN ('parent', 'child', "
        "'trg_child_label') ORDER BY name"
    )
    assert rows == [
        {"name": "child", "type": "table"},
        {"name": "parent", "type": "table"},
        {"name": "trg_child_label", "type": "trigger"},
    ]


def test_check_constraint_is_enforced(wrangler: Wrangler) -> None:
    error = wrangler.execute_expect_error("INSERT INTO parent (id, name) VALUES (100, '')")
    assert "CHECK constraint failed" in error
    assert wrangler.execute("SELECT count(*) AS n FROM parent WHERE id = 100") == [{"n": 0}]


def test_trigger_and_foreign_keys_are_enforced(wrangler: Wrangler) -> None:
    error = wrangler.execute_expect_error(
        "INSERT INTO parent (id, name) VALUES (200, 'p'); "
        "INSERT INTO child (id, parent_id, label) VALUES (200, 200, 'forbidden')"
    )
    assert "label is forbidden; pick another" in error
    error = wrangler.execute_expect_error("INSERT INTO child (id, parent_id) VALUES (201, 999999)")
    assert "FOREIGN KEY constraint failed" in error


def test_on_delete_cascade_runs(wrangler: Wrangler) -> None:
    rows = wrangler.execute(
        "INSERT INTO parent (id, name) VALUES (300, 'p'); "
        "INSERT INTO child (id, parent_id, label) VALUES (300, 300, 'a'), (301, 300, 'b'); "
        "DELETE FROM parent WHERE id = 300; "
        "SELECT count(*) AS n FROM child WHERE parent_id = 300"
    )
    assert rows == [{"n": 0}]


def test_execute_raises_with_d1_error_text(wrangler: Wrangler) -> None:
    with pytest.raises(WranglerError, match="no such table: nowhere"):
        wrangler.execute("SELECT * FROM nowhere")
    with pytest.raises(WranglerError, match="expected D1 to reject"):
        wrangler.execute_expect_error("SELECT 1 AS one")


def test_applying_again_is_a_no_op(wrangler: Wrangler) -> None:
    result = wrangler.apply_migrations()
    assert "No migrations to apply" in result.stdout
    rows = wrangler.execute("SELECT name FROM d1_migrations ORDER BY id")
    assert rows == [{"name": "0001_init.sql"}, {"name": "0002_trigger.sql"}]


def test_a_failing_migration_is_reported_and_not_recorded(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_bad.sql").write_text(
        "CREATE TABLE t (x INTEGER);\nSELECT sqlite_version();\n", encoding="utf-8"
    )
    harness = Wrangler(ROOT, tmp_path / "state", migrations)
    with pytest.raises(WranglerError) as info:
        harness.apply_migrations()
    assert info.value.returncode == 1
    assert "not authorized to use function: sqlite_version" in info.value.stderr
    assert "\x1b[" not in str(info.value)
    # all or nothing: neither the table nor the migration record exists
    assert harness.execute("SELECT name FROM sqlite_master WHERE name IN ('t')") == []
    assert harness.execute("SELECT count(*) AS n FROM d1_migrations") == [{"n": 0}]


def test_missing_node_modules_says_to_run_npm_ci(tmp_path: Path) -> None:
    harness = Wrangler(tmp_path / "project", tmp_path / "state", tmp_path / "migrations")
    with pytest.raises(WranglerNotInstalledError, match="npm ci"):
        harness.apply_migrations()


def test_execute_takes_sql_starting_with_a_comment_or_minus(wrangler: Wrangler) -> None:
    # passed as one `--command=` argument, otherwise yargs reads "-- ..." as an option
    assert wrangler.execute("-- a leading comment\nSELECT -1 AS x") == [{"x": -1}]


def test_execute_sends_large_sql_through_a_file(wrangler: Wrangler) -> None:
    text = "é" * 40_000  # 80,000 bytes: above the argv threshold, below D1's statement limit
    rows = wrangler.execute(f"SELECT length('{text}') AS n")
    assert rows == [{"n": 40_000}]
