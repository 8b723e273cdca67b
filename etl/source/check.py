"""`python3 cockpit.py source check`: read the source through its mapping and write nothing. Says how many
rows each feed has, which rows the ETL would quarantine and why, the values no map covers (counts and
first examples), the share of events placed in a grid and at which level, the time range, the slowest
query and the mapping keys that match no column. Exits 2 naming the file and key when the mapping
cannot work (a missing table or column, a SELECT that fails, a malformed file); 0 otherwise.

`check_columns` is also what start-up runs (dashboard/service.py): a mapping that names a column the
source does not have stops the product before the first job."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta

import pandas as pd
from pydantic import BaseModel
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from etl.source.mapping import Feed, FieldSpec, MappingError, SourceMapping, load_mapping

CHUNK = 50_000
EXAMPLES = 3
ORDER_SAMPLE = 5000  # watermark values sampled, evenly over the column's order in the database


def _feed_columns(engine: Engine, mapping: SourceMapping, name: str, feed) -> set[str]:
    if feed.table is not None:
        schema, _, table = feed.table.rpartition(".")
        insp = inspect(engine)
        if not insp.has_table(table, schema=schema or None):
            raise mapping.error(f"{name}.table", f"table {feed.table!r} not found in the source")
        return {c["name"] for c in insp.get_columns(table, schema=schema or None)}
    try:
        with engine.connect() as conn:
            return set(conn.execute(text(f"SELECT * FROM ({feed.select}) AS src WHERE 1 = 0")).keys())
    except SQLAlchemyError as exc:
        raise mapping.error(f"{name}.select", f"the SELECT fails: {str(exc).splitlines()[0][:300]}") from None


def _column_keys(name: str, feed) -> list[tuple[str, str]]:
    """(dotted key, source column) of every column a feed's keys name."""
    out = []

    def walk(prefix: str, model) -> None:
        for key, value in model:
            if isinstance(value, FieldSpec):
                if value.column is not None:
                    out.append((f"{prefix}.{key}", value.column))
            elif isinstance(value, BaseModel):
                walk(f"{prefix}.{key}", value)
    walk(name, feed)
    for key in ("row_id",):
        if getattr(feed, key, None):
            out.append((f"{name}.{key}", getattr(feed, key)))
    wm = getattr(feed, "watermark", None)
    if wm is not None and wm.column:
        out.append((f"{name}.watermark.column", wm.column))
    return out


def missing_columns(engine: Engine, mapping: SourceMapping) -> list[tuple[str, str, str]]:
    """(key, column, where) for every mapping key whose column the source does not have; raises
    MappingError for a feed whose table is missing or whose SELECT fails."""
    out = []
    for name in ("events", "steps", "devices", "safety", "staff"):
        feed = getattr(mapping.spec, name)
        if feed is None:
            continue
        have = _feed_columns(engine, mapping, name, feed)
        lower = {c.lower() for c in have}
        where = feed.table or "the SELECT"
        out += [(key, col, where) for key, col in _column_keys(name, feed) if col not in have and col.lower() not in lower]
    return out


def check_columns(engine: Engine, mapping: SourceMapping) -> None:
    """Start-up: MappingError naming the file, the key and the column for the first key that matches no column."""
    missing = missing_columns(engine, mapping)
    if missing:
        key, col, where = missing[0]
        raise mapping.error(key, f"column {col!r} not in {where}"
                            + (f" (and {len(missing) - 1} more keys match no column)" if len(missing) > 1 else ""))


def watermarks(mapping: SourceMapping) -> list[tuple[str, Feed, FieldSpec]]:
    """(key, feed, spec) of every time column a pull compares in SQL (`column >= the last watermark`): the
    events' updated_at under an update_time watermark, the flow log's updated_at (or its `at`)."""
    spec = mapping.spec
    out: list[tuple[str, Feed, FieldSpec]] = []
    if spec.events.watermark.kind == "update_time" and spec.events.times.updated_at is not None:
        out.append(("events.times.updated_at", spec.events, spec.events.times.updated_at))
    if spec.steps is not None:
        f = spec.steps.fields
        key = "steps.fields.updated_at" if f.updated_at is not None else "steps.fields.at"
        out.append((key, spec.steps, f.updated_at or f.at))
    return [(k, feed, s) for k, feed, s in out if s.column is not None]


