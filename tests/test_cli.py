"""The ``shop`` command: every command documents itself; migrate and seed-demo are idempotent."""

from __future__ import annotations

import sqlite3

import click
import pytest

from shop.cli import main
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
    conn = sqlite3.connect(db_path)
    # Every unit of stock came from a ledger row.
    mismatched = conn.execute(
        "SELECT p.sku FROM products p LEFT JOIN stock_moves m ON m.product_id = p.id "
        "GROUP BY p.id HAVING p.stock_quantity <> coalesce(sum(m.qty_change), 0)").fetchall()
    assert mismatched == []
    assert conn.execute("SELECT count(*) FROM products WHERE status = 'active'").fetchone()[0] == 6
    assert conn.execute("SELECT count(*) FROM sell_items").fetchone()[0] == 2
    conn.close()


def test_create_admin_rejects_a_short_password_without_a_traceback(runner) -> None:
    result = runner.invoke(["create-admin", "--email", "a@b.ie", "--password-stdin"],
                           input="short\n")
    assert result.exit_code == 1
    assert "at least 10" in result.output
    assert "Traceback" not in result.output


def test_create_admin_for_a_new_user_needs_a_password(runner) -> None:
    result = runner.invoke(["create-admin", "--email", "new@b.ie"], input="")
    assert result.exit_code == 1
    assert "needs a password" in result.output


def test_a_bad_setting_is_a_clear_error(runner, monkeypatch) -> None:
    monkeypatch.setenv("SHOP_HOLD_MINUTES", "soon")
    result = runner.invoke(["migrate"])
    assert result.exit_code == 1
    assert "SHOP_HOLD_MINUTES" in result.output


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
    conn = sqlite3.connect(db_path)
    try:
        generated = conn.execute(
            "SELECT count(*), count(DISTINCT brand), count(DISTINCT category), "
            "count(DISTINCT size), min(price_cents) < max(price_cents), "
            "sum(status = 'active') FROM products WHERE sku LIKE 'GEN-%'").fetchone()
        assert generated[0] == 150 and generated[1] > 10 and generated[2] > 5
        assert generated[3] > 5 and generated[4] and 100 < generated[5] < 150
        assert conn.execute("SELECT count(*) FROM images WHERE cloudflare_id LIKE 'gen-%'"
                            ).fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM sqlite_stat1").fetchone()[0] > 0
    finally:
        conn.close()
    assert runner.invoke(["stock", "verify"]).exit_code == 0


def test_stock_verify_lists_what_breaks_the_invariants_and_exits_1(runner, db_path) -> None:
    runner.invoke(["seed-demo", "--password", "demo password 1"])
    ok = runner.invoke(["stock", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "ok: 6 products, 6 moves, 0 holds" in ok.output
    conn = sqlite3.connect(db_path)
    # What only a writer going around the triggers could do: the checks must see it.
    conn.executescript("""
        DROP TRIGGER products_stock_follows_ledger;
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
    conn = sqlite3.connect(db_path)
    conn.executescript("DROP TRIGGER products_stock_follows_ledger;"
                       "UPDATE products SET stock_quantity = stock_quantity + 5 "
                       "WHERE id IN (3, 20, 46);")
    conn.close()
    bad = runner.invoke(["stock", "verify"])
    assert bad.exit_code == 1
    flagged = [line for line in bad.output.splitlines() if "ledger sums to" in line]
    assert [line.split()[1] for line in flagged] == ["3", "20", "46"]
