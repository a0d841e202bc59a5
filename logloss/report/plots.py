"""The report's pictures: PNG files drawn with matplotlib's Agg canvas.

matplotlib is imported when the first picture is drawn, not when this module is imported,
so ``import logloss.report`` stays light (a CLI command that only writes the page, a Dask
worker that unpickles a function of this package).

Pictures are drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas, never
through ``pyplot``: no display, no global figure registry, safe from worker threads. Every
file is written atomically (:func:`logloss.storage.atomic_write_bytes`).
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
from ..storage import atomic_write_bytes
from .common import PICTURES
from .convexity import losses_along_line, second_differences

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "make_pictures",
    "plot_calibration",
    "plot_coefficients",
    "plot_confusion",
    "plot_convexity",
    "plot_cv",
    "plot_logloss_branches",
    "plot_loss_curve",
    "plot_precision_recall",
    "plot_roc",
    "plot_score_histograms",
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
    fig.savefig(buf, format="png", dpi=_DPI)  # constrained layout: no second (tight) draw
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
        _message(ax_gap, "the objective did not change")


def plot_loss_curve(history: Sequence[Mapping[str, Any]], path: PathLike) -> Path:
    """The training log loss per iteration, the penalised objective as a second line (when
    a penalty makes them differ), and the gradient norm.

    Left panel: ``log_loss`` and ``loss`` (the objective) of the history (left axis,
    linear) and the gradient norm (right axis, log scale). Right panel: the objective
    minus the best reached, on a log scale, which shows the convergence rate (a straight
    line is linear convergence).
    """
    return _save(loss_curve_figure(history), path)


def loss_curve_figure(history: Sequence[Mapping[str, Any]]) -> Figure:
    """The figure of :func:`plot_loss_curve` (not yet drawn to a file)."""
    fig = _figure(11.0, 4.2)
    ax, ax_gap = fig.subplots(1, 2)
    if not history:
        _message(ax, "no iteration history recorded")
        _message(ax_gap, "no iteration history recorded")
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


def plot_calibration(bins: metrics.CalibrationBins, path: PathLike) -> Path:
    """Reliability diagram on quantile bins: the fraction of positives (with its 95%
    Wilson interval) against the mean predicted probability per bin, above a bar chart of
    each bin's rows and score range."""
    b = bins
    fig = _figure(6.4, 7.0)
    ax, ax_n = fig.subplots(2, 1, height_ratios=[3, 1.3])
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfectly calibrated")
    err = np.vstack([b.frac_pos - b.ci_low, b.ci_high - b.frac_pos])
    ax.errorbar(
        b.mean_pred,
        b.frac_pos,
        yerr=np.clip(err, 0.0, None),
        color="tab:blue",
        marker="o",
        capsize=3,
        label="model: fraction of positives per bin, 95% interval",
    )
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("mean predicted probability in the bin")
    ax.set_ylabel("fraction of positives in the bin")
    ax.set_title(f"Calibration: {len(b.rows)} bins at quantiles of the scores")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")  # calibrated points lie near the diagonal
    k = np.arange(len(b.rows))
    bars = ax_n.bar(k, b.rows, color="tab:blue", alpha=0.6)
    ax_n.bar_label(bars, labels=[str(int(r)) for r in b.rows], fontsize="small", padding=1)
    ax_n.set_ylim(0, float(b.rows.max()) * 1.25 if b.rows.size else 1.0)
    ax_n.set_xticks(k, [f"{lo:.3f}–{hi:.3f}" for lo, hi in zip(b.low, b.high, strict=True)])
    ax_n.tick_params(axis="x", labelrotation=45, labelsize="small")
    ax_n.set_xlabel("bin: range of predicted probabilities")
    ax_n.set_ylabel("rows")
    ax_n.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def plot_precision_recall(
    precision: ArrayLike,
    recall: ArrayLike,
    ap: float,
    positive_rate: float,
    path: PathLike,
    *,
    best: Mapping[str, float] | None = None,
) -> Path:
    """Precision against recall (a step curve, as average precision integrates it), the
    chance level (the positive rate) and the F1-maximising threshold's point."""
    fig = _figure(5.6, 5.0)
    ax = fig.subplots()
    ax.step(recall, precision, where="post", color="tab:blue", lw=2, label=f"model (AP = {ap:.4f})")
    ax.axhline(
        positive_rate,
        color="grey",
        ls="--",
        lw=1,
        label=f"chance (positive rate {positive_rate:.3f})",
    )
    if best is not None:
        tp, fp, fn = best["tp"], best["fp"], best["fn"]
        ax.plot(
            [tp / (tp + fn)],
            [tp / (tp + fp)],
            "o",
            color="tab:red",
            label=f"max F1 = {best['f1']:.3f} at p ≥ {best['threshold']:.3g}",
        )
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall (true positive rate)")
    ax.set_ylabel("precision")
    ax.set_title("Precision–recall curve")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    return _save(fig, path)


