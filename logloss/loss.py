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

Nothing here imports Dask or Prefect: the engine maps :func:`block_sums` over blocks and
adds the packed results; the solvers see only the reduced totals.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

__all__ = [
    "BlockSums",
    "block_moments",
    "block_sums",
    "combine_moments",
    "log1pexp",
    "pack_size",
    "row_loss",
    "sigmoid",
    "sigmoid_prime",
    "unpack",
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
    """Split a packed vector [loss, weight, grad (p + 1), hess ((p + 1)²)?] into :class:`BlockSums`."""
    grad = packed[2 : p + 3]
    hess = packed[p + 3 :].reshape(p + 1, p + 1) if packed.size > p + 3 else None
    return BlockSums(float(packed[0]), grad, float(packed[1]), hess)


def block_sums(
    X: NDArray[np.floating],
    y: NDArray[np.floating],
    w: Array,
    sample_weight: NDArray[np.floating] | None = None,
    *,
    hessian: bool = False,
    z: Array | None = None,
) -> Array:
    """One fused pass over a block: Σ loss, Σ weight, Σ (ŷ − y)·x̃ and optionally Σ ŷ(1 − ŷ)·x̃x̃ᵀ.

    Returns a packed float64 vector (see :func:`unpack`) so that the results of many
    blocks add with ``+``. ``z`` may be given when the margins are already known.
    """
    n, p = X.shape
    out = np.empty(pack_size(p, hessian), dtype=np.float64)
    if n == 0:
        out[:] = 0.0
        return out
    # Accumulate in float64: float32 blocks are promoted here (a copy per pass).
    Xf = X if X.dtype == np.float64 else np.asarray(X, dtype=np.float64)
    if z is None:
        z = Xf @ w[:p] + w[p]
    yf = np.asarray(y, dtype=np.float64)
    # One exp serves both the loss and σ: e = exp(-|z|) never overflows.
    e = np.exp(-np.abs(z))
    l1pe = np.maximum(z, 0.0) + np.log1p(e)  # log(1 + e^z)
    yhat = np.where(z >= 0, 1.0, e) / (1.0 + e)  # σ(z)
    r = yhat - yf
    s: NDArray[np.float64] | None = None
    if sample_weight is None:
        out[0] = np.sum(l1pe) - yf @ z
        out[1] = n
    else:
        s = np.asarray(sample_weight, dtype=np.float64)
        out[0] = s @ l1pe - (s * yf) @ z
        out[1] = np.sum(s)
        r = r * s
    out[2 : p + 2] = r @ Xf
    out[p + 2] = np.sum(r)
    if hessian:
        d = yhat * (1.0 - yhat)
        if s is not None:
            d = d * s
        H = out[p + 3 :].reshape(p + 1, p + 1)
        Xd = Xf * d[:, None]
        H[:p, :p] = Xd.T @ Xf
        col = Xd.sum(axis=0)
        H[:p, p] = col
        H[p, :p] = col
        H[p, p] = d.sum()
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
        out[p + 1 :] = ((Xf - mean) ** 2).sum(axis=0)
    return out


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
