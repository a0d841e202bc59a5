"""Evaluation metrics for a binary classifier, computed block by block on Dask arrays.

Conventions
-----------
- ``y_true`` is 1-D and already mapped to {0, 1} (ints, floats or bools).
- ``proba`` is 1-D: the predicted probability of class 1. ``z`` (for
  :func:`log_loss_from_margin`) is the margin wᵀx + w₀, any real number.
- ``sample_weight`` is optional, 1-D, non-negative; ``None`` means weight 1 for every row.
- Each argument may be a NumPy array or a Dask array. Dask arrays must share the same row
  blocks; known or unknown (NaN) chunk sizes are both accepted. A NumPy argument mixed
  with a Dask one is cut into the Dask array's blocks; if those block sizes are unknown
  they are counted first (one extra pass over that array; pass all-Dask inputs to avoid it).
- All sums are accumulated in float64.

How it runs
-----------
One pass: every row block is reduced to a metrics state of bounded size
(:mod:`.state`: nine sums and a score table of at most 65,536 entries), and the states are
merged ``split_every`` at a time in a tree until one is left. Only that state reaches the
client, never a block's rows, so memory does not grow with the number of rows. The graph
is computed with :func:`dask.compute`: the threaded scheduler, or the active
``distributed.Client``. On Dask input nothing is persisted: the blocks are read (or
computed) as the pass reaches them, then released.

Exactness
---------
The sums (log loss, accuracy, Brier score, confusion counts) are exact. The curves, AUC and
average precision are exact while the data hold at most 65,536 distinct scores; beyond,
the table is binned on a fixed grid in the logit (cells of 0.0012, at most 0.0003 in p) and
:func:`evaluate` reports the largest possible error of each (``roc_auc_max_error``,
``average_precision_max_error``, computed from the data; 0.0 when exact). See
:mod:`.state` for what stays exact when binned.

On in-memory data (and exact tables) every result equals scikit-learn's ``log_loss``,
``accuracy_score``, ``roc_auc_score``, ``roc_curve``, ``brier_score_loss``,
``average_precision_score``, ``precision_recall_curve``, ``confusion_matrix`` and
``calibration_curve`` (``strategy="uniform"``; ``"quantile"`` where ties do not move the
cut points) up to floating-point summation order.

Modules: :mod:`.inputs` (arrays to blocks, the map and tree reduction), :mod:`.state` (the
per-block state and its merge), :mod:`.curves` (the formulas on a reduced table).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ..blockdata import _add
from . import curves as _curves
from .curves import CalibrationBins, wilson_interval
from .inputs import SPLIT_EVERY, Array, ArrayIn, compute, map_reduce, reduce_blocks
from .state import (
    BRIER,
    CORRECT,
    FN,
    FP,
    LOSS,
    MAX_DISTINCT,
    TN,
    TP,
    MetricsState,
    ScoreTable,
    W,
    margin_block,
    merge_states,
    merge_tables,
    row_log_loss,
    state_block,
    stats_block,
    table_block,
)
from .state import N as _N

__all__ = [
    "MAX_DISTINCT",
    "SPLIT_EVERY",
    "CalibrationBins",
    "MetricsState",
    "ReportCurves",
    "ScoreTable",
    "accuracy",
    "average_precision",
    "brier_score",
    "calibration_bins",
    "calibration_quantile_bins",
    "confusion",
    "curves_from_state",
    "evaluate",
    "log_loss",
    "log_loss_from_margin",
    "metrics_from_state",
    "metrics_state",
    "precision_recall_points",
    "report_curves",
    "roc_auc",
    "roc_curve_points",
    "row_log_loss",
    "wilson_interval",
]


# --------------------------------------------------------------------------------------
# Public metrics
# --------------------------------------------------------------------------------------


def _sums(y_true: ArrayIn, proba: ArrayIn, sample_weight: ArrayIn | None, t: float) -> Array:
    fn = functools.partial(stats_block, threshold=t)
    return np.asarray(map_reduce(fn, _add, y_true, proba, sample_weight))


def _table(y_true: ArrayIn, proba: ArrayIn, sample_weight: ArrayIn | None) -> ScoreTable:
    result: ScoreTable = map_reduce(table_block, merge_tables, y_true, proba, sample_weight)
    return result


def log_loss(y_true: ArrayIn, proba: ArrayIn, sample_weight: ArrayIn | None = None) -> float:
    """Weighted mean of −[y log p + (1 − y) log(1 − p)].

    As scikit-learn's ``log_loss``, p and 1 − p are clipped to [eps, 1 − eps] with
    ``eps = np.finfo(proba.dtype).eps`` (float64 for non-float input), so p = 0 or 1 gives
    a large finite loss. Raises ValueError if a probability lies outside [0, 1].
    """
    s = _sums(y_true, proba, sample_weight, 0.5)
    return float(s[LOSS] / s[W])


def log_loss_from_margin(
    y_true: ArrayIn, z: ArrayIn, sample_weight: ArrayIn | None = None
) -> float:
    """Weighted mean log loss from margins z = wᵀx + w₀: log1pexp(z) − y·z, no clipping.

    Stable for any finite z (|z| = 1e4 gives a finite result); this is the loss training
    minimises.
    """
    s = map_reduce(margin_block, _add, y_true, z, sample_weight, score_name="z")
    return float(s[2] / s[1])


def accuracy(
    y_true: ArrayIn,
    proba: ArrayIn,
    sample_weight: ArrayIn | None = None,
    threshold: float = 0.5,
) -> float:
    """Weighted fraction of rows predicted right, predicting 1 when ``proba > threshold``.

    With the default threshold this is the prediction rule of scikit-learn's
    ``LogisticRegression`` (class 1 when the decision function is > 0).
    """
    s = _sums(y_true, proba, sample_weight, threshold)
    return float(s[CORRECT] / s[W])


def confusion(
    y_true: ArrayIn,
    proba: ArrayIn,
    sample_weight: ArrayIn | None = None,
    threshold: float = 0.5,
) -> dict[str, float | int]:
    """Confusion counts ``{"tn", "fp", "fn", "tp"}`` for the rule ``proba > threshold``.

    Ints without weights, weighted sums (floats) with weights, as ``confusion_matrix``.
    """
    s = _sums(y_true, proba, sample_weight, threshold)
    return _confusion_dict(s, weighted=sample_weight is not None)


def _confusion_dict(s: Array, *, weighted: bool) -> dict[str, float | int]:
    cast: Callable[[Any], float | int] = float if weighted else (lambda v: int(round(v)))
    return {"tn": cast(s[TN]), "fp": cast(s[FP]), "fn": cast(s[FN]), "tp": cast(s[TP])}


def brier_score(y_true: ArrayIn, proba: ArrayIn, sample_weight: ArrayIn | None = None) -> float:
    """Weighted mean of (p − y)², as scikit-learn's ``brier_score_loss``."""
    s = _sums(y_true, proba, sample_weight, 0.5)
    return float(s[BRIER] / s[W])


