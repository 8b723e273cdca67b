"""A region's daily briefing (日报) as plain data: one dict per region and day, built only from the
published snapshot through the screens' own queries, so the briefing and the tablet cannot disagree.
The day's figures are the tablet's one-day custom window (queries/window_views.py `tablet_window_figures`
over the `event_pieces@<week>` frames), compared with the day before and the same weekday a week earlier; the
lists are the snapshot's state at `as_of` (queries/views.py: overdue, recurring, alerts, cameras, safety).
Rendering (briefing/render.py) and the PDF (briefing/pdf.py) only format this dict; the tests recount it."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import pandas as pd

from components.format import alert_text, is_missing, is_not_connected, place_path
from config.city import City
from contract.metrics import DEPARTMENT_SCORE, FUNNEL, NOT_CONNECTED, QUANTILES
from queries import department_views, forecast_views, views, window_views
from snapshots.reader import Snapshot

LEVELS = ("city", "district", "street")  # the regions that get a briefing
# The day's figures with their comparisons: key -> kind (count: a difference; rate: percentage points)
DAY_KPIS = {"reported": "count", "closed": "count", "on_time_rate": "rate", "same_day_rate": "rate",
            "grid_settled_rate": "rate", "satisfaction_rate": "rate", "cohort_overdue": "count"}
TOP_OVERDUE = 5
TOP_RECURRING = 5
TREND_DAYS = 7
MAX_RANKED = 20  # a street has up to ~30 communities; the briefing lists the best and worst 10


def clean(v):
    """JSON-able scalars: NaN/None -> None, numpy numbers -> int/float, times -> ISO text; a figure the source
    cannot give stays NOT_CONNECTED (queries/views.py honest), so the briefing says 未接入 as the screens do."""
    if is_not_connected(v):
        return v
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (pd.Timestamp, datetime)):
        return None if pd.isna(v) else pd.Timestamp(v).isoformat(timespec="minutes")
    if hasattr(v, "item"):  # numpy scalar
        return clean(v.item())
    return v


def regions_for_briefing(city: City, root: str | None = None) -> list[str]:
    """The city, its districts and its streets (or those under `root`), in code order."""
    regs = city.regions
    regs = regs[regs["level"].isin(LEVELS)]
    if root:
        regs = regs[regs["code"].str.startswith(root)]
    return sorted(regs["code"].tolist(), key=lambda c: (len(c), c))


def day_window(snap: Snapshot, day: date, history_days: int | None = None) -> window_views.Window:
    """The tablet's custom window of exactly one local day."""
    as_of = snap.as_of or datetime.combine(day + timedelta(days=1), datetime.min.time())
    return window_views.resolve_window("custom", as_of, day.isoformat(), day.isoformat(), history_days)


def issue_number(day: date) -> int:
    """第N期: the day of the year (a daily briefing is numbered from 1 each January)."""
    return day.timetuple().tm_yday


