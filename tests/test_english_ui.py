"""The English UI (COCKPIT_LANG=en): the sign-in page, the export headers and the three screens in
Chromium show no Chinese but data (region names, categories, channels, the units and people of a flow
log), and their titles, tiles and headers are the English labels."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pandas as pd
import pytest
from helpers import SCREENS, LiveServer, sign_in, wait_for_data

from config.labels import LABELS
from snapshots.reader import SnapshotReader
from snapshots.timelines import TimelineStore

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]+")
EN = {k: en for k, (_, en) in LABELS.items()}
ENGLISH = pytest.mark.parametrize("settings", ["en"], indirect=True)  # COCKPIT_LANG=en for the app


def data_runs(city, redis_client, event_ids=()) -> set[str]:
    """The CJK runs of everything that is data: region names (full and short), every text column of the
    published frames (the alerts' sentence aside: the screens write their own), the events' timelines (shown unmasked: the street staff who open them may see them)."""
    texts = [*city.names.values(), *(city.short_name(c) for c in city.names), city.name]
    reader = SnapshotReader(redis_client, min_check_s=0)
    snap = reader.current()
    for name, df in snap.frames.items():
        for col in df.columns:
            if not (name == "alerts" and col == "text" or pd.api.types.is_numeric_dtype(df[col])
                    or pd.api.types.is_datetime64_any_dtype(df[col])):
                texts += [v for v in df[col].dropna().unique() if isinstance(v, str)]
    store = TimelineStore(redis_client, reader.prefix)
    for eid in event_ids:
        tl = store.read(eid) or {}
        texts += [v for v in tl.values() if isinstance(v, str)]
        texts += [v for s in tl.get("steps", []) for v in s.values() if isinstance(v, str)]
    return {run for t in texts if t for run in CJK.findall(t)}


def not_data(text: str, runs: set[str]) -> list[str]:
    return sorted({r for r in CJK.findall(text) if r not in runs})


@ENGLISH
def test_signin_page_is_english(app):
    client = app.server.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in page and EN["app_title"] in page
    assert f"<label>{EN['username']}<input" in page and f"<label>{EN['password']}<input" in page
    assert not CJK.search(page), CJK.findall(page)
    wrong = sign_in(client, "nobody", "wrong-password")
    assert wrong.status_code == 401 and EN["signin_failed"] in wrong.get_data(as_text=True)
    assert not CJK.search(wrong.get_data(as_text=True))


@ENGLISH
def test_export_headers_are_english(app, published, users, city):
    client = app.server.test_client()
    name, password, district = users["district"]
    assert sign_in(client, name, password).status_code == 302
    header = ["Rank", "code", "Name", "Score", "Events", "Closed", "Closed on time", "Open", "Overdue",
              "On-time closure", "Same-day clearance", "Settled in grid", "Satisfaction", "Not overdue"]
    rows = list(csv.reader(io.StringIO(client.get(f"/medium/export.csv?region={district}&rank=week")
                                       .data.decode("utf-8-sig"))))
    assert rows[0] == header
    assert sorted(r[1] for r in rows[1:]) == sorted(city.children(district)["code"])  # the data rows are there
    assert {r[2] for r in rows[1:]} <= set(city.names.values())  # Chinese names are data
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"/medium/export.xlsx?region={district}&rank=week").data))
    assert book.sheetnames == [EN["rank_week"]]
    assert [c.value for c in next(book.active.iter_rows(max_row=1))] == header


@pytest.mark.browser
@ENGLISH
def test_every_screen_is_english_in_chromium(browser, watched, published, app, city, users, redis_client):
    """One pass over /, /big, /medium, /small and a phone event timeline: titles and tiles are English,
    and every Chinese run on the page is a run of data."""
    street = users["street"][2]
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    open_ev = snap.frame("open_events")
    event_id = open_ev[open_ev["grid_code"].str.startswith(street)].sort_values(["due_at", "event_id"])["event_id"].iloc[0]
    runs = data_runs(city, redis_client, [event_id])
    pages = [("big", "/big", "city"), ("medium", "/medium", "city"), ("small", "/small", "street"),
             ("small", f"/small?event={event_id}", "street")]
    with LiveServer(app.server) as srv:
        w = watched(SCREENS["medium"], "city")
        w.page.goto(f"{srv.url}/")
        w.page.wait_for_selector("#home-whoami")
        body = w.page.inner_text("body")
        assert EN["home_medium"] in body and EN["signout"] in body and not_data(body, runs) == []
        for screen, path, role in pages:
            w = watched(SCREENS[screen], role)
            page = w.page
            page.goto(srv.url + path)
            if "event=" in path:
                page.wait_for_selector("#small-timeline li")
                steps = page.locator("#small-timeline li").all_inner_texts()
                assert steps[0].startswith(EN["stage_reported"]) and steps[-1].startswith(EN["due"]), steps
            else:
                wait_for_data(page, screen)
                assert page.inner_text(f"#{screen}-kpi-reported .kpi-label") == EN["reported"]
                assert page.inner_text(f"#{screen}-kpi-open .kpi-label") == EN["open"]
            page.wait_for_function("(t) => document.title === t", arg=f"{EN[screen]} · {EN['app_title']}")
            body = page.inner_text("body")
            assert not_data(body, runs) == [], f"{path}: Chinese that is not data: {not_data(body, runs)}"
            assert w.errors == [], w.errors
