"""Synthetic logistic-regression data written as a Parquet dataset, streamed row group by row group.

Conventions
-----------
- Rows: ``x ~ N(0, I_p)``, ``y ~ Bernoulli(sigmoid(x @ coef + intercept))``; columns ``x0 ..
  x{p-1}`` (``float64`` or ``float32``) and the label ``y`` (``int8``, 0/1).
- The true coefficients are drawn ``N(0, 1/p)`` and rescaled to norm ``COEF_NORM`` so the margin
  ``x @ coef`` has standard deviation ``COEF_NORM`` whatever ``p``: the classes overlap (not
  separable) but the signal is strong. The intercept, unless given, is drawn ``N(0, 0.5**2)``.
- Rows are generated in fixed chunks of ``CHUNK_ROWS`` rows, chunk ``k`` from its own seeded
  stream, so the dataset's rows depend only on ``seed``, ``rows``, ``features``, ``dtype`` and
  ``intercept``, not on how they are split into files and row groups.
- The output ``out/part-00000.parquet ...`` and ``out/true_weights.json`` are written into a
  temporary sibling directory, renamed into place at the end.
- With ``days=D`` the rows go into hive partitions ``out/date=YYYY-MM-DD/part-*.parquet``: D
  consecutive days ending at ``end_date`` (default: today, UTC), the rows split evenly in
  order (the oldest day first), ``files`` part files per day. The rows are the same as
  without ``days``.

The Criteo-shaped click-log kind is :mod:`logloss.generate_ctr`; it shares the layout
(:func:`partition_layout`) and the staging (:func:`staged`) of this module.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.special import expit

__all__ = [
    "CHUNK_ROWS",
    "COEF_NORM",
    "Part",
    "generate",
    "partition_layout",
    "staged",
    "true_coefficients",
]

CHUNK_ROWS = 16_384
COEF_NORM = 2.0
LABEL = "y"


class Part(NamedTuple):
    """One output file: its path relative to the dataset's root and its rows [start, stop)."""

    path: str
    start: int
    stop: int


def partition_layout(
    rows: int, files: int, days: int | None = None, end_date: dt.date | None = None
) -> list[Part]:
    """The part files of a dataset of ``rows`` rows, in row order.

    Without ``days``: ``part-00000.parquet ...``, ``files`` of them. With ``days``: ``files``
    per day under ``date=YYYY-MM-DD/``, the ``days`` consecutive days ending at ``end_date``
    (default: today in UTC), the oldest first; the rows are split evenly over the days, then
    over each day's files.
    """
    if rows < 1 or files < 1:
        raise ValueError(f"rows and files must be positive; got {rows}, {files}")
    if days is not None and days < 1:
        raise ValueError(f"days must be positive; got {days}")
    n_days = 1 if days is None else days
    if files * n_days > rows:
        per_day = f" ({files} a day for {n_days} days)" if days is not None else ""
        raise ValueError(
            f"files must not exceed rows; got {files * n_days} files{per_day} for {rows} rows"
        )
    last = end_date or dt.datetime.now(dt.UTC).date()
    parts: list[Part] = []
    for d in range(n_days):
        lo, hi = d * rows // n_days, (d + 1) * rows // n_days
        prefix = "" if days is None else f"date={last - dt.timedelta(days=n_days - 1 - d)}/"
        for f in range(files):
            start, stop = lo + f * (hi - lo) // files, lo + (f + 1) * (hi - lo) // files
            parts.append(Part(f"{prefix}part-{f:05d}.parquet", start, stop))
    return parts


@contextlib.contextmanager
def staged(out: str | Path) -> Iterator[Path]:
    """A temporary sibling directory of ``out``, renamed to ``out`` when the block succeeds and
    removed when it fails: ``out`` is written whole or not at all.

    Raises ``FileExistsError`` if ``out`` exists and is not an empty directory.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"output path {out} already exists and is not empty; not overwriting")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            out.rmdir()  # empty directory, checked above
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def true_coefficients(features: int, seed: int = 0) -> tuple[np.ndarray, float]:
    """The (coef, intercept) that :func:`generate` draws for ``features`` and ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    coef = rng.normal(0.0, 1.0 / np.sqrt(features), size=features)
    coef *= COEF_NORM / np.linalg.norm(coef)
    intercept = float(rng.normal(0.0, 0.5))
    return coef, intercept


