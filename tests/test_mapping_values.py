"""Mapping values (issue 23): a `map` target may be "no value" (null in YAML, "" in TOML, which has no
null), e.g. UNASSIGNED -> no handling level, without a SQL CASE; a refused map value is printed quoted,
so an empty or blank one is seen."""

from __future__ import annotations

import pandas as pd
import pytest

from config.settings import ROOT
from etl.source.mapped_values import Problems, mapped
from etl.source.mapping import MappingError, load_mapping

HOTLINE = ROOT / "config" / "sources" / "examples" / "hotline.toml"
LEVELS = '"区" = "district" }'


def hotline_with(tmp_path, old: str, new: str, name: str = "m.toml"):
    path = tmp_path / name
    text = HOTLINE.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_a_value_mapped_to_empty_is_no_value_not_unmapped(tmp_path):
    spec = load_mapping(hotline_with(tmp_path, LEVELS, '"区" = "district", "UNASSIGNED" = "" }')).spec
    level = spec.events.fields.handling_level
    frame = pd.DataFrame({"DEAL_LEVEL": ["网格", "UNASSIGNED", "区", "外星", None]})
    p = Problems(frame.index)
    out = mapped(frame, level, "handling_level", p)
    assert out.tolist() == ["grid", None, "district", None, None]
    assert p.reason.isna().tolist() == [True, True, True, False, True] and p.reason[3] == "unmapped_value"
    assert p.detail[3] == "unmapped handling_level '外星'"


def test_yaml_null_is_no_value(tmp_path):
    import tomllib

    import yaml

    data = tomllib.loads(HOTLINE.read_text(encoding="utf-8"))
    data["events"]["fields"]["handling_level"]["map"]["UNASSIGNED"] = None
    data["events"]["fields"]["category"] = {"column": "QUESTION_CLASS", "keep_unmapped": True,
                                            "map": {"其他": None}}
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    f = load_mapping(path).spec.events.fields
    frame = pd.DataFrame({"DEAL_LEVEL": ["UNASSIGNED", "社区"], "QUESTION_CLASS": ["其他", "供水"]})
    p = Problems(frame.index)
    assert mapped(frame, f.handling_level, "handling_level", p).tolist() == [None, "community"]
    assert mapped(frame, f.category, "category", p).tolist() == [None, "供水"]
    assert p.reason.isna().all()


@pytest.mark.parametrize("old, new, shown", [
    (LEVELS, '"区" = "district", "X" = "  " }', "got '  '"),  # a blank level: seen between quotes
    (LEVELS, '"区" = "district", "X" = "checked" }', "got 'checked'"),
    ('"5" = "closed" }', '"5" = "closed", "9" = "" }', "got ''"),  # every event has a stage: no "no value"
])
def test_a_refused_map_value_is_printed_quoted(tmp_path, old, new, shown):
    path = hotline_with(tmp_path, old, new)
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    assert shown in str(err.value) and str(path) in str(err.value), str(err.value)
