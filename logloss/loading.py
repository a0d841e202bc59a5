"""The data steps of a run: open a Parquet dataset, persist its blocks, hold rows out.

Every step that touches data runs on the current Dask client (see
:func:`logloss.cluster.dask_client`) or the threaded scheduler. Problems visible in the
footers raise :class:`~logloss.data.DataError` at once; bad values inside blocks when the
blocks are persisted.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence
from typing import Any

import dask
import dask.array as da
from dask.core import flatten

from .data import DataError, Dataset, read_parquet
from .progress import RowsReport, local_rows, wait_rows

__all__ = ["load_dataset", "persist_dataset", "split_validation"]


# -------------------------------------------------------------------------- data
def load_dataset(
    data: str | os.PathLike[str] | Sequence[str],
    label: str | None,
    *,
    features: Sequence[str] | None = None,
    weight: str | None = None,
    dtype: str = "float64",
    drop_invalid: bool = False,
    persist: bool = True,
    **columns: Any,
) -> Dataset:
    """Open a Parquet dataset and (by default) persist its blocks on the cluster.

    ``columns``: the column options of :func:`~logloss.data.read_parquet` (``categorical``,
    ``numeric``, ``missing``, ``max_categories``, ``min_frequency``, ``encoding``).
    Problems visible in the footers raise :class:`~logloss.data.DataError` at once; bad
    values inside blocks raise it when persisting.
    """
    ds = read_parquet(
        data,
        label,
        features=features,
        weight=weight,
        dtype=dtype,
        drop_invalid=drop_invalid,
        **columns,
    )
    return persist_dataset(ds) if persist else ds


def persist_dataset(ds: Dataset, *, progress: RowsReport | None = None) -> Dataset:
    """Persist X, y and weights together (one read per block) and surface block errors.

    ``progress(rows_done)`` is called as blocks are read (:mod:`logloss.progress`)."""
    rows_of = dict(zip(flatten(ds.X.__dask_keys__()), ds.X.chunks[0], strict=True))
    if not all(isinstance(n, int) for n in rows_of.values()):
        progress = None  # block lengths known only once read
    with local_rows(rows_of, progress):
        ds = ds.persist()
    if progress is not None and "distributed" in sys.modules:
        from distributed import futures_of

        wait_rows(futures_of(ds.X), rows_of, progress)
    _raise_block_errors(ds)
    return ds


def _raise_block_errors(ds: Dataset) -> None:
    """Wait for persisted blocks and re-raise the first failure (a DataError, usually)."""
    if "distributed" not in sys.modules:
        return  # no distributed client can exist: the blocks were computed in this process
    try:
        from distributed import futures_of, wait
    except ImportError:  # pragma: no cover
        return
    futures = futures_of(ds.X)
    if not futures:
        return
    wait(futures)
    for f in futures:
        if f.status == "error":
            f.result()  # raises the worker's exception on the client


def split_validation(ds: Dataset, fraction: float, *, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Hold out a random ``fraction`` of rows (reproducible per seed) as a validation set."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be between 0 and 1; got {fraction}")
    rng = da.random.default_rng(seed)
    mask = (rng.random(ds.n_rows, chunks=(ds.X.chunks[0],)) < fraction).persist()

    def take(keep: da.Array) -> Dataset:
        parts = [ds.X[keep], None if ds.y is None else ds.y[keep]]
        sw = None if ds.sample_weight is None else ds.sample_weight[keep]
        arrays = [a for a in (*parts, sw) if a is not None]
        arrays = list(dask.persist(*arrays))
        for a in arrays:
            a.compute_chunk_sizes()
        X = arrays.pop(0)
        y = arrays.pop(0) if ds.y is not None else None
        w = arrays.pop(0) if sw is not None else None
        return dataclasses.replace(ds, X=X, y=y, sample_weight=w)

    train, valid = take(~mask), take(mask)
    if train.X.shape[0] == 0 or valid.X.shape[0] == 0:
        raise DataError(
            f"validation fraction {fraction} leaves an empty split of dataset {ds.source} "
            f"({ds.n_rows} rows)"
        )
    return train, valid
