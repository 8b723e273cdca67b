"""Issue 23's trial, rebuilt here: a work-order export the product had never seen (one table; times as text
in the US 12-hour format 'MM/DD/YYYY hh:mm:ss AM'; English status, category, channel and level words; GPS
WGS-84 points and no region code; no flow log, satisfaction, devices or safety index), onboarded with a
mapping file alone (config/sources/examples/work_orders_us.toml), then
- recounted by this test's own SQL over its own table (its own parsing of the text times; each order's grid
  known from how its point was made, as the Open311 shape of tests/test_source_shapes.py is) against the
  tablet's figures;
- kept current without a usable update time: the open_set watermark reads new orders by the increasing
  RecordID and re-reads the open ones by CaseNumber, so a stage change and the close of an order opened
  weeks ago are both seen, and only the rows that changed are passed on;
- `source check` refuses LastModified as an update-time watermark (it does not sort like time)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from helpers import NOW, shown_for_window
from sqlalchemy import create_engine, text

from config.datums import convert
from config.settings import ROOT
from contract.windows import window_start
from etl.jobs import EtlJobs
from etl.source import check
from etl.source.mapping import load_mapping
from etl.source.schema import source_engine
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

MAPPING = ROOT / "config" / "sources" / "examples" / "work_orders_us.toml"
US = "%m/%d/%Y %I:%M:%S %p"
CATEGORIES = ["Pothole", "Illegal Dumping", "Graffiti", "Streetlight Out", "Water Leak", "Noise Complaint",
              "Blocked Fire Lane", "Neighbor Dispute"]
CHANNELS = ["Phone", "Mobile App", "Field Inspection", "Camera AI", "Sensor"]
LEVELS = ["Grid", "Community", "Street", "District", "UNASSIGNED"]
DUE_H = {"High": 4, "Medium": 48, "Low": 168}
COLUMNS = ("RecordID INTEGER PRIMARY KEY, CaseNumber TEXT, Category TEXT, Channel TEXT, Priority TEXT, "
           "AssignedLevel TEXT, Status TEXT, Description TEXT, Address TEXT, OpenedDate TEXT, AssignedDate TEXT, "
           "ResolvedDate TEXT, ClosedDate TEXT, DueDate TEXT, LastModified TEXT, Latitude REAL, Longitude REAL")


def us(t) -> str | None:
    return None if t is None else t.strftime(US)


def order(i: int, rnd: random.Random, lon: float, lat: float, opened, now=NOW) -> dict:
    """One order: its stages go as far as the time allows (nothing after `now`)."""
    pri = rnd.choice(list(DUE_H))
    t1 = opened + timedelta(minutes=rnd.randint(2, 240))
    t2 = t1 + timedelta(hours=rnd.randint(1, 90))
    t3 = t2 + timedelta(hours=rnd.randint(1, 30))
    reach = rnd.choices([0, 1, 2, 3], [1, 2, 2, 6])[0]
    while reach and [opened, t1, t2, t3][reach] >= now:
        reach -= 1
    status = ["New", rnd.choice(["Assigned", "In Progress"]), "Resolved", "Closed"][reach]
    times = [opened, t1 if reach >= 1 else None, t2 if reach >= 2 else None, t3 if reach >= 3 else None]
    return {"RecordID": i + 1, "CaseNumber": f"WO-{i + 1:07d}", "Category": rnd.choice(CATEGORIES),
            "Channel": rnd.choice(CHANNELS), "Priority": pri,
            "AssignedLevel": "UNASSIGNED" if reach == 0 else rnd.choice(LEVELS[:4]), "Status": status,
            "Description": "resident report", "Address": "", "OpenedDate": us(opened), "AssignedDate": us(times[1]),
            "ResolvedDate": us(times[2]), "ClosedDate": us(times[3]), "DueDate": us(opened + timedelta(hours=DUE_H[pri])),
            "LastModified": us(max(t for t in times if t is not None)), "Latitude": lat, "Longitude": lon}


def build(path, city, n: int, seed: int = 23):
    """The export (work_orders) and the test's own oracle of where each point was made (order_grid)."""
    rnd = random.Random(seed)
    grids = city.grids().sample(80, random_state=seed)
    lon, lat = convert(grids["lon"].to_numpy(), grids["lat"].to_numpy(), city.datum, "WGS84")  # the phones' GPS
    rows, truth = [], []
    for i in range(n):
        k = rnd.randrange(len(grids))
        opened = NOW - timedelta(minutes=rnd.randint(10, 45 * 24 * 60))
        rows.append(order(i, rnd, float(lon[k]), float(lat[k]), opened))
        truth.append({"CaseNumber": rows[-1]["CaseNumber"], "grid": grids["code"].iloc[k]})
    rows[5].update({"Latitude": 31.2304, "Longitude": 121.4737})  # a point in Shanghai: outside_city
    truth[5]["grid"] = "outside"
    rows[6]["Category"] = "Alien Landing"  # nobody mapped it: unmapped_value
    truth[6]["grid"] = "unmapped"
    eng = create_engine(f"sqlite:///{path}")  # the city's own writer
    with eng.begin() as c:
        c.execute(text(f"CREATE TABLE work_orders ({COLUMNS})"))
        c.execute(text("CREATE TABLE order_grid (CaseNumber TEXT, grid TEXT)"))
        cols = [c_.split()[0] for c_ in COLUMNS.split(", ")]
        c.execute(text(f"INSERT INTO work_orders VALUES ({', '.join(':' + x for x in cols)})"), rows)
        c.execute(text("INSERT INTO order_grid VALUES (:CaseNumber, :grid)"), truth)
    return eng


