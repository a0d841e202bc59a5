"""The pictures of the evaluation: ROC and precision–recall curves, the calibration
diagram (or why it is not drawn), the confusion matrices and the score histograms."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ..metrics import CalibrationBins
from .figures import PathLike, figure, message, save

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "CALIBRATION_MIN_BINS",
    "CALIBRATION_MIN_ROWS",
    "CALIBRATION_RULE",
    "calibration_untrusted",
    "plot_calibration",
    "plot_confusion",
    "plot_precision_recall",
    "plot_roc",
    "plot_score_histograms",
]


CALIBRATION_MIN_BINS = 5
"""Fewer quantile bins than this and the calibration picture is not drawn."""

CALIBRATION_MIN_ROWS = 50
"""Rows each calibration bin needs (the bins are cut so that each holds this many)."""

CALIBRATION_RULE = (
    f"the calibration picture is drawn when the rows make at least {CALIBRATION_MIN_BINS} "
    f"bins of at least {CALIBRATION_MIN_ROWS} rows each (at least "
    f"{CALIBRATION_MIN_BINS * CALIBRATION_MIN_ROWS} rows with enough distinct scores)"
)
"""The rule, as a sentence (written into report.json)."""


def calibration_untrusted(bins: CalibrationBins) -> str | None:
    """None when ``bins`` make a calibration picture worth trusting (:data:`CALIBRATION_RULE`),
    else the sentence that says why it is not drawn."""
    k, n = len(bins.rows), int(np.sum(bins.rows))
    if k >= CALIBRATION_MIN_BINS and int(np.min(bins.rows)) >= CALIBRATION_MIN_ROWS:
        return None
    return (
        f"Calibration not drawn: {n:,} rows make {k} bin{'s' if k != 1 else ''} of at least "
        f"{CALIBRATION_MIN_ROWS} rows, too few to judge calibration; it needs at least "
        f"{CALIBRATION_MIN_BINS} bins ({CALIBRATION_MIN_BINS * CALIBRATION_MIN_ROWS} rows "
        "or more). Evaluate on more rows."
    )


def plot_roc(fpr: ArrayLike, tpr: ArrayLike, auc: float, path: PathLike) -> Path:
    """ROC curve (true positive rate against false positive rate) with the chance line."""
    fig = figure(5.2, 5.0)
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
    return save(fig, path)


def plot_calibration(bins: CalibrationBins, path: PathLike) -> Path:
    """Reliability diagram on quantile bins: the fraction of positives (with its 95%
    Wilson interval) against the mean predicted probability per bin, above a bar chart of
    each bin's rows and score range."""
    b = bins
    fig = figure(6.4, 7.0)
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
    return save(fig, path)


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
    fig = figure(5.6, 5.0)
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
            label=f"max F1 = {best['f1']:.3f} at p ≥ {best['threshold']:.3g}"
            " (chosen on these rows)",
        )
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall (true positive rate)")
    ax.set_ylabel("precision")
    ax.set_title("Precision–recall curve")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    return save(fig, path)


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
    fig = figure(10.0, 4.6)
    ax1, ax2 = fig.subplots(1, 2)
    _draw_confusion(
        ax1,
        at_threshold,
        names,
        f"threshold {threshold:g}: class {names[1]} when p > {threshold:g}",
    )
    if best is None:
        message(ax2, "the F1-maximising threshold needs rows of both classes")
    else:
        _draw_confusion(
            ax2,
            best,
            names,
            f"max F1 ({best['f1']:.3f}): class {names[1]} when p ≥ {best['threshold']:.4g}\n"
            "(threshold chosen on these same rows: optimistic)",
        )
    fig.suptitle("Confusion matrices (counts and share of rows)")
    return save(fig, path)


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
    fig = figure(8.6, 4.4)
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
    return save(fig, path)