def roc_auc(y_true: ArrayIn, proba: ArrayIn, sample_weight: ArrayIn | None = None) -> float:
    """Area under the ROC curve, ties handled as scikit-learn's ``roc_auc_score``.

    The trapezoid rule over the ROC curve of the reduced score table: exact up to 65,536
    distinct scores, else within :func:`logloss.metrics.curves.auc_error_bound` (the
    ``roc_auc_max_error`` of :func:`evaluate`). Raises ValueError if only one class is
    present.
    """
    fpr, tpr, _ = _curves.roc_from_table(_table(y_true, proba, sample_weight))
    return _curves.trapezoid(tpr, fpr)


def roc_curve_points(
    y_true: ArrayIn, proba: ArrayIn, sample_weight: ArrayIn | None = None
) -> tuple[Array, Array, Array]:
    """``(fpr, tpr, thresholds)`` as scikit-learn's ``roc_curve`` (``drop_intermediate``).

    Thresholds decrease and start at +inf, so the curve starts at (0, 0); on a binned
    table they are grid edges (each point exact for ``proba >= threshold``).
    Raises ValueError if only one class is present.
    """
    return _curves.roc_from_table(_table(y_true, proba, sample_weight))


def calibration_bins(
    y_true: ArrayIn, proba: ArrayIn, n_bins: int = 10
) -> tuple[Array, Array, NDArray[np.int64]]:
    """Reliability diagram on ``n_bins`` uniform bins of [0, 1]: (mean_pred, frac_pos, counts).

    Empty bins are left out. ``mean_pred`` and ``frac_pos`` equal scikit-learn's
    ``calibration_curve(y_true, proba, n_bins=n_bins, strategy="uniform")`` (which returns
    them in the order ``prob_true, prob_pred``); ``counts`` is the number of rows per bin.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")
    fn = functools.partial(_curves.calibration_block, n_bins=n_bins)
    return _curves.calibration_from_sums(map_reduce(fn, _add, y_true, proba, None))


def precision_recall_points(
    y_true: ArrayIn, proba: ArrayIn, sample_weight: ArrayIn | None = None
) -> tuple[Array, Array, Array]:
    """``(precision, recall, thresholds)`` as scikit-learn's ``precision_recall_curve``.

    Raises ValueError if y_true has no positive rows.
    """
    return _curves.pr_from_table(_table(y_true, proba, sample_weight))


def average_precision(
    y_true: ArrayIn, proba: ArrayIn, sample_weight: ArrayIn | None = None
) -> float:
    """Average precision (the area under the precision–recall curve as a step function),
    as scikit-learn's ``average_precision_score``. Raises ValueError without positives.
    Exact up to 65,536 distinct scores, else within ``average_precision_max_error``."""
    precision, recall, _ = precision_recall_points(y_true, proba, sample_weight)
    return _curves.ap_from_curve(precision, recall)


def calibration_quantile_bins(
    y_true: ArrayIn,
    proba: ArrayIn,
    sample_weight: ArrayIn | None = None,
    *,
    n_bins: int = 10,
    min_rows: int = 50,
) -> CalibrationBins:
    """Calibration bins cut at quantiles of the scores, each with a 95% interval.

    At most ``n_bins`` bins, fewer so that each holds at least ``min_rows`` rows where the
    data allow (``rows // min_rows`` bins, at least one). Rows with equal scores stay in one
    bin, and a bin left below ``min_rows`` by ties is merged into its smaller neighbour.
    Without weights and ties the bins are those of scikit-learn's
    ``calibration_curve(..., strategy="quantile")`` when the row count is a multiple of the
    number of bins. One pass over the data.
    """
    _check_bins(n_bins, min_rows)
    return _curves.quantile_bins(_table(y_true, proba, sample_weight), n_bins, min_rows)


def _check_bins(n_bins: int, min_rows: int) -> None:
    if not (isinstance(n_bins, int | np.integer) and n_bins >= 1):
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")
    if not (isinstance(min_rows, int | np.integer) and min_rows >= 1):
        raise ValueError(f"min_rows must be a positive integer; got {min_rows!r}")


class ReportCurves(NamedTuple):
    """Everything the report's pictures need, from one pass (:func:`report_curves`).

    ``metrics`` is :func:`evaluate`'s dict. The curves are None where undefined (only one
    class present): ``roc`` (fpr, tpr, thresholds), ``pr`` (precision, recall,
    thresholds), ``best_f1`` (threshold, f1, tn, fp, fn, tp for ``proba >= threshold``).
    ``confusion`` holds the counts at ``threshold`` (``proba > threshold``).
    ``histogram`` is (edges, class-1 weight per bin, class-0 weight per bin).
    ``exact``: False when the score table was binned (see :mod:`.state`).
    """

    metrics: dict[str, Any]
    threshold: float
    confusion: dict[str, float | int]
    roc: tuple[Array, Array, Array] | None
    pr: tuple[Array, Array, Array] | None
    best_f1: dict[str, float] | None
    calibration: CalibrationBins
    histogram: tuple[Array, Array, Array]
    exact: bool = True


def metrics_state(
    y_true: ArrayIn,
    proba: ArrayIn,
    sample_weight: ArrayIn | None = None,
    *,
    threshold: float = 0.5,
    cap: int = MAX_DISTINCT,
    split_every: int = SPLIT_EVERY,
) -> Any:
    """The reduced :class:`MetricsState` of the data, not yet computed: a ``Delayed`` for
    Dask input (compute it with other results to share the read of the blocks), the state
    itself for NumPy input. :func:`curves_from_state` and :func:`metrics_from_state` turn
    it into numbers. ``cap``: distinct scores kept exactly (more: binned)."""
    fn = functools.partial(state_block, threshold=threshold, cap=cap)
    merge = functools.partial(merge_states, cap=cap)
    return reduce_blocks(fn, merge, y_true, proba, sample_weight, split_every=split_every)


def curves_from_state(
    state: MetricsState,
    *,
    weighted: bool,
    threshold: float = 0.5,
    n_bins: int = 10,
    min_rows: int = 50,
    histogram_bins: int = 40,
) -> ReportCurves:
    """:class:`ReportCurves` from a computed :func:`metrics_state` (no pass over the data).
    ``threshold`` must be the one the state was made with."""
    _check_bins(n_bins, min_rows)
    _check_bins(histogram_bins, 1)
    table = state.table
    roc = pr = best = None
    with contextlib.suppress(ValueError):
        roc = _curves.roc_from_table(table)
    with contextlib.suppress(ValueError):
        pr = _curves.pr_from_table(table)
        best = _curves.best_f1(table, weighted=weighted)
    return ReportCurves(
        metrics_from_state(state, weighted=weighted),
        float(threshold),
        _confusion_dict(state.sums, weighted=weighted),
        roc,
        pr,
        best,
        _curves.quantile_bins(table, n_bins, min_rows),
        _curves.histograms(table, histogram_bins),
        not table.binned,
    )


def report_curves(
    y_true: ArrayIn,
    proba: ArrayIn,
    sample_weight: ArrayIn | None = None,
    *,
    threshold: float = 0.5,
    n_bins: int = 10,
    min_rows: int = 50,
    histogram_bins: int = 40,
) -> ReportCurves:
    """The metrics, ROC and precision–recall curves, confusion counts at ``threshold`` and
    at the F1-maximising threshold, quantile calibration bins and per-class score
    histograms, all from one pass over the data (one ``dask.compute``)."""
    _check_bins(n_bins, min_rows)
    _check_bins(histogram_bins, 1)
    root = metrics_state(y_true, proba, sample_weight, threshold=threshold)
    (state,) = compute(root)
    return curves_from_state(
        state,
        weighted=sample_weight is not None,
        threshold=threshold,
        n_bins=n_bins,
        min_rows=min_rows,
        histogram_bins=histogram_bins,
    )


def metrics_from_state(state: MetricsState, *, weighted: bool) -> dict[str, Any]:
    """:func:`evaluate`'s dict from a computed :func:`metrics_state`."""
    s, table = state
    auc: float | None = None
    auc_error: float | None = None
    with contextlib.suppress(ValueError):
        fpr, tpr, _ = _curves.roc_from_table(table)
        auc, auc_error = _curves.trapezoid(tpr, fpr), _curves.auc_error_bound(table)
    ap: float | None = None
    ap_error: float | None = None
    with contextlib.suppress(ValueError):
        ap = _curves.ap_from_curve(*_curves.pr_from_table(table)[:2])
        ap_error = _curves.average_precision_error_bound(table)
    return {
        "n": int(s[_N]),
        "log_loss": float(s[LOSS] / s[W]),
        "accuracy": float(s[CORRECT] / s[W]),
        "roc_auc": auc,
        "average_precision": ap,
        "brier_score": float(s[BRIER] / s[W]),
        **_confusion_dict(s, weighted=weighted),
        "roc_auc_max_error": auc_error,
        "average_precision_max_error": ap_error,
    }


def evaluate(
    y_true: ArrayIn,
    proba: ArrayIn,
    sample_weight: ArrayIn | None = None,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """All metrics in one pass over the data (one ``dask.compute``), in memory bounded
    whatever the number of rows (:func:`metrics_state`).

    Returns ``{"n", "log_loss", "accuracy", "roc_auc", "average_precision", "brier_score",
    "tn", "fp", "fn", "tp", "roc_auc_max_error", "average_precision_max_error"}``: ``n`` is
    the number of rows, the confusion entries (for ``proba > threshold``) are ints without
    weights and weighted sums with weights. ``roc_auc`` is ``None`` when only one class is
    present and ``average_precision`` when no row is positive (undefined), so the dict stays
    valid JSON. The two ``*_max_error`` entries bound how far ``roc_auc`` and
    ``average_precision`` can be from the exact values: 0.0 up to 65,536 distinct scores.
    """
    (state,) = compute(metrics_state(y_true, proba, sample_weight, threshold=threshold))
    return metrics_from_state(state, weighted=sample_weight is not None)
