"""The catalogue of city vital signs (城市体征): every indicator a city feeds the cockpit, declared in a TOML
file (COCKPIT_INDICATORS; the demo's is config/indicators/demo.toml; every key: docs/indicators.md).

Connections are declared once by name: a SQL database (`url`, its password from the environment variable
`password_env`, never in the file; or `same_as_source = true`: the cockpit's own source database) or an
intranet HTTP JSON API (`base_url`, a token from `token_env`). Each indicator names one connection and how
its rows are found there (a SQL select returning `time`, `value` and optionally `region`, `lon`/`lat`,
`site`, `weight`; or an HTTP path with the JSON fields named), its expected cadence (a feed later than
`late_after` is stale by itself), how it rolls up over regions, its allowed range (values outside are
quarantined) and its thresholds. Every model forbids unknown keys, so a typo stops loading with the
file and the key's dotted path (`IndicatorError`)."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from config.settings import ROOT

DEMO_INDICATORS = ROOT / "config" / "indicators" / "demo.toml"
ROLLUPS = ("sum", "mean", "weighted_mean", "max")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNIT_S = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


class IndicatorError(ValueError):
    """The indicator catalogue is wrong; the message names the file and the key."""


def duration_s(value: Any) -> float:
    """'5m', '1h', '90s', '1d' or a number of seconds, as seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        secs = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(f"{value!r} is not a duration (e.g. 90s, 5m, 1h, 1d)")
        secs = float(m.group(1)) * _UNIT_S[m.group(2)]
    if secs <= 0:
        raise ValueError("a duration must be positive")
    return secs


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Connection(Strict):
    """A SQL database (url / same_as_source) or an HTTP JSON API (base_url); secrets from the environment."""

    url: str | None = None
    same_as_source: bool = False
    password_env: str | None = None
    base_url: str | None = None
    token_env: str | None = None
    token_header: str = "Authorization"
    token_prefix: str = "Bearer "
    timeout: float = Field(10.0, gt=0)
    timezone: str | None = None  # of the naive times this system gives; default: the city's

    @model_validator(mode="after")
    def _one_kind(self) -> Connection:
        kinds = [self.url is not None, self.same_as_source, self.base_url is not None]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of 'url' (SQL), 'same_as_source = true' or 'base_url' (HTTP)")
        if self.url is not None and re.match(r"^[a-z0-9+]+://[^/@:]*:[^/@]+@", self.url):
            raise ValueError("the url holds a password: name an environment variable in 'password_env' instead")
        if self.password_env and self.base_url is not None:
            raise ValueError("'password_env' is for SQL connections; an HTTP API takes 'token_env'")
        if self.token_env and self.base_url is None:
            raise ValueError("'token_env' is for HTTP connections; a SQL connection takes 'password_env'")
        for key in ("password_env", "token_env"):
            name = getattr(self, key)
            if name and name not in os.environ:
                raise ValueError(f"{key}: the environment variable {name} is not set")
        return self

    @property
    def is_http(self) -> bool:
        return self.base_url is not None

    def secret(self) -> str | None:
        name = self.password_env or self.token_env
        return os.environ.get(name) if name else None


