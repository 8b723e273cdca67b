"""Relative paths in settings and options mean relative to where the command was typed: cockpit.py makes
them absolute before it changes directory to the product folder (docs/connect-a-source.md)."""

from __future__ import annotations

from pathlib import Path

import cockpit


def test_relative_settings_and_options_resolve_against_the_callers_folder(tmp_path):
    env = {"COCKPIT_SOURCE_MAPPING": "maps/city.toml", "COCKPIT_CITY_DIR": "/srv/city",
           "COCKPIT_SOURCE_URL": "sqlite:///data/src.db", "COCKPIT_APP_DB_URL": "sqlite:////var/app.db",
           "COCKPIT_SUPERVISION_OUTBOX_URL": "postgresql://u@h/db", "COCKPIT_BRIEFING_DIR": "briefs", "PATH": "/bin"}
    argv = ["source", "check", "--mapping", "m.toml", "--source-url=sqlite:///x.db", "--json"]
    out_env, out_argv = cockpit.absolute_paths(env, argv, tmp_path)
    assert out_env["COCKPIT_SOURCE_MAPPING"] == str(tmp_path / "maps" / "city.toml")
    assert out_env["COCKPIT_CITY_DIR"] == "/srv/city"  # absolute: as it was
    assert out_env["COCKPIT_SOURCE_URL"] == f"sqlite:///{tmp_path}/data/src.db"
    assert out_env["COCKPIT_APP_DB_URL"] == "sqlite:////var/app.db"
    assert out_env["COCKPIT_SUPERVISION_OUTBOX_URL"] == "postgresql://u@h/db"
    assert out_env["COCKPIT_BRIEFING_DIR"] == str(tmp_path / "briefs") and out_env["PATH"] == "/bin"
    assert out_argv == ["source", "check", "--mapping", str(tmp_path / "m.toml"), f"--source-url=sqlite:///{tmp_path}/x.db",
                        "--json"]
    assert cockpit.absolute_url("sqlite:///:memory:", Path("/x")) == "sqlite:///:memory:"
