"""Every user-facing text is in config/labels.py: no string literal in the product's code (the packages in
PACKAGES) holds CJK text except what is data (allow-listed below with the reason), every label has a
Chinese and an English text, and every label key the code asks for exists."""

from __future__ import annotations

import ast
import re
import string
import tokenize
from pathlib import Path

import pandas as pd
import pytest

from config import labels
from config.labels import LABELS, label
from config.settings import ROOT
from contract import domain
from etl.source import validate

PACKAGES = ("config", "contract", "snapshots", "etl", "queries", "dashboard", "components", "layouts", "briefing")
# CJK ideographs (with extension A and compatibility forms), CJK punctuation (、。「」), full-width forms (，：（）＝)
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]+")


def _runs(texts) -> set[str]:
    return {run for t in texts for run in CJK.findall(t)}


# path -> (why its CJK literals are not user-facing text, the CJK runs allowed there; None: any)
ALLOWED: dict[str, tuple[str, set[str] | None]] = {
    "config/labels.py": ("the labels table itself", None),
    "config/city.py": ("reads the city model, whose names are data (区/街道/社区/网格 as the files have them)", None),
    "contract/domain.py": ("the source systems' vocabulary: category, channel and camera-tag values as the source "
                           "writes them; screens show them as data",
                           _runs((*domain.CATEGORIES, *domain.CHANNELS, *domain.CAMERA_TAGS))),
    "etl/source/validate.py": ("bilingual descriptions of the quarantine reason keys for engineers; only the keys "
                               "are stored and counted in /health", _runs(validate.REASONS.values())),
    "contract/metrics.py": ("metric definitions for engineers, English with the Chinese term; no screen shows them",
                            {"当日清零", "小事不出网格", "处置中", "超期", "应结案", "缓办", "延期", "挂账"}),
    "contract/frames.py": ("frame declarations' doc, English with the Chinese term; no screen shows them",
                           {"将超期", "条", "未归属"}),
    "config/settings.py": ("operators' help texts (the README settings table), English with the Chinese term",
                           {"五个一", "当日清零", "日报", "部门榜", "结案率", "按期结案率", "返工率", "延期率"}),
    "config/departments.py": ("the department catalogue's kinds as a city's CSV writes them (data)", {"职能部门", "属地"}),
}


def product_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _statements(path: Path):
    """The file's logical lines as lists of tokens (comments and blank-line tokens left out)."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER}
    line = []
    with path.open("rb") as f:
        for tok in tokenize.tokenize(f.readline):
            if tok.type == tokenize.NEWLINE:
                yield line
                line = []
            elif tok.type not in skip:
                line.append(tok)
    if line:
        yield line


def cjk_literals(path: Path) -> list[tuple[int, str]]:
    """(line, literal) of every string literal holding CJK text, docstrings and bare string statements
    (documentation) aside. f-strings are one STRING token before Python 3.12, FSTRING_MIDDLE parts after."""
    kinds = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    found = []
    for stmt in _statements(path):
        if all(t.type == tokenize.STRING for t in stmt):
            continue  # a docstring
        found += [(t.start[0], t.string) for t in stmt if t.type in kinds and CJK.search(t.string)]
    return found


def test_the_scan_finds_a_cjk_literal_and_skips_docstrings(tmp_path):
    f = tmp_path / "m.py"
    f.write_text('"""模块说明."""\n\n\ndef f(n):\n    """函数说明."""\n    x = "ok"  # 注释\n'
                 '    return f"{n} 件" + x + "，"\n', encoding="utf-8")
    assert [line for line, _ in cjk_literals(f)] == [7, 7]  # the f-string and "，", not docs or comments


def test_no_cjk_literal_outside_the_labels_and_data():
    bad = []
    for path in product_files():
        rel = path.relative_to(ROOT).as_posix()
        _, allowed = ALLOWED.get(rel, ("", set()))
        if allowed is None:
            continue
        bad += [f"{rel}:{line}: {text[:60]}" for line, text in cjk_literals(path)
                if not set(CJK.findall(text)) <= allowed]
    assert not bad, "CJK text outside config/labels.py (move it into LABELS with an English text):\n" + "\n".join(bad)


def test_allow_list_names_existing_files_with_a_reason():
    for rel, (reason, _) in ALLOWED.items():
        assert (ROOT / rel).is_file() and len(reason) > 20, rel


@pytest.mark.parametrize("key", sorted(LABELS))
def test_every_label_has_chinese_and_english(key):
    row = LABELS[key]
    assert isinstance(row, tuple) and len(row) == len(labels.LANGUAGES), f"{key}: want (zh, en), got {row!r}"
    zh, en = row
    assert zh.strip() and en.strip(), key
    assert not CJK.search(en), f"{key}: English text holds CJK: {en!r}"
    fields = [{f for _, f, _, _ in string.Formatter().parse(t) if f} for t in row]
    assert fields[0] == fields[1], f"{key}: zh and en fill different fields {fields}"


def _label_calls(path: Path):
    """(line, key, exact) of each label(...) call: exact for a literal key, a prefix for an f-string key."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        # label(...) or labels.label(...); not SQLAlchemy's column.label("v")
        if not (isinstance(node, ast.Call) and node.args and
                (getattr(node.func, "id", None) == "label" or (getattr(node.func, "attr", None) == "label"
                                                               and getattr(node.func.value, "id", None) == "labels"))):
            continue
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            yield node.lineno, arg.value, True
        elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
            yield node.lineno, arg.values[0].value, False
        elif isinstance(arg, ast.BinOp) and isinstance(arg.left, ast.Constant) and isinstance(arg.left.value, str):
            yield node.lineno, arg.left.value, False  # label("role_" + role)


