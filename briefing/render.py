"""A briefing dict (briefing/data.py) as one HTML document laid out for A4 paper: the title block of an
official briefing (red title, 第N期, 编制单位, date, red rule), then numbered sections with tables and
inline SVG charts (briefing/charts.py), page numbers from CSS paged media. Every text is a label
(config/labels.py), every number is formatted by the screens' own formatters (components/format.py)."""

from __future__ import annotations

from datetime import date, datetime
from html import escape

from briefing import charts
from components.format import (
    fmt_count,
    fmt_minutes,
    fmt_number,
    fmt_percent,
    fmt_rate,
    fmt_span,
    is_missing,
    is_not_connected,
)
from components.theme import LIGHT
from config.departments import UNASSIGNED_CODE
from config.labels import label

RED = "#c00000"  # the title and rule of a Chinese official document (红头)
KPI_LABELS = {"cohort_overdue": "brief_cohort_overdue", "closed": "brief_cohort_closed"}


def css_counter_text(template: str) -> str:
    """A label such as '第 {page} 页 共 {pages} 页' as a CSS `content` value with the page counters."""
    out, rest = [], template
    while rest:
        i = rest.find("{")
        if i < 0:
            out.append(f'"{rest}"')
            break
        j = rest.index("}", i)
        if i:
            out.append(f'"{rest[:i]}"')
        out.append(f"counter({rest[i + 1:j]})")
        rest = rest[j + 1:]
    return " ".join(out)


def stylesheet() -> str:
    return f"""
@page {{ size: A4; margin: 14mm 15mm 14mm 15mm;
  @bottom-center {{ content: {css_counter_text(label('brief_page'))}; font-size: 8.5pt; color: {LIGHT['muted']}; }}
  @top-right {{ content: string(running); font-size: 8pt; color: {LIGHT['muted']}; }} }}
@page :first {{ @top-right {{ content: none; }} }}
html {{ font-family: "Noto Sans CJK SC", sans-serif; font-size: 9.5pt; color: {LIGHT['text']}; line-height: 1.45; }}
.running {{ string-set: running content(); font-size: 0; height: 0; margin: 0; }}
.masthead {{ text-align: center; }}
.masthead h1 {{ font-family: "Noto Serif CJK SC", serif; font-weight: bold; color: {RED}; font-size: 21pt;
  letter-spacing: 1pt; margin: 2mm 0 2mm; }}
.masthead .issue {{ font-size: 11pt; margin: 0 0 2mm; }}
.byline {{ display: flex; justify-content: space-between; font-size: 10pt; margin: 0 2mm; }}
.rule {{ border: 0; border-top: 2pt solid {RED}; margin: 1.5mm 0 4mm; }}
h2 {{ font-size: 11.5pt; font-weight: normal; margin: 3mm 0 1.2mm; border-left: 3pt solid {RED}; padding-left: 2mm;
  break-after: avoid; }}
p {{ margin: 1mm 0; }}
.summary {{ text-indent: 2em; font-size: 10pt; }}
.note {{ font-size: 7.5pt; color: {LIGHT['muted']}; }}
table {{ width: 100%; border-collapse: collapse; font-size: 8pt; line-height: 1.3; }}
th, td {{ border-bottom: 0.5pt solid {LIGHT['grid']}; padding: 0.5mm 1.5mm; text-align: left; }}
th {{ background: #eef2f8; font-weight: normal; color: {LIGHT['muted']}; }}
b {{ font-weight: normal; color: {LIGHT['accent']}; }}
td.n, th.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr {{ break-inside: avoid; }}
.up {{ color: {LIGHT['bad']}; }} .down {{ color: {LIGHT['good']}; }}
.two {{ display: flex; gap: 5mm; }} .two > div {{ flex: 1; }}
.red {{ color: {LIGHT['bad']}; }} .amber {{ color: {LIGHT['warn']}; }}
section {{ break-inside: avoid; }}
"""


def _e(s) -> str:
    return escape("" if s is None else str(s))


def _time(iso: str | None, fmt: str = "%m-%d %H:%M") -> str:
    return "—" if not iso else datetime.fromisoformat(iso).strftime(fmt)


def long_date(iso: str) -> str:
    d = date.fromisoformat(iso)
    return label("brief_date", y=d.year, m=d.month, d=d.day)


def change(now, before, kind: str) -> str:
    """The change from `before` to `now`: a count's difference, a rate's percentage points."""
    if is_missing(now) or is_missing(before):
        return "—"
    diff = (now - before) * (100 if kind == "rate" else 1)
    if abs(diff) < (0.05 if kind == "rate" else 0.5):
        return label("brief_same")
    text = label("brief_pp", v=abs(diff)) if kind == "rate" else fmt_count(abs(diff))
    return label("brief_up" if diff > 0 else "brief_down", v=text)


