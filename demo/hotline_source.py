"""The demo as a foreign source: the simulator's city written as a 12345 hotline work-order table
(`gd_order`, the shape of config/sources/examples/hotline.toml), so the demo shows the product reading
a source that is not ours, live (`python3 cockpit.py demo --source-shape hotline`). Events come from the
same generator and planned timelines as demo/simulator.py; a tick adds the new orders and moves the
open ones on (state codes, dispatch/complete/visit times, the return visit's words)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, bindparam, func, select, update
from sqlalchemy.engine import Engine

from config.city import City
from config.departments import load_departments
from demo.bulk_insert import insert_frame
from demo.simulator import Simulator, planned_timeline, reveal

MD = MetaData()
GD_ORDER = Table(
    "gd_order", MD, Column("ORDER_NO", String(24), primary_key=True), Column("CALL_TIME", DateTime, index=True),
    Column("QUESTION_CLASS", String(16)), Column("QUESTION_TITLE", String(128)), Column("ORDER_STATE", Integer),
    Column("URGENCY", Integer), Column("DEADLINE", DateTime), Column("DISPATCH_TIME", DateTime),
    Column("COMPLETE_TIME", DateTime), Column("VISIT_TIME", DateTime), Column("VISIT_RESULT", String(8)),
    Column("DEAL_UNIT_CODE", String(16)), Column("DEAL_LEVEL", String(8)), Column("DEAL_DEPT", String(64)),
    Column("CALLER_NAME", String(32)),
    Column("CALLER_PHONE", String(20)), Column("ADDRESS", String(128)), Column("UPDATE_TIME", DateTime, index=True))
# our category -> a question class of the hotline's tree (hotline.toml maps them back)
QUESTION_CLASS = {"民生服务": "供水", "城市管理": "占道经营", "公共安全": "消防隐患", "环保巡查": "油烟污染",
                  "平安法治": "治安", "矛盾纠纷": "邻里纠纷", "群众工作": "政策咨询", "区域党建": "政策咨询"}
LEVEL_WORD = {"grid": "网格", "community": "社区", "street": "街道", "district": "区"}
STAGE_STATE = (("closed_at", 5), ("verified_at", 4), ("handled_at", 3), ("dispatched_at", 1))


def _state(rows: pd.DataFrame) -> np.ndarray:
    state = np.zeros(len(rows), dtype=np.int64)
    for col, code in reversed(STAGE_STATE):
        state = np.where(rows[col].notna().to_numpy(), code, state)
    return state


def _visit(sat: pd.Series) -> np.ndarray:
    s = pd.to_numeric(sat, errors="coerce").astype("float64").to_numpy()
    return np.select([s >= 5, s == 4, s <= 3], ["满意", "基本满意", "不满意"], "").astype(object)


def _moving(rows: pd.DataFrame) -> dict[str, object]:
    """The columns a tick changes, from revealed rows."""
    return {"ORDER_STATE": _state(rows), "DISPATCH_TIME": rows["dispatched_at"], "COMPLETE_TIME": rows["handled_at"],
            "VISIT_TIME": rows["verified_at"], "VISIT_RESULT": _visit(rows["satisfaction"]),
            "DEAL_LEVEL": rows["handling_level"].map(LEVEL_WORD), "UPDATE_TIME": rows["updated_at"]}


class HotlineSimulator:
    def __init__(self, engine: Engine, city: City, seed: int = 20261122, events_per_day: int = 3000):
        self.engine, self.sim = engine, Simulator(engine, city, seed=seed, events_per_day=events_per_day, bad_row_rate=0)
        self.departments = load_departments(city.folder)  # the orders name their department (承办单位) by name
        self._last_tick: datetime | None = None

    def _orders(self, ev: pd.DataFrame, now: datetime) -> pd.DataFrame:
        rows = reveal(ev, planned_timeline(ev), now)
        return pd.DataFrame({
            "ORDER_NO": rows["event_id"], "CALL_TIME": rows["reported_at"],
            "QUESTION_CLASS": rows["category"].map(QUESTION_CLASS), "QUESTION_TITLE": rows["title"],
            "URGENCY": rows["priority"], "DEADLINE": rows["due_at"],
            "DEAL_UNIT_CODE": rows["grid_code"].str[:12],  # the handling community (counted at that level)
            "DEAL_DEPT": rows["department"].map(self.departments.table.set_index("code")["name"]),
            "CALLER_NAME": rows["reporter_name"], "CALLER_PHONE": rows["reporter_phone"], "ADDRESS": rows["address"],
            **_moving(rows)}).replace({"VISIT_RESULT": {"": None}})  # type: ignore[arg-type]

    def _write_new(self, start: datetime, end: datetime, now: datetime) -> int:
        if self.sim._next_no is None:
            with self.engine.connect() as c:
                self.sim._next_no = (c.execute(select(func.count()).select_from(GD_ORDER)).scalar() or 0) + 1
        ev = self.sim._new_events(start, end)
        if ev.empty:
            return 0
        ev = ev.drop_duplicates("event_id")
        with self.engine.begin() as c:
            insert_frame(c, GD_ORDER, self._orders(ev, now))
        return len(ev)

    def backfill(self, days: int, now: datetime) -> int:
        """Create gd_order and write `days` of orders up to `now` (only into an empty table)."""
        MD.create_all(self.engine)
        self._last_tick = now
        with self.engine.connect() as c:
            if c.execute(select(func.count()).select_from(GD_ORDER)).scalar():
                return 0
        n, day = 0, now - timedelta(days=days)
        while day < now:
            end = min(day + timedelta(days=1), now)
            n += self._write_new(day, end, now)
            day = end
        return n

    def advance(self, now: datetime) -> int:
        """Move the open orders on to what their plan says at `now`; returns how many changed."""
        with self.engine.connect() as c:
            cur = pd.read_sql(select(GD_ORDER.c.ORDER_NO, GD_ORDER.c.CALL_TIME, GD_ORDER.c.ORDER_STATE,
                                     GD_ORDER.c.DEAL_DEPT).where(GD_ORDER.c.ORDER_STATE < 5), c)
        if cur.empty:
            return 0
        dept = self.departments.codes[self.departments.numbers(cur["DEAL_DEPT"])]
        ev = pd.DataFrame({"event_id": cur["ORDER_NO"], "reported_at": pd.to_datetime(cur["CALL_TIME"]),
                           "department": np.where(dept == "", None, dept)})  # the plan the order was written with
        rows = reveal(ev, planned_timeline(ev), now)
        new = pd.DataFrame(_moving(rows)).assign(UPDATE_TIME=now)  # the row changed now
        changed = new["ORDER_STATE"].to_numpy() != cur["ORDER_STATE"].to_numpy()
        if not changed.any():
            return 0
        recs = new[changed].assign(b_no=cur.loc[changed, "ORDER_NO"]).astype(object)
        recs = recs.where(recs.notna() & (recs != ""), None).to_dict("records")
        stmt = update(GD_ORDER).where(GD_ORDER.c.ORDER_NO == bindparam("b_no")).values(
            {k: bindparam(k) for k in _moving(rows)})
        with self.engine.begin() as c:
            c.execute(stmt, recs)
        return len(recs)

    def tick(self, now: datetime) -> dict:
        start = self._last_tick or now - timedelta(seconds=5)
        added = self._write_new(start, now, now) if now > start else 0
        self._last_tick = now
        return {"added": added, "advanced": self.advance(now)}
