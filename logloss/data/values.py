"""Column values of an Arrow table as NumPy/Arrow arrays, checked (nulls, inf, non-integer
categories), and :class:`_Where`, which names a block's rows in those errors."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from .arrow import as_numpy, chunk_numpy, column_numpy, numpy_dtype
from .errors import DataError


@dataclass(frozen=True)
class _Where:
    """Names a block's rows in errors: file, first row, dropped rows, and the hint."""

    path: str
    file_row: Any  # int -> int: the file's row index of the block's row i
    hint: str = ""
    noun: str = "file"  # what path names: a "file", or a "DataFrame"
    inf_hint: str | None = None  # the hint of an inf, if not ``hint`` (it cannot be imputed)

    @property
    def place(self) -> str:
        return f"{self.noun} {self.path}"

    def fail(
        self, column: str, what: str, i: int, role: str = "feature", inf: bool = False
    ) -> None:
        hint = self.inf_hint if inf and self.inf_hint is not None else self.hint
        raise DataError(
            f"{what} in {role} column {column!r} at row {self.file_row(i)} of {self.place}{hint}"
        )


def _as_numeric_array(col: pa.ChunkedArray) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_decimal(t) or pa.types.is_boolean(t):
        col = col.cast(pa.float64())
    return col


#: The transforms a numeric column may take before imputation and scaling (``--log1p``).
TRANSFORMS = ("log1p",)


def numeric_values(
    table: pa.Table, name: str, where: _Where, missing: str, transform: str = ""
) -> tuple[np.ndarray, np.ndarray | None]:
    """A numeric column's values (float where nulls became NaN) and its missing mask (None
    when nothing is missing). A missing value is an error unless ``missing="impute"``;
    ±inf always is. ``transform`` "log1p": the values x become log(1 + x) (float64; a value
    of -1 or less is an error naming it)."""
    col = _as_numeric_array(table.column(name))
    mask: np.ndarray | None = None
    owned = pa.types.is_integer(col.type) and bool(col.null_count)
    counts = _integers_log1p(col) if transform == "log1p" else None
    if counts is not None:  # non-negative integers: log(1 + x) mostly from a table
        values, mask = counts
    elif owned:  # an integer column with nulls: no NaN nor inf to look for
        values, mask = _integers_with_nulls(col)
    else:
        values = column_numpy(col)
        if values.dtype.kind == "f":
            nan = np.isnan(values)
            inf = np.isinf(values)
            if inf.any():
                i = int(np.argmax(inf))
                fault = f"feature values must not be infinite; got {values[i]}"
                where.fail(name, fault, i, inf=True)
            mask = nan if nan.any() else None
    if mask is not None and missing != "impute":
        i = int(np.argmax(mask))
        shown = "null" if col.null_count and not col[i].is_valid else "nan"
        where.fail(name, f"feature values must be finite and non-null; got {shown}", i)
    if transform == "log1p" and counts is None:
        values = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            low = values <= -1.0
        if low.any():
            i = int(np.argmax(low))
            low_value = float(values[i])  # as the file holds it: -2 or -2.0, not np.float64(-2.0)
            low_shown = int(low_value) if pa.types.is_integer(col.type) else low_value
            where.fail(name, f"--log1p needs values above -1; got {low_shown}", i)
        values = np.log1p(values, out=values if owned else None)
    return values, mask


#: log(1 + x) of the integers 0 .. LOG1P_TABLE - 1, each NumPy's own ``np.log1p`` of it:
#: the counts of a ``--log1p`` column are mostly small integers, gathered from this table
#: (13 click-log count columns of 131 k rows: 9.1 ms, against 25.2 ms for their conversion
#: to float64 and ``np.log1p``); a larger value is computed.
LOG1P_TABLE = 1 << 16


@functools.cache
def _log1p_table() -> np.ndarray:
    table = np.log1p(np.arange(LOG1P_TABLE, dtype=np.float64))
    table.flags.writeable = False
    return table


def _integers_log1p(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray | None] | None:
    """log(1 + x) of an integer column's values (NaN at its nulls) and its nulls' mask
    (None without), equal to ``np.log1p`` of them: from the buffers, a value below
    :data:`LOG1P_TABLE` gathered from :func:`_log1p_table`. None for a column that is not
    of integers, or with a negative value (a null's undefined one too): the caller's path
    then names the fault."""
    if not pa.types.is_integer(col.type) or col.type == pa.uint64():
        return None
    table = _log1p_table()

    def log1p(raw: np.ndarray, out: np.ndarray) -> bool:
        if raw.dtype.kind == "i" and raw.min() < 0:
            return False
        np.take(table, raw, out=out, mode="clip")
        if raw.max() >= LOG1P_TABLE:
            big = np.flatnonzero(raw >= LOG1P_TABLE)
            out[big] = np.log1p(raw[big].astype(np.float64))
        return True

    return _from_integer_buffers(col, log1p)


