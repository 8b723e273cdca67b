"""What a read's rows need before they become a frame, done where the rows are read: in the SQLite bulk read's
child process, or the read's own thread for ADBC (pyarrow runs without the GIL), not in the ETL's one thread
after the read (etl/source/arrow_read.py). Imports only pyarrow: the child loads nothing else."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def prepare(table: pa.Table, times, objects) -> pa.Table:
    """`times` columns as timestamp[us]: a zone-less timestamp cast, ISO text parsed in one vectorised cast (a column
    with a value the cast cannot read is left as text, for read_frame's per-value parse); `objects` columns given
    as text dictionary-encoded (each distinct value once: read_frame makes each a Python string once)."""
    for name in times:
        i = table.schema.get_field_index(name)
        if i < 0:
            continue
        col = table.column(i)
        if pa.types.is_timestamp(col.type) and col.type.tz is None:
            col = col.cast(pa.timestamp("us"))
        elif is_text(col.type):
            try:
                col = pc.cast(col, pa.timestamp("us"))
            except pa.ArrowInvalid:
                continue
        else:
            continue
        table = table.set_column(i, name, col)
    for name in objects:
        i = table.schema.get_field_index(name)
        if i >= 0 and is_text(table.schema.field(i).type):
            table = table.set_column(i, name, pc.dictionary_encode(table.column(i).combine_chunks()))
    return table
