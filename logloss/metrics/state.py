"""The streaming metrics state: what one row block reduces to, and how two states merge.

A block of (y, proba, weight) becomes a :class:`MetricsState` whose size does not depend
on the number of rows:

- ``sums``: nine float64 sums ([n, Σw, Σw·loss, Σw·correct, tn, fp, fn, tp, Σw·(p − y)²],
  positions :data:`N` ... :data:`BRIER`): log loss, accuracy, Brier score, confusion counts.
- ``table``: a :class:`ScoreTable`, one entry per distinct score (``binned=False``) with the
  summed positive weight, negative weight, rows and Σw·p of the rows with that score. It
  gives ROC and precision–recall curves, AUC, average precision, the best F1 threshold,
  quantile calibration bins and score histograms.

The table is exact while it holds at most ``cap`` distinct scores (:data:`MAX_DISTINCT`
by default). Past that it is *binned*: every score is replaced by the lower edge of its
cell on a fixed grid of :data:`GRID_CELLS` cells, uniform in the logit
log(p / (1 − p)) over [−:data:`GRID_LOGIT`, +:data:`GRID_LOGIT`] (cell width ≈ 0.0012 in
the logit, at most ≈ 0.0003 in p), the two end cells reaching 0 and 1. A binned table has
at most ``GRID_CELLS`` entries. Both kinds have at most ``max(cap, GRID_CELLS)`` entries of
five float64 columns: 2.6 MiB by default, whatever the number of rows.

What stays exact when binned: the sums; the counts at every grid edge ``t`` for the rule
``proba >= t`` (so every point of the ROC and precision–recall curves drawn is a true point
of the exact curves, at those thresholds); Σw·p and the rows of every cell (so the mean
prediction of a calibration bin). What is approximate: AUC and average precision (the
curves between grid edges), the best F1 threshold (the best grid edge), quantile cut
points (grid edges) and score histogram bins (rows within one cell of a histogram edge
may fall on its other side). The AUC and AP errors are bounded, from the table itself, by
:func:`logloss.metrics.curves.auc_error_bound` and
:func:`~logloss.metrics.curves.average_precision_error_bound`.

Merging is order-free: if the union of all scores has at most ``cap`` distinct values,
every partial union does too and the result is exact; otherwise every path ends binned,
and binning commutes with merging (a score's cell does not depend on the other scores).
So the chunking of the rows changes neither whether the result is exact nor its value
(beyond floating-point summation order).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy.special import xlogy

from ..loss import row_loss, sigmoid
from .inputs import Array, check_block

__all__ = [
    "GRID_CELLS",
    "GRID_LOGIT",
    "MAX_DISTINCT",
    "MetricsState",
    "ScoreTable",
    "grid_edges",
    "merge_states",
    "margin_block",
    "max_state_bytes",
    "merge_tables",
    "row_log_loss",
    "state_block",
    "stats_block",
    "table_block",
]

# Layout of the sums vector.
N, W, LOSS, CORRECT, TN, FP, FN, TP, BRIER = range(9)
N_STATS = 9

MAX_DISTINCT = 65_536
"""Distinct scores an exact table may hold; more and it is binned on the grid."""

GRID_CELLS = 65_536
"""Cells of the fixed grid a binned table uses."""

GRID_LOGIT = 40.0
"""The grid covers logits in [−GRID_LOGIT, GRID_LOGIT]; beyond, the two end cells."""


def max_state_bytes(cap: int = MAX_DISTINCT) -> int:
    """The most bytes a :class:`MetricsState` made with ``cap`` holds, whatever the rows."""
    return N_STATS * 8 + 5 * 8 * max(cap, GRID_CELLS)


class ScoreTable(NamedTuple):
    """Scores ascending (exact distinct scores, or grid cells' lower edges when ``binned``)
    with, per entry, the positive weight, negative weight, rows and Σ weight·score."""

    scores: Array
    pos: Array
    neg: Array
    rows: Array
    psum: Array
    binned: bool

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self[:5]))


class MetricsState(NamedTuple):
    """One block's (or many blocks') metrics: the sums and the score table."""

    sums: Array
    table: ScoreTable

    @property
    def nbytes(self) -> int:
        return int(self.sums.nbytes) + self.table.nbytes


@functools.cache
def grid_edges() -> Array:
    """The grid's ``GRID_CELLS + 1`` edges in p: 0, σ(−L + k·2L/(cells − 2)) ..., 1.

    Cell ``k`` holds the scores ``edges[k] <= p < edges[k + 1]`` (the last cell also 1).
    """
    inner = sigmoid(np.linspace(-GRID_LOGIT, GRID_LOGIT, GRID_CELLS - 1))
    edges = np.r_[0.0, inner, 1.0]
    edges.setflags(write=False)
    return edges


def cell_upper_edges(table: ScoreTable) -> Array:
    """The largest score an entry may stand for: itself when exact, its cell's upper edge
    when binned."""
    if not table.binned:
        return table.scores
    edges = grid_edges()
    return edges[np.minimum(np.searchsorted(edges, table.scores, side="right"), GRID_CELLS)]


def _cells(scores: Array) -> NDArray[np.intp]:
    edges = grid_edges()
    return np.minimum(np.searchsorted(edges, scores, side="right") - 1, GRID_CELLS - 1)


def _group(keys: Array, columns: list[Array], *, binned: bool) -> ScoreTable:
    """Sum ``columns`` over equal ``keys`` (scores, or grid cell indices when binned)."""
    if binned:
        cells = _cells(keys)
        used, inv = np.unique(cells, return_inverse=True)
        scores = grid_edges()[used]
    else:
        scores, inv = np.unique(keys, return_inverse=True)
    inv = inv.ravel()
    pos, neg, rows, psum = (
        np.bincount(inv, weights=c, minlength=scores.size).astype(np.float64) for c in columns
    )
    return ScoreTable(scores.astype(np.float64), pos, neg, rows, psum, binned)


def _capped(table: ScoreTable, cap: int) -> ScoreTable:
    """``table``, binned on the grid if it has more than ``cap`` entries."""
    if table.binned or table.scores.size <= cap:
        return table
    return _group(table.scores, list(table[1:5]), binned=True)


def table_block(
    y: Any, p: Any, w: Any | None, *, cap: int = MAX_DISTINCT, checked: bool = False
) -> ScoreTable:
    """The score table of one block. Rows of weight 0 are dropped first, as scikit-learn's
    ``roc_curve`` does."""
    yf, pf, wf = (y, p, w) if checked else check_block(y, p, w, probabilities=True)
    if wf is not None:
        keep = wf != 0.0
        yf, pf, wf = yf[keep], pf[keep], wf[keep]
    ww = np.ones_like(yf) if wf is None else wf
    p64 = pf.astype(np.float64)
    columns = [ww * yf, ww * (1.0 - yf), np.ones_like(yf), ww * p64]
    return _capped(_group(p64, columns, binned=False), cap)


def merge_tables(*tables: ScoreTable, cap: int = MAX_DISTINCT) -> ScoreTable:
    """Union of the scores, sums of equal scores (or cells) added; binned past ``cap``."""
    if len(tables) == 1:
        return tables[0]
    binned = any(t.binned for t in tables)
    if binned:  # bin the exact ones first: a cell's sums do not depend on the others
        tables = tuple(_capped(t, 0) for t in tables)
    keys = np.concatenate([t.scores for t in tables])
    columns = [np.concatenate([t[j] for t in tables]) for j in range(1, 5)]
    return _capped(_group(keys, columns, binned=binned), cap)


def row_log_loss(y: Array, p: NDArray[np.floating[Any]]) -> Array:
    """Per-row −[y log p + (1 − y) log(1 − p)], p clipped to [eps, 1 − eps] as scikit-learn does.

    The log loss from probabilities, written once: :func:`logloss.metrics.log_loss`,
    :func:`~logloss.metrics.evaluate` and the report's picture of the two branches use it.
    ``eps`` is the machine epsilon of ``p``'s dtype; ``1 − p`` and the clipping are done in
    that dtype, the logarithms in float64. From margins z use :func:`logloss.loss.row_loss`
    (no clipping, the training loss).
    """
    eps = np.finfo(p.dtype).eps
    one = p.dtype.type(1)
    pc = np.clip(p, eps, one - eps).astype(np.float64)
    qc = np.clip(one - p, eps, one - eps).astype(np.float64)
    return -(xlogy(y, pc) + xlogy(1.0 - y, qc))


def margin_block(y: Any, z: Any, w: Any | None) -> Array:
    """Sums of one block for the margin loss: [n, Σw, Σw·(log1pexp(z) − y·z)]."""
    yf, zf, wf = check_block(y, z, w, probabilities=False)
    loss = row_loss(yf, zf)
    ww = np.ones_like(yf) if wf is None else wf
    return np.array([yf.shape[0], ww.sum(), ww @ loss], dtype=np.float64)


def stats_block(
    y: Any, p: Any, w: Any | None, *, threshold: float = 0.5, checked: bool = False
) -> Array:
    """Sums of one block: [n, Σw, Σw·loss, Σw·correct, tn, fp, fn, tp, Σw·(p − y)²]."""
    yf, pf, wf = (y, p, w) if checked else check_block(y, p, w, probabilities=True)
    out = np.zeros(N_STATS, dtype=np.float64)
    out[N] = yf.shape[0]
    ww = np.ones_like(yf) if wf is None else wf
    pred = pf > threshold
    pos = yf == 1.0
    out[W] = ww.sum()
    out[LOSS] = ww @ row_log_loss(yf, pf)
    out[TP] = ww[pred & pos].sum()
    out[FP] = ww[pred & ~pos].sum()
    out[FN] = ww[~pred & pos].sum()
    out[TN] = ww[~pred & ~pos].sum()
    out[CORRECT] = out[TP] + out[TN]
    out[BRIER] = ww @ (pf.astype(np.float64) - yf) ** 2
    return out


def state_block(
    y: Any, p: Any, w: Any | None, *, threshold: float = 0.5, cap: int = MAX_DISTINCT
) -> MetricsState:
    """One read of a block: its sums and its score table."""
    yf, pf, wf = check_block(y, p, w, probabilities=True)
    return MetricsState(
        stats_block(yf, pf, wf, threshold=threshold, checked=True),
        table_block(yf, pf, wf, cap=cap, checked=True),
    )


def merge_states(*states: MetricsState, cap: int = MAX_DISTINCT) -> MetricsState:
    """Sums added, tables merged (:func:`merge_tables`)."""
    if len(states) == 1:
        return states[0]
    sums = states[0].sums.copy()
    for s in states[1:]:
        sums += s.sums
    return MetricsState(sums, merge_tables(*(s.table for s in states), cap=cap))
