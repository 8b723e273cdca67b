"""The wall of the soak (faults/soak.py) in headless Chromium: /big opened with the demo wall token at
1920x1080, its carousel running. It counts what the wall lives through (page loads, so the daily reload;
carousel flips; polls, new snapshots and panel refreshes; console errors, failed requests, any request that
leaves localhost) and samples the page's JS heap and DOM nodes through the DevTools protocol."""

from __future__ import annotations

import json
import time
from collections import Counter
from urllib.parse import urlparse

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1920, "height": 1080}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
MB = 1024 * 1024

# Reports each carousel flip (the canvas's page-* class changing) to Python; set up again on every load.
FLIP_JS = """(() => {
  let last = null;
  setInterval(() => {
    const c = document.getElementById('big-canvas');
    const m = c && /(?:^|\\s)page-(\\S+)/.exec(c.className);
    if (m && m[1] !== last) { if (last !== null && window.__soakFlip) window.__soakFlip(m[1]); last = m[1]; }
  }, 250);
})();"""

# The wall shows data: the reported tile has a number and the map has drawn its regions.
DATA_JS = """() => { const v = document.querySelector('#big-kpi-reported .kpi-value');
  return !!v && v.textContent.trim() !== '' && v.textContent.trim() !== '—'
    && document.querySelectorAll('#big-map .choroplethlocation').length > 0; }"""

# Elements in the document, and the entries of dash-renderer's undo history (its redux store's history.past).
PAGE_JS = """() => { const s = window.store && window.store.getState && window.store.getState();
  return [document.getElementsByTagName('*').length, s && s.history ? s.history.past.length : null]; }"""


def is_local(url: str) -> bool:
    """A URL that stays on this machine (data:, blob:, about: or a local host)."""
    u = urlparse(url)
    if u.scheme in ("data", "blob", "about"):
        return True
    return u.hostname in LOCAL_HOSTS


