"""Metric definitions: the one place that says what every number on a screen means.

Flow metrics count the cohort of events *reported* in the window (today = the city's local day of
`as_of`; 7d/30d = that many local days ending today). Stock metrics (open, overdue) are the state
of all events at `as_of`, whenever reported. Rates are ratios of two counts, so they roll up
exactly from grids to the city. Medians are exact over the cohort's events."""

from __future__ import annotations

from typing import TypedDict

from contract.domain import SAFETY_COMPONENTS, STAGE_SPANS, STAGES

WINDOWS = {"today": 1, "7d": 7, "30d": 30}  # window -> local days ending today
# The windows of the wall's frames (event_kpis, by_category, by_channel: the ETL's exact figures with exact
# medians). Every other window a screen shows (the tablet's 7d, 30d, quarter, custom; the rankings) comes from
# the pieces below, and only from them: one implementation per figure and window.
WALL_WINDOWS = ("today",)

# name -> (fact column summed over the window's cohort, definition)
COUNTS = {
    "reported": ("one", "events reported in the window"),
    "reached_dispatched": ("has_dispatched", "of those, dispatched by as_of"),
    "reached_handled": ("has_handled", "of those, handled by as_of"),
    "reached_verified": ("has_verified", "of those, verified by as_of"),
    "closed": ("is_closed", "of those, closed by as_of"),
    "closed_on_time": ("closed_on_time", "closed at or before their deadline"),
    "same_day_cleared": ("same_day_cleared", "closed on the local day they were reported (当日清零)"),
    "grid_settled": ("grid_settled", "closed and settled at grid level (小事不出网格)"),
    "rated": ("is_rated", "closed with a satisfaction score"),
    "satisfied": ("is_satisfied", "rated 4 or 5 out of 5"),
    "reopened": ("is_reopened", "reopened at least once"),
}
# The closed loop as the screens draw it (funnel, stage table, briefing): (stage, the count of the window's events
# that reached it, the span that ends at it: STAGE_SPANS, its median_<span>_min / p90_<span>_min). Declared once.
FUNNEL = (("reported", "reported", None), ("dispatched", "reached_dispatched", "dispatch"),
          ("handled", "reached_handled", "handle"), ("verified", "reached_verified", "verify"),
          ("closed", "closed", "close"))

# name -> (fact column summed over all events at as_of, definition)
STOCKS = {
    "open": ("is_open", "not closed at as_of, whenever reported (处置中)"),
    "overdue": ("is_overdue", "not closed and past its deadline at as_of (超期)"),
}
# 将超期: an open event whose deadline is still ahead but within the horizon (COCKPIT_AT_RISK_HOURS) is at
# risk; the list (etl/transforms/at_risk.py) gives each its minutes left; a region's count is its events under it
AT_RISK_HOURS = 2.0  # the default horizon
AT_RISK = {"horizon_h": AT_RISK_HOURS, "definition": "not closed, due_at >= as_of and due_at < as_of + horizon"}
# 督办: a supervision's case is closed in time when it closes at or before the new deadline the leader set;
# the supervision on-time rate is closed_in_time / closed supervisions (etl/transforms/supervision.py)
SUPERVISION = {"closed_in_time": "closed_at <= new_due_at", "on_time_rate": ("closed_in_time", "closed")}
# name -> (numerator count, denominator count); empty denominator gives no value, not 0
RATES = {
    "on_time_rate": ("closed_on_time", "closed"),
    "same_day_rate": ("same_day_cleared", "reported"),
    "grid_settled_rate": ("grid_settled", "closed"),
    "satisfaction_rate": ("satisfied", "rated"),
}
# name -> fact column of minutes; median over the cohort's events that have both stage times
MEDIANS = {
    "median_dispatch_min": "dispatch_min",
    "median_handle_min": "handle_min",
    "median_verify_min": "verify_min",
    "median_close_min": "close_min",
}
SATISFIED_MIN_SCORE = 4

