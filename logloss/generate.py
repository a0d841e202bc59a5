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
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.special import expit

__all__ = ["CHUNK_ROWS", "COEF_NORM", "generate", "true_coefficients"]

CHUNK_ROWS = 16_384
COEF_NORM = 2.0
LABEL = "y"


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
) -> Path:
    """Write ``rows`` synthetic rows over ``files`` Parquet files under ``out``; return ``out``.

    Memory stays around one row group (``row_group_size`` rows). ``progress`` is called with
    the number of rows written so far after each row group. Raises ``FileExistsError`` if
    ``out`` exists and is not an empty directory.
    """
    if rows < 1 or features < 1 or files < 1:
        raise ValueError(
            f"rows, features and files must be positive; got {rows}, {features}, {files}"
        )
    if files > rows:
        raise ValueError(f"files must not exceed rows; got {files} files for {rows} rows")
    if row_group_size < 1:
        raise ValueError(f"row_group_size must be positive; got {row_group_size}")
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32'; got {dtype!r}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"output path {out} already exists and is not empty; not overwriting")

    coef, drawn = true_coefficients(features, seed)
    b = drawn if intercept is None else float(intercept)
    np_dtype = np.dtype(dtype)
    names = [f"x{j}" for j in range(features)]
    schema = pa.schema(
        [pa.field(n, pa.from_numpy_dtype(np_dtype), nullable=False) for n in names]
        + [pa.field(LABEL, pa.int8(), nullable=False)]
    )

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        written = 0
        for f in range(files):
            start, stop = f * rows // files, (f + 1) * rows // files
            with pq.ParquetWriter(tmp / f"part-{f:05d}.parquet", schema) as writer:
                for lo in range(start, stop, row_group_size):
                    hi = min(lo + row_group_size, stop)
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
        (tmp / "true_weights.json").write_text(json.dumps(meta, indent=2) + "\n")
        if out.exists():
            out.rmdir()  # empty directory, checked above
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
