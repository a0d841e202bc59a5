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
Every metric is one map over the row blocks followed by a tree reduction: a per-block
function returns a few float64 sums (or, for the ROC curve, the block's distinct scores
with their summed positive and negative weights), and the partial results are combined
``split_every`` at a time until one is left. Only the reduced result reaches the client:
a fixed-size vector for the sums, and for the ROC curve a table with one row per distinct
score. That table is unavoidable for an *exact* AUC; its size is bounded by the number of
distinct probabilities (at most the number of rows, far fewer when scores are rounded).
The graph is computed with :func:`dask.compute`, so the default threaded scheduler is used
unless a ``distributed.Client`` is active, in which case that client runs it.

The table also gives, with no further pass, the precision–recall curve and average
precision, the confusion counts at any threshold (so the threshold that maximises F1),
calibration bins cut at quantiles of the scores, and per-class score histograms:
:func:`report_curves` returns all of them and :func:`evaluate`'s metrics from one pass.

On in-memory data every result equals scikit-learn's ``log_loss``, ``accuracy_score``,
``roc_auc_score``, ``roc_curve``, ``brier_score_loss``, ``average_precision_score``,
``precision_recall_curve``, ``confusion_matrix`` and ``calibration_curve``
(``strategy="uniform"``; ``"quantile"`` where ties do not move the cut points) up to
floating-point summation order.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import dask
import dask.array as da
import numpy as np
from dask.delayed import delayed
from numpy.typing import NDArray
from scipy.special import xlogy

from .engine import _add, tree_reduce
from .loss import row_loss

__all__ = [
    "CalibrationBins",
    "ReportCurves",
    "accuracy",
    "average_precision",
    "brier_score",
    "calibration_bins",
    "calibration_quantile_bins",
    "confusion",
    "evaluate",
    "log_loss",
    "log_loss_from_margin",
    "precision_recall_points",
    "report_curves",
    "roc_auc",
    "roc_curve_points",
    "row_log_loss",
    "wilson_interval",
]

Array = NDArray[np.float64]
ArrayIn = Any  # NumPy array, Dask array, or anything np.asarray accepts
# (distinct scores ascending, positive weight, negative weight, rows) per distinct score
Table = tuple[NDArray[Any], Array, Array, Array]

SPLIT_EVERY = 8
"""How many partial results one task of the tree reduction combines."""

# Layout of the per-block statistics vector used by :func:`evaluate` and friends.
_N, _W, _LOSS, _CORRECT, _TN, _FP, _FN, _TP, _BRIER = range(9)
_N_STATS = 9

Z_95 = 1.959963984540054
"""The 97.5% quantile of the standard normal distribution (95% intervals)."""


# --------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------


def _as_1d(x: ArrayIn, name: str) -> Any:
    """Return ``x`` as a 1-D NumPy or Dask array (a single column is flattened)."""
    if not isinstance(x, da.Array):
        x = np.asarray(x)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {x.shape}")
    return x


def _align(arrays: Sequence[Any], names: Sequence[str]) -> list[Any]:
    """Bring the Dask arrays among ``arrays`` onto the same row blocks.

    The first Dask array is the reference. NumPy arrays are cut into its blocks; Dask
    arrays with known but different chunks are rechunked to it. Unknown chunk sizes are
    trusted when the number of blocks agrees (each block checks its own lengths).
    """
    ref_i = next(i for i, a in enumerate(arrays) if isinstance(a, da.Array))
    ref = arrays[ref_i]
    known = not any(np.isnan(c) for c in ref.chunks[0])
    if not known and any(
        isinstance(a, np.ndarray)
        or (isinstance(a, da.Array) and a.numblocks[0] != ref.numblocks[0])
        for a in arrays
    ):
        # The reference's block lengths are needed to cut the other inputs: count them.
        ref = ref.compute_chunk_sizes()
        known = True
    out: list[Any] = []
    for a, name in zip(arrays, names, strict=True):
        if a is arrays[ref_i]:
            out.append(ref)
            continue
        if known and not np.isnan(a.shape[0]) and a.shape[0] != ref.shape[0]:
            raise ValueError(
                f"{name} must have as many rows as {names[ref_i]}; "
                f"got {a.shape[0]} and {ref.shape[0]}"
            )
        if isinstance(a, np.ndarray):
            out.append(da.from_array(a, chunks=ref.chunks))
        elif a.chunks == ref.chunks:
            out.append(a)
        elif known and not any(np.isnan(c) for c in a.chunks[0]):
            out.append(a.rechunk(ref.chunks))
        elif a.numblocks[0] == ref.numblocks[0]:
            out.append(a)
        elif known:
            # Different blocks of unknown size: count them (one pass), then rechunk.
            out.append(a.compute_chunk_sizes().rechunk(ref.chunks))
        else:
            raise ValueError(
                f"{name} and {names[ref_i]} must have the same row blocks; got "
                f"{a.numblocks[0]} and {ref.numblocks[0]} blocks of unknown size"
            )
    return out


