"""A supervision's own on-time rate: the published supervisions frame and the region totals equal SQL over
the source (an event closed at or before the new deadline the leader set counts as in time)."""

from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import bindparam, create_engine, text

from contract import frames as F
from dashboard.supervision import LEVELS, SupervisionStore
from etl.jobs import EtlJobs
from queries import views
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

CLOSED_SQL = text("SELECT event_id, closed_at FROM events WHERE event_id IN :ids AND row_id NOT IN :bad").bindparams(
    bindparam("ids", expanding=True), bindparam("bad", expanding=True))


@pytest.mark.slow
def test_supervision_outcomes_equal_sql(sim_engine, city, redis_client, tmp_path):
    with sim_engine.connect() as conn:
        as_of = pd.Timestamp(conn.execute(text("SELECT max(reported_at) FROM events")).scalar()).to_pydatetime()
        picked = conn.execute(text("SELECT event_id, grid_code, due_at FROM events WHERE grid_code LIKE '320102%' "
                                   "AND length(grid_code) = 15 ORDER BY event_id LIMIT 60")).all()
    store = SupervisionStore(create_engine(f"sqlite:///{tmp_path}/app.db"))
    new_due = {}
    for i, (event_id, grid, due) in enumerate(picked):
        new_due[event_id] = pd.Timestamp(due) + timedelta(hours=(i % 5) * 12 - 24)  # before or after the close
        store.create(event_id, grid, LEVELS[i % 3], f"note {i}", new_due[event_id].to_pydatetime(), "t")
    EtlJobs(sim_engine, city, SnapshotStore(redis_client), app_engine=store.engine).run("events", as_of)
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    assert len(snap.frame(F.SUPERVISIONS)) == len(picked)
    quarantined = snap.frame(F.QUARANTINE)["row_id"].tolist() or [-1]  # a duplicate id's second row, say
    with sim_engine.connect() as conn:
        closed = {e: pd.Timestamp(t) for e, t in conn.execute(CLOSED_SQL, {"ids": [p[0] for p in picked],
                                                                            "bad": quarantined}) if t is not None}
    want_in_time = sum(1 for e, t in closed.items() if t <= new_due[e])
    totals = views.supervision_totals(snap, "320102")
    assert totals["supervised"] == len(picked)
    assert (totals["supervised_closed"], totals["supervised_in_time"]) == (len(closed), want_in_time)
    assert 0 < want_in_time < len(closed), "the deadlines chosen split the closed cases"
    assert views.supervision_totals(snap, "320104")["supervised"] == 0


def test_no_supervisions_yet_is_an_empty_declared_frame():
    from dashboard.supervision import SupervisionRow  # noqa: F401 - the table the ETL reads
    from etl.source.app_db import read_supervisions
    from etl.transforms.supervision import supervision_outcomes

    empty_events = pd.DataFrame({"event_id": pd.Series(dtype=object), "closed_at": pd.Series(dtype="datetime64[us]")})
    out = supervision_outcomes(read_supervisions(None), empty_events)
    assert out.empty
    F.SUPERVISIONS.check(out)
