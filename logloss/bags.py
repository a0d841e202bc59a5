"""Multi-valued columns (bags of tokens) as the ragged part of a coded block: :class:`Bags`
and its kernel (pure NumPy).

Conventions
-----------
- A block of n rows holds its bag features CSR-like: ``codes`` (int32, nnz) the absolute
  index in w of each entry, ``indptr`` (int64, n + 1) row i's entries at
  ``codes[indptr[i]:indptr[i + 1]]``, ``vals`` (float32, nnz, optional: absent means every
  value is 1) the entry's value. Within a row the entries are distinct indices (a vocabulary
  bag's repeated token counts once; a hashed bag's tokens in one bucket are summed into one
  entry, as ``FeatureHasher`` sums them), sorted by index.
- Every index lies in ``[lo, hi)``: one bincount over that range gives a pass's gradient
  (the bags' vocabulary features after the shared hashed block, which hashed bags use).
- Margins: ``z += bincount(rows, weights=vals · w[codes], minlength=n)``; gradients:
  ``g[lo:hi] += bincount(codes - lo, weights=vals · r[rows])``; the Hessian's diagonal the
  same with vals² and the weights s·ŷ(1−ŷ). A pass costs O(nnz + hi − lo).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


class Bags:
    """A block's bag entries (see the module's conventions). While a block is read its
    rows arrive a part at a time (:meth:`add`); :meth:`close` joins them."""

    __slots__ = ("codes", "indptr", "vals", "lo", "hi", "_rows", "_parts")

    def __init__(
        self,
        codes: NDArray[np.int32],
        indptr: NDArray[np.int64],
        lo: int,
        hi: int,
        vals: NDArray[np.float32] | None = None,
    ) -> None:
        self.codes = codes
        self.indptr = indptr
        self.vals = vals
        self.lo, self.hi = int(lo), int(hi)
        self._rows: NDArray[np.intp] | None = None
        self._parts: list[tuple[NDArray[np.int32], NDArray[np.float32] | None]] | None = None

    @classmethod
    def open(cls, n: int, lo: int, hi: int) -> Bags:
        """An empty ragged part of ``n`` rows to fill with :meth:`add`."""
        out = cls(np.zeros(0, np.int32), np.zeros(n + 1, np.int64), lo, hi)
        out._parts = []
        return out

    def add(
        self,
        start: int,
        counts: NDArray[np.int64],
        codes: NDArray[np.int32],
        vals: NDArray[np.float32] | None,
    ) -> None:
        """Rows ``start:start + len(counts)``: ``counts[i]`` entries each, in row order."""
        assert self._parts is not None, "add() after close()"
        self.indptr[start + 1 : start + 1 + len(counts)] = counts
        self._parts.append((codes, vals))

    def close(self) -> None:
        """Join the parts added (in row order) into ``codes``, ``indptr``, ``vals``."""
        parts, self._parts = self._parts, None
        if parts is None:
            return
        np.cumsum(self.indptr, out=self.indptr)
        self.codes = np.concatenate([c for c, _ in parts]) if parts else self.codes
        if any(v is not None for _, v in parts):
            self.vals = np.concatenate(
                [np.ones(len(c), np.float32) if v is None else v for c, v in parts]
            )

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    @property
    def nbytes(self) -> int:
        extra = 0 if self.vals is None else self.vals.nbytes
        return int(self.codes.nbytes + self.indptr.nbytes + extra)

    def rows(self) -> NDArray[np.intp]:
        """The row of each entry (computed once, then kept)."""
        if self._rows is None:
            self._rows = np.repeat(np.arange(self.n_rows), np.diff(self.indptr))
        return self._rows

    def __getitem__(self, key: Any) -> Bags:
        """Rows ``key``: a slice, an integer array (repeats allowed) or a boolean mask."""
        if isinstance(key, slice):
            start, stop, step = key.indices(self.n_rows)
            if step == 1:
                a, b = self.indptr[start], self.indptr[max(start, stop)]
                indptr = self.indptr[start : max(start, stop) + 1] - a
                vals = None if self.vals is None else self.vals[a:b]
                return Bags(self.codes[a:b], indptr, self.lo, self.hi, vals)
            key = np.arange(start, stop, step)
        idx = np.asarray(key)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = np.where(idx < 0, idx + self.n_rows, idx).astype(np.int64).ravel()
        counts = self.indptr[idx + 1] - self.indptr[idx]
        indptr = np.zeros(len(idx) + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        # entry positions: each chosen row's first entry, then consecutive
        at = np.repeat(self.indptr[idx] - indptr[:-1], counts) + np.arange(indptr[-1])
        vals = None if self.vals is None else self.vals[at]
        return Bags(self.codes[at], indptr, self.lo, self.hi, vals)

    def __reduce__(self) -> Any:
        return (Bags, (self.codes, self.indptr, self.lo, self.hi, self.vals))

    def _weights(self, per_row: Array, square: bool = False) -> Array:
        wts = per_row[self.rows()]
        if self.vals is not None:
            v = self.vals.astype(np.float64)
            wts = wts * (v * v if square else v)
        return np.asarray(wts, dtype=np.float64)


def bags_margin(bags: Bags, coef: Array, z: Array) -> None:
    """z += the bag features' part of X·coef (coef: p entries), in place."""
    if not len(bags.codes):
        return
    g = np.take(coef, bags.codes)
    if bags.vals is not None:
        g *= bags.vals
    z += np.bincount(bags.rows(), weights=g, minlength=len(z))


def bags_scatter(bags: Bags, weights: Array, out: Array, square: bool = False) -> None:
    """out[lo:hi] += Σ over rows of weights · val (val² with ``square``) at each index:
    the gradient (weights r), the Hessian's diagonal (s·ŷ(1−ŷ), ``square``), the counts."""
    if not len(bags.codes):
        return
    lo, hi = bags.lo, bags.hi
    wts = bags._weights(np.asarray(weights, dtype=np.float64), square)
    out[lo:hi] += np.bincount(bags.codes - lo, weights=wts, minlength=hi - lo)[: hi - lo]


def bags_moments(bags: Bags, s1: Array, s2: Array) -> None:
    """s1 += Σ over rows of each bag feature, s2 += Σ of its squares, in place."""
    ones = np.ones(bags.n_rows)
    bags_scatter(bags, ones, s1)
    bags_scatter(bags, ones, s2, square=True)


def bags_max_abs(bags: Bags, out: Array) -> None:
    """out[j] = max(out[j], max |x_j|) over the bag entries, in place."""
    v = np.ones(len(bags.codes)) if bags.vals is None else np.abs(bags.vals).astype(np.float64)
    np.maximum.at(out, bags.codes, v)


def bags_dense(bags: Bags, out: NDArray[np.floating]) -> None:
    """Add the bag entries into the dense (n, p) ``out`` (for tests and small p)."""
    v = 1.0 if bags.vals is None else bags.vals
    np.add.at(out, (bags.rows(), bags.codes), v)


def bags_concat(parts: Sequence[Bags]) -> Bags:
    """Row-wise concatenation of the bag parts of blocks of one layout."""
    counts = np.concatenate([np.diff(p.indptr) for p in parts])
    indptr = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    vals = None
    if any(p.vals is not None for p in parts):
        vals = np.concatenate(
            [np.ones(len(p.codes), np.float32) if p.vals is None else p.vals for p in parts]
        )
    codes = np.concatenate([p.codes for p in parts])
    return Bags(codes, indptr, parts[0].lo, parts[0].hi, vals)