def _prepare(
    y_true: ArrayIn,
    scores: ArrayIn,
    sample_weight: ArrayIn | None,
    score_name: str = "proba",
) -> tuple[list[tuple[Any, Any, Any]], bool]:
    """Return ``(blocks, is_dask)``: a list of (y, scores, weight-or-None) per row block.

    For all-NumPy input there is a single block made of the arrays themselves.
    """
    names = ["y_true", score_name] + ([] if sample_weight is None else ["sample_weight"])
    arrays = [_as_1d(y_true, "y_true"), _as_1d(scores, score_name)]
    if sample_weight is not None:
        arrays.append(_as_1d(sample_weight, "sample_weight"))
    if not any(isinstance(a, da.Array) for a in arrays):
        n = {a.shape[0] for a in arrays}
        if len(n) != 1:
            raise ValueError(
                f"{', '.join(names)} must have the same length; got {[a.shape[0] for a in arrays]}"
            )
        w = arrays[2] if sample_weight is not None else None
        return [(arrays[0], arrays[1], w)], False
    arrays = _align(arrays, names)
    parts = [a.to_delayed().ravel().tolist() for a in arrays]
    if sample_weight is None:
        parts.append([None] * len(parts[0]))
    return list(zip(*parts, strict=True)), True


def _check_block(
    y: NDArray[Any], s: NDArray[Any], w: NDArray[Any] | None, *, probabilities: bool
) -> tuple[Array, NDArray[np.floating[Any]], Array | None]:
    """Validate one block; return y as float64, scores as a float array, w as float64."""
    y = np.asarray(y)
    s = np.asarray(s)
    if y.shape[0] != s.shape[0] or (w is not None and np.shape(w)[0] != y.shape[0]):
        raise ValueError(
            "y_true, scores and sample_weight must have the same row blocks; got a block "
            f"with lengths {y.shape[0]}, {s.shape[0]}"
            + ("" if w is None else f", {np.shape(w)[0]}")
        )
    yf = y.astype(np.float64)
    bad = (yf != 0.0) & (yf != 1.0)
    if bad.any():
        found = np.unique(y[bad])[:5]
        raise ValueError(
            f"y_true must hold only 0 and 1 (map the labels first); got values such as "
            f"{found.tolist()}"
        )
    if not np.issubdtype(s.dtype, np.floating):
        s = s.astype(np.float64)
    if s.size:
        if not np.isfinite(s).all():
            raise ValueError("scores must be finite; got NaN or infinity")
        if probabilities and (s.min() < 0.0 or s.max() > 1.0):
            raise ValueError(f"proba must lie in [0, 1]; got values in [{s.min()!r}, {s.max()!r}]")
    wf: Array | None = None
    if w is not None:
        wf = np.asarray(w, dtype=np.float64)
        if wf.size and not np.isfinite(wf).all():
            raise ValueError("sample_weight must be finite; got NaN or infinity")
    return yf, s, wf


# --------------------------------------------------------------------------------------
# Per-block functions (pure NumPy) and their combiners
# --------------------------------------------------------------------------------------


def row_log_loss(y: Array, p: NDArray[np.floating[Any]]) -> Array:
    """Per-row −[y log p + (1 − y) log(1 − p)], p clipped to [eps, 1 − eps] as scikit-learn does.

    The log loss from probabilities, written once: :func:`log_loss`, :func:`evaluate` and the
    report's picture of the two branches use it. ``eps`` is the machine epsilon of ``p``'s
    dtype; ``1 − p`` and the clipping are done in that dtype, the logarithms in float64.
    From margins z use :func:`logloss.loss.row_loss` (no clipping, the training loss).
    """
    eps = np.finfo(p.dtype).eps
    one = p.dtype.type(1)
    pc = np.clip(p, eps, one - eps).astype(np.float64)
    qc = np.clip(one - p, eps, one - eps).astype(np.float64)
    return -(xlogy(y, pc) + xlogy(1.0 - y, qc))


