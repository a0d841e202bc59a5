"""The HTML page about a saved model, rendered from a Jinja2 template shipped with the package.

Order: which data the metrics come from (at the top), the pictures, a short model card,
then details (metrics, coefficients, fit statistics, cross-validation, settings, history),
and internals (file format, coefficient SHA-256) at the bottom.

The model is read through :func:`logloss.storage.read_model` (header and field checks),
never by opening its files directly. The page is one self-contained file (pictures embedded
as base64 data URIs, no scripts, no external resources) written atomically; every string
from the model or the data is HTML-escaped (the template environment autoescapes). Its
head carries ``<meta name='generator' content='logloss VERSION'>``, by which logloss
recognises a page it wrote (:data:`logloss.storage.REPORT_MARKERS`).
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..storage import atomic_write_bytes
from ..storage.files import read_model as read_model_files
from ..version import __version__
from .assets import REPORT_DATA
from .coefficients import SORT_NOTES, coefficient_rows, shown_rows
from .common import METRIC_ORDER, PICTURES, TITLES, fmt, ordered_items, setting_items

__all__ = ["CAPTIONS", "GENERATOR", "SECTIONS", "write_html_report"]

GENERATOR = f"logloss {__version__}"
"""The content of the page's ``<meta name='generator'>`` tag."""

SECTIONS = ("evaluated-on", "pictures", "model-card", "details", "internals")
"""The ids of the page's sections, in page order (a published run's model also has
``promotion-gate``, after ``evaluated-on``)."""

PathLike = str | os.PathLike[str]

CAPTIONS: dict[str, str] = {
    "loss_curve": "Left: the mean training log loss per iteration and, when a penalty makes "
    "them differ, the penalised objective the solver minimises (dashed); the largest "
    "gradient component on the right axis. Right: the objective minus the best reached "
    "(log scale); a straight line is linear convergence.",
    "coefficients": "Each coefficient (dot) with its 95% interval (bar): per standard "
    "deviation of the feature (left, comparable across features) and per unit of the "
    "feature (right). For a coefficient the data identify, an interval that does not cross "
    "0 marks a coefficient distinguishable from 0 at the 5% level.",
    "cv": "Mean held-out log loss over the folds against C (log axis) with a band of ±1 "
    "standard error; the dashed line marks the chosen C.",
    "roc": "True positive rate against false positive rate as the threshold falls.",
    "precision_recall": "Precision against recall as the threshold falls; AP (average "
    "precision) is the area under this step curve. The dashed line is a model with no "
    "skill (precision = the positive rate); the dot is the F1-maximising threshold.",
    "calibration": "Rows grouped into bins at quantiles of the predicted probability (at "
    "least 50 rows each where the data allow). Each dot is a bin's fraction of positives "
    "against its mean prediction, with a 95% Wilson interval; a calibrated model lies on "
    "the diagonal. Below: each bin's rows and range of predictions.",
    "confusion": "Counts and shares of rows at the default threshold 0.5 and at the "
    "threshold that maximises F1 (each stated in its title).",
    "score_histograms": "Predicted probabilities of the rows of each actual class; a good "
    "model separates them. The thresholds of the confusion matrices are marked.",
    "logloss_branches": "The cost of one example under log loss and under the squared error: "
    "log loss punishes confident mistakes without bound.",
    "convexity": "Along a line through the fitted weights the log loss is convex; the squared "
    "error of σ(z) is not (shaded where it curves down).",
}
"""Picture name -> the sentence under it."""

