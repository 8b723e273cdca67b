"""The events tick's window state: the kept per-week facts (etl/state/week_facts.py), brought up to date with
what the ledger hands over each tick, and every frame computed from them:

- the tablet's pieces, one frame per week of report (`event_pieces@<Monday>`, etl/transforms/window_pieces.py
  rows kept beside the facts), republished only for the weeks that changed;
- the wall's frames over WALL_WINDOWS (contract/metrics.py): event_kpis from the per-day sums and the exact
  medians kept between ticks (etl/transforms/events.py wall_kpis), by_category / by_channel (wall_counts_by),
  today by hour (hourly_counts), the ticker; and over the open events: overdue and the phone's work queue;
- the same KPIs 24 h ago (etl/transforms/yesterday.py).

EtlJobs is handed one of these (a strategy); bench/reference_windows.py holds the way it was done before
(whole weeks rebuilt, every frame from the 30 days' facts), which the bench runs side by side and
tests/test_incremental_equals_full.py holds equal to this one."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from contract import frames as F
from contract.frames import piece_frame_name
from contract.metrics import WALL_WINDOWS
from contract.windows import window_start
from etl.state.event_ledger import EventLedger, week_of
from etl.state.week_facts import WeekFacts
from etl.state.window_medians import COLUMNS as MEDIAN_COLUMNS
from etl.transforms.events import (
    empty_region_kpis,
    hourly_counts,
    latest_events,
    overdue_events,
    region_event_kpis,
    wall_counts_by,
    wall_kpis,
)
from etl.transforms.work_queue import open_events
from etl.transforms.yesterday import kpis_same_time_yesterday

TICKER_ROWS = 40  # the ticker's newest events (etl/transforms/events.py latest_events)


class WindowState:
    def __init__(self) -> None:
        self.week_facts = WeekFacts()
        self._base: tuple[pd.DataFrame, pd.DataFrame] | None = None  # (regions, empty_region_kpis(regions))

    def update(self, ledger: EventLedger, now: datetime) -> set[np.datetime64]:
        """Take the ledger's change and bring the facts to `now`; the weeks that changed (a failed update gives the
        change back to the ledger, so the next tick sees it)."""
        change = ledger.take_changes()
        try:
            return self.week_facts.update(ledger.parts, change, now)
        except BaseException:
            ledger.give_back(change)
            raise

    def pieces(self, dirty: set[np.datetime64], horizon: pd.Timestamp) -> tuple[dict[str, pd.DataFrame], set[str]]:
        """The piece frames of the changed weeks (events reported from `horizon` on), and those of weeks now gone."""
        wf = self.week_facts
        frames = {piece_frame_name(w): wf.pieces(w, horizon) for w in dirty if w in wf.facts}
        return frames, {piece_frame_name(w) for w in dirty if w not in wf.facts}

    def frames(self, ledger: EventLedger, regions: pd.DataFrame, now: datetime, recent: pd.Timestamp
               ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
        """The wall's window frames, the open events' frames and yesterday's KPIs; and the open events' rows."""
        wf = self.week_facts
        longest = min(window_start(now, w) for w in WALL_WINDOWS)
        wf.cubes.sync(wf.facts, week_of(pd.Series([longest]))[0])
        cubes, grid_nos = wf.cubes, wf.cubes.grid_nos
        sums = {w: cubes.window(window_start(now, w)) for w in WALL_WINDOWS}
        medians = wf.medians.medians(now, regions, lambda: wf.reported_since(longest, MEDIAN_COLUMNS))
        open_facts, open_rows = wf.open(), ledger.open_rows()
        today = pd.Timestamp(now).normalize()
        newest = wf.newest_weeks(TICKER_ROWS, recent)
        yesterday = pd.Timestamp(now) - pd.Timedelta(days=1)
        frames = {
            F.EVENT_KPIS.name: wall_kpis(sums, grid_nos, medians, open_facts, regions, self._empty_kpis(regions)),
            **{frame: wall_counts_by({w: cubes.window(window_start(now, w), col) for w in WALL_WINDOWS},
                                     cubes.values[col], grid_nos, col)
               for frame, col in ((F.BY_CATEGORY.name, "category"), (F.BY_CHANNEL.name, "channel"))},
            F.BY_HOUR.name: hourly_counts(wf.reported_since(today - pd.Timedelta(days=7),
                                                            ["grid_no", "day", "reported_at"]), now),
            F.TICKER.name: latest_events(newest if newest is not None else wf.since(recent), regions, TICKER_ROWS),
            F.OVERDUE.name: overdue_events(open_facts, open_rows),
            F.OPEN_EVENTS.name: open_events(open_facts, open_rows),
            # what can count 24 h ago: reported since yesterday's midnight, or not closed by then
            F.EVENT_KPIS_YESTERDAY.name: kpis_same_time_yesterday(
                ledger.reported_or_open(yesterday.normalize(), yesterday), now, kpis=region_event_kpis),
        }
        return frames, open_rows

    def _empty_kpis(self, regions: pd.DataFrame) -> pd.DataFrame:
        if self._base is None or self._base[0] is not regions:
            self._base = (regions, empty_region_kpis(regions))
        return self._base[1]
