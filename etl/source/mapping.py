"""The source mapping: where a city's rows are and how each of our fields is found in them, declared in
a TOML or YAML file (COCKPIT_SOURCE_MAPPING; the demo's own schema is config/sources/demo.toml). One
section per feed: `events` (required), `steps` (the flow log, when there is one), `devices`, `safety`,
`staff` (the grids' staff on duty, 1+1+N).
Every key is declared here as a pydantic model that forbids unknown keys, so a typo or a wrong value
stops loading with the file and the key's dotted path (docs/connect-a-source.md lists every key; a test
checks it). Whether the named tables and columns exist is checked against the database by
`check_columns` (start-up and `cockpit.py source check`)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from config.settings import ROOT
from contract.domain import DEPARTMENT_FACTS, HANDLING_LEVELS, STAFF_ROLES, STAGES, STEP_ACTIONS

DEMO_MAPPING = ROOT / "config" / "sources" / "demo.toml"
FIRST_OR_LAST = Literal["first", "last"]


class MappingError(ValueError):
    """A mapping file is wrong or does not fit the database; the message names the file and the key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def map_onto(spec: FieldSpec, allowed, what: str) -> FieldSpec:
    """A field whose `map` must land on `allowed` values (a step's actions, a staff role): a refused target is
    named, quoted."""
    if spec.map:
        bad = sorted({"" if v is None else str(v) for v in spec.map.values()} - set(allowed))
        if bad:
            raise ValueError(f"map values must be {what} {', '.join(allowed)}; got {quoted(bad)}")
    return spec


def quoted(values) -> str:
    """Values as an error message shows them: each quoted, so an empty or blank one is seen ('' , ' ')."""
    return ", ".join(f"'{v}'" for v in values)


def no_value(v) -> bool:
    """A map target meaning "no value" (the field is empty for that source value): null (YAML) or "" (TOML has
    no null)."""
    return v is None or (isinstance(v, str) and v == "")