def iso(col: str) -> str:
    """The test's own parsing of 'MM/DD/YYYY hh:mm:ss AM' into sortable 'YYYY-MM-DD HH:MM:SS' (SQLite)."""
    return (f"(substr({col}, 7, 4) || '-' || substr({col}, 1, 2) || '-' || substr({col}, 4, 2) || ' ' || "
            f"printf('%02d', CAST(substr({col}, 12, 2) AS INTEGER) % 12 + "
            f"CASE WHEN substr({col}, 21, 2) = 'PM' THEN 12 ELSE 0 END) || substr({col}, 14, 6))")


COUNTS = f"""SELECT count(*) AS reported,
  sum(CASE WHEN w.Status = 'Closed' THEN 1 ELSE 0 END) AS closed,
  sum(CASE WHEN w.Status = 'Closed' AND {iso('w.ClosedDate')} <= {iso('w.DueDate')} THEN 1 ELSE 0 END) AS closed_on_time,
  sum(CASE WHEN w.Status = 'Closed' AND w.AssignedLevel = 'Grid' THEN 1 ELSE 0 END) AS grid_settled
FROM work_orders w JOIN order_grid g ON g.CaseNumber = w.CaseNumber
WHERE g.grid LIKE :prefix AND {iso('w.OpenedDate')} >= :start"""
STOCK = f"""SELECT sum(CASE WHEN w.Status <> 'Closed' THEN 1 ELSE 0 END),
  sum(CASE WHEN w.Status <> 'Closed' AND {iso('w.DueDate')} < :now THEN 1 ELSE 0 END)
FROM work_orders w JOIN order_grid g ON g.CaseNumber = w.CaseNumber WHERE g.grid LIKE :prefix"""


def recount(engine, snap, codes: list[str], now) -> int:
    """Every figure of the tablet for these regions and windows against the SQL; returns how many."""
    n = 0
    with engine.connect() as c:
        for code in codes:
            open_, overdue = c.execute(text(STOCK), {"prefix": f"{code}%", "now": now.strftime("%Y-%m-%d %H:%M:%S")}).one()
            for window in ("today", "7d", "30d"):
                start = window_start(now, window).strftime("%Y-%m-%d %H:%M:%S")
                want = c.execute(text(COUNTS), {"prefix": f"{code}%", "start": start}).one()
                shown = shown_for_window(snap, code, window)
                for key in ("reported", "closed", "closed_on_time", "grid_settled"):
                    assert shown[key] == (getattr(want, key) or 0), (code, window, key)
                assert (shown["open"], shown["overdue"]) == (open_ or 0, overdue or 0), (code, window)
                n += 6
    return n


@pytest.fixture
def orders(tmp_path, city):
    path = tmp_path / "export.db"
    return path, build(path, city, n=1500)


def test_the_trial_export_recounted_by_its_own_sql(orders, city, redis_client, capsys):
    path, writer = orders
    url = f"sqlite:///{path}"
    assert check.main(["check", "--no-progress", "--json", "--mapping", str(MAPPING), "--source-url", url]) == 0
    capsys.readouterr()
    engine = source_engine(url)
    jobs = EtlJobs(engine, city, SnapshotStore(redis_client), mapping=load_mapping(MAPPING))
    jobs.run_all(NOW)
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    q = jobs.ledger.quarantine_rows()
    assert sorted(zip(q["event_id"], q["reason"])) == [("WO-0000006", "outside_city"), ("WO-0000007", "unmapped_value")]
    assert jobs.ledger.events["handling_level"].isna().sum() > 10  # UNASSIGNED: no level, and not quarantined
    with writer.connect() as c:
        grids = [g for (g,) in c.execute(text("SELECT DISTINCT grid FROM order_grid WHERE grid LIKE '32%'"))]
    rnd = random.Random(5)
    codes = ["3201", *sorted({g[:6] for g in grids})[:4], *sorted({g[:9] for g in grids})[:4],
             *sorted({g[:12] for g in grids})[:3], *rnd.sample(grids, 4)]
    assert recount(writer, snap, codes, NOW) == len(codes) * 18
    assert snap.meta["provided"]["steps"] is False and snap.meta["provided"]["satisfaction"] is False
    assert snap.meta["provided"]["devices"] is False and snap.meta["provided"]["safety"] is False
    assert snap.meta["provided"]["stages"] == {"reported": True, "dispatched": True, "handled": True,
                                               "verified": False, "closed": True}


