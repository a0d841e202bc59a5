"""Metric formulas on a reduced :class:`~logloss.metrics.state.ScoreTable`: ROC and
precision–recall curves, AUC, average precision, the F1-maximising threshold, quantile
calibration bins with Wilson intervals, score histograms, and the error bounds of AUC and
average precision when the table is binned. Pure NumPy, no Dask.

Conventions follow scikit-learn's ``roc_curve``, ``precision_recall_curve`` and
``average_precision_score``: thresholds are the table's scores (the distinct scores, or the
lower edges of the grid cells of a binned table), the rule is ``proba >= threshold``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from .inputs import Array, ArrayIn, check_block
from .state import ScoreTable, cell_upper_edges

__all__ = [
    "Z_95",
    "CalibrationBins",
    "auc_error_bound",
    "ap_from_curve",
    "average_precision_error_bound",
    "best_f1",
    "calibration_block",
    "calibration_from_sums",
    "histograms",
    "pr_from_table",
    "quantile_bins",
    "roc_from_table",
    "trapezoid",
    "wilson_interval",
]

Z_95 = 1.959963984540054
"""The 97.5% quantile of the standard normal distribution (95% intervals)."""


def roc_from_table(
    table: ScoreTable, *, drop_intermediate: bool = True
) -> tuple[Array, Array, Array]:
    """(fpr, tpr, thresholds) from the merged (score, pos, neg) table, as ``roc_curve``.

    Thresholds are the distinct scores in decreasing order preceded by +inf; with
    ``drop_intermediate`` the points collinear with their neighbours are dropped exactly
    as scikit-learn does (they do not change the area).
    """
    scores, pos, neg = table.scores, table.pos, table.neg
    tps = np.cumsum(pos[::-1])
    fps = np.cumsum(neg[::-1])
    thresholds = scores[::-1].astype(np.float64)
    if tps.size == 0 or tps[-1] <= 0 or fps[-1] <= 0:
        total_pos = float(tps[-1]) if tps.size else 0.0
        total_neg = float(fps[-1]) if fps.size else 0.0
        raise ValueError(
            "ROC AUC needs both classes in y_true (with positive total weight); got "
            f"positive weight {total_pos!r} and negative weight {total_neg!r}"
        )
    if drop_intermediate and fps.size > 2:
        keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    tps = np.r_[0.0, tps]
    fps = np.r_[0.0, fps]
    thresholds = np.r_[np.inf, thresholds]
    return fps / fps[-1], tps / tps[-1], thresholds


def trapezoid(y: Array, x: Array) -> float:
    """Area under the piecewise-linear curve through (x, y) (x non-decreasing)."""
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def _descending_counts(table: ScoreTable) -> tuple[Array, Array, Array]:
    """(thresholds descending, tp, fp) for the rule ``proba >= threshold`` at each distinct
    score (weighted), as scikit-learn's ``_binary_clf_curve``."""
    scores, pos, neg = table.scores, table.pos, table.neg
    return scores[::-1].astype(np.float64), np.cumsum(pos[::-1]), np.cumsum(neg[::-1])


def pr_from_table(table: ScoreTable) -> tuple[Array, Array, Array]:
    """(precision, recall, thresholds) as scikit-learn's ``precision_recall_curve``
    (thresholds ascending; the last point is precision 1, recall 0)."""
    thresholds, tps, fps = _descending_counts(table)
    if tps.size == 0 or tps[-1] <= 0:
        total = float(tps[-1]) if tps.size else 0.0
        raise ValueError(
            f"precision and recall need positive rows in y_true; got positive weight {total!r}"
        )
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return (
        np.r_[precision[::-1], 1.0],
        np.r_[recall[::-1], 0.0],
        thresholds[::-1],
    )


def ap_from_curve(precision: Array, recall: Array) -> float:
    """Σ (Rₙ − Rₙ₋₁) Pₙ, as scikit-learn's ``average_precision_score``."""
    return max(0.0, float(-np.sum(np.diff(recall) * precision[:-1])))


