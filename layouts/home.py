"""Start page: links to the three screens."""

import dash
from dash import dcc, html

from config.labels import label

dash.register_page(__name__, path="/", title=label("app_title"))


def layout(**_query):
    screens = [("/big", label("big"), "指挥中心大屏 · 一屏总揽"), ("/medium", label("medium"), "领导平板 · 逐级下钻"),
               ("/small", label("small"), "网格员手机 · 随身办、随身看")]
    return html.Main(className="home", children=[
        html.H1(label("app_title")),
        html.Div(className="home-links", children=[
            dcc.Link(className="home-card", href=href, children=[html.H2(name), html.P(desc)])
            for href, name, desc in screens]),
        html.P(html.A("/health", href="/health"), className="home-health"),
    ])
