"""Named numpy arrays <-> bytes: how features travel between Ray stages and into tar samples;
and feature rows of arrays -> Arrow tables, for the feature parts."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa


def pack(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def unpack(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def npy_bytes(array: np.ndarray) -> bytes:
    """One array in .npy format, the WebDataset convention for array members."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def rows_to_table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Feature rows (extractors' `to_row`) as a table of `schema`. A list column whose values
    are numpy arrays of its nesting depth is built from one concatenation and its offsets,
    not element by element through Python floats (a 768-d frame stream is millions of them);
    the Arrow data, hence the Parquet bytes, are the same as `pa.Table.from_pylist`'s."""
    return pa.Table.from_arrays(
        [_column([row.get(f.name) for row in rows], f.type) for f in schema], schema=schema)


def _levels(type_: pa.DataType) -> list[pa.DataType]:
    """The type at each nesting level, outermost first, down to the leaf's."""
    types = [type_]
    while pa.types.is_list(types[-1]):
        types.append(types[-1].value_type)
    return types


def _column(values: list[Any], type_: pa.DataType) -> pa.Array:
    types = _levels(type_)
    depth, leaf = len(types) - 1, types[-1]
    given = [v for v in values if v is not None]
    if not (depth and given and (pa.types.is_floating(leaf) or pa.types.is_integer(leaf))
            and all(isinstance(v, np.ndarray) and v.ndim == depth for v in given)):
        return pa.array(values, type_)
    # one offsets array per level, outermost first; a null row is an empty slot, masked
    levels: list[list[int]] = [[] for _ in range(depth)]
    for v in values:
        shape = (0,) * depth if v is None else v.shape
        levels[0].append(shape[0])
        for d in range(1, depth):  # each of the level-above's items has shape[d] items
            levels[d].extend([shape[d]] * int(np.prod(shape[:d])))
    flat = np.concatenate([v.reshape(-1) for v in given])
    arr: pa.Array = pa.array(flat.astype(leaf.to_pandas_dtype(), copy=False), leaf)
    for d in reversed(range(depth)):
        offsets = pa.array(np.concatenate([[0], np.cumsum(levels[d])]), pa.int32())
        arr = pa.ListArray.from_arrays(
            offsets, arr, type=types[d],
            mask=pa.array([v is None for v in values]) if d == 0 else None)
    return arr
