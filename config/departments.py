"""The department catalogue (条): the functional departments and territorial units a case can be assigned to,
read from the city folder's `departments.csv` (docs/connect-a-source.md, "Departments"):

    code,name,parent,kind[,aliases]

`code` is the department's own code; a sub-unit's code starts with its parent's (城管局 `CG`, 玄武区城管局
`CG320102`), so a department and its sub-units are the codes with its prefix, as regions are (scope and
drill-down are a prefix match). `kind` is 职能部门 (functional) or 属地 (territorial). `aliases` lists, separated
by `|`, the values the source systems write for the unit (its name in the 12345 system, an agency name, an old
code). A value the catalogue does not know counts under 未归属 (unassigned, number 0) and is listed with its raw
value in `cockpit.py source check` and /health, never dropped.

Numbers: the catalogue sorted by code, numbered from 1 (0 is 未归属); a department's sub-units follow it in that
order, so a department with its sub-units is one range of numbers (`number_range`). The pieces carry the number
(contract/frames.py PIECES `dept`); the published `departments` frame says which is which."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ("code", "name", "parent", "kind")
KINDS = {"职能部门": "functional", "functional": "functional", "属地": "territorial", "territorial": "territorial"}
UNASSIGNED = 0  # the number of 未归属
UNASSIGNED_CODE = "-"  # how a URL or a user's scope names 未归属 (no catalogue code can be it)
CODE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")
FILE = "departments.csv"


class DepartmentCatalogueError(ValueError):
    """departments.csv is wrong; the message names the file, the line and the column."""


@dataclass(frozen=True)
class Departments:
    """The catalogue: one row per department, sorted by code, numbered from 1."""

    table: pd.DataFrame = field(repr=False)  # code, name, parent, kind, aliases, number, depth
    path: Path | None = None

    @property
    def empty(self) -> bool:
        return self.table.empty

    @cached_property
    def _lookup(self) -> dict[str, int]:
        """Every value a source may write for a department (code, name, alias) -> its number."""
        out: dict[str, int] = {}
        for code, name, aliases, no in self.table[["code", "name", "aliases", "number"]].itertuples(index=False):
            for v in (name, *[a for a in aliases.split("|") if a], code):  # the code wins a clash
                out[v.strip()] = int(no)
        return out

    def numbers(self, raw: pd.Series) -> np.ndarray:
        """The number of each raw value (code, name or alias; surrounding blanks ignored); 0 where unknown."""
        codes, uniq = pd.factorize(raw)  # each distinct value looked up once; a missing one is -1
        known = np.asarray([self._lookup.get(str(v).strip(), UNASSIGNED) for v in uniq] + [UNASSIGNED], dtype=np.int64)
        return known[codes]

    @cached_property
    def codes(self) -> np.ndarray:
        """Code by number (index 0: '' for 未归属)."""
        return np.asarray(["", *self.table["code"]], dtype=object)

    def number_of(self, code: str) -> int | None:
        hit = self.table.loc[self.table["code"] == code, "number"].to_numpy()
        return int(hit[0]) if len(hit) else None

    def number_range(self, code: str) -> tuple[int, int]:
        """[first, stop) of the numbers of a department and its sub-units ('' = every department and 未归属)."""
        if code == "":
            return 0, len(self.table) + 1
        if code == UNASSIGNED_CODE:
            return UNASSIGNED, UNASSIGNED + 1
        hit = self._ranges.get(code)
        if hit is None:
            codes = self._sorted_codes
            lo = int(np.searchsorted(codes, code, "left"))
            hi = lo
            while hi < len(codes) and codes[hi].startswith(code):
                hi += 1
            hit = (lo + 1, hi + 1)
            if hi > lo:  # only a code the catalogue holds is kept (a forged one does not grow the cache)
                self._ranges[code] = hit
        return hit

    @cached_property
    def _sorted_codes(self) -> np.ndarray:
        return self.table["code"].to_numpy(dtype=str)

    @cached_property
    def _ranges(self) -> dict[str, tuple[int, int]]:
        return {}  # number_range's answers, asked on every department view

    @cached_property
    def _children(self) -> dict[str, pd.DataFrame]:
        return {}

    def children(self, code: str | None) -> pd.DataFrame:
        """The departments directly under `code` (None or '': the top-level ones)."""
        key = code or ""
        hit = self._children.get(key)
        if hit is None:
            t = self.table
            hit = t[t["parent"] == key]
            if not hit.empty:  # only a department with sub-units is kept
                self._children[key] = hit
        return hit

    def name(self, code: str) -> str | None:
        hit = self.table.loc[self.table["code"] == code, "name"]
        return str(hit.iloc[0]) if len(hit) else None

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and bool((self.table["code"] == code).any())


def empty_departments() -> Departments:
    return Departments(pd.DataFrame({"code": pd.Series(dtype=object), "name": pd.Series(dtype=object),
                                     "parent": pd.Series(dtype=object), "kind": pd.Series(dtype=object),
                                     "aliases": pd.Series(dtype=object), "number": pd.Series(dtype="int64"),
                                     "depth": pd.Series(dtype="int64")}))


def _err(path: Path, row: int, column: str, msg: str) -> DepartmentCatalogueError:
    return DepartmentCatalogueError(f"{path}, line {row + 2}, column {column!r}: {msg}")


def read_departments(path: str | Path) -> Departments:
    """A departments.csv, validated (DepartmentCatalogueError naming file, line and column otherwise)."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig")
    except Exception as exc:  # noqa: BLE001 - a malformed CSV, said with its file
        raise DepartmentCatalogueError(f"{path}: cannot parse CSV: {exc}") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DepartmentCatalogueError(f"{path}, line 1: missing column(s) {missing}; header must have {list(COLUMNS)}")
    if "aliases" not in df.columns:
        df["aliases"] = ""
    df = df[[*COLUMNS, "aliases"]].apply(lambda s: s.str.strip())
    for i, (code, name, parent, kind) in enumerate(df[list(COLUMNS)].itertuples(index=False)):
        if not CODE.match(code):
            raise _err(path, i, "code", f"code {code!r} must be 1-32 letters, digits, '_', '.' or '-', "
                                             "starting with a letter, digit or '_'")
        if not name:
            raise _err(path, i, "name", "empty name")
        if kind not in KINDS:
            raise _err(path, i, "kind", f"unknown kind {kind!r}; one of 职能部门, 属地")
        if parent and not code.startswith(parent) or parent == code:
            raise _err(path, i, "parent", f"a sub-unit's code must start with its parent's ({parent!r}), got {code!r}")
    dup = np.flatnonzero(df["code"].duplicated().to_numpy())
    if len(dup):
        raise _err(path, dup[0], "code", f"duplicate code {df['code'].iat[dup[0]]!r}")
    known = set(df["code"])
    orphan = np.flatnonzero(((df["parent"] != "") & ~df["parent"].isin(known)).to_numpy())
    if len(orphan):
        raise _err(path, orphan[0], "parent", f"unknown parent {df['parent'].iat[orphan[0]]!r}")
    df["kind"] = df["kind"].map(KINDS)
    df = df.sort_values("code", kind="stable").reset_index(drop=True)
    df["number"] = np.arange(1, len(df) + 1, dtype=np.int64)
    depth: dict[str, int] = {}
    for code, parent in df[["code", "parent"]].itertuples(index=False):
        depth[code] = depth[parent] + 1 if parent else 0
    df["depth"] = df["code"].map(depth).astype("int64")
    return Departments(df, path)


def load_departments(city_folder: str | Path) -> Departments:
    """The city's catalogue (`<city folder>/departments.csv`), or an empty one (every case 未归属) without it."""
    path = Path(city_folder) / FILE
    return read_departments(path) if path.is_file() else empty_departments()


def departments_from_table(table: pd.DataFrame) -> Departments:
    """The catalogue as the published `departments` frame holds it (etl/transforms/departments.py), 未归属 left out."""
    t = table[table["number"] != UNASSIGNED].sort_values("number").reset_index(drop=True)
    return Departments(t.assign(aliases="")[["code", "name", "parent", "kind", "aliases", "number", "depth"]])