def _chunk(
    k: int, seed: int, coef: np.ndarray, intercept: float, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """Chunk ``k``: features as a (p, CHUNK_ROWS) array (one contiguous row per column), labels."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, k)))
    xt = rng.standard_normal((coef.size, CHUNK_ROWS)).astype(dtype, copy=False)
    z = coef @ xt.astype(np.float64, copy=False) + intercept
    y = (rng.random(CHUNK_ROWS) < expit(z)).astype(np.int8)
    return xt, y


def _rows(
    start: int, stop: int, seed: int, coef: np.ndarray, intercept: float, dtype: np.dtype
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pieces of rows [start, stop) as (features (p, m), labels (m,)), chunk by chunk."""
    k = start // CHUNK_ROWS
    while start < stop:
        xt, y = _chunk(k, seed, coef, intercept, dtype)
        lo = start - k * CHUNK_ROWS
        hi = min(stop - k * CHUNK_ROWS, CHUNK_ROWS)
        yield xt[:, lo:hi], y[lo:hi]
        start = k * CHUNK_ROWS + hi
        k += 1


def generate(
    out: str | Path,
    rows: int,
    features: int,
    files: int,
    *,
    seed: int = 0,
    row_group_size: int = 250_000,
    dtype: str = "float64",
    intercept: float | None = None,
    progress: Callable[[int], None] | None = None,
    days: int | None = None,
    end_date: dt.date | None = None,
) -> Path:
    """Write ``rows`` synthetic rows over ``files`` Parquet files under ``out``; return ``out``.

    Memory stays around one row group (``row_group_size`` rows). ``progress`` is called with
    the number of rows written so far after each row group. ``days``: ``files`` files a day in
    ``date=YYYY-MM-DD`` partitions ending at ``end_date`` (:func:`partition_layout`). Raises
    ``FileExistsError`` if ``out`` exists and is not an empty directory.
    """
    if rows < 1 or features < 1 or files < 1:
        raise ValueError(
            f"rows, features and files must be positive; got {rows}, {features}, {files}"
        )
    layout = partition_layout(rows, files, days, end_date)
    if row_group_size < 1:
        raise ValueError(f"row_group_size must be positive; got {row_group_size}")
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32'; got {dtype!r}")

    coef, drawn = true_coefficients(features, seed)
    b = drawn if intercept is None else float(intercept)
    np_dtype = np.dtype(dtype)
    names = [f"x{j}" for j in range(features)]
    schema = pa.schema(
        [pa.field(n, pa.from_numpy_dtype(np_dtype), nullable=False) for n in names]
        + [pa.field(LABEL, pa.int8(), nullable=False)]
    )

    with staged(out) as tmp:
        written = 0
        for part in layout:
            (tmp / part.path).parent.mkdir(parents=True, exist_ok=True)
            with pq.ParquetWriter(tmp / part.path, schema) as writer:
                for lo in range(part.start, part.stop, row_group_size):
                    hi = min(lo + row_group_size, part.stop)
                    xt = np.empty((features, hi - lo), dtype=np_dtype)
                    y = np.empty(hi - lo, dtype=np.int8)
                    at = 0
                    for x_piece, y_piece in _rows(lo, hi, seed, coef, b, np_dtype):
                        xt[:, at : at + y_piece.size] = x_piece
                        y[at : at + y_piece.size] = y_piece
                        at += y_piece.size
                    table = pa.Table.from_arrays([pa.array(c) for c in (*xt, y)], schema=schema)
                    writer.write_table(table, row_group_size=hi - lo)
                    del xt, y, table  # free this row group before the next is allocated
                    written += hi - lo
                    if progress is not None:
                        progress(written)
        meta = {
            "coef": coef.tolist(),
            "intercept": b,
            "seed": seed,
            "rows": rows,
            "features": features,
            "files": files,
            "dtype": dtype,
            "label": LABEL,
            "feature_names": names,
        }
        if days is not None:
            meta["days"] = days
        (tmp / "true_weights.json").write_text(json.dumps(meta, indent=2) + "\n")
    return Path(out)
