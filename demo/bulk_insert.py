"""Insert a DataFrame into a table in large batches (the simulator's backfill writes millions of rows).

On SQLite the rows go straight to the driver's executemany, with times as the text SQLAlchemy stores
and reads back ("YYYY-MM-DD HH:MM:SS.ffffff"): per-row parameter processing in SQLAlchemy is most of
the cost otherwise. Other databases get a Core executemany (their drivers take datetimes as they are)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import FromClause, Table, insert
from sqlalchemy.engine import Connection

NONE = np.array(None, dtype=object)  # None as an array, for np.where (its hints take no bare None)


def _driver_rows(frame: pd.DataFrame) -> list[tuple]:
    columns = []
    for name in frame.columns:
        v = frame[name]
        if pd.api.types.is_datetime64_any_dtype(v):
            text = np.char.replace(np.datetime_as_string(v.to_numpy("datetime64[us]"), unit="us"), "T", " ")
            columns.append(np.where(v.isna().to_numpy(), NONE, text.astype(object)))
        else:
            o = v.astype(object).to_numpy()  # numpy scalars become Python ints/floats/str
            columns.append(np.where(pd.isna(o), NONE, o))
    return list(zip(*columns))


def insert_frame(conn: Connection, table: Table | FromClause, frame: pd.DataFrame, batch: int = 100_000) -> int:
    """Insert every row of `frame` (its columns named as the table's); missing values become NULL."""
    table = cast(Table, table)  # an ORM class's __table__ is a Table; SQLAlchemy types it FromClause
    if frame.empty:
        return 0
    if conn.dialect.name == "sqlite":
        rows = _driver_rows(frame)
        sql = f"INSERT INTO {table.name} ({', '.join(frame.columns)}) VALUES ({', '.join('?' * len(frame.columns))})"
        for i in range(0, len(rows), batch):
            conn.exec_driver_sql(sql, rows[i:i + batch])
        return len(rows)
    recs = cast(list[dict[str, Any]], frame.astype(object).where(frame.notna(), None).to_dict("records"))
    for i in range(0, len(recs), batch):
        conn.execute(insert(table), recs[i:i + batch])
    return len(recs)
