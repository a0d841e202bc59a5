"""Everything the report page shows that needs the data: metrics.json, report.json and the
pictures, from as few passes over the data as the numbers allow, none of which gathers rows.

Passes (each one ``dask.compute`` on Dask data): the evaluation state (the metrics, every
curve and the confusion counts: :func:`logloss.metrics.metrics_state`, bounded whatever
the rows) computed together with the row sample of the convexity picture and the training
columns' standard deviations, so one read of each block serves the three; then the
coefficient statistics (the observed information at the fitted coefficients on the
training data: :meth:`logloss.logistic.LogisticCore.summary`, streamed by its engine).

``report.json`` (written next to model.json) holds what the page needs besides model.json
and metrics.json: which data the metrics come from, the thresholds, the coefficient rows
(both units, 95% intervals, sorted by |z|) and the fit's solver, passes and time; and
sentences for the page: ``thresholds.best_f1_note`` (the F1-maximising threshold is chosen
on the rows it is scored on), ``calibration`` (``drawn``, ``bins``, ``rows``, ``rule``,
``note``: why the picture was not drawn) and ``curves`` (``exact``, ``note``: how exact
AUC, average precision and the curves are).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics as metrics_mod
from ..coded import any_margin, any_moments, coded_row_bytes
from ..loss import combine_moments
from ..storage import atomic_write_bytes
from .coefficients import SORT_NOTES, TABLE_ROWS, coefficient_rows, intercept_row, shown_rows

__all__ = ["REPORT_DATA", "write_assets"]

REPORT_DATA = "report.json"
"""The file name of the report's data next to model.json."""


def _json_default(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def _finite(v: Any) -> Any:
    """NaN and infinities as None (JSON has neither)."""
    if isinstance(v, float | np.floating):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite(x) for x in v]
    return v


def _statistics(model: Any, train: tuple[Any, Any, Any]) -> tuple[Any, dict[str, Any], str]:
    """(statistics by feature or None, summary info, note) from ``model.summary``."""
    try:
        table = model.summary(*train)
    except (ValueError, np.linalg.LinAlgError, ArithmeticError) as exc:
        return None, {}, f"no coefficient statistics: {exc}"
    info = dict(getattr(model, "summary_info_", {}))
    stats = {str(k): dict(v) for k, v in table.to_dict("index").items()}
    note = (
        "Standard errors from the penalised Hessian: approximate (a penalised estimate is "
        "biased towards 0, so the intervals are not exact confidence intervals)."
        if info.get("approximate")
        else "Standard errors from the observed information (maximum likelihood)."
    )
    return stats, info, note


def _one_pass(
    y_true: Any,
    proba: Any,
    sample_weight: Any,
    X: Any,
    X_train: Any,
    *,
    sample_rows: int,
    seed: int,
    coef: Any = None,
) -> tuple[metrics_mod.MetricsState, Any, Any, Any]:
    """The metrics state, the row sample of the convexity picture and the training columns'
    standard deviations, in one ``dask.compute`` on Dask data: each block is read once
    and only bounded results reach this process (the state, ``sample_rows`` rows, one
    number per column), never the rows themselves. Coded data (categorical codes, given
    ``coef``): the sample is its rows' margins without the intercept, one column (what the
    convexity picture draws along), and the standard deviations come from the codes'
    counts."""
    import dask

    root = metrics_mod.metrics_state(y_true, proba, sample_weight)
    n = int(X.shape[0])
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=min(n, sample_rows), replace=False))
    if coef is not None and coded_row_bytes(X) is not None:
        lazy = _coded_lazy(X, X_train, rows, y_true, coef)
    else:
        lazy = (X[rows], y_true[rows], X_train.std(axis=0))
    if isinstance(root, metrics_mod.MetricsState):  # in-memory data: nothing to share
        return (root, *dask.compute(*lazy))
    state, *rest = dask.compute(root, *lazy)
    return (state, *rest)


def _coded_lazy(X: Any, X_train: Any, rows: Any, y_true: Any, coef: Any) -> tuple[Any, ...]:
    """The lazy (margin sample, y sample, column std) of coded blocks."""
    import dask
    import dask.array as da

    starts = np.cumsum([0, *X.chunks[0]])
    c = np.asarray(coef, dtype=np.float64)
    parts = []
    for i, block in enumerate(X.to_delayed().ravel()):
        local = rows[(rows >= starts[i]) & (rows < starts[i + 1])] - starts[i]
        if local.size:
            z = dask.delayed(_sample_margins)(block, local, c)
            parts.append(da.from_delayed(z, shape=(local.size, 1), dtype=np.float64))
    moments = [dask.delayed(any_moments)(b) for b in X_train.to_delayed().ravel()]
    p = int(X_train.shape[1])
    std = da.from_delayed(dask.delayed(_std_of)(*moments), shape=(p,), dtype=np.float64)
    return da.concatenate(parts), y_true[rows], std


def _sample_margins(block: Any, local: Any, coef: Any) -> Any:
    return any_margin(block[local], coef, 0.0)[:, None]


def _std_of(*moments: Any) -> Any:
    total = combine_moments(*moments)
    p = (total.size - 1) // 2
    return np.sqrt(total[p + 1 :] / max(total[0], 1.0))


def _best_f1_note(curves: metrics_mod.ReportCurves, evaluation: Mapping[str, Any]) -> str | None:
    """Says that the F1-maximising threshold was chosen on the rows it is scored on."""
    if curves.best_f1 is None:
        return None
    rows = "held-out rows" if evaluation.get("held_out") else "rows"
    return (
        f"The F1-maximising threshold was chosen on the same {rows} its F1 and confusion "
        "counts are computed on, so they are optimistic; check the threshold on other rows "
        "before relying on it."
    )