def _stats_block(
    y: NDArray[Any], p: NDArray[Any], w: NDArray[Any] | None, *, threshold: float
) -> Array:
    """Sums of one block: [n, Σw, Σw·loss, Σw·correct, tn, fp, fn, tp, Σw·(p − y)²]."""
    yf, pf, wf = _check_block(y, p, w, probabilities=True)
    out = np.zeros(_N_STATS, dtype=np.float64)
    out[_N] = yf.shape[0]
    ww = np.ones_like(yf) if wf is None else wf
    pred = pf > threshold
    pos = yf == 1.0
    out[_W] = ww.sum()
    out[_LOSS] = ww @ row_log_loss(yf, pf)
    out[_TP] = ww[pred & pos].sum()
    out[_FP] = ww[pred & ~pos].sum()
    out[_FN] = ww[~pred & pos].sum()
    out[_TN] = ww[~pred & ~pos].sum()
    out[_CORRECT] = out[_TP] + out[_TN]
    out[_BRIER] = ww @ (pf.astype(np.float64) - yf) ** 2
    return out


def _margin_block(y: NDArray[Any], z: NDArray[Any], w: NDArray[Any] | None) -> Array:
    """Sums of one block for the margin loss: [n, Σw, Σw·(log1pexp(z) − y·z)]."""
    yf, zf, wf = _check_block(y, z, w, probabilities=False)
    loss = row_loss(yf, zf)
    ww = np.ones_like(yf) if wf is None else wf
    return np.array([yf.shape[0], ww.sum(), ww @ loss], dtype=np.float64)


def _table_block(y: NDArray[Any], p: NDArray[Any], w: NDArray[Any] | None) -> Table:
    """Distinct scores of one block (ascending) with summed positive and negative weights
    and their numbers of rows.

    Rows of weight 0 are dropped first, as scikit-learn's ``roc_curve`` does.
    """
    yf, pf, wf = _check_block(y, p, w, probabilities=True)
    if wf is not None:
        keep = wf != 0.0
        yf, pf, wf = yf[keep], pf[keep], wf[keep]
    scores, inv = np.unique(pf, return_inverse=True)
    inv = inv.ravel()
    ww = np.ones_like(yf) if wf is None else wf
    pos = np.bincount(inv, weights=ww * yf, minlength=scores.size)
    neg = np.bincount(inv, weights=ww * (1.0 - yf), minlength=scores.size)
    rows = np.bincount(inv, minlength=scores.size)
    return scores, pos.astype(np.float64), neg.astype(np.float64), rows.astype(np.float64)


def _calibration_block(
    y: NDArray[Any], p: NDArray[Any], w: NDArray[Any] | None, *, n_bins: int
) -> Array:
    """Per uniform bin of [0, 1]: rows [Σ proba, Σ y, count]; shape (3, n_bins)."""
    yf, pf, _ = _check_block(y, p, w, probabilities=True)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], pf)
    return np.stack(
        [
            np.bincount(ids, weights=pf.astype(np.float64), minlength=n_bins),
            np.bincount(ids, weights=yf, minlength=n_bins),
            np.bincount(ids, minlength=n_bins).astype(np.float64),
        ]
    )


def _merge_tables(*tables: Table) -> Table:
    """Merge (score, pos, neg, rows) tables: union of the scores, sums of equal scores added."""
    if len(tables) == 1:
        return tables[0]
    scores, inv = np.unique(np.concatenate([t[0] for t in tables]), return_inverse=True)
    inv = inv.ravel()
    pos, neg, rows = (
        np.bincount(
            inv, weights=np.concatenate([t[j] for t in tables]), minlength=scores.size
        ).astype(np.float64)
        for j in (1, 2, 3)
    )
    return scores, pos, neg, rows


def _stats_and_table_block(
    y: NDArray[Any], p: NDArray[Any], w: NDArray[Any] | None, *, threshold: float
) -> tuple[Array, Table]:
    """One read of a block for :func:`evaluate`: the sums and the ROC table together."""
    return _stats_block(y, p, w, threshold=threshold), _table_block(y, p, w)