def _integers_with_nulls(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """An integer column's values as float64, NaN at its nulls, and the nulls' mask: from
    the buffers, one pass each. pyarrow's conversion to NumPy with NaN, then a search for
    NaN and inf, had taken 11.4 ms for a click log's 13 count columns of 250 k rows, where
    this takes 7.8 ms."""

    def copy(raw: np.ndarray, out: np.ndarray) -> bool:
        out[:] = raw  # (undefined under a null: NaN after)
        return True

    found = _from_integer_buffers(col, copy)
    assert found is not None and found[1] is not None  # (a column with nulls)
    return found[0], found[1]


def _from_integer_buffers(
    col: pa.ChunkedArray, fill: Callable[[np.ndarray, np.ndarray], bool]
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """An integer column as float64 made chunk by chunk by ``fill(raw, out)`` from each
    chunk's data buffer (its own integer type; undefined under a null) into its rows of the
    result, NaN at the nulls, and the nulls' mask (None without); None once ``fill``
    refuses a chunk (returns False)."""
    values = np.empty(len(col), np.float64)
    mask = np.zeros(len(col), bool) if col.null_count else None
    at = 0
    for chunk in col.chunks:
        m = len(chunk)
        if m:
            dtype = numpy_dtype(chunk.type)
            size = dtype.itemsize
            raw = np.frombuffer(chunk.buffers()[1], dtype, count=m, offset=chunk.offset * size)
            if not fill(raw, values[at : at + m]):
                return None
        if mask is not None and chunk.null_count:
            mask[at : at + m] = ~chunk_numpy(chunk.is_valid())
        at += m
    if mask is not None:
        values[mask] = np.nan
    return values, mask


def categorical_values(table: pa.Table, name: str, where: _Where, missing: str) -> pa.Array:
    """A categorical column as one Arrow array of its level values (dictionaries decoded;
    integer-valued floats as int64); a null is an error unless ``missing="impute"``."""
    col = table.column(name)
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_large_string(t):
        col = col.cast(pa.string())
    elif pa.types.is_floating(t) or pa.types.is_decimal(t):
        # a decimal's values as float64 for the checks (Python Decimals otherwise); its
        # levels are cast from its own digits, exactly
        number = col.cast(pa.float64()) if pa.types.is_decimal(t) else col
        values = number.to_numpy() if not number.null_count else number.fill_null(0).to_numpy()
        frac = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
        if frac.size:
            i = int(frac[0])
            raise DataError(
                f"a categorical column must hold integers or strings; got {col[i].as_py()} in "
                f"column {name!r} at row {where.file_row(i)} of {where.place} "
                f"(a number: leave it out of --categorical, --hash-columns and --interactions "
                f"to use it as numeric)"
            )
        try:
            col = col.cast(pa.int64())
        except pa.ArrowInvalid:  # beyond int64, or a fraction float64 did not show
            i = int(np.argmax(np.abs(values) >= 2.0**53))
            raise DataError(
                f"categorical integers must fit int64; got {col[i].as_py()} in feature "
                f"column {name!r} at row {where.file_row(i)} of {where.place} (cast a "
                f"column of larger ids to string)"
            ) from None
    elif pa.types.is_integer(t):
        if t == pa.uint64():
            big = _first_above_int64(col)
            if big is not None:
                raise DataError(
                    f"categorical integers must fit int64; got {col[big].as_py()} in feature "
                    f"column {name!r} at row {where.file_row(big)} of {where.place} (cast a "
                    f"column of larger ids to string)"
                )
        col = col.cast(pa.int64())
    arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if arr.null_count and missing != "impute":
        i = int(np.argmax(~as_numpy(arr.is_valid())))
        where.fail(name, "feature values must be finite and non-null; got null", i)
    return arr


def _first_above_int64(col: pa.ChunkedArray) -> int | None:
    """The first row of a uint64 column whose value is above int64's largest, or None."""
    offset = 0
    for chunk in col.chunks:
        if len(chunk):
            raw = np.frombuffer(
                chunk.buffers()[1], np.uint64, count=len(chunk), offset=chunk.offset * 8
            )
            big = raw > np.iinfo(np.int64).max
            if chunk.null_count:
                big &= as_numpy(chunk.is_valid())
            if big.any():
                return offset + int(np.argmax(big))
        offset += len(chunk)
    return None


def log1p_columns(X: Any, columns: Sequence[int]) -> np.ndarray:
    """``X`` (2-D) as float64 with log(1 + x) taken of the columns at ``columns``: the
    ``--log1p`` step of :func:`logloss.export.to_sklearn`'s pipeline."""
    out = np.array(X, dtype=np.float64)
    out[:, list(columns)] = np.log1p(out[:, list(columns)])
    return out
