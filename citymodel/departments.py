"""Import a city's own department list (条) into its city model folder's departments.csv:

    python -m citymodel.departments import FILE.csv [--city-dir DIR] [--code-column C] [--name-column C]
        [--parent-column C] [--kind-column C | --kind KIND] [--aliases-column C] [--nest-codes] [--dry-run]
    (also `python3 cockpit.py departments import ...`)

The city's CSV (UTF-8, with or without a BOM) names its columns as it likes: the options say which column holds
the code, the name, the parent's code (empty for a top-level department), the kind (职能部门 or 属地; `--kind`
sets one kind for every row when the list has no such column) and, optionally, the aliases (`|`-separated
values other systems write for the unit). Every row is checked: an empty or malformed code, a duplicate code, an
empty name, an unknown kind, a parent the list does not hold, a parent chain that loops, and a code that falls
under another department's code without being its sub-unit (a department and its sub-units are a code prefix,
config/departments.py). Each error names the file, the line and the column; on any error nothing is written.

A sub-unit whose code does not start with its parent's (a city numbering its units independently) is an error,
or with `--nest-codes` gets the code `<parent's code>.<its code>`, its own code kept as an alias so that a source
writing it still finds the unit. The result is checked once more by the reader the ETL uses
(config/departments.py read_departments), then replaces `<city folder>/departments.csv` in one move;
`--dry-run` prints the file it would write and writes nothing. Exit status 0 when written (or printed), 1 on
errors in the list, 2 on bad arguments."""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from config.departments import CODE, FILE, KINDS, DepartmentCatalogueError, read_departments

OUT_COLUMNS = ("code", "name", "parent", "kind", "aliases")
KIND_TEXT = {v: k for k, v in reversed(list(KINDS.items()))}  # functional/territorial -> the CSV's own word


class ImportErrors(ValueError):
    """The list's errors, each naming the file, the line and the column."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class Row:
    line: int
    code: str
    name: str
    parent: str
    kind: str
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Columns:
    code: str = "code"
    name: str = "name"
    parent: str = "parent"
    kind: str | None = "kind"
    aliases: str | None = None


def _read(path: Path, cols: Columns, kind: str | None) -> tuple[list[Row], list[str]]:
    errors: list[str] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportErrors([f"{path}: cannot read as UTF-8 text: {exc}"]) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    wanted = [c for c in (cols.code, cols.name, cols.parent, cols.kind, cols.aliases) if c]
    absent = [c for c in wanted if c not in header]
    if absent:
        raise ImportErrors([f"{path}, line 1: no column {c!r} (the header has {header})" for c in absent])
    if cols.kind is None and kind is None:
        raise ImportErrors([f"{path}: no kind: name the kind column (--kind-column) or one kind for all (--kind)"])
    rows = []
    for rec in reader:
        line = reader.line_num
        if None in rec:
            errors.append(f"{path}, line {line}: more fields than the header has")
            continue
        value = {c: (rec.get(c) or "").strip() for c in wanted}
        if not any(value.values()):
            continue  # a blank line
        raw_kind = value[cols.kind] if cols.kind else str(kind)
        aliases = value[cols.aliases].split("|") if cols.aliases else []
        row = Row(line, value[cols.code], value[cols.name], value[cols.parent], raw_kind,
                  [a.strip() for a in aliases if a.strip()])
        where = f"{path}, line {line}, column"
        if not CODE.match(row.code):
            errors.append(f"{where} {cols.code!r}: code {row.code!r} must be 1-32 letters, digits, '_', '.' or '-', "
                          "starting with a letter, digit or '_'")
        if not row.name:
            errors.append(f"{where} {cols.name!r}: empty name")
        if row.kind not in KINDS:
            errors.append(f"{where} {cols.kind or '--kind'!r}: unknown kind {row.kind!r}; one of "
                          + ", ".join(KIND_TEXT.values()))
        if row.parent and row.parent == row.code:
            errors.append(f"{where} {cols.parent!r}: {row.code!r} is its own parent")
        rows.append(row)
    return rows, errors


def _resolve(path: Path, rows: list[Row], cols: Columns, nest: bool) -> tuple[list[Row], list[str]]:
    """The rows with their final codes and parents (nested where asked), or the errors of the hierarchy."""
    errors: list[str] = []
    first: dict[str, Row] = {}
    for r in rows:
        if r.code in first:
            errors.append(f"{path}, line {r.line}, column {cols.code!r}: duplicate code {r.code!r} "
                          f"(first on line {first[r.code].line})")
        else:
            first[r.code] = r
    for r in rows:
        if r.parent and r.parent not in first and r.parent != r.code:
            errors.append(f"{path}, line {r.line}, column {cols.parent!r}: unknown parent {r.parent!r}")
    if errors:
        return rows, errors
    final: dict[str, str] = {}
    looped: set[str] = set()
    for r in rows:  # each row's chain up to the top: a loop is reported once, on its first row
        chain, code = [], r.code
        while code and code not in final and code not in chain and code not in looped:
            chain.append(code)
            code = first[code].parent
        if code in chain or code in looped:
            if code in chain:
                loop = chain[chain.index(code):]
                errors.append(f"{path}, line {first[loop[0]].line}, column {cols.parent!r}: the parents go round in a "
                              "loop: " + " -> ".join([*loop, code]))
            looped.update(chain)
            continue
        for c in reversed(chain):  # top first
            row, up = first[c], final.get(first[c].parent, "")
            if not up or (c.startswith(up) and c != up):
                final[c] = c
            elif nest:
                final[c] = f"{up}.{c}"
                if not CODE.match(final[c]):
                    errors.append(f"{path}, line {row.line}, column {cols.code!r}: nested code {final[c]!r} is "
                                  "longer than 32 characters")
            else:
                errors.append(f"{path}, line {row.line}, column {cols.code!r}: a sub-unit's code must start with its "
                              f"parent's ({up!r}), got {c!r} (--nest-codes writes {up + '.' + c!r})")
                final[c] = c
    if errors:
        return rows, errors
    out = []
    for r in rows:
        code = final[r.code]
        aliases = r.aliases + ([r.code] if code != r.code and r.code not in r.aliases else [])
        out.append(Row(r.line, code, r.name, final.get(r.parent, ""), r.kind, aliases))
    by_code = {r.code: r for r in out}
    if len(by_code) < len(out):
        seen: dict[str, Row] = {}
        for r in out:
            if r.code in seen:
                errors.append(f"{path}, line {r.line}, column {cols.code!r}: code {r.code!r} (nested) is also "
                              f"on line {seen[r.code].line}")
            seen[r.code] = r
        return out, errors
    errors += _prefix_errors(path, out, by_code, cols)
    return out, errors


def _prefix_errors(path: Path, rows: list[Row], by_code: dict[str, Row], cols: Columns) -> list[str]:
    """A code that starts with another department's code must be one of its sub-units (below it), or the
    department's figures would count it (a department with its sub-units is a code prefix)."""
    errors = []
    codes = sorted(by_code)
    for i, code in enumerate(codes):
        j = i + 1
        while j < len(codes) and codes[j].startswith(code):
            other = by_code[codes[j]]
            up, ancestors = other.parent, set()
            while up:
                ancestors.add(up)
                up = by_code[up].parent
            if code not in ancestors:
                errors.append(f"{path}, line {other.line}, column {cols.code!r}: code {other.code!r} starts with "
                              f"{code!r} (line {by_code[code].line}) but is not under it: its figures would count "
                              "under that department; rename one, or make it a sub-unit")
            j += 1
    return errors