# --------------------------------------------------------------------------------------
# Map + tree reduction
# --------------------------------------------------------------------------------------


def _map_reduce(
    block_fn: Callable[..., Any],
    combines: Sequence[Callable[..., Any]],
    y_true: ArrayIn,
    scores: ArrayIn,
    sample_weight: ArrayIn | None,
    *,
    score_name: str = "proba",
    split_every: int = SPLIT_EVERY,
) -> tuple[Any, ...]:
    """Apply ``block_fn`` to every row block and reduce its outputs, one tree per output.

    ``block_fn(y, s, w)`` returns a tuple with one entry per combiner (or a single value
    when there is one combiner). Everything is computed with a single ``dask.compute``.
    """
    blocks, is_dask = _prepare(y_true, scores, sample_weight, score_name)
    k = len(combines)
    if not is_dask:
        out = block_fn(*blocks[0])
        return tuple(out) if k > 1 else (out,)
    mapped = [delayed(block_fn, nout=k if k > 1 else None)(*b) for b in blocks]
    roots = []
    for j, combine in enumerate(combines):
        parts = [m[j] for m in mapped] if k > 1 else mapped
        roots.append(tree_reduce(parts, combine, fan_in=split_every, name="logloss-metrics"))
    return tuple(dask.compute(*roots))


# --------------------------------------------------------------------------------------
# ROC from the merged table
# --------------------------------------------------------------------------------------


def _roc_from_table(table: Table, *, drop_intermediate: bool = True) -> tuple[Array, Array, Array]:
    """(fpr, tpr, thresholds) from the merged (score, pos, neg) table, as ``roc_curve``.

    Thresholds are the distinct scores in decreasing order preceded by +inf; with
    ``drop_intermediate`` the points collinear with their neighbours are dropped exactly
    as scikit-learn does (they do not change the area).
    """
    scores, pos, neg, _ = table
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


def _trapezoid(y: Array, x: Array) -> float:
    """Area under the piecewise-linear curve through (x, y) (x non-decreasing)."""
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def _descending_counts(table: Table) -> tuple[Array, Array, Array]:
    """(thresholds descending, tp, fp) for the rule ``proba >= threshold`` at each distinct
    score (weighted), as scikit-learn's ``_binary_clf_curve``."""
    scores, pos, neg, _ = table
    return scores[::-1].astype(np.float64), np.cumsum(pos[::-1]), np.cumsum(neg[::-1])


def _pr_from_table(table: Table) -> tuple[Array, Array, Array]:
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


def _average_precision(precision: Array, recall: Array) -> float:
    """Σ (Rₙ − Rₙ₋₁) Pₙ, as scikit-learn's ``average_precision_score``."""
    return max(0.0, float(-np.sum(np.diff(recall) * precision[:-1])))


