"""Live refresh without a blind re-render: each page polls a tiny callback that returns the snapshot
key (version and stale state) only when it changed; the page's renderers take that key as input."""

from __future__ import annotations

import json

from dash import Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from dashboard.access import current_principal
from dashboard.context import cockpit


def live_components(page: str) -> list:
    """The poll timer and the store holding the last snapshot key the page rendered."""
    return [dcc.Interval(id=f"{page}-poll", interval=cockpit().settings.poll_ms),
            dcc.Store(id=f"{page}-version", data=None)]


def snapshot_key() -> list:
    c = cockpit()
    snap = c.snapshot()
    return [snap.version, snap.is_stale(c.now(), c.settings.stale_after_s)]


def register_poll(page: str) -> None:
    @callback(Output(f"{page}-version", "data"), Input(f"{page}-poll", "n_intervals"),
              State(f"{page}-version", "data"))
    def _poll(_n, known):
        key = snapshot_key()
        if key == known:
            raise PreventUpdate
        return key


def header(page: str, title: str, extra: list | None = None) -> html.Header:
    return html.Header(className=f"header header-{page}", children=[
        html.H1(title, className="title"),
        html.Div(className="header-right", children=[*(extra or []),
                 html.Div(id=f"{page}-clock", className="clock"),
                 html.Div(id=f"{page}-freshness-box")]),
    ])


def shared_view(snap, page: str, key, parts, build):
    """A rendered view built once per snapshot key (version and stale state) for everyone with the same
    role and jurisdiction (and department, for a department user) asking for the same view `parts`; the next snapshot builds it afresh. 200
    phones of one street then cost one render per snapshot, not 200. (Clock-relative text such as
    "overdue by" may lag by one snapshot, a few seconds.)"""
    p = current_principal()
    return snap.memo("view:" + json.dumps([page, key, p.role, p.region, p.department, parts], default=str, sort_keys=True), build)
