"""The ``shop`` command: every command documents itself; migrate and seed-demo are idempotent."""

from __future__ import annotations

import click
import pytest

from shop.cli import main
from tests import engine
from tests.conftest import ROOT


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


COMMANDS = list(_commands(main))


def test_the_group_has_help_with_an_example(runner) -> None:
    result = runner.invoke(["--help"])
    assert result.exit_code == 0
    assert "Example" in result.output


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=" ".join)
def test_every_command_has_help_with_an_example(runner, path) -> None:
    result = runner.invoke([*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert "shop " in result.output


@pytest.mark.sqlite_only  # the file and its folder; PostgreSQL: test_postgresql_migrations.py
def test_migrate_creates_the_file_and_folder_and_is_idempotent(tmp_path) -> None:
    from click.testing import CliRunner

    path = tmp_path / "nested" / "dir" / "shop.db"
    first = CliRunner().invoke(main, ["--database", str(path), "migrate"])
    assert first.exit_code == 0, first.output
    shipped = len(list((ROOT / "migrations").glob("[0-9]*.py")))
    assert f"applied {shipped} migration(s)" in first.output
    assert "002_ledger_head" in first.output
    assert path.exists()
    second = CliRunner().invoke(main, ["--database", str(path), "migrate"])
    assert second.exit_code == 0 and "up to date" in second.output


def test_seed_demo_fills_the_catalogue_through_the_ledger_once(runner, db_path) -> None:
    result = runner.invoke(["seed-demo", "--password", "demo password 1"])
    assert result.exit_code == 0, result.output
    assert "seeded 6 products" in result.output
    again = runner.invoke(["seed-demo"])
    assert again.exit_code == 0 and "nothing changed" in again.output
    conn = engine.connect(db_path)
    # Every unit of stock came from a ledger row.
    mismatched = conn.execute(
        "SELECT p.sku FROM products p LEFT JOIN stock_moves m ON m.product_id = p.id "
        "GROUP BY p.id HAVING p.stock_quantity <> coalesce(sum(m.qty_change), 0)").fetchall()
    assert mismatched == []
    assert conn.execute("SELECT count(*) FROM products WHERE status = 'active'").fetchone()[0] == 6
    assert conn.execute("SELECT count(*) FROM sell_items").fetchone()[0] == 2
    conn.close()


@pytest.fixture
def migrated(runner, db_path):
    """A migrated database. On PostgreSQL the test's database has the schema already."""
    if not engine.postgresql():
        assert runner.invoke(["migrate"]).exit_code == 0
    return db_path


def test_create_admin_rejects_a_short_password_without_a_traceback(runner, migrated) -> None:
    result = runner.invoke(["create-admin", "--email", "a@b.ie", "--password-stdin"],
                           input="short\n")
    assert result.exit_code == 1
    assert "at least 10" in result.output
    assert "Traceback" not in result.output


def test_create_admin_for_a_new_user_needs_a_password(runner, migrated) -> None:
    result = runner.invoke(["create-admin", "--email", "new@b.ie"], input="")
    assert result.exit_code == 1
    assert "needs a password" in result.output


def test_a_bad_setting_is_a_clear_error(runner, monkeypatch) -> None:
    monkeypatch.setenv("SHOP_HOLD_MINUTES", "soon")
    result = runner.invoke(["migrate"])
    assert result.exit_code == 1
    assert "SHOP_HOLD_MINUTES" in result.output


@pytest.mark.sqlite_only  # a damaged file
def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path) -> None:
    from click.testing import CliRunner

    path = tmp_path / "notes.db"
    path.write_text("these are not the droids")
    result = CliRunner().invoke(main, ["--database", str(path), "migrate"])
    assert result.exit_code == 1
    assert "not a database" in result.output
    assert "Traceback" not in result.output


def test_seed_demo_products_makes_a_catalogue_once_with_statistics(runner, db_path) -> None:
    result = runner.invoke(["seed-demo", "--password", "demo password 1", "--products", "120"])
    assert result.exit_code == 0, result.output
    assert "generated 120 product(s)" in result.output
    again = runner.invoke(["seed-demo", "--products", "150"])
    assert "generated 30 product(s); the generated catalogue has 150" in again.output
    conn = engine.connect(db_path)
    try:
        generated = conn.execute(
            "SELECT count(*), count(DISTINCT brand), count(DISTINCT category), "
            "count(DISTINCT size), min(price_cents) < max(price_cents), "
            "sum(CASE WHEN status = 'active' THEN 1 ELSE 0 END) FROM products "
            "WHERE sku LIKE 'GEN-%'").fetchone()
        assert generated[0] == 150 and generated[1] > 10 and generated[2] > 5
        assert generated[3] > 5 and generated[4] and 100 < generated[5] < 150
        assert conn.execute("SELECT count(*) FROM images WHERE cloudflare_id LIKE 'gen-%'"
                            ).fetchone()[0] > 0
        # The planner's statistics were refreshed after the bulk load.
        assert conn.execute("SELECT count(*) FROM pg_stats WHERE tablename = 'products'"
                            if engine.postgresql() else "SELECT count(*) FROM sqlite_stat1"
                            ).fetchone()[0] > 0
    finally:
        conn.close()
    assert runner.invoke(["stock", "verify"]).exit_code == 0


# The guard that keeps a balance to its ledger, dropped (on PostgreSQL it names its table).
_DROP_GUARD = "DROP TRIGGER products_stock_follows_ledger" + (" ON products"
                                                             if engine.postgresql() else "")


def test_stock_verify_lists_what_breaks_the_invariants_and_exits_1(runner, db_path) -> None:
    runner.invoke(["seed-demo", "--password", "demo password 1"])
    ok = runner.invoke(["stock", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "ok: 6 products, 6 moves, 0 holds" in ok.output
    conn = engine.connect(db_path)
    # What only a writer going around the triggers could do: the checks must see it.
    conn.executescript(f"""
        {_DROP_GUARD};
        UPDATE products SET stock_quantity = 7 WHERE sku = 'DEMO-0002';
        UPDATE products SET ledger_head = 1 WHERE sku = 'DEMO-0003';
        INSERT INTO product_reservations (product_id, session_id, quantity, created_at,
            expires_at) SELECT id, 'ghost', 1, 'x', 'x' FROM products WHERE sku = 'DEMO-0004';
    """)
    conn.close()
    bad = runner.invoke(["stock", "verify"])
    assert bad.exit_code == 1
    lines = bad.output.splitlines()
    assert any("DEMO-0002" in line and "ledger sums to 1" in line for line in lines)
    assert any("DEMO-0003" in line and "ledger_head 1" in line for line in lines)
    assert any("DEMO-0004" in line and "holds 1 but its moves net to 0" in line
               for line in lines)
    assert not any("DEMO-0001" in line for line in lines)


@pytest.mark.sqlite_only  # --database names the SQLite file
def test_database_is_accepted_after_the_command_name_too(tmp_path) -> None:
    from click.testing import CliRunner

    path = tmp_path / "after" / "shop.db"
    for command in (["migrate"], ["seed-demo", "--password", "demo password 1"],
                    ["stock", "verify"]):
        result = CliRunner().invoke(main, [*command, "--database", str(path)])
        assert result.exit_code == 0, (command, result.output)
    assert "6 products" in result.output  # verify read the seeded file
    assert not (tmp_path / "var").exists()


def test_set_password_is_the_way_back_into_a_demo_account(runner, client) -> None:
    seeded = runner.invoke(["seed-demo", "--password", "demo password 1"])
    assert "shop set-password --email admin@example.com" in seeded.output
    result = runner.invoke(["set-password", "--email", "admin@example.com",
                            "--password-stdin"], input="a brand new password\n")
    assert result.exit_code == 0, result.output
    login = client.post("/api/auth/login", json={"email": "admin@example.com",
                                                 "password": "a brand new password"})
    assert login.status_code == 200
    short = runner.invoke(["set-password", "--email", "admin@example.com",
                           "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least 10" in short.output
    missing = runner.invoke(["set-password", "--email", "nobody@example.com",
                             "--password-stdin"], input="a brand new password\n")
    assert missing.exit_code == 1 and "no account" in missing.output


def test_stock_verify_walks_a_large_catalogue_in_ranges(runner, db_path, monkeypatch) -> None:
    """The check goes a range of product ids at a time (for its progress bar); a problem in
    any range is found, and none is reported twice."""
    from shop.services import stock

    monkeypatch.setattr(stock, "VERIFY_CHUNK", 7)
    runner.invoke(["seed-demo", "--password", "demo password 1", "--products", "40"])
    assert runner.invoke(["stock", "verify"]).exit_code == 0
    conn = engine.connect(db_path)
    conn.executescript(f"{_DROP_GUARD};"
                       "UPDATE products SET stock_quantity = stock_quantity + 5 "
                       "WHERE id IN (3, 20, 46);")
    conn.close()
    bad = runner.invoke(["stock", "verify"])
    assert bad.exit_code == 1
    flagged = [line for line in bad.output.splitlines() if "ledger sums to" in line]
    assert [line.split()[1] for line in flagged] == ["3", "20", "46"]


# --- safe from anywhere: a missing database is refused, user errors are one line -----------

# Every command and the arguments it needs to get as far as opening the database. Commands
# that create the database (migrate, serve, seed-demo), restore (which puts one in place)
# and d1 export (a scratch database) are the only ones allowed to run without it.
NEEDS_A_DATABASE = {
    ("analytics", "prune"): [],
    ("analytics", "rollup"): [],
    ("backup",): ["BACKUP"],
    ("db", "copy"): ["--to", "postgresql://nobody@localhost/nowhere"],
    ("create-admin",): ["--email", "owner@example.com", "--password-stdin"],
    ("expire-reservations",): [],
    ("mail", "send"): [],
    ("mail", "status"): [],
    ("media", "gc"): [],
    ("offers", "expire"): [],
    ("offers", "remind"): [],
    ("orders", "expire-unpaid"): [],
    ("set-password",): ["--email", "owner@example.com", "--password-stdin"],
    ("stock", "verify"): [],
}
MAY_RUN_WITHOUT_ONE = {("migrate",), ("serve",), ("seed-demo",), ("restore",),
                       ("d1", "export")}


def _one_error_line(result) -> str:
    """The error, one line: the last on stderr (after a progress bar's label, if any)."""
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    return errors[0]


def test_every_command_is_listed_as_needing_a_database_or_not() -> None:
    leaves = {path for path, command in COMMANDS if not isinstance(command, click.Group)}
    assert leaves == set(NEEDS_A_DATABASE) | MAY_RUN_WITHOUT_ONE


@pytest.mark.sqlite_only  # a missing file
@pytest.mark.parametrize("path", sorted(NEEDS_A_DATABASE), ids=" ".join)
def test_a_missing_database_is_refused_with_exit_2_creating_nothing(tmp_path, path) -> None:
    from click.testing import CliRunner

    missing = tmp_path / "typo" / "shop.db"
    args = [str(tmp_path / "b.db") if a == "BACKUP" else a for a in NEEDS_A_DATABASE[path]]
    result = CliRunner().invoke(main, ["--database", str(missing), *path, *args],
                                input="a long enough password\n")
    assert result.exit_code == 2, result.output
    line = _one_error_line(result)
    assert str(missing) in line
    assert "run `shop migrate` first" in line and "--database / SHOP_DATABASE" in line
    assert list(tmp_path.iterdir()) == []  # no file, no folder


@pytest.mark.sqlite_only  # SHOP_DATABASE, the file
def test_the_database_from_the_environment_is_checked_too(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    monkeypatch.chdir(tmp_path)  # run from anywhere: a relative default must not be created
    monkeypatch.delenv("SHOP_DATABASE", raising=False)
    result = CliRunner().invoke(main, ["stock", "verify"])
    assert result.exit_code == 2
    assert "no database at var/shop.db" in _one_error_line(result)
    monkeypatch.setenv("SHOP_DATABASE", str(tmp_path / "elsewhere.db"))
    result = CliRunner().invoke(main, ["offers", "expire"])
    assert result.exit_code == 2
    assert "elsewhere.db" in _one_error_line(result)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.sqlite_only  # a file on a new disk; PostgreSQL: test_postgresql_backup.py
def test_restore_may_put_the_database_on_a_new_disk(runner, migrated, tmp_path) -> None:
    """Restore makes the database like migrate does: after losing the disk, the file and
    its folder are missing and the verified copy becomes them."""
    from click.testing import CliRunner

    backup = tmp_path / "copy.db"
    assert runner.invoke(["backup", str(backup)]).exit_code == 0
    lost = tmp_path / "new-disk" / "shop.db"
    restored = CliRunner().invoke(main, ["--database", str(lost), "restore", str(backup)])
    assert restored.exit_code == 0, restored.output
    assert f"restored {lost} from {backup}" in restored.output
    assert _sqlite_schema(lost) == _sqlite_schema(migrated)


@pytest.mark.sqlite_only  # a file the shop cannot use
@pytest.mark.parametrize(("setup", "args", "says", "code"), [
    ("junk", ["stock", "verify"], "is not a SQLite database", 1),
    ("empty", ["offers", "expire"], "run `shop migrate`", 1),
    ("folder", ["stock", "verify"], "is a folder, not a file", 2),
    ("folder", ["migrate"], "is a folder, not a file", 2),
], ids=["not-sqlite", "not-migrated", "folder", "folder-migrate"])
def test_a_file_the_shop_cannot_use_is_one_line(tmp_path, setup, args, says, code) -> None:
    from click.testing import CliRunner

    path = tmp_path / "shop.db"
    if setup == "junk":
        path.write_text("these are not the droids")
    elif setup == "empty":
        path.touch()
    else:
        path.mkdir()
    result = CliRunner().invoke(main, ["--database", str(path), *args])
    assert result.exit_code == code, result.output
    line = _one_error_line(result)
    assert says in line and str(path) in line


def _sqlite_schema(path) -> list[tuple]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        conn.close()


def _schema(path) -> list[tuple]:
    """The test's database's schema (on PostgreSQL: its columns, triggers and indexes)."""
    if not engine.postgresql():
        return _sqlite_schema(path)
    conn = engine.connect(path)
    try:
        return conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' UNION ALL "
            "SELECT event_object_table, trigger_name, event_manipulation "
            "FROM information_schema.triggers UNION ALL "
            "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = 'public' ORDER BY 1, 2, 3").fetchall()
    finally:
        conn.close()


# The file's backup and restore are SQLite's (PostgreSQL's: test_postgresql_backup.py).
_FILE = pytest.mark.sqlite_only


@pytest.mark.parametrize(("args", "says", "code"), [
    pytest.param(["backup", "{db}"], "is the live database itself", 1, marks=_FILE),
    (["backup", "{tmp}"], "is a folder", 1),
    (["backup", "{tmp}/notes.txt/copy.db"], "is a file, not a folder", 1),
    pytest.param(["restore", "{db}"], "is the live database itself", 1, marks=_FILE),
    (["restore", "{tmp}"], "is a folder", 1),
    (["restore", "{tmp}/nothing.db"], "there is no backup at", 1),
    (["restore", "{tmp}/notes.txt"],  # pg_restore's own words on PostgreSQL
     "failed: pg_restore: error:" if engine.postgresql() else "is not a good copy", 1),
    (["create-admin", "--email", "not an email", "--password-stdin"],
     "is not an email address", 1),
    (["set-password", "--email", "nobody@example.com", "--password-stdin"], "no account", 1),
    (["analytics", "rollup", "--day", "0001-01-01"], "give a day from 1970-01-01", 2),
    (["analytics", "rollup", "--day", "9999-12-31"], "give a day from 1970-01-01", 2),
    (["analytics", "rollup", "--day", "yesterday"], "--day", 2),
    (["analytics", "prune", "--days", "0"], "--days", 2),
], ids=lambda v: v if isinstance(v, str) else None)
def test_user_errors_are_one_line_without_a_traceback(runner, migrated, tmp_path, args, says,
                                                      code) -> None:
    (tmp_path / "notes.txt").write_text("not a backup")
    before = _schema(migrated)
    args = [a.format(db=migrated, tmp=tmp_path) for a in args]
    result = runner.invoke(args, input="a long enough password\n")
    assert result.exit_code == code, result.output
    assert says in result.stderr
    assert "Traceback" not in result.output
    if code == 1:
        _one_error_line(result)
    # The live database is where it was, untouched; nothing was set aside.
    assert _schema(migrated) == before
    assert not list(tmp_path.glob("*before-restore*"))


def test_a_password_that_is_not_utf8_is_one_line(runner, migrated) -> None:
    result = runner.invoke(["create-admin", "--email", "owner@example.com", "--password-stdin"],
                           input=b"\xff\xfe not utf-8 at all")
    assert result.exit_code == 1
    assert "not UTF-8" in _one_error_line(result)


@pytest.mark.sqlite_only  # D1 export
def test_a_path_the_system_refuses_is_one_line(tmp_path) -> None:
    """An OSError on a path the user gave (here a folder under a file) names the path."""
    from click.testing import CliRunner

    (tmp_path / "notes.txt").write_text("a file, not a folder")
    out = tmp_path / "notes.txt" / "d1"
    result = CliRunner().invoke(main, ["d1", "export", "--out", str(out)])
    assert result.exit_code == 1
    assert _one_error_line(result) == f"Error: {out}: Not a directory"