def build_briefing(snap: Snapshot, city: City, code: str, day: date, weights: dict[str, float],
                   history_days: int | None = None) -> dict:
    """The briefing of one region for one local day (see the module docstring for where each part comes from)."""
    w = day_window(snap, day, history_days)
    prev, week = (day_window(snap, day - timedelta(days=n), history_days) for n in (1, 7))
    k, kp, kw = (window_views.tablet_window_figures(snap, code, x) for x in (w, prev, week))
    as_of = snap.as_of
    return {
        "code": code, "name": city.region_name(code), "level": city.level_of(code), "city": city.name,
        "issuer": city.region_name(([*city.ancestors(code), code][:2])[-1]),  # the city's, or the district's centre
        "day": day.isoformat(), "year": day.year, "issue": issue_number(day),
        "as_of": clean(as_of), "snapshot_version": snap.version,
        "kpis": [{"key": key, "kind": kind, "day": clean(k.get(key)), "prev": clean(kp.get(key)),
                  "week": clean(kw.get(key))} for key, kind in DAY_KPIS.items()],
        "counts": {key: clean(k.get(key)) for key in ("reported", "closed", "closed_on_time", "cohort_overdue",
                                                       "cohort_open", "same_day_cleared", "escalated")},
        "stocks": {"open": clean(k.get("open")), "overdue": clean(k.get("overdue"))},
        "funnel": [{"key": key, "stage": stage, "n": clean(k.get(key))} for stage, key, _ in FUNNEL],
        "stages": [{"stage": s, "median": clean(k.get(f"median_{s}_min")), "p90": clean(k.get(f"p90_{s}_min"))}
                   for s in QUANTILES],
        "trend": trend(snap, code, day, history_days),
        **overdue_part(snap, city, code, as_of),
        **recurring_part(snap, city, code),
        **ranking_part(snap, city, code, w, weights),
        "departments": department_part(snap, code, w, weights),
        "alerts": alerts_part(snap, code),
        "tomorrow": tomorrow_part(snap, code, day),  # 明日预计 (queries/forecast_views.py)
        "at_risk": len(views.at_risk(snap, code)),  # 将超期 as of the snapshot
        "supervision": {k: clean(v) for k, v in views.supervision_totals(snap, code).items()},
        **camera_part(snap, city, code),
        "safety": {key: clean(v) for key, v in views.safety_rank(snap, city, code).items()
                   if key in ("code", "own", "month", "safety_index", "public_security", "index_change", "rank", "of")},
    }


def trend(snap: Snapshot, code: str, day: date, history_days: int | None) -> list[dict]:
    """The TREND_DAYS days ending on `day`: events reported, closed and the on-time rate of each."""
    out = []
    for n in range(TREND_DAYS - 1, -1, -1):
        d = day - timedelta(days=n)
        t = window_views.tablet_window_figures(snap, code, day_window(snap, d, history_days))
        out.append({"day": d.isoformat(), "reported": clean(t.get("reported")), "closed": clean(t.get("closed")),
                    "on_time_rate": clean(t.get("on_time_rate"))})
    return out


def overdue_part(snap: Snapshot, city: City, code: str, as_of) -> dict:
    """The region's overdue events now (window_views.overdue_list, open_events), the TOP_OVERDUE oldest deadlines."""
    df = window_views.overdue_list(snap, code)
    rows = []
    for r in df.head(TOP_OVERDUE).to_dict("records"):
        late = (pd.Timestamp(as_of) - pd.Timestamp(r["due_at"])).total_seconds() / 60 if as_of is not None else None
        rows.append({"event_id": r["event_id"], "category": r["category"], "channel": r["channel"],
                     "status": r["status"], "where": place_path(city, r["grid_code"]),
                     "due_at": clean(r["due_at"]), "overdue_min": clean(late)})
    return {"overdue_total": len(df), "overdue_top": rows}


def recurring_part(snap: Snapshot, city: City, code: str) -> dict:
    df = views.recurring_problems(snap, code, n=TOP_RECURRING)
    rows = [{"category": r["category"], "where": place_path(city, r["grid_code"]), "events": clean(r["events"]), "open": clean(r["open"]),
             "days": clean(r["days"]), "last_reported": clean(r["last_reported"])} for r in df.to_dict("records")]
    return {"recurring": rows, "recurring_totals": {k: clean(v) for k, v in views.recurring_totals(snap, code).items()}}