def watermark_order(engine: Engine, mapping: SourceMapping, city) -> list[dict]:
    """Sample each watermark column in the order the database sorts it (every k-th value of ORDER BY, about
    ORDER_SAMPLE in all) and parse it as the mapping says: MappingError naming the file and key when the
    database's order is not the order of the times (text such as 'MM/DD/YYYY hh:mm:ss AM' sorts by month,
    then day, then year, with 12 PM before 1 AM: a pull by `>=` would miss rows). Returns what was sampled."""
    from sqlalchemy import column, table

    from etl.source.mapped_values import Problems, time_field

    report = []
    for key, feed, spec in watermarks(mapping):
        col = str(spec.column)
        src = (table(feed.table.rpartition(".")[2], column(col), schema=feed.table.rpartition(".")[0] or None)
               if feed.table is not None else text(str(feed.select)).columns(column(col)).subquery("src"))
        c = src.c[col]
        with engine.connect() as conn:
            n = int(conn.execute(select(func.count()).select_from(src).where(c.is_not(None))).scalar() or 0)
            step = max(1, n // ORDER_SAMPLE)
            q = select(c.label("v")).where(c.is_not(None)).order_by(c)
            if step > 1:
                ranked = select(c.label("v"), func.row_number().over(order_by=c).label("rn")).where(c.is_not(None)).subquery()
                q = select(ranked.c.v).where((ranked.c.rn - 1) % step == 0).order_by(ranked.c.rn)
            try:
                values = [r[0] for r in conn.execute(q)]
            except SQLAlchemyError:  # no window functions (an old engine): the first values in the database's order
                values = [r[0] for r in conn.execute(select(c.label("v")).where(c.is_not(None)).order_by(c).limit(ORDER_SAMPLE))]
        frame = pd.DataFrame({col: pd.Series(values, dtype=object)})
        times = time_field(frame, spec, key, feed.timezone, city.timezone, Problems(frame.index))
        ok = times.notna().to_numpy()
        t, v = times.to_numpy()[ok], frame[col].to_numpy()[ok]
        back = (t[1:] < t[:-1]).nonzero()[0]
        report.append({"key": key, "column": col, "sampled": int(len(values)), "out_of_order": int(len(back))})
        if len(back):
            i = int(back[0])
            raise mapping.error(key, (
                f"column {col!r} does not sort like time: the database orders {str(v[i])!r} before {str(v[i + 1])!r}, "
                f"which is earlier ({len(back)} of {len(t) - 1} neighbouring pairs of {len(values)} sampled values out of "
                f"order); a pull by this watermark would miss rows. Give a column that sorts like time (a typed "
                f"timestamp, or text as YYYY-MM-DD HH:MM:SS), or watermark kind 'open_set' (new rows by an "
                f"increasing id, open events re-read by id) or 'full'"))
    return report


class Quarantine:
    """What the ETL's ledger would quarantine (etl/state/event_ledger.py merge: the mapping's reason first,
    then the row checks; the first row with an id keeps it), counted without keeping any row."""

    def __init__(self, known: set[str], contains, now: datetime, tolerance: timedelta = timedelta(minutes=5)):
        self.known, self.contains, self.now, self.tolerance = known, contains, now, tolerance
        self.id_owner: dict[str, int] = {}
        self.counts: dict[str, int] = {}

    def add(self, rows: pd.DataFrame) -> None:
        from etl.source.validate import event_problems

        rows = rows.set_index("row_id", drop=False).rename_axis(None)
        reason = event_problems(rows, self.known, self.contains, self.now, self.tolerance, self.id_owner)
        reason = reason.astype(object).where(rows["map_reason"].isna(), rows["map_reason"])
        for key, n in reason.value_counts().items():
            self.counts[str(key)] = self.counts.get(str(key), 0) + int(n)
        good = rows[reason.isna()]
        self.id_owner.update(zip(good["event_id"].tolist(), good["row_id"].tolist()))


class Timer:
    def __init__(self):
        self.slowest = (0.0, "")

    def run(self, what: str, fn):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        if dt > self.slowest[0]:
            self.slowest = (dt, what)
        return out


def check(engine: Engine, mapping: SourceMapping, city, now: datetime, progress: bool = True) -> dict:
    """The report (a dict; main prints it). Raises MappingError when the mapping cannot work."""
    from tqdm import tqdm

    from etl.source.mapped_feeds import DeviceSource, SafetySource, StaffSource
    from etl.source.mapped_read import EventSource

    missing = missing_columns(engine, mapping)
    report: dict = {"mapping": str(mapping.path), "keys_matching_no_column": [
        {"key": k, "column": c, "in": w} for k, c, w in missing]}
    if missing:
        return report
    timer = Timer()
    report["watermark_order"] = timer.run("watermark order", lambda: watermark_order(engine, mapping, city))
    source = EventSource(mapping, city)
    would = Quarantine(source.placer.known_keys(), city.contains, now)
    q, _, _ = source.query(None)
    total = timer.run("count events", lambda: _count(engine, q))
    frames = []
    with engine.connect().execution_options(stream_results=True) as conn, \
            tqdm(total=total, unit="rows", desc="events", disable=not progress, file=sys.stderr) as bar:
        chunks = pd.read_sql(q, conn, chunksize=CHUNK)
        while True:
            chunk = timer.run(f"events: {_short(q, engine)}", lambda: next(chunks, None))
            if chunk is None:
                break
            rows = source.canonical(chunk, now)
            if source.steps is not None and mapping.spec.events.stages_from_flow_log is not None:
                rows = timer.run("flow log of a chunk", lambda r=rows: source.with_flow_stages(engine, r, False))
            frames.append(rows[["event_id", "reported_at", "placed_level", "map_reason", "map_detail", "department",
                                "dept_no"]])
            would.add(rows)
            bar.update(len(chunk))
    seen = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["event_id", "reported_at", "placed_level", "map_reason", "map_detail", "department", "dept_no"])
    unmapped = seen[seen["map_reason"] == "unmapped_value"]
    report["events"] = {
        "rows_read": int(len(seen)),
        "would_be_quarantined": would.counts,
        "unmapped_values": [{"value": v, "rows": int(n), "examples": unmapped.loc[unmapped["map_detail"] == v,
                                                                                  "event_id"].head(EXAMPLES).tolist()}
                            for v, n in unmapped["map_detail"].value_counts().items()],
        "unparseable_times": seen.loc[seen["map_reason"] == "bad_time", "map_detail"].head(EXAMPLES).tolist(),
        "placed": _shares(seen["placed_level"]),
        "reported_from": _iso(seen["reported_at"].min()), "reported_to": _iso(seen["reported_at"].max()),
        "departments": _departments(seen, mapping, source.departments.empty),
    }
    if source.steps is not None:
        steps = timer.run("flow log", lambda: source.steps.read(engine))
        report["steps"] = {"rows_read": int(len(steps)), "actions": steps["action"].value_counts().to_dict()}
    if mapping.spec.devices is not None:
        dev, n = timer.run("devices", lambda: DeviceSource(mapping, city, source.placer).read(engine, now))
        report["devices"] = {"rows_read": int(len(dev)), "unmapped_values": n,
                             "placed_in_a_grid": _share(dev["grid_code"].notna())}
    if mapping.spec.safety is not None:
        s, n = timer.run("safety", lambda: SafetySource(mapping, city, source.placer).read(engine))
        report["safety"] = {"rows_kept": int(len(s)), "unknown_regions": n}
    if mapping.spec.staff is not None:
        staff = timer.run("staff", lambda: StaffSource(mapping, city).read(engine))
        report["staff"] = {"rows_read": int(len(staff)), "would_be_quarantined":
                           {k: int(n) for k, n in staff["reason"].value_counts().items()}}
    report["slowest_query"] = {"seconds": round(timer.slowest[0], 3), "what": timer.slowest[1]}
    return report


