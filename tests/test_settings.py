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
