"""The pipeline's steps as library functions: the CLI and the Prefect flows both call these.

Conventions
-----------
- Data come from Parquet through :func:`logloss.data.read_parquet`; every step that touches
  data runs on the current Dask client (see :func:`dask_client`) or the threaded scheduler.
- Outputs (models, predictions, reports) are written under a temporary name and renamed,
  so a failure leaves nothing half-written.
- No Prefect here, and no math beyond calling the estimator and the metrics.
"""

from __future__ import annotations

import copy
import dataclasses
import errno
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.core import flatten

from .cluster import SchedulerUnreachableError, dask_client
from .core import LogisticCore
from .data import DataError, Dataset, read_block_columns, read_parquet
from .diskblocks import DiskSpaceError
from .progress import RowsReport, compute_rows, local_rows, wait_rows
from .settings import fit_settings, normalise
from .solvers import SolverState
from .storage import check_output, is_url

__all__ = [
    "NotConvergedError",
    "SchedulerUnreachableError",
    "TrainSettings",
    "dask_client",
    "evaluate_model",
    "load_dataset",
    "non_convergence",
    "persist_dataset",
    "predict_to_parquet",
    "publish_model",
    "resolve_model",
    "split_validation",
    "train_model",
    "write_report_assets",
]

log = logging.getLogger("logloss")


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


