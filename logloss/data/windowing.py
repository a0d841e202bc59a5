"""A training window (:class:`logloss.windows.Window`) applied to files and row groups, on
the client, before any data is read.

- By partition: files whose ``date=YYYY-MM-DD`` directory is outside the window are dropped
  by their path (:func:`select_files`): never opened, not even their footers.
- By a timestamp column: each row group's min/max statistics (from the footer) decide
  (:func:`row_groups`): wholly outside, never read; wholly inside, read whole; straddling the
  window (or without statistics), read whole and its rows outside filtered by a keep mask
  (:func:`filter_rows` reads only the time column of those row groups).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa
from fsspec.spec import AbstractFileSystem

from ..windows import Window
from .blocks import _read_table
from .discovery import _File, _open_parquet, _read_errors
from .errors import DataError
from .footers import _Footer
from .spec import BlockSpec

__all__ = [
    "RowGroups",
    "check_blocks",
    "empty_window",
    "filter_rows",
    "only",
    "partitions_of",
    "row_groups",
    "select_files",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_PER_UNIT = {"s": 1_000_000, "ms": 1000, "us": 1, "ns": 0.001}


def _day(file: _File, key: str) -> date:
    value = dict(file.partition).get(key)
    if value is None:
        raise DataError(
            f"file {file.path} is in no {key}=YYYY-MM-DD partition: a window needs one for "
            f"every file (or a timestamp column, --time-column)"
        )
    try:
        return date.fromisoformat(value[:10] if len(value) > 10 else value)
    except ValueError:
        raise DataError(
            f"partition {key}={value!r} of file {file.path} is not a date (YYYY-MM-DD)"
        ) from None


def select_files(files: list[_File], window: Window | None, shown: str) -> list[_File]:
    """The files of partitions in the window (by their paths only); DataError naming the
    window and the partitions there are when none is. All of them without a window by
    partition."""
    if window is None or window.column is not None:
        return files
    days = {f: _day(f, window.key) for f in files}
    kept = [f for f in files if window.holds_day(days[f])]
    if not kept:
        found = sorted(set(days.values()))
        there = f"its partitions run from {found[0]} to {found[-1]}" if found else "no files"
        raise DataError(f"the {window.describe()} selects no data of {shown}: {there}")
    return kept


def partitions_of(files: list[_File], window: Window) -> list[str]:
    """The partition values (days) of ``files``, sorted, for a version's record."""
    if window.column is not None:
        return []
    return sorted({_day(f, window.key).isoformat() for f in files})


def _us(value: Any, unit: str) -> int:
    """A statistic or a bound as microseconds since 1970 (UTC)."""
    if isinstance(value, datetime):
        t = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return (t - _EPOCH) // np.timedelta64(1, "us").item()
    if isinstance(value, date):
        return _us(datetime(value.year, value.month, value.day), unit)
    if unit == "D":  # an older pyarrow's raw statistics: days, or the time unit's ticks
        return int(value) * 86_400_000_000
    return int(int(value) * _PER_UNIT[unit])


def _unit(field: pa.Field, path: str) -> str:
    t = field.type
    if pa.types.is_timestamp(t):
        return str(t.unit)
    if pa.types.is_date(t):
        return "D"
    raise DataError(f"time column {field.name!r} of file {path} is {t}, not a timestamp or a date")


def _column_index(meta: Any, name: str) -> int | None:
    for j in range(meta.num_columns):
        if meta.schema.column(j).path == name:
            return j
    return None


@dataclass(frozen=True)
class RowGroups:
    """Per file: the row groups in the window (``keep``) and, among them, those whose rows
    must be filtered (``straddle``); ``seen``: the time column's range over all files."""

    keep: Mapping[str, tuple[int, ...]]
    straddle: Mapping[str, frozenset[int]]
    seen: tuple[int, int] | None = None


def _decide(meta: Any, j: int | None, unit: str, lo: int, hi: int) -> tuple[list, set, list]:
    keep, straddle, seen = [], set(), []
    for i in range(meta.num_row_groups):
        if meta.row_group(i).num_rows == 0:
            continue
        st = meta.row_group(i).column(j).statistics if j is not None else None
        if st is None or not st.has_min_max:
            keep.append(i)
            straddle.add(i)
            continue
        a, b = _us(st.min, unit), _us(st.max, unit)
        seen += [a, b]
        if b < lo or a >= hi:
            continue  # wholly outside: never read
        keep.append(i)
        if a < lo or b >= hi or st.null_count:
            straddle.add(i)
    return keep, straddle, seen


