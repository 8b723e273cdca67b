"""The daily briefing (日报): its figures recounted with SQL over the simulated source (events reported,
closed, closed on time, on-time rate, overdue; the day before and a week before; the five most overdue
cases), the PDF (A4 pages, CJK fonts embedded, charts as vectors, no raster image), the tablet's route
(scope, audit, bad days, the stored copy) wired by dashboard/service.build_app, and the morning build
(one process per day through Redis, retried after a failure, the last 30 days kept)."""

from __future__ import annotations

import re
import zlib
from datetime import date, timedelta

import pytest
from helpers import NOW, STOCK_SQL, count_sql, not_quarantined, sign_in
from sqlalchemy import text

from briefing.data import build_briefing, regions_for_briefing
from briefing.pdf import briefing_path, briefing_pdf
from briefing.render import render_html
from briefing.web import BriefingScheduler
from config.labels import label
from contract.keys import Keys
from dashboard.service import build_app
from snapshots.reader import SnapshotReader

DAY = NOW.date() - timedelta(days=1)
WEIGHTS = {"on_time_rate": 0.3, "same_day_rate": 0.15, "grid_settled_rate": 0.2, "satisfaction_rate": 0.2,
           "not_overdue_rate": 0.15}
OLDEST_SQL = """
SELECT event_id FROM events WHERE grid_code LIKE :prefix AND closed_at IS NULL AND due_at < :now {exclude}
ORDER BY due_at, event_id LIMIT 5
"""


def pdf_objects(body: bytes) -> bytes:
    """The PDF's bytes with every Flate stream inflated (page dictionaries sit in compressed object streams)."""
    out = [body]
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", body, re.S):
        try:
            out.append(zlib.decompressobj().decompress(m.group(1)))
        except zlib.error:
            continue
    return b"\n".join(out)


def snapshot_and_exclusion(redis_client):
    snap = SnapshotReader(redis_client).current()
    quarantined = snap.frame("quarantine")["row_id"].tolist()
    return snap, not_quarantined(quarantined)


def day_bounds(d: date) -> dict:
    return {"start": f"{d:%Y-%m-%d} 00:00:00", "stop": f"{d + timedelta(days=1):%Y-%m-%d} 00:00:00"}


def test_briefing_figures_equal_sql(published, sim_engine, city, redis_client):
    snap, exclude = snapshot_and_exclusion(redis_client)
    streets = regions_for_briefing(city, "320102")[1:4]
    checked = 0
    with sim_engine.connect() as conn:
        for code in [city.code, "320102", "320104", *streets]:
            b = build_briefing(snap, city, code, DAY, WEIGHTS)
            kpis = {k["key"]: k for k in b["kpis"]}
            for col, d in (("day", DAY), ("prev", DAY - timedelta(days=1)), ("week", DAY - timedelta(days=7))):
                sql = conn.execute(text(count_sql(sim_engine, exclude)),
                                   {"prefix": f"{code}%", "now": NOW, **day_bounds(d)}).mappings().one()
                for name in ("reported", "closed", "cohort_overdue"):
                    assert kpis[name][col] == (sql[name] or 0), (code, col, name)
                if sql["closed"]:
                    assert kpis["on_time_rate"][col] == pytest.approx(sql["closed_on_time"] / sql["closed"])
                if col == "day":
                    assert b["counts"]["closed_on_time"] == (sql["closed_on_time"] or 0)
                    assert b["funnel"][0]["n"] == b["counts"]["reported"] and b["trend"][-1]["reported"] == sql["reported"]
                    checked += sql["reported"]
            stock = conn.execute(text(STOCK_SQL.format(exclude=exclude)),
                                 {"prefix": f"{code}%", "now": NOW}).mappings().one()
            assert b["stocks"] == {"open": stock["open"] or 0, "overdue": stock["overdue"] or 0}, code
            assert b["overdue_total"] == (stock["overdue"] or 0)
            oldest = conn.execute(text(OLDEST_SQL.format(exclude=exclude)), {"prefix": f"{code}%", "now": NOW}).scalars()
            assert [r["event_id"] for r in b["overdue_top"]] == list(oldest), code
            assert all(r["overdue_min"] > 0 for r in b["overdue_top"])
            if b["ranking"] and b["ranking_of"] == len(b["ranking"]):  # every child listed: they add up to the region
                assert sum(r["reported"] or 0 for r in b["ranking"]) == b["counts"]["reported"], code
    assert checked > 500  # the sample really covered a day's events


