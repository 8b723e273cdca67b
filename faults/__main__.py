"""`python3 cockpit.py faults` (python -m faults): the long fault runs, then docs/reliability.md.

Runs the fault tests in their long variants (COCKPIT_FAULTS_LONG=1: the source down 10 minutes, Redis
down 20 s) with each measured figure recorded (COCKPIT_FAULTS_REPORT), then the week-on-the-wall soak
(faults/soak.py, 60 minutes by default), and writes what they measured to docs/reliability.md. About 80
minutes in all; `--soak-minutes 0 --short` for a quick look (the tests' own short variants)."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from config.settings import ROOT
from faults.report import write_report

FAULT_TESTS = ["tests/test_faults.py", "tests/test_faults_source.py", "tests/test_sentinel.py",
               "tests/test_embedded_redis.py", "tests/test_bad_input.py"]


def run_fault_tests(figures: Path, long: bool, select: str | None) -> tuple[int, str]:
    """The fault tests as pytest runs them, the figures going to `figures`: pytest's exit code and its
    summary line (e.g. "52 passed in 300.1s")."""
    env = {**os.environ, "COCKPIT_FAULTS_REPORT": str(figures), "COCKPIT_FAULTS_LONG": "1" if long else "0"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *FAULT_TESTS, *(["-k", select] if select else [])]
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    summary = ""
    for line in proc.stdout or ():
        print(line, end="", flush=True)
        if re.search(r"\d+ (passed|failed|error)", line):
            summary = line.strip(" =\n")
    return proc.wait(), summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 cockpit.py faults", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--soak-minutes", type=float, default=60.0, help="the wall soak's length (0: no soak)")
    ap.add_argument("--short", action="store_true", help="the fault tests' short variants (as in the test suite)")
    ap.add_argument("-k", dest="select", help="only the fault tests matching this pytest -k expression")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability.md")
    ap.add_argument("--soak-out", type=Path, default=None, help="folder for the soak's samples (default: a temp folder)")
    ap.add_argument("--soak-from", type=Path, default=None,
                    help="take the soak from this folder's summary.json (a `python -m faults.soak` run) instead of running one")
    ap.add_argument("--figures-from", type=Path, default=None,
                    help="rewrite the report from a run's figures.jsonl (its path is printed) instead of running the tests")
    a = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="cockpit-faults-"))
    figures = work / "figures.jsonl"
    if a.figures_from:
        figures, code = a.figures_from, 0
        tests = next((json.loads(x)["pytest"] for x in figures.read_text().splitlines() if '"pytest"' in x), "")
    else:
        code, tests = run_fault_tests(figures, not a.short, a.select)
        with open(figures, "a", encoding="utf-8") as out:  # kept with the figures, for --figures-from
            out.write(json.dumps({"pytest": tests}) + "\n")
    soak = None
    if a.soak_from:
        soak = json.loads((a.soak_from / "summary.json").read_text(encoding="utf-8"))
        soak["command"] = f"python -m faults.soak --minutes {soak['run_s'] / 60:.0f} --out {a.soak_from}"
    elif a.soak_minutes > 0:
        from faults.soak import run_soak

        soak = run_soak(a.soak_minutes, a.soak_out or work / "soak")
    command = "python3 cockpit.py faults" + "".join(f" {x}" for x in (argv if argv is not None else sys.argv[1:]))
    write_report(a.out, figures, soak, command, f"`pytest {' '.join(FAULT_TESTS)}`: {tests or 'no summary'}")
    print(f"wrote {a.out} ({figures}; fault tests exit code {code})")
    return code or (0 if soak is None or soak["pass"] else 1)


if __name__ == "__main__":
    sys.exit(main())
