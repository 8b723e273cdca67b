"""The event KPIs "same time yesterday": the state of the events 24 h ago rebuilt from their stage
timestamps and run through the same transforms (event_facts, region_event_kpis) with as_of = then,
so each metric has one definition. Flow metrics compare today so far with yesterday up to the same
clock time; stock metrics (open, overdue) compare now with 24 h ago."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from contract.domain import STAGES
from etl.transforms.events import event_facts, region_event_kpis

STAGE_TIMES = [f"{s}_at" for s in STAGES[1:]]


def events_as_of(events: pd.DataFrame, t: datetime) -> pd.DataFrame:
    """The events as the source knew them at t: reported by t, stage times after t blanked
    (and the satisfaction score, which is given at closing, with them)."""
    e = events[events["reported_at"] <= t].copy()
    for col in STAGE_TIMES:
        e[col] = e[col].where(e[col] <= t)
    e["satisfaction"] = e["satisfaction"].where(e["closed_at"].notna())
    return e


def kpis_same_time_yesterday(events: pd.DataFrame, now: datetime, max_code_len: int = 9,
                             kpis=region_event_kpis) -> pd.DataFrame:
    """Window-`today` event KPIs at now − 24 h for the city, districts and streets (`kpis`: the KPI
    transform, the reference one in the bench's side-by-side run)."""
    t = pd.Timestamp(now) - timedelta(days=1)
    day = t.normalize()
    # only what can count at t: reported yesterday (flow) or still open at t (stock)
    e = events[(events["reported_at"] >= day) | events["closed_at"].isna() | (events["closed_at"] > t)]
    facts = event_facts(events_as_of(e, t), t.to_pydatetime())
    k = kpis(facts, t.to_pydatetime(), windows=("today",))
    k = k[(k["window"] == "today") & (k["code"].str.len() <= max_code_len)].drop(columns="window")
    return k.assign(as_of=t).reset_index(drop=True)
