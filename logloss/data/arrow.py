"""Arrow columns to NumPy, and the one loop that writes a block's row-major X.

pyarrow and NumPy only. :func:`column_numpy` reads fixed-width numeric chunks as views of
their buffers (pyarrow's own ``to_numpy`` imports pandas, a fifth of a second at a command's
start); :func:`fill_tiles` writes every source column of a tile of rows while the tile is in
cache (one column at a time over a whole block would touch every cache line of X once per
column). Plain numeric blocks (:mod:`.blocks`) and encoded ones (:mod:`.encoding`) share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["TILE_ROWS", "Source", "chunk_numpy", "column_numpy", "fill_tiles"]

#: Rows of X written at a time by :func:`fill_tiles`.
TILE_ROWS = 4096

#: (what, first column of X, values): "value" copies a column (an array, or a scalar for
#: every row), "flag" a 0/1 mask, "code" sets X[i, first + code[i]] = 1 where code[i] >= 0.
Source = tuple[str, int, Any]


def column_numpy(col: pa.ChunkedArray) -> np.ndarray:
    """A column as one NumPy array: zero-copy for a single numeric chunk without nulls;
    nulls become NaN (pyarrow's conversion, floats for integer columns)."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    chunks = col.chunks
    if len(chunks) == 1:
        return chunk_numpy(chunks[0])
    if not chunks:
        return chunk_numpy(pa.array([], type=col.type))
    return np.concatenate([chunk_numpy(c) for c in chunks])


# Arrow's fixed-width numeric types, read as a NumPy view of the values buffer.
_PRIMITIVE = {
    pa.float64(): np.float64,
    pa.float32(): np.float32,
    pa.int64(): np.int64,
    pa.int32(): np.int32,
    pa.int16(): np.int16,
    pa.int8(): np.int8,
    pa.uint64(): np.uint64,
    pa.uint32(): np.uint32,
    pa.uint16(): np.uint16,
    pa.uint8(): np.uint8,
}


def chunk_numpy(a: pa.Array) -> np.ndarray:
    dtype = _PRIMITIVE.get(a.type)
    if dtype is None or a.null_count:
        return a.to_numpy(zero_copy_only=False)
    if len(a) == 0:
        return np.empty(0, dtype=dtype)
    size = np.dtype(dtype).itemsize
    return np.frombuffer(a.buffers()[1], dtype=dtype, count=len(a), offset=a.offset * size)


def fill_tiles(
    X: np.ndarray,
    sources: Sequence[Source],
    *,
    check_finite: bool = False,
    columns: Sequence[int] | None = None,
) -> bool:
    """Write ``sources`` into ``X`` a tile of :data:`TILE_ROWS` rows at a time; with
    ``check_finite``, also whether every value written is finite (checked in cache): in the
    whole tile, or in its ``columns`` only (when the sources fill only those)."""
    finite = True
    cols = None if columns is None else np.asarray(columns, dtype=np.intp)
    with np.errstate(over="ignore", invalid="ignore"):
        for r in range(0, X.shape[0], TILE_ROWS):
            tile = X[r : r + TILE_ROWS]
            for what, j, src in sources:
                part: Any = src if np.isscalar(src) else src[r : r + TILE_ROWS]
                if what == "code":
                    rows = np.flatnonzero(part >= 0)
                    tile[rows, j + part[rows]] = 1.0
                else:
                    tile[:, j] = part
            if check_finite:
                checked = tile if cols is None else tile[:, cols]
                finite = finite and bool(np.isfinite(checked).all())
    return finite
