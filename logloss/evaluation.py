"""A model on labelled data: its metrics, and the checks that the data are the model's.

No Prefect here; the metrics themselves are :mod:`logloss.metrics`.
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np

from .data import DataError, Dataset
from .logistic import LogisticCore

__all__ = ["check_features", "evaluate_model", "evaluate_models", "labels01", "model_columns"]


def evaluate_model(model: LogisticCore, ds: Dataset) -> dict[str, Any]:
    """Log loss, accuracy, ROC AUC, average precision, Brier score and confusion counts of
    ``model`` on ``ds`` (distributed, one pass: :func:`logloss.metrics.evaluate`)."""
    from .metrics import evaluate

    if ds.y is None:
        raise DataError(f"dataset {ds.source} has no label column to evaluate against")
    check_features(model, ds)
    y01 = labels01(model, ds)
    proba = model.predict_proba(ds.X)[:, 1]
    return evaluate(y01, proba, ds.sample_weight)


def evaluate_models(models: list[LogisticCore], ds: Dataset) -> list[dict[str, Any]]:
    """:func:`evaluate_model` of each of ``models`` (the same features and classes, e.g. a
    challenger and the champion mapped onto its features) on the same rows of ``ds``,
    their metrics summed in one pass over its blocks (one ``dask.compute``)."""
    from .metrics import compute, metrics_from_state, metrics_state

    if ds.y is None:
        raise DataError(f"dataset {ds.source} has no label column to evaluate against")
    for model in models:
        check_features(model, ds)
    y01 = labels01(models[0], ds)
    roots = [metrics_state(y01, m.predict_proba(ds.X)[:, 1], ds.sample_weight) for m in models]
    states = compute(*roots)
    weighted = ds.sample_weight is not None
    return [metrics_from_state(state, weighted=weighted) for state in states]


def labels01(model: LogisticCore, ds: Dataset) -> da.Array:
    """``ds``'s labels as 0/1 (1: the model's classes_[1]); DataError for a label the model
    was not trained on."""
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


def check_features(model: LogisticCore, ds: Dataset) -> None:
    """DataError unless ``ds`` has the model's features, in its order."""
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
