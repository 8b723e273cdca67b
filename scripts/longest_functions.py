"""The longest functions of the product's packages (lines from `def` to the last line of the body):

    python scripts/longest_functions.py [--top 10] [ROOT]

For a review: a function that grows past a screen is where a module wants splitting."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

PACKAGES = ("config", "contract", "snapshots", "etl", "queries", "dashboard", "components", "layouts", "briefing", "demo")


def functions(root: Path):
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield node.end_lineno - node.lineno + 1, f"{path.relative_to(root)}:{node.lineno} {node.name}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parent.parent))
    ap.add_argument("--top", type=int, default=10)
    a = ap.parse_args()
    for n, where in sorted(functions(Path(a.root)), reverse=True)[:a.top]:
        print(f"{n:5d}  {where}")


if __name__ == "__main__":
    main()