def _departments(seen: pd.DataFrame, mapping: SourceMapping, no_catalogue: bool) -> dict:
    """条: the department fields the source gives, the share of rows whose department the catalogue knows, and
    the values it does not know (counted under 未归属, never dropped) with their rows and first examples."""
    unknown = seen[(seen["dept_no"] == 0) & seen["department"].notna()]
    return {"provided": mapping.spec.department_facts(), "catalogue": "missing" if no_catalogue else "ok",
            "assigned": _share(seen["dept_no"] > 0),
            "unknown_units": [{"value": str(v), "rows": int(n),
                               "examples": unknown.loc[unknown["department"] == v, "event_id"].head(EXAMPLES).tolist()}
                              for v, n in unknown["department"].value_counts().head(50).items()]}


def _count(engine: Engine, q) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(q.subquery())).scalar() or 0)


def _short(q, engine: Engine) -> str:
    return " ".join(str(q.compile(dialect=engine.dialect)).split())[:160]


def _share(mask: pd.Series) -> float:
    return round(float(mask.mean()), 4) if len(mask) else 0.0


def _shares(levels: pd.Series) -> dict[str, float]:
    if not len(levels):
        return {}
    return {str(k): round(float(v), 4) for k, v in levels.fillna("not placed").value_counts(normalize=True).items()}


def _iso(t) -> str | None:
    return None if pd.isna(t) else pd.Timestamp(t).isoformat(sep=" ")


def _print(report: dict) -> None:
    print(f"mapping: {report['mapping']}")
    for item in report["keys_matching_no_column"]:
        print(f"  key {item['key']!r}: column {item['column']!r} not in {item['in']}")
    for name in ("events", "steps", "devices", "safety", "slowest_query"):
        if name in report:
            print(f"{name}: {json.dumps(report[name], ensure_ascii=False, default=str)}")


def main(argv: list[str] | None = None) -> int:
    from config.city import load_city
    from config.clock import now_local
    from config.settings import SettingsError, load_settings
    from etl.source.schema import source_engine

    ap = argparse.ArgumentParser(prog="cockpit.py source", description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["check"])
    ap.add_argument("--mapping", help="mapping file (default: COCKPIT_SOURCE_MAPPING, else the demo's)")
    ap.add_argument("--source-url", help="SQLAlchemy URL (default: COCKPIT_SOURCE_URL)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    settings = load_settings()
    city = load_city(settings.city_dir)
    try:
        mapping = load_mapping(a.mapping or settings.source_mapping or None)
        engine = source_engine(a.source_url or settings.source_url)
        report = check(engine, mapping, city, now_local(city.timezone), progress=not a.no_progress)
    except (MappingError, SettingsError) as exc:
        print(f"source check: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, ensure_ascii=False, indent=1, default=str)) if a.json else _print(report)
    if report["keys_matching_no_column"]:
        key, col = report["keys_matching_no_column"][0]["key"], report["keys_matching_no_column"][0]["column"]
        print(f"source check: {mapping.path}: key {key!r}: column {col!r} matches no column", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
