"""`source check` samples the watermark column in the database's order and fails, naming the mapping file
and key, when that is not the order of its times (issue 23): US 12-hour text 'MM/DD/YYYY hh:mm:ss AM'
sorts by month first and puts 12:xx PM before 01:xx AM. The same times as ISO text pass."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from helpers import NOW
from sqlalchemy import create_engine, text

from etl.source import check

US = "%m/%d/%Y %I:%M:%S %p"
ISO = "%Y-%m-%d %H:%M:%S"

MAPPING = """name = "orders"
[events]
table = "orders"
[events.fields]
event_id = "id"
category = {{ const = "城市管理" }}
status = {{ column = "state", map = {{ "open" = "reported", "closed" = "closed" }} }}
[events.times]
reported_at = {{ column = "opened", format = "{fmt}" }}
updated_at = {{ column = "changed", format = "{fmt}" }}
[events.grid]
lon = "x"
lat = "y"
datum = "WGS84"
[events.deadline]
default_hours = 72
"""


def build(path, fmt: str, n: int = 11000):  # > ORDER_SAMPLE: every k-th value by row_number()
    rnd = random.Random(1)
    eng = create_engine(f"sqlite:///{path}")
    with eng.begin() as c:
        c.execute(text("CREATE TABLE orders (id TEXT, state TEXT, opened TEXT, changed TEXT, x REAL, y REAL)"))
        rows = []
        for i in range(n):
            t = NOW - timedelta(minutes=rnd.randint(1, 400 * 24 * 60))  # over a year: two years' January
            rows.append({"id": f"W{i}", "s": rnd.choice(["open", "closed"]), "o": t.strftime(fmt),
                         "c": (t + timedelta(minutes=5)).strftime(fmt)})
        c.execute(text("INSERT INTO orders VALUES (:id, :s, :o, :c, 118.79, 32.06)"), rows)
    eng.dispose()


@pytest.mark.parametrize("fmt, ok", [(US, False), (ISO, True)])
def test_source_check_fails_on_a_watermark_that_does_not_sort_like_time(tmp_path, capsys, fmt, ok):
    build(tmp_path / "orders.db", fmt)
    mapping = tmp_path / "orders.toml"
    mapping.write_text(MAPPING.format(fmt=fmt.replace("%", "%")), encoding="utf-8")
    code = check.main(["check", "--no-progress", "--json", "--mapping", str(mapping),
                       "--source-url", f"sqlite:///{tmp_path / 'orders.db'}"])
    err = capsys.readouterr().err
    if ok:
        assert code == 0, err
        return
    assert code == 2
    assert str(mapping) in err and "'events.times.updated_at'" in err and "does not sort like time" in err, err
    assert "'changed'" in err