def _draw_confusion(
    ax: Axes, counts: Mapping[str, float], classes: Sequence[str], title: str
) -> None:
    m = np.array([[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]], dtype=np.float64)
    total = m.sum()
    ax.imshow(m, cmap="Blues", vmin=0, vmax=max(float(m.max()), 1.0))
    for i in range(2):
        for j in range(2):
            v = m[i, j]
            text = f"{v:.0f}" if float(v).is_integer() else f"{v:.4g}"
            share = f"{v / total:.1%}" if total else ""
            dark = v > 0.6 * m.max()
            ax.text(
                j,
                i,
                f"{text}\n{share}",
                ha="center",
                va="center",
                color="white" if dark else "black",
                fontsize="large",
            )
    ax.set_xticks([0, 1], [f"predicted {c}" for c in classes])
    ax.set_yticks([0, 1], [f"actual {c}" for c in classes], rotation=90, va="center")
    ax.set_title(title, fontsize="medium")


def plot_confusion(
    at_threshold: Mapping[str, float],
    threshold: float,
    best: Mapping[str, float] | None,
    path: PathLike,
    *,
    classes: Sequence[str] = ("0", "1"),
) -> Path:
    """Confusion matrices at ``threshold`` (predict class 1 when p > threshold) and at the
    threshold that maximises F1 (p ≥ that threshold), side by side."""
    names = [textwrap.shorten(str(c), 18) for c in classes]
    fig = _figure(10.0, 4.6)
    ax1, ax2 = fig.subplots(1, 2)
    _draw_confusion(
        ax1,
        at_threshold,
        names,
        f"threshold {threshold:g}: class {names[1]} when p > {threshold:g}",
    )
    if best is None:
        _message(ax2, "the F1-maximising threshold needs rows of both classes")
    else:
        _draw_confusion(
            ax2,
            best,
            names,
            f"max F1 ({best['f1']:.3f}): class {names[1]} when p ≥ {best['threshold']:.4g}",
        )
    fig.suptitle("Confusion matrices (counts and share of rows)")
    return _save(fig, path)


