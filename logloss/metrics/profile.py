"""A dataset's profile for the data checks between runs, in passes over its (persisted)
blocks: per column the sum of X (the rate of each 0/1 indicator: missing values, levels),
the label rate, a row sample of the numeric columns (their decile edges) and, given edges,
the rows in each bin; and the population stability index of two binned summaries.

Conventions: ``X`` has the rows of ``y``, in the same row blocks; ``cols`` are the indices
of the numeric columns binned; a bin ``i`` of edges ``e`` (sorted, finite) holds the values
``e[i-1] <= x < e[i]`` (``e[-1]``: ``+inf``, bin 0 from ``-inf``), as NumPy's
``histogram`` with the edges ``[-inf, *e, inf]``. Counts are rows, without weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import numpy as np
from numpy.typing import NDArray

from ..blockdata import tree_reduce
from ..coded import column_sums, is_coded, sums_and_moments
from ..loss import combine_moments

__all__ = ["PSI_FLOOR", "Profile", "bin_counts", "decile_edges", "profile_pass", "psi"]

#: The smallest share a bin is given in :func:`psi` (an empty bin would make it infinite).
PSI_FLOOR = 1e-4
SAMPLE_ROWS = 20_000

Array = NDArray[np.float64]


@dataclass
class Profile:
    """What a pass found: ``rows``, ``positives`` (rows of the positive label), ``sums``
    (of every column of X), ``sample`` (rows of the numeric columns, at most
    :data:`SAMPLE_ROWS`) and ``counts`` (per binned column, rows per bin; None: no edges)."""

    rows: int
    positives: int
    sums: Array
    sample: Array
    counts: list[NDArray[np.int64]] | None
    #: X's moments (:func:`~logloss.coded.any_moments` over all rows), when asked for
    moments: Array | None = None


def bin_counts(values: NDArray[Any], edges: NDArray[Any]) -> NDArray[np.int64]:
    """Rows of ``values`` in each of the ``len(edges) + 1`` bins (see the module's rule; a
    NaN falls in the last, as in ``searchsorted``): the rows below each edge, differenced.
    One comparison per edge and value over a contiguous copy: a binary search per value
    over a block's strided column had taken 6 times as long."""
    x = np.ascontiguousarray(values)
    below = [np.count_nonzero(x < v) for v in np.asarray(edges, dtype=np.float64)]
    cum = np.array([0, *below, x.size], dtype=np.int64)
    return cum[1:] - cum[:-1]


def decile_edges(sample: NDArray[Any], bins: int = 10) -> Array:
    """The distinct interior quantile edges of ``sample`` (at most ``bins - 1``)."""
    x = np.asarray(sample, dtype=np.float64)
    x = x[np.isfinite(x)]
    if not x.size:
        return np.empty(0)
    inner = np.quantile(x, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return np.unique(inner)


def psi(expected: Sequence[float] | NDArray[Any], actual: Sequence[float] | NDArray[Any]) -> float:
    """The population stability index Σ (a − e)·ln(a / e) of the bins' shares (counts
    normalised; each share at least :data:`PSI_FLOOR`). 0: the same distribution; by custom
    below 0.1 stable, above 0.2 a shift worth a look."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape or e.sum() <= 0 or a.sum() <= 0:
        return float("nan")
    p = np.maximum(e / e.sum(), PSI_FLOOR)
    q = np.maximum(a / a.sum(), PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def _block(
    X: Any,
    y: NDArray[Any] | None,
    *,
    positive: Any,
    cols: NDArray[np.intp],
    binned: NDArray[np.intp],
    take: int,
    seed: int,
    edges: list[Array] | None,
    sums: int | None = None,
    moments: bool = False,
) -> Profile:
    # the numeric columns come first: the dense part of a coded block
    found = None
    if moments:
        sums_, found = sums_and_moments(X, sums)
    else:
        sums_ = column_sums(X, sums)
    X = X.dense if is_coded(X) else np.asarray(X)
    n = X.shape[0]
    pos = 0 if y is None else int(np.count_nonzero(np.asarray(y) == positive))
    rows = np.empty(0, dtype=np.intp)
    if take:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=min(n, take), replace=False))
    sample = np.asarray(X[rows][:, cols], dtype=np.float64)
    counts = None
    if edges is not None:
        counts = [bin_counts(X[:, j], e) for j, e in zip(binned, edges, strict=True)]
    return Profile(n, pos, sums_, sample, counts, found)


def _merge(*parts: Profile) -> Profile:
    counts = None
    if parts[0].counts is not None:
        counts = [sum(cs) for cs in zip(*(p.counts or [] for p in parts), strict=True)]
    return Profile(
        sum(p.rows for p in parts),
        sum(p.positives for p in parts),
        np.sum([p.sums for p in parts], axis=0),
        np.concatenate([p.sample for p in parts]),
        counts,
    )


def profile_pass(
    X: Any,
    y: Any,
    *,
    positive: Any,
    cols: Sequence[int],
    binned: Sequence[int] = (),
    edges: list[Array] | None = None,
    sample: bool = True,
    seed: int = 0,
    sums: int | None = None,
    moments: bool = False,
) -> Profile:
    """One pass over the row blocks of ``X`` (and ``y``), NumPy or Dask: a
    :class:`Profile` with a row sample of the columns ``cols`` (when ``sample``) and, given
    ``edges`` (one array per column of ``binned``), the rows in their bins; the column sums
    of the first ``sums`` features (default all). With ``moments``, also X's moments, equal
    to the fit's moments pass over the same blocks (:func:`~logloss.coded.any_moments`
    combined in the same tree), which then need not be made."""
    idx = np.asarray(cols, dtype=np.intp)
    kw: dict[str, Any] = {"positive": positive, "cols": idx, "sums": sums, "moments": moments}
    kw["binned"] = np.asarray(binned, dtype=np.intp)
    if edges is not None and len(edges) != len(binned):
        raise ValueError(f"edges must be one array per binned column; got {len(edges)}")
    if not isinstance(X, da.Array):
        take = min(SAMPLE_ROWS, X.shape[0]) if sample else 0
        return _block(X, y, **kw, take=take, seed=seed, edges=edges)
    xs = X.to_delayed().ravel().tolist()
    ys = [None] * len(xs) if y is None else y.to_delayed().ravel().tolist()
    total = max(1, int(np.nansum(X.chunks[0])))
    parts = []
    for i, (xb, yb, n) in enumerate(zip(xs, ys, X.chunks[0], strict=True)):
        take = int(np.ceil(SAMPLE_ROWS * n / total)) if sample and n == n else 0
        parts.append(dask.delayed(_block)(xb, yb, **kw, take=take, seed=seed + i, edges=edges))
    merged = tree_reduce(parts, _merge, fan_in=8, name="logloss-profile")
    if not moments:
        (out,) = dask.compute(merged)
        return out
    each = [dask.delayed(_moments_of)(part) for part in parts]
    out, out.moments = dask.compute(merged, tree_reduce(each, combine_moments))
    return out


def _moments_of(part: Profile) -> Array | None:
    return part.moments
