"""The pictures of the loss itself: its two branches (one per label) against the squared
error, and the log loss and MSE∘σ along a line in weight space (convex or not)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ..metrics import row_log_loss
from .convexity import losses_along_line, second_differences
from .figures import Array, PathLike, figure, save

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_convexity", "plot_logloss_branches"]


def plot_logloss_branches(path: PathLike) -> Path:
    """−log(ŷ) (cost when y = 1) and −log(1 − ŷ) (cost when y = 0) over ŷ in (0, 1),
    with the squared errors (1 − ŷ)² and ŷ² for comparison: log loss punishes confident
    mistakes without bound, the squared error by at most 1.

    The two branches are :func:`logloss.metrics.row_log_loss` with y = 1 and y = 0.
    """
    p = np.linspace(1e-3, 1 - 1e-3, 999)
    fig = figure(6.4, 4.6)
    ax = fig.subplots()
    cost_1 = row_log_loss(np.ones_like(p), p)
    cost_0 = row_log_loss(np.zeros_like(p), p)
    ax.plot(p, cost_1, color="tab:blue", lw=2, label="y = 1: −log(ŷ)")
    ax.plot(p, cost_0, color="tab:red", lw=2, label="y = 0: −log(1 − ŷ)")
    ax.plot(p, (1 - p) ** 2, color="tab:blue", ls=":", label="y = 1: (1 − ŷ)² (squared error)")
    ax.plot(p, p**2, color="tab:red", ls=":", label="y = 0: ŷ² (squared error)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 5)
    ax.set_xlabel("predicted probability ŷ")
    ax.set_ylabel("cost of one example")
    ax.set_title("Log loss: one branch per label")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center")
    return save(fig, path)


def _line_range(X: Array, y: ArrayLike, c: Array, b: float, direction: ArrayLike | None) -> Array:
    """t over [−3, 3], widened (up to [−48, 48]) until MSE∘σ shows a concave stretch."""
    t = np.linspace(-3.0, 3.0, 241)
    for scale in (1.0, 2.0, 4.0, 8.0, 16.0):
        t = np.linspace(-3.0 * scale, 3.0 * scale, 241)
        _, mse = losses_along_line(X, y, c, b, t, direction)
        if (second_differences(mse) < -1e-12).any():
            break
    return t


def _shade_concave(ax: Axes, t: Array, d2: Array) -> None:
    """Shade the stretches of t where the curve bends down (negative second difference)."""
    concave = np.r_[False, d2 < -1e-12, False]  # aligned with t
    if not concave.any():
        return
    half = (t[-1] - t[0]) / max(len(t) - 1, 1) / 2.0
    edges = np.flatnonzero(np.diff(concave.astype(np.int8)))  # run starts/ends
    for start, stop in zip(edges[::2] + 1, edges[1::2], strict=True):
        ax.axvspan(t[start] - half, t[stop] + half, color="tab:red", alpha=0.08, lw=0)
    ax.plot([], [], color="tab:red", alpha=0.25, lw=6, label="curving down (not convex)")


def plot_convexity(
    X_sample: ArrayLike,
    y_sample: ArrayLike,
    coef: ArrayLike,
    intercept: ArrayLike,
    path: PathLike,
    *,
    ts: ArrayLike | None = None,
    direction: ArrayLike | None = None,
) -> Path:
    """Log loss and MSE∘σ along the line w(t) = t · (coef, intercept) (see
    :func:`losses_along_line`), side by side, on an in-memory sample.

    By default t runs over [−3, 3]; if MSE∘σ shows no concave stretch there (small
    weights), the range is widened (up to [−48, 48]) so the picture shows what it is
    meant to. If the fitted weights are all zero, the direction (1, …, 1) is used
    instead. Stretches where MSE∘σ curves downward (negative second difference) are
    shaded.
    """
    X = np.asarray(X_sample, dtype=np.float64)
    c = np.ravel(np.asarray(coef, dtype=np.float64))
    b = float(np.ravel(np.asarray(intercept, dtype=np.float64))[0])
    if direction is None and not np.any(X @ c + b):
        direction, c, b = np.ones(c.shape[0] + 1), np.zeros_like(c), 0.0
    if ts is None:
        t = _line_range(X, y_sample, c, b, direction)
    else:
        t = np.asarray(ts, dtype=np.float64).ravel()
    ll, mse = losses_along_line(X, y_sample, c, b, t, direction)
    d2_ll, d2_mse = second_differences(ll), second_differences(mse)
    fit_t = 1.0 if direction is None else 0.0
    line = "w(t) = t·(w_fit, w₀)" if direction is None else "w(t) = w_fit + t·d"

    fig = figure(11.0, 4.4)
    ax_ll, ax_mse = fig.subplots(1, 2, sharex=True)
    ax_ll.plot(t, ll, color="tab:blue", lw=2, label="log loss J(w(t))")
    ax_mse.plot(t, mse, color="tab:red", lw=2, label="MSE∘σ: mean (σ(z) − y)²")
    _shade_concave(ax_mse, t, d2_mse)
    for ax, name, d2 in ((ax_ll, "log loss", d2_ll), (ax_mse, "MSE∘σ", d2_mse)):
        if t[0] <= fit_t <= t[-1]:
            ax.axvline(fit_t, color="grey", ls="--", lw=1, label="fitted weights")
        verdict = "convex" if (d2 >= -1e-12).all() else "not convex"
        ax.set_title(f"{name} along the line: {verdict}")
        ax.set_xlabel(f"t   ({line})")
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    ax_ll.set_ylabel("mean log loss")
    ax_mse.set_ylabel("mean squared error of σ(z)")
    return save(fig, path)