def ranking_part(snap: Snapshot, city: City, code: str, w, weights: dict[str, float]) -> dict:
    """The children ranked by the day's composite score (window_views.ranking, the tablet's 五个一 rule)."""
    df = window_views.ranking(snap, city, code, w, weights)
    if df.empty:
        return {"ranking": [], "ranking_of": 0, "child_level": None}
    keep = df if len(df) <= MAX_RANKED else pd.concat([df.head(MAX_RANKED // 2), df.tail(MAX_RANKED // 2)])
    rows = [{"rank": clean(r["rank"]), "code": r["code"], "name": city.short_name(r["code"]),
             "score": clean(r.get("score")), "reported": clean(r.get("reported")),
             "on_time_rate": clean(r.get("on_time_rate")), "overdue": clean(r.get("overdue"))}
            for r in keep.to_dict("records")]
    return {"ranking": rows, "ranking_of": len(df), "child_level": city.level_of(df["code"].iloc[0])}


def tomorrow_part(snap: Snapshot, code: str, day: date) -> dict | None:
    """明日预计: the published forecast of the day after the briefing's day (total and, when that day is the
    snapshot's tomorrow, per category), or None when the forecast frame has no such day."""
    f = forecast_views.region_forecast(snap, code)
    if f is None:
        return None
    s = f["series"]
    row = s[(pd.to_datetime(s["day"]) == pd.Timestamp(day + timedelta(days=1))) & s["expected"].notna()]
    if row.empty:
        return None
    r = row.iloc[0]
    cats = f["by_category"] if pd.Timestamp(f["tomorrow"]["day"]) == pd.Timestamp(r["day"]) else f["by_category"].head(0)
    return {"day": pd.Timestamp(r["day"]).date().isoformat(), "expected": clean(r["expected"]), "lo": clean(r["lo"]),
            "hi": clean(r["hi"]), "known": bool(r["known"]),
            "by_category": [{"category": c["category"], "expected": clean(c["expected"]), "lo": clean(c["lo"]),
                             "hi": clean(c["hi"])} for _, c in cats.iterrows()]}


def department_part(snap: Snapshot, code: str, w, weights: dict[str, float]) -> list[dict]:
    """条: the departments of the region's cases on the day (department_views.ranking, the tablet's 部门榜 rule), those
    with a case reported that day or overdue now, worst score last; 未归属 listed last. `weights` may hold the
    department score's (COCKPIT_DEPT_W_*) beside the region ranking's; without them every rate weighs the same."""
    dw = {k: weights[k] for k in DEPARTMENT_SCORE if k in weights} or {k: 1.0 for k in DEPARTMENT_SCORE}
    df = department_views.ranking(snap, code, w, dw)
    gone = department_views.missing(snap)
    df = df[(df["reported"] > 0) | (df["overdue_now"] > 0)]
    return [{"rank": clean(r["rank"]), "code": r["code"], "name": r["name"], "reported": clean(r["reported"]),
             **{k: NOT_CONNECTED if k in gone else clean(r[k]) for k in ("closure_rate", "on_time_closure_rate")},
             "overdue_now": clean(r["overdue_now"]), "score": clean(r["score"])} for r in df.to_dict("records")]


def alerts_part(snap: Snapshot, code: str) -> list[dict]:
    """The alerts of the region's area in the snapshot (views.region_alerts), red first, with their sentence."""
    df = views.region_alerts(snap, code)
    return [{"level": str(r["level"]), "kind": r["kind"], "name": r["name"], "text": alert_text(r),
             "since": clean(r["since"])} for r in df.head(10).to_dict("records")]


def camera_part(snap: Snapshot, city: City, code: str) -> dict:
    """Camera counts (views.camera_summary) and the children with the lowest online rate (views.camera_status)."""
    s = views.camera_summary(snap, code)
    cams = {key: clean(s.get(key)) for key in ("cameras", "cameras_online", "cameras_offline", "camera_online_rate",
                                              "blind_grids", "cameras_untagged", "cameras_unplaced")}
    status = views.camera_status(snap, city, code)
    worst = status[[not is_missing(v) for v in status["camera_online_rate"]]].head(5)  # not NaN, not 未接入
    rows = [{"name": city.short_name(r["code"]), "cameras": clean(r["cameras"]), "offline": clean(r["offline"]),
             "camera_online_rate": clean(r["camera_online_rate"])} for r in worst.to_dict("records")]
    return {"cameras": cams, "camera_worst": rows}