# --- The tablet's windows (today, 7d, 30d, this quarter, a custom range), from mergeable pieces -----
# etl/transforms/window_pieces.py keeps one row per event of the last COCKPIT_HISTORY_DAYS: these 0/1
# flags (name -> fact column) and a log-binned duration per stage. A window's counts are sums of the
# flags of the events *reported* in it: exact. "open"/"overdue" here are the window's own events still
# open / past deadline now (the tiles' 处置中/超期 stay the stocks above, whenever reported).
PIECE_FLAGS = {
    **{name: col for name, (col, _) in COUNTS.items()},
    "escalated": "escalated", "cohort_open": "is_open", "cohort_overdue": "is_overdue", "not_overdue": "not_overdue",
    # the department assessment's counts (DEPARTMENT_COUNTS below)
    "due_to_close": "due_to_close", "deferred": "is_deferred", "extended": "is_extended", "hung": "is_hung",
}
WINDOW_RATES = {
    **RATES,
    "escalated_rate": ("escalated", "closed"),  # settled above the grid (community, street, district)
    "not_overdue_rate": ("not_overdue", "reported"),  # the window's events not past deadline now
}
# Stage durations with a median and a 90th percentile: stage -> fact column "<stage>_min"
# (dispatch = reported→dispatched, handle, verify, close = verified→closed, total = reported→closed).
QUANTILES = ("dispatch", "handle", "verify", "close", "total")
# Log bins: bin k holds [base·2^(k/p), base·2^((k+1)/p)) minutes, p = bins per octave; the last bin
# also holds anything longer. A quantile is interpolated geometrically inside its bin, so it is within
# a factor 2^(1/p) (±9% at p = 8, typically a few %) of the exact order statistic; counts are exact.
DURATION_BIN_BASE_MIN = 0.25
DURATION_BINS_PER_OCTAVE = 8
DURATION_BINS = 152  # up to 0.25 min · 2^19 = 91 days
QUANTILE_PRECISION = 2 ** (1 / DURATION_BINS_PER_OCTAVE)

# --- The ranking (五个一): weekly = this ISO week (Monday to today), monthly = this calendar month,
# quarterly = this calendar quarter, each up to today. Score of a region = 100 · Σ wᵢ·rateᵢ / Σ wᵢ over
# the rates it has (a region with no closed event has no on-time rate; its weight drops out), weights
# from the settings COCKPIT_SCORE_W_* (README). Regions with no events in the period have no score.
SCORE_RATES = ("on_time_rate", "same_day_rate", "grid_settled_rate", "satisfaction_rate", "not_overdue_rate")
RANK_PERIODS = ("week", "month", "quarter")

# --- Departments (条), as 数字城管 assessments count them (GB/T 30428 practice), over the window's cohort like every
# piece count. A case belongs to the department its source names (config/departments.py; a unit the catalogue does
# not know counts under 未归属), and to a department's figures with its sub-units'.
# name -> (fact column, definition)
DEPARTMENT_COUNTS = {
    "due_to_close": ("due_to_close", "应结案: closed, or open and past its deadline at as_of"),
    "deferred": ("is_deferred", "缓办: due to close, not closed, with an approved deferral"),
    "extended": ("is_extended", "延期: its deadline was extended on approval"),
    "hung": ("is_hung", "挂账: not closed and parked (hung) at as_of"),
}
# name -> (numerator, denominator: a count or (minuend, subtrahend)); the formula shown on screen is the label
# `formula_<name>` (config/labels.py), docs/metrics.md explains each
DEPARTMENT_RATES = {
    "closure_rate": ("closed", "due_to_close"),  # closed ÷ due to close
    "on_time_closure_rate": ("closed_on_time", ("due_to_close", "deferred")),  # ÷ (due to close − approved deferrals)
    "rework_rate": ("reopened", "reached_handled"),  # reopened (sent back) ÷ handled
    "extension_rate": ("extended", "reported"),  # extended ÷ reported
}
# The source fields each department figure needs beyond the closed loop (etl/source/mapping.py
# Mapping.department_facts) are said with every other figure's in FIGURE_NEEDS below (DEPARTMENT_FIGURE_NEEDS):
# a figure whose field the source lacks shows 未接入, never 0.
# Composite 0-100 of a department = 100 · Σ wᵢ·sᵢ / Σ wᵢ over the rates it has, sᵢ = the rate, or 1 − the rate for
# rework and extensions (less is better); weights COCKPIT_DEPT_W_* (README). A rate without a value (no case due,
# or 未接入) drops out with its weight. 按期结案率 without deferrals connected is closed_on_time ÷ due_to_close.
DEPARTMENT_SCORE = {"closure_rate": 1, "on_time_closure_rate": 1, "rework_rate": -1, "extension_rate": -1}

# Devices (cameras and IoT) per region, state at as_of.
DEVICE_COUNTS = ("cameras", "cameras_online", "cameras_untagged", "cameras_unplaced", "cameras_coord_approx",
                 "cameras_coord_missing", "iot", "iot_online")
# cameras_unplaced: coordinates not verified (coord_quality approximate or missing), of which
# cameras_coord_approx approximate and cameras_coord_missing missing; cameras_untagged: no tag at all.
DEVICE_RATES = {"camera_online_rate": ("cameras_online", "cameras"), "iot_online_rate": ("iot_online", "iot")}
# blind_grids: grids of the region with no camera at all.


