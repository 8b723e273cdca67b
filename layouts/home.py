"""Start page: links to the three screens, who is signed in and the sign-out button."""

import dash
from dash import dcc, html
from flask_wtf.csrf import generate_csrf

from config.labels import label
from dashboard.access import current_principal
from dashboard.context import cockpit
from queries import department_views

dash.register_page(__name__, path="/", title=label("app_title"))


def layout(**_query):
    me = current_principal()
    city = cockpit().city
    where = city.region_name(me.region) if me.region in city else me.region
    if me.department:
        where = f"{department_views.department_name(cockpit().snapshot(), me.department) or me.department} · {where}"
    shown = ("small",) if me.department else ("big", "medium", "small")  # a department user: the phone only
    screens = [(f"/{s}", label(s), label(f"home_{s}")) for s in shown]
    return html.Main(className="home", children=[
        html.H1(label("app_title")),
        html.Div(className="home-links", children=[
            dcc.Link(className="home-card", href=href, children=[html.H2(name), html.P(desc)])
            for href, name, desc in screens]),
        html.Form(method="post", action="/logout", className="home-user", id="home-signout", children=[
            html.Span(f"{me.name} · {label('role_' + me.role)} · {where}", id="home-whoami"),
            dcc.Input(type="hidden", name="csrf_token", value=generate_csrf()),
            html.Button(label("signout"), type="submit", className="signout")]),
        html.P(html.A("/health", href="/health"), className="home-health"),
    ])
