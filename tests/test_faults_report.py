"""docs/reliability.md as `cockpit.py faults` writes it (faults/report.py): every recorded figure becomes
a row (a test run twice keeps its last figure), the soak's series and checks are written with their
verdicts, and a run that recorded nothing says so instead of writing an empty table."""

from __future__ import annotations

import json

from faults.report import write_report

SOAK = {"started": "2026-12-04T18:30:00", "run_s": 3690.0, "samples": 369, "sample_s": 10.0, "bound": "≤ 10 %",
        "reload_hour": 3, "etl": {"events_written": 52000, "published": 3400},
        "wall": {"url": "/big?pages=overview,events&interval=5&reload_hour=3", "loads": 2, "reloads": 1,
                 "reload_at_s": [3605.2], "flips": 720, "snapshots_seen": 3300, "polls": 7000, "console_errors": 0,
                 "failed_requests": 0, "non_local_requests": 0},
        "wall_days": {"flips": 0.25, "snapshots": 0.19},
        "flat": {"heap_mb": {"pass": True, "first_quarter_mean": 21.5, "last_quarter_mean": 22.0, "growth_pct": 2.3,
                             "slope_pct_per_h": 1.1, "samples": 300},
                 "rss_web_mb": {"pass": False, "first_quarter_mean": 300.0, "last_quarter_mean": 390.0,
                                "growth_pct": 30.0, "slope_pct_per_h": 28.0, "samples": 300},
                 "dom_nodes": {"pass": None, "samples": 3, "why": "fewer than 8 samples after the warm-up"}},
        "checks": {"all processes lived": True, "daily reload seen": True, "no console errors": True},
        "pass": False}


def test_the_report_holds_every_figure_and_the_soak(tmp_path):
    figures = tmp_path / "figures.jsonl"
    rows = [{"fault": "Redis restarted empty", "shown": "stale", "recover_s": 9.9, "lost": "—", "errors": "x",
             "test": "tests/t.py::test_a"},
            {"fault": "PostgreSQL down | 600 s", "shown": "the last figures, stale", "recover_s": 2.4, "lost": 0,
             "errors": "0 reader errors", "test": "tests/t.py::test_b"},
            {"fault": "Redis restarted empty", "shown": "stale", "recover_s": 1.3, "lost": "—", "errors": "x",
             "test": "tests/t.py::test_a"}]
    figures.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "reliability.md"
    text = write_report(out, figures, SOAK, "python3 cockpit.py faults", "`pytest …`: 50 passed in 900s")
    assert out.read_text() == text
    table = [line for line in text.splitlines() if line.startswith("| ") and "`test_" in line]
    assert len(table) == 2 and "| 1.3 |" in table[0] and "9.9" not in text  # the last figure of a test kept
    assert "PostgreSQL down / 600 s" in table[1]  # a pipe in a cell would break the table
    assert "50 passed" in text and "python3 cockpit.py faults" in text
    assert "NOT flat" in text and "| rss_web_mb | 300.0 | 390.0 | +30.0 % | +28.00 %/h | 300 | **no** |" in text
    assert "fewer than 8 samples" in text and "3,300 snapshots seen" in text


def test_a_run_that_recorded_nothing_says_so(tmp_path):
    text = write_report(tmp_path / "r.md", tmp_path / "none.jsonl", None, "python3 cockpit.py faults")
    assert "No fault test recorded a figure" in text and "Not run this time" in text


def test_a_section_another_command_wrote_is_kept(tmp_path):
    """bench/takeover.py's figures live in docs/reliability.md between kept markers: writing the report again
    carries them over as they are."""
    out = tmp_path / "r.md"
    section = "<!-- kept: takeover -->\n### Takeover at 1M events\n\n| hot | 14.5 |\n<!-- /kept -->"
    out.write_text(f"# old report\n\n{section}\n\nold text\n")
    text = write_report(out, tmp_path / "none.jsonl", None, "python3 cockpit.py faults")
    assert section in text and "old text" not in text
    assert write_report(out, tmp_path / "none.jsonl", None, "python3 cockpit.py faults").count("### Takeover") == 1
