"""Published models and their report assets: a model saved as a new version under
``model_dir/name/`` with ``latest`` moved last, and the reading side (``latest`` followed)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .data import DataError, Dataset
from .evaluation import check_features, labels01
from .logistic import LogisticCore
from .storage import check_output, is_url

__all__ = [
    "load_published",
    "publish_model",
    "publish_refused",
    "resolve_model",
    "save_version",
    "write_report_assets",
]


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
    check_features(model, ds)
    train = ds if train is None else train
    return write_assets(
        directory,
        model,
        y_true=labels01(model, ds),
        proba=model.predict_proba(ds.X)[:, 1],
        sample_weight=ds.sample_weight,
        X=ds.X,
        evaluation={"data": ds.source, "rows": int(ds.X.shape[0]), "held_out": held_out},
        train=(train.X, train.y, train.sample_weight),
        metrics=metrics,
        sample_rows=sample_rows,
        seed=seed,
    )


def _where(model_dir: str | os.PathLike[str], name: str) -> Path | str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ValueError(f"model name must be letters, digits, '.', '_' or '-'; got {name!r}")
    url = is_url(model_dir)
    where = f"{os.fspath(model_dir).rstrip('/')}/{name}" if url else Path(model_dir) / name
    return check_output(where, "published")


def publish_model(
    model: LogisticCore,
    model_dir: str | os.PathLike[str],
    name: str,
    *,
    extra: Callable[[Path], None] | None = None,
    version: str | None = None,
    promote: bool = True,
    verdict: str | None = None,
    reason: str = "",
    record: Mapping[str, Any] | None = None,
    keep: int | None = None,
) -> Path | str:
    """Save ``model`` as a new version of the location ``model_dir/name`` (local or an
    fsspec URL) and then move its ``latest`` (docs/model-files.md); returns the version.

    ``promote`` False: the version is written and kept, marked ``verdict`` (default
    ``rejected``) with ``reason``, but ``latest`` stays where it is and it is never served.
    ``record``: what else its ``_version.json`` keeps (``window``, ``metrics``, a gate's
    numbers ...). ``keep``: how many versions retention keeps (``latest`` and the previous
    champion always). ``model_dir/name`` must be absent or hold only what logloss wrote
    (see :func:`logloss.storage.check_output`, kind ``"published"``). ``version`` is ignored:
    versions are numbered by the location (kept for callers of 0.1).
    """
    how: dict[str, Any] = dict(
        promote=promote, verdict=verdict, reason=reason, record=record, keep=keep
    )
    return save_version(model, _where(model_dir, name), extra=extra, **how)


def save_version(
    model: LogisticCore,
    path: str | os.PathLike[str],
    *,
    extra: Callable[[Path], None] | None = None,
    **how: Any,
) -> Path | str:
    """``model`` as a new version of the location ``path`` (as :meth:`LogisticCore.save`),
    with ``how``: ``promote``, ``verdict``, ``reason``, ``record``, ``keep`` (as
    :func:`publish_model`)."""
    from .storage import model_meta, model_vector, save_model

    best = getattr(model, "best_estimator", None)  # a search saves its refitted model
    model = best() if callable(best) else model
    model._check_fitted()
    return save_model(path, model_meta(model), model_vector(model), extra=extra, **how)


def publish_refused(
    model_dir: str | os.PathLike[str],
    name: str,
    reason: str,
    *,
    record: Mapping[str, Any] | None = None,
    keep: int | None = None,
) -> Path | str:
    """A version of ``model_dir/name`` that records a refused run (no model: the data
    checks failed before any fit), with ``reason``; ``latest`` is not moved."""
    from .storage import save_refused

    return save_refused(_where(model_dir, name), reason, record=record, keep=keep)


def resolve_model(path: str | os.PathLike[str]) -> Path | str:
    """The folder of the model in force at ``path`` (following ``latest``); URLs stay
    strings; :class:`ModelFileError` when there is none."""
    from .storage.files import model_folder

    return model_folder(path)


def load_published(path: str | os.PathLike[str]) -> LogisticCore:
    return LogisticCore.load(path)
