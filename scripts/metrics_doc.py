"""docs/metrics.md from contract/metrics.py: every figure the screens show, with its formula, for a city's
analysts. `python scripts/metrics_doc.py` writes it; `--check` exits 1 when the page is out of date
(tests/test_metrics_doc.py runs the check)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.labels import LABELS  # noqa: E402
from config.settings import Settings  # noqa: E402
from contract import metrics as M  # noqa: E402

PAGE = ROOT / "docs" / "metrics.md"


def name(key: str) -> str:
    """The figure's name on screen (Chinese / English) when it has one, and its key."""
    zh_en = LABELS.get(key)
    return f"{zh_en[0]} / {zh_en[1]} (`{key}`)" if zh_en else f"`{key}`"


def render() -> str:
    doc = (M.__doc__ or "").strip()
    weights = {f: Settings.model_fields[f].default for f in Settings.model_fields if f.startswith("score_w_")}
    dept_weights = {f: Settings.model_fields[f].default for f in Settings.model_fields if f.startswith("dept_w_")}
    out = [
        "# Metric definitions",
        "",
        "Generated from [contract/metrics.py](../contract/metrics.py) by `python scripts/metrics_doc.py`; do not",
        "edit by hand (tests/test_metrics_doc.py fails when this page is out of date). Every figure on the",
        "wall, the tablet, the phone, the rankings and the daily briefing is one of these. A figure a source",
        "does not provide (the snapshot's `meta.provided`, from the mapping) is not connected (未接入), never 0.",
        "",
        doc,
        "",
        "Windows: " + ", ".join(f"`{w}` = {d} local day{'s' if d > 1 else ''} ending today" for w, d in M.WINDOWS.items())
        + "; the tablet adds this quarter and a custom range of days. The wall's own frames cover "
        + ", ".join(f"`{w}`" for w in M.WALL_WINDOWS) + "; every other window is summed from per-event pieces.",
        "",
        "## Counts over a window's cohort (events reported in the window)",
        "",
        "| figure | formula: sum over the cohort of | meaning |",
        "|---|---|---|",
        *(f"| {name(k)} | `{col}` | {d} |" for k, (col, d) in M.COUNTS.items()),
        "",
        "## Stocks at as_of (whenever reported)",
        "",
        "| figure | formula: sum over all kept events of | meaning |",
        "|---|---|---|",
        *(f"| {name(k)} | `{col}` | {d} |" for k, (col, d) in M.STOCKS.items()),
        f"| {name('at_risk')} | `{M.AT_RISK['definition']}` | 将超期; horizon COCKPIT_AT_RISK_HOURS "
        f"(default {M.AT_RISK['horizon_h']:g} h) |",
        "",
        "## Rates (numerator ÷ denominator; no value, not 0, when the denominator is 0)",
        "",
        "| figure | numerator | denominator |",
        "|---|---|---|",
        *(f"| {name(k)} | {name(n)} | {name(d)} |" for k, (n, d) in M.WINDOW_RATES.items()),
        f"| {name('supervision_on_time_rate')} | supervisions whose case closed `{M.SUPERVISION['closed_in_time']}` | "
        f"closed supervised cases |",
        *(f"| {name(k)} | {name(n)} | {name(d)} |" for k, (n, d) in M.DEVICE_RATES.items()),
        "",
        f"Satisfied: a score of {M.SATISFIED_MIN_SCORE} or 5 out of 5 (a 0-100 scale is mapped to 1-5 by the ceiling",
        "of a fifth; words through the mapping's map).",
        "",
        "## Durations",
        "",
        "| figure | formula |",
        "|---|---|",
        *(f"| {name(k)} | exact median of `{col}` over the cohort's events that have both stage times |"
          for k, col in M.MEDIANS.items()),
        *(f"| `{q}` median and 90th percentile (tablet) | quantile of `{q}_min` from log bins: {M.DURATION_BINS} bins of "
          f"{M.DURATION_BINS_PER_OCTAVE} per octave from {M.DURATION_BIN_BASE_MIN:g} min; within a factor "
          f"{M.QUANTILE_PRECISION:.3f} of the exact value |" for q in M.QUANTILES),
        "",
        "Stages: dispatch = reported→dispatched, handle = dispatched→handled, verify = handled→verified,",
        "close = verified→closed, total = reported→closed (minutes).",
        "",
        "## Ranking score (五个一)",
        "",
        "Periods: " + ", ".join(f"`{p}`" for p in M.RANK_PERIODS) + " (this ISO week, calendar month, calendar quarter, up to today).",
        "",
        "score = 100 · Σ wᵢ · rateᵢ / Σ wᵢ over the rates the region has, rates: "
        + ", ".join(name(r) for r in M.SCORE_RATES) + ".",
        "",
        "| weight setting | default |",
        "|---|---|",
        *(f"| `COCKPIT_{k.upper()}` | {v:g} |" for k, v in weights.items()),
        "",
        "## Departments (条)",
        "",
        "A case belongs to the department its source names (docs/connect-a-source.md, \"Departments\"); a department's",
        "figures include its sub-units' (codes with its prefix); a unit the city's catalogue does not know counts under",
        "未归属 (listed on the ranking, never ranked). Counts over the window's cohort, as 数字城管 assessments count them:",
        "",
        "| figure | formula: sum over the cohort of | meaning |",
        "|---|---|---|",
        *(f"| {name(k)} | `{col}` | {d} |" for k, (col, d) in M.DEPARTMENT_COUNTS.items()),
        "",
        "| rate | formula (shown on screen) | numerator | denominator |",
        "|---|---|---|---|",
        *(f"| {name(k)} | {LABELS['formula_' + k][0]} | {name(n)} | "
          + (f"{name(d[0])} − {name(d[1])}" if isinstance(d, tuple) else name(d)) + " |"
          for k, (n, d) in M.DEPARTMENT_RATES.items()),
        "",
        "Score (部门榜) = 100 · Σ wᵢ · sᵢ / Σ wᵢ over the rates the department has, sᵢ = "
        + ", ".join(("" if sign > 0 else "1 − ") + name(r) for r, sign in M.DEPARTMENT_SCORE.items()) + ".",
        "",
        "| weight setting | default |",
        "|---|---|",
        *(f"| `COCKPIT_{k.upper()}` | {v:g} |" for k, v in dept_weights.items()),
        "",
        "A figure whose field the mapping does not give ("
        + ", ".join(f"{name(k)} needs " + " and ".join(f"`{n}`" for n in v)
                    for k, v in M.DEPARTMENT_FIGURE_NEEDS.items())
        + ") is 未接入 and drops out of the score; without deferrals, 按期结案率's denominator is 应结案 alone.",
        "Where a city's rule differs (e.g. 应结案 as the cases whose deadline falls inside the period, not those",
        "reported in it), the cohort rule here keeps every figure a sum of per-event flags, exact from grids to the",
        "city and from sub-units to a bureau; change the weights in the settings, a definition in `event_facts`",
        "(etl/transforms/events.py) and `DEPARTMENT_RATES`, recounted by tests/test_departments.py.",
        "",
        "## Devices (state at as_of)",
        "",
        "| figure | meaning |",
        "|---|---|",
        *(f"| {name(k)} | count of `{k}` per region |" for k in M.DEVICE_COUNTS),
        f"| {name('blind_grids')} | grids of the region with no camera at all |",
        "",
        "## Recurring problems (重复/高发问题)",
        "",
        f"Events reported in the `{M.RECURRING['window']}` window, in square cells of {M.RECURRING['cell_m']:g} m; a",
        f"cluster is a peak cell with the neighbours that joined it, holding at least {M.RECURRING['min_events']} events",
        f"({M.RECURRING['examples']} examples listed); recomputed at most every {M.SLOW_FRAMES_S['recurring']:g} s.",
        "",
        "## What a figure needs from the source (未接入 otherwise)",
        "",
        "A figure whose feed or field the mapping does not give reads 未接入 on every screen and in the briefing",
        "(`FIGURE_NEEDS`; `stages.<stage>`: the source records that stage's time, a column or a flow-log action).",
        "",
        "| needs | figures |",
        "|---|---|",
        *(f"| {' and '.join(f'`{n}`' for n in needs)} | "
          + ", ".join(name(k) for k, v in M.FIGURE_NEEDS.items() if v == needs) + " |"
          for needs in dict.fromkeys(M.FIGURE_NEEDS.values())),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is out of date: run python scripts/metrics_doc.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
