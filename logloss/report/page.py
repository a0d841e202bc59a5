"""The HTML page about a saved model: metrics, summary, settings, coefficients, history, pictures.

The model is read through :func:`logloss.model.read_model_files` (SHA-256 and field checks),
never by opening its files directly. The page is one self-contained file (pictures embedded
as base64 data URIs) written atomically; its head carries
``<meta name='generator' content='logloss VERSION'>``, by which logloss recognises a page it
wrote (:data:`logloss.outputs.REPORT_MARKERS`).
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import __version__
from ..model import atomic_write_bytes, read_model_files
from .common import METRIC_ORDER, PICTURES, TITLES, fmt, ordered_items, setting_items

__all__ = ["GENERATOR", "write_html_report"]

GENERATOR = f"logloss {__version__}"
"""The content of the page's ``<meta name='generator'>`` tag."""

PathLike = str | os.PathLike[str]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: .25em .7em; text-align: left; }
td { font-variant-numeric: tabular-nums; } th { background: #f3f3f3; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; } .note { color: #666; font-size: .9em; }
"""

# model.json fields shown in their own section (or not at all); the others go to "Model".
_MODEL_KEYS = (
    "coef",
    "intercept",
    "feature_names",
    "classes",
    "params",
    "n_iter",
    "converged",
    "history",
)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    attr = f' class="{html.escape(cls)}"' if cls else ""
    return f"<table{attr}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


# --------------------------------------------------------------------------------------
# Sections: each returns a list of HTML lines (empty when there is nothing to show)
# --------------------------------------------------------------------------------------


def _head(name: str) -> list[str]:
    return [
        "<!DOCTYPE html>",
        "<html lang='en'>",
        "<head><meta charset='utf-8'>",
        f"<meta name='generator' content='{html.escape(GENERATOR)}'>",
        f"<title>{html.escape(f'logloss report: {name}')}</title>",
        f"<style>{_CSS}</style></head>",
        "<body>",
        f"<h1>Logistic regression training report: {html.escape(name)}</h1>",
    ]


def _metrics_section(final: Any) -> list[str]:
    parts = ["<h2>Final metrics</h2>"]
    if isinstance(final, dict) and final:
        rows = ordered_items(final, METRIC_ORDER)
        parts.append(_html_table(["metric", "value"], rows, "metrics"))
    else:
        parts.append("<p class='note'>No metrics.json next to the model.</p>")
    return parts


def _summary_section(
    model: Mapping[str, Any], coef: NDArray[np.float64], intercept: float
) -> list[str]:
    summary: list[tuple[str, Any]] = [(k, model[k]) for k in ("n_iter", "converged") if k in model]
    if "classes" in model:
        classes = model["classes"]
        if isinstance(classes, dict) and "values" in classes:  # {"kind", "dtype", "values"}
            classes = classes["values"]
        summary.append(("classes", classes))
    summary += [("intercept", intercept), ("n_features", coef.shape[0])]
    summary += [(k, v) for k, v in model.items() if k not in _MODEL_KEYS]
    return ["<h2>Model</h2>", _html_table(["field", "value"], summary, "summary")]


def _settings_section(params: Any) -> list[str]:
    if not (isinstance(params, dict) and params):
        return []
    return ["<h2>Settings</h2>", _html_table(["setting", "value"], setting_items(params))]


def _coefficient_section(coef: NDArray[np.float64], feature_names: Any) -> list[str]:
    """(feature name, coefficient) sorted by |coefficient|, largest first."""
    names = [str(n) for n in (feature_names or [])]
    names += [f"x{i}" for i in range(len(names), coef.shape[0])]
    rows = sorted(
        ((n, float(v)) for n, v in zip(names, coef, strict=False)), key=lambda r: -abs(r[1])
    )
    if not rows:
        return []
    return [
        "<h2>Coefficients</h2>",
        "<p class='note'>Sorted by absolute value.</p>",
        _html_table(["feature", "coefficient"], rows, "coefficients"),
    ]


def _history_section(history: Any, limit: int) -> list[str]:
    if not (isinstance(history, list) and history):
        return []
    dicts: list[Mapping[str, Any]] = [h for h in history if isinstance(h, dict)]
    preferred = ("iteration", "loss", "grad_norm", "step", "seconds")
    columns = [c for c in preferred if any(c in h for h in dicts)]
    for h in dicts:
        columns += [k for k in h if k not in columns]
    shown = dicts
    note = ""
    if len(dicts) > limit:
        half = limit // 2
        shown = dicts[:half] + dicts[-half:]
        note = f"<p class='note'>{len(dicts)} iterations; showing the first and last {half}.</p>"
    rows = [[h.get(c) for c in columns] for h in shown]
    return ["<h2>Iteration history</h2>", note + _html_table(columns, rows, "history")]


def _pictures_section(mdir: Path) -> list[str]:
    """The report pictures in their order, then any other PNG in ``mdir``, embedded."""
    pictures = [(name, mdir / fname) for name, fname in PICTURES.items()]
    known = {p for _, p in pictures}
    pictures += [(p.stem, p) for p in sorted(mdir.glob("*.png")) if p not in known]
    figures = []
    for name, png in pictures:
        if not png.is_file():
            continue
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        title = html.escape(TITLES.get(name, name))
        figures.append(
            f"<figure><img src='data:image/png;base64,{data}' alt='{title}'>"
            f"<figcaption>{title} ({html.escape(png.name)})</figcaption></figure>"
        )
    return ["<h2>Pictures</h2>", *figures] if figures else []


# --------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------


def write_html_report(
    model_dir: PathLike,
    out: PathLike | None = None,
    *,
    history_limit: int = 40,
    name: str | None = None,
) -> Path:
    """Write an HTML page about the model saved in ``model_dir``; return its path.

    The model (``model.json`` and ``coef.npy``) is read and verified with
    :func:`logloss.model.read_model_files`: a missing ``model.json`` raises
    FileNotFoundError, a model that fails the checks (not a logloss model, a coefficient
    file whose SHA-256 does not match) raises :class:`logloss.model.ModelFileError` and no
    page is written. ``metrics.json`` (optional, as written from
    :func:`logloss.metrics.evaluate`) and whichever report PNGs exist in ``model_dir``
    (embedded as base64 data URIs, so the page can be moved alone) are added. The page
    holds the final metrics, a summary, the settings, the coefficients sorted by
    magnitude, the iteration history (the first and last ``history_limit // 2`` rows when
    longer) and the pictures. Written to ``out`` (default ``model_dir/report.html``)
    atomically. ``name`` titles the page (default: ``model_dir``'s name; a model's new
    version is written under a temporary name, so its writer passes the real one).
    """
    mdir = Path(model_dir)
    if not (mdir / "model.json").is_file():
        raise FileNotFoundError(f"no model.json in {mdir}: save a model there first")
    model, vec = read_model_files(mdir)
    coef, intercept = vec[:-1], float(vec[-1])
    metrics_path = mdir / "metrics.json"
    final = None
    if metrics_path.is_file():
        with metrics_path.open(encoding="utf-8") as f:
            final = json.load(f)

    parts = [
        *_head(name or mdir.resolve().name),
        *_metrics_section(final),
        *_summary_section(model, coef, intercept),
        *_settings_section(model.get("params")),
        *_coefficient_section(coef, model.get("feature_names")),
        *_history_section(model.get("history"), history_limit),
        *_pictures_section(mdir),
        "</body>",
        "</html>",
        "",
    ]
    target = Path(out) if out is not None else mdir / "report.html"
    return atomic_write_bytes(target, "\n".join(parts).encode("utf-8"))