def _calibration_doc(curves: metrics_mod.ReportCurves) -> dict[str, Any]:
    """Whether the calibration picture was drawn, the rule, and why not when it was not."""
    from .evaluation_plots import CALIBRATION_RULE, calibration_untrusted

    bins = curves.calibration
    why = calibration_untrusted(bins)
    return {
        "drawn": why is None,
        "bins": int(len(bins.rows)),
        "rows": int(np.sum(bins.rows)),
        "rule": CALIBRATION_RULE,
        "note": why,
    }


def _curves_doc(curves: metrics_mod.ReportCurves) -> dict[str, Any]:
    """Whether AUC, average precision and the curves are exact, as a sentence."""
    m = curves.metrics
    if curves.exact:
        note = "ROC AUC, average precision and the curves are exact."
    else:
        note = (
            f"More than {metrics_mod.MAX_DISTINCT:,} distinct scores: the curves are drawn at "
            "fixed thresholds (a grid in the log-odds, cells of 0.0012), each point exact; "
            f"ROC AUC is within {m.get('roc_auc_max_error') or 0.0:.2g} and average "
            f"precision within {m.get('average_precision_max_error') or 0.0:.2g} of the "
            "exact values, and the F1-maximising threshold is the best grid threshold."
        )
    return {"exact": bool(curves.exact), "note": note}


def write_assets(
    directory: str | os.PathLike[str],
    model: Any,
    *,
    y_true: Any,
    proba: Any,
    sample_weight: Any,
    X: Any,
    evaluation: Mapping[str, Any],
    train: tuple[Any, Any, Any],
    metrics: dict[str, Any] | None = None,
    sample_rows: int = 5000,
    seed: int = 0,
) -> dict[str, Any]:
    """Write metrics.json, report.json and the pictures for a fitted ``model`` into
    ``directory``; return ``{"metrics", "pictures", "report"}``.

    ``y_true`` (0/1), ``proba`` (of class 1), ``sample_weight`` and ``X`` are the evaluation
    rows (NumPy or Dask); ``evaluation`` describes them (``data``, ``rows``, ``held_out``:
    None for the training rows, else a sentence saying how they were held out). ``train``
    is (X, y, sample_weight) of the training data, for the coefficient statistics and the
    columns' standard deviations. ``metrics`` (:func:`logloss.metrics.evaluate`'s dict),
    when already computed, is written as given.
    """
    from .plots import make_pictures

    directory = Path(directory)
    coef = np.asarray(model.coef_[0], dtype=np.float64)
    coded = coded_row_bytes(X) is not None
    state, X_sample, y_sample, column_std = _one_pass(
        y_true,
        proba,
        sample_weight,
        X,
        train[0],
        sample_rows=sample_rows,
        seed=seed,
        coef=coef if coded else None,
    )
    weighted = sample_weight is not None
    curves = metrics_mod.curves_from_state(state, weighted=weighted)
    metrics = dict(metrics) if metrics is not None else curves.metrics
    atomic_write_bytes(directory / "metrics.json", (json.dumps(metrics, indent=2) + "\n").encode())
    coef = np.asarray(model.coef_[0], dtype=np.float64)
    p = coef.shape[0]
    names = [str(c) for c in getattr(model, "feature_names_in_", [f"x{j}" for j in range(p)])]
    stats, info, note = _statistics(model, train)
    l1 = bool(getattr(model, "l1_ratio", 0.0)) and math.isfinite(float(getattr(model, "C", 1.0)))
    rows_, sorted_by = coefficient_rows(
        names, coef, column_std=np.asarray(column_std), statistics=stats, l1=l1
    )
    classes = [str(c) for c in np.asarray(model.classes_).tolist()]
    pictures = make_pictures(
        directory,
        history=list(getattr(model, "history_", [])),
        y_true=y_true,
        proba=proba,
        X_sample=np.asarray(X_sample),
        y_sample=np.asarray(y_sample),
        coef=np.ones(1) if coded else coef,  # coded: the sample is the margins
        intercept=model.intercept_[0],
        curves=curves,
        coefficients=(rows_, sorted_by),
        approximate=bool(info.get("approximate")),
        classes=classes,
        cv=getattr(model, "cv_", None),
    )
    history = list(getattr(model, "history_", []))
    doc = {
        "format": "logloss-report",
        "evaluation": {**evaluation, "weighted": sample_weight is not None},
        "thresholds": {
            "default": curves.threshold,
            "best_f1": curves.best_f1,
            "best_f1_note": _best_f1_note(curves, evaluation),
        },
        "calibration_bins": int(len(curves.calibration.rows)),
        "calibration": _calibration_doc(curves),
        "curves": _curves_doc(curves),
        "coefficients": {
            "rows": rows_[:TABLE_ROWS],
            "sorted_by": sorted_by,
            "sort_note": SORT_NOTES[sorted_by],
            "approximate": bool(info.get("approximate")),
            "l1": l1,
            "note": shown_rows(rows_, note)[1],
            "intercept": float(model.intercept_[0]),
            "intercept_row": intercept_row(float(model.intercept_[0]), stats),
        },
        "summary_info": info,
        "fit": {
            "solver": getattr(model, "solver_", None),
            "passes": getattr(model, "n_passes_", None),
            "stop_reason": getattr(model, "stop_reason_", None),
            "seconds": history[-1].get("seconds") if history else None,
        },
    }
    text = json.dumps(_finite(doc), indent=2, default=_json_default) + "\n"
    atomic_write_bytes(directory / REPORT_DATA, text.encode())
    return {"metrics": metrics, "pictures": pictures, "report": doc}
