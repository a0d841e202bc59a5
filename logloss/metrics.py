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

On in-memory data every result equals scikit-learn's ``log_loss``, ``accuracy_score``,
``roc_auc_score``, ``roc_curve``, ``confusion_matrix`` and ``calibration_curve``
(``strategy="uniform"``) up to floating-point summation order.
"""

from __future__ import annotations

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
    "CurveData",
    "accuracy",
    "calibration_bins",
    "confusion",
    "curve_data",
    "evaluate",
    "log_loss",
    "log_loss_from_margin",
    "roc_auc",
    "roc_curve_points",
    "row_log_loss",
]

Array = NDArray[np.float64]
ArrayIn = Any  # NumPy array, Dask array, or anything np.asarray accepts
Table = tuple[NDArray[Any], Array, Array]  # (distinct scores ascending, pos weight, neg weight)

SPLIT_EVERY = 8
"""How many partial results one task of the tree reduction combines."""

# Layout of the per-block statistics vector used by :func:`evaluate` and friends.
_N, _W, _LOSS, _CORRECT, _TN, _FP, _FN, _TP = range(8)
_N_STATS = 8


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
    """Sums of one block: [n, Σw, Σw·loss, Σw·correct, tn, fp, fn, tp] (weighted)."""
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
    return out


def _margin_block(y: NDArray[Any], z: NDArray[Any], w: NDArray[Any] | None) -> Array:
    """Sums of one block for the margin loss: [n, Σw, Σw·(log1pexp(z) − y·z)]."""
    yf, zf, wf = _check_block(y, z, w, probabilities=False)
    loss = row_loss(yf, zf)
    ww = np.ones_like(yf) if wf is None else wf
    return np.array([yf.shape[0], ww.sum(), ww @ loss], dtype=np.float64)


def _table_block(y: NDArray[Any], p: NDArray[Any], w: NDArray[Any] | None) -> Table:
    """Distinct scores of one block (ascending) with summed positive and negative weights.

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
    return scores, pos.astype(np.float64), neg.astype(np.float64)


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
    """Merge (score, pos, neg) tables: union of the scores, weights of equal scores added."""
    if len(tables) == 1:
        return tables[0]
    scores, inv = np.unique(np.concatenate([t[0] for t in tables]), return_inverse=True)
    inv = inv.ravel()
    pos = np.bincount(inv, weights=np.concatenate([t[1] for t in tables]), minlength=scores.size)
    neg = np.bincount(inv, weights=np.concatenate([t[2] for t in tables]), minlength=scores.size)
    return scores, pos.astype(np.float64), neg.astype(np.float64)


def _stats_and_table_block(
    y: NDArray[Any], p: NDArray[Any], w: NDArray[Any] | None, *, threshold: float
) -> tuple[Array, Table]:
    """One read of a block for :func:`evaluate`: the sums and the ROC table together."""
    return _stats_block(y, p, w, threshold=threshold), _table_block(y, p, w)


def _table_and_calibration_block(
    y: NDArray[Any], p: NDArray[Any], w: NDArray[Any] | None, *, n_bins: int
) -> tuple[Table, Array]:
    """One read of a block for :func:`curve_data`: the ROC table and the calibration sums."""
    return _table_block(y, p, w), _calibration_block(y, p, None, n_bins=n_bins)


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
    scores, pos, neg = table
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


class CurveData(NamedTuple):
    """Everything the report's ROC and calibration pictures need, from one pass."""

    fpr: Array
    tpr: Array
    thresholds: Array
    auc: float
    mean_pred: Array
    frac_pos: Array
    counts: NDArray[np.int64]


def curve_data(y_true: ArrayIn, proba: ArrayIn, *, n_bins: int = 10) -> CurveData:
    """ROC curve, AUC and calibration bins computed in a single pass over the data.

    Raises ValueError if only one class is present (the ROC curve is undefined).
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")
    fn = functools.partial(_table_and_calibration_block, n_bins=n_bins)
    table, c = _map_reduce(fn, [_merge_tables, _add], y_true, proba, None)
    fpr, tpr, thr = _roc_from_table(table)
    mean_pred, frac_pos, counts = _calibration_from_sums(c)
    return CurveData(fpr, tpr, thr, _trapezoid(tpr, fpr), mean_pred, frac_pos, counts)


def evaluate(
    y_true: ArrayIn,
    proba: ArrayIn,
    sample_weight: ArrayIn | None = None,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """All metrics in one pass over the data (one ``dask.compute``).

    Returns ``{"n", "log_loss", "accuracy", "roc_auc", "tn", "fp", "fn", "tp"}``: ``n`` is
    the number of rows, the confusion entries are ints without weights and weighted sums
    with weights. ``roc_auc`` is ``None`` when only one class is present (undefined), so
    the dict stays valid JSON. Each block returns its sums and its ROC table from the
    same read; the two are reduced in two trees.
    """
    fn = functools.partial(_stats_and_table_block, threshold=threshold)
    s, table = _map_reduce(fn, [_add, _merge_tables], y_true, proba, sample_weight)
    try:
        fpr, tpr, _ = _roc_from_table(table)
        auc: float | None = _trapezoid(tpr, fpr)
    except ValueError:
        auc = None
    return {
        "n": int(s[_N]),
        "log_loss": float(s[_LOSS] / s[_W]),
        "accuracy": float(s[_CORRECT] / s[_W]),
        "roc_auc": auc,
        **_confusion_dict(s, weighted=sample_weight is not None),
    }
