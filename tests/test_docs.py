"""The README's promises: a two-command Quickstart, and CI runs exactly its test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

# engine_fixed: no database: the README and CI.
pytestmark = pytest.mark.engine_fixed

ROOT = Path(__file__).resolve().parents[1]


def _quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Quickstart\n(.*?)^## ", readme, re.S | re.M)
    assert section, "README.md has no Quickstart section"
    block = re.search(r"```sh\n(.*?)```", section.group(1), re.S)
    assert block, "the Quickstart has no sh block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_quickstart_has_exactly_two_commands_that_exist() -> None:
    commands = _quickstart_commands()
    assert len(commands) == 2
    for command in commands:
        script = ROOT / command.split()[0]
        assert script.is_file(), command
        assert script.stat().st_mode & 0o111, f"{command} is not executable"


def test_ci_runs_the_readme_test_command() -> None:
    test_command = _quickstart_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert f"exec {test_command}" in ci


def test_docs_and_changelog_exist() -> None:
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text()
    for name in ("architecture.md", "d1.md"):
        assert (ROOT / "docs" / name).is_file(), name


def test_every_setting_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    config = (ROOT / "shop" / "config.py").read_text()
    for name in set(re.findall(r'"(SHOP_[A-Z_]+)"', config)):
        assert name in readme, f"{name} is not in the README's settings table"


def test_every_benchmark_has_help_and_is_listed_in_the_readme() -> None:
    import subprocess
    import sys

    readme = (ROOT / "README.md").read_text()
    for script in sorted((ROOT / "benchmarks").glob("[a-z]*.py")):
        result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                                text=True, timeout=60, cwd=ROOT)
        assert result.returncode == 0, (script.name, result.stderr)
        assert "usage:" in result.stdout and "python benchmarks/" in result.stdout
        assert f"benchmarks/{script.name}" in readme, f"{script.name} is not in the README"


def test_every_command_is_in_the_readme() -> None:
    from click import Group

    from shop.cli import main

    readme = (ROOT / "README.md").read_text()

    def names(group: Group, prefix: str) -> list[str]:
        out = []
        for name, command in group.commands.items():
            if isinstance(command, Group):
                out.extend(names(command, f"{prefix}{name} "))
            else:
                out.append(f"{prefix}{name}")
        return out

    for command in names(main, "shop "):
        assert f"`{command}" in readme, f"{command} is not in the README's commands table"