def test_open_set_watermark_sees_a_stage_change_and_a_weeks_old_close(orders, city, redis_client):
    path, writer = orders
    engine = source_engine(f"sqlite:///{path}")
    jobs = EtlJobs(engine, city, SnapshotStore(redis_client), mapping=load_mapping(MAPPING))
    assert jobs.run("events", NOW) is not None
    with writer.connect() as c:
        old = c.execute(text(f"SELECT CaseNumber FROM work_orders WHERE Status <> 'Closed' AND Category <> 'Alien Landing' "
                             f"AND RecordID > 7 AND {iso('OpenedDate')} < :t ORDER BY RecordID LIMIT 1"),
                        {"t": (NOW - timedelta(days=21)).strftime("%Y-%m-%d %H:%M:%S")}).scalar()
        new = c.execute(text("SELECT CaseNumber FROM work_orders WHERE Status = 'New' AND RecordID > 7 "
                             "ORDER BY RecordID DESC LIMIT 1")).scalar()
        top = c.execute(text("SELECT max(RecordID) FROM work_orders")).scalar()
    assert old and new
    then = NOW + timedelta(minutes=2)
    rnd = random.Random(9)
    grid = city.grids().iloc[3]
    lon, lat = convert([grid["lon"]], [grid["lat"]], city.datum, "WGS84")
    added = order(top, rnd, float(lon[0]), float(lat[0]), NOW + timedelta(minutes=1), now=then)
    with writer.begin() as c:  # the city's system: no update time anywhere
        c.execute(text("UPDATE work_orders SET Status = 'Closed', AssignedDate = coalesce(AssignedDate, :t), "
                       "ResolvedDate = coalesce(ResolvedDate, :t), ClosedDate = :t, AssignedLevel = 'Grid' "
                       "WHERE CaseNumber = :c"), {"t": us(NOW + timedelta(minutes=1)), "c": old})
        c.execute(text("UPDATE work_orders SET Status = 'Assigned', AssignedDate = :t, AssignedLevel = 'Street' "
                       "WHERE CaseNumber = :c"), {"t": us(NOW + timedelta(minutes=1)), "c": new})
        cols = list(added)
        c.execute(text(f"INSERT INTO work_orders ({', '.join(cols)}) VALUES ({', '.join(':' + x for x in cols)})"), added)
    m = jobs.run("events", then)
    assert m is not None
    pull = m["meta"]["events_pull"]
    assert pull["read"] == 3 and pull["accepted"] == 3, pull  # only what changed is passed on, not every open order
    rows = jobs.ledger.events.set_index("event_id")
    assert rows.loc[old, "closed_at"] == NOW + timedelta(minutes=1) and rows.loc[old, "reported_at"] < NOW - timedelta(days=21)
    assert rows.loc[new, "dispatched_at"] == NOW + timedelta(minutes=1) and rows.loc[new, "handling_level"] == "street"
    assert added["CaseNumber"] in rows.index
    stats = jobs.source.open_stats
    assert stats["open"] > 100 and stats["reread"] >= stats["open"] - 3
    # a tick with no change passes nothing on
    assert jobs.run("events", then + timedelta(seconds=5))["meta"]["events_pull"]["read"] == 0


def test_source_check_refuses_last_modified_as_an_update_time_watermark(orders, tmp_path, capsys):
    path, _ = orders
    bad = tmp_path / "update_time.toml"
    bad.write_text(MAPPING.read_text(encoding="utf-8").replace(
        '[events.watermark]\nkind = "open_set"', 'updated_at = { column = "LastModified", format = "%m/%d/%Y %I:%M:%S %p" }\n'
        '[events.watermark]\nkind = "update_time"').replace(
        '# LastModified is kept by the export but sorts by month first: no watermark (see [events.watermark])\n', ''),
        encoding="utf-8")
    text_ = bad.read_text(encoding="utf-8")
    # updated_at belongs in [events.times]: move it there
    text_ = text_.replace('updated_at = { column = "LastModified", format = "%m/%d/%Y %I:%M:%S %p" }\n', '')
    text_ = text_.replace('due_at = { column = "DueDate", format = "%m/%d/%Y %I:%M:%S %p" }\n',
                          'due_at = { column = "DueDate", format = "%m/%d/%Y %I:%M:%S %p" }\n'
                          'updated_at = { column = "LastModified", format = "%m/%d/%Y %I:%M:%S %p" }\n')
    bad.write_text(text_, encoding="utf-8")
    assert load_mapping(bad).spec.events.watermark.kind == "update_time"
    assert check.main(["check", "--no-progress", "--mapping", str(bad), "--source-url", f"sqlite:///{path}"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "'events.times.updated_at'" in err and "'LastModified'" in err, err
