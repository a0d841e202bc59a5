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

__all__ = [
    "TILE_ROWS",
    "Source",
    "as_numpy",
    "chunk_numpy",
    "column_numpy",
    "fill_tiles",
    "from_numpy",
    "int_values",
    "numpy_dtype",
    "prefixed",
    "string_array",
]

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
        return chunk_numpy(pa.nulls(0, col.type))
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


def as_numpy(a: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow array or column as NumPy (:func:`chunk_numpy`, :func:`column_numpy`): what
    ``to_numpy(zero_copy_only=False)`` gives, without the pandas import of its first call."""
    return column_numpy(a) if isinstance(a, pa.ChunkedArray) else chunk_numpy(a)


def int_values(arr: pa.Array, fill: int) -> np.ndarray:
    """An integer array's values as int64, ``fill`` at its nulls (whose values are
    undefined; a dictionary chunk's nulls are those of its ``indices``): read from the
    buffer, without ``pc.fill_null``'s scalar (``pa.scalar``, like ``pa.array``, imports
    pandas on its first call)."""
    if len(arr) == 0:
        return np.zeros(0, np.int64)
    dtype = numpy_dtype(arr.type)
    raw = np.frombuffer(arr.buffers()[1], dtype, count=len(arr), offset=arr.offset * dtype.itemsize)
    out = raw.astype(np.int64)
    if arr.null_count:
        out[~chunk_numpy(arr.is_valid())] = fill
    return out


def numpy_dtype(t: pa.DataType) -> np.dtype[Any]:
    """The NumPy dtype of an Arrow numeric or boolean type (``to_pandas_dtype`` imports
    pandas); object for any other type."""
    if pa.types.is_boolean(t):
        return np.dtype(np.bool_)
    found = _PRIMITIVE.get(t)
    if found is None and pa.types.is_float16(t):
        found = np.float16
    return np.dtype(found if found is not None else object)


def from_numpy(a: np.ndarray) -> pa.Array:
    """A 1-D NumPy array of a numeric or boolean dtype as an Arrow array over its memory
    (booleans packed to bits), without ``pa.array``, whose first call imports pandas."""
    a = np.ascontiguousarray(a)
    if a.dtype == np.bool_:
        bits = np.packbits(a, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(a), [None, pa.py_buffer(bits)])
    return pa.Array.from_buffers(pa.from_numpy_dtype(a.dtype), len(a), [None, pa.py_buffer(a)])


def chunk_numpy(a: pa.Array) -> np.ndarray:
    """One chunk as NumPy: a view of a fixed-width numeric chunk's values without nulls,
    booleans without nulls unpacked from their bits, else pyarrow's conversion."""
    if pa.types.is_boolean(a.type) and not a.null_count:
        bits = np.frombuffer(a.buffers()[1], np.uint8) if len(a) else np.zeros(0, np.uint8)
        first = a.offset % 8
        raw = bits[a.offset // 8 : (a.offset + len(a) + 7) // 8 + 1]
        return np.unpackbits(raw, bitorder="little")[first : first + len(a)].view(np.bool_)
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


def string_array(strings: Sequence[str]) -> pa.Array:
    """Python strings as an Arrow ``large_string`` array, built from their UTF-8 bytes
    (``pa.array`` imports pandas on its first call)."""
    encoded = [v.encode("utf-8") for v in strings]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, encoded), np.int64, len(encoded)), out=offsets[1:])
    data = pa.py_buffer(b"".join(encoded))
    return pa.Array.from_buffers(
        pa.large_string(), len(encoded), [None, pa.py_buffer(offsets), data]
    )


def prefixed(prefix: str, strings: pa.Array) -> pa.Array:
    """``prefix`` + each entry of a string array without nulls, as ``large_string``: the
    bytes laid out in NumPy (``pc.binary_join_element_wise`` needs a ``pa.scalar``, which
    imports pandas on its first call)."""
    if not pa.types.is_large_string(strings.type):
        strings = strings.cast(pa.large_string())
    n = len(strings)
    head = np.frombuffer(prefix.encode("utf-8"), np.uint8)
    if not n:
        return pa.nulls(0, pa.large_string())
    offsets = np.frombuffer(strings.buffers()[1], np.int64)[strings.offset : strings.offset + n + 1]
    buf = strings.buffers()[2]
    data = np.frombuffer(buf, np.uint8) if buf is not None else np.zeros(0, np.uint8)
    starts = np.zeros(n + 1, np.int64)
    np.cumsum(np.diff(offsets) + len(head), out=starts[1:])
    out = np.empty(int(starts[-1]), np.uint8)
    at = (starts[:-1, None] + np.arange(len(head))).ravel()
    out[at] = np.tile(head, n)
    rest = np.ones(len(out), bool)
    rest[at] = False
    out[rest] = data[offsets[0] : offsets[-1]]
    return pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(starts), pa.py_buffer(out)]
    )
