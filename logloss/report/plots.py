"""The report's pictures: PNG files drawn with matplotlib's Agg canvas.

matplotlib is imported when the first picture is drawn, not when this module is imported,
so ``import logloss.report`` stays light (a CLI command that only writes the page, a Dask
worker that unpickles a function of this package).

Pictures are drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas, never
through ``pyplot``: no display, no global figure registry, safe from worker threads. Every
file is written atomically (:func:`logloss.model.atomic_write_bytes`).
"""

from __future__ import annotations

import io
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import metrics
from ..model import atomic_write_bytes
from .common import PICTURES
from .convexity import losses_along_line, second_differences

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "make_pictures",
    "plot_calibration",
    "plot_convexity",
    "plot_logloss_branches",
    "plot_loss_curve",
    "plot_roc",
]

_DPI = 110
Array = NDArray[np.float64]
PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------------------
# Figures and files
# --------------------------------------------------------------------------------------


def _figure(width: float = 6.4, height: float = 4.8) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig: Figure, path: PathLike) -> Path:
    """Render ``fig`` to PNG atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


def _message(ax: Axes, text: str) -> None:
    """Write ``text`` in the middle of an empty panel (used when there is nothing to draw)."""
    ax.text(0.5, 0.5, textwrap.fill(text, 48), ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _message_picture(text: str, title: str, path: PathLike) -> Path:
    fig = _figure(5.2, 3.0)
    ax = fig.subplots()
    ax.set_title(title)
    _message(ax, text)
    return _save(fig, path)


# --------------------------------------------------------------------------------------
# Loss curve
# --------------------------------------------------------------------------------------


def _column(history: Sequence[Mapping[str, Any]], key: str) -> Array:
    """``history[i][key]`` as floats, NaN where missing or None."""
    out = []
    for h in history:
        v = h.get(key)
        out.append(np.nan if v is None else float(v))
    return np.asarray(out, dtype=np.float64)


def _pad_flat_limits(ax: Axes, values: Array, *, log: bool) -> None:
    """Give a constant (or single-point) series a visible y-range instead of a warning.

    Call before plotting: fixing the limits first keeps matplotlib from autoscaling a
    zero-height range.
    """
    v = values[np.isfinite(values) & ((values > 0) if log else True)]
    if v.size == 0 or v.max() != v.min():
        return
    c = float(v[0])
    if log:
        ax.set_ylim(c / 10.0, c * 10.0)
    else:
        pad = 0.1 * abs(c) or 1.0
        ax.set_ylim(c - pad, c + pad)


def _draw_loss_and_gradient(ax: Axes, it: Array, loss: Array, grad: Array) -> None:
    """Left panel: the loss (linear axis) and the gradient norm (right axis, log scale)."""
    _pad_flat_limits(ax, loss, log=False)
    (l1,) = ax.plot(it, loss, color="tab:blue", marker="o", markersize=3, label="log loss")
    ax.set_xlabel("iteration")
    ax.set_ylabel("log loss (training)", color="tab:blue")
    ax.set_title("Loss and gradient norm")
    ax.grid(alpha=0.3)
    handles = [l1]
    if np.isfinite(grad).any() and (grad[np.isfinite(grad)] > 0).any():
        ax2 = ax.twinx()
        ax2.set_yscale("log")
        _pad_flat_limits(ax2, grad, log=True)
        (l2,) = ax2.plot(
            it, grad, color="tab:orange", marker="s", markersize=3, label="gradient norm"
        )
        ax2.set_ylabel("‖∇J‖ (log scale)", color="tab:orange")
        handles.append(l2)
    ax.legend(handles=handles, loc="upper right")


def _draw_gap(ax_gap: Axes, it: Array, loss: Array) -> None:
    """Right panel: loss minus the best loss reached, on a log scale."""
    finite = np.isfinite(loss)
    gap = loss - np.nanmin(loss) if finite.any() else loss
    keep = finite & (gap > 0)
    if keep.sum() >= 1:
        ax_gap.set_yscale("log")
        _pad_flat_limits(ax_gap, gap[keep], log=True)
        ax_gap.plot(it[keep], gap[keep], color="tab:green", marker="o", markersize=3)
        ax_gap.set_xlabel("iteration")
        ax_gap.set_ylabel("loss − best loss (log scale)")
        ax_gap.set_title("Distance to the best loss reached")
        ax_gap.grid(alpha=0.3, which="both")
    else:
        _message(ax_gap, "loss did not change")


def plot_loss_curve(history: Sequence[Mapping[str, Any]], path: PathLike) -> Path:
    """Loss and gradient norm per iteration.

    Left panel: the log loss (left axis, linear) and the gradient norm (right axis, log
    scale). Right panel: loss minus the best loss reached, on a log scale, which shows
    the convergence rate (a straight line is linear convergence).
    """
    fig = _figure(11.0, 4.2)
    ax, ax_gap = fig.subplots(1, 2)
    if not history:
        _message(ax, "no iteration history recorded")
        _message(ax_gap, "no iteration history recorded")
        return _save(fig, path)
    it = _column(history, "iteration")
    if np.isnan(it).all():
        it = np.arange(len(history), dtype=np.float64)
    loss = _column(history, "loss")
    _draw_loss_and_gradient(ax, it, loss, _column(history, "grad_norm"))
    _draw_gap(ax_gap, it, loss)
    return _save(fig, path)


# --------------------------------------------------------------------------------------
# ROC, calibration, the two branches of the loss
# --------------------------------------------------------------------------------------


def plot_roc(fpr: ArrayLike, tpr: ArrayLike, auc: float, path: PathLike) -> Path:
    """ROC curve (true positive rate against false positive rate) with the chance line."""
    fig = _figure(5.2, 5.0)
    ax = fig.subplots()
    ax.plot(fpr, tpr, color="tab:blue", lw=2, label=f"model (AUC = {auc:.4f})")
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="chance (AUC = 0.5)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_calibration(
    mean_pred: ArrayLike, frac_pos: ArrayLike, counts: ArrayLike, path: PathLike
) -> Path:
    """Reliability diagram (fraction of positives against mean predicted probability per
    bin) above a bar chart of how many rows fall in each bin."""
    mp = np.asarray(mean_pred, dtype=np.float64)
    fp = np.asarray(frac_pos, dtype=np.float64)
    cn = np.asarray(counts, dtype=np.float64)
    fig = _figure(5.6, 6.4)
    ax, ax_n = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfectly calibrated")
    ax.plot(mp, fp, color="tab:blue", marker="o", label="model")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("fraction of positives")
    ax.set_title("Calibration")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    width = 0.8 / max(len(mp), 10)
    ax_n.bar(mp, cn, width=width, color="tab:blue", alpha=0.6)
    ax_n.set_xlabel("mean predicted probability (per bin)")
    ax_n.set_ylabel("rows")
    ax_n.grid(alpha=0.3)
    return _save(fig, path)


def plot_logloss_branches(path: PathLike) -> Path:
    """−log(ŷ) (cost when y = 1) and −log(1 − ŷ) (cost when y = 0) over ŷ in (0, 1),
    with the squared errors (1 − ŷ)² and ŷ² for comparison: log loss punishes confident
    mistakes without bound, the squared error by at most 1.

    The two branches are :func:`logloss.metrics.row_log_loss` with y = 1 and y = 0.
    """
    p = np.linspace(1e-3, 1 - 1e-3, 999)
    fig = _figure(6.4, 4.6)
    ax = fig.subplots()
    cost_1 = metrics.row_log_loss(np.ones_like(p), p)
    cost_0 = metrics.row_log_loss(np.zeros_like(p), p)
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
    return _save(fig, path)


# --------------------------------------------------------------------------------------
# Convexity
# --------------------------------------------------------------------------------------


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

    fig = _figure(11.0, 4.4)
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
    return _save(fig, path)


# --------------------------------------------------------------------------------------
# All five
# --------------------------------------------------------------------------------------


def make_pictures(
    out_dir: PathLike,
    *,
    history: Sequence[Mapping[str, Any]],
    y_true: Any,
    proba: Any,
    X_sample: ArrayLike,
    y_sample: ArrayLike,
    coef: ArrayLike,
    intercept: ArrayLike,
) -> dict[str, str]:
    """Write the five report pictures into ``out_dir``; return picture name -> file name.

    ``y_true``/``proba`` (NumPy or Dask) give the ROC curve and the calibration bins in one
    distributed pass. If only one class is present the ROC picture says so instead of
    drawing a curve.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_loss_curve(history, out / PICTURES["loss_curve"])
    try:
        cd = metrics.curve_data(y_true, proba)
    except ValueError as exc:
        if "both classes" not in str(exc):
            raise
        _message_picture(str(exc), "ROC curve (undefined)", out / PICTURES["roc"])
        plot_calibration(*metrics.calibration_bins(y_true, proba), out / PICTURES["calibration"])
    else:
        plot_roc(cd.fpr, cd.tpr, cd.auc, out / PICTURES["roc"])
        plot_calibration(cd.mean_pred, cd.frac_pos, cd.counts, out / PICTURES["calibration"])
    plot_logloss_branches(out / PICTURES["logloss_branches"])
    plot_convexity(X_sample, y_sample, coef, intercept, out / PICTURES["convexity"])
    return dict(PICTURES)
