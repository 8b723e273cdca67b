"""The phone of a department user (条, role department): its department's figures (the definitions of the tablet's
department view: queries/department_views.py department_kpis, contract/metrics.py DEPARTMENT_RATES) over the
assessment period PERIOD, and its open cases now. The page (layouts/small.py) lays it out in the phone's usual
ids, so one render callback fills either; a figure the source does not give says 未接入, never 0."""

from __future__ import annotations

from dash import html

from components.format import fmt_count, fmt_rate
from components.widgets import kpi_card
from config.labels import label
from contract.metrics import DEPARTMENT_RATES
from queries import department_views as dv
from queries.window_views import Window, resolve_window
from snapshots.reader import Snapshot

PERIOD = "month"  # the figures' window: this month, the 部门榜's default period on the tablet and the wall
# overdue, open and at-risk cases now; then this month's cases and assessment rates
TILES = ("overdue_now", "open_now", "at_risk_now", "reported", "on_time_closure_rate", "closure_rate")


def period_window(snap: Snapshot, now) -> Window:
    return resolve_window(PERIOD, snap.as_of or now)


def title(snap: Snapshot, city, dept: str, region: str, scope: str) -> str:
    """The department's name, with the region when the user looks at part of the city: 南京市城市管理局 · 玄武区."""
    name = dv.department_name(snap, dept) or dept
    return name if region == city.code else label("dept_overview", name=name, region=city.short_name(region))


def tiles(kpis: dict) -> list:
    """The phone's tiles (ids small-kpi-<key>): counts now and this month's rates; 未接入 where the field is missing."""
    gone = set(kpis.get("missing", []))
    out = []
    for key in TILES:
        if key in gone:
            out.append(kpi_card("small", key, label("not_connected"), nc=True))
            continue
        fmt = fmt_rate if key in DEPARTMENT_RATES else fmt_count
        out.append(kpi_card("small", key, fmt(kpis.get(key))))
    return out


def period_note(w: Window) -> html.P:
    return html.P(label("dept_phone_period", period=label(f"window_{PERIOD}"), first=f"{w.first:%m-%d}",
                        last=f"{w.last:%m-%d}"), className="note small-dept-period", id="small-dept-period")