class Source(Strict):
    """Where one indicator's rows are: `sql` on a SQL connection, or `path` (+ fields) on an HTTP one."""

    connection: str
    sql: str | None = None
    path: str | None = None
    params: dict[str, str] = {}  # query parameters; "{since}" becomes the watermark (ISO time)
    records: str = ""  # dotted path to the list of records in the JSON ("" = the body is the list)
    time: str = "time"
    value: str = "value"
    region: str | None = None
    lon: str | None = None
    lat: str | None = None
    site: str | None = None
    weight: str | None = None
    scale: float = 1.0  # every value is multiplied by this (e.g. 100: a ratio the feed gives as 0..1, shown in %)
    codes: Literal["ours", "city"] = "ours"  # region codes: ours, or the city's own (regions.csv source_code)
    datum: str | None = None  # of lon/lat; default: the city model's

    @field_validator("sql")
    @classmethod
    def _select_only(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^\s*(select|with)\b", v, re.IGNORECASE):
            raise ValueError("must be a SELECT (the cockpit only reads): starts with select or with")
        if v is not None and ";" in v.strip().rstrip(";"):
            raise ValueError("one statement only")
        return v.strip().rstrip(";") if v is not None else v

    @model_validator(mode="after")
    def _sql_or_path(self) -> Source:
        if (self.sql is None) == (self.path is None):
            raise ValueError("give exactly one of 'sql' (SQL connection) or 'path' (HTTP connection)")
        if (self.lon is None) != (self.lat is None):
            raise ValueError("give both 'lon' and 'lat', or neither")
        return self


class Thresholds(Strict):
    """warn / alarm lines; basis absolute (the value) or last_week (value ÷ the same hour last week)."""

    warn: float | None = None
    alarm: float | None = None
    direction: Literal["above", "below"] = "above"
    basis: Literal["absolute", "last_week"] = "absolute"

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.warn is not None and self.alarm is not None:
            if (self.direction == "above" and self.alarm < self.warn) or \
                    (self.direction == "below" and self.alarm > self.warn):
                raise ValueError(f"alarm must be beyond warn in direction {self.direction!r}")
        return self


class Indicator(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")
    name: str
    theme: str
    unit: str = ""
    source: Source
    cadence: float  # seconds between values the feed is expected to deliver
    late_after: float | None = None  # default: 3 × cadence
    poll: float | None = None  # seconds between reads; default: min(cadence, 60 s)
    rollup: Literal["sum", "mean", "weighted_mean", "max"] = "sum"
    range: tuple[float, float] | None = None
    decimals: int = Field(0, ge=0, le=4)
    wall: bool = True  # a tile on the wall (the wall shows the first WALL_TILES of these, in the file's order)
    thresholds: Thresholds = Thresholds()
    # an expected band (80 %) for the coming hours and "will cross its threshold" warnings (etl/transforms/
    # indicator_forecast.py): true, false, or "auto" (the default: an indicator fed hourly or more often, whose
    # values can show a daily shape); the history decides the rest (under MIN_DAYS days of values: no band)
    forecast: bool | Literal["auto"] = "auto"

    @field_validator("cadence", "late_after", "poll", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        return None if v is None else duration_s(v)

    @model_validator(mode="after")
    def _fits(self) -> Indicator:
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError("range must be [low, high] with low <= high")
        if self.rollup == "weighted_mean" and self.source.path is not None and self.source.weight is None:
            raise ValueError("rollup 'weighted_mean' needs source.weight (the field holding each value's weight)")
        return self

    @property
    def late_after_s(self) -> float:
        return self.late_after if self.late_after is not None else 3 * self.cadence

    @property
    def forecast_enabled(self) -> bool:
        """Whether the forecast job fits this indicator: `forecast = true`, or "auto" and a cadence of at most an
        hour (a daily feed has no intra-day shape to forecast hour by hour)."""
        return self.forecast is True or (self.forecast == "auto" and self.cadence <= 3600)

    @property
    def poll_s(self) -> float:
        return self.poll if self.poll is not None else min(self.cadence, 60.0)


class Catalogue(Strict):
    connections: dict[str, Connection] = {}
    indicator: list[Indicator] = []
    path: str = ""

    @model_validator(mode="after")
    def _references(self) -> Catalogue:
        seen: set[str] = set()
        for i, ind in enumerate(self.indicator):
            if ind.id in seen:
                raise _At(("indicator", i, "id"), f"duplicate indicator id {ind.id!r}")
            seen.add(ind.id)
            conn = self.connections.get(ind.source.connection)
            if conn is None:
                raise _At(("indicator", i, "source", "connection"),
                          f"no connection named {ind.source.connection!r} (declared: {sorted(self.connections)})")
            if conn.is_http != (ind.source.path is not None):
                raise _At(("indicator", i, "source"), "an HTTP connection takes 'path', a SQL one takes 'sql'")
        return self

    @property
    def themes(self) -> list[str]:
        """The themes in the order the file first names them (the wall's order)."""
        return list(dict.fromkeys(i.theme for i in self.indicator))

    def by_id(self) -> dict[str, Indicator]:
        return {i.id: i for i in self.indicator}


class _At(ValueError):
    """A cross-reference error at a key path (raised inside Catalogue validation)."""

    def __init__(self, loc: tuple, msg: str):
        super().__init__(msg)
        self.loc, self.msg = loc, msg


def _dotted(loc: tuple, data: dict) -> str:
    """A pydantic error location as the file's key path; an indicator is named by its id."""
    parts: list[str] = []
    node: Any = data
    for i, part in enumerate(loc):
        if isinstance(part, int) and parts and parts[-1] == "indicator":
            ident = node[part].get("id") if isinstance(node, list) and part < len(node) and \
                isinstance(node[part], dict) else None
            parts[-1] = f"indicator[{ident or part}]"
        elif isinstance(part, str) and part not in ("function-after", "function-before") and \
                not part.startswith(("tagged-union", "union")):
            parts.append(part)
        node = node[part] if isinstance(node, dict | list) and _has(node, part) else None
        del i
    return ".".join(parts)


def _has(node, part) -> bool:
    return (isinstance(node, dict) and part in node) or (isinstance(node, list) and isinstance(part, int)
                                                          and part < len(node))


def parse_catalogue(data: dict, path: str = "<memory>") -> Catalogue:
    """A catalogue from parsed TOML; IndicatorError naming `path` and the key otherwise."""
    try:
        return Catalogue(**data, path=path)
    except ValidationError as exc:
        err = exc.errors()[0]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, _At):
            raise IndicatorError(f"{path}: {_dotted(cause.loc, data)}: {cause.msg}") from None
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise IndicatorError(f"{path}: {_dotted(tuple(err['loc']), data) or '(top level)'}: {msg}") from None


def load_catalogue(path: str | Path | None) -> Catalogue:
    """The catalogue in `path` (TOML); an empty one for None / ''. IndicatorError names file and key."""
    if not path:
        return Catalogue()
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndicatorError(f"{p}: no such file (COCKPIT_INDICATORS)") from None
    except tomllib.TOMLDecodeError as exc:
        raise IndicatorError(f"{p}: not valid TOML: {exc}") from None
    return parse_catalogue(data, str(p))