# ------------------------------------------------------------------------- train
class TrainSettings:
    """The training settings of one run: :data:`logloss.settings.TRAIN_SETTINGS`, checked,
    with defaults for the ones not given. Read them as attributes (``settings.max_iter``) or
    as a dict (``settings.values``); the deprecated ``penalty="none"`` means ``C=inf``."""

    def __init__(self, **values: Any) -> None:
        penalty = values.pop("penalty", None)
        if penalty is not None and str(penalty).lower() == "none":
            values["C"] = float("inf")
        self.values: dict[str, Any] = normalise(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"TrainSettings({', '.join(f'{k}={v!r}' for k, v in self.values.items())})"

    def estimator(self) -> LogisticCore:
        """The estimator of one fit (without the cross-validation settings)."""
        return LogisticCore(**fit_settings(self.values))


def train_model(
    ds: Dataset,
    settings: TrainSettings,
    *,
    callback: Callable[[SolverState], None] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_restart: bool = False,
    cv_progress: Callable[[int, int], None] | None = None,
) -> LogisticCore:
    """Fit on a (persisted) dataset; the model remembers its features, label and source.

    With ``settings.cv``: C (and l1_ratio) chosen by cross-validation (:mod:`logloss.cv`,
    ``cv_progress(pass, models running)`` after each of its passes), then the refit on all
    rows; the model's ``cv_`` holds the search's table. A search is not checkpointed.

    A ``checkpoint`` records the data's fingerprint (files, sizes, modification times,
    row counts): resuming it on other data or settings raises
    :class:`~logloss.checkpoint.CheckpointError`, or with ``checkpoint_restart`` starts
    afresh. The fit may end unconverged: see :func:`non_convergence`.
    """
    if ds.y is None:
        raise DataError(f"dataset {ds.source} was read without a label column")
    ds.check_labels()
    model = settings.estimator()
    if settings.cv:  # choose C (and l1_ratio) by cross-validation, then refit (no checkpoint)
        from .cv import fit_cv

        _, model = fit_cv(
            model,
            ds.X,
            ds.y,
            ds.sample_weight,
            Cs=settings.Cs,
            l1_ratios=settings.l1_ratios,
            cv=settings.cv,
            encoding=ds.encoding,
            callback=callback,
            progress=cv_progress,
        )
    else:
        model.fit(
            ds.X,
            ds.y,
            sample_weight=ds.sample_weight,
            encoding=ds.encoding,
            callback=callback,
            checkpoint=checkpoint,
            data_fingerprint=ds.fingerprint(),
            checkpoint_restart=checkpoint_restart,
        )
    model.feature_names_in_ = np.asarray(ds.feature_names, dtype=object)
    model.training_ = {
        "data": ds.source,
        "label": ds.label,
        "weight": ds.weight,
        "dtype": str(ds.X.dtype),
        "n_rows": int(ds.X.shape[0]),
        "n_dropped": int(ds.n_dropped),
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return model


class NotConvergedError(ValueError):
    """A fit that stopped with max|gradient| above tol; ``reason`` and ``hint`` say why/what."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(f"{reason}; {hint}" if hint else reason)
        self.reason = reason
        self.hint = hint


def non_convergence(
    model: LogisticCore,
    feature_names: Sequence[str] = (),
    *,
    style: str = "cli",
) -> NotConvergedError | None:
    """None when ``model`` converged (max|gradient| <= tol), else why it stopped and a hint.

    ``style`` names the remedies as command-line flags (``"cli"``: ``--standardize``) or as
    the train flow's parameters (``"flow"``: ``standardize=True``).
    """
    if bool(getattr(model, "converged_", True)):
        return None
    flow = style == "flow"

    def opt(flag: str, param: str) -> str:
        return param if flow else flag

    n_iter = int(np.ravel(getattr(model, "n_iter_", [0]))[0])
    history = getattr(model, "history_", None) or []
    grad = float(history[-1]["grad_norm"]) if history else float("nan")
    why = str(getattr(model, "stop_reason_", "") or "")
    reason = (
        f"not converged: max|gradient| {grad:.3e} > tol {model.tol:g} after {n_iter} "
        f"iteration(s) of {model.solver}" + (f"; stopped because: {why.rstrip('.')}" if why else "")
    )
    names = [str(c) for c in feature_names]
    bad = [int(j) for j in getattr(model, "badly_scaled_", None) or []]
    hints: list[str] = []
    if bad and not model.standardize:
        cols = ", ".join(repr(names[j]) if j < len(names) else f"#{j}" for j in bad)
        hints.append(
            f"column(s) {cols} look badly scaled: pass {opt('--standardize', 'standardize=True')}"
        )
    else:
        if not model.standardize:
            hints.append(f"pass {opt('--standardize', 'standardize=True')}")
        hints.append(
            f"raise {opt('--max-iter', 'max_iter')} (was {model.max_iter}) "
            f"or {opt('--tol', 'tol')} (was {model.tol:g})"
        )
        if model.penalty is None or np.isinf(model.C):
            c = opt("a finite --C", "a finite C")
            hints.append(f"without a penalty separable classes never converge: use {c}")
    return NotConvergedError(reason, "hint: " + "; or ".join(hints))


# ---------------------------------------------------------------------- evaluate
def evaluate_model(model: LogisticCore, ds: Dataset) -> dict[str, Any]:
    """Log loss, accuracy, ROC AUC, average precision, Brier score and confusion counts of
    ``model`` on ``ds`` (distributed, one pass: :func:`logloss.metrics.evaluate`)."""
    from .metrics import evaluate

    if ds.y is None:
        raise DataError(f"dataset {ds.source} has no label column to evaluate against")
    _check_features(model, ds)
    y01 = _labels01(model, ds)
    proba = model.predict_proba(ds.X)[:, 1]
    return evaluate(y01, proba, ds.sample_weight)


def _labels01(model: LogisticCore, ds: Dataset) -> da.Array:
    assert ds.y is not None
    classes = model.classes_.tolist()
    found = ds.check_labels()
    unknown = [v for v in found if v not in classes]
    if unknown:
        raise DataError(
            f"labels in column {ds.label!r} of {ds.source} are {found}, but the model was "
            f"trained on {classes}"
        )
    return (ds.y == model.classes_[1]).astype(np.float64)


def _check_features(model: LogisticCore, ds: Dataset) -> None:
    expected = [str(c) for c in getattr(model, "feature_names_in_", [])]
    if expected and list(ds.feature_names) != expected:
        missing = [c for c in expected if c not in ds.feature_names]
        raise DataError(
            f"dataset {ds.source} does not match the model's features"
            + (f": missing {missing}" if missing else f": got {ds.feature_names}")
        )


def model_columns(model: LogisticCore) -> dict[str, Any]:
    """The arguments of :func:`~logloss.data.read_parquet` that read data the way ``model``
    was trained: its input columns, and its encoding (categorical levels, means) if any."""
    encoding = getattr(model, "encoding_", None)
    if encoding is not None:
        return {"features": encoding.input_columns, "encoding": encoding}
    names = getattr(model, "feature_names_in_", None)
    return {"features": None if names is None else [str(c) for c in names]}


# ----------------------------------------------------------------------- predict
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


# ------------------------------------------------------------ report and publish
def write_report_assets(
    model: LogisticCore,
    ds: Dataset,
    directory: str | os.PathLike[str],
    *,
    metrics: dict[str, Any] | None = None,
    train: Dataset | None = None,
    held_out: str | None = None,
    sample_rows: int = 5000,
    seed: int = 0,
) -> dict[str, Any]:
    """Write metrics.json, report.json and the report pictures for ``model`` on ``ds`` into
    ``directory`` (:func:`logloss.report.assets.write_assets`).

    ``train``: the training data, for the coefficient statistics (default ``ds``).
    ``held_out``: None when ``ds`` holds the training rows, else a sentence saying how its
    rows were held out (shown at the top of the page).
    """
    from .report.assets import write_assets

    if ds.y is None:
        raise DataError(f"dataset {ds.source} has no label column to evaluate against")
    _check_features(model, ds)
    train = ds if train is None else train
    return write_assets(
        directory,
        model,
        y_true=_labels01(model, ds),
        proba=model.predict_proba(ds.X)[:, 1],
        sample_weight=ds.sample_weight,
        X=ds.X,
        evaluation={"data": ds.source, "rows": int(ds.X.shape[0]), "held_out": held_out},
        train=(train.X, train.y, train.sample_weight),
        metrics=metrics,
        sample_rows=sample_rows,
        seed=seed,
    )


def publish_model(
    model: LogisticCore,
    model_dir: str | os.PathLike[str],
    name: str,
    *,
    extra: Callable[[Path], None] | None = None,
    version: str | None = None,
) -> Path | str:
    """Save ``model`` as a new version of the location ``model_dir/name`` (local or an
    fsspec URL) and then move its ``latest`` (docs/model-files.md); returns the version.

    ``model_dir/name`` must be absent or hold only what logloss wrote (see
    :func:`logloss.storage.check_output`, kind ``"published"``). ``version`` is ignored:
    versions are numbered by the location (kept for callers of 0.1).
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ValueError(f"model name must be letters, digits, '.', '_' or '-'; got {name!r}")
    url = is_url(model_dir)
    where = f"{os.fspath(model_dir).rstrip('/')}/{name}" if url else Path(model_dir) / name
    return model.save(check_output(where, "published"), extra=extra)


def resolve_model(path: str | os.PathLike[str]) -> Path | str:
    """The folder of the model in force at ``path`` (following ``latest``); URLs stay
    strings; :class:`ModelFileError` when there is none."""
    from .storage.files import model_folder

    return model_folder(path)


def load_published(path: str | os.PathLike[str]) -> LogisticCore:
    return LogisticCore.load(path)
