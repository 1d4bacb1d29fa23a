"""The rows of a text file on their way to its parquet copy (:mod:`ranker.io.formats`): a list column
exploded into (citing, cited) pairs, booleans as numbers, and a later block's types reconciled with
the first's (cast when no value changes, else the file read again with the wider types).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError, where
from .text_batches import Retry

#: The column of an exploded copy that holds each pair's row in the original file.
SOURCE_ROW = "__source_row"


def is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t)


def rows_of_pairs(table: pa.Table, path: str, explode: str, first_row: int) -> pa.Table:
    """Booleans as 0.0/1.0; the list column ``explode`` as one row per element, with each pair's row."""
    cols = {}
    for name, col in zip(table.column_names, table.columns):
        cols[name] = col.cast(pa.float64()) if pa.types.is_boolean(col.type) else col
    table = pa.table(cols)
    if not explode or explode not in table.column_names or not is_list(table.schema.field(explode).type):
        return table
    lists = table.column(explode).combine_chunks()
    flat = pc.list_flatten(lists)
    if flat.null_count:
        parents = pc.list_parent_indices(lists).to_numpy()
        i = int(parents[np.flatnonzero(flat.is_null().to_numpy(zero_copy_only=False))[0]])
        raise InputError(f"{where(path, explode, first_row + i)}: null id in the list")
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
    if lengths.all():
        parents = pc.list_parent_indices(lists).to_numpy().astype(np.int64)
    else:  # a record whose list is empty or null cites nothing, but is a paper: one row with no cited id
        # keeps it (ranker.io.id_numbering numbers it and drops the row), in the records' order
        slots = np.maximum(lengths, 1)
        parents = np.repeat(np.arange(lengths.size, dtype=np.int64), slots)
        empty = np.repeat(lengths == 0, slots)
        flat = flat.take(pa.array(np.cumsum(~empty) - 1, mask=empty))
    rows = pa.array(parents)
    out = {name: (flat if name == explode else table.column(name).take(rows)) for name in table.column_names}
    out[SOURCE_ROW] = pa.array(parents + first_row)
    return pa.table(out)


def cast_like(table: pa.Table, schema: pa.Schema, path: str, first_row: int) -> pa.Table:
    """A later batch whose inferred types differ from the first's: cast to them when no value
    changes, else read the file again with the wider types (:class:`ranker.io.text_batches.Retry`)."""
    extra = {name: table.schema.field(name).type for name in table.column_names if name not in schema.names}
    if extra:  # a field first seen here (JSON records with optional fields): read again with it from the start
        raise Retry(types={k: (pa.large_string() if pa.types.is_null(t) else t) for k, t in extra.items()})
    for name in schema.names:  # a field no record of this block has
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, schema.field(name).type))
    table = table.select(schema.names)
    widen = {}
    for field in schema:
        got = table.schema.field(field.name).type
        if got == field.type or pa.types.is_null(got):
            continue
        wide = wider(field.type, got)
        if wide != field.type:
            widen[field.name] = wide
    if widen:
        raise Retry(types=widen)
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"{path}: near data row {first_row} the columns change type "
                         f"({str(exc).splitlines()[0][:200]}); set the types consistently") from None


def wider(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """A type that holds the values of both ``a`` and ``b`` (columns inferred differently in two blocks)."""
    if pa.types.is_null(a):
        return b
    if pa.types.is_integer(a) and pa.types.is_integer(b):
        return pa.int64()
    numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
    if any(f(a) for f in numeric) and any(f(b) for f in numeric):
        return pa.float64()
    if pa.types.is_timestamp(a) and pa.types.is_timestamp(b):
        return pa.timestamp("ns")
    if (pa.types.is_list(a) or pa.types.is_large_list(a)) and (pa.types.is_list(b) or pa.types.is_large_list(b)):
        return pa.list_(wider(a.value_type, b.value_type))
    if pa.types.is_struct(a) or pa.types.is_struct(b) or is_list(a) or is_list(b):
        return a  # nested shapes are not widened: the cast names the problem
    return pa.large_string()
