"""The layer rules of DESIGN.md §2, checked mechanically."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

# engine_fixed: no database: the import rules.
pytestmark = pytest.mark.engine_fixed

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert result.stdout.count("KEPT") >= 3


FORBIDDEN_CALLS = {"atomic", "transaction", "write_transaction", "savepoint", "save",
                   "begin", "commit", "manual_commit", "create", "delete_instance",
                   "execute_sql", "insert_many", "get_or_create"}


def test_views_and_commands_never_open_transactions_or_save() -> None:
    offenders = []
    sources = [*sorted((ROOT / "shop" / "api").glob("*.py")),
               *sorted((ROOT / "shop" / "pages").glob("*.py")), ROOT / "shop" / "cli.py"]
    assert any(p.parent.name == "pages" for p in sources)
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in FORBIDDEN_CALLS:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}()")
    assert offenders == []
