"""The pictures of the fit: the loss curve (log loss, objective, gradient norm, distance to
the best objective), the coefficients with their intervals, and the cross-validation curve.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .figures import Array, PathLike, figure, message, save

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["loss_curve_figure", "plot_coefficients", "plot_cv", "plot_loss_curve"]


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


def _draw_loss_and_gradient(
    ax: Axes, it: Array, log_loss: Array, objective: Array, grad: Array
) -> None:
    """Left panel: the training log loss and, when it differs, the penalised objective
    (linear axis); the gradient norm on a right axis (log scale)."""
    has_ll = bool(np.isfinite(log_loss).any())
    differs = has_ll and bool(
        np.nanmax(np.abs(objective - log_loss))
        > 1e-12 * max(1.0, float(np.nanmax(np.abs(objective))))
    )
    both = np.r_[log_loss, objective] if has_ll else objective
    _pad_flat_limits(ax, both, log=False)
    handles = []
    if has_ll:
        label = "training log loss" if differs else "training log loss (no penalty: = objective)"
        (h,) = ax.plot(it, log_loss, color="tab:blue", marker="o", markersize=3, label=label)
        handles.append(h)
    if differs or not has_ll:
        label = (
            "penalised objective (log loss + penalty)"
            if has_ll
            else "objective (log loss + penalty; log loss not recorded)"
        )
        (h,) = ax.plot(
            it, objective, color="tab:purple", ls="--", marker=".", markersize=3, label=label
        )
        handles.append(h)
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean over training rows")
    ax.set_title("Training log loss and gradient norm")
    ax.grid(alpha=0.3)
    if np.isfinite(grad).any() and (grad[np.isfinite(grad)] > 0).any():
        ax2 = ax.twinx()
        ax2.set_yscale("log")
        _pad_flat_limits(ax2, grad, log=True)
        (h,) = ax2.plot(
            it, grad, color="tab:orange", marker="s", markersize=3, label="max |∇J| (right axis)"
        )
        ax2.set_ylabel("max |∇J| (log scale)", color="tab:orange")
        handles.append(h)
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize="small"
    )


def _draw_gap(ax_gap: Axes, it: Array, loss: Array) -> None:
    """Right panel: the objective minus the best objective reached, on a log scale."""
    finite = np.isfinite(loss)
    gap = loss - np.nanmin(loss) if finite.any() else loss
    keep = finite & (gap > 0)
    if keep.sum() >= 1:
        ax_gap.set_yscale("log")
        _pad_flat_limits(ax_gap, gap[keep], log=True)
        ax_gap.plot(it[keep], gap[keep], color="tab:green", marker="o", markersize=3)
        ax_gap.set_xlabel("iteration")
        ax_gap.set_ylabel("objective − best objective (log scale)")
        ax_gap.set_title("Distance to the best objective reached")
        ax_gap.grid(alpha=0.3, which="both")
    else:
        message(ax_gap, "the objective did not change")


def plot_loss_curve(history: Sequence[Mapping[str, Any]], path: PathLike) -> Path:
    """The training log loss per iteration, the penalised objective as a second line (when
    a penalty makes them differ), and the gradient norm.

    Left panel: ``log_loss`` and ``loss`` (the objective) of the history (left axis,
    linear) and the gradient norm (right axis, log scale). Right panel: the objective
    minus the best reached, on a log scale, which shows the convergence rate (a straight
    line is linear convergence).
    """
    return save(loss_curve_figure(history), path)


def loss_curve_figure(history: Sequence[Mapping[str, Any]]) -> Figure:
    """The figure of :func:`plot_loss_curve` (not yet drawn to a file)."""
    fig = figure(11.0, 4.2)
    ax, ax_gap = fig.subplots(1, 2)
    if not history:
        message(ax, "no iteration history recorded")
        message(ax_gap, "no iteration history recorded")
        return fig
    it = _column(history, "iteration")
    if np.isnan(it).all():
        it = np.arange(len(history), dtype=np.float64)
    objective = _column(history, "loss")
    log_loss = _column(history, "log_loss")
    _draw_loss_and_gradient(ax, it, log_loss, objective, _column(history, "grad_norm"))
    _draw_gap(ax_gap, it, objective)
    from matplotlib.ticker import MaxNLocator

    for a in (ax, ax_gap):
        a.xaxis.set_major_locator(MaxNLocator(integer=True))  # iterations are whole numbers
    return fig


def _symlog_axis(ax: Axes, typical: float, values: Array) -> None:
    """A symmetric log x axis, linear within a power of ten below ``typical``, ticks at 0
    and at ±powers of ten (two decades apart when there are many), labelled plainly."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    linthresh = 10.0 ** np.floor(np.log10(typical))
    top = float(np.nanmax(np.abs(values[np.isfinite(values)]), initial=linthresh))
    decades = np.arange(np.log10(linthresh), np.ceil(np.log10(top)) + 1)
    if decades.size > 4:
        decades = decades[decades % 2 == decades[-1] % 2]
    ticks = np.r_[-(10.0 ** decades[::-1]), 0.0, 10.0**decades]
    ax.set_xscale("symlog", linthresh=linthresh)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.tick_params(axis="x", labelrotation=30, labelsize="small")


