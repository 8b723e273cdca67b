"""Bytes the wall (/big) receives per refresh, measured in Chromium against a running cockpit.

    python scripts/wall_bytes.py --url http://127.0.0.1:8050 [--token demo-wall-token] [--seconds 30] [--size 9600x2160]

Leaves the wall open for --seconds of live updates and reports, per new snapshot, the callback
responses it caused (the version poll, the panels' values and the map's values): bytes on the wire
(gzip, body + headers) and decoded body bytes; plus the idle polls in between.
"""

from __future__ import annotations

import argparse
import json
import sys
from urllib.parse import urlparse

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
READY_JS = "() => document.querySelectorAll('#big-map .choroplethlocation').length > 0"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8050")
    ap.add_argument("--token", default="demo-wall-token")
    ap.add_argument("--query", default="&page=overview", help="extra query of the wall URL")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--size", default="1920x1080", help="the wall's screen, WIDTHxHEIGHT px (the layout is the browser's)")
    args = ap.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        ap.error(f"--size: WIDTHxHEIGHT, e.g. 9600x2160 (got {args.size!r})")
    from playwright.sync_api import sync_playwright

    rows: list[dict] = []

    def on_response(resp) -> None:
        if "/_dash-update-component" not in resp.url:
            return
        try:
            sizes = resp.request.sizes()
            wire = sizes["responseBodySize"] + sizes["responseHeadersSize"]
            body = resp.body() if resp.status == 200 else b""
            outputs = json.loads(resp.request.post_data or "{}").get("output", "")
        except Exception:  # noqa: BLE001 - aborted responses
            return
        rows.append({"wire": wire, "body": len(body), "status": resp.status, "output": outputs[:60],
                     "non_local": urlparse(resp.url).hostname not in ("127.0.0.1", "localhost")})

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": width, "height": height}).new_page()
        page.goto(f"{args.url.rstrip('/')}/big?token={args.token}{args.query}")
        page.wait_for_function(READY_JS, timeout=30_000)
        page.wait_for_timeout(3000)
        rows.clear()
        page.on("response", on_response)
        page.wait_for_timeout(args.seconds * 1000)
        browser.close()
    versions = [r for r in rows if "big-version" in r["output"] and r["status"] == 200]
    data = [r for r in rows if "big-version" not in r["output"] and r["status"] == 200]
    polls = [r for r in rows if "big-version" in r["output"]]
    n = max(1, len(versions))
    wire = sum(r["wire"] for r in versions + data) / n
    body = sum(r["body"] for r in versions + data) / n
    print(f"{args.size}, {args.seconds:.0f} s of live wall: {len(versions)} new snapshots, {len(polls)} polls, "
          f"{len(rows)} callback responses")
    print(f"per refresh: {wire / 1024:.1f} KiB on the wire, {body / 1024:.1f} KiB decoded "
          f"(poll + panels + map values)")
    for r in sorted(data, key=lambda r: -r["body"])[:3]:
        print(f"    {r['wire'] / 1024:6.1f} KiB wire {r['body'] / 1024:6.1f} KiB decoded  {r['output']}…")
    idle = [r for r in polls if r["status"] == 204]
    if idle:
        print(f"idle poll: {sum(r['wire'] for r in idle) / len(idle):.0f} B on the wire each ({len(idle)} polls)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