def test_briefing_pdf_is_a4_with_embedded_cjk_fonts_and_vector_charts(published, city, redis_client):
    snap, _ = snapshot_and_exclusion(redis_client)
    street = regions_for_briefing(city, "320102")[1]
    b = build_briefing(snap, city, street, DAY, WEIGHTS)
    page = render_html(b)
    assert label("brief_title", region=city.region_name(street)) in page
    assert page.count("<svg") == 3 and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    body = briefing_pdf(snap, city, street, DAY, WEIGHTS)
    assert body.startswith(b"%PDF-")
    objects = pdf_objects(body)
    sizes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", objects)
    assert sizes and all(abs(float(w) - 595.3) < 1 and abs(float(h) - 841.9) < 1 for w, h in sizes)  # A4 in pt
    assert len(sizes) >= 2  # two pages or more
    assert b"Noto-Sans-CJK-SC" in objects and re.search(rb"/FontFile[23]?\s", objects)  # embedded, not just named
    assert not re.search(rb"/Subtype\s*/Image", objects)  # charts are vector paths, no raster image


def briefing_client(settings, city, redis_client, tmp_path, role: str, region: str):
    """The app as production builds it (dashboard/service.build_app, no ETL) and a client signed in as a new user."""
    app = build_app(settings.model_copy(update={"run_etl": False, "briefing_dir": tmp_path / "briefings"}), city,
                    redis_client)
    store = app.server.config["COCKPIT_USERS"]
    store.add_user(f"b-{role}", "brief-pass-123", role, region, city)
    client = app.server.test_client()
    assert sign_in(client, f"b-{role}", "brief-pass-123").status_code == 302
    return app, client, store


def test_briefing_route_scope_audit_and_bad_days(published, settings, city, redis_client, tmp_path):
    app, client, store = briefing_client(settings, city, redis_client, tmp_path, "district", "320102")
    street = regions_for_briefing(city, "320102")[1]
    r = client.get(f"/medium/briefing.pdf?region={street}&day={DAY}")
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF-")
    assert f"briefing_{street}_{DAY:%Y%m%d}.pdf" in r.headers["Content-Disposition"]
    assert [row.detail for row in store.audit_rows("export") if f"region={street}" in row.detail]
    stored = briefing_path(tmp_path / "briefings", street, DAY)
    assert stored.read_bytes() == r.data  # a whole past day: kept, and served again from the file
    assert client.get("/medium/briefing.pdf").status_code == 200  # default: own region, yesterday
    assert client.get("/medium/briefing.pdf?region=320104").status_code == 403  # another district
    for bad in ("2026-13-01", "yesterday", f"{NOW.date() + timedelta(days=1)}", "2025-01-01"):
        r = client.get(f"/medium/briefing.pdf?region=320102&day={bad}")
        assert r.status_code == 400 and b"day" in r.data, bad
    community = city.children(street)["code"].iloc[0]
    assert client.get(f"/medium/briefing.pdf?region={community}").status_code == 400  # no briefing below a street


def test_morning_build_runs_once_per_day_and_retries_a_failure(published, settings, city, redis_client, tmp_path):
    street = regions_for_briefing(city, "320102")[1]
    folder = tmp_path / "briefings"
    old, kept = folder / f"{DAY - timedelta(days=30)}", folder / f"{DAY - timedelta(days=29)}"
    old.mkdir(parents=True)
    kept.mkdir()
    reader = SnapshotReader(redis_client)
    key = Keys(settings.redis_prefix).briefing_day(DAY.isoformat())

    broken = tmp_path / "not-a-folder"
    broken.write_text("a file where the folder should be")
    failing = BriefingScheduler(settings.model_copy(update={"briefing_dir": broken}), city, redis_client, reader,
                                root=street)
    assert failing.check(NOW) is None and redis_client.get(key) is None  # the claim is given back: retried later

    s = settings.model_copy(update={"briefing_dir": folder})
    a, b = (BriefingScheduler(s, city, redis_client, reader, root=street) for _ in range(2))
    assert a.check(NOW.replace(hour=s.briefing_hour - 1)) is None and redis_client.get(key) is None  # before the hour
    next_morning = NOW + timedelta(days=1)  # the snapshot (as of NOW) has not seen all of NOW's day yet
    assert a.check(next_morning.replace(hour=s.briefing_hour + 1)) is None
    assert redis_client.get(Keys(settings.redis_prefix).briefing_day(NOW.date().isoformat())) is None
    report = a.check(NOW)
    assert report is not None and list(report.files) == [street]
    assert briefing_path(folder, street, DAY).read_bytes().startswith(b"%PDF-")
    assert b.check(NOW) is None and a.check(NOW) is None  # built once for the deployment
    assert redis_client.get(key).startswith(b"done")
    assert not old.exists() and kept.exists()  # the last 30 days are kept