# Recurring problems (重复/高发问题), etl/transforms/recurring.py. Over the events *reported* in the
# window (the 30d window above), each event falls in a square cell of cell_m metres (lon/lat divided
# by cell_m in degrees, equirectangular at the city centre's latitude).
# Cells of one category are ranked by their events (ties: the lower cell number); a cell ranked above
# all 8 cells around it is a peak; every cell joins the best-ranked peak among itself and those 8, or
# stays alone when there is none. A cluster is a peak with the cells that joined it (or a lone cell)
# holding at least min_events events: at most 3 × 3 cells, no chains across a dense district.
# open = not closed at as_of; days = local days from its first to its last report, inclusive;
# grid_code = the grid holding most of its events (ties: the lowest code); cluster_id = category@cell
# of its peak.
class RecurringRule(TypedDict):
    window: str
    cell_m: float
    min_events: int
    examples: int


RECURRING: RecurringRule = {"window": "30d", "cell_m": 150.0, "min_events": 3, "examples": 5}
# Frames over a long span that the events job recomputes at most this often (seconds), not on every
# tick: a minute more or less on a 30-day clustering changes nothing a leader acts on, and at a year
# of a large city it is the tick's dearest transform (~0.7 s for 900k events). Each frame's own
# as_of in the manifest says when it was computed.
SLOW_FRAMES_S = {"recurring": 60.0, "camera_gaps": 600.0, "camera_fixes": 600.0,  # 补盲: issue 28
                 "untagged_events": 600.0}  # 标签治理 (and untagged_cameras, written with it)


# --- What a source does not have (未接入): issue 23 -------------------------------------------------------------
# The snapshot's meta `provided` (etl/source/mapping.py provided) says which feeds and fields the mapping gives. A
# figure needing one the source does not give reads 未接入 (not connected) on every screen and in the briefing, never
# a 0, a "—" or a wait: queries/views.py honest() puts NOT_CONNECTED in its place, components/format.py says it.
# figure -> the `provided` keys it needs ("stages.<stage>": the source records that stage's time, a column or a
# flow-log action; a stage span needs the stages at both its ends; total = reported → closed).
class NotConnected:
    """The value of a figure the source cannot give (one instance, NOT_CONNECTED). Not a number, and not a float
    NaN either (pandas would turn that back into a plain NaN, "—"): arithmetic on it gives it back, comparisons are
    false, float() is NaN, and the formatters (components/format.py) say 未接入."""

    __slots__ = ()
    _one: NotConnected | None = None

    def __new__(cls):
        if cls._one is None:
            cls._one = super().__new__(cls)
        return cls._one

    def __reduce__(self):
        return NotConnected, ()

    def __repr__(self) -> str:
        return "NOT_CONNECTED"

    def __float__(self) -> float:
        return float("nan")

    def _same(self, *_args) -> NotConnected:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _same
    __neg__ = __abs__ = __round__ = _same

    def _false(self, _other) -> bool:
        return False

    __lt__ = __le__ = __gt__ = __ge__ = _false


NOT_CONNECTED = NotConnected()
FEED_FIGURES = {
    "satisfaction": ("rated", "satisfied", "satisfaction_rate"),
    "handling_level": ("grid_settled", "grid_settled_rate", "escalated", "escalated_rate"),
    "devices": (*DEVICE_COUNTS, *DEVICE_RATES, "blind_grids", "cameras_offline", "offline"),
    "safety": ("safety_index", "public_security", "index_change", "security_change", "index_value",
               *SAFETY_COMPONENTS),
}
# 条: the department assessment's figures that need a fact beyond the closed loop (延期, 缓办, 挂账: a column or a
# flow-log action, etl/source/mapping.py Mapping.department_facts; 返工: a reopened column or a flow log, over the
# cases the source says were handled); 按期结案率 without deferrals is not 未接入, its denominator is 应结案 alone
# (DEPARTMENT_SCORE above)
DEPARTMENT_FIGURE_NEEDS: dict[str, tuple[str, ...]] = {
    "deferred": ("deferred",), "extended": ("extended",), "hung": ("hung",), "extension_rate": ("extended",),
    "reopened": ("reopened",), "rework_rate": ("reopened", "stages.handled"),
}
FIGURE_NEEDS: dict[str, tuple[str, ...]] = {
    **{fig: (feed,) for feed, figs in FEED_FIGURES.items() for fig in figs},
    **{f"reached_{stage}": (f"stages.{stage}",) for stage in STAGES[1:4]},
    **{f"{q}_{name}_min": (f"stages.{a}", f"stages.{b}") for name, a, b in STAGE_SPANS for q in ("median", "p90")},
    "median_total_min": ("stages.closed",), "p90_total_min": ("stages.closed",),
    **DEPARTMENT_FIGURE_NEEDS,
}

