"""Demo source system: backfills history and then writes a live stream into the source tables.

Everything random comes from the seed or from a hash of the event id, so a run is reproducible for
a given seed and clock: an event's whole future (stage delays, reopen, satisfaction) is fixed when
it is reported and revealed as the clock passes each stage."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import func, insert, inspect, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from config.city import City
from config.region_codes import CODE_LENGTH
from contract.domain import CAMERA_TAGS, CATEGORIES, CHANNELS, HANDLING_LEVELS, STAFF_ROLES
from demo.bulk_insert import insert_frame
from demo.sim_departments import behaviour, with_departments
from demo.sim_shape import day_factor, planted_surges, surges_of_day
from demo.sim_steps import flow_steps, grid_staff_names
from etl.source.schema import Base, Device, Event, EventStep, GridStaff, SafetyIndex, create_source_tables

log = logging.getLogger(__name__)

# Share of events per hour of the day (the city's daily rhythm: quiet night, morning and afternoon peaks).
HOUR_WEIGHTS = np.array([2, 1, 1, 1, 1, 2, 4, 7, 10, 11, 10, 9, 7, 8, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2], float)
CHANNEL_P = np.array([0.38, 0.22, 0.25, 0.10, 0.05])
CATEGORY_P = np.array([0.26, 0.24, 0.10, 0.08, 0.08, 0.12, 0.07, 0.05])
LEVEL_P = np.array([0.70, 0.18, 0.09, 0.03])
# Median minutes of each stage and its log-normal spread; the deadline by priority (hours).
STAGE_MEDIAN_MIN = {"dispatched": 6, "handled": 150, "verified": 40, "closed": 25}
STAGE_SIGMA = {"dispatched": 0.9, "handled": 1.1, "verified": 0.8, "closed": 0.7}
DUE_HOURS = {1: 8, 2: 24, 3: 72}
REOPEN_SHARE = 0.03
RATED_SHARE = 0.65
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文")
STREET_WORDS = ["中山路", "北京东路", "汉中路", "龙蟠路", "江东中路", "应天大街", "珠江路", "广州路", "太平北路", "集庆路"]
TITLES = {
    "民生服务": ["小区供水异常", "路灯不亮", "燃气报修", "噪音扰民"], "城市管理": ["占道经营", "垃圾未清运", "井盖破损", "违章搭建"],
    "公共安全": ["消防通道堵塞", "电动车违规充电", "高空坠物隐患"], "环保巡查": ["油烟污染", "河道漂浮物", "工地扬尘"],
    "平安法治": ["可疑人员徘徊", "电信诈骗宣传"], "矛盾纠纷": ["邻里纠纷", "物业纠纷", "劳资纠纷"],
    "群众工作": ["困难群众走访", "政策咨询"], "区域党建": ["党群活动场地", "志愿服务需求"],
}


def _hash_uniform(ids: pd.Series, salt: str) -> np.ndarray:
    """A uniform number in (0, 1) per id, fixed by the id and salt (so an event's future is stable)."""
    h = pd.util.hash_array(ids.to_numpy(dtype=object), hash_key=(salt * 16)[:16])
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53) * 0.999998 + 0.000001


def _hash_normal(ids: pd.Series, salt: str) -> np.ndarray:
    u1, u2 = _hash_uniform(ids, salt + "a"), _hash_uniform(ids, salt + "b")
    return np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)


