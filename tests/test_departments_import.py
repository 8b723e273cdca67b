"""The department catalogue import (issue 25: "importable from the city's own CSV"): `python -m citymodel.departments
import` (cockpit.py departments import) reads a city's list with its own column names, validates it and writes the
city model folder's departments.csv; a good list round-trips through the ETL's reader, each wrong one gives its
error naming the file, the line and the column, and writes nothing."""

from __future__ import annotations

import shutil

import pytest

from citymodel.departments import Columns, ImportErrors, import_departments, main
from config.departments import read_departments
from config.settings import ROOT

DEMO = ROOT / "config" / "cities" / "nanjing" / "departments.csv"
COLS = Columns(code="单位编码", name="单位名称", parent="上级编码", kind="类型", aliases="别名")
HEAD = "单位编码,单位名称,上级编码,类型,别名\n"
GOOD = HEAD + ("SW,南京市水务局,,职能部门,水务局|市水务\n"
               "SW320102, 玄武区水务局 ,SW,职能部门,\n"
               "JD32010201,梅园新村街道,,属地,\n"
               "CG,南京市城市管理局,,职能部门,城管局\n"
               "CG320102,玄武区城管局,CG,职能部门,玄武区城管\n"
               "CG32010201,玄武区城管执法一中队,CG320102,职能部门,一中队\n")


@pytest.fixture
def city_dir(tmp_path):
    """A city model folder holding the demo's catalogue (what an import replaces, or must leave alone)."""
    d = tmp_path / "city"
    d.mkdir()
    shutil.copy(DEMO, d / "departments.csv")
    return d