# model.json fields shown elsewhere on the page; the rest go to "Internals".
_SHOWN = (
    "coef",
    "intercept",
    "feature_names",
    "params",
    "history",
    "training",
    "cv",
    "n_iter",
    "converged",
    "n_rows",
    "n_features_in",
)
_CARD_SETTINGS = (
    "C",
    "l1_ratio",
    "standardize",
    "fit_intercept",
    "class_weight",
    "max_iter",
    "tol",
    "missing",
)


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("logloss.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = fmt
    env.filters["fmt4"] = _fmt4
    return env


def _fmt4(v: Any) -> str:
    """A number with 4 significant digits (the coefficient table), else :func:`fmt`."""
    if isinstance(v, float) and np.isfinite(v):
        return f"{v:.4g}"
    return fmt(v)


_WIDE = {"loss_curve", "coefficients", "confusion", "convexity", "score_histograms"}
"""Pictures shown across the page's width; the others two to a row."""


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def _classes(model: Mapping[str, Any]) -> list[Any]:
    classes = model.get("classes")
    if isinstance(classes, dict) and "values" in classes:  # {"kind", "dtype", "values"}
        classes = classes["values"]
    return list(classes) if isinstance(classes, list) else []


def _figures(mdir: Path) -> list[dict[str, Any]]:
    """The report pictures in their order, then any other PNG in ``mdir``, embedded."""
    pictures = [(name, mdir / fname) for name, fname in PICTURES.items()]
    known = {p for _, p in pictures}
    known.add(mdir / "drift.png")  # drawn in the promotion gate's section
    pictures += [(p.stem, p) for p in sorted(mdir.glob("*.png")) if p not in known]
    return [
        {
            "name": name,
            "wide": name in _WIDE,
            "title": TITLES.get(name, name),
            "caption": CAPTIONS.get(name, png.name),
            "data": base64.b64encode(png.read_bytes()).decode("ascii"),
        }
        for name, png in pictures
        if png.is_file()
    ]


def _gate(model: Mapping[str, Any], mdir: Path) -> dict[str, Any] | None:
    """The "Promotion gate" section: the verdict, both models' numbers on the hold-out,
    the rules, the data checks (a table) and their picture; None for a model without."""
    training = model.get("training") or {}
    verdict, found = training.get("gate"), training.get("data_checks")
    if not isinstance(verdict, dict):
        return None
    new, old = verdict.get("challenger") or {}, verdict.get("champion")
    rows = []
    for label, key in (("log loss", "log_loss"), ("ROC AUC", "roc_auc"), ("rows", "n")):
        a, b = new.get(key), (old or {}).get(key)
        delta = a - b if isinstance(a, float) and isinstance(b, float) else None
        rows.append((label, a, b, delta))
    checks = (found or {}).get("checks") or [] if isinstance(found, dict) else []
    drift = mdir / "drift.png"
    return {
        "status": verdict.get("status"),
        "reasons": verdict.get("reasons") or [],
        "flagged": verdict.get("flagged") or [],
        "champion_version": verdict.get("champion_version"),
        "rows": rows,
        "rules": [(f"gate_{k}", v) for k, v in (verdict.get("rules") or {}).items()],
        "start": (training.get("start") or {}).get("line"),
        "checks": checks,
        "picture": base64.b64encode(drift.read_bytes()).decode("ascii")
        if drift.is_file()
        else None,
    }


def _history(history: Any, limit: int) -> dict[str, Any] | None:
    """The history table: ``step`` only where a solver recorded a real one (not all 0)."""
    if not (isinstance(history, list) and history):
        return None
    dicts: list[Mapping[str, Any]] = [h for h in history if isinstance(h, dict)]
    labels = {
        "loss": "objective",
        "log_loss": "log loss",
        "grad_norm": "max |∇J|",
        "step": "step ‖Δθ‖",
        "seconds": "seconds",
    }
    preferred = ("iteration", "log_loss", "loss", "grad_norm", "step", "seconds")
    columns = [c for c in preferred if any(c in h for h in dicts)]
    for h in dicts:
        columns += [k for k in h if k not in columns]
    steps = [h.get("step") for h in dicts]
    if all(s is None or s == 0 for s in steps):
        columns = [c for c in columns if c != "step"]
    shown, note = dicts, ""
    if len(dicts) > limit:
        half = limit // 2
        shown = dicts[:half] + dicts[-half:]
        note = f"{len(dicts)} iterations; showing the first and last {half}."
    return {
        "columns": [labels.get(c, c) for c in columns],
        "rows": [[h.get(c) for c in columns] for h in shown],
        "note": note,
    }


def _cv_table(cv: Any) -> dict[str, Any] | None:
    if not (isinstance(cv, dict) and cv.get("Cs")):
        return None
    Cs = list(cv["Cs"])
    mean = np.asarray(cv.get("mean", []), dtype=np.float64)
    se = np.asarray(cv.get("std_err", []), dtype=np.float64)
    if mean.ndim == 1:
        mean, se = mean[None, :], se[None, :]
    ratios = cv.get("l1_ratios") or [None]
    header = []
    for r in ratios[: mean.shape[0]]:
        tag = "" if r is None else f" (l1_ratio {fmt(r)})"
        header += [f"held-out log loss{tag}", "± s.e."]
    rows = [
        [c, *[v for k in range(mean.shape[0]) for v in (-mean[k, i], se[k, i])]]
        for i, c in enumerate(Cs)
        if i < mean.shape[1]
    ]
    return {**cv, "header": header, "rows": rows}


def _evaluation(report: Any, model: Mapping[str, Any]) -> dict[str, Any] | None:
    if not (isinstance(report, dict) and isinstance(report.get("evaluation"), dict)):
        return None
    ev = dict(report["evaluation"])
    trained_on = (model.get("training") or {}).get("data")
    ev.setdefault("held_out", None)
    ev.setdefault("weighted", False)
    ev["training_data"] = trained_on
    ev["same_as_training"] = trained_on is None or ev.get("data") == trained_on
    return ev


def _card(
    model: Mapping[str, Any], report: Mapping[str, Any], n_features: int
) -> list[tuple[str, Any]]:
    training = model.get("training") or {}
    params = model.get("params") or {}
    fit = report.get("fit") or {}
    card: list[tuple[str, Any]] = []
    card.append(("data", training.get("data", "not recorded")))
    card.append(("label", training.get("label", "not recorded")))
    classes = _classes(model)
    if classes:
        card.append(("classes", f"{fmt(classes[0])} / {fmt(classes[-1])} (positive)"))
    rows = training.get("n_rows", model.get("n_rows"))
    dropped = training.get("n_dropped")
    card.append(("rows", f"{fmt(rows)}" + (f" ({dropped} dropped)" if dropped else "")))
    if training.get("weight"):
        card.append(("sample weights", training["weight"]))
    encoding = model.get("encoding")
    columns = (
        len(encoding.get("columns", []))
        if isinstance(encoding, dict) and isinstance(encoding.get("columns"), list)
        else None
    )
    card.append(("features", f"{n_features}" + (f" (from {columns} columns)" if columns else "")))
    solver = params.get("solver", "not recorded")
    used = fit.get("solver")
    card.append(("solver", f"{used} ({solver})" if used and used != solver else solver))
    settings = ", ".join(
        f"{k}={'None' if params[k] is None else fmt(params[k])}"
        for k in _CARD_SETTINGS
        if k in params
    )
    card.append(("settings", settings or "not recorded"))
    cv = model.get("cv")
    if isinstance(cv, dict):
        card.append(
            ("C chosen by", f"{cv.get('folds')}-fold cross-validation (C = {fmt(cv.get('C'))})")
        )
    converged = model.get("converged")
    text = "yes" if converged is True else "NO" if converged is False else "not recorded"
    text += f" after {model['n_iter']} iterations" if "n_iter" in model else ""
    if fit.get("passes") is not None:
        text += f", {fit['passes']} passes over the data"
    if fit.get("stop_reason"):
        text += f" ({fit['stop_reason']})"
    card.append(("converged", text))
    seconds = fit.get("seconds")
    if seconds is None and isinstance(model.get("history"), list) and model["history"]:
        seconds = model["history"][-1].get("seconds")
    when = training.get("trained_at")
    timing = "" if seconds is None else f"fit {seconds:.3g} s"
    timing += ("; " if timing and when else "") + (f"trained at {when}" if when else "")
    card.append(("time", timing or "not recorded"))
    return card


#: summary_info entries shown as sections of their own, not in the fit statistics table
_INFO_LISTS = ("identified_by_penalty", "not_identified", "categorical_tests")

PENALTY_NOTE = (
    "Every level of a categorical column has its own indicator and the model has an "
    "intercept, so only the penalty identifies these coefficients: {names}. Their "
    "intervals would show the penalty's width, not the data's, so none are given and no "
    "per-level test is made; whether the column matters is its joint Wald test below. "
    "Train with --categorical-coding reference for per-level differences from a "
    "reference level with their tests."
)
NONE_NOTE = (
    "Not identified by the data (every level of a categorical column coded, an "
    "intercept, no penalty): {names}. No statistics are given for them; the columns' "
    "joint Wald tests below are identified."
)


def _identification_notes(info: Mapping[str, Any]) -> list[str]:
    from ..data.errors import some_items  # here: the data package imports Dask

    out = []
    for key, text in (("identified_by_penalty", PENALTY_NOTE), ("not_identified", NONE_NOTE)):
        names = info.get(key)
        if isinstance(names, list) and names:
            out.append(text.format(names=some_items([str(n) for n in names], 12)))
    return out


def _categorical_tests(info: Mapping[str, Any]) -> list[dict[str, Any]]:
    tests = info.get("categorical_tests")
    return [t for t in tests if isinstance(t, dict)] if isinstance(tests, list) else []


def _coefficients(
    model: Mapping[str, Any],
    report: Mapping[str, Any],
    coef: NDArray[np.float64],
    intercept: float,
) -> dict[str, Any]:
    found = report.get("coefficients")
    if isinstance(found, dict) and isinstance(found.get("rows"), list):
        out = dict(found)
    else:
        names = [str(n) for n in (model.get("feature_names") or [])]
        names += [f"x{i}" for i in range(len(names), coef.shape[0])]
        params = model.get("params") or {}
        C = params.get("C", 1.0)
        l1 = bool(params.get("l1_ratio")) and C is not None and math.isfinite(float(C))
        rows, sorted_by = coefficient_rows(names[: coef.shape[0]], coef, l1=l1)
        rows, note = shown_rows(
            rows,
            "No statistics and no standardised units: they need data "
            "(logloss report MODEL --data DATA).",
        )
        out = {
            "rows": rows,
            "sorted_by": sorted_by,
            "sort_note": SORT_NOTES[sorted_by],
            "note": note,
            "l1": l1,
        }
    rows = out["rows"]
    found_row = out.get("intercept_row")
    row = found_row if isinstance(found_row, dict) else {"feature": "intercept"}
    row = {**row, "coef": intercept}  # the verified coefficient file's value
    out["intercept_row"] = row
    out["has_stats"] = any(r.get("std_err") is not None for r in [*rows, row])
    out["has_std"] = any(r.get("std_coef") is not None for r in rows)
    info = report.get("summary_info") or {}
    out["identification_notes"] = _identification_notes(info) if isinstance(info, dict) else []
    out["tests"] = _categorical_tests(info) if isinstance(info, dict) else []
    return out


def _note_unidentified(figures: list[dict[str, Any]]) -> None:
    """The coefficients caption, when some rows have no interval because only the penalty
    identifies them."""
    for figure in figures:
        if figure["name"] == "coefficients":
            figure["caption"] += (
                " Coefficients identified only by the penalty (the levels of a categorical "
                "column coded with every level, see the table) have no bar."
            )


def _trust_notes(report: Mapping[str, Any]) -> list[str]:
    """What the pictures cannot be trusted for: calibration drawn from too few rows, curves
    from binned scores (the sentences come from report.json, written with the pictures)."""
    notes = []
    for key in ("calibration", "curves"):
        part = report.get(key)
        if isinstance(part, dict) and part.get("note") and part.get("exact") is not True:
            notes.append(str(part["note"]))  # (exact curves need no warning)
    return notes


def _internals(model: Mapping[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = [(k, v) for k, v in model.items() if k not in _SHOWN]
    out.append(("generator", GENERATOR))
    return out


def write_html_report(
    model_dir: PathLike,
    out: PathLike | None = None,
    *,
    history_limit: int = 40,
    name: str | None = None,
) -> Path:
    """Write an HTML page about the model saved in ``model_dir``; return its path.

    The model (``model.json`` and ``coef.npy``) is read and verified with
    :func:`logloss.storage.read_model`: a missing ``model.json`` raises
    FileNotFoundError, a model that fails the checks (not a logloss model, a coefficient
    file whose header does not match) raises :class:`logloss.storage.ModelFileError` and no
    page is written. ``metrics.json``, ``report.json`` (:mod:`logloss.report.assets`) and
    whichever report PNGs exist in ``model_dir`` (embedded as base64 data URIs, so the page
    can be moved alone) are added when present. The iteration history shows the first and
    last ``history_limit // 2`` rows when longer. Written to ``out`` (default
    ``model_dir/report.html``) atomically. ``name`` titles the page (default:
    ``model_dir``'s name; a model's new version is written under a temporary name, so its
    writer passes the real one).
    """
    mdir = Path(model_dir)
    if not (mdir / "model.json").is_file():
        raise FileNotFoundError(f"no model.json in {mdir}: save a model there first")
    model, vec = read_model_files(mdir)
    coef, intercept = vec[:-1], float(vec[-1])
    final = _read_json(mdir / "metrics.json")
    report = _read_json(mdir / REPORT_DATA)
    report = report if isinstance(report, dict) else {}
    metrics = ordered_items(final, METRIC_ORDER) if isinstance(final, dict) and final else []
    headline_keys = (
        ("log loss", "log_loss"),
        ("ROC AUC", "roc_auc"),
        ("average precision (PR AUC)", "average_precision"),
        ("Brier score", "brier_score"),
        ("accuracy at 0.5", "accuracy"),
    )
    headline = [
        (label, final[k]) for label, k in headline_keys if isinstance(final, dict) and k in final
    ]
    info = report.get("summary_info") or {}
    classes = _classes(model)
    figures = _figures(mdir)
    coefficients = _coefficients(model, report, coef, intercept)
    context = {
        "generator": GENERATOR,
        "name": name or mdir.resolve().name,
        "evaluation": _evaluation(report, model),
        "gate": _gate(model, mdir),
        "headline": headline,
        "figures": figures,
        "card": _card(model, report, int(coef.shape[0])),
        "metrics": metrics,
        "thresholds": report.get("thresholds"),
        "trust_notes": _trust_notes(report),
        "positive": fmt(classes[-1]) if classes else "1",
        "coefficients": coefficients,
        "n_features": int(coef.shape[0]),
        "intercept": intercept,
        "summary_info": [(k, v) for k, v in info.items() if k not in _INFO_LISTS]
        if isinstance(info, dict)
        else [],
        "cv": _cv_table(model.get("cv")),
        "settings": [
            (k, "None" if v is None else v) for k, v in setting_items(model.get("params") or {})
        ],
        "history": _history(model.get("history"), history_limit),
        "internals": _internals(model),
    }
    if coefficients["identification_notes"]:
        _note_unidentified(figures)
    page = _environment().get_template("report.html.j2").render(**context)
    target = Path(out) if out is not None else mdir / "report.html"
    return atomic_write_bytes(target, page.encode("utf-8"))
