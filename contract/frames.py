"""The contract between the ETL and the screens: every frame a snapshot holds, declared once.

Each `Frame` names the frame, its columns with their kinds, and how a row is keyed (the columns that
pick one row, or a region code column the screens slice by prefix). The ETL publishes through
`snapshots.store.SnapshotStore.publish`, which checks every frame against its declaration and fails
loudly on a mismatch; the screens read frames by these constants (`snap.frame(EVENT_KPIS)`), never by
a typed string. Columns a declaration does not list may be present (a frame may carry extras), but
every declared column must be there with its kind. Where each frame is computed: `written_by`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from contract.metrics import COUNTS, MEDIANS, PIECE_FLAGS, QUANTILES, RATES, STOCKS
from contract.pieces import day_number

# column kinds: what a screen may rely on (pandas dtype kinds, loosely: text may be object, str or string)
TEXT, INT, FLOAT, TIME, CAT = "text", "int", "float", "time", "category"


def _kind(dtype) -> str:
    if isinstance(dtype, pd.CategoricalDtype):
        return CAT
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
        return INT
    if pd.api.types.is_float_dtype(dtype):
        return FLOAT
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return TIME
    return TEXT


class FrameContractError(ValueError):
    """A published frame does not match its declaration in contract/frames.py."""


@dataclass(frozen=True)
class Frame:
    name: str
    columns: dict[str, str]
    key: tuple[str, ...] = ()  # columns that pick one row (e.g. code, window); () for lists
    code_column: str | None = None  # region/grid code column that screens slice by prefix
    written_by: str = ""
    doc: str = ""
    extra_ok: bool = field(default=True, repr=False)

    def check(self, df: pd.DataFrame, name: str | None = None) -> None:
        """FrameContractError naming the frame and column when `df` does not match the declaration
        (an empty frame must still have the declared columns)."""
        name = name or self.name
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            raise FrameContractError(f"frame {name!r} ({self.written_by}): missing column(s) {missing}")
        for col, kind in self.columns.items():
            got = _kind(df[col].dtype)
            ok = got == kind or (kind == FLOAT and got == INT) or (kind == CAT and got == TEXT) or \
                (kind == TEXT and got == CAT) or (len(df) == 0 and got == TEXT)
            if not ok:
                raise FrameContractError(f"frame {name!r} ({self.written_by}): column {col!r} is {got} "
                                         f"({df[col].dtype}), declared {kind}")


_EVENT_COUNTS = {c: INT for c in (*COUNTS, *STOCKS)}  # contract/metrics.py: the one declaration
_EVENT_RATES = {c: FLOAT for c in (*RATES, *MEDIANS)}

EVENT_KPIS = Frame("event_kpis", {"code": TEXT, "window": TEXT, "level": TEXT, **_EVENT_COUNTS, **_EVENT_RATES},
                   key=("code", "window"), written_by="etl/transforms/events.py:wall_kpis",
                   doc="event counts, rates and exact stage medians per region for the wall's window (today: WALL_WINDOWS)")
EVENT_KPIS_YESTERDAY = Frame("event_kpis_yesterday", {"code": TEXT, **_EVENT_COUNTS, **_EVENT_RATES}, key=("code",),
                             written_by="etl/transforms/yesterday.py:kpis_same_time_yesterday",
                             doc="window-today KPIs at the same clock time yesterday (city, districts, streets)")
BY_CATEGORY = Frame("by_category", {"code": TEXT, "window": TEXT, "category": TEXT, "count": INT},
                    written_by="etl/transforms/events.py:wall_counts_by")
BY_CHANNEL = Frame("by_channel", {"code": TEXT, "window": TEXT, "channel": TEXT, "count": INT},
                   written_by="etl/transforms/events.py:wall_counts_by")
BY_HOUR = Frame("by_hour", {"code": TEXT, "hour": INT, "today": INT, "avg7": FLOAT},
                written_by="etl/transforms/events.py:hourly_counts")
TICKER = Frame("ticker", {"event_id": TEXT, "reported_at": TIME, "channel": TEXT, "category": TEXT, "status": TEXT,
                          "grid_code": TEXT, "street": TEXT, "district": TEXT}, code_column="grid_code",
               written_by="etl/transforms/events.py:latest_events")
OVERDUE = Frame("overdue", {"event_id": TEXT, "grid_code": TEXT, "category": TEXT, "channel": TEXT, "status": TEXT,
                            "reported_at": TIME, "due_at": TIME, "department": TEXT}, code_column="grid_code",
                written_by="etl/transforms/events.py:overdue_events")
OPEN_EVENTS = Frame("open_events", {"event_id": TEXT, "grid_code": TEXT, "category": TEXT, "channel": TEXT,
                                    "status": TEXT, "is_overdue": INT, "due_at": TIME, "reported_at": TIME,
                                    "department": TEXT},
                    code_column="grid_code", written_by="etl/transforms/work_queue.py:open_events")
AT_RISK = Frame("at_risk", {"event_id": TEXT, "grid_code": TEXT, "category": TEXT, "channel": TEXT, "status": TEXT,
                            "due_at": TIME, "minutes_left": FLOAT, "department": TEXT}, code_column="grid_code",
                 written_by="etl/transforms/at_risk.py:at_risk_events", doc="at risk: open, due within the horizon")
SUPERVISIONS = Frame("supervisions", {"supervision_id": TEXT, "event_id": TEXT, "grid_code": TEXT, "level": TEXT,
                                      "note": TEXT, "new_due_at": TIME, "state": TEXT, "created_at": TIME,
                                      "closed_at": TIME, "is_open": INT, "closed_in_time": INT,
                                      "department": TEXT},
                      code_column="grid_code", written_by="etl/transforms/supervision.py:supervision_outcomes",
                      doc="supervisions and their outcome")
RECURRING = Frame("recurring", {"cluster_id": TEXT, "category": TEXT, "grid_code": TEXT, "events": INT, "open": INT,
                                "first_reported": TIME, "last_reported": TIME, "days": INT, "example_ids": TEXT},
                  code_column="grid_code", written_by="etl/transforms/recurring.py:recurring_clusters")
ALERTS = Frame("alerts", {"kind": TEXT, "code": TEXT, "name": TEXT, "level": TEXT, "value": FLOAT,
                          "threshold": FLOAT, "since": TIME, "text": TEXT}, code_column="code",
               written_by="etl/transforms/alerts.py:wall_alerts")
QUARANTINE = Frame("quarantine", {"row_id": INT, "event_id": TEXT, "reason": TEXT, "seen_at": TIME},
                   written_by="etl/state/event_ledger.py:EventLedger.quarantine_rows")
QUARANTINE_STEPS = Frame("quarantine_steps", {"step_id": INT, "event_id": TEXT, "reason": TEXT, "seen_at": TIME},
                         written_by="etl/state/step_log.py:StepLog.quarantine_rows")
DEVICE_KPIS = Frame("device_kpis", {"code": TEXT, "level": TEXT, "cameras": INT, "cameras_online": INT,
                                    "cameras_untagged": INT, "cameras_unplaced": INT, "blind_grids": INT,
                                    "camera_online_rate": FLOAT, "iot": INT, "iot_online": INT,
                                    "iot_online_rate": FLOAT}, key=("code",),
                    written_by="etl/transforms/devices.py:region_device_kpis")
BLIND_GRIDS = Frame("blind_grids", {"code": TEXT, "name": TEXT}, code_column="code",
                    written_by="etl/transforms/devices.py:blind_grid_list")
CAMERA_POINTS = Frame("camera_points", {"device_id": TEXT, "grid_code": TEXT, "lon": FLOAT, "lat": FLOAT, "x": FLOAT,
                                          "y": FLOAT, "online": INT, "last_seen_at": TIME, "coord_quality": TEXT,
                                          "tags": TEXT, "device_type": TEXT}, code_column="grid_code",
                      written_by="etl/transforms/nearby_cameras.py:camera_points",
                      doc="cameras with a position, x/y in metres (contract/ground.py), by grid code; the web tier's "
                          "spatial index (queries/nearby.py)")
CAMERA_GAPS = Frame("camera_gaps", {"code": TEXT, "level": TEXT, "events": INT, "unseen": INT}, code_column="code",
                    written_by="etl/transforms/nearby_cameras.py:camera_gaps",
                    doc="blind spots: grids and streets with events of the last 30 days no online camera was near")
CAMERA_FIXES = Frame("camera_fixes", {"device_id": TEXT, "grid_code": TEXT, "coord_quality": TEXT, "device_type": TEXT,
                                      "online": INT, "tags": TEXT, "grid_events": INT}, code_column="grid_code",
                     written_by="etl/transforms/nearby_cameras.py:coord_fixes",
                     doc="cameras with approximate or missing coordinates, with their grid's events (30 days)")
UNTAGGED_EVENTS = Frame("untagged_events", {"code": TEXT, "level": TEXT, "events": INT, "near_untagged": INT}, key=("code",),
                        written_by="etl/transforms/nearby_cameras.py:untagged_exposure",
                        doc="tags: per region, the events of the last 30 days and those within the radius of an "
                            "untagged camera")
UNTAGGED_CAMERAS = Frame("untagged_cameras", {"device_id": TEXT, "grid_code": TEXT, "device_type": TEXT, "online": INT,
                                              "coord_quality": TEXT, "events_near": INT}, code_column="grid_code",
                         written_by="etl/transforms/nearby_cameras.py:untagged_exposure",
                         doc="tags: the untagged cameras with a position and the events of the last 30 days within "
                             "the radius of each, most first")
GRID_STAFF = Frame("grid_staff", {"grid_code": TEXT, "role": TEXT, "name": TEXT, "phone": TEXT}, code_column="grid_code",
                   written_by="etl/transforms/staff.py:grid_staff",
                   doc="the grids' staff on duty (1+1+N; role: contract/domain.py STAFF_ROLES), only with a staff "
                       "feed; phones are masked on screen by the user's role (dashboard/access.py mask_phone)")
STAFF_QUARANTINE = Frame("staff_quarantine", {"source_code": TEXT, "role": TEXT, "reason": TEXT, "detail": TEXT},
                         written_by="etl/transforms/staff.py:staff_quarantine",
                         doc="staff rows that cannot be used (unknown grid, unmapped role), with the reason")
SAFETY_LATEST = Frame("safety_latest", {"code": TEXT, "month": TIME, "safety_index": FLOAT, "public_security": FLOAT,
                                        "index_change": FLOAT, "security_change": FLOAT}, key=("code",),
                      written_by="etl/transforms/safety.py:latest_safety")
SAFETY_TREND = Frame("safety_trend", {"code": TEXT, "month": TIME, "index_value": FLOAT, "public_security": FLOAT},
                     written_by="etl/transforms/safety.py:safety_trend")
DEPARTMENTS = Frame("departments", {"number": INT, "code": TEXT, "name": TEXT, "parent": TEXT, "kind": TEXT,
                                    "depth": INT}, key=("code",),
                     written_by="etl/transforms/departments.py:department_table",
                     doc="the city's department catalogue (条); number 0, code '' is 未归属; pieces' dept is the number")
INDICATORS = Frame("indicators", {"indicator": TEXT, "code": TEXT, "level": TEXT, "name": TEXT, "region_name": TEXT,
                                  "theme": TEXT, "unit": TEXT, "value": FLOAT, "time": TIME, "value_day": FLOAT,
                                  "value_week": FLOAT, "change_day": FLOAT, "change_week": FLOAT, "status": TEXT,
                                  "warn": FLOAT, "alarm": FLOAT, "direction": TEXT, "basis": TEXT, "decimals": INT,
                                  "order": INT, "sites": INT, "wall": INT}, key=("indicator", "code"), code_column="code",
                   written_by="etl/transforms/indicators.py:indicator_latest",
                   doc="city vital signs: per indicator × region the value now, a day and a week ago, status")
INDICATOR_HOURLY = Frame("indicator_hourly", {"indicator": TEXT, "code": TEXT, "hour": TIME, "value": FLOAT},
                         code_column="code", written_by="etl/transforms/indicators.py:indicator_hourly",
                         doc="city vital signs: the last 24 hour marks per indicator × region (sparklines, trends)")
INDICATOR_TREND = Frame("indicator_trend", {"indicator": CAT, "code": CAT, "start": TIME, "hours": INT, "value": FLOAT},
                        code_column="code", written_by="etl/transforms/indicators.py:indicator_trend",
                        doc="city vital signs: the tablet's trends per indicator × region, hourly points (hours 1) for "
                            "today and the 7 days before, daily (hours 24) for 120 days; rows only where there is a value")
INDICATOR_QUARANTINE = Frame("indicator_quarantine", {"indicator": TEXT, "time": TIME, "value": FLOAT, "site": TEXT,
                                                      "reason": TEXT, "seen_at": TIME},
                             written_by="etl/state/indicator_series.py:IndicatorFeeds.quarantine_rows")
FORECAST_DAYS = Frame("forecast_days", {"code": TEXT, "category": TEXT, "day": TIME, "actual": FLOAT, "expected": FLOAT,
                                        "lo": FLOAT, "hi": FLOAT, "day_kind": TEXT, "known": INT},
                      key=("code", "category", "day"), code_column="code",
                      written_by="etl/transforms/forecast.py:event_forecast",
                      doc="the forecast: per region (city, district, street) × category ('' = all) the last 28 days seen (actual) "
                          "and today + 7 days expected with the 80 % interval (lo, hi); day_kind work/rest/holiday, "
                          "known 0 past the holiday calendar's years")
FORECAST_HOURLY = Frame("forecast_hourly", {"code": TEXT, "hour": INT, "expected": FLOAT, "lo": FLOAT, "hi": FLOAT,
                                            "cum_expected": FLOAT, "cum_lo": FLOAT, "cum_hi": FLOAT},
                        key=("code", "hour"), code_column="code",
                        written_by="etl/transforms/forecast.py:expected_by_hour",
                        doc="today's expected events per hour and so far by each hour's end (the wall's band); the "
                            "extra column day says which day it is for")
INDICATOR_FORECAST = Frame("indicator_forecast", {"indicator": TEXT, "code": TEXT, "hour": TIME, "expected": FLOAT,
                                                  "lo": FLOAT, "hi": FLOAT, "warn_line": FLOAT, "alarm_line": FLOAT},
                           key=("indicator", "code", "hour"), code_column="code",
                           written_by="etl/transforms/indicator_forecast.py:indicator_forecast",
                           doc="city vital signs' expected band: per indicator × region (city, districts) the hours after "
                               "the fit expected with the 80 % interval (lo, hi) and the threshold lines at each hour")
INDICATOR_FORECAST_SERIES = Frame("indicator_forecast_series", {"indicator": TEXT, "code": TEXT, "state": TEXT,
                                                                "history_h": INT, "needs_h": INT, "seasons": TEXT,
                                                                "last_hour": TIME,
                                                                "fitted_at": TIME},
                                  key=("indicator", "code"), code_column="code",
                                  written_by="etl/transforms/indicator_forecast.py:indicator_forecast",
                                  doc="per forecast indicator × region: state fitted, or short (too little history: "
                                      "no band), hours of history with a value and the hours a band needs, the seasons fitted (24,168)")
PIECES = Frame("event_pieces@<Monday>", {"grid": INT, "day": INT, "category": CAT, "channel": CAT,
                                         "handling_level": CAT, "dept": INT, **{f: INT for f in PIECE_FLAGS},
                                         **{f"bin_{s}": INT for s in QUANTILES}},
               written_by="etl/state/week_facts.py:WeekFacts.pieces",
               doc="one frame per week of report; encoding in contract/pieces.py")

FRAMES: dict[str, Frame] = {f.name: f for f in (
    EVENT_KPIS, EVENT_KPIS_YESTERDAY, BY_CATEGORY, BY_CHANNEL, BY_HOUR, TICKER, OVERDUE, OPEN_EVENTS, AT_RISK, SUPERVISIONS, RECURRING,
    ALERTS, QUARANTINE, QUARANTINE_STEPS, DEVICE_KPIS, BLIND_GRIDS, SAFETY_LATEST, SAFETY_TREND,
    CAMERA_POINTS, CAMERA_GAPS, CAMERA_FIXES, UNTAGGED_EVENTS, UNTAGGED_CAMERAS, GRID_STAFF, STAFF_QUARANTINE,
    DEPARTMENTS,
    INDICATORS, INDICATOR_HOURLY, INDICATOR_TREND, INDICATOR_QUARANTINE, FORECAST_DAYS, FORECAST_HOURLY,
    INDICATOR_FORECAST, INDICATOR_FORECAST_SERIES)}
PIECES_PREFIX = "event_pieces@"


def piece_frame_name(week: np.datetime64) -> str:
    return f"{PIECES_PREFIX}{pd.Timestamp(week):%Y-%m-%d}"


def piece_frame_week(name: str) -> int | None:
    """The first day number of a piece frame's week, or None for another frame."""
    if not name.startswith(PIECES_PREFIX):
        return None
    return day_number(date.fromisoformat(name.split("@", 1)[1]))


def declaration(name: str) -> Frame:
    """The declaration of a published frame name; FrameContractError for a name nobody declared."""
    if name.startswith(PIECES_PREFIX):
        return PIECES
    try:
        return FRAMES[name]
    except KeyError:
        raise FrameContractError(f"frame {name!r} is not declared in contract/frames.py") from None


def check_frame(name: str, df: pd.DataFrame) -> None:
    declaration(name).check(df, name)