def write(tmp_path, text: str, name: str = "city-list.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_a_good_list_round_trips(tmp_path, city_dir):
    src = write(tmp_path, "\ufeff" + GOOD)  # Excel's BOM
    text, n = import_departments(src, city_dir, COLS)
    assert n == 6 and (city_dir / "departments.csv").read_text(encoding="utf-8") == text
    cat = read_departments(city_dir / "departments.csv")
    t = cat.table.set_index("code")
    assert list(cat.table["code"]) == sorted(["SW", "SW320102", "JD32010201", "CG", "CG320102", "CG32010201"])
    assert t.loc["SW320102", "name"] == "玄武区水务局" and t.loc["CG32010201", "parent"] == "CG320102"
    assert t.loc["JD32010201", "kind"] == "territorial" and t.loc["CG", "kind"] == "functional"
    assert t.loc["CG32010201", "depth"] == 2 and cat.number_range("CG") == (1, 4)
    assert t.loc["SW", "aliases"] == "水务局|市水务"
    # what it wrote imports again to the same file (the catalogue's own columns)
    again = write(tmp_path, text, "again.csv")
    assert import_departments(again, city_dir, Columns(aliases="aliases"))[0] == text
    # the demo's catalogue round-trips too
    demo_text, n = import_departments(DEMO, city_dir, Columns(aliases="aliases"), dry_run=True)
    assert n == 66 and sorted(demo_text.splitlines()) == sorted(DEMO.read_text(encoding="utf-8").splitlines())
    assert list(tmp_path.glob("city/.departments-*")) == []


def test_one_kind_for_all_and_nested_codes(tmp_path, city_dir):
    """A list without a kind column takes --kind; a city numbering its units on their own gets <parent>.<code>
    with --nest-codes, its own code kept as an alias (a source writing it still finds the unit)."""
    src = write(tmp_path, "id,title,up\n100,市城管局,\n110,玄武区城管局,100\n111,一中队,110\n")
    with pytest.raises(ImportErrors) as e:
        import_departments(src, city_dir, Columns("id", "title", "up", None), kind="职能部门")
    assert f"{src}, line 3, column 'id': a sub-unit's code must start with its parent's ('100'), got '110'" \
        in str(e.value)
    text, _ = import_departments(src, city_dir, Columns("id", "title", "up", None), kind="职能部门", nest=True)
    t = read_departments(city_dir / "departments.csv").table.set_index("code")
    assert list(t.index) == ["100", "100.110", "100.110.111"] and (t["kind"] == "functional").all()
    assert t.loc["100.110.111", "parent"] == "100.110" and t.loc["100.110.111", "aliases"] == "111"
    numbers = read_departments(city_dir / "departments.csv").numbers
    import pandas as pd
    assert list(numbers(pd.Series(["110", "111", "一中队", "999"]))) == [2, 3, 3, 0]


BAD = [
    ("duplicate code", GOOD + "CG,重复的城管局,,职能部门,\n", "line 8, column '单位编码': duplicate code 'CG' (first on line 5)"),
    ("unknown parent", GOOD + "ZJ320102,玄武区住建局,ZJ,职能部门,\n", "line 8, column '上级编码': unknown parent 'ZJ'"),
    ("cycle", HEAD + "A,甲,AB,职能部门,\nAB,乙,A,职能部门,\n", "line 2, column '上级编码': the parents go round in a loop: A -> AB -> A"),
    ("own parent", HEAD + "A,甲,A,职能部门,\n", "line 2, column '上级编码': 'A' is its own parent"),
    ("unknown kind", GOOD + "GA,公安局,,部门,\n", "line 8, column '类型': unknown kind '部门'"),
    ("empty name", GOOD + "GA,  ,,职能部门,\n", "line 8, column '单位名称': empty name"),
    ("bad code", GOOD + "-GA,公安局,,职能部门,\n", "line 8, column '单位编码': code '-GA' must be"),
    ("prefix clash", GOOD + "CG2,城管二局,,职能部门,\n", "line 8, column '单位编码': code 'CG2' starts with 'CG' (line 5) "
                                                       "but is not under it"),
    ("missing column", "code,name,kind\nCG,城管局,职能部门\n", "line 1: no column '单位编码'"),
    ("ragged row", GOOD + "GA,公安局,,职能部门,,extra\n", "line 8: more fields than the header has"),
]


@pytest.mark.parametrize("case,text,error", BAD, ids=[b[0] for b in BAD])
def test_each_wrong_list_names_file_line_and_column_and_writes_nothing(tmp_path, city_dir, case, text, error):
    before = (city_dir / "departments.csv").read_bytes()
    src = write(tmp_path, text)
    with pytest.raises(ImportErrors) as e:
        import_departments(src, city_dir, COLS)
    assert f"{src}, {error}" in str(e.value), str(e.value)
    assert (city_dir / "departments.csv").read_bytes() == before
    assert sorted(p.name for p in city_dir.iterdir()) == ["departments.csv"]  # no temporary file left


def test_every_error_is_listed_at_once(tmp_path, city_dir):
    src = write(tmp_path, GOOD + "GA,,,部门,\n-X,某,,属地,\n")
    with pytest.raises(ImportErrors) as e:
        import_departments(src, city_dir, COLS)
    assert [m.split(": ")[0].split(", ", 1)[1] for m in e.value.errors] == \
        ["line 8, column '单位名称'", "line 8, column '类型'", "line 9, column '单位编码'"]


def test_the_command(tmp_path, city_dir, capsys):
    src = write(tmp_path, GOOD)
    before = (city_dir / "departments.csv").read_bytes()
    args = ["import", str(src), "--city-dir", str(city_dir), "--code-column", "单位编码", "--name-column", "单位名称",
            "--parent-column", "上级编码", "--kind-column", "类型", "--aliases-column", "别名"]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("code,name,parent,kind,aliases\nCG,南京市城市管理局,,职能部门,城管局\n")
    assert "6 departments; dry run" in out.err and (city_dir / "departments.csv").read_bytes() == before
    assert main(args) == 0 and "wrote" in capsys.readouterr().out
    assert (city_dir / "departments.csv").read_text(encoding="utf-8") == out.out
    bad = write(tmp_path, GOOD + "CG,重复,,职能部门,\n", "bad.csv")
    assert main(["import", str(bad), "--city-dir", str(city_dir), "--code-column", "单位编码", "--name-column",
                 "单位名称", "--parent-column", "上级编码", "--kind-column", "类型"]) == 1
    err = capsys.readouterr().err
    assert f"error: {bad}, line 8, column '单位编码': duplicate code 'CG'" in err and "nothing written" in err
    assert (city_dir / "departments.csv").read_text(encoding="utf-8") == out.out
    with pytest.raises(SystemExit) as e:
        main(["import", str(src), "--kind", "部门"])
    assert e.value.code == 2


def test_cockpit_resolves_the_file_against_the_callers_folder(tmp_path):
    """`cockpit.py departments import units.csv` typed in the city's folder: the product runs from its own folder,
    so the file (and --city-dir) are made absolute against where the command was typed."""
    import cockpit

    _, argv = cockpit.absolute_paths({}, ["departments", "import", "units.csv", "--city-dir", "model", "--dry-run"],
                                     tmp_path)
    assert argv == ["departments", "import", str(tmp_path / "units.csv"), "--city-dir", str(tmp_path / "model"),
                    "--dry-run"]
    assert cockpit.absolute_paths({}, ["departments", "import", "/abs/units.csv"], tmp_path)[1][2] == "/abs/units.csv"
