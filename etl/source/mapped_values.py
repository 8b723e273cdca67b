"""Turning a source column into one of our fields, as a mapping's FieldSpec says (etl/source/mapping.py):
a column or a constant, a value map, a satisfaction scale, a time as a typed column or as text in a
stated format and time zone. Vectorised over whole columns. A value no map covers and a time text that
does not parse are not errors here: they come back as a per-row problem (reason key and detail, e.g.
"unmapped status 'X'", or the raw text), and the ETL quarantines the row with it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from contract.factorize import factorize
from etl.source.mapping import FieldSpec, no_value

_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


class Problems:
    """The first problem of each row: a reason key (etl/source/validate.py REASONS) and its detail."""

    def __init__(self, index: pd.Index):
        self.reason = pd.Series(None, index=index, dtype=object)
        self.detail = pd.Series(None, index=index, dtype=object)

    def add(self, mask: np.ndarray | pd.Series, reason: str, detail: pd.Series | str) -> None:
        mask = pd.Series(np.asarray(mask, bool), index=self.reason.index) & self.reason.isna()
        if mask.any():
            self.reason[mask] = reason
            self.detail[mask] = detail[mask] if isinstance(detail, pd.Series) else detail


def key_text(values: pd.Series) -> pd.Series:
    """Values as the text a map's keys are matched against: 3, 3.0 and '3' all as '3'; missing stays None."""
    codes, uniq = factorize(values)  # each distinct value made text once; rows share its object (-1: missing)
    text = [str(int(v)) if isinstance(v, (float, np.floating)) and float(v).is_integer() else str(v).strip()
            for v in uniq]
    return pd.Series(np.asarray([*text, None], dtype=object)[codes], index=values.index, dtype=object)


def raw(frame: pd.DataFrame, spec: FieldSpec | None, default=None) -> pd.Series:
    """The spec's column, or its constant (or `default` when there is no spec) as a column."""
    if spec is None:
        return pd.Series(default, index=frame.index, dtype=object)
    if spec.column is not None:
        return frame[spec.column]
    return pd.Series(spec.const, index=frame.index, dtype=object)


def mapped(frame: pd.DataFrame, spec: FieldSpec | None, name: str, problems: Problems, default=None) -> pd.Series:
    """A field's values through its map (if any); a value the map does not cover is a problem of its row
    ('unmapped <name> 'X'') unless the spec keeps unmapped values as they are. A value mapped to null or ""
    is covered: it becomes no value (None)."""
    values = raw(frame, spec, default)
    if spec is None or not spec.map:
        return values
    text = key_text(values)
    table = {str(k): (None if no_value(v) else v) for k, v in spec.map.items()}
    out = text.map(table).astype(object)
    out = out.where(out.notna(), None)  # a value mapped to no value: None, not NaN
    missing = ~text.isin(list(table))
    if spec.keep_unmapped:
        return out.where(~missing, values)
    bad = missing & text.notna() | (missing & text.isna() & (name == "status"))
    problems.add(bad, "unmapped_value", "unmapped " + name + " '" + text.fillna("NULL").astype(str) + "'")
    return out.astype(object).where(~missing, None)


def satisfaction(frame: pd.DataFrame, spec: FieldSpec | None, problems: Problems) -> pd.Series:
    """Scores 1-5 (4 and 5 count as satisfied): as they are, from 0-100 (ceil of a fifth: 81-100 is 5,
    61-80 is 4), or from words through the map (e.g. 满意 = 5, 基本满意 = 4, 不满意 = 1)."""
    if spec is None:
        return pd.Series(pd.NA, index=frame.index, dtype="Int64")
    values = mapped(frame, spec, "satisfaction", problems)
    num = pd.to_numeric(values, errors="coerce")
    if spec.scale == "0-100":
        num = np.ceil(num / 20).clip(1, 5)
    return num.round().astype("Int64")


def zone(name: str | None, city_tz: str):
    """A feed's time zone: 'local' (naive local times of the city), 'UTC', an offset such as '+08:00',
    or an IANA name."""
    if name is None or name == "local":
        return None
    if name.upper() == "UTC":
        return UTC
    if m := _OFFSET.match(name):
        sign = -1 if m.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))
    return ZoneInfo(name)


def to_local(times: pd.Series, source_zone, city_tz: str) -> pd.Series:
    """Times to naive local times of the city: aware ones converted, naive ones read in `source_zone`."""
    t = pd.to_datetime(times, errors="coerce")
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert(city_tz).dt.tz_localize(None)
    elif source_zone is not None:
        t = t.dt.tz_localize(source_zone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert(city_tz).dt.tz_localize(None)
    return t.astype("datetime64[us]")


def time_field(frame: pd.DataFrame, spec: FieldSpec | None, name: str, feed_zone: str, city_tz: str,
               problems: Problems) -> pd.Series:
    """A time field as naive local datetime64[us]. Text with a `format` that does not parse is a problem
    of its row (bad_time, with the raw text); a typed column's unreadable value is simply missing."""
    if spec is None:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us]")
    values = raw(frame, spec)
    source_zone = zone(spec.timezone or feed_zone, city_tz)
    if spec.format is not None:
        text = values.astype(object).where(values.notna(), None)
        text = text.map(lambda v: v if v is None or isinstance(v, str) else str(v))
        fmt = "ISO8601" if spec.format.upper() == "ISO8601" else spec.format
        parsed = pd.to_datetime(text.str.strip(), format=fmt, errors="coerce", utc="%z" in fmt or fmt == "ISO8601")
        bad = parsed.isna() & text.notna() & (text.str.strip() != "")
        problems.add(bad, "bad_time", name + " '" + text.fillna("").astype(str) + "'")
        values = parsed
    elif values.dtype == object:
        values = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=_any_aware(values))
    return to_local(values, source_zone, city_tz)


def _any_aware(values: pd.Series) -> bool:
    first = values.dropna()
    v = first.iloc[0] if len(first) else None
    return isinstance(v, datetime) and v.tzinfo is not None or isinstance(v, str) and bool(re.search(r"[+-]\d\d:?\d\d$|Z$", v))


def row_ids(values: pd.Series) -> np.ndarray:
    """Integer row keys from any key text (a stable 63-bit hash), for sources whose key is not an integer."""
    h = pd.util.hash_array(values.astype(str).to_numpy(dtype=object))
    return (h >> np.uint64(1)).astype(np.int64)


def text_field(frame: pd.DataFrame, spec: FieldSpec | None) -> pd.Series:
    """A display text field ('' when the source has none)."""
    v = raw(frame, spec, "")
    return v.astype(object).where(v.notna(), "")