class FieldSpec(Strict):
    """How one of our fields is found: a source column (a plain string is short for {column = ...}) or a
    constant; optionally a value map, a time format and zone, or a satisfaction scale. A map target may be
    null (YAML) or "" (TOML has no null): that source value means "no value" (e.g. UNASSIGNED -> no handling
    level), not an unmapped one."""

    column: str | None = None
    const: str | int | float | bool | None = None
    map: dict[str, str | int | float | None] | None = None
    keep_unmapped: bool = False
    format: str | None = None
    timezone: str | None = None
    scale: Literal["1-5", "0-100", "words"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return {"column": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        if (self.column is None) == ("const" not in self.model_fields_set):
            raise ValueError("give exactly one of 'column' or 'const'")
        if self.scale == "words" and not self.map:
            raise ValueError("scale 'words' needs a 'map' from each word to a score 1-5")
        return self


class EventFields(Strict):
    event_id: FieldSpec
    category: FieldSpec | None = None
    channel: FieldSpec | None = None
    priority: FieldSpec | None = None
    handling_level: FieldSpec | None = None
    status: FieldSpec | None = None
    reopened: FieldSpec | None = None
    satisfaction: FieldSpec | None = None
    title: FieldSpec | None = None
    reporter_name: FieldSpec | None = None
    reporter_phone: FieldSpec | None = None
    address: FieldSpec | None = None
    # 条: the department (承办单位) a case is assigned to, a code, name or alias of the city's departments.csv
    # (config/departments.py); and its extension (延期), approved deferral (缓办) and hung (挂账) flags
    department: FieldSpec | None = None
    extended: FieldSpec | None = None
    deferred: FieldSpec | None = None
    hung: FieldSpec | None = None

    @field_validator("status")
    @classmethod
    def _stages(cls, spec: FieldSpec | None) -> FieldSpec | None:
        if spec is not None and spec.map:  # every event has a stage: no "no value" here
            bad = sorted({"" if v is None else str(v) for v in spec.map.values()} - set(STAGES))
            if bad:
                raise ValueError(f"map values must be stages {', '.join(STAGES)}; got {quoted(bad)}")
        return spec

    @field_validator("handling_level")
    @classmethod
    def _levels(cls, spec: FieldSpec | None) -> FieldSpec | None:
        if spec is not None and spec.map:
            bad = sorted({str(v) for v in spec.map.values() if not no_value(v)} - set(HANDLING_LEVELS))
            if bad:
                raise ValueError(f"map values must be {', '.join(HANDLING_LEVELS)} or null/\"\" (no value); "
                                 f"got {quoted(bad)}")
        return spec


class EventTimes(Strict):
    reported_at: FieldSpec
    dispatched_at: FieldSpec | None = None
    handled_at: FieldSpec | None = None
    verified_at: FieldSpec | None = None
    closed_at: FieldSpec | None = None
    due_at: FieldSpec | None = None
    updated_at: FieldSpec | None = None


class GridSpec(Strict):
    """Where an event is: a region code column (grid, community or street), coordinates, or both (the
    code first, the point where the code is missing)."""

    code: FieldSpec | None = None
    codes: Literal["ours", "city"] = "ours"
    lon: FieldSpec | None = None
    lat: FieldSpec | None = None
    datum: str | None = None

    @model_validator(mode="after")
    def _some(self) -> GridSpec:
        if self.code is None and (self.lon is None or self.lat is None):
            raise ValueError("give 'code', or both 'lon' and 'lat'")
        if (self.lon is None) != (self.lat is None):
            raise ValueError("give both 'lon' and 'lat'")
        if self.datum is not None:
            from config.datums import DatumError, normalize

            try:
                normalize(self.datum)
            except DatumError as exc:
                raise ValueError(str(exc)) from None
        return self


class DeadlineRule(Strict):
    category: str | None = None
    priority: int | None = None
    hours: float


class DeadlineSpec(Strict):
    rules: list[DeadlineRule] = []
    default_hours: float | None = None


class WatermarkSpec(Strict):
    """How a pull finds what changed: `update_time` (rows whose times.updated_at is at or after the last one:
    the column must sort like time; `source check` samples it), `increasing_id` (new rows by an increasing
    `column`; a row never changes), `open_set` (new rows by an increasing `column`, plus the events still
    open re-read by id in chunks, at most every `open_every_s` seconds: for a source without a usable update
    time, where a closed work order rarely changes and an open one changes stage), or `full` (every row
    every `every_s` seconds, only the changed passed on)."""

    kind: Literal["update_time", "increasing_id", "open_set", "full"] = "update_time"
    column: str | None = None
    every_s: float = 300.0
    open_every_s: float = 0.0

    @model_validator(mode="after")
    def _column(self) -> WatermarkSpec:
        if self.kind in ("increasing_id", "open_set") and not self.column:
            raise ValueError(f"kind '{self.kind}' needs 'column' (the increasing id)")
        return self


class FlowStages(Strict):
    """Which flow-log action gives each stage's time, and whether its first or last occurrence."""

    dispatched: FIRST_OR_LAST | None = "first"
    handled: FIRST_OR_LAST | None = "last"
    verified: FIRST_OR_LAST | None = "last"
    closed: FIRST_OR_LAST | None = "last"


class Feed(Strict):
    table: str | None = None
    select: str | None = None
    timezone: str = "local"

    @model_validator(mode="after")
    def _where(self):
        if (self.table is None) == (self.select is None):
            raise ValueError("give exactly one of 'table' or 'select'")
        return self


class EventFeed(Feed):
    row_id: str | None = None
    fields: EventFields
    times: EventTimes
    grid: GridSpec
    deadline: DeadlineSpec | None = None
    watermark: WatermarkSpec = WatermarkSpec()
    stages_from_flow_log: FlowStages | None = None
    # the department from the flow log: the unit of the first 'dispatched' step (dispatched to) or of the last
    # 'handled' step (handled by); where the event row also has one (fields.department), the flow log's wins
    department_from_flow_log: Literal["dispatched", "handled"] | None = None

    @model_validator(mode="after")
    def _feed(self) -> EventFeed:
        if self.watermark.kind == "update_time" and self.times.updated_at is None:
            raise ValueError("watermark kind 'update_time' needs times.updated_at")
        if self.times.due_at is None and (self.deadline is None or
                                          (not self.deadline.rules and self.deadline.default_hours is None)):
            raise ValueError("give times.due_at or deadline rules (deadline.rules / deadline.default_hours)")
        return self


class StepFields(Strict):
    event_id: FieldSpec
    step_id: FieldSpec | None = None
    step_no: FieldSpec | None = None
    action: FieldSpec
    at: FieldSpec
    level: FieldSpec | None = None
    unit: FieldSpec | None = None
    actor: FieldSpec | None = None
    note: FieldSpec | None = None
    updated_at: FieldSpec | None = None

    @field_validator("action")
    @classmethod
    def _actions(cls, spec: FieldSpec) -> FieldSpec:
        return map_onto(spec, STEP_ACTIONS, "actions")


class StepFeed(Feed):
    fields: StepFields


class DeviceFields(Strict):
    device_id: FieldSpec
    kind: FieldSpec
    device_type: FieldSpec | None = None
    tags: FieldSpec | None = None
    status: FieldSpec
    coord_quality: FieldSpec | None = None
    last_seen_at: FieldSpec | None = None


class DeviceFeed(Feed):
    fields: DeviceFields
    grid: GridSpec


class SafetyFields(Strict):
    region_code: FieldSpec
    month: FieldSpec
    index_value: FieldSpec
    public_security: FieldSpec
    security: FieldSpec | None = None
    fire: FieldSpec | None = None
    traffic: FieldSpec | None = None
    production: FieldSpec | None = None
    disputes: FieldSpec | None = None


class SafetyFeed(Feed):
    codes: Literal["ours", "city"] = "ours"
    fields: SafetyFields


class StaffFields(Strict):
    """A grid's staff (网格长 / 网格员 / the N of 1+1+N): one row per person and grid."""

    grid_code: FieldSpec
    role: FieldSpec
    name: FieldSpec
    phone: FieldSpec | None = None

    @field_validator("role")
    @classmethod
    def _roles(cls, spec: FieldSpec) -> FieldSpec:
        return map_onto(spec, STAFF_ROLES, "roles")


class StaffFeed(Feed):
    codes: Literal["ours", "city"] = "ours"
    fields: StaffFields


class Mapping(Strict):
    name: str
    description: str = ""
    events: EventFeed
    steps: StepFeed | None = None
    devices: DeviceFeed | None = None
    safety: SafetyFeed | None = None
    staff: StaffFeed | None = None

    @model_validator(mode="after")
    def _flow(self) -> Mapping:
        if self.events.stages_from_flow_log is not None and self.steps is None:
            raise ValueError("events.stages_from_flow_log needs a [steps] feed")
        if self.events.department_from_flow_log is not None and (self.steps is None or self.steps.fields.unit is None):
            raise ValueError("events.department_from_flow_log needs a [steps] feed with fields.unit")
        return self

    def department_facts(self) -> dict[str, bool]:
        """Which department fields the source gives (a field it lacks shows 未接入, never 0): the department, and
        each of DEPARTMENT_FACTS from an event column or a flow-log action the mapping names."""
        f = self.events.fields
        actions = set()
        if self.steps is not None and self.steps.fields.action.map:
            actions = {str(v) for v in self.steps.fields.action.map.values()}
        elif self.steps is not None:
            actions = set(DEPARTMENT_FACTS)  # the log writes our action names itself
        return {"department": f.department is not None or self.events.department_from_flow_log is not None,
                **{name: getattr(f, name) is not None or name in actions and self.events.stages_from_flow_log is not None
                   for name in DEPARTMENT_FACTS}}


class SourceMapping:
    """A loaded mapping and the file it came from (for error messages)."""

    def __init__(self, spec: Mapping, path: Path):
        self.spec, self.path = spec, Path(path)

    def error(self, key: str, msg: str) -> MappingError:
        return MappingError(f"{self.path}: key {key!r}: {msg}")


def _read(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise MappingError(f"{path}: invalid YAML: {exc}") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise MappingError(f"{path}: invalid TOML: {exc}") from None
    if not isinstance(data, dict):
        raise MappingError(f"{path}: expected a table of feeds at the top")
    return data


def load_mapping(path: str | Path | None = None) -> SourceMapping:
    """The mapping in `path` (default: the demo's), validated; MappingError naming file and key otherwise."""
    path = Path(path) if path else DEMO_MAPPING
    if not path.is_file():
        raise MappingError(f"{path}: mapping file not found (COCKPIT_SOURCE_MAPPING)")
    data = _read(path)
    try:
        return SourceMapping(Mapping.model_validate(data), path)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-")) or "(top)"
        msg = err["msg"].removeprefix("Value error, ")
        raise MappingError(f"{path}: key {key!r}: {msg}") from None


def provided(spec: Mapping) -> dict:
    """Which feeds and fields the mapping provides (published in the snapshot's meta as `provided`, so a screen
    can say 未接入 for what a source does not have instead of showing a zero): the feeds (steps: a flow log,
    devices, safety), the event fields, and per stage whether the source gives its time (a column, or the flow
    log's action; a stage a status reaches without a time takes the time of the stage before it, which is not
    the stage's own)."""
    ev, f, t = spec.events, spec.events.fields, spec.events.times
    flow = ev.stages_from_flow_log if spec.steps is not None else None
    stages = {"reported": True}
    for stage in ("dispatched", "handled", "verified", "closed"):
        stages[stage] = getattr(t, f"{stage}_at") is not None or (flow is not None and getattr(flow, stage) is not None)
    return {"steps": spec.steps is not None, "devices": spec.devices is not None, "safety": spec.safety is not None,
            "staff": spec.staff is not None,
            "satisfaction": f.satisfaction is not None, "handling_level": f.handling_level is not None,
            "channel": f.channel is not None, "category": f.category is not None, "priority": f.priority is not None,
            "reopened": f.reopened is not None or flow is not None, "due_at": t.due_at is not None,
            "deadline_rules": ev.deadline is not None, "points": ev.grid.lon is not None,
            "region_codes": ev.grid.code is not None, "stages": stages,
            **spec.department_facts()}  # 条: department, extended, deferred, hung


def key_paths(model: type[BaseModel] = Mapping, prefix: str = "") -> list[str]:
    """Every key a mapping file may hold, as dotted paths (for the docs' table and its test)."""
    out = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        out.append(path)
        sub = _model_of(info.annotation)
        if sub is not None and sub is not FieldSpec:
            out += key_paths(sub, path + ".")
    return out


def _model_of(annotation) -> type[BaseModel] | None:
    args = getattr(annotation, "__args__", None) or (annotation,)
    for a in args:
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
        if getattr(a, "__origin__", None) is list:
            inner = a.__args__[0]
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None