def render(rows: list[Row]) -> str:
    """departments.csv as the city model folder holds it (config/departments.py), parents before their units."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(OUT_COLUMNS)
    for r in sorted(rows, key=lambda r: r.code):
        w.writerow([r.code, r.name, r.parent, KIND_TEXT[KINDS[r.kind]], "|".join(dict.fromkeys(r.aliases))])
    return buf.getvalue()


DEFAULT_COLUMNS = Columns()


def import_departments(src: str | Path, city_dir: str | Path, cols: Columns = DEFAULT_COLUMNS,
                       kind: str | None = None, nest: bool = False, dry_run: bool = False) -> tuple[str, int]:
    """Validate the city's list and write `<city_dir>/departments.csv` (unless dry_run): (its text, departments).
    ImportErrors (every error, each naming file, line and column) and nothing written when the list is wrong."""
    src, city_dir = Path(src), Path(city_dir)
    rows, errors = _read(src, cols, kind)
    if not errors:
        rows, errors = _resolve(src, rows, cols, nest)
    if errors:
        raise ImportErrors(errors)
    text = render(rows)
    if not city_dir.is_dir():
        raise ImportErrors([f"{city_dir}: no such city model folder"])
    fd, tmp = tempfile.mkstemp(prefix=".departments-", suffix=".csv", dir=city_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        try:
            read_departments(tmp)  # the ETL's own reader: what is written is what it reads
        except DepartmentCatalogueError as exc:
            raise ImportErrors([f"{src}: the result does not read back: {exc}"]) from None
        if not dry_run:
            os.replace(tmp, city_dir / FILE)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return text, len(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m citymodel.departments", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("import", help="validate a city's department list and write departments.csv")
    p.add_argument("file", help="the city's CSV")
    p.add_argument("--city-dir", help="the city model folder (default: the setting COCKPIT_CITY_DIR)")
    p.add_argument("--code-column", default="code")
    p.add_argument("--name-column", default="name")
    p.add_argument("--parent-column", default="parent")
    p.add_argument("--kind-column", default=None, help="the kind's column (default: 'kind' unless --kind is given)")
    p.add_argument("--kind", help="one kind for every row (职能部门 or 属地) when the list has no kind column")
    p.add_argument("--aliases-column", help="a column of other values ('|'-separated) that stand for the unit")
    p.add_argument("--nest-codes", action="store_true",
                   help="give a sub-unit whose code does not start with its parent's the code <parent>.<code>")
    p.add_argument("--dry-run", action="store_true", help="print the file it would write; write nothing")
    a = ap.parse_args(argv)
    if a.kind is not None and a.kind not in KINDS:
        ap.error(f"--kind {a.kind!r}: one of " + ", ".join(KIND_TEXT.values()))
    if a.kind is not None and a.kind_column is not None:
        ap.error("--kind and --kind-column exclude each other")
    if a.city_dir is None:
        from config.settings import load_settings
        a.city_dir = load_settings().city_dir
    cols = Columns(a.code_column, a.name_column, a.parent_column,
                   None if a.kind is not None else (a.kind_column or "kind"), a.aliases_column)
    try:
        text, n = import_departments(a.file, a.city_dir, cols, a.kind, a.nest_codes, a.dry_run)
    except ImportErrors as exc:
        for e in exc.errors:
            print(f"error: {e}", file=sys.stderr)
        print(f"{len(exc.errors)} error(s); nothing written", file=sys.stderr)
        return 1
    target = Path(a.city_dir) / FILE
    if a.dry_run:
        sys.stdout.write(text)
        print(f"{n} departments; dry run: {target} not written", file=sys.stderr)
    else:
        print(f"wrote {target}: {n} departments")
    return 0


if __name__ == "__main__":
    sys.exit(main())