class Wall:
    """One wall page in its own Chromium. Events arrive while `wait(s)` runs (Playwright's sync API)."""

    def __init__(self, playwright, fake_clock: bool = False):
        self.t0 = time.monotonic()
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        self.context = self.browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        if fake_clock:  # time flows as usual; jump() skips ahead (the test's way to reach the reload hour)
            self.page.clock.install()
        self.counts: Counter = Counter()
        self.versions: dict[int, float] = {}  # snapshot version -> seconds when the wall first saw it
        self.loads: list[float] = []  # seconds of each page load (the first, then each reload)
        self.pages_shown: Counter = Counter()
        self.errors: list[str] = []
        self.failed: list[str] = []  # requests that failed (not aborted) or answered >= 400
        self.aborted: list[str] = []  # cut by a navigation (net::ERR_ABORTED)
        self.non_local: list[str] = []
        self.shown_at: float | None = None  # when the wall first showed data (before: the opening)
        self.page.expose_function("__soakFlip", self._flip)
        self.page.add_init_script(FLIP_JS)
        self.context.on("request", self._request)
        self.context.on("requestfailed", self._request_failed)
        self.page.on("response", self._response)
        self.page.on("console", lambda m: self.errors.append(f"{self.now():.0f}s console: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"{self.now():.0f}s pageerror: {e}"))
        self.page.on("load", lambda _p: self.loads.append(self.now()))
        self.cdp = None

    def now(self) -> float:
        return time.monotonic() - self.t0

    # ------------------------------------------------------------------------------------ events
    def _flip(self, page: str) -> None:
        self.counts["flips"] += 1
        self.pages_shown[page] += 1

    def _request(self, request) -> None:
        self.counts["requests"] += 1
        if not is_local(request.url):
            self.non_local.append(request.url)

    def _request_failed(self, request) -> None:
        why = request.failure or "?"
        (self.aborted if "ERR_ABORTED" in why else self.failed).append(f"{self.now():.0f}s {request.url} {why}")

    def _response(self, r) -> None:
        if r.status >= 400:
            self.failed.append(f"{self.now():.0f}s {r.url} HTTP {r.status}")
        if "/_dash-update-component" not in r.url:
            return
        body = r.request.post_data or ""
        poll = '"output":"big-version.data"' in body
        self.counts["polls"] += poll
        if r.status != 200:  # 204: the poll found the same snapshot key
            return
        if poll:  # the poll answered with a new snapshot key
            try:
                version = json.loads(r.text())["response"]["big-version"]["data"][0]
            except Exception:  # noqa: BLE001 - a response cut by a reload
                return
            self.counts["new_keys"] += 1
            self.versions.setdefault(version, self.now())
        elif "big-sent.data" in body:  # the panels refreshed with the new snapshot's values
            self.counts["refreshes"] += 1

    # ------------------------------------------------------------------------------------ actions
    def open(self, url: str) -> None:
        """Open the wall and wait until it shows data. Once, as a wall is opened: a fresh worker's first
        requests are served whole since the Dash start-up race was fixed in the product (plotly/dash#3971,
        dashboard/service.py set_up_before_serving), so whatever fails while opening counts as a failure."""
        self.page.goto(url)
        self.wait_for_data()
        self.shown_at = self.now()
        self.loads = self.loads[-1:]  # the opening's loads are not reloads
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("Performance.enable")

    def wait_for_data(self, timeout_ms: float = 60_000) -> None:
        self.page.wait_for_function(DATA_JS, timeout=timeout_ms)

    def wait(self, seconds: float) -> None:
        """Let `seconds` pass while the page's events are delivered."""
        self.page.wait_for_timeout(max(1.0, seconds * 1000))

    def jump(self, ms: float) -> None:
        """Move the page's (fake) clock forward: due timers fire once, as after a long sleep."""
        self.page.clock.fast_forward(int(ms))

    def sample(self) -> dict:
        """JS heap (before and after a full GC) and DOM nodes now; {} while the page is navigating."""
        try:
            if self.cdp is None:
                self.cdp = self.context.new_cdp_session(self.page)
            self.cdp.send("Performance.enable")  # idempotent; on again after a reload
            before = self._metrics()
            self.cdp.send("HeapProfiler.collectGarbage")
            m = self._metrics()
            elements, history = self.page.evaluate(PAGE_JS)
        except Exception:  # noqa: BLE001 - mid-navigation: the next sample
            self.cdp = None
            return {}
        return {"heap_mb": round(m["JSHeapUsedSize"] / MB, 3),
                "heap_before_gc_mb": round(before["JSHeapUsedSize"] / MB, 3),
                "heap_total_mb": round(m["JSHeapTotalSize"] / MB, 3),
                "dom_nodes": int(m["Nodes"]), "dom_elements": int(elements),
                "js_listeners": int(m["JSEventListeners"]), "documents": int(m["Documents"]),
                "dash_history": history}

    def _metrics(self) -> dict:
        return {x["name"]: x["value"] for x in self.cdp.send("Performance.getMetrics")["metrics"]}

    def summary(self) -> dict:
        reloads = self.loads[1:]
        errors, failed = self.errors, self.failed
        return {"loads": len(self.loads), "reloads": len(reloads), "reload_at_s": [round(t, 1) for t in reloads],
                "flips": self.counts["flips"], "pages_shown": dict(self.pages_shown),
                "polls": self.counts["polls"], "polls_with_new_key": self.counts["new_keys"], "snapshots_seen": len(self.versions),
                "snapshots_seen_after_reload": sum(1 for t in self.versions.values() if reloads and t > reloads[-1]),
                "panel_refreshes": self.counts["refreshes"], "requests": self.counts["requests"],
                "console_errors": len(errors), "errors": errors[:20],
                "failed_requests": len(failed), "failed": failed[:20],
                "aborted_requests": len(self.aborted), "aborted": self.aborted[:10],
                "non_local_requests": len(self.non_local), "non_local": self.non_local[:20]}

    def close(self) -> None:
        try:
            self.context.close()
        finally:
            self.browser.close()