def planned_timeline(ev: pd.DataFrame) -> pd.DataFrame:
    """Each event's planned stage times, handling level, reopen and satisfaction, from its id and report time."""
    ids = ev["event_id"]
    out = pd.DataFrame(index=ev.index)
    t = pd.to_datetime(ev["reported_at"])
    # the department's behaviour (demo/sim_departments.py): a slow one, one that bounces cases back
    dept = ev["department"].to_numpy(dtype=object) if "department" in ev else np.full(len(ev), None, dtype=object)
    slow = _hash_uniform(ids, "slow") < behaviour(dept, "stuck")  # some events get stuck and go late
    for stage, median in STAGE_MEDIAN_MIN.items():
        minutes = median * np.exp(STAGE_SIGMA[stage] * _hash_normal(ids, stage))
        if stage == "handled":
            minutes = np.where(slow, minutes * 20, minutes) * behaviour(dept, "slow")
        t = t + pd.to_timedelta(np.maximum(minutes, 0.5), unit="min")
        out[f"{stage}_at"] = t.dt.floor("s")  # sources keep whole seconds
    reopen = _hash_uniform(ids, "reopen") < (behaviour(dept, "rework") if len(dept) else REOPEN_SHARE)
    out["hung"] = slow & (_hash_uniform(ids, "hang") < behaviour(dept, "hang"))  # parked (挂账) while open
    out["reopen_at"] = out["closed_at"].where(reopen)
    out.loc[reopen, "closed_at"] = (out.loc[reopen, "closed_at"] + pd.to_timedelta(
        600 + 900 * _hash_uniform(ids[reopen], "reopen2"), unit="min")).dt.floor("s")
    u = _hash_uniform(ids, "level")
    out["handling_level"] = np.array(HANDLING_LEVELS)[np.searchsorted(np.cumsum(LEVEL_P), u)]
    rated = _hash_uniform(ids, "rated") < RATED_SHARE
    score = np.clip(np.round(4.6 + 0.8 * _hash_normal(ids, "score") - 1.5 * slow - 1.0 * reopen), 1, 5)
    out["satisfaction"] = pd.array(np.where(rated, score, np.nan)).astype("Int64")
    return out


