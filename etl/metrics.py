"""Metric definitions: the one place that says what every number on a screen means.

Flow metrics count the cohort of events *reported* in the window (today = the city's local day of
`as_of`; 7d/30d = that many local days ending today). Stock metrics (open, overdue) are the state
of all events at `as_of`, whenever reported. Rates are ratios of two counts, so they roll up
exactly from grids to the city. Medians are exact over the cohort's events."""

from __future__ import annotations

WINDOWS = {"today": 1, "7d": 7, "30d": 30}  # window -> local days ending today

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
# name -> (fact column summed over all events at as_of, definition)
STOCKS = {
    "open": ("is_open", "not closed at as_of, whenever reported (处置中)"),
    "overdue": ("is_overdue", "not closed and past its deadline at as_of (超期)"),
}
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

# Devices (cameras and IoT) per region, state at as_of.
DEVICE_COUNTS = ("cameras", "cameras_online", "cameras_untagged", "cameras_unplaced", "cameras_coord_approx",
                 "cameras_coord_missing", "iot", "iot_online")
# cameras_unplaced: coordinates not verified (coord_quality approximate or missing), of which
# cameras_coord_approx approximate and cameras_coord_missing missing; cameras_untagged: no tag at all.
DEVICE_RATES = {"camera_online_rate": ("cameras_online", "cameras"), "iot_online_rate": ("iot_online", "iot")}
# blind_grids: grids of the region with no camera at all.

EVENT_KPIS = (*COUNTS, *STOCKS, *RATES, *MEDIANS)

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
RECURRING = {"window": "30d", "cell_m": 150.0, "min_events": 3, "examples": 5}
