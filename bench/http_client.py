"""A signed-in HTTP client for the cockpit: pages, Dash callbacks by their outputs, and bytes on the wire.

Callbacks are posted to /_dash-update-component exactly as the browser does; the payload is built from
/_dash-dependencies, so it follows the pages' callbacks as they change."""

from __future__ import annotations

import gzip
import json
import re
import time

import requests

ENCODING = "gzip"  # what requests can decode; browsers also offer br (smaller), so these bytes are an upper bound


class Response:
    def __init__(self, status: int, seconds: float, sent: int, received: int, body: bytes):
        self.status, self.seconds, self.sent, self.received, self.body = status, seconds, sent, received, body

    def json(self):
        return json.loads(self.body)


class CockpitClient:
    def __init__(self, base: str, session: requests.Session | None = None):
        self.base = base.rstrip("/")
        self.s = session or requests.Session()
        self.s.headers["Accept-Encoding"] = ENCODING
        self._deps: list[dict] | None = None

    def _send(self, method: str, path: str, **kw) -> Response:
        t0 = time.perf_counter()
        r = self.s.request(method, self.base + path, stream=True, allow_redirects=False, timeout=120, **kw)
        raw = r.raw.read(decode_content=False)
        seconds = time.perf_counter() - t0
        body = gzip.decompress(raw) if r.headers.get("Content-Encoding") == "gzip" else raw
        req = r.request
        sent = len(req.body or b"") + sum(len(k) + len(v) + 4 for k, v in req.headers.items()) + len(req.url) + 16
        received = len(raw) + sum(len(k) + len(v) + 4 for k, v in r.headers.items()) + 17
        return Response(r.status_code, seconds, sent, received, body)

    def get(self, path: str) -> Response:
        return self._send("GET", path)

    def sign_in(self, name: str, password: str) -> None:
        page = self.s.get(self.base + "/login").text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        r = self.s.post(self.base + "/login", data={"csrf_token": token, "username": name, "password": password},
                        allow_redirects=False)
        if r.status_code != 302 or "/login" in r.headers.get("Location", ""):
            raise RuntimeError(f"sign-in as {name} failed: HTTP {r.status_code}")

    def sign_in_token(self, token: str) -> None:
        r = self.s.get(f"{self.base}/big?token={token}", allow_redirects=False)
        if r.status_code not in (200, 302):
            raise RuntimeError(f"wall token sign-in failed: HTTP {r.status_code}")

    def deps(self) -> list[dict]:
        if self._deps is None:
            self._deps = self.s.get(self.base + "/_dash-dependencies").json()
        return self._deps

    def payload(self, first_output: str, values: dict, changed: str) -> dict:
        return callback_payload(self.deps(), first_output, values, changed)

    def callback(self, first_output: str, values: dict, changed: str) -> Response:
        body = json.dumps(self.payload(first_output, values, changed)).encode()
        return self._send("POST", "/_dash-update-component", data=body,
                          headers={"Content-Type": "application/json", "Origin": self.base})

    def version(self, page: str) -> list:
        """The page's snapshot key, as its poll callback returns it."""
        r = self.callback(f"{page}-version.data", {f"{page}-poll.n_intervals": 1}, f"{page}-poll.n_intervals")
        return r.json()["response"][f"{page}-version"]["data"]


def callback_payload(deps: list[dict], first_output: str, values: dict, changed: str) -> dict:
    """The POST body of the callback whose first output is `first_output` ("id.prop"), as the browser
    sends it; `values` maps "id.prop" of its inputs/state to values (missing ones are None)."""
    dep = next(d for d in deps if d["output"].strip(".").split("...")[0] == first_output)
    outs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]} for o in dep["output"].strip(".").split("...")]

    def item(x):
        return {"id": x["id"], "property": x["property"], "value": values.get(f"{x['id']}.{x['property']}")}

    return {"output": dep["output"], "outputs": outs if len(outs) > 1 else outs[0],
            "inputs": [item(x) for x in dep["inputs"]], "state": [item(x) for x in dep["state"]],
            "changedPropIds": [changed]}
