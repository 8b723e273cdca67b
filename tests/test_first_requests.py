"""A fresh web worker's first requests (found by the wall soak): Dash sets itself up in the first request
of a process and sets its "done" flag before the work, so on a threaded server (gunicorn gthread, Flask's
own) the requests that arrive alongside see an empty script registry and get 500s (plotly/dash#3971). A
wall that loads, or reloads at 04:00, against a worker just started or recycled would show a blank page.
Here a real gunicorn gthread worker is hit with a burst of script requests the moment its port opens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from config.settings import ROOT
from demo.embedded_redis import free_port

SCRIPTS = ["/_dash-component-suites/dash/dash-renderer/build/dash_renderer.min.js",
           "/_dash-component-suites/dash/dcc/dash_core_components.js",
           "/_dash-component-suites/dash/html/dash_html_components.min.js",
           "/_dash-component-suites/dash/dcc/dash_core_components-shared.js"]


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def test_a_fresh_threaded_worker_answers_its_first_burst_of_script_requests(redis_server, tmp_path):
    import requests

    env = {k: v for k, v in os.environ.items() if not k.startswith("COCKPIT_")}
    env |= {"COCKPIT_REDIS_URL": redis_server.url, "COCKPIT_SOURCE_URL": f"sqlite:///{tmp_path}/source.db",
            "COCKPIT_APP_DB_URL": f"sqlite:///{tmp_path}/app.db", "COCKPIT_SECRET_KEY": "first-" + "k" * 32,
            "COCKPIT_RUN_ETL": "false"}
    port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", "16", "-w", "1", "-b",
                            f"127.0.0.1:{port}", "dashboard.wsgi:server"], cwd=ROOT, env=env,
                           stdout=open(tmp_path / "web.log", "w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not port_open(port):
            assert web.poll() is None and time.monotonic() < deadline, (tmp_path / "web.log").read_text()[-800:]
            time.sleep(0.01)
        go = threading.Barrier(48)

        def get(path: str) -> int:
            go.wait()
            return requests.get(f"http://127.0.0.1:{port}{path}", timeout=60).status_code

        with ThreadPoolExecutor(48) as pool:
            statuses = list(pool.map(get, SCRIPTS * 12))
    finally:
        web.terminate()
        web.wait(30)
    assert statuses == [200] * len(statuses), f"{statuses.count(500)} of {len(statuses)} got 500"
