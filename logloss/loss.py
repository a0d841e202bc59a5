"""Pure NumPy log loss: stable sigmoid, per-row loss and fused per-block sums.

Conventions
-----------
- ``X`` is a 2-D block of shape (n, p), float64 or float32, rows are samples.
- ``y`` holds labels already mapped to {0, 1}, shape (n,).
- ``w`` is the full parameter vector of length ``p + 1``: ``w[:p]`` are the feature
  coefficients and ``w[p]`` is the intercept (0 and unused when the model has none).
- The margin is ``z = X @ w[:p] + w[p]``; ŷ = σ(z).
- The loss of a row is ``log1pexp(z) - y * z``, which equals
  ``-(y log ŷ + (1 - y) log(1 - ŷ))`` without ever forming log(0).
- All sums are accumulated in float64 whatever the dtype of ``X``.

- K models at once (cross-validation): :func:`cv_block_sums` gives, in one pass over a
  block, every model's :func:`block_sums` over its training rows and its held-out
  [loss, rows]; its folds are :class:`Folds` (a row's fold is :func:`hashed_folds` of its
  global position, or explicit index splits). Both kernels compute the loss and σ of a
  margin with :func:`softplus_and_sigma`.

Nothing here imports Dask or Prefect: the engine maps :func:`block_sums` (and
:func:`cv_block_sums`) over blocks and adds the packed results; the solvers see only the
reduced totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

__all__ = [
    "BlockSums",
    "Folds",
    "block_moments",
    "block_sums",
    "combine_moments",
    "cv_block_sums",
    "hashed_folds",
    "log1pexp",
    "pack_size",
    "row_loss",
    "sigmoid",
    "sigmoid_prime",
    "slice_rows",
    "softplus_and_sigma",
    "unpack",
    "unpack_models",
]

Array = NDArray[np.float64]


def sigmoid(z: ArrayLike) -> Array:
    """σ(z) = 1 / (1 + e^(−z)), evaluated without overflow for any finite z."""
    return np.asarray(expit(np.asarray(z, dtype=np.float64)), dtype=np.float64)


def sigmoid_prime(z: ArrayLike) -> Array:
    """σ′(z) = σ(z)(1 − σ(z))."""
    s = sigmoid(z)
    return s * (1.0 - s)


def log1pexp(z: ArrayLike) -> Array:
    """log(1 + e^z) without overflow: ``np.logaddexp(0, z)``."""
    return np.logaddexp(0.0, np.asarray(z, dtype=np.float64))


def row_loss(y: ArrayLike, z: ArrayLike) -> Array:
    """Per-row log loss −[y log σ(z) + (1 − y) log(1 − σ(z))] = log1pexp(z) − y·z."""
    z = np.asarray(z, dtype=np.float64)
    return log1pexp(z) - np.asarray(y, dtype=np.float64) * z


class BlockSums(NamedTuple):
    """The reduced sums of one block (or of all blocks after the reduction).

    ``grad`` has length p + 1 (the last entry is Σ s·(ŷ − y), the intercept's share);
    ``hess`` is the (p + 1) × (p + 1) matrix Σ s·ŷ(1 − ŷ)·x̃x̃ᵀ with x̃ = (x, 1), or None.
    ``s`` is the sample weight (1 when none is given).
    """

    loss: float
    grad: Array
    weight: float
    hess: Array | None


def pack_size(p: int, hessian: bool) -> int:
    """Length of the packed float64 vector that :func:`block_sums` returns for p features."""
    return 2 + (p + 1) + ((p + 1) ** 2 if hessian else 0)


def unpack(packed: Array, p: int) -> BlockSums:
    """Split a packed [loss, weight, grad (p + 1), hess ((p + 1)²)?] into :class:`BlockSums`."""
    grad = packed[2 : p + 3]
    hess = packed[p + 3 :].reshape(p + 1, p + 1) if packed.size > p + 3 else None
    return BlockSums(float(packed[0]), grad, float(packed[1]), hess)


#: Bytes of a row slice that :func:`block_sums` processes at a time (X slice, z, ŷ, r stay in
#: cache between the two matrix-vector products). Measured on 2 M × 20 and 200 k × 500 blocks:
#: 4–16 k rows per slice (8 k used) beat one whole-block pass by 10–25 %.
SLICE_BYTES = 1 << 20
_MIN_SLICE_ROWS = 1024
_MAX_SLICE_ROWS = 8192


def slice_rows(p: int) -> int:
    """Rows per cache-sized slice for ``p`` features (between 1 024 and 8 192)."""
    return int(min(_MAX_SLICE_ROWS, max(_MIN_SLICE_ROWS, SLICE_BYTES // (8 * max(p, 1)))))


def softplus_and_sigma(z: Array, e: Array, t: Array, r: Array) -> None:
    """t = log(1 + e^z) and r = σ(z), elementwise, into the given buffers (``e`` is scratch;
    any shape, all four alike): the one place the loss and σ of a margin are computed.

    One exp serves both: e = exp(−|z|) never overflows; log(1 + e^z) = max(z, 0) +
    log1p(e), and σ(z) = 1/(1 + e) for z ≥ 0, e/(1 + e) for z < 0 (exact in relative terms
    on both sides, and never 0/0). The numerator, 1 or e, is max(sign(z), e) (e ≤ 1, and
    e = 1 at z = 0): no mask, whose branches on random signs cost twice the exp."""
    np.abs(z, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)
    np.log1p(e, out=t)
    t += np.maximum(z, 0.0, out=r)
    np.sign(z, out=r)
    np.maximum(r, e, out=r)
    np.add(e, 1.0, out=e)
    r /= e


def block_sums(
    X: NDArray[np.floating],
    y: NDArray[np.floating],
    w: Array,
    sample_weight: NDArray[np.floating] | None = None,
    *,
    hessian: bool = False,
    rows_per_slice: int | None = None,
) -> Array:
    """One fused pass over a block: Σ loss, Σ weight, Σ (ŷ − y)·x̃ and optionally Σ ŷ(1 − ŷ)·x̃x̃ᵀ.

    Returns a packed float64 vector (see :func:`unpack`) so that the results of many
    blocks add with ``+``.

    The block is walked in row slices of ``rows_per_slice`` rows (default
    :func:`slice_rows`): z, ŷ and Xᵀ(ŷ − y) of a slice are computed while the slice is in
    cache, so X is read from memory once. float32 slices are converted into a float64
    scratch buffer (cache-sized, no copy of the block) and everything accumulates in float64.
    """
    n, p = X.shape
    out = np.zeros(pack_size(p, hessian), dtype=np.float64)
    if n == 0:
        return out
    m = rows_per_slice or slice_rows(p)
    m = min(m, n)
    coef = np.ascontiguousarray(w[:p], dtype=np.float64)
    b = float(w[p])
    convert = X.dtype != np.float64
    xbuf = np.empty((m, p), dtype=np.float64) if convert else None
    zbuf = np.empty(m)
    ebuf = np.empty(m)
    tbuf = np.empty(m)
    rbuf = np.empty(m)
    grad = out[2 : p + 2]
    loss = 0.0
    wsum = 0.0
    gsum = 0.0
    H = out[p + 3 :].reshape(p + 1, p + 1) if hessian else None
    for a in range(0, n, m):
        k = min(m, n - a)
        Xs = X[a : a + k]
        if xbuf is not None:
            np.copyto(xbuf[:k], Xs)
            Xs = xbuf[:k]
        ys = y[a : a + k]
        if ys.dtype != np.float64:
            ys = ys.astype(np.float64)
        zs = np.matmul(Xs, coef, out=zbuf[:k])
        zs += b
        t, r = tbuf[:k], rbuf[:k]
        softplus_and_sigma(zs, ebuf[:k], t, r)
        if hessian:
            dvec = r * (1.0 - r)
        r -= ys
        if sample_weight is None:
            loss += float(np.sum(t)) - float(ys @ zs)
            wsum += k
        else:
            ss = np.asarray(sample_weight[a : a + k], dtype=np.float64)
            loss += float(ss @ t) - float((ss * ys) @ zs)
            wsum += float(np.sum(ss))
            r *= ss
            if hessian:
                dvec *= ss
        grad += r @ Xs
        gsum += float(np.sum(r))
        if H is not None:
            Xd = Xs * dvec[:, None]
            H[:p, :p] += Xd.T @ Xs
            col = Xd.sum(axis=0)
            H[:p, p] += col
            H[p, p] += float(dvec.sum())
    out[0] = loss
    out[1] = wsum
    out[p + 2] = gsum
    if H is not None:
        H[p, :p] = H[:p, p]
    return out


def block_moments(X: NDArray[np.floating], *_: object) -> Array:
    """Packed [n, column means (p), column sums of squared deviations (p)] of a block."""
    n, p = X.shape
    out = np.zeros(1 + 2 * p)
    if n:
        Xf = np.asarray(X, dtype=np.float64)
        mean = Xf.mean(axis=0)
        out[0] = n
        out[1 : p + 1] = mean
        with np.errstate(over="ignore", invalid="ignore"):  # inf for values near 1e308
            for a in range(0, n, MOMENT_ROWS):  # in cache: no temporary the size of X
                dev = Xf[a : a + MOMENT_ROWS] - mean
                out[p + 1 :] += np.einsum("ij,ij->j", dev, dev)
    return out


#: Rows of a block whose deviations :func:`block_moments` squares at a time.
MOMENT_ROWS = 4096


def combine_moments(*parts: Array) -> Array:
    """Merge :func:`block_moments` results (Chan et al.'s pairwise update, stable)."""
    total = parts[0].copy()
    p = (total.size - 1) // 2
    for part in parts[1:]:
        na, nb = total[0], part[0]
        if nb == 0:
            continue
        n = na + nb
        delta = part[1 : p + 1] - total[1 : p + 1]
        total[1 : p + 1] += delta * (nb / n)
        total[p + 1 :] += part[p + 1 :] + delta**2 * (na * nb / n)
        total[0] = n
    return total


# ---------------------------------------------------------------- K models in one pass
# The kernel of cross-validation (logloss.cv): K models, one per (fold, C, l1_ratio), whose
# sums are :func:`block_sums`' for each model's training rows, plus each model's held-out
# [loss, rows]. The margins of a row slice for all models are one product X̃·W.

#: Rows per slice × models: the K-wide buffers of a slice (margins, losses, residuals)
#: stay in cache (2^16 float64 = 512 KiB each; measured: 2^16 beats 2^17 and 2^18).
SLICE_ELEMENTS = 2**16


def hashed_folds(positions: NDArray[np.integer], n_folds: int) -> NDArray[np.intp]:
    """The fold of each row from its global position: splitmix64(position) mod n_folds.

    A fixed mixing function, so a row's fold depends on where it is in the data and on
    nothing else (not on block sizes, files per block or the number of workers)."""
    with np.errstate(over="ignore"):
        x = positions.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x % np.uint64(n_folds)).astype(np.intp)


class Folds:
    """Which rows each fold trains on and holds out.

    ``masks(offset, n)`` gives, for the rows offset .. offset + n − 1 of the data, two
    float64 arrays of shape (n, n_folds): 1 where the row is in the fold's training part
    (resp. its held-out part), else 0.
    """

    def __init__(
        self, n_folds: int, splits: Sequence[tuple[np.ndarray, np.ndarray]] | None = None
    ) -> None:
        self.n_folds = n_folds
        self._train: Array | None = None
        self._test: Array | None = None
        if splits is not None:
            n = max(int(max(np.max(tr, initial=-1), np.max(te, initial=-1))) for tr, te in splits)
            self._train = np.zeros((n + 1, n_folds))
            self._test = np.zeros((n + 1, n_folds))
            for f, (tr, te) in enumerate(splits):
                self._train[tr, f] = 1.0
                self._test[te, f] = 1.0

    @property
    def explicit(self) -> bool:
        return self._train is not None

    def masks(self, offset: int, n: int) -> tuple[Array, Array]:
        if self._train is not None and self._test is not None:
            tr = np.zeros((n, self.n_folds))
            te = np.zeros((n, self.n_folds))
            stop = min(offset + n, len(self._train))
            if stop > offset:
                tr[: stop - offset] = self._train[offset:stop]
                te[: stop - offset] = self._test[offset:stop]
            return tr, te
        fold = hashed_folds(np.arange(offset, offset + n, dtype=np.uint64), self.n_folds)
        te = np.zeros((n, self.n_folds))
        te[np.arange(n), fold] = 1.0
        return 1.0 - te, te


def cv_block_sums(
    X: NDArray[np.floating],
    y: NDArray[np.floating],
    s: NDArray[np.floating] | None,
    offset: int,
    W: Array,
    model_fold: NDArray[np.intp],
    hess_models: NDArray[np.intp],
    folds: Folds,
) -> Array:
    """The sums of K models over one block (rows offset .. offset + n − 1 of the data).

    ``W`` is (p + 1, K): each model's coefficients then intercept; ``model_fold`` (K,) its
    fold; ``hess_models`` the models that also need their Hessian. Returns one packed
    float64 vector (blocks add with ``+``): for each model its training [loss, weight,
    gradient (p + 1)], then its held-out [loss, rows] (unweighted), then the Hessians of
    ``hess_models`` ((p + 1)² each), as :func:`block_sums` lays them out (split per model
    by :func:`unpack_models`).

    The block is walked in row slices that stay in cache. With hashed folds (a partition
    of the rows) each slice's rows are sorted by fold, so a model's training and held-out
    rows are contiguous ranges and the K-wide work per row is the margins, the log loss and
    σ; explicit index splits (which may overlap or leave rows out) are masked instead.
    """
    n, p = X.shape
    K = W.shape[1]
    q = p + 1
    train_part = K * (2 + q)
    out = np.zeros(train_part + 2 * K + len(hess_models) * q * q)
    if n == 0:
        return out
    acc = _Sums(
        out[:train_part].reshape(K, 2 + q),
        out[train_part : train_part + 2 * K].reshape(K, 2),
        out[train_part + 2 * K :].reshape(len(hess_models), q, q),
    )
    # models are in fold order (the grid's outer loop): fold f's models are the columns
    # bounds[f] .. bounds[f + 1] of W
    bounds = np.searchsorted(model_fold, np.arange(folds.n_folds + 1))
    m = int(min(n, 8192, max(256, SLICE_ELEMENTS // K)))
    buf = _Buffers(m, q, K, len(hess_models))
    for a in range(0, n, m):
        k = min(m, n - a)
        Xt, ys, ss, cuts = buf.rows(X, y, s, a, k, offset, folds)
        Z, E, L, R = buf.Z[:k], buf.E[:k], buf.L[:k], buf.R[:k]
        np.matmul(Xt, W, out=Z)  # margins; the last column of Xt is 1 (the intercept)
        softplus_and_sigma(Z, E, L, R)
        if len(hess_models):
            _hessians(acc, Xt, ss, R, folds, offset + a, model_fold, hess_models, cuts, buf)
        Z *= ys[:, None]
        L -= Z  # the row losses log(1 + e^z) − y·z
        R -= ys[:, None]  # the residuals σ(z) − y
        if cuts is None:
            tr, te = folds.masks(offset + a, k)
            _masked_sums(acc, Xt, ss, L, R, tr[:, model_fold], te[:, model_fold])
        else:
            _partition_sums(acc, Xt, ss, L, R, cuts, bounds)
    return out


class _Sums(NamedTuple):
    train: Array  # (K, 2 + q): loss, weight, gradient
    held: Array  # (K, 2): loss, rows
    H: Array  # (len(hess_models), q, q)


class _Buffers:
    """The scratch arrays of one block's slices, allocated once (a fresh array of a few
    hundred KiB per operation would be mapped and zeroed by the OS every time: 3x slower)."""

    def __init__(self, m: int, q: int, K: int, n_hess: int) -> None:
        self.Xt = np.empty((m, q))
        self.Xt[:, q - 1] = 1.0
        self.Z, self.E, self.L, self.R = (np.empty((m, K)) for _ in range(4))
        self.pairs = np.empty((m, q * (q + 1) // 2)) if n_hess else None
        self.D = np.empty((m, n_hess)) if n_hess else None

    def rows(
        self,
        X: NDArray[np.floating],
        y: NDArray[np.floating],
        s: NDArray[np.floating] | None,
        a: int,
        k: int,
        offset: int,
        folds: Folds,
    ) -> tuple[Array, Array, Array | None, NDArray[np.intp] | None]:
        """Rows a .. a + k of the block as float64 (x̃ = x, 1), labels, weights; with
        hashed folds sorted by fold, and the fold boundaries ``cuts``."""
        p = X.shape[1]
        Xt = self.Xt[:k]
        ys = np.asarray(y[a : a + k], dtype=np.float64)
        ss = None if s is None else np.asarray(s[a : a + k], dtype=np.float64)
        if folds.explicit:
            Xt[:, :p] = X[a : a + k]
            return Xt, ys, ss, None
        fold = hashed_folds(np.arange(offset + a, offset + a + k, dtype=np.uint64), folds.n_folds)
        order = np.argsort(fold, kind="stable")
        Xt[:, :p] = X[a : a + k][order]
        cuts = np.concatenate([[0], np.cumsum(np.bincount(fold, minlength=folds.n_folds))])
        return Xt, ys[order], None if ss is None else ss[order], cuts


def _partition_sums(
    acc: _Sums,
    Xs: Array,
    ss: Array | None,
    L: Array,
    R: Array,
    cuts: NDArray[np.intp],
    bounds: NDArray[np.intp],
) -> None:
    """Training sums over the rows outside each model's fold, held-out sums (unweighted)
    over the rows inside it. Rows ``cuts[f]:cuts[f + 1]`` are fold f's, models
    ``bounds[f]:bounds[f + 1]`` hold it out, so a model's training rows are two contiguous
    ranges: each sum is taken over the rows it covers (no "all rows minus the fold", whose
    cancellation would blur the objective near the optimum). ``Xs`` is x̃ = (x, 1)."""
    k = len(Xs)
    sw = np.ones(k) if ss is None else ss
    Xw = Xs if ss is None else Xs * ss[:, None]
    for f in range(len(bounds) - 1):
        r0, r1, m0, m1 = cuts[f], cuts[f + 1], bounds[f], bounds[f + 1]
        if m1 == m0:
            continue
        acc.held[m0:m1, 0] += L[r0:r1, m0:m1].sum(axis=0)
        acc.held[m0:m1, 1] += r1 - r0
        for a, b in ((0, r0), (r1, k)):
            if b > a:
                acc.train[m0:m1, 0] += sw[a:b] @ L[a:b, m0:m1]
                acc.train[m0:m1, 1] += sw[a:b].sum()
                acc.train[m0:m1, 2:] += (Xw[a:b].T @ R[a:b, m0:m1]).T


def _masked_sums(
    acc: _Sums, Xs: Array, ss: Array | None, L: Array, R: Array, Tr: Array, Te: Array
) -> None:
    """Training and held-out sums of explicit splits: each row weighted by its masks
    (``Xs`` is x̃ = (x, 1))."""
    if ss is not None:
        Tr = Tr * ss[:, None]
    acc.train[:, 0] += np.einsum("ij,ij->j", L, Tr)
    acc.train[:, 1] += Tr.sum(axis=0)
    acc.held[:, 0] += np.einsum("ij,ij->j", L, Te)
    acc.held[:, 1] += Te.sum(axis=0)
    R *= Tr
    acc.train[:, 2:] += (Xs.T @ R).T


def _hessians(
    acc: _Sums,
    Xt: Array,
    ss: Array | None,
    P: Array,
    folds: Folds,
    start: int,
    model_fold: NDArray[np.intp],
    hess_models: NDArray[np.intp],
    cuts: NDArray[np.intp] | None,
    buf: _Buffers,
) -> None:
    """Σ over each model's training rows of s·σ(1 − σ)·x̃x̃ᵀ, for the models that asked
    (rows sorted by fold when ``cuts`` is given: fold f's rows are cuts[f]:cuts[f + 1]).

    All models in one matrix product: entry (a, b) of every Hessian is Σ_i x̃_ia x̃_ib d_ik,
    so the products x̃_a·x̃_b of each row (the upper triangle, q(q + 1)/2 columns) times
    the (rows × models) curvature weights D give every Hessian at once."""
    assert buf.pairs is not None and buf.D is not None
    k, q = Xt.shape
    D = buf.D[:k]
    np.take(P, hess_models, axis=1, out=D)
    D *= 1.0 - D
    if cuts is None:
        D *= folds.masks(start, k)[0][:, model_fold[hess_models]]
    else:
        for j, model in enumerate(hess_models):
            f = model_fold[model]
            D[cuts[f] : cuts[f + 1], j] = 0.0
    if ss is not None:
        D *= ss[:, None]
    a, b = np.triu_indices(q)
    pairs = buf.pairs[:k]
    np.multiply(Xt[:, a], Xt[:, b], out=pairs)
    upper = pairs.T @ D  # (q(q + 1)/2, models)
    acc.H[:, a, b] += upper.T
    off = a != b
    acc.H[:, b[off], a[off]] += upper[off].T


def unpack_models(
    packed: Array, p: int, n_models: int, hess_models: NDArray[np.intp]
) -> list[tuple[Array, float, float]]:
    """Split :func:`cv_block_sums`' packed vector (added over blocks) per model: for each of
    the ``n_models`` models, its training sums in :func:`block_sums`' layout (with its
    Hessian when it is in ``hess_models``), its held-out loss sum and its held-out rows."""
    K, q = n_models, p + 1
    train = packed[: K * (2 + q)].reshape(K, 2 + q)
    held = packed[K * (2 + q) : K * (2 + q) + 2 * K].reshape(K, 2)
    H = packed[K * (2 + q) + 2 * K :].reshape(len(hess_models), q, q)
    where = {int(j): i for i, j in enumerate(hess_models)}
    out = []
    for j in range(K):
        with_h = j in where
        vec = np.zeros(pack_size(p, with_h))
        vec[: 2 + q] = train[j]
        if with_h:
            vec[2 + q :] = H[where[j]].ravel()
        out.append((vec, float(held[j, 0]), float(held[j, 1])))
    return out
