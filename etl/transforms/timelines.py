"""Event timelines: each event's header and its flow-log steps (who acted, at what level, how long
each step took, whether it was late), as the plain dicts the timeline keys in Redis hold."""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract.timeline_format import HEADER, STEP_FIELDS, TIME_FORMAT  # noqa: F401 (re-used by writers)
from etl.transforms.events import event_status

NONE = np.array(None, dtype=object)  # None as an array, for np.where (its hints take no bare None)


def time_text(t: pd.Series) -> np.ndarray:
    """Times as "YYYY-MM-DD HH:MM:SS" (None where missing), vectorised."""
    t = pd.to_datetime(t)
    if t.empty:
        return np.array([], dtype=object)
    text = np.char.replace(np.datetime_as_string(t.to_numpy("datetime64[s]"), unit="s"), "T", " ").astype(object)
    return np.where(t.isna().to_numpy(), NONE, text)



def _plain(values) -> list:
    """Python values for JSON: numpy scalars become int/float/str, missing values None."""
    a = np.asarray(values, dtype=object)
    return np.where(pd.isna(a), NONE, a).tolist()


def _ints(values: pd.Series) -> list:
    return _plain(pd.to_numeric(values).astype("Int64").astype(object))


def _header_columns(events: pd.DataFrame) -> dict[str, list]:
    e = events
    cols = {name: _plain(e[name]) for name in HEADER if name in e and name not in ("reported_at", "due_at", "lon", "lat")}
    for name in ("lon", "lat"):  # the event's point in the city's datum (its nearby cameras: queries/nearby.py)
        cols[name] = _plain(pd.to_numeric(e[name]).round(6)) if name in e else [None] * len(e)
    cols.update({"priority": _ints(e["priority"]), "satisfaction": _ints(e["satisfaction"]),
                 "reported_at": time_text(e["reported_at"]).tolist(), "due_at": time_text(e["due_at"]).tolist(),
                 "status": event_status(e).tolist(),
                 "reopened": (pd.to_numeric(e["reopened"]).fillna(0) > 0).tolist()})
    return cols


def headers(events: pd.DataFrame) -> list[dict]:
    """The header of each event row: HEADER fields, times as text, numbers as Python numbers."""
    cols = _header_columns(events)
    return [dict(zip(HEADER, row)) for row in zip(*(cols[k] for k in HEADER))]


def step_table(events: pd.DataFrame, steps: pd.DataFrame) -> pd.DataFrame:
    """The steps of these events in order (time, then step_no, then the source's step id: the same order
    however the rows were read), with minutes since the previous step (the first: since the report) and late = done
    after the event's deadline."""
    ev = events.drop_duplicates("event_id").set_index("event_id")
    order = ["event_id", "at", "step_no"] + (["step_id"] if "step_id" in steps else [])
    st = steps[steps["event_id"].isin(ev.index)].sort_values(order, kind="stable")
    at = pd.to_datetime(st["at"])
    prev = at.groupby(st["event_id"].to_numpy()).shift()
    prev = prev.fillna(st["event_id"].map(ev["reported_at"]))
    due = pd.to_datetime(st["event_id"].map(ev["due_at"]))
    minutes = np.round((at - prev).dt.total_seconds() / 6) / 10  # to 0.1 min, halves to even
    return st.assign(at=at, minutes=minutes, late=(at > due).to_numpy())


def build_timelines(events: pd.DataFrame, steps: pd.DataFrame) -> list[tuple[str, dict]]:
    """(event_id, timeline) for every event row: its HEADER fields and "steps", a list of
    [action, at, level, unit, actor, note, minutes, late] lists (STEP_FIELDS) in order. Steps of
    events not in `events` are ignored; an event without steps gets []."""
    if events.empty:
        return []
    st = step_table(events, steps)
    cols = [_plain(st[name]) for name in ("action",)]
    cols += [time_text(st["at"]).tolist()]
    cols += [_plain(st[name]) for name in ("level", "unit", "actor", "note")]
    cols += [st["minutes"].astype(float).tolist(), st["late"].astype(bool).tolist()]
    rows = list(map(list, zip(*cols)))
    ids = st["event_id"].to_numpy(object)
    by_event: dict[str, list] = {}
    if len(ids):
        cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        for start, end in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(ids)].tolist()):
            by_event[ids[start]] = rows[start:end]
    # the header's fields and the steps in one dict per event, built once (no copy of a header dict)
    head = _header_columns(events)
    keys = (*HEADER, "steps")
    event_ids = head["event_id"]
    steps_col = [by_event.get(e, []) for e in event_ids]
    return list(zip(event_ids, (dict(zip(keys, row)) for row in zip(*(head[k] for k in HEADER), steps_col))))
