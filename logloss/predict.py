"""Predictions of a fitted linear model, per block: margins, probabilities, labels.

Conventions
-----------
- Block functions (:func:`margin`, :func:`proba2`, :func:`log_proba2`, :func:`choose`) are
  pure NumPy and work on any number of rows; the ``lazy_*`` functions apply them to every
  row block of a Dask array and return a lazy Dask array (nothing is computed here).
- Uses Dask: yes, for Dask input only (``map_blocks`` over X's row blocks, and the
  accuracy of Dask predictions). In-memory input never touches Dask.
- Probabilities are (P(classes_[0]), P(classes_[1])); a label is classes_[1] where the
  margin is positive.
"""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np
from numpy.typing import NDArray

from .coded import any_margin, margin_blocks
from .loss import sigmoid

__all__ = [
    "choose",
    "lazy_accuracy",
    "lazy_labels",
    "lazy_log_proba2",
    "lazy_margin",
    "lazy_proba2",
    "log_proba2",
    "margin",
    "proba2",
]

Array = NDArray[np.float64]


def margin(X: NDArray[np.floating], coef: Array, b: float) -> Array:
    return any_margin(X, coef, b)


def proba2(z: Array) -> Array:
    p1 = sigmoid(z)
    return np.column_stack([1.0 - p1, p1]) if z.size else np.zeros((0, 2))


def log_proba2(z: Array) -> Array:
    # log(1 − σ(z)) = −log1pexp(z), log σ(z) = −log1pexp(−z)
    return (
        np.column_stack([-np.logaddexp(0.0, z), -np.logaddexp(0.0, -z)])
        if z.size
        else np.zeros((0, 2))
    )


def choose(z: Array, c0: Any, c1: Any) -> np.ndarray:
    return np.where(z > 0, c1, c0)


def lazy_margin(
    X: Any, coef: Array, b: float, n_features: int, feature_names: Any = None
) -> da.Array:
    """Margins of a Dask array or DataFrame (its column names must be ``feature_names``
    when those were known at fit)."""
    if dask.is_dask_collection(X) and hasattr(X, "columns") and hasattr(X, "to_dask_array"):
        names = [str(c) for c in X.columns]
        if feature_names is not None and names != list(feature_names):
            raise ValueError(
                f"The feature names should match those that were passed during fit; "
                f"got {names}, expected {list(feature_names)}"
            )
        Xd = X.to_dask_array()
    else:
        Xd = da.asarray(X)
    if Xd.ndim != 2 or Xd.shape[1] != n_features:
        raise ValueError(
            f"X has {Xd.shape[-1]} features, but LogisticRegression is expecting "
            f"{n_features} features as input"
        )
    if Xd.numblocks[1] != 1:
        Xd = Xd.rechunk({1: -1})
    # blockwise without concatenation: the blocks may be coded (logloss.coded), not arrays
    return da.blockwise(
        margin_blocks,
        "i",
        Xd,
        "ij",
        coef.copy(),
        None,
        b,
        None,
        dtype=np.float64,
        concatenate=False,
    )


def lazy_proba2(z: da.Array) -> da.Array:
    return da.map_blocks(proba2, z, new_axis=1, chunks=(z.chunks[0], (2,)), dtype=np.float64)


def lazy_log_proba2(z: da.Array) -> da.Array:
    return da.map_blocks(log_proba2, z, new_axis=1, chunks=(z.chunks[0], (2,)), dtype=np.float64)


def lazy_labels(z: da.Array, classes: np.ndarray) -> da.Array:
    c0, c1 = classes
    return da.map_blocks(choose, z, c0, c1, dtype=classes.dtype)


def lazy_accuracy(pred: da.Array, y: da.Array, sample_weight: da.Array | None) -> float:
    """The (weighted) share of ``pred`` equal to ``y`` (both chunked like ``pred``)."""
    hit = (pred == y).astype(np.float64)
    if sample_weight is None:
        return float(hit.mean().compute())
    num, den = dask.compute((hit * sample_weight).sum(), sample_weight.sum())
    return float(num / den)
