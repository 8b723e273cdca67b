"""The structure stays checked: the import layers (import-linter contracts in pyproject.toml) hold, the
type hints check (mypy, [tool.mypy] in pyproject.toml), and no test module imports conftest or another
test module (shared fixtures are in conftest.py, shared plain helpers in helpers.py).
The tools run from the same virtualenv as the tests; on failure their output is the message."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.slow
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


def product_import_graph() -> dict[str, set[str]]:
    """Module -> the product modules it imports, at any depth of its code (an import inside a function counts:
    import-linter's layers see those too, but a cycle inside one layer is not a layer violation)."""
    packages = ("config", "contract", "snapshots", "etl", "queries", "dashboard", "components", "layouts", "briefing",
                "demo", "citymodel", "faults")
    paths = {}
    for pkg in packages:
        for path in (ROOT / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            paths[name] = path
    graph: dict[str, set[str]] = {m: set() for m in paths}
    for name, path in paths.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in paths and t != name}
    return graph


def test_no_import_cycles():
    graph = product_import_graph()
    assert len(graph) > 100
    # strongly connected components with more than one module (Tarjan, iterative)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[v] = min(low[v], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    cycles.append(sorted(comp))
    assert not cycles, f"import cycles: {cycles}"
