"""Bytes a phone downloads for the small screen, measured in Chromium against a running cockpit.

    python scripts/phone_bytes.py --url http://127.0.0.1:8050 [--user meiyuan --password meiyuan-demo]

Prints, for the first load (empty cache), a reload (cache warm), one live refresh (a new snapshot
arrives: the poll answer, the page's callback and the map image) and 30 s of idle polling: requests,
bytes on the wire (gzip, body + headers) and decoded body bytes, and the largest responses.
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlparse

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
READY_JS = """() => { const v = document.querySelector('#small-kpi-reported .kpi-value');
  const img = document.querySelector('img#small-map');
  return v && v.textContent.trim() !== '' && img && img.complete && img.naturalWidth > 0; }"""


class Meter:
    def __init__(self):
        self.rows: list[tuple[str, int, int, bool]] = []

    def on_response(self, response) -> None:
        try:
            sizes = response.request.sizes()
            wire = sizes["responseBodySize"] + sizes["responseHeadersSize"]
        except Exception:  # noqa: BLE001 - a response without sizes (e.g. aborted)
            wire = 0
        try:
            body = len(response.body())
        except Exception:  # noqa: BLE001 - redirects have no body
            body = 0
        cached = response.from_service_worker or response.status == 304
        self.rows.append((urlparse(response.url).path, wire, body, cached))

    def take(self) -> list[tuple[str, int, int, bool]]:
        rows, self.rows = self.rows, []
        return rows


def report(name: str, rows) -> None:
    wire = sum(r[1] for r in rows)
    body = sum(r[2] for r in rows)
    print(f"{name:<22} {len(rows):>4} requests  {wire / 1024:>8.1f} KiB on the wire  {body / 1024:>8.1f} KiB decoded")
    for path, w, b, _ in sorted(rows, key=lambda r: -r[1])[:5]:
        print(f"    {w / 1024:>8.1f} KiB wire {b / 1024:>8.1f} KiB decoded  {path}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8050")
    ap.add_argument("--user", default="meiyuan")
    ap.add_argument("--password", default="meiyuan-demo")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args(argv)
    base = args.url.rstrip("/")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 390, "height": 844})
        page = ctx.new_page()
        page.goto(base + "/login")
        page.fill("input[name=username]", args.user)
        page.fill("input[name=password]", args.password)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        if "/login" in page.url:
            print("phone_bytes: sign-in failed", file=sys.stderr)
            return 1
        state = ctx.storage_state()
        ctx.close()

        ctx = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=state)
        page = ctx.new_page()
        meter = Meter()
        page.on("response", meter.on_response)
        page.goto(base + "/small")
        page.wait_for_function(READY_JS, timeout=30_000)
        page.wait_for_timeout(800)
        report("first load (cold)", meter.take())

        before = page.inner_text("#small-freshness")
        page.wait_for_function("(t) => document.querySelector('#small-freshness').textContent !== t",
                               arg=before, timeout=60_000)
        page.wait_for_function(READY_JS)
        page.wait_for_timeout(800)
        report("live refresh", meter.take())

        page.reload()
        page.wait_for_function(READY_JS, timeout=30_000)
        page.wait_for_timeout(800)
        report("reload (warm cache)", meter.take())

        page.wait_for_timeout(30_000)
        report("30 s on screen", meter.take())
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