def plot_score_histograms(
    edges: ArrayLike,
    positives: ArrayLike,
    negatives: ArrayLike,
    path: PathLike,
    *,
    classes: Sequence[str] = ("0", "1"),
    thresholds: Sequence[tuple[float, str]] = (),
    weighted: bool = False,
) -> Path:
    """Histograms of the predicted probability for the rows of each class (overlaid), with
    the thresholds marked. ``weighted``: the counts are sums of sample weights."""
    unit = "total weight" if weighted else "rows"
    e = np.asarray(edges, dtype=np.float64)
    fig = _figure(8.6, 4.4)
    ax = fig.subplots()
    for counts, name, color in (
        (negatives, classes[0], "tab:red"),
        (positives, classes[1], "tab:blue"),
    ):
        c = np.asarray(counts, dtype=np.float64)
        ax.stairs(c, e, fill=True, alpha=0.35, color=color)
        ax.stairs(c, e, color=color, lw=1.5, label=f"actual {name} ({c.sum():.6g} {unit})")
    for (t, label), ls in zip(thresholds, ("--", ":"), strict=False):
        ax.axvline(t, color="black", ls=ls, lw=1, label=label)
    ax.set_xlim(0, 1)
    top = float(max(np.max(positives, initial=0.0), np.max(negatives, initial=0.0)))
    scale = ""
    if top > 100:  # tall peaks at 0 and 1 would flatten the rest: log scale above 10
        ax.set_yscale("symlog", linthresh=10)
        scale = " (log scale above 10)"
    ax.set_ylim(0, None)
    ax.set_xlabel("predicted probability of class " + str(classes[1]))
    ax.set_ylabel(f"{unit} per bin{scale}")
    ax.set_title("Predicted probabilities by actual class")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return _save(fig, path)


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
    fig = _figure(11.0, max(3.0, 0.27 * n + 1.9))
    panels = fig.subplots(1, 2 if has_std else 1, sharey=True, squeeze=False)[0]
    if n == 0:
        _message(panels[0], "no coefficients to show (all are zero)")
        return _save(fig, path)
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
    return _save(fig, path)


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
    fig = _figure(7.0, 4.6)
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
# All of them
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
    sample_weight: Any = None,
    curves: metrics.ReportCurves | None = None,
    coefficients: tuple[Sequence[Mapping[str, Any]], str] | None = None,
    approximate: bool = False,
    classes: Sequence[Any] = (0, 1),
    cv: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Write the report pictures into ``out_dir``; return picture name -> file name.

    ``y_true``/``proba`` (NumPy or Dask, with optional ``sample_weight``) give every
    evaluation picture in one distributed pass (:func:`logloss.metrics.report_curves`),
    unless ``curves`` already holds that pass's result. ``coefficients`` is
    (rows, sorted_by) from :func:`logloss.report.coefficients.coefficient_rows` (default:
    the coefficients alone, sorted by size); ``approximate`` says the intervals come from
    a penalised fit. ``cv`` is model.json's cross-validation table (its picture is drawn
    only when given). Pictures that need both classes say so when only one is present.
    """
    from .coefficients import coefficient_rows

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, str] = {}

    def path(name: str) -> Path:
        done[name] = PICTURES[name]
        return out / PICTURES[name]

    names = [str(c) for c in classes]
    plot_loss_curve(history, path("loss_curve"))
    if coefficients is None:
        c = np.ravel(np.asarray(coef, dtype=np.float64))
        coefficients = coefficient_rows([f"x{j}" for j in range(c.size)], c)
    plot_coefficients(
        coefficients[0], path("coefficients"), sorted_by=coefficients[1], approximate=approximate
    )
    if cv:
        plot_cv(cv, path("cv"))
    rc = curves if curves is not None else metrics.report_curves(y_true, proba, sample_weight)
    if rc.roc is None:
        why = "the ROC curve needs rows of both classes; this data has one"
        _message_picture(why, "ROC curve (undefined)", path("roc"))
    else:
        plot_roc(rc.roc[0], rc.roc[1], float(rc.metrics["roc_auc"]), path("roc"))
    if rc.pr is None:
        why = "the precision–recall curve needs positive rows; this data has none"
        _message_picture(why, "Precision–recall curve (undefined)", path("precision_recall"))
    else:
        w = rc.histogram[1].sum() + rc.histogram[2].sum()
        plot_precision_recall(
            rc.pr[0],
            rc.pr[1],
            float(rc.metrics["average_precision"]),
            float(rc.histogram[1].sum() / w) if w else 0.0,
            path("precision_recall"),
            best=rc.best_f1,
        )
    plot_calibration(rc.calibration, path("calibration"))
    plot_confusion(rc.confusion, rc.threshold, rc.best_f1, path("confusion"), classes=names)
    marks = [(rc.threshold, f"threshold {rc.threshold:g}")]
    if rc.best_f1 is not None:
        marks.append((rc.best_f1["threshold"], f"max-F1 threshold {rc.best_f1['threshold']:.4g}"))
    weighted = isinstance(rc.confusion.get("tp"), float)  # weighted sums, not row counts
    plot_score_histograms(
        *rc.histogram, path("score_histograms"), classes=names, thresholds=marks, weighted=weighted
    )
    plot_logloss_branches(path("logloss_branches"))
    plot_convexity(X_sample, y_sample, coef, intercept, path("convexity"))
    return {k: PICTURES[k] for k in PICTURES if k in done}