def status_text(status: str) -> str:
    """An open event's stage in words (the stage labels), or as the source has it."""
    key = f"stage_{status}"
    text = label(key)
    return status if text == key else text


def fmt_kpi(v, kind: str) -> str:
    return fmt_rate(v) if kind == "rate" else fmt_count(v)


def render_html(b: dict) -> str:
    """The briefing as a complete HTML document (UTF-8, no external resource)."""
    title = label("brief_title", region=b["name"])
    parts = [f'<p class="running">{_e(title)} · {_e(long_date(b["day"]))}</p>', masthead(b, title),
             summary(b), kpi_table(b), loop(b), trend(b), overdue(b), recurring(b), ranking(b), departments(b), alerts(b),
             supervision(b), cameras(b), tomorrow(b), f'<p class="note">{_e(label("brief_footer_note"))}</p>']
    return (f'<!DOCTYPE html><html lang="{label("html_lang")}"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{stylesheet()}</style></head><body>{''.join(parts)}</body></html>")


def masthead(b: dict, title: str) -> str:
    return (f'<div class="masthead"><h1>{_e(title)}</h1>'
            f'<p class="issue">{_e(label("brief_issue", year=b["year"], n=b["issue"]))}</p></div>'
            f'<div class="byline"><span>{_e(label("brief_issuer", city=b["issuer"]))}</span>'
            f'<span>{_e(long_date(b["day"]))}</span></div><hr class="rule">')


def summary(b: dict) -> str:
    k = {x["key"]: x for x in b["kpis"]}
    rep = k["reported"]
    text = label("brief_summary", day=long_date(b["day"]), region=b["name"], reported=fmt_count(rep["day"]),
                 vs_prev=change(rep["day"], rep["prev"], "count"), vs_week=change(rep["day"], rep["week"], "count"),
                 closed=fmt_count(k["closed"]["day"]), on_time=fmt_rate(k["on_time_rate"]["day"]),
                 as_of=_time(b["as_of"]), open=fmt_count(b["stocks"]["open"]),
                 overdue=fmt_count(b["stocks"]["overdue"]))
    return f'<h2>{_e(label("brief_s_summary"))}</h2><p class="summary">{_e(text)}</p>'


def kpi_table(b: dict) -> str:
    head = "".join(f'<th class="n">{_e(label(h))}</th>' for h in ("brief_the_day", "brief_prev_day", "brief_vs_prev",
                                                                   "brief_week_day", "brief_vs_week"))
    rows = []
    for x in b["kpis"]:
        kind = x["kind"]
        rows.append(f'<tr><td>{_e(label(KPI_LABELS.get(x["key"], x["key"])))}</td>'
                    f'<td class="n"><b>{fmt_kpi(x["day"], kind)}</b></td><td class="n">{fmt_kpi(x["prev"], kind)}</td>'
                    f'<td class="n">{_e(change(x["day"], x["prev"], kind))}</td>'
                    f'<td class="n">{fmt_kpi(x["week"], kind)}</td>'
                    f'<td class="n">{_e(change(x["day"], x["week"], kind))}</td></tr>')
    for key in ("open", "overdue"):
        rows.append(f'<tr><td>{_e(label("brief_stock", name=label(key)))}</td>'
                    f'<td class="n"><b>{fmt_count(b["stocks"][key])}</b></td><td colspan="4" class="note">'
                    f'{_e(label("brief_stock_note", as_of=_time(b["as_of"])))}</td></tr>')
    return (f'<section><h2>{_e(label("brief_s_kpis"))}</h2><table><tr><th>{_e(label("brief_metric"))}</th>{head}</tr>'
            f'{"".join(rows)}</table><p class="note">{_e(label("brief_kpi_note"))}</p></section>')


def loop(b: dict) -> str:
    # the stages the source records (a stage it does not is 未接入: left out, as on the screens)
    funnel = charts.hbars([(label(f"stage_{f['stage']}"), f["n"], fmt_count(f["n"])) for f in b["funnel"]
                           if not is_not_connected(f["n"])], width=250)
    stages = charts.paired_hbars(
        [(label(f"stage_{s['stage']}"), s["median"], s["p90"], f"{fmt_minutes(s['median'])} / {fmt_minutes(s['p90'])}")
         for s in b["stages"] if not is_not_connected(s["median"])], (label("median"), label("p90")), width=270)
    return (f'<section><h2>{_e(label("brief_s_loop"))}</h2><div class="two"><div>{funnel}</div><div>{stages}</div></div>'
            f'<p class="note">{_e(label("quantile_note"))}</p></section>')


def trend(b: dict) -> str:
    days = [date.fromisoformat(t["day"]).strftime("%m-%d") for t in b["trend"]]
    svg = charts.columns(days, [(label("reported"), [t["reported"] for t in b["trend"]], charts.BLUE),
                                (label("closed"), [t["closed"] for t in b["trend"]], charts.GREEN)], width=520,
                         height=100)
    rates = " · ".join(f"{d} {fmt_rate(t['on_time_rate'])}" for d, t in zip(days, b["trend"]))
    return (f'<section><h2>{_e(label("brief_s_trend"))}</h2>{svg}'
            f'<p class="note">{_e(label("on_time_rate"))}: {_e(rates)}</p></section>')


def _table(headers: list[tuple[str, bool]], rows: list[list[str]]) -> str:
    head = "".join(f'<th class="{"n" if num else ""}">{_e(label(h))}</th>' for h, num in headers)
    body = "".join("<tr>" + "".join(f'<td class="{"n" if num else ""}">{c}</td>' for (_, num), c in zip(headers, r))
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def overdue(b: dict) -> str:
    out = f'<section><h2>{_e(label("brief_s_overdue"))}</h2>'
    if not b["overdue_top"]:
        return out + f'<p>{_e(label("no_overdue"))}</p></section>'
    out += f'<p>{_e(label("brief_overdue_total", as_of=_time(b["as_of"]), n=fmt_count(b["overdue_total"]), k=len(b["overdue_top"])))}</p>'
    rows = [[_e(r["event_id"]), _e(r["category"]), _e(r["where"]), _e(status_text(r["status"])), _time(r["due_at"]),
             f'<span class="red">{_e(fmt_span(r["overdue_min"]))}</span>'] for r in b["overdue_top"]]
    return out + _table([("brief_event_id", False), ("category", False), ("where", False), ("status", False),
                         ("due", False), ("overdue_by", True)], rows) + "</section>"


def recurring(b: dict) -> str:
    out = f'<section><h2>{_e(label("brief_s_recurring"))}</h2>'
    if not b["recurring"]:
        return out + f'<p>{_e(label("recurring_none"))}</p></section>'
    t = b["recurring_totals"]
    out += f'<p>{_e(label("brief_recurring_total", clusters=fmt_count(t["clusters"]), events=fmt_count(t["events"]), open=fmt_count(t["open"])))}</p>'
    rows = [[_e(r["category"]), _e(r["where"]), fmt_count(r["events"]), fmt_count(r["open"]), fmt_count(r["days"]),
             _time(r["last_reported"])] for r in b["recurring"]]
    return out + _table([("category", False), ("where", False), ("recurring_events", True), ("open", True),
                         ("brief_span_days", True), ("brief_last_report", True)], rows) + "</section>"


def ranking(b: dict) -> str:
    if not b["ranking"]:
        return ""
    level = label(f"level_{b['child_level']}")
    out = f'<section><h2>{_e(label("brief_s_ranking", level=level))}</h2>'
    if b["ranking_of"] > len(b["ranking"]):
        out += f'<p class="note">{_e(label("brief_rank_cut", n=b["ranking_of"], k=len(b["ranking"]) // 2))}</p>'
    rows = [[str(r["rank"]), _e(r["name"]), fmt_number(r["score"]), fmt_count(r["reported"]), fmt_rate(r["on_time_rate"]),
             fmt_count(r["overdue"])] for r in b["ranking"]]
    return out + _table([("rank_no", True), ("name", False), ("score", True), ("reported", True),
                         ("on_time_rate", True), ("brief_overdue_now", True)], rows) + \
        f'<p class="note">{_e(label("brief_rank_note"))}</p></section>'


def departments(b: dict) -> str:
    """条: the departments of the region's cases that day (the tablet's 部门榜 rule), overdue now beside."""
    rows_in = b.get("departments") or []
    if not rows_in:
        return ""
    rows = [["" if r["rank"] is None else str(int(r["rank"])),
             _e(label("unassigned") if r["code"] == UNASSIGNED_CODE else r["name"]), fmt_number(r["score"]),
             fmt_count(r["reported"]), fmt_rate(r["closure_rate"]), fmt_rate(r["on_time_closure_rate"]),
             f'<span class="{"red" if r["overdue_now"] else ""}">{fmt_count(r["overdue_now"])}</span>'] for r in rows_in]
    return (f'<section><h2>{_e(label("brief_s_departments"))}</h2>'
            + _table([("rank_no", True), ("department", False), ("score", True), ("reported", True),
                      ("closure_rate", True), ("on_time_closure_rate", True), ("brief_overdue_now", True)], rows)
            + f'<p class="note">{_e(label("formula_on_time_closure_rate"))}</p></section>')


def supervision(b: dict) -> str:
    """督办 and their outcome (closed by the new deadline), and how many cases are due within hours (将超期)."""
    s = b.get("supervision") or {}
    line = label("supervision_summary", n=s.get("supervised", 0), open=s.get("supervised_open", 0),
                 in_time=s.get("supervised_in_time", 0), closed=s.get("supervised_closed", 0),
                 rate=fmt_rate(s.get("supervision_on_time_rate")))
    risk = label("brief_at_risk_line", n=b.get("at_risk", 0), as_of=_time(b["as_of"]))
    return f'<section><h2>{_e(label("brief_s_supervision"))}</h2><p>{_e(line)}</p><p>{_e(risk)}</p></section>'


def tomorrow(b: dict) -> str:
    """明日预计: the forecast of the next day (etl/transforms/forecast.py, through queries/forecast_views.py)."""
    t = b.get("tomorrow")
    out = f'<section><h2>{_e(label("brief_s_tomorrow"))}</h2>'
    if not t:
        return out + f'<p>{_e(label("forecast_none"))}</p></section>'
    band = label("forecast_interval", lo=fmt_count(round(t["lo"])), hi=fmt_count(round(t["hi"])))
    out += f'<p><b>{_e(t["day"])}</b> {_e(fmt_count(round(t["expected"])))} · {_e(band)}</p>'
    if t["by_category"]:
        rows = [[_e(c["category"]), _e(fmt_count(round(c["expected"]))),
                 _e(label("forecast_interval", lo=fmt_count(round(c["lo"])), hi=fmt_count(round(c["hi"]))))]
                for c in t["by_category"]]
        out += _table([("forecast_col_category", False), ("forecast_col_expected", True), ("forecast_col_band", False)], rows)
    return out + f'<p class="note">{_e(label("forecast_note"))}</p></section>'


def alerts(b: dict) -> str:
    out = f'<section><h2>{_e(label("brief_s_alerts"))}</h2>'
    if not b["alerts"]:
        return out + f'<p>{_e(label("brief_no_alerts", as_of=_time(b["as_of"])))}</p></section>'
    rows = [[f'<span class="{"red" if a["level"] == "red" else "amber"}">{_e(label("brief_alert_" + a["level"]))}</span>',
             _e(a["name"]), _e(a["text"]), _time(a["since"])] for a in b["alerts"]]
    return out + _table([("brief_alert_level", False), ("name", False), ("brief_alert_text", False),
                         ("since", True)], rows) + \
        f'<p class="note">{_e(label("brief_alerts_note", as_of=_time(b["as_of"])))}</p></section>'


def cameras(b: dict) -> str:
    c, s = b["cameras"], b["safety"]
    line = label("brief_cameras_line", cameras=fmt_count(c["cameras"]), online=fmt_count(c["cameras_online"]),
                 offline=fmt_count(c["cameras_offline"]), rate=fmt_rate(c["camera_online_rate"]),
                 blind=fmt_count(c["blind_grids"]), untagged=fmt_count(c["cameras_untagged"]),
                 unplaced=fmt_count(c["cameras_unplaced"]))
    if is_not_connected(c["cameras"]):  # no devices feed: one 未接入, not a sentence of them
        line = label("label_value", label=label("page_cameras"), value=fmt_count(c["cameras"]))
    text = f"<p>{_e(line)}</p>"
    if is_not_connected(s.get("safety_index")):
        text += "<p>" + _e(label("label_value", label=label("safety_index"), value=fmt_number(s["safety_index"]))) + "</p>"
    elif s.get("safety_index") is not None and s.get("month"):
        rank = label("brief_safety_rank", which=label(f"safety_rank_{b['level']}"),
                     rank=label("rank_of", rank=s["rank"], of=s["of"])) if s.get("rank") and s.get("own") else ""
        text += "<p>" + _e(label("brief_safety_line", month=datetime.fromisoformat(s["month"]), rank=rank,
                                 index=fmt_number(s["safety_index"]),
                                 security=fmt_percent(s.get("public_security")))) + "</p>"
    table = ""
    if b["camera_worst"]:
        rows = [[_e(r["name"]), fmt_count(r["cameras"]), fmt_count(r["offline"]), fmt_rate(r["camera_online_rate"])]
                for r in b["camera_worst"]]
        table = f'<p class="note">{_e(label("brief_camera_worst"))}</p>' + _table(
            [("name", False), ("cameras", True), ("offline", True), ("camera_online_rate", True)], rows)
    # side by side: the summary beside the worst sub-regions (half the height of one under the other)
    return f'<section><h2>{_e(label("brief_s_cameras"))}</h2><div class="two"><div>{text}</div><div>{table}</div></div></section>'
