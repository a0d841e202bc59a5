"""Predictions to Parquet: a model scores a dataset block by block on the cluster into a new
version of a predictions location (a directory or fsspec URL: :mod:`logloss.storage`)."""

from __future__ import annotations

import copy
import errno
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dask
import numpy as np

from .data import DataError, Dataset, read_block_columns, read_parquet
from .diskblocks import DiskSpaceError
from .evaluation import model_columns
from .logistic import LogisticCore
from .progress import RowsReport, compute_rows
from .storage import check_output, is_url

__all__ = ["predict_to_parquet"]


def _write_part(
    X: np.ndarray,
    spec: Any,
    keep: tuple[str, ...],
    model: LogisticCore,
    path: str,
) -> int:
    """Score one block with the model's own ``predict_proba`` and ``predict`` and write it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(X)
    if n:
        p1 = model.predict_proba(X)[:, 1]
        labels = np.asarray(model.predict(X))
    else:  # an empty block (a file without rows): the estimator refuses zero samples
        p1 = np.zeros(0)
        labels = model.classes_[:0]
    columns: dict[str, Any] = {}
    if keep:
        table = read_block_columns(spec, keep)
        for name in keep:
            columns[name] = table.column(name)
    columns["probability"] = pa.array(p1)
    if labels.dtype.kind in "OUS":  # string labels stay Python objects (an Arrow string)
        text = isinstance(model.classes_[0], str)  # typed even for an empty block
        columns["prediction"] = pa.array(
            labels.astype(object).tolist(), type=pa.string() if text else None
        )
    else:
        columns["prediction"] = pa.array(labels)
    try:
        if is_url(path):  # an fsspec URL (predictions at s3://, memory:// ...)
            import fsspec

            with fsspec.open(path, "wb") as fh:
                pq.write_table(pa.table(columns), fh)
        else:
            pq.write_table(pa.table(columns), path)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # Arrow names no path: name it
            raise DiskSpaceError(
                f"the disk filled up writing predictions part {path}; nothing was written "
                "(earlier predictions there are kept): free space, or write them elsewhere"
            ) from None
        raise
    return n


def _block_scorer(model: LogisticCore) -> LogisticCore:
    """The model without its feature names: the blocks are NumPy arrays whose columns were
    read by those names, in the model's order (a shallow copy; ``model`` is unchanged)."""
    scorer = copy.copy(model)
    if hasattr(scorer, "feature_names_in_"):
        del scorer.feature_names_in_
    return scorer


def predict_to_parquet(
    model: LogisticCore,
    data: str | os.PathLike[str] | Sequence[str],
    out: str | os.PathLike[str],
    *,
    keep: Sequence[str] = (),
    model_path: str | os.PathLike[str] | None = None,
    progress: RowsReport | None = None,
    opened: Callable[[Dataset], None] | None = None,
) -> tuple[Path | str, int]:
    """Score a Parquet dataset block by block on the cluster into a directory of part files.

    Each output row holds the kept columns, ``probability`` (of classes_[1]) and
    ``prediction``. ``out`` must be absent, empty, or an earlier predictions location
    (see :func:`logloss.storage.check_output`; ``data`` and ``model_path`` are inputs it
    must not overlap), checked before any data is read. The parts are a new version of
    ``out`` with the marker :data:`~logloss.storage.PREDICTIONS_MARKER` (model, data, row
    count); ``out/latest`` names it once every part is written (docs/model-files.md).
    ``opened(ds)`` is called once the dataset's footers are read, ``progress(rows_done)``
    as parts are written.
    """
    out = check_output(out, "predictions", inputs=[data, model_path])
    ds = read_parquet(data, None, invalid_hint=None, **model_columns(model))
    if opened is not None:
        opened(ds)
    if ds.n_features != model.n_features_in_:
        raise DataError(
            f"dataset {ds.source} has {ds.n_features} feature columns; the model expects "
            f"{model.n_features_in_}"
        )
    keep = tuple(keep)
    scorer = dask.delayed(_block_scorer(model), pure=True)  # one graph key for every part
    blocks = ds.X.to_delayed().ravel()

    def write_parts(directory: str) -> int:
        tasks = [
            dask.delayed(_write_part, pure=False)(
                x, spec, keep, scorer, f"{directory}/part-{i:05d}.parquet"
            )
            for i, (x, spec) in enumerate(zip(blocks, ds.blocks, strict=True))
        ]
        return int(sum(compute_rows(tasks, ds.X.chunks[0], progress)))

    def marker(n: int) -> dict[str, Any]:
        shown_model = None if model_path is None else os.fspath(model_path)
        return {
            "rows": n,
            "parts": len(blocks),
            "columns": [*keep, "probability", "prediction"],
            "data": ds.source,
            "model": shown_model if is_url(shown_model) else _resolved(shown_model),
            "model_trained_at": getattr(model, "training_", {}).get("trained_at"),
            "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    from .storage.files import write_predictions

    return write_predictions(out, write_parts, marker)


def _resolved(path: str | None) -> str | None:
    return None if path is None else str(Path(path).resolve())
