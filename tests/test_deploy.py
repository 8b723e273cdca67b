"""The production kit in deploy/ is consistent with the code (containers cannot be built here, so
the files are parsed): the compose services, every COCKPIT_* name is a declared setting, the web
port is the one the proxy and gunicorn use, the systemd units start modules that exist."""

from __future__ import annotations

import configparser
import re
import runpy

import yaml

from config.settings import ROOT, Settings

DEPLOY = ROOT / "deploy"
SETTINGS = {f"COCKPIT_{name.upper()}" for name in Settings.model_fields}


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_has_the_services_of_the_design():
    services = compose()["services"]
    assert {"redis", "redis-replica", "sentinel-1", "sentinel-2", "sentinel-3", "appdb", "etl", "web", "proxy"} \
        <= set(services)
    assert services["etl"]["command"] == ["python", "-m", "dashboard.etl"]
    assert services["web"]["environment"]["COCKPIT_RUN_ETL"] == "false"  # the ETL is its own service
    assert "gunicorn" in services["web"]["command"] and "dashboard.wsgi:server" in services["web"]["command"]
    assert services["proxy"]["ports"] == ["443:443", "80:80"]


def test_every_cockpit_name_in_deploy_is_a_setting():
    used = set()
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            used |= set(re.findall(r"\bCOCKPIT_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    assert used and used <= SETTINGS, used - SETTINGS
    env = compose()["services"]["web"]["environment"]
    assert {"COCKPIT_REDIS_SENTINELS", "COCKPIT_SECRET_KEY", "COCKPIT_APP_DB_URL"} <= set(env)


def test_ports_agree_between_web_proxy_gunicorn_and_sentinels():
    web = compose()["services"]["web"]
    port = web["environment"]["COCKPIT_PORT"]
    assert web["expose"] == [port]
    assert f"reverse_proxy web:{port}" in (DEPLOY / "Caddyfile").read_text()
    conf = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"), init_globals={})
    assert conf["bind"].endswith(":8050") and conf["workers"] >= 1 and conf["max_requests"] > 0
    sentinels = web["environment"]["COCKPIT_REDIS_SENTINELS"].split(",")
    assert sentinels == [f"sentinel-{i}:26379" for i in (1, 2, 3)]
    assert "port 26379" in (DEPLOY / "sentinel.conf").read_text()
    assert "sentinel monitor " + web["environment"]["COCKPIT_REDIS_SERVICE"] in (DEPLOY / "sentinel.conf").read_text()


def test_systemd_units_start_modules_that_exist():
    for unit in (DEPLOY / "systemd").glob("*.service"):
        cp = configparser.ConfigParser(strict=False, interpolation=None)
        cp.read(unit)
        start = cp["Service"]["ExecStart"]
        module = re.search(r"-m (\S+)|(\S+):server", start)
        name = (module.group(1) or module.group(2)).replace(".", "/")
        assert (ROOT / f"{name}.py").exists() or (ROOT / name / "__main__.py").exists(), (unit.name, start)
        assert cp["Service"]["EnvironmentFile"] == "/etc/cockpit/cockpit.env"