def only(groups: RowGroups | None) -> Mapping[str, tuple[int, ...]] | None:
    """The row groups to read per file (None: all of them)."""
    return None if groups is None else groups.keep


def row_groups(
    fs: AbstractFileSystem, footers: list[_Footer], window: Window | None
) -> RowGroups | None:
    """The row groups of the window's time column in it, from the footers' statistics (None
    without a window over a time column)."""
    if window is None or window.column is None:
        return None
    lo, hi = _us(window.start, "us"), _us(window.end, "us")
    keep: dict[str, tuple[int, ...]] = {}
    straddle: dict[str, frozenset[int]] = {}
    seen: list[int] = []
    for footer in footers:
        path = footer.file.path
        if window.column not in footer.schema.names:
            raise DataError(f"time column {window.column!r} not found in file {path}")
        unit = _unit(footer.schema.field(window.column), path)
        try:
            with _open_parquet(fs, path) as pf:
                meta = pf.metadata
        except _read_errors(fs) as exc:
            raise DataError(f"cannot read file {path} as Parquet: {exc}") from None
        groups, cut, found = _decide(meta, _column_index(meta, window.column), unit, lo, hi)
        keep[path], straddle[path] = tuple(groups), frozenset(cut)
        seen += found
    return RowGroups(keep, straddle, (min(seen), max(seen)) if seen else None)


def _stamp(us: int) -> str:
    t = _EPOCH + np.timedelta64(us, "us").item()
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def check_blocks(
    blocks: list[BlockSpec], window: Window | None, groups: RowGroups | None, shown: str
) -> None:
    """DataError (:func:`empty_window`) when a window leaves no block."""
    if window is not None and not blocks:
        raise empty_window(window, shown, groups)


def empty_window(window: Window, shown: str, groups: RowGroups | None = None) -> DataError:
    """The one line of a window that selects no rows of ``shown``."""
    there = ""
    if groups is not None and groups.seen is not None:
        a, b = groups.seen
        there = f": its {window.column!r} values run from {_stamp(a)} to {_stamp(b)}"
    return DataError(f"the {window.describe()} selects no rows of {shown}{there}")


def _in_window(values: pa.ChunkedArray, window: Window) -> np.ndarray:
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_date(arr.type):
        arr = arr.cast(pa.date32())
        stamps = arr.to_numpy(zero_copy_only=False).astype("datetime64[us]")
    else:
        if arr.type.tz is not None:
            arr = arr.cast(pa.timestamp(arr.type.unit))  # the UTC values, without the zone
        stamps = arr.to_numpy(zero_copy_only=False).astype("datetime64[us]")
    us = stamps.astype(np.int64)
    inside = (us >= _us(window.start, "us")) & (us < _us(window.end, "us"))
    if arr.null_count:
        inside &= ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    return np.asarray(inside, dtype=bool)


def filter_rows(
    fs: AbstractFileSystem,
    blocks: list[BlockSpec],
    window: Window | None,
    groups: RowGroups | None,
    shown: str,
) -> list[BlockSpec]:
    """The blocks with the rows outside the window masked out (only blocks holding a
    straddling row group read their time column, and only it), combined with the rows
    already dropped; blocks left with no rows dropped; DataError when none is left."""
    if window is None or window.column is None or groups is None:
        return blocks
    out = []
    for spec in blocks:
        cut = groups.straddle.get(spec.path, frozenset())
        if not cut.intersection(spec.row_groups):
            out.append(spec)
            continue
        whole = dataclasses.replace(spec, keep=None)
        inside = _in_window(_read_table(fs, whole, [window.column]).column(0), window)
        old = spec.keep_mask()
        keep = inside if old is None else inside & old
        n = int(keep.sum())
        if n == spec.n_source_rows:
            out.append(spec)
        elif n:
            packed = np.packbits(keep).tobytes()
            out.append(dataclasses.replace(spec, n_rows=n, keep=packed))
    check_blocks(out, window, groups, shown)
    return out