def plot_coefficients(
    rows: Sequence[Mapping[str, Any]],
    path: PathLike,
    *,
    sorted_by: str,
    approximate: bool = False,
    max_rows: int = 40,
) -> Path:
    """Coefficient plot: each coefficient with its 95% interval, standardised (per standard
    deviation of the feature) and in original units side by side, in the rows' order."""
    shown = list(rows)[:max_rows]
    n = len(shown)
    has_std = any(r.get("std_coef") is not None for r in shown)
    fig = figure(11.0, max(3.0, 0.27 * n + 1.9))
    panels = fig.subplots(1, 2 if has_std else 1, sharey=True, squeeze=False)[0]
    if n == 0:
        message(panels[0], "no coefficients to show (all are zero)")
        return save(fig, path)
    ypos = np.arange(n)[::-1]
    specs = [("coef", "ci_low", "ci_high", "original units: per unit of the feature")]
    if has_std:
        specs.insert(
            0, ("std_coef", "std_ci_low", "std_ci_high", "standardised: per SD of the feature")
        )
    for ax, (key, lo, hi, title) in zip(panels, specs, strict=True):
        v = np.array([np.nan if r.get(key) is None else r[key] for r in shown], dtype=np.float64)
        low = np.array([np.nan if r.get(lo) is None else r[lo] for r in shown], dtype=np.float64)
        high = np.array([np.nan if r.get(hi) is None else r[hi] for r in shown], dtype=np.float64)
        have = np.isfinite(low) & np.isfinite(high)
        if have.any():
            ax.hlines(ypos[have], low[have], high[have], color="tab:blue", lw=2, alpha=0.6)
        ax.plot(v, ypos, "o", color="tab:blue", markersize=4)
        ax.axvline(0.0, color="grey", lw=1)
        xlabel = "change in log-odds"
        if key == "coef":
            # features in different units: a symmetric log axis keeps the small ones visible
            sizes = np.abs(v[np.isfinite(v) & (v != 0)])
            if sizes.size and sizes.max() > 20 * np.median(sizes):
                _symlog_axis(ax, float(np.median(sizes)), np.r_[v, low, high])
                xlabel += " (symmetric log scale)"
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3, axis="x")
    panels[0].set_yticks(ypos, [textwrap.shorten(str(r["feature"]), 32) for r in shown])
    panels[0].set_ylim(-0.7, n - 0.3)
    interval = "95% intervals" + (" (approximate: penalised fit)" if approximate else "")
    has_ci = any(r.get("ci_low") is not None for r in shown)
    more = f"; the first {n} of {len(rows)}" if len(rows) > n else ""
    order = {"z": "|z|", "standardised": "standardised size", "coef": "size"}.get(
        sorted_by, sorted_by
    )
    fig.suptitle(
        f"Coefficients{' with ' + interval if has_ci else ' (no intervals: no statistics)'}, "
        f"sorted by {order}{more}"
    )
    return save(fig, path)


def plot_cv(cv: Mapping[str, Any], path: PathLike) -> Path:
    """Cross-validated log loss (−mean score) against C on a log axis, ±1 standard error
    band, one line per l1_ratio when several, the chosen C marked."""
    Cs = np.asarray(cv["Cs"], dtype=np.float64)
    mean = np.asarray(cv["mean"], dtype=np.float64)
    se = np.asarray(cv["std_err"], dtype=np.float64)
    ratios = cv.get("l1_ratios")
    if mean.ndim == 1:
        mean, se = mean[None, :], se[None, :]
        ratios = [cv.get("l1_ratio")] if ratios is None else ratios
    if mean.shape[1] != Cs.size or se.shape != mean.shape:
        raise ValueError(
            f"cv 'mean' and 'std_err' need one value per C ({Cs.size}); got shapes "
            f"{mean.shape} and {se.shape}"
        )
    order = np.argsort(Cs)
    fig = figure(7.0, 4.6)
    ax = fig.subplots()
    colors = ["tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive"]
    for k in range(mean.shape[0]):
        loss = -mean[k][order]
        color = colors[k % len(colors)]
        r = ratios[k] if ratios is not None and k < len(ratios) else None
        label = "held-out log loss" + ("" if r is None or len(mean) == 1 else f", l1_ratio {r:g}")
        ax.plot(Cs[order], loss, marker="o", markersize=3, color=color, label=label)
        ax.fill_between(Cs[order], loss - se[k][order], loss + se[k][order], color=color, alpha=0.2)
    chosen = float(cv["C"])
    extra = "" if cv.get("l1_ratio") in (None, 0.0) else f", l1_ratio {float(cv['l1_ratio']):g}"
    ax.axvline(chosen, color="tab:red", ls="--", lw=1, label=f"chosen C = {chosen:.4g}{extra}")
    ax.plot([], [], color="grey", alpha=0.3, lw=6, label="±1 standard error over folds")
    ax.set_xscale("log")
    ax.set_xlabel("C (inverse penalty strength, log scale)")
    ax.set_ylabel(f"mean held-out log loss over {cv.get('folds', '?')} folds")
    ax.set_title("Cross-validation: choosing C")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return save(fig, path)
