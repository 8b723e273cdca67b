"""督办 on an event: the supervisions it already has (level, note, new deadline, delivery state) and, for a
leader (city, district or street role), a form to add one: level, note and a new time limit. The callback
scope-checks the event's grid like every request, stores the supervision (dashboard/supervision.py, which
delivers it to the source system) and writes the audit log. Used under an event's timeline on the tablet
and the phone."""

from __future__ import annotations

from datetime import timedelta

import flask
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from config.labels import label
from dashboard.access import current_principal, require_grid_code
from dashboard.context import cockpit
from dashboard.supervision import LEVELS, NOTE_MAX, Supervision, SupervisionError, SupervisionStore

LEADER_ROLES = ("city", "district", "street")
TIME_LIMITS_H = (2, 4, 8, 24, 48, 72, 168)


def ids(page: str) -> str:
    """The prefix of the form's pattern-matching ids on a page (`{page}-supervise-submit`, ...)."""
    return f"{page}-supervise"


def store() -> SupervisionStore:
    return flask.current_app.config["COCKPIT_SUPERVISIONS"]


def may_supervise() -> bool:
    return current_principal().role in LEADER_ROLES


def delivery_configured() -> bool:
    return bool(flask.current_app.config.get("COCKPIT_SUPERVISION_DELIVERY"))


def supervision_item(s: Supervision, delivery: bool = True) -> html.Li:
    """One supervision; its delivery state, or 送达未配置 while no channel delivers it (COCKPIT_SUPERVISION_CHANNEL
    none: a pending one waits for a channel)."""
    state = label(f"supervision_state_{s.state}" if delivery or s.state != "pending" else "supervision_state_unconfigured")
    if s.state == "failed" and s.last_error:
        state = f"{state} ({s.last_error[:60]})"
    return html.Li(className=f"sup-item sup-{s.level}", children=[
        html.Span(label(f"supervision_level_{s.level}"), className="sup-level"),
        html.Span(f"{label('supervision_new_due')} {s.new_due_at:%m-%d %H:%M}", className="sup-due"),
        html.Div(s.note, className="sup-note"),
        html.Span(f"{s.created_by} · {state}", className="sup-meta")])


def supervision_block(page: str, event_id: str, grid_code: str) -> html.Div:
    """The event's supervisions and, for a leader, the form (its ids carry the page and the event id;
    the page registers the form's callback with register_supervision(page))."""
    ID = ids(page)
    require_grid_code(grid_code)
    have = [s for s in store().under(grid_code) if s.event_id == event_id]
    children: list = [html.H4(label("supervision"), className="sup-title")]
    if have:
        delivery = delivery_configured()
        children.append(html.Ul([supervision_item(s, delivery) for s in have], className="sup-list"))
    if may_supervise():
        key = {"event": event_id}
        children.append(html.Div(className="sup-form", children=[
            dcc.Dropdown(id={"type": f"{ID}-level", **key}, clearable=False, value=LEVELS[1],
                         options=[{"label": label(f"supervision_level_{lv}"), "value": lv} for lv in LEVELS]),
            dcc.Dropdown(id={"type": f"{ID}-hours", **key}, clearable=False, value=24,
                         options=[{"label": label("supervision_within_hours", h=h), "value": h} for h in TIME_LIMITS_H]),
            dcc.Textarea(id={"type": f"{ID}-note", **key}, maxLength=NOTE_MAX, className="sup-note-input",
                         placeholder=label("supervision_note_placeholder")),
            html.Button(label("supervision_submit"), id={"type": f"{ID}-submit", **key}, n_clicks=0,
                        className="sup-submit"),
            html.Div(id={"type": f"{ID}-result", **key}, className="sup-result", role="status")]))
    return html.Div(children, className="sup-block", id=f"{ID}-block")


def register_supervision(page: str) -> None:
    """The form's submit callback on a page (called by the page module, like register_poll, so every app
    built in a process gets it)."""
    ID = ids(page)

    @callback(Output({"type": f"{ID}-result", "event": ALL}, "children"),
              Input({"type": f"{ID}-submit", "event": ALL}, "n_clicks"),
              State({"type": f"{ID}-level", "event": ALL}, "value"),
              State({"type": f"{ID}-hours", "event": ALL}, "value"),
              State({"type": f"{ID}-note", "event": ALL}, "value"),
              prevent_initial_call=True)
    def submit(clicks, levels, hours, notes):
        """Create the supervision of the event whose button was pressed (scope-checked, audited)."""
        from components.timeline_view import load_timeline, missing_text
        from dashboard.auth import audit

        if not ctx.triggered_id or not any(clicks or []):
            return [no_update] * len(clicks or [])
        event_id = str(ctx.triggered_id["event"])
        i = [s["id"]["event"] for s in ctx.inputs_list[0]].index(event_id)
        out = [no_update] * len(clicks)
        if not may_supervise():
            out[i] = label("supervision_not_allowed")
            return out
        tl = load_timeline(event_id)  # refuses (403) an event outside the user's jurisdiction
        if tl is None:
            out[i] = missing_text()
            return out
        if hours[i] not in TIME_LIMITS_H:
            out[i] = label("supervision_bad_request")
            return out
        p = current_principal()
        try:
            s = store().create(event_id, tl["grid_code"], str(levels[i]), str(notes[i] or ""),
                               cockpit().now() + timedelta(hours=int(hours[i])), f"{p.role}:{p.name}")
        except SupervisionError:
            out[i] = label("supervision_bad_request")
            return out
        audit("supervise", f"{event_id} {s.level} {s.id}")
        out[i] = label("supervision_done", due=f"{s.new_due_at:%m-%d %H:%M}")
        return out