def best_f1(table: ScoreTable, *, weighted: bool = True) -> dict[str, float]:
    """The threshold t (a distinct score) that maximises F1 for ``proba >= t``, with its F1
    and confusion counts (the highest such t when several tie)."""
    thresholds, tps, fps = _descending_counts(table)
    total_pos = float(tps[-1]) if tps.size else 0.0
    total_neg = float(fps[-1]) if fps.size else 0.0
    if total_pos <= 0:
        raise ValueError("F1 needs positive rows in y_true; got none")
    f1 = 2.0 * tps / (tps + fps + total_pos)
    i = int(np.argmax(f1))
    tp, fp = float(tps[i]), float(fps[i])
    counts = {"tn": total_neg - fp, "fp": fp, "fn": total_pos - tp, "tp": tp}
    if not weighted:  # whole rows: ints, as confusion counts without weights
        counts = {k: int(round(v)) for k, v in counts.items()}
    return {"threshold": float(thresholds[i]), "f1": float(f1[i]), **counts}


def wilson_interval(
    successes: ArrayIn, n: ArrayIn, z: float = Z_95
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wilson score interval (95% by default) for the proportion ``successes / n``.

    ``successes`` may be fractional (weighted fractions times ``n``); ``n`` must be > 0.
    """
    k = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    if np.any(m <= 0):
        raise ValueError(f"n must be positive; got {np.min(m)!r}")
    phat = np.clip(k / m, 0.0, 1.0)
    z2 = z * z
    centre = (phat + z2 / (2 * m)) / (1 + z2 / m)
    half = z * np.sqrt(phat * (1 - phat) / m + z2 / (4 * m * m)) / (1 + z2 / m)
    # exactly 0 (1) at a fraction of 0 (1), where rounding would leave a few ulps
    low = np.where(phat == 0.0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(phat == 1.0, 1.0, np.clip(centre + half, 0.0, 1.0))
    return low, high


class CalibrationBins(NamedTuple):
    """Calibration bins cut at quantiles of the scores (see :func:`calibrationquantile_bins`).

    One entry per bin, in increasing score: ``mean_pred`` and ``frac_pos`` (weighted),
    ``rows`` (rows in the bin), ``low``/``high`` (the smallest and largest score in it),
    ``ci_low``/``ci_high`` (95% Wilson interval of ``frac_pos`` on ``rows``).
    """

    mean_pred: Array
    frac_pos: Array
    rows: NDArray[np.int64]
    low: Array
    high: Array
    ci_low: Array
    ci_high: Array


def _merge_small_bins(ids: NDArray[np.int64], rows: Array, min_rows: int) -> NDArray[np.int64]:
    """Renumber bins 0..k−1 after folding each bin with fewer than ``min_rows`` rows into
    its smaller neighbour, until every bin has ``min_rows`` or one bin is left."""
    ids = np.unique(ids, return_inverse=True)[1].ravel()
    while True:
        counts = np.bincount(ids, weights=rows)
        if counts.size <= 1 or counts.min() >= min_rows:
            return ids
        j = int(np.argmin(counts))
        if j == 0:
            target = 1
        elif j == counts.size - 1:
            target = j - 1
        else:
            target = j - 1 if counts[j - 1] <= counts[j + 1] else j + 1
        ids = np.where(ids == j, target, ids)
        ids = np.unique(ids, return_inverse=True)[1].ravel()


def quantile_bins(table: ScoreTable, n_bins: int, min_rows: int) -> CalibrationBins:
    """At most ``n_bins`` bins cut at quantiles of the rows, each of ``min_rows`` rows where
    the data allow (ties, or grid cells of a binned table, stay in one bin)."""
    total_rows = float(table.rows.sum())
    if total_rows <= 0:
        raise ValueError("calibration bins need at least one row with positive weight")
    k = max(1, min(n_bins, int(total_rows // max(min_rows, 1))))
    # a score's bin: where the middle of its rows falls among k equal shares of the rows
    middle = np.cumsum(table.rows) - table.rows / 2.0
    ids = np.minimum((k * middle / total_rows).astype(np.int64), k - 1)
    ids = _merge_small_bins(ids, table.rows, min_rows)
    m = int(ids.max()) + 1
    weight = table.pos + table.neg
    bw = np.bincount(ids, weights=weight, minlength=m)
    bpos = np.bincount(ids, weights=table.pos, minlength=m)
    brows = np.bincount(ids, weights=table.rows, minlength=m)
    bsum = np.bincount(ids, weights=table.psum, minlength=m)
    tops = cell_upper_edges(table)
    low = np.array([table.scores[ids == j].min() for j in range(m)])
    high = np.array([tops[ids == j].max() for j in range(m)])
    keep = bw > 0
    frac = bpos[keep] / bw[keep]
    ci_low, ci_high = wilson_interval(frac * brows[keep], brows[keep])
    return CalibrationBins(
        bsum[keep] / bw[keep],
        frac,
        np.rint(brows[keep]).astype(np.int64),
        low[keep],
        high[keep],
        ci_low,
        ci_high,
    )


def histograms(table: ScoreTable, bins: int) -> tuple[Array, Array, Array]:
    """(edges, weight of class-1 rows per bin, weight of class-0 rows per bin) on ``bins``
    equal bins of [0, 1] (the last bin closed, as ``np.histogram``)."""
    scores, pos, neg = table.scores, table.pos, table.neg
    edges = np.linspace(0.0, 1.0, bins + 1)
    ids = np.searchsorted(edges[1:-1], scores.astype(np.float64), side="right")
    return (
        edges,
        np.bincount(ids, weights=pos, minlength=bins).astype(np.float64),
        np.bincount(ids, weights=neg, minlength=bins).astype(np.float64),
    )


def calibration_from_sums(c: Array) -> tuple[Array, Array, NDArray[np.int64]]:
    nonzero = c[2] > 0
    counts = c[2][nonzero]
    return c[0][nonzero] / counts, c[1][nonzero] / counts, counts.astype(np.int64)


def calibration_block(
    y: NDArray[Any], p: NDArray[Any], w: NDArray[Any] | None, *, n_bins: int
) -> Array:
    """Per uniform bin of [0, 1]: rows [Σ proba, Σ y, count]; shape (3, n_bins)."""
    yf, pf, _ = check_block(y, p, w, probabilities=True)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], pf)
    return np.stack(
        [
            np.bincount(ids, weights=pf.astype(np.float64), minlength=n_bins),
            np.bincount(ids, weights=yf, minlength=n_bins),
            np.bincount(ids, minlength=n_bins).astype(np.float64),
        ]
    )


def auc_error_bound(table: ScoreTable) -> float:
    """The largest possible |AUC from ``table`` − exact AUC|: 0 for an exact table.

    Between two grid edges the exact ROC curve is a monotone path from one drawn point to
    the next; its area differs from the straight segment's by at most half the rectangle
    they span, (pos_k / P)·(neg_k / N) / 2 for cell k.
    """
    if not table.binned:
        return 0.0
    total_pos, total_neg = float(table.pos.sum()), float(table.neg.sum())
    if total_pos <= 0 or total_neg <= 0:
        return 0.0
    return float(0.5 * np.sum(table.pos * table.neg) / (total_pos * total_neg))


def average_precision_error_bound(table: ScoreTable) -> float:
    """The largest possible |AP from ``table`` − exact AP|: 0 for an exact table.

    Cell k adds recall pos_k / P; inside it the precision at a positive row lies between
    TP/(TP + FP + neg_k) and (TP + pos_k)/(TP + FP + pos_k), TP and FP counted above the
    cell, and the value used (the precision at the cell's lower edge) lies between them too.
    """
    if not table.binned:
        return 0.0
    total_pos = float(table.pos.sum())
    if total_pos <= 0:
        return 0.0
    pos, neg = table.pos[::-1], table.neg[::-1]  # descending scores
    tp_above = np.cumsum(pos) - pos
    fp_above = np.cumsum(neg) - neg
    with np.errstate(invalid="ignore", divide="ignore"):
        high = (tp_above + pos) / (tp_above + fp_above + pos)
        low = tp_above / (tp_above + fp_above + neg)
    high = np.where(np.isfinite(high), high, 1.0)
    low = np.where(np.isfinite(low), low, 1.0)
    return float(np.sum(pos / total_pos * (high - low)))
