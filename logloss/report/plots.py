"""The report's pictures, all of them at once (:func:`make_pictures`), and every picture
function by name.

Modules: :mod:`.figures` (figure, atomic PNG, message panels), :mod:`.fit_plots` (loss
curve, coefficients, cross-validation), :mod:`.evaluation_plots` (ROC, precision–recall,
calibration, confusion, score histograms), :mod:`.loss_plots` (the loss's two branches,
convexity along a line).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import metrics
from .common import PICTURES
from .evaluation_plots import (
    calibration_untrusted,
    plot_calibration,
    plot_confusion,
    plot_precision_recall,
    plot_roc,
    plot_score_histograms,
)
from .figures import PathLike, message_picture
from .fit_plots import loss_curve_figure, plot_coefficients, plot_cv, plot_loss_curve
from .loss_plots import plot_convexity, plot_logloss_branches

__all__ = [
    "loss_curve_figure",
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
        message_picture(why, "ROC curve (undefined)", path("roc"))
    else:
        plot_roc(rc.roc[0], rc.roc[1], float(rc.metrics["roc_auc"]), path("roc"))
    if rc.pr is None:
        why = "the precision–recall curve needs positive rows; this data has none"
        message_picture(why, "Precision–recall curve (undefined)", path("precision_recall"))
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
    untrusted = calibration_untrusted(rc.calibration)
    if untrusted is None:
        plot_calibration(rc.calibration, path("calibration"))
    else:  # too few rows: a picture of 2 bins would look like evidence
        message_picture(untrusted, "Calibration (not drawn)", path("calibration"))
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
