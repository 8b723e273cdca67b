"""The structure stays checked: the import layers (import-linter contracts in pyproject.toml) hold, the
type hints check (mypy, [tool.mypy] in pyproject.toml), and no test module imports conftest or another
test module (shared fixtures are in conftest.py, shared plain helpers in helpers.py).
The tools run from the same virtualenv as the tests; on failure their output is the message."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from config.settings import ROOT

BIN = Path(sys.executable).parent
TESTS = ROOT / "tests"


def run_tool(name: str) -> subprocess.CompletedProcess:
    tool = BIN / name
    assert tool.exists(), f"{tool} is missing: pip install -r requirements-dev.txt"
    return subprocess.run([str(tool)], cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_import_layers_hold():
    r = run_tool("lint-imports")
    assert r.returncode == 0, f"lint-imports failed:\n{r.stdout[-6000:]}\n{r.stderr[-2000:]}"
    assert "broken" in r.stdout and " 0 broken" in r.stdout, r.stdout[-2000:]


def test_type_hints_check():
    r = run_tool("mypy")
    assert r.returncode == 0, f"mypy failed:\n{r.stdout[-8000:]}\n{r.stderr[-2000:]}"
    assert "Success: no issues found" in r.stdout, r.stdout[-2000:]  # notes (annotation-unchecked) may come first


def test_test_modules_import_no_test_module():
    problems = []
    for path in sorted(TESTS.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                last = n.split(".")[-1]
                if last == "conftest" or last.startswith("test_"):
                    problems.append(f"{path.name}:{node.lineno} imports {n}")
    assert not problems, "\n".join(problems)