def _best_f1(table: Table, *, weighted: bool = True) -> dict[str, float]:
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
    """Calibration bins cut at quantiles of the scores (see :func:`calibration_quantile_bins`).

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


def _quantile_bins(table: Table, n_bins: int, min_rows: int) -> CalibrationBins:
    scores, pos, neg, rows = table
    total_rows = float(rows.sum())
    if total_rows <= 0:
        raise ValueError("calibration bins need at least one row with positive weight")
    k = max(1, min(n_bins, int(total_rows // max(min_rows, 1))))
    # a score's bin: where the middle of its rows falls among k equal shares of the rows
    middle = np.cumsum(rows) - rows / 2.0
    ids = np.minimum((k * middle / total_rows).astype(np.int64), k - 1)
    ids = _merge_small_bins(ids, rows, min_rows)
    m = int(ids.max()) + 1
    weight = pos + neg
    s64 = scores.astype(np.float64)
    bw = np.bincount(ids, weights=weight, minlength=m)
    bpos = np.bincount(ids, weights=pos, minlength=m)
    brows = np.bincount(ids, weights=rows, minlength=m)
    bsum = np.bincount(ids, weights=weight * s64, minlength=m)
    low = np.array([s64[ids == j].min() for j in range(m)])
    high = np.array([s64[ids == j].max() for j in range(m)])
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


def _histograms(table: Table, bins: int) -> tuple[Array, Array, Array]:
    """(edges, weight of class-1 rows per bin, weight of class-0 rows per bin) on ``bins``
    equal bins of [0, 1] (the last bin closed, as ``np.histogram``)."""
    scores, pos, neg, _ = table
    edges = np.linspace(0.0, 1.0, bins + 1)
    ids = np.searchsorted(edges[1:-1], scores.astype(np.float64), side="right")
    return (
        edges,
        np.bincount(ids, weights=pos, minlength=bins).astype(np.float64),
        np.bincount(ids, weights=neg, minlength=bins).astype(np.float64),
    )


# --------------------------------------------------------------------------------------
# Public metrics
# --------------------------------------------------------------------------------------


def log_loss(y_true: ArrayIn, proba: ArrayIn, sample_weight: ArrayIn | None = None) -> float:
    """Weighted mean of −[y log p + (1 − y) log(1 − p)].

    As scikit-learn's ``log_loss``, p and 1 − p are clipped to [eps, 1 − eps] with
    ``eps = np.finfo(proba.dtype).eps`` (float64 for non-float input), so p = 0 or 1 gives
    a large finite loss. Raises ValueError if a probability lies outside [0, 1].
    """
    fn = functools.partial(_stats_block, threshold=0.5)
    (s,) = _map_reduce(fn, [_add], y_true, proba, sample_weight)
    return float(s[_LOSS] / s[_W])


def log_loss_from_margin(
    y_true: ArrayIn, z: ArrayIn, sample_weight: ArrayIn | None = None
) -> float:
    """Weighted mean log loss from margins z = wᵀx + w₀: log1pexp(z) − y·z, no clipping.

    Stable for any finite z (|z| = 1e4 gives a finite result); this is the loss training
    minimises.
    """
    (s,) = _map_reduce(_margin_block, [_add], y_true, z, sample_weight, score_name="z")
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
    fn = functools.partial(_stats_block, threshold=threshold)
    (s,) = _map_reduce(fn, [_add], y_true, proba, sample_weight)
    return float(s[_CORRECT] / s[_W])


def confusion(
    y_true: ArrayIn,
    proba: ArrayIn,
    sample_weight: ArrayIn | None = None,
    threshold: float = 0.5,
) -> dict[str, float | int]:
    """Confusion counts ``{"tn", "fp", "fn", "tp"}`` for the rule ``proba > threshold``.

    Ints without weights, weighted sums (floats) with weights, as ``confusion_matrix``.
    """
    fn = functools.partial(_stats_block, threshold=threshold)
    (s,) = _map_reduce(fn, [_add], y_true, proba, sample_weight)
    return _confusion_dict(s, weighted=sample_weight is not None)


def _confusion_dict(s: Array, *, weighted: bool) -> dict[str, float | int]:
    cast: Callable[[Any], float | int] = float if weighted else (lambda v: int(round(v)))
    return {"tn": cast(s[_TN]), "fp": cast(s[_FP]), "fn": cast(s[_FN]), "tp": cast(s[_TP])}


def roc_auc(y_true: ArrayIn, proba: ArrayIn, sample_weight: ArrayIn | None = None) -> float:
    """Exact area under the ROC curve, ties handled as scikit-learn's ``roc_auc_score``.

    Each block returns its distinct scores with summed positive and negative weights; the
    tables are merged in a tree and the area is the trapezoid rule over the ROC curve whose
    points are the distinct thresholds. Raises ValueError if only one class is present.
    """
    (table,) = _map_reduce(_table_block, [_merge_tables], y_true, proba, sample_weight)
    fpr, tpr, _ = _roc_from_table(table)
    return _trapezoid(tpr, fpr)


def roc_curve_points(
    y_true: ArrayIn, proba: ArrayIn, sample_weight: ArrayIn | None = None
) -> tuple[Array, Array, Array]:
    """``(fpr, tpr, thresholds)`` as scikit-learn's ``roc_curve`` (``drop_intermediate``).

    Thresholds decrease and start at +inf, so the curve starts at (0, 0).
    Raises ValueError if only one class is present.
    """
    (table,) = _map_reduce(_table_block, [_merge_tables], y_true, proba, sample_weight)
    return _roc_from_table(table)


def _calibration_from_sums(c: Array) -> tuple[Array, Array, NDArray[np.int64]]:
    nonzero = c[2] > 0
    counts = c[2][nonzero]
    return c[0][nonzero] / counts, c[1][nonzero] / counts, counts.astype(np.int64)


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
    fn = functools.partial(_calibration_block, n_bins=n_bins)
    (c,) = _map_reduce(fn, [_add], y_true, proba, None)
    return _calibration_from_sums(c)


def brier_score(y_true: ArrayIn, proba: ArrayIn, sample_weight: ArrayIn | None = None) -> float:
    """Weighted mean of (p − y)², as scikit-learn's ``brier_score_loss``."""
    fn = functools.partial(_stats_block, threshold=0.5)
    (s,) = _map_reduce(fn, [_add], y_true, proba, sample_weight)
    return float(s[_BRIER] / s[_W])


