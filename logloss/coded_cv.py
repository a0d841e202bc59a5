"""The cross-validation kernel of coded blocks: M models' sums over one
:class:`~logloss.coded.CodedMatrix` block, each on its fold's training rows (pure NumPy).

Conventions
-----------
- ``W`` is (M, p + 1): model m's coefficients then its intercept, one row per model (each
  row contiguous: its gathers read one vector). ``model_fold`` (M,): each model's fold,
  as :class:`~logloss.loss.Folds` numbers them.
- A model's training sums are :func:`~logloss.coded.coded_sums`' over the rows outside its
  fold (explicit splits: over its training rows, weighted by their sample weights); its
  held-out sums are the loss sum and the number of the rows inside it (unweighted, as
  scikit-learn's scorer).
- Per model the cost of one ordinary coded pass: one gather set for its margins over the
  block's rows (:func:`~logloss.coded.coded_margin`), one bincount set for its gradient
  (:mod:`logloss.coded`'s scatter-adds, the held-out rows weighted 0), two more for the
  models that ask for the Hessian's diagonal. No dense indicator is formed; the margins and
  residuals of one model at a time are held (a few n-vectors, whatever M). What the models
  share is everything else a pass costs: one task per worker, the block read (from memory
  or a worker's disk), the fold of each row, the labels and weights as float64.
- The models that ask for the full Hessian (narrow data only: see
  :func:`~logloss.coded.hessian_fits`) get it from :func:`~logloss.coded.coded_sums` with
  their training rows' weights (densified a slice of rows at a time).

The codes are read only by :mod:`logloss.coded`'s functions: this module never looks
inside a block.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from .coded import CodedMatrix, coded_margin, coded_sums, diag_pack_size
from .coded import _scatter as scatter  # Xᵀr by bincounts: coded.py's own kernel
from .coded import _scatter_diag as scatter_diag
from .loss import Folds, hashed_folds, pack_size, softplus_and_sigma

__all__ = ["CodedLayout", "coded_cv_sums", "unpack_coded_models"]

Array = NDArray[np.float64]


class CodedLayout(NamedTuple):
    """Where each part of :func:`coded_cv_sums`' packed vector lies, for M models of p
    features: [training (M, 2 + q)] [diagonals (len(diag), 2q)] [held-out (M, 2)]
    [Hessians (len(hess), q²)], q = p + 1."""

    train: slice
    diag: slice
    held: slice
    hess: slice

    @classmethod
    def of(cls, p: int, n_models: int, n_diag: int, n_hess: int) -> CodedLayout:
        q = p + 1
        a = n_models * (2 + q)
        b = a + n_diag * 2 * q
        c = b + 2 * n_models
        return cls(slice(0, a), slice(a, b), slice(b, c), slice(c, c + n_hess * q * q))

    @property
    def size(self) -> int:
        return int(self.hess.stop)


def coded_cv_sums(
    X: CodedMatrix,
    y: NDArray[np.floating],
    s: NDArray[np.floating] | None,
    offset: int,
    W: Array,
    model_fold: NDArray[np.intp],
    diag_models: NDArray[np.intp],
    hess_models: NDArray[np.intp],
    folds: Folds,
) -> Array:
    """The sums of M models over one coded block (rows offset .. offset + n − 1 of the
    data), packed as :class:`CodedLayout` says (blocks add with ``+``; split per model by
    :func:`unpack_coded_models`).

    ``diag_models`` / ``hess_models``: the positions (rows of ``W``) of the models that also
    need the Hessian's diagonal and intercept column (:func:`~logloss.coded.coded_sums`'
    ``diag``) / the full Hessian."""
    n, p = X.shape
    M, q = W.shape
    if q != p + 1:
        raise ValueError(f"W must be (models, {p + 1}); got {W.shape}")
    lay = CodedLayout.of(p, M, len(diag_models), len(hess_models))
    out = np.zeros(lay.size)
    if n == 0:
        return out
    train = out[lay.train].reshape(M, 2 + q)
    diags = out[lay.diag].reshape(len(diag_models), 2, q)
    held = out[lay.held].reshape(M, 2)
    hess = out[lay.hess].reshape(len(hess_models), q * q)
    where_diag = {int(m): i for i, m in enumerate(diag_models)}
    where_hess = {int(m): i for i, m in enumerate(hess_models)}
    ys = np.asarray(y, dtype=np.float64)
    ss = None if s is None else np.asarray(s, dtype=np.float64)
    masks = _FoldMasks(folds, offset, n, ss)
    z_y, e, t, r = (np.empty(n) for _ in range(4))
    for m in range(M):
        f = int(model_fold[m])
        a, te = masks.train(f), masks.held(f)
        z = coded_margin(X, np.ascontiguousarray(W[m, :p]), float(W[m, p]))
        softplus_and_sigma(z, e, t, r)
        np.multiply(ys, z, out=z_y)
        t -= z_y  # the row losses log(1 + e^z) − y·z
        held[m] += (float(te @ t), masks.held_rows(f))
        train[m, 0] += float(a @ t)
        train[m, 1] += masks.weight(f)
        if m in where_diag:
            dvec = r * (1.0 - r)
            dvec *= a
        r -= ys
        r *= a  # the residuals σ(z) − y, times the training weights (0 when held out)
        scatter(X, r, train[m, 2 : p + 2])
        train[m, p + 2] += float(np.sum(r))
        if m in where_diag:
            hd, hc = diags[where_diag[m]]
            scatter_diag(X, dvec, hd[:p])
            hd[p] += float(np.sum(dvec))
            scatter(X, dvec, hc[:p])
            hc[p] += float(np.sum(dvec))
        if m in where_hess:
            full = coded_sums(X, ys, W[m], a, hessian=True)
            hess[where_hess[m]] += full[2 + q :]
    return out


class _FoldMasks:
    """Each fold's training weights (0 on the rows it holds out) and held-out indicator over
    one block, computed once per fold and shared by the fold's models."""

    def __init__(self, folds: Folds, offset: int, n: int, s: Array | None) -> None:
        self.s = s
        self.folds = folds
        self._fold: NDArray[np.intp] | None = None
        self._tr: Array | None = None
        self._te: Array | None = None
        if folds.explicit:
            self._tr, self._te = folds.masks(offset, n)
        else:
            self._fold = hashed_folds(np.arange(offset, offset + n, dtype=np.uint64), folds.n_folds)
        self._train: dict[int, Array] = {}
        self._held: dict[int, Array] = {}

    def held(self, f: int) -> Array:
        if f not in self._held:
            if self._te is not None:
                self._held[f] = np.ascontiguousarray(self._te[:, f])
            else:
                assert self._fold is not None
                self._held[f] = (self._fold == f).astype(np.float64)
        return self._held[f]

    def train(self, f: int) -> Array:
        if f not in self._train:
            if self._tr is not None:
                a = np.ascontiguousarray(self._tr[:, f])
            else:
                a = 1.0 - self.held(f)
            self._train[f] = a if self.s is None else a * self.s
        return self._train[f]

    def weight(self, f: int) -> float:
        return float(np.sum(self.train(f)))

    def held_rows(self, f: int) -> float:
        return float(np.sum(self.held(f)))