def reveal(ev: pd.DataFrame, plan: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """The source rows as they stand at `now`: stages planned for later are still empty."""
    ev = ev.copy()
    last = pd.to_datetime(ev["reported_at"])
    for stage in ("dispatched", "handled", "verified", "closed"):
        col = f"{stage}_at"
        due = plan[col] <= now
        ev[col] = plan[col].where(due)
        last = last.where(~due, plan[col])
    reopened = plan["reopen_at"].notna() & (plan["reopen_at"] <= now)
    ev["reopened"] = reopened.astype(int)
    last = last.where(~reopened | (last > plan["reopen_at"]), plan["reopen_at"])
    ev["handling_level"] = plan["handling_level"].where(ev["handled_at"].notna())
    ev["satisfaction"] = plan["satisfaction"].where(ev["closed_at"].notna())
    ev["hung"] = (plan["hung"] & ev["closed_at"].isna()).astype(int)
    ev["updated_at"] = last
    return ev


def stale_demo_tables(engine) -> list[str]:
    """Tables of the demo source that exist without every column the schema declares now (e.g. `events` before
    departments): the demo's own simulated data, so it is written again rather than failing the mapping."""
    have = inspect(engine)
    names = set(have.get_table_names())
    return [t.name for t in Base.metadata.sorted_tables
            if t.name in names and {c.name for c in t.columns} - {c["name"] for c in have.get_columns(t.name)}]


@dataclass
class Simulator:
    engine: Engine
    city: City
    seed: int = 20261122
    events_per_day: int = 3000
    bad_row_rate: float = 0.001
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        grids = self.city.grids().reset_index(drop=True)
        # Uneven grids: a heavy-tailed weight per grid, heavier in the urban core (near the centre).
        dist = np.hypot(grids["lon"] - self.city.center[0], grids["lat"] - self.city.center[1])
        w = np.random.default_rng(self.seed + 1).lognormal(0, 0.9, len(grids)) / (0.05 + dist)
        self.grids = grids
        self.grid_p = (w / w.sum()).to_numpy()
        # the districts a planted incident may hit (demo/sim_shape.py), each with its grids and their weights
        district = self.grids["code"].str.slice(0, CODE_LENGTH["district"]).to_numpy()
        self.districts = sorted(set(district))
        self._district_grids = {d: np.flatnonzero(district == d) for d in self.districts}
        self._next_no: int | None = None
        self._last_tick: datetime | None = None
        self._step_context: tuple | None = None

    # --- events -------------------------------------------------------------------------------
    def surges(self, first: date, last: date) -> pd.DataFrame:
        """The surges this seed plants from `first` to `last` (demo/sim_shape.py): what a backtest scores against."""
        return planted_surges(self.seed, first, last, self.districts)

    def _new_events(self, start: datetime, end: datetime) -> pd.DataFrame:
        """Events reported in [start, end), following the daily rhythm, the day of the week and the holidays,
        with the surges planted on those days (demo/sim_shape.py)."""
        hours = pd.date_range(pd.Timestamp(start).floor("h"), end, freq="h")
        rate = self.events_per_day * HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
        times, forced = [], []  # forced: the district an incident's extra events are in (-1: anywhere)
        days: dict = {}
        for h in hours:
            d = h.date()
            if d not in days:
                days[d] = (day_factor(d), surges_of_day(self.seed, d, self.districts))
            f, surges = days[d]
            lam = rate[h.hour] * f
            extra = []
            for s in surges:
                if s["first_hour"] <= h.hour < s["end_hour"]:
                    if s["kind"] == "storm":
                        lam *= s["factor"]
                    else:
                        k = self.districts.index(s["code"])
                        share = self.grid_p[self._district_grids[s["code"]]].sum()
                        extra.append((k, rate[h.hour] * f * share * (s["factor"] - 1)))
            for k, lam_k in [(-1, lam), *extra]:
                n = self.rng.poisson(lam_k)
                ts = h + pd.to_timedelta(self.rng.integers(0, 3600, n), unit="s")
                inside = (ts >= start) & (ts < end)
                times.append(ts[inside])
                forced.append(np.full(int(inside.sum()), k))
        t = pd.DatetimeIndex(np.concatenate([x.values for x in times])) if times else pd.DatetimeIndex([])
        order = np.argsort(t.values, kind="stable")
        t, where = t[order], (np.concatenate(forced)[order] if forced else np.zeros(0, int))
        n = len(t)
        if self._next_no is None:
            with self.engine.connect() as c:
                self._next_no = (c.execute(select(func.max(Event.row_id))).scalar() or 0) + 1
        no = np.arange(self._next_no, self._next_no + n)
        self._next_no += n
        gi = self.rng.choice(len(self.grids), n, p=self.grid_p)
        for k in np.unique(where[where >= 0]):
            idx = self._district_grids[self.districts[k]]
            p = self.grid_p[idx] / self.grid_p[idx].sum()
            gi[where == k] = idx[self.rng.choice(len(idx), int((where == k).sum()), p=p)]
        g = self.grids.iloc[gi].reset_index(drop=True)
        cat = np.array(CATEGORIES)[self.rng.choice(len(CATEGORIES), n, p=CATEGORY_P)]
        prio = self.rng.choice([1, 2, 3], n, p=[0.1, 0.6, 0.3])
        ev = pd.DataFrame({
            "event_id": [f"NJ{x:010d}" for x in no],
            "grid_code": g["code"].to_numpy(),
            "lon": np.round(g["lon"].to_numpy() + self.rng.normal(0, 0.0003, n), 6),
            "lat": np.round(g["lat"].to_numpy() + self.rng.normal(0, 0.0003, n), 6),
            "category": cat,
            "channel": np.array(CHANNELS)[self.rng.choice(len(CHANNELS), n, p=CHANNEL_P)],
            "priority": prio,
            "title": [TITLES[c][k % len(TITLES[c])] for c, k in zip(cat, self.rng.integers(0, 12, n))],
            "reporter_name": np.char.add(np.array(SURNAMES)[self.rng.integers(0, len(SURNAMES), n)],
                                         np.array(GIVEN)[self.rng.integers(0, len(GIVEN), n)]).astype(object),
            "reporter_phone": [f"13{x:09d}" for x in self.rng.integers(0, 10**9, n)],
            "address": np.char.add(np.array(STREET_WORDS)[self.rng.integers(0, len(STREET_WORDS), n)],
                                   np.char.add(self.rng.integers(1, 400, n).astype(str), "号")).astype(object),
            "reported_at": t.to_numpy(),
            "due_at": (t + pd.to_timedelta(pd.Series(prio).map(DUE_HOURS).to_numpy(), unit="h")).to_numpy(),
        })
        inside = self.city.contains(ev["lon"].to_numpy(), ev["lat"].to_numpy())
        ev.loc[~inside, "lon"] = g.loc[~inside, "lon"].to_numpy()
        ev.loc[~inside, "lat"] = g.loc[~inside, "lat"].to_numpy()
        return self._spoil(with_departments(ev, _hash_uniform))

    def _spoil(self, ev: pd.DataFrame) -> pd.DataFrame:
        """Make a few rows malformed, as real sources do, so the quarantine has work in the demo."""
        bad = np.flatnonzero(self.rng.random(len(ev)) < self.bad_row_rate)
        for i, kind in zip(bad.tolist(), self.rng.integers(0, 4, len(bad)).tolist()):
            if kind == 0:
                ev.loc[i, "grid_code"] = "999999999999999"
            elif kind == 1:
                ev.loc[i, "category"] = None
            elif kind == 2:
                ev.loc[i, ["lon", "lat"]] = [121.47, 31.23]  # Shanghai
            else:
                ev.loc[[i], "event_id"] = ev.loc[[max(i - 1, 0)], "event_id"].to_numpy()  # a duplicate id
        return ev

    def _insert_events(self, ev: pd.DataFrame, now: datetime) -> int:
        """Insert new events as they stand at `now`, with a flow-log step for every stage revealed."""
        if ev.empty:
            return 0
        plan = planned_timeline(ev)
        rows = reveal(ev, plan, now)
        first = ~ev["event_id"].duplicated().to_numpy()  # a duplicated id (a spoiled row) gets no steps
        emit = {s: (plan[f"{s}_at"] <= now).to_numpy() & first for s in ("dispatched", "handled", "verified", "closed")}
        emit["reported"] = first
        emit["reopened"] = (plan["reopen_at"] <= now).to_numpy() & first
        steps = self.steps(ev, plan, emit)
        with self.engine.begin() as c:
            insert_frame(c, Event.__table__, rows)
            insert_frame(c, EventStep.__table__, steps)
        return len(rows)

    def steps(self, ev: pd.DataFrame, plan: pd.DataFrame, emit: dict[str, np.ndarray], updated_at=None) -> pd.DataFrame:
        """The flow-log rows of these events for the stages in `emit` (demo/sim_steps.py)."""
        if self._step_context is None:
            regions = self.city.regions
            self._step_context = (regions.set_index("code")["name"],
                                  regions.loc[regions["level"] == "city", "name"].iloc[0],
                                  grid_staff_names(pd.DataFrame(self._staff())))
        names, city_name, staff = self._step_context
        return flow_steps(ev, plan, emit, names, city_name, staff, updated_at)

    def advance(self, now: datetime) -> int:
        """Reveal the stages of open events that have come due; returns how many rows changed."""
        cols = [Event.row_id, Event.event_id, Event.grid_code, Event.category, Event.channel, Event.title,
                Event.reported_at, Event.dispatched_at, Event.handled_at,
                Event.verified_at, Event.closed_at, Event.reopened, Event.handling_level, Event.satisfaction,
                Event.department, Event.hung]
        with self.engine.connect() as c:
            open_ = pd.DataFrame(c.execute(select(*cols).where(
                (Event.closed_at.is_(None)) & (Event.category.is_not(None)))).all(), columns=[x.key for x in cols])
        if open_.empty:
            return 0
        plan = planned_timeline(open_)
        new = reveal(open_, plan, now)
        watch = ["dispatched_at", "handled_at", "verified_at", "closed_at", "reopened", "hung"]
        changed = np.zeros(len(open_), bool)
        for col in watch:
            a, b = open_[col], new[col]
            changed |= ~((a == b) | (a.isna() & b.isna())).to_numpy()
        if not changed.any():
            return 0
        # steps for the stages revealed now, only for the row that owns its id (not a spoiled duplicate)
        ids = open_.loc[changed, "event_id"].unique().tolist()
        with self.engine.connect() as c:
            owner = dict(c.execute(select(Event.event_id, func.min(Event.row_id)).where(
                Event.event_id.in_(ids)).group_by(Event.event_id)).all()) if len(ids) < 30000 else {}
        owns = (open_["event_id"].map(owner).fillna(open_["row_id"]) == open_["row_id"]).to_numpy() & changed
        emit = {s: (open_[f"{s}_at"].isna() & new[f"{s}_at"].notna()).to_numpy() & owns
                for s in ("dispatched", "handled", "verified", "closed")}
        emit["reopened"] = ((open_["reopened"] == 0) & (new["reopened"] == 1)).to_numpy() & owns
        steps = self.steps(open_, plan, emit, updated_at=now)
        new = new[changed].assign(updated_at=now)
        keep = ["row_id", *watch, "handling_level", "satisfaction", "updated_at"]
        recs = new[keep].astype(object).where(new[keep].notna(), None).to_dict("records")
        with Session(self.engine) as session, session.begin():
            session.execute(update(Event), cast(list[dict[str, Any]], recs))  # ORM bulk UPDATE by primary key
            insert_frame(session.connection(), EventStep.__table__, steps)
        return len(recs)

    # --- devices, safety index, staff ---------------------------------------------------------------
    def _devices(self, now: datetime, n_cameras: int, n_iot: int) -> pd.DataFrame:
        r = np.random.default_rng(self.seed + 7)
        grids = self.grids
        blind = r.random(len(grids)) < 0.05  # some grids have no camera at all
        p = self.grid_p * 0.5 + 0.5 / len(grids)
        cam_p = np.where(blind, 0, p)
        frames = []
        for kind, n, pp, types in (("camera", n_cameras, cam_p / cam_p.sum(), ["枪机", "球机", "半球", "高空瞭望"]),
                                   ("iot", n_iot, p / p.sum(), ["烟感", "水位", "井盖", "电弧", "门磁", "空气质量"])):
            gi = r.choice(len(grids), n, p=pp)
            covered = np.flatnonzero(pp > 0)  # every grid that is not a blind spot has at least one
            gi[:min(n, len(covered))] = covered[:n]
            g = grids.iloc[gi].reset_index(drop=True)
            quality = r.choice(["verified", "approximate", "missing"], n, p=[0.85, 0.10, 0.05])
            lon = g["lon"].to_numpy() + r.normal(0, 0.0004, n) * (quality != "verified")
            lat = g["lat"].to_numpy() + r.normal(0, 0.0004, n) * (quality != "verified")
            ntag = r.choice([0, 1, 2], n, p=[0.1, 0.6, 0.3])
            t1, t2 = np.array(CAMERA_TAGS)[r.integers(0, 6, n)], np.array(CAMERA_TAGS)[r.integers(0, 6, n)]
            tags = np.where(ntag == 0, "", np.where((ntag == 1) | (t1 == t2), t1, np.char.add(np.char.add(t1, ","), t2)))
            frames.append(pd.DataFrame({
                "device_id": [f"{kind[0].upper()}{i:07d}" for i in range(n)], "kind": kind,
                "device_type": r.choice(types, n), "grid_code": g["code"].to_numpy(),
                "lon": np.where(quality == "missing", np.nan, np.round(lon, 6)),
                "lat": np.where(quality == "missing", np.nan, np.round(lat, 6)),
                "tags": tags, "status": np.where(r.random(n) < 0.95, "online", "offline"),
                "last_seen_at": now, "coord_quality": quality, "updated_at": now}))
        return pd.concat(frames, ignore_index=True)

    def flip_devices(self, now: datetime, share: float = 0.002, online_share: float = 0.95) -> int:
        """Some devices go offline and some come back: an online device fails with chance `share`, an
        offline one is repaired with the chance that keeps `online_share` of them online in the long run
        (a symmetric flip would drift every district towards half its cameras offline)."""
        with self.engine.connect() as c:
            ids = pd.DataFrame(c.execute(select(Device.device_id, Device.status)).all(), columns=["id", "status"])
        repair = share * online_share / (1 - online_share)
        chance = np.where(ids["status"] == "online", share, repair)
        pick = ids[self.rng.random(len(ids)) < chance]
        if pick.empty:
            return 0
        flipped = np.where(pick["status"] == "online", "offline", "online")
        recs = [{"device_id": i, "status": s, "updated_at": now, "last_seen_at": now}
                for i, s in zip(pick["id"], flipped)]
        with Session(self.engine) as session, session.begin():
            session.execute(update(Device), recs)
        return len(recs)

    def _safety_rows(self, months: list[date], now: datetime) -> list[dict]:
        regions = self.city.regions[self.city.regions["level"].isin(["city", "district", "street"])]
        rows = []
        for _, reg in regions.iterrows():
            r = np.random.default_rng([self.seed, int(reg["code"])])
            base = r.uniform(88, 97)
            for m in months:
                rm = np.random.default_rng([self.seed, int(reg["code"]), m.year * 100 + m.month])
                drift = 0.15 * ((m.year * 12 + m.month) % 12)
                comps = {k: float(np.clip(base + drift + rm.normal(0, 2), 60, 100)) for k in
                         ("security", "fire", "traffic", "production", "disputes")}
                idx = 0.3 * comps["security"] + 0.15 * comps["fire"] + 0.2 * comps["traffic"] + \
                    0.15 * comps["production"] + 0.2 * comps["disputes"]
                rows.append({"region_code": reg["code"], "month": m, "index_value": round(idx, 2),
                             "public_security": round(float(np.clip(98.6 + rm.normal(0, 0.4), 95, 99.9)), 2),
                             **{k: round(v, 2) for k, v in comps.items()}, "updated_at": now})
        return rows

    def ensure_safety_month(self, now: datetime) -> int:
        """Publish the current month's safety index if the source does not have it yet (a new month)."""
        m = date(now.year, now.month, 1)
        with self.engine.connect() as c:
            have = c.execute(select(func.count()).where(SafetyIndex.month == m)).scalar()
        if have:
            return 0
        rows = self._safety_rows([m], now)
        with self.engine.begin() as c:
            c.execute(insert(SafetyIndex), rows)
        return len(rows)

    def _staff(self) -> list[dict]:
        """1 grid leader + 1 grid worker + 2-6 volunteers per grid."""
        r = np.random.default_rng(self.seed + 11)
        per_grid = 2 + r.integers(2, 7, len(self.grids))
        code = np.repeat(self.grids["code"].to_numpy(), per_grid)
        j = np.concatenate([np.arange(k) for k in per_grid])
        role = np.where(j == 0, STAFF_ROLES[0], np.where(j == 1, STAFF_ROLES[1], STAFF_ROLES[2]))
        n = len(code)
        name = np.char.add(np.char.add(np.array(SURNAMES)[r.integers(0, len(SURNAMES), n)],
                                       np.array(GIVEN)[r.integers(0, len(GIVEN), n)]),
                           np.array(GIVEN)[r.integers(0, len(GIVEN), n)])
        phone = np.char.add("13", np.char.zfill(r.integers(0, 10**9, n).astype(str), 9))
        staff = pd.DataFrame({"staff_id": [f"{c}{k:02d}" for c, k in zip(code, j)], "grid_code": code,
                              "role": role, "name": name, "phone": phone}).astype(object)
        return staff.to_dict("records")

    # --- entry points ---------------------------------------------------------------------------
    def is_empty(self) -> bool:
        with self.engine.connect() as c:
            return not c.execute(select(func.count()).select_from(Event)).scalar()

    def backfill(self, days: int, now: datetime, n_cameras: int = 15000, n_iot: int = 20000) -> int:
        """Create the tables and write `days` of history up to `now` (only into an empty source). A demo source
        written by an older version (a table without a column the schema has now) is written again from scratch."""
        if stale_demo_tables(self.engine):
            log.warning("the demo source %s lacks columns of this version (%s): writing it again",
                        self.engine.url, ", ".join(stale_demo_tables(self.engine)))
            Base.metadata.drop_all(self.engine)
        create_source_tables(self.engine)
        if not self.is_empty():
            log.info("source already has events; no backfill")
            self._last_tick = now
            return 0
        n = 0
        start = now - timedelta(days=days)
        day = start
        while day < now:  # a day at a time keeps memory flat
            end = min(day + timedelta(days=1), now)
            n += self._insert_events(self._new_events(day, end), now)
            day = end
        with self.engine.begin() as c:
            c.execute(insert(Device), cast(list[dict[str, Any]], self._devices(now, n_cameras, n_iot).astype(object)
                      .where(lambda d: d.notna(), None).to_dict("records")))
            months = [date(now.year, now.month, 1) - pd.DateOffset(months=k) for k in range(11, -1, -1)]
            c.execute(insert(SafetyIndex), self._safety_rows([m.date() if hasattr(m, "date") else m for m in months], now))
            c.execute(insert(GridStaff), self._staff())
        self._last_tick = now
        log.info("backfilled %d events over %d days", n, days)
        return n

    def tick(self, now: datetime) -> dict:
        """One live step: new events since the last tick, due stages revealed, a few devices flipped."""
        start = self._last_tick or now - timedelta(seconds=5)
        added = self._insert_events(self._new_events(start, now), now) if now > start else 0
        self._last_tick = now
        advanced = self.advance(now)
        flipped = self.flip_devices(now, share=0.0005)
        self.ensure_safety_month(now)
        return {"added": added, "advanced": advanced, "flipped": flipped}
