"""Screenshots of the three screens at their design sizes, from a running cockpit.

    python scripts/screenshots.py --url http://127.0.0.1:8050 --out docs/screenshots

Signs in through /login first (--user/--password: the demo's city leader by default; the phone
pages as the demo's street and community staff, --phone-user/--phone-password, --grid-user/--grid-password).

Opens the wall (/big, laid out for each screen's shape) at 1920x1080, 3840x2160, 5760x1080 (3x1 1080p
screens, ?tiles=3x1), 5760x3240 (3x3), 7680x2160 and 9600x2160 (5x2); the tablet page
(/medium) at 1366x1024 at every level, an event timeline, and at 1024x768 and 2048x1536; the phone page (/small) at 390x844.
Each page is captured once its data has arrived (the reported KPI shows a number and the map has drawn
its regions; up to --timeout seconds) and its map has stopped resizing. Needs Playwright and a Chromium
(Debian package /usr/bin/chromium by default; --chromium to change).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
WALLS = [(1920, 1080, "page=overview"), (3840, 2160, "page=overview"), (5760, 1080, "tiles=3x1"),
         (5760, 3240, "tiles=3x3"), (7680, 2160, ""), (9600, 2160, "tiles=5x2")]  # (width, height, wall query)

DATA_READY_JS = """(s) => { const v = document.querySelector(`#${s}-kpi-reported .kpi-value`);
  const img = document.querySelector(`img#${s}-map`);  // the phone's map is a server-drawn SVG image
  return !!v && v.textContent.trim() !== '' && v.textContent.trim() !== '—'
    && (img ? img.complete && img.naturalWidth > 0
            : document.querySelectorAll(`#${s}-map .choroplethlocation`).length > 0); }"""
MAP_SIZE_JS = """(s) => { const gd = document.querySelector(`#${s}-map .js-plotly-plot`);
  return gd && gd._fullLayout ? [gd._fullLayout.width, gd._fullLayout.height] : null; }"""
FIRST_RANKED_JS = """() => { const a = document.querySelector('#medium-ranking-table tbody a');
  return a ? a.getAttribute('href') : null; }"""


class ShotError(RuntimeError):
    pass


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8050", help="base URL of the running cockpit")
    ap.add_argument("--out", default="docs/screenshots", type=Path, help="folder for the PNG files")
    ap.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium executable")
    ap.add_argument("--timeout", default=30.0, type=float, help="seconds to wait for each page's data")
    ap.add_argument("--district", help="district code of medium-district.png (default: the first ranked)")
    ap.add_argument("--street", help="street code of medium-street.png (default: the district's first ranked)")
    ap.add_argument("--user", default="leader", help="who signs in for the wall and tablet shots")
    ap.add_argument("--password", default="leader-demo")
    ap.add_argument("--phone-user", default="meiyuan", help="street staff for the phone shots")
    ap.add_argument("--phone-password", default="meiyuan-demo")
    ap.add_argument("--grid-user", default="grid1", help="community/grid staff for the phone shots")
    ap.add_argument("--grid-password", default="grid1-demo")
    ap.add_argument("--only", choices=["big", "medium", "small", "departments", "vitals"], action="append",
                    help="take only these screens' shots (repeatable; default: all)")
    return ap.parse_args(argv)


def region_of(href: str | None) -> str | None:
    return parse_qs(urlparse(href or "").query).get("region", [None])[0]


class Shooter:
    def __init__(self, browser, base_url: str, out: Path, timeout_s: float):
        self.browser, self.base, self.out, self.timeout_s = browser, base_url.rstrip("/"), out, timeout_s
        self.non_local: set[str] = set()
        self.state = None  # the signed-in session (cookies), reused by every context

    def sign_in(self, user: str, password: str) -> None:
        ctx = self.browser.new_context()
        page = ctx.new_page()
        page.goto(self.base + "/login", timeout=self.timeout_s * 1000)
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        if "/login" in page.url:
            ctx.close()
            raise ShotError(f"sign-in as {user} failed (wrong user or password?)")
        self.state = ctx.storage_state()
        ctx.close()

    def open(self, path: str, screen: str, width: int, height: int):
        """A page at `path` in a fresh context of the given viewport, once its data is shown."""
        ctx = self.browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1,
                                       storage_state=self.state)
        page = ctx.new_page()
        page.on("request", self._check_local)
        page.goto(self.base + path, wait_until="load", timeout=self.timeout_s * 1000)
        try:
            page.wait_for_function(DATA_READY_JS, arg=screen, timeout=self.timeout_s * 1000)
        except Exception as exc:  # noqa: BLE001 - say which page and why
            ctx.close()
            raise ShotError(f"{path}: no data within {self.timeout_s:.0f} s ({exc.__class__.__name__})") from exc
        self._settle(page, screen, path)
        return ctx, page

    def _check_local(self, request) -> None:
        u = urlparse(request.url)
        if u.scheme not in ("data", "blob") and u.hostname not in LOCAL_HOSTS:
            self.non_local.add(request.url)

    @staticmethod
    def _settle(page, screen: str, path: str, max_s: float = 6.0) -> None:
        """Wait until the map keeps its size for half a second (plotly autosizes after the first draw)."""
        last, deadline = None, time.monotonic() + max_s
        while time.monotonic() < deadline:
            if screen == "small":  # an <img>: no autosize
                page.wait_for_timeout(300)
                return
            size = page.evaluate(MAP_SIZE_JS, screen)
            if size is not None and size == last:
                page.wait_for_timeout(300)  # transitions, fonts
                return
            last = size
            page.wait_for_timeout(500)
        print(f"warning: {path}: the map is still resizing after {max_s:.0f} s (last size {last}); "
              "captured anyway", file=sys.stderr)

    def shot(self, path: str, screen: str, width: int, height: int, name: str, tap: str | None = None,
             scroll: str | None = None, wait_for: str = "#small-timeline"):
        ctx, page = self.open(path, screen, width, height)
        try:
            if tap:  # e.g. the phone's first event: its detail and timeline
                page.locator(tap).first.click()
                page.wait_for_selector(wait_for, timeout=self.timeout_s * 1000)
                page.wait_for_timeout(300)
            if scroll:  # e.g. the phone's map, below the fold; a department's panel, below the ranking
                page.wait_for_selector(scroll, timeout=self.timeout_s * 1000)
                page.evaluate("(sel) => { const e = document.querySelector(sel); (e.closest('.panel') || e)"
                              ".scrollIntoView({block: sel.startsWith('#medium-dept') ? 'start' : 'end'}); }", scroll)
                page.wait_for_timeout(300)
            target = self.out / name
            page.screenshot(path=str(target), full_page=False)
            print(f"{target}  ({width}x{height}, {path})")
            return page.evaluate(FIRST_RANKED_JS) if screen == "medium" else None
        finally:
            ctx.close()


def tablet(s: Shooter, args) -> None:
    """The tablet at each level (city, district, street, community, grid: each the busiest child of the
    one before, the ranking sorted by events), an event timeline, and the city at 1024x768 and 2048x1536."""
    path = "/medium?window=7d&sort=reported"
    code = district = None
    for level, given in (("city", None), ("district", args.district), ("street", args.street),
                         ("community", None), ("grid", None)):
        if level != "city":
            code = given or code
            if not code:
                raise ShotError(f"{path}: no {level} in the ranking table")
            path = f"/medium?region={code}&window=7d&sort=reported"
            district = district or code
        code = region_of(s.shot(path, "medium", 1366, 1024, f"medium-{level}.png"))
    s.shot("/medium?window=quarter", "medium", 1024, 768, "medium-city-1024x768.png")
    s.shot("/medium?window=30d", "medium", 2048, 1536, "medium-city-2048x1536.png")
    s.shot(f"/medium?region={district}", "medium", 1366, 1024, "medium-event.png", tap="#medium-overdue-list a",
           wait_for="#medium-timeline")


def vitals(s: Shooter, args) -> None:
    """城市体征: the wall's map coloured by an indicator by district (1920x1080, the 城市体征 page) and a district's
    vital signs on the tablet over 近7日 (1366x1024, scrolled to the panel)."""
    s.shot("/big?page=vitals", "big", 1920, 1080, "big-vitals-map-1920x1080.png")
    district = args.district or "320102"
    s.shot(f"/medium?region={district}&window=7d", "medium", 1366, 1024, "medium-vitals-7d-1366x1024.png",
           scroll="#medium-vitals .mv-rows")


def departments(s: Shooter) -> None:
    """The tablet's department ranking (部门榜) and a department's view (住建, the slow one) at 1366x1024; the
    wall's department page (部门履职) at 1920x1080."""
    s.shot("/big?page=departments", "big", 1920, 1080, "big-departments-1920x1080.png")
    s.shot("/medium?rank=month", "medium", 1366, 1024, "medium-departments-1366x1024.png", scroll="#medium-dept-table")
    s.shot("/medium?rank=month&dept=ZJ", "medium", 1366, 1024, "medium-department-view-1366x1024.png",
           scroll="#medium-dept-title")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("screenshots: Playwright is not installed (pip install playwright)", file=sys.stderr)
        return 2
    if not Path(args.chromium).is_file():
        print(f"screenshots: no Chromium at {args.chromium} (apt-get install chromium, or --chromium)",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        s = Shooter(browser, args.url, args.out, args.timeout)
        try:
            s.sign_in(args.user, args.password)
            if not args.only or "big" in args.only:
                for w, h, query in WALLS:
                    s.shot(f"/big?{query}", "big", w, h, f"big-{w}x{h}.png")
                s.shot("/big?page=vitals", "big", 1920, 1080, "big-vitals-1920x1080.png")  # 城市体征
                s.shot("/big?page=vitals", "big", 3840, 2160, "big-vitals-3840x2160.png")
                s.shot("/big?canvas=32:9&page=vitals", "big", 7680, 2160, "big-vitals-7680x2160.png")
            if not args.only or "medium" in args.only:
                tablet(s, args)
            if not args.only or "departments" in args.only:
                departments(s)
            if not args.only or "vitals" in args.only:
                vitals(s, args)
            if args.only and "small" not in args.only:
                return 0
            s.sign_in(args.phone_user, args.phone_password)
            s.shot("/small", "small", 390, 844, "small-390x844.png")
            s.shot("/small", "small", 390, 844, "small-event-390x844.png", tap="#small-queue a.ev-link")
            s.shot("/small", "small", 390, 844, "small-map-390x844.png", scroll="#small-map")
            s.sign_in(args.grid_user, args.grid_password)
            s.shot("/small", "small", 390, 844, "small-grid-390x844.png")
        except ShotError as exc:
            print(f"screenshots: {exc}", file=sys.stderr)
            return 1
        finally:
            browser.close()
    if s.non_local:
        print("warning: the pages requested non-local URLs:\n  " + "\n  ".join(sorted(s.non_local)),
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