def test_every_label_key_used_in_code_exists():
    missing, calls = [], 0
    for path in product_files():
        for line, key, exact in _label_calls(path):
            calls += 1
            if (key not in LABELS) if exact else not any(k.startswith(key) for k in LABELS):
                missing.append(f"{path.relative_to(ROOT)}:{line}: label({key!r}{'' if exact else '…'})")
    assert calls > 100
    assert not missing, "label keys not in config/labels.py:\n" + "\n".join(missing)


@pytest.mark.parametrize("prefix,values", [
    ("stage_", domain.STEP_ACTIONS), ("level_", ("city", "district", "street", "community", "grid")),
    ("alert_", ("overdue", "spike", "camera")), ("alert_text_", ("overdue", "spike", "camera")),
    ("safety_", domain.SAFETY_COMPONENTS), ("window_", ("today", "7d", "30d", "quarter", "custom", "week", "month")),
])
def test_keys_built_from_data_exist(prefix, values):
    """Keys the code builds from a value (label(f"stage_{action}")) exist for every value."""
    assert [v for v in values if prefix + v not in LABELS] == []


def test_label_follows_the_language_and_fills_fields():
    try:
        assert label("signin") == "登录"
        assert label("alert_text_camera", value=0.9123, threshold=0.92) == "摄像头在线率 91.2%"
        labels.set_language("en")
        assert label("signin") == "Sign in" and labels.language() == "en"
        assert label("rank_of", rank=2, of=11) == "2 of 11"
        assert label("no_such_key") == "no_such_key"  # visible, not fatal; the tests above make it fail
        with pytest.raises(ValueError, match="fr"):
            labels.set_language("fr")
    finally:
        labels.set_language("zh")


def test_alert_sentences_come_from_kind_value_and_threshold():
    """The screens write an alert's sentence themselves, so it follows their language; the ETL fills the
    frame's `text` with the same label."""
    from components.format import alert_text
    from etl.transforms.alerts import AlertThresholds, camera_alerts

    spike = {"kind": "spike", "value": 12.0, "threshold": 6.3}
    try:
        assert alert_text(spike) == "今日事件 12 件，预警线 6.3"
        devices = pd.DataFrame({"code": ["320102"], "cameras": [100], "camera_online_rate": [0.874]})
        row = camera_alerts(devices, pd.Series({"320102": "玄武区"}), None, AlertThresholds()).iloc[0]
        assert row["text"] == alert_text(row) == "摄像头在线率 87.4%"
        labels.set_language("en")
        assert alert_text(spike) == "12 events today, alert line 6.3"
        assert alert_text({"kind": "overdue", "value": 41.0, "threshold": 40.0}) == "41 overdue events"
    finally:
        labels.set_language("zh")
