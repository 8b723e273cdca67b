"""Domestic databases (信创): the SQL the ETL generates compiles with the DM (达梦) dialect (dmSQLAlchemy,
PyPI) and with the PostgreSQL and MySQL dialects, for every example mapping: the incremental read by update
time, the first read of a history (two selects), the reads by id (open events, timelines), the open_set
read by increasing id, the flow log's read, and `source check`'s watermark sample (row_number()). This is
a compile check only: no DM server ran here (docs/connect-a-source.md says which databases did)."""

from __future__ import annotations

import importlib.util
import sys
import types
from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import mysql, postgresql

from config.settings import ROOT
from etl.source.mapped_read import EventSource, Page
from etl.source.mapping import load_mapping

NOW = datetime(2026, 11, 20, 15, 30)
MAPPINGS = [ROOT / "config" / "sources" / "demo.toml",
            *sorted((ROOT / "config" / "sources" / "examples").glob("*.toml"))]


def dm_dialect():
    """dmSQLAlchemy's DM dialect (its dmPython driver). Its package __init__ also imports its async dialect,
    which needs SQLAlchemy 2.0 internals that 2.1 removed (await_fallback); the sync dialect's modules load
    fine, so they are imported without running that __init__."""
    if "dmSQLAlchemy" not in sys.modules:
        spec = importlib.util.find_spec("dmSQLAlchemy")
        if spec is None:
            pytest.skip("dmSQLAlchemy is not installed (requirements-dev.txt)")
        pkg = types.ModuleType("dmSQLAlchemy")
        pkg.__path__, pkg.__spec__ = list(spec.submodule_search_locations or []), spec
        sys.modules["dmSQLAlchemy"] = pkg
    from dmSQLAlchemy import dmpython  # type: ignore[import-not-found]

    return dmpython.DMDialect_dmPython()


def generated(path, city) -> list:
    """Every select the ETL and `source check` make for this mapping."""
    from sqlalchemy import column, table, text

    mapping = load_mapping(path)
    src = EventSource(mapping, city)
    out = []
    since = src.query(NOW)[0] if mapping.spec.events.times.updated_at is not None else None
    if since is not None:
        out.append(since)
    first = src.query(None, datetime(2026, 7, 1), None, NOW)[0]
    out += first if isinstance(first, list) else [first]
    out.append(src.query(None, None, ["A1", "A2", "A3"])[0])
    wm = mapping.spec.events.watermark
    if wm.column:
        src.last_id = 10
        out.append(src.query(NOW)[0])
    if src.steps is not None:
        out.append(src.steps.select(since=NOW))
        out.append(src.steps.select(event_ids=["A1"]))
        out += [src.steps.select(page=page) for page in (Page(25_000), Page(25_000, "A9"), Page(25_000, "A9", "<"),
                                                         Page(None, "A9", "="), Page(None, missing=True))]
    feed, spec = mapping.spec.events, mapping.spec.events.times.reported_at
    col = str(spec.column)
    t = (table(feed.table.rpartition(".")[2], column(col), schema=feed.table.rpartition(".")[0] or None)
         if feed.table else text(str(feed.select)).columns(column(col)).subquery("src"))
    c = t.c[col]
    ranked = select(c.label("v"), func.row_number().over(order_by=c).label("rn")).where(c.is_not(None)).subquery()
    out.append(select(ranked.c.v).where((ranked.c.rn - 1) % 7 == 0).order_by(ranked.c.rn))
    out.append(select(func.count()).select_from(out[0].subquery()))
    return out


@pytest.mark.parametrize("path", MAPPINGS, ids=[p.stem for p in MAPPINGS])
@pytest.mark.parametrize("dialect", ["dm", "postgresql", "mysql"])
def test_etl_sql_compiles(path, dialect, city):
    d = dm_dialect() if dialect == "dm" else postgresql.psycopg.dialect() if dialect == "postgresql" \
        else mysql.pymysql.dialect()
    assert d.name == dialect
    queries = generated(path, city)
    assert len(queries) >= 5
    for q in queries:
        sql = str(q.compile(dialect=d))  # bound parameters: how the pandas path sends it (DM, MySQL)
        assert sql.lstrip().upper().startswith(("SELECT", "WITH", "(SELECT")), sql[:200]
        if dialect == "postgresql":  # the ADBC path renders the values into the text
            literal = str(q.compile(dialect=d, compile_kwargs={"literal_binds": True}))
            assert "%(" not in literal and "$1" not in literal
    joined = " ".join(str(q.compile(dialect=d)) for q in queries)
    assert "row_number() OVER" in joined or "ROW_NUMBER() OVER" in joined.upper()
