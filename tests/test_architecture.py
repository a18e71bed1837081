"""The layers of ARCHITECTURE.md hold: import-linter's contracts (pyproject.toml) and no import hidden in a
function body to dodge a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import tomllib

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("mockserver", "contracts", "fixtures", "modelux_spec")
# Imports of the project's own modules inside functions, each with the reason it is not at the top.
DEFERRED: dict[tuple[str, str], str] = {
    ("contracts/plugin.py", "mockserver.testing"): "judging a remote target never loads the mock",
}


def test_import_linter_contracts_are_kept(capsys):
    status = lint_imports(config_filename=str(ROOT / "pyproject.toml"))
    assert status == 0, capsys.readouterr().out[-4000:]


def function_level_imports(path: Path) -> list[str]:
    """The project modules a file imports inside function bodies."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.ImportFrom):
                name = "." * sub.level + (sub.module or "")
            elif isinstance(sub, ast.Import):
                name = sub.names[0].name
            else:
                continue
            if name.startswith(".") or name.split(".")[0] in PROJECT:
                found.append(name)
    return found


def test_no_project_import_is_deferred_into_a_function():
    offenders = []
    for package in ("mockserver", "contracts", "fixtures", "spec"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for name in function_level_imports(path):
                if (relative, name) not in DEFERRED:
                    offenders.append(f"{relative}: {name}")
    assert not offenders, "imports inside functions (move them to the top, or say why in DEFERRED):\n" + \
        "\n".join(offenders)


def test_the_check_sees_a_deferred_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import json\n\ndef f():\n    from .handlers import routing\n    import mockserver.app\n    "
                      "import json\n")
    assert function_level_imports(sample) == [".handlers", "mockserver.app"]


def test_every_package_is_installed():
    """A package directory missing from pyproject's list works in the checkout and breaks the installed tool."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for init in ROOT.glob("*/**/__init__.py"):
        parts = init.parent.relative_to(ROOT).parts
        if parts[0] in ("mockserver", "contracts", "fixtures", "spec"):
            found.add(".".join(("modelux_spec",) + parts[1:] if parts[0] == "spec" else parts))
    assert found - listed == set(), f"packages not in pyproject.toml: {sorted(found - listed)}"
