"""Load model for the concurrency benchmark (run headless by bench.run): phones and walls, each
polling like the real pages (every COCKPIT_POLL_MS) and re-rendering when the snapshot changes.

Sessions come signed in (cookies from bench.run in BENCH_COOKIES), so the load is the pages'
traffic, not 200 argon2 sign-ins. Users are FastHttpUser (geventhttpclient): with locust's default
requests-based HttpUser, 204 users in one process on this machine added ~100 ms to every request
on the client side while gunicorn answered in 2-6 ms (its access log) and sat idle two thirds of
the time, so the figure measured the load generator rather than the cockpit."""

from __future__ import annotations

import json
import os
import random

import requests
from locust import FastHttpUser, constant_pacing, task

from bench.http_client import callback_payload

COOKIES = json.loads(os.environ.get("BENCH_COOKIES", "{}"))
PHONE_REGION = os.environ.get("BENCH_PHONE_REGION", "")
DRILL_REGIONS = json.loads(os.environ.get("BENCH_DRILL_REGIONS", "[]"))
POLL_S = float(os.environ.get("BENCH_POLL_S", "2"))


_DEPS: list[dict] = []


def deps(host: str, cookies: dict) -> list[dict]:
    """The pages' callbacks (/_dash-dependencies), fetched once per locust process."""
    if not _DEPS:
        _DEPS.extend(requests.get(host + "/_dash-dependencies", cookies=cookies, timeout=60).json())
    return _DEPS


class _Cockpit(FastHttpUser):
    abstract = True
    wait_time = constant_pacing(POLL_S)
    role = ""

    def on_start(self):
        self.headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in COOKIES[self.role].items()),
                        "Origin": self.host, "Accept-Encoding": "gzip"}
        self.client.get("/_dash-dependencies", headers=self.headers, name="/_dash-dependencies")  # as a page load does
        self.deps = deps(self.host, COOKIES[self.role])
        self.known = None

    def post(self, name: str, first_output: str, values: dict, changed: str):
        body = callback_payload(self.deps, first_output, values, changed)
        with self.client.post("/_dash-update-component", json=body, name=name, catch_response=True,
                              headers=self.headers) as r:
            if r.status_code == 204:
                r.success()
                return None
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
                return None
            return r.json()["response"]

    def poll(self, page: str) -> bool:
        """True when the snapshot changed since this user last rendered."""
        out = self.post(f"{page} poll", f"{page}-version.data", {f"{page}-poll.n_intervals": 1,
                                                                 f"{page}-version.data": self.known},
                        f"{page}-poll.n_intervals")
        if out is None:
            return False
        self.known = out[f"{page}-version"]["data"]
        return True


class Phone(_Cockpit):
    role = "phone"

    @task
    def use(self):
        if self.poll("small") or random.random() < 0.1:  # a new snapshot, or the user opens the screen again
            self.post("small render", "small-kpis.children", {"small-version.data": self.known,
                                                              "small-region.data": PHONE_REGION}, "small-version.data")
        if DRILL_REGIONS and random.random() < 0.1:  # a leader's phone drills down
            region = random.choice(DRILL_REGIONS)
            self.post("medium drill-down", "medium-kpis.children",
                      {"medium-version.data": self.known,
                       "medium-state.data": {"region": region, "window": "7d", "measure": "overdue"}},
                      "medium-state.data")


class Wall(_Cockpit):
    fixed_count = int(os.environ.get("BENCH_WALLS", "4"))
    role = "wall"
    figure = None

    @task
    def refresh(self):
        if not self.poll("big") and self.figure is not None:
            return
        self.post("big panels", "big-kpi-reported-value.children", {"big-version.data": self.known}, "big-version.data")
        out = self.post("big map", "big-map.figure", {"big-version.data": self.known, "big-measure.value": "overdue", "big-level.value": "district",
                                                      "big-map.figure": self.figure}, "big-version.data")
        if out is not None and self.figure is None:
            self.figure = out["big-map"]["figure"]
