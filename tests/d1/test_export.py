"""The exporter: same input gives the same bytes, --check notices staleness, D1's
forbidden statements never reach a file, and a migration D1 would refuse fails the export."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from shop.cli import main
from shop.d1 import export
from shop.services.migrations import MIGRATIONS_DIR

# sqlite_only: D1 is SQLite's dialect.
pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parents[2]


def test_export_is_byte_identical_for_the_same_input(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    export.write(first)
    export.write(second)
    names = sorted(p.name for p in first.glob("*.sql"))
    assert names == sorted(p.name for p in second.glob("*.sql")) != []
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes()
        assert (first / name).read_bytes() == (ROOT / "sql" / "d1" / name).read_bytes()


def test_check_passes_on_main_and_fails_when_stale(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["d1", "export", "--check"])
    assert ok.exit_code == 0, ok.output
    out = tmp_path / "d1"
    shutil.copytree(ROOT / "sql" / "d1", out)
    stale_file = sorted(out.glob("*.sql"))[0]
    stale_file.write_text(stale_file.read_text() + "-- edited by hand\n")
    stale = runner.invoke(main, ["d1", "export", "--check", "--out", str(out)])
    assert stale.exit_code == 1
    assert stale_file.name in stale.output
    (out / "9999_extra.sql").write_text("SELECT 1;\n")
    assert "9999_extra.sql" in runner.invoke(
        main, ["d1", "export", "--check", "--out", str(out)]).output
    refused = runner.invoke(main, ["d1", "export", "--out", str(out)])
    assert refused.exit_code == 1
    assert "add a new migration" in refused.output
    assert stale_file.read_text().endswith("-- edited by hand\n")
    written = runner.invoke(main, ["d1", "export", "--out", str(out), "--force"])
    assert written.exit_code == 0, written.output
    assert not (out / "9999_extra.sql").exists()
    assert runner.invoke(main, ["d1", "export", "--check", "--out", str(out)]).exit_code == 0


def test_d1_statements_drops_what_d1_forbids_and_inlines_parameters() -> None:
    executed = [
        ("BEGIN IMMEDIATE", ()), ("SAVEPOINT \"s1\"", ()), ("PRAGMA foreign_keys = 0", ()),
        ("CREATE TABLE t (a TEXT)", ()), ("SELECT * FROM t", ()),
        ('INSERT INTO "migratehistory" ("name") VALUES (?)', ("001_x",)),
        ("INSERT INTO t (a) VALUES (?)", ("it's",)), ("PRAGMA defer_foreign_keys = on", ()),
        ("WITH n AS (SELECT 1 AS v) UPDATE t SET a = (SELECT v FROM n)", ()),
        ("RELEASE SAVEPOINT \"s1\"", ()), ("COMMIT", ()),
    ]
    assert export.d1_statements(executed) == [
        "CREATE TABLE t (a TEXT);", "INSERT INTO t (a) VALUES ('it''s');",
        "PRAGMA defer_foreign_keys = on;",
        "WITH n AS (SELECT 1 AS v) UPDATE t SET a = (SELECT v FROM n);"]


def test_every_shipped_file_ends_with_a_semicolon_and_uses_lf() -> None:
    for path in sorted((ROOT / "sql" / "d1").glob("*.sql")):
        data = path.read_bytes()
        assert b"\r" not in data
        assert data.rstrip().endswith(b";")
        assert b"BEGIN TRANSACTION" not in data
        assert re.search(rb"PRAGMA\s+foreign_keys\b", data) is None


def test_a_migration_d1_would_refuse_fails_the_export(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__*"))
    (folder / "002_temp.py").write_text(
        "def migrate(migrator, database, *, fake=False):\n"
        "    migrator.sql('CREATE TEMP TABLE scratch (a INTEGER)')\n")
    with pytest.raises(export.ExportError, match="TEMP"):
        export.build(folder)
