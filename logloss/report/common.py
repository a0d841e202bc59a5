"""What the HTML page and the Markdown body share: picture names and titles, cell text.

Nothing here imports matplotlib.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["METRIC_ORDER", "PICTURES", "TITLES", "fmt", "ordered_items"]

PICTURES: dict[str, str] = {
    "loss_curve": "loss_curve.png",
    "coefficients": "coefficients.png",
    "cv": "cv.png",
    "roc": "roc.png",
    "precision_recall": "precision_recall.png",
    "calibration": "calibration.png",
    "confusion": "confusion.png",
    "score_histograms": "score_histograms.png",
    "logloss_branches": "logloss_branches.png",
    "convexity": "convexity.png",
}
"""Picture name -> file name, in the order the report shows them (``cv`` only for a
cross-validated model)."""

TITLES: dict[str, str] = {
    "loss_curve": "Training log loss, penalised objective and gradient norm",
    "coefficients": "Coefficients with 95% intervals (standardised and original units)",
    "cv": "Cross-validated log loss against C",
    "roc": "ROC curve",
    "precision_recall": "Precision–recall curve",
    "calibration": "Calibration (reliability diagram, quantile bins)",
    "confusion": "Confusion matrices",
    "score_histograms": "Predicted probabilities by class",
    "logloss_branches": "The two branches of the log loss",
    "convexity": "Log loss vs MSE∘σ along a line through the fitted weights",
}
"""Picture name -> the title shown above or under it."""

METRIC_ORDER = (
    "n",
    "log_loss",
    "accuracy",
    "roc_auc",
    "average_precision",
    "brier_score",
    "tn",
    "fp",
    "fn",
    "tp",
)
"""The metrics shown first, in this order (as :func:`logloss.metrics.evaluate` returns them)."""


def fmt(v: Any) -> str:
    """A value for a table cell: floats with 6 significant digits, None as "n/a"."""
    if v is None:
        return "n/a"
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        f = float(v)
        if not math.isfinite(f):
            return repr(f)
        text = f"{f:.6g}"
        return text + ".0" if f.is_integer() and text.lstrip("-").isdigit() else text
    if isinstance(v, str):
        return v
    try:
        return json.dumps(v, default=str)
    except (TypeError, ValueError):
        return str(v)


def setting_items(params: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """A model's settings as shown to readers: the deprecated ``penalty`` alias only when
    it was actually given (its placeholder value "deprecated" says nothing)."""
    return [(k, v) for k, v in params.items() if not (k == "penalty" and v == "deprecated")]


def ordered_items(d: Mapping[str, Any], first: Sequence[str] = ()) -> list[tuple[str, Any]]:
    """The items of ``d``: the keys in ``first`` (those present) first, then the others."""
    keys = [k for k in first if k in d] + [k for k in d if k not in first]
    return [(k, d[k]) for k in keys]
