"""Settings: every one documented in the README; a wrong one stops start-up naming the variable."""

import re

import pytest

from config.settings import ROOT, Settings, SettingsError, load_settings
from dashboard.__main__ import main


def test_every_setting_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(COCKPIT_[A-Z_]+)`", readme, re.M))
    declared = {f"COCKPIT_{name.upper()}" for name in Settings.model_fields}
    assert declared == documented


@pytest.mark.parametrize("env,value,named", [
    ("COCKPIT_PORT", "eighty", "COCKPIT_PORT"),
    ("COCKPIT_EVENTS_INTERVAL_S", "-1", "COCKPIT_EVENTS_INTERVAL_S"),
    ("COCKPIT_POLL_MSS", "100", "COCKPIT_POLL_MSS"),  # a typo is an unknown setting, not silently ignored
])
def test_bad_setting_names_the_variable(monkeypatch, env, value, named):
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError, match=named):
        load_settings()


def test_start_up_stops_with_the_message(monkeypatch, capsys):
    monkeypatch.setenv("COCKPIT_PORT", "eighty")
    assert main([]) == 2
    assert "COCKPIT_PORT" in capsys.readouterr().err


def test_bad_city_folder_stops_start_up(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COCKPIT_CITY_DIR", str(tmp_path))
    assert main([]) == 2
    assert "city.toml" in capsys.readouterr().err


def test_a_port_in_use_stops_start_up_before_anything_starts(tmp_path):
    """Another program on COCKPIT_PORT: the demo exits at once with code 2 naming the setting, before its Redis,
    simulator and ETL threads start (which kept a process whose server could not start running, logging errors)."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("COCKPIT_")}
        env |= {"COCKPIT_PORT": str(port), "COCKPIT_APP_DB_URL": f"sqlite:///{tmp_path}/app.db",
                "COCKPIT_SOURCE_URL": f"sqlite:///{tmp_path}/source.db"}
        run = subprocess.run([sys.executable, "-m", "demo"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=120)
    assert run.returncode == 2, run.stderr[-800:]
    assert "COCKPIT_PORT" in run.stderr and str(port) in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "source.db").exists()
