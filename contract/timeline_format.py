"""The timeline format in Redis (`Keys.timeline`): written by etl/transforms/timelines.py through
snapshots/timelines.py, read by components/timeline_view.py. Steps travel as lists in STEP_FIELDS order."""

from __future__ import annotations

HEADER = ["event_id", "grid_code", "category", "channel", "title", "priority", "reported_at", "due_at", "status",
          "handling_level", "reopened", "satisfaction", "reporter_name", "reporter_phone", "address", "lon", "lat"]
STEP_FIELDS = ["action", "at", "level", "unit", "actor", "note", "minutes", "late"]
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def step_dicts(timeline: dict) -> dict:
    """The timeline with each step as a {STEP_FIELDS: value} dict (as readers use it)."""
    return {**timeline, "steps": [dict(zip(STEP_FIELDS, s)) for s in timeline.get("steps", [])]}
