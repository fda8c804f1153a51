"""The ``shop`` command: every command documents itself; migrate and seed-demo are idempotent."""

from __future__ import annotations

import sqlite3

import click
import pytest

from shop.cli import main


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
    assert "applied 1 migration" in first.output
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
