"""An event's whole life as a vertical timeline, from report to close: who acted at each step and at
what level, how long each step took, whether it was late or reopened, then the deadline. The phone
(layouts/small.py) shows it for ?event=; the tablet reuses timeline_component with its own id_prefix.

The timeline comes from Redis (`{prefix}:timeline:{event_id}`, written by the ETL:
etl/state/timeline_sync.py). load_timeline refuses an event outside the user's jurisdiction (HTTP 403; for a
department user also one that is not its department's case) and
masks the reporter's name, phone and address unless the user may see personal data."""

from __future__ import annotations

from datetime import datetime
from typing import NoReturn

import pandas as pd
import redis
from dash import html

from components.format import due_text, fmt_span, place_path
from config.labels import label
from contract.domain import STAGES
from dashboard.access import (
    OutOfScope,
    mask_address,
    mask_name,
    mask_phone,
    may_see_city_totals,
    require_department_event,
    require_grid_code,
)
from dashboard.context import cockpit
from queries import views
from snapshots.timelines import TimelineStore

MAX_ID_LENGTH = 64


def load_timeline(event_id: str) -> dict | None:
    """The event's timeline (etl/transforms/timelines.py: header fields and steps as dicts); None if
    Redis cannot be reached, or, for a city-wide user, if it has none (unknown, quarantined, past
    retention), or for anyone while the timelines are still being written (missing_text says which). Raises OutOfScope (403) for an event outside the user's jurisdiction, and for a
    scoped user also for an id Redis does not hold: "unknown" and "not yours" must look the same, or
    the difference tells anyone which ids exist elsewhere. Reporter data masked unless allowed."""
    if not event_id or len(event_id) > MAX_ID_LENGTH:
        return None if may_see_city_totals() else _refuse(event_id)
    reader = cockpit().reader
    try:
        tl = TimelineStore(reader.r, reader.prefix).read(event_id)
    except (redis.RedisError, OSError):
        return None
    if tl is None:  # while the full write runs (a start), any id not held yet: not written yet, for anyone alike
        return None if may_see_city_totals() or timelines_being_written() else _refuse(event_id)
    require_grid_code(tl["grid_code"])
    require_department_event(event_id)  # a department user: one of its department's cases, else 403
    return {**tl, "reporter_name": mask_name(tl.get("reporter_name")),
            "reporter_phone": mask_phone(tl.get("reporter_phone")), "address": mask_address(tl.get("address"))}


def timelines_being_written() -> bool:
    """Whether the ETL's full timeline write is under way (after a start or an emptied Redis: a slice a tick,
    etl/state/timeline_sync.py), as the snapshot says: then an event not held may be one it has not reached yet."""
    return bool((cockpit().snapshot().meta.get("timelines") or {}).get("filling"))


def missing_text() -> str:
    """What to show for an event load_timeline gave no timeline for."""
    return label("timeline_writing") if timelines_being_written() else label("event_gone")


def _refuse(event_id: str) -> NoReturn:
    raise OutOfScope(f"event {event_id[:MAX_ID_LENGTH]} is not held (unknown or past retention)")


def _when(text: str | None) -> str:
    return f"{pd.Timestamp(text):%m-%d %H:%M}" if text else "—"


def _step(s: dict, first: bool) -> html.Li:
    action = s["action"]
    badges = []
    if s.get("late"):
        badges.append(html.Span(label("late_badge"), className="tl-badge tl-late"))
    if action == "reopened":
        badges.append(html.Span(label("reopened_badge"), className="tl-badge tl-reopen"))
    took = None if first or s.get("minutes") is None else f"{label('step_took')} {fmt_span(s['minutes'])}"
    level = s.get("level")
    return html.Li(className=f"tl-step tl-{action}" + (" late" if s.get("late") else ""), children=[
        html.Div(className="tl-row", children=[
            html.Span(label(f"stage_{action}"), className="tl-stage"), *badges,
            html.Span(_when(s.get("at")), className="tl-time")]),
        html.Div(className="tl-who", children=[
            html.Span(label(f"level_{level}") if level else "—", className=f"tl-level level-{level}"),
            html.Span(" · ".join(x for x in (s.get("unit"), s.get("actor")) if x), className="tl-unit")]),
        html.Div(s["note"], className="tl-note") if s.get("note") else None,
        html.Div(took, className="tl-took") if took else None,
    ])


def _deadline(tl: dict, now: datetime) -> html.Li:
    due = tl["due_at"]
    if tl["status"] == "closed":
        closed_at = next((s["at"] for s in reversed(tl["steps"]) if s["action"] == "closed"), None)
        late = closed_at is not None and pd.Timestamp(closed_at) > pd.Timestamp(due)
        text = label("closed_late") if late else label("closed_on_time")
    else:
        text, late = due_text(due, now)
    return html.Li(className="tl-step tl-due" + (" late" if late else ""), children=[
        html.Div(className="tl-row", children=[
            html.Span(label("due"), className="tl-stage"), html.Span(_when(due), className="tl-time")]),
        html.Div(text, className="tl-due-text")])


def timeline_component(tl: dict, now: datetime, id_prefix: str, city=None) -> html.Div:
    """The event's header and its steps as a vertical timeline; ids `{id_prefix}-timeline` (the list
    of steps, then the deadline) and `{id_prefix}-event-head`. `city` defaults to the app's."""
    city = city or cockpit().city
    snap = cockpit().snapshot()
    sat = tl.get("satisfaction")
    facts = [
        (label("status"), label(f"stage_{tl['status']}")),
        (label("handling_level"), label(f"level_{tl['handling_level']}") if tl.get("handling_level") else
         label("not_connected") if not views.connected(snap, "handling_level") else "—"),
        (label("satisfaction"), label("satisfaction_score", score=sat) if sat is not None else
         label("not_connected") if not views.connected(snap, "satisfaction") else label("not_rated")),
    ]
    reporter = " · ".join(x for x in (tl.get("reporter_name"), tl.get("reporter_phone"), tl.get("address")) if x)
    head = html.Div(className="tl-head", id=f"{id_prefix}-event-head", children=[
        html.H2(" · ".join(x for x in (tl.get("category"), tl.get("channel"), tl.get("title")) if x),
                className="tl-title"),
        html.Div(className="tl-meta", children=[
            html.Span(tl["event_id"], className="tl-id"),
            html.Span(label("reopened_badge"), className="tl-badge tl-reopen") if tl.get("reopened") else None]),
        html.Div(place_path(city, tl["grid_code"]), className="tl-where"),
        html.Dl(className="tl-facts", children=[x for k, v in facts for x in (html.Dt(k), html.Dd(v))]),
        html.Div(label("label_value", label=label("reporter"), value=reporter), className="tl-reporter") if reporter else None,
    ])
    # a stage the source does not record (its time copied from the stage before) is not a step of the event's life
    kept = [s for s in tl.get("steps", []) if s["action"] not in STAGES or views.connected(snap, f"stages.{s['action']}")]
    steps = [_step(s, i == 0) for i, s in enumerate(kept)]
    if not steps and not views.connected(snap, "steps"):  # no flow log: the steps are not connected, not "none"
        steps = [html.Li(html.Div(label("not_connected"), className="tl-row"), className="tl-step tl-not-connected",
                         id=f"{id_prefix}-timeline-not-connected")]
    return html.Div(className="tl", children=[
        head,
        html.H3(label("timeline"), className="panel-title"),
        html.Ol([*steps, _deadline(tl, now)], className="tl-steps", id=f"{id_prefix}-timeline"),
    ])
