"""The validation report of a GIS import: what was read, what is wrong, what was repaired.

A finding is a hard error (the import stops, nothing is written) or a warning (listed, the import goes
on); each names the file, layer, feature (its index in the layer) and field it is about. Gaps and overlaps
between siblings are measured in m² and in % of the parent's area, the worst ten of each listed."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

WORST = 10


@dataclass
class Finding:
    kind: str                   # e.g. empty_code, duplicate_code, invalid_geometry, orphan, outside_parent
    message: str
    level: str = ""
    file: str = ""
    layer: str = ""
    feature: int | None = None  # index of the feature in its layer (0-based, as GDAL reads them)
    field: str = ""
    code: str = ""

    def where(self) -> str:
        parts = [p for p in (self.file, f"layer {self.layer!r}" if self.layer else "",
                             f"feature {self.feature}" if self.feature is not None else "",
                             f"field {self.field!r}" if self.field else "",
                             f"code {self.code!r}" if self.code else "") if p]
        return ", ".join(parts)


@dataclass
class Measure:
    """A gap or overlap between siblings (or inside the city's union of districts)."""
    level: str
    parent: str
    m2: float
    pct: float                  # of the parent's area
    between: tuple[str, ...] = ()


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=dict)           # features read per level
    regions: dict[str, int] = field(default_factory=dict)          # regions per level after merging parts
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    gaps: list[Measure] = field(default_factory=list)
    overlaps: list[Measure] = field(default_factory=list)
    renumbered: list[str] = field(default_factory=list)             # levels given internal codes

    def error(self, kind: str, message: str, **where) -> None:
        self.errors.append(Finding(kind, message, **where))

    def warn(self, kind: str, message: str, **where) -> None:
        self.warnings.append(Finding(kind, message, **where))

    @property
    def ok(self) -> bool:
        return not self.errors

    def kinds(self, severity: str = "warnings") -> dict[str, int]:
        out: dict[str, int] = {}
        for f in getattr(self, severity):
            out[f.kind] = out.get(f.kind, 0) + 1
        return out

    def render(self) -> str:
        lines = ["features read per level: " + ", ".join(f"{k} {v:,}" for k, v in self.counts.items())]
        if self.regions:
            lines.append("regions per level: " + ", ".join(f"{k} {v:,}" for k, v in self.regions.items()))
        for title, items in (("gaps between siblings", self.gaps), ("overlaps between siblings", self.overlaps)):
            total = sum(m.m2 for m in items)
            lines.append(f"{title}: {len(items)} ({total:,.0f} m² in all)" + (", worst ten:" if items else ""))
            for m in sorted(items, key=lambda m: -m.m2)[:WORST]:
                who = f" between {' and '.join(m.between)}" if m.between else ""
                lines.append(f"  {m.level} under {m.parent}{who}: {m.m2:,.0f} m² ({m.pct:.3f} % of the parent)")
        if self.renumbered:
            lines.append("codes that do not nest, given internal codes (city's code kept as source_code): "
                         + ", ".join(self.renumbered))
        for title, items in (("ERRORS (nothing written)", self.errors), ("warnings", self.warnings)):
            if items:
                lines.append(f"{title}: {len(items)}")
                shown = items if title.startswith("ERR") else items[:200]
                lines += [f"  [{f.kind}] {f.where()}: {f.message}" for f in shown]
                if len(shown) < len(items):
                    lines.append(f"  ... {len(items) - len(shown)} more (see --report-json)")
        lines.append("result: " + ("OK" if self.ok else f"{len(self.errors)} hard error(s), import stopped"))
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)