def precision_recall_points(
    y_true: ArrayIn, proba: ArrayIn, sample_weight: ArrayIn | None = None
) -> tuple[Array, Array, Array]:
    """``(precision, recall, thresholds)`` as scikit-learn's ``precision_recall_curve``.

    Raises ValueError if y_true has no positive rows.
    """
    (table,) = _map_reduce(_table_block, [_merge_tables], y_true, proba, sample_weight)
    return _pr_from_table(table)


def average_precision(
    y_true: ArrayIn, proba: ArrayIn, sample_weight: ArrayIn | None = None
) -> float:
    """Average precision (the area under the precision–recall curve as a step function),
    as scikit-learn's ``average_precision_score``. Raises ValueError without positives."""
    precision, recall, _ = precision_recall_points(y_true, proba, sample_weight)
    return _average_precision(precision, recall)


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
    (table,) = _map_reduce(_table_block, [_merge_tables], y_true, proba, sample_weight)
    return _quantile_bins(table, n_bins, min_rows)


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
    """

    metrics: dict[str, Any]
    threshold: float
    confusion: dict[str, float | int]
    roc: tuple[Array, Array, Array] | None
    pr: tuple[Array, Array, Array] | None
    best_f1: dict[str, float] | None
    calibration: CalibrationBins
    histogram: tuple[Array, Array, Array]


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
    fn = functools.partial(_stats_and_table_block, threshold=threshold)
    s, table = _map_reduce(fn, [_add, _merge_tables], y_true, proba, sample_weight)
    weighted = sample_weight is not None
    found = _metrics_from(s, table, weighted=weighted)
    roc = pr = best = None
    with contextlib.suppress(ValueError):
        roc = _roc_from_table(table)
    with contextlib.suppress(ValueError):
        pr = _pr_from_table(table)
        best = _best_f1(table, weighted=weighted)
    return ReportCurves(
        found,
        float(threshold),
        _confusion_dict(s, weighted=weighted),
        roc,
        pr,
        best,
        _quantile_bins(table, n_bins, min_rows),
        _histograms(table, histogram_bins),
    )


def _metrics_from(s: Array, table: Table, *, weighted: bool) -> dict[str, Any]:
    """:func:`evaluate`'s dict from the reduced sums and table."""
    try:
        fpr, tpr, _ = _roc_from_table(table)
        auc: float | None = _trapezoid(tpr, fpr)
    except ValueError:
        auc = None
    try:
        ap: float | None = _average_precision(*_pr_from_table(table)[:2])
    except ValueError:
        ap = None
    return {
        "n": int(s[_N]),
        "log_loss": float(s[_LOSS] / s[_W]),
        "accuracy": float(s[_CORRECT] / s[_W]),
        "roc_auc": auc,
        "average_precision": ap,
        "brier_score": float(s[_BRIER] / s[_W]),
        **_confusion_dict(s, weighted=weighted),
    }


def evaluate(
    y_true: ArrayIn,
    proba: ArrayIn,
    sample_weight: ArrayIn | None = None,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """All metrics in one pass over the data (one ``dask.compute``).

    Returns ``{"n", "log_loss", "accuracy", "roc_auc", "average_precision", "brier_score",
    "tn", "fp", "fn", "tp"}``: ``n`` is the number of rows, the confusion entries (for
    ``proba > threshold``) are ints without weights and weighted sums with weights.
    ``roc_auc`` is ``None`` when only one class is present and ``average_precision`` when
    no row is positive (undefined), so the dict stays valid JSON. Each block returns its
    sums and its score table from the same read; the two are reduced in two trees.
    """
    fn = functools.partial(_stats_and_table_block, threshold=threshold)
    s, table = _map_reduce(fn, [_add, _merge_tables], y_true, proba, sample_weight)
    return _metrics_from(s, table, weighted=sample_weight is not None)
