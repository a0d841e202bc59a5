"""The log loss and MSE∘σ along a line in weight space (pure NumPy, no matplotlib).

The per-row log loss and σ are :mod:`logloss.loss`'s (``row_loss``, ``sigmoid``), the
same functions training minimises.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..loss import row_loss, sigmoid

__all__ = ["losses_along_line", "second_differences"]

Array = NDArray[np.float64]


def _line_margins(
    X: ArrayLike, coef: ArrayLike, intercept: ArrayLike, direction: ArrayLike | None
) -> tuple[Array, Array]:
    """(z0, dz) so that the margins along the line are z(t) = z0 + t·dz."""
    Xa = np.asarray(X, dtype=np.float64)
    if Xa.ndim != 2:
        raise ValueError(f"X must be 2-D (rows, features); got shape {Xa.shape}")
    c = np.ravel(np.asarray(coef, dtype=np.float64))
    b = float(np.ravel(np.asarray(intercept, dtype=np.float64))[0])
    if c.shape[0] != Xa.shape[1]:
        raise ValueError(
            f"coef must have one entry per column of X; got {c.shape[0]} and {Xa.shape[1]}"
        )
    z_fit = Xa @ c + b
    if direction is None:
        return np.zeros_like(z_fit), z_fit
    d = np.ravel(np.asarray(direction, dtype=np.float64))
    if d.shape[0] not in (c.shape[0], c.shape[0] + 1):
        raise ValueError(
            "direction must have p or p + 1 entries (coefficients, then intercept); "
            f"got {d.shape[0]} for p = {c.shape[0]}"
        )
    dz = Xa @ d[: c.shape[0]] + (d[c.shape[0]] if d.shape[0] > c.shape[0] else 0.0)
    return z_fit, dz


def losses_along_line(
    X: ArrayLike,
    y: ArrayLike,
    coef: ArrayLike,
    intercept: ArrayLike,
    ts: ArrayLike,
    direction: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Mean log loss and mean squared error of σ(z) along a line in weight space.

    Without ``direction`` the line is w(t) = t · (coef, intercept) (t = 1 is the fit,
    t = 0 the zero model); with a ``direction`` d (p or p + 1 entries, the last one for
    the intercept) it is w(t) = (coef, intercept) + t · d. ``y`` holds 0/1 labels.
    Returns ``(logloss_values, mse_values)``, one per t. Log loss is convex in w, so the
    first is convex in t; MSE∘σ is not convex in general.
    """
    z0, dz = _line_margins(X, coef, intercept, direction)
    yf = np.asarray(y, dtype=np.float64).ravel()
    if yf.shape[0] != z0.shape[0]:
        raise ValueError(f"X and y must have the same rows; got {z0.shape[0]} and {yf.shape[0]}")
    t = np.asarray(ts, dtype=np.float64).ravel()
    ll = np.empty(t.shape[0])
    mse = np.empty(t.shape[0])
    for i, ti in enumerate(t):
        z = z0 + ti * dz
        ll[i] = np.mean(row_loss(yf, z))
        mse[i] = np.mean((sigmoid(z) - yf) ** 2)
    return ll, mse


def second_differences(v: Array) -> Array:
    """v[i+1] − 2 v[i] + v[i−1]: negative where the curve bends down (not convex)."""
    return v[2:] - 2.0 * v[1:-1] + v[:-2]