def unpack_coded_models(
    packed: Array,
    p: int,
    n_models: int,
    diag_models: NDArray[np.intp],
    hess_models: NDArray[np.intp],
) -> list[tuple[Array, float, float]]:
    """Split :func:`coded_cv_sums`' packed vector (added over blocks) per model: its
    training sums in :func:`~logloss.coded.coded_sums`' layout (with ``diag`` for the models
    of ``diag_models``, :func:`~logloss.loss.block_sums`' with the Hessian for those of
    ``hess_models``), its held-out loss sum and its held-out rows."""
    q = p + 1
    lay = CodedLayout.of(p, n_models, len(diag_models), len(hess_models))
    train = packed[lay.train].reshape(n_models, 2 + q)
    diags = packed[lay.diag].reshape(len(diag_models), 2 * q)
    held = packed[lay.held].reshape(n_models, 2)
    hess = packed[lay.hess].reshape(len(hess_models), q * q)
    where_diag = {int(m): i for i, m in enumerate(diag_models)}
    where_hess = {int(m): i for i, m in enumerate(hess_models)}
    out = []
    for m in range(n_models):
        if m in where_hess:
            vec = np.zeros(pack_size(p, True))
            vec[2 + q :] = hess[where_hess[m]]
        elif m in where_diag:
            vec = np.zeros(diag_pack_size(p))
            vec[2 + q :] = diags[where_diag[m]]
        else:
            vec = np.zeros(2 + q)
        vec[: 2 + q] = train[m]
        out.append((vec, float(held[m, 0]), float(held[m, 1])))
    return out
