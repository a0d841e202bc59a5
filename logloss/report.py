"""Training report: pictures (PNG, matplotlib Agg), an HTML page and a Markdown body.

Conventions
-----------
- Pictures are drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas, never
  through ``pyplot``: no display, no global figure registry, safe from worker threads.
- Every file is written atomically: to a temporary name in the target directory, then
  ``os.replace``-d onto the final name, so a reader never sees half a file.
- ``history`` is a sequence of mappings with keys ``iteration``, ``loss``, ``grad_norm``,
  ``step``, ``seconds`` (one per solver iteration); missing keys are tolerated.
- ``coef`` has one entry per feature (shape (p,) or (1, p)); ``intercept`` is a scalar
  (or a length-1 array). The parameter vector along a line is ``(coef, intercept)``.
- ``y_true``/``proba`` handed to :func:`make_pictures` may be NumPy or Dask arrays; the
  curves are computed with :mod:`logloss.metrics` (one distributed pass). ``X_sample`` and
  ``y_sample`` are a small in-memory NumPy sample used for the convexity picture.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

from logloss import metrics
from logloss.model import atomic_write_bytes

__all__ = [
    "PICTURES",
    "losses_along_line",
    "make_pictures",
    "markdown_report",
    "plot_calibration",
    "plot_convexity",
    "plot_logloss_branches",
    "plot_loss_curve",
    "plot_roc",
    "write_html_report",
]

PICTURES: dict[str, str] = {
    "loss_curve": "loss_curve.png",
    "roc": "roc.png",
    "calibration": "calibration.png",
    "logloss_branches": "logloss_branches.png",
    "convexity": "convexity.png",
}
"""Picture name -> file name, in the order the report shows them."""

_TITLES: dict[str, str] = {
    "loss_curve": "Training loss and gradient norm",
    "roc": "ROC curve",
    "calibration": "Calibration (reliability diagram)",
    "logloss_branches": "The two branches of the log loss",
    "convexity": "Log loss vs MSE∘σ along a line through the fitted weights",
}

_DPI = 110
Array = NDArray[np.float64]
PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


def _save(fig: Figure, path: PathLike) -> Path:
    """Render ``fig`` to PNG atomically."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


def _figure(width: float = 6.4, height: float = 4.8) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _message(ax: Axes, text: str) -> None:
    """Write ``text`` in the middle of an empty panel (used when there is nothing to draw)."""
    ax.text(0.5, 0.5, textwrap.fill(text, 48), ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


# --------------------------------------------------------------------------------------
# Pictures
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
    grad = _column(history, "grad_norm")

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
    return _save(fig, path)


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
    mistakes without bound, the squared error by at most 1."""
    p = np.linspace(1e-3, 1 - 1e-3, 999)
    fig = _figure(6.4, 4.6)
    ax = fig.subplots()
    ax.plot(p, -np.log(p), color="tab:blue", lw=2, label="y = 1: −log(ŷ)")
    ax.plot(p, -np.log1p(-p), color="tab:red", lw=2, label="y = 0: −log(1 − ŷ)")
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


def _line_margins(
    X: ArrayLike, coef: ArrayLike, intercept: ArrayLike, direction: ArrayLike | None
) -> tuple[Array, Array]:
    """(z0, dz) so that the margins along the line are z(t) = z0 + t·dz."""
    Xa = np.asarray(X, dtype=np.float64)
    if Xa.ndim != 2:
        raise ValueError(f"X must be 2-D (rows, features); got shape {Xa.shape}")
    c = np.ravel(np.asarray(coef, dtype=np.float64))
    b = float(np.ravel(np.asarray(intercept, dtype=np.float64))[0])
    if c.shape[0] != Xa.shape[1]:
        raise ValueError(
            f"coef must have one entry per column of X; got {c.shape[0]} and {Xa.shape[1]}"
        )
    z_fit = Xa @ c + b
    if direction is None:
        return np.zeros_like(z_fit), z_fit
    d = np.ravel(np.asarray(direction, dtype=np.float64))
    if d.shape[0] not in (c.shape[0], c.shape[0] + 1):
        raise ValueError(
            "direction must have p or p + 1 entries (coefficients, then intercept); "
            f"got {d.shape[0]} for p = {c.shape[0]}"
        )
    dz = Xa @ d[: c.shape[0]] + (d[c.shape[0]] if d.shape[0] > c.shape[0] else 0.0)
    return z_fit, dz


def losses_along_line(
    X: ArrayLike,
    y: ArrayLike,
    coef: ArrayLike,
    intercept: ArrayLike,
    ts: ArrayLike,
    direction: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Mean log loss and mean squared error of σ(z) along a line in weight space.

    Without ``direction`` the line is w(t) = t · (coef, intercept) (t = 1 is the fit,
    t = 0 the zero model); with a ``direction`` d (p or p + 1 entries, the last one for
    the intercept) it is w(t) = (coef, intercept) + t · d. ``y`` holds 0/1 labels.
    Returns ``(logloss_values, mse_values)``, one per t. Log loss is convex in w, so the
    first is convex in t; MSE∘σ is not convex in general.
    """
    z0, dz = _line_margins(X, coef, intercept, direction)
    yf = np.asarray(y, dtype=np.float64).ravel()
    if yf.shape[0] != z0.shape[0]:
        raise ValueError(f"X and y must have the same rows; got {z0.shape[0]} and {yf.shape[0]}")
    t = np.asarray(ts, dtype=np.float64).ravel()
    ll = np.empty(t.shape[0])
    mse = np.empty(t.shape[0])
    for i, ti in enumerate(t):
        z = z0 + ti * dz
        ll[i] = np.mean(np.logaddexp(0.0, z) - yf * z)
        mse[i] = np.mean((expit(z) - yf) ** 2)
    return ll, mse


def _second_differences(v: Array) -> Array:
    return v[2:] - 2.0 * v[1:-1] + v[:-2]


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
        t = np.linspace(-3.0, 3.0, 241)
        for scale in (1.0, 2.0, 4.0, 8.0, 16.0):
            t = np.linspace(-3.0 * scale, 3.0 * scale, 241)
            _, mse = losses_along_line(X, y_sample, c, b, t, direction)
            if (_second_differences(mse) < -1e-12).any():
                break
    else:
        t = np.asarray(ts, dtype=np.float64).ravel()
    ll, mse = losses_along_line(X, y_sample, c, b, t, direction)
    d2_ll, d2_mse = _second_differences(ll), _second_differences(mse)
    fit_t = 1.0 if direction is None else 0.0
    line = "w(t) = t·(w_fit, w₀)" if direction is None else "w(t) = w_fit + t·d"

    fig = _figure(11.0, 4.4)
    ax_ll, ax_mse = fig.subplots(1, 2, sharex=True)
    ax_ll.plot(t, ll, color="tab:blue", lw=2, label="log loss J(w(t))")
    ax_mse.plot(t, mse, color="tab:red", lw=2, label="MSE∘σ: mean (σ(z) − y)²")
    concave = np.r_[False, d2_mse < -1e-12, False]  # aligned with t
    if concave.any():
        half = (t[-1] - t[0]) / max(len(t) - 1, 1) / 2.0
        edges = np.flatnonzero(np.diff(concave.astype(np.int8)))  # run starts/ends
        for start, stop in zip(edges[::2] + 1, edges[1::2], strict=True):
            ax_mse.axvspan(t[start] - half, t[stop] + half, color="tab:red", alpha=0.08, lw=0)
        ax_mse.plot([], [], color="tab:red", alpha=0.25, lw=6, label="curving down (not convex)")
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


def _message_picture(text: str, title: str, path: PathLike) -> Path:
    fig = _figure(5.2, 3.0)
    ax = fig.subplots()
    ax.set_title(title)
    _message(ax, text)
    return _save(fig, path)


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


# --------------------------------------------------------------------------------------
# Text reports
# --------------------------------------------------------------------------------------


def _fmt(v: Any) -> str:
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


_METRIC_ORDER = ("n", "log_loss", "accuracy", "roc_auc", "tn", "fp", "fn", "tp")


def _ordered_items(d: Mapping[str, Any], first: Sequence[str] = ()) -> list[tuple[str, Any]]:
    keys = [k for k in first if k in d] + [k for k in d if k not in first]
    return [(k, d[k]) for k in keys]


def _md_cell(v: Any) -> str:
    return _fmt(v).replace("|", "\\|").replace("\n", " ")


def markdown_report(
    metrics: Mapping[str, Any], params: Mapping[str, Any], picture_links: Mapping[str, str]
) -> str:
    """Markdown body with the final metrics, the settings and the pictures (as images).

    ``picture_links`` maps a picture name (e.g. ``"roc"``) to a URL or relative path.
    """
    lines = ["## Final metrics", "", "| metric | value |", "|---|---|"]
    lines += [
        f"| {_md_cell(k)} | {_md_cell(v)} |" for k, v in _ordered_items(metrics, _METRIC_ORDER)
    ]
    if not metrics:
        lines.append("| (none) | |")
    lines += ["", "## Settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| {_md_cell(k)} | {_md_cell(v)} |" for k, v in _ordered_items(params)]
    if not params:
        lines.append("| (none) | |")
    if picture_links:
        lines += ["", "## Pictures", ""]
        for name, link in picture_links.items():
            title = _TITLES.get(name, name)
            lines += [f"### {title}", "", f"![{title}]({link})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    attr = f' class="{html.escape(cls)}"' if cls else ""
    return f"<table{attr}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _model_weights(model: Mapping[str, Any], model_dir: Path) -> tuple[Array | None, float | None]:
    """(coef, intercept) from ``model.json``, or else from the coefficient file beside it.

    The coefficient file (``model["coef_file"]``, default ``coef.npy``) holds the float64
    vector [coef_0 .. coef_{p-1}, intercept]; it is read with ``allow_pickle=False`` and
    skipped if unreadable (the rest of the report is still written).
    """
    coef = model.get("coef")
    intercept = model.get("intercept")
    if coef is None:
        path = model_dir / str(model.get("coef_file", "coef.npy"))
        if path.is_file():
            try:
                vec = np.ravel(np.load(path, allow_pickle=False)).astype(np.float64)
            except (OSError, ValueError):
                vec = np.empty(0)
            if vec.size:
                coef = vec[:-1]
                intercept = vec[-1] if intercept is None else intercept
    c = None if coef is None else np.ravel(np.asarray(coef, dtype=np.float64))
    b = None if intercept is None else float(np.ravel(np.asarray(intercept, dtype=np.float64))[0])
    return c, b


def _coefficient_rows(coef: Array, feature_names: Any) -> list[tuple[str, float]]:
    """(feature name, coefficient) sorted by |coefficient|, largest first."""
    names = [str(n) for n in (feature_names or [])]
    names += [f"x{i}" for i in range(len(names), coef.shape[0])]
    rows = [(n, float(v)) for n, v in zip(names, coef, strict=False)]
    return sorted(rows, key=lambda r: -abs(r[1]))


def _history_table(history: Sequence[Mapping[str, Any]], limit: int) -> str:
    preferred = ("iteration", "loss", "grad_norm", "step", "seconds")
    columns = [c for c in preferred if any(c in h for h in history)]
    for h in history:
        columns += [k for k in h if k not in columns]
    indexed = list(enumerate(history))
    note = ""
    if len(history) > limit:
        half = limit // 2
        indexed = indexed[:half] + indexed[-half:]
        note = f"<p class='note'>{len(history)} iterations; showing the first and last {half}.</p>"
    rows = [[h.get(c) for c in columns] for _, h in indexed]
    return note + _html_table(columns, rows, "history")


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: .25em .7em; text-align: left; }
td { font-variant-numeric: tabular-nums; } th { background: #f3f3f3; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; } .note { color: #666; font-size: .9em; }
"""

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


def write_html_report(
    model_dir: PathLike, out: PathLike | None = None, *, history_limit: int = 40
) -> Path:
    """Write an HTML page about the model saved in ``model_dir``; return its path.

    Reads ``model.json`` (required; every key optional; the coefficients come from its
    ``coef``/``intercept`` keys or else from ``coef.npy`` beside it, laid out as
    [coef_0 .. coef_{p-1}, intercept]), ``metrics.json`` (optional, as
    written from :func:`logloss.metrics.evaluate`) and whichever report PNGs exist in
    ``model_dir`` (embedded as base64 data URIs, so the page can be moved alone). The
    page holds the final metrics, a summary, the settings, the coefficients sorted by
    magnitude, the iteration history (the first and last ``history_limit // 2`` rows when
    longer) and the pictures. Written to ``out`` (default ``model_dir/report.html``)
    atomically.
    """
    mdir = Path(model_dir)
    model_path = mdir / "model.json"
    if not model_path.is_file():
        raise FileNotFoundError(f"no model.json in {mdir}: save a model there first")
    model = _read_json(model_path)
    if not isinstance(model, dict):
        raise ValueError(f"model.json must hold a JSON object; got {type(model).__name__}")
    metrics_path = mdir / "metrics.json"
    final = _read_json(metrics_path) if metrics_path.is_file() else None

    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'>",
        "<head><meta charset='utf-8'>",
        f"<title>{html.escape(f'logloss report: {mdir.resolve().name}')}</title>",
        f"<style>{_CSS}</style></head>",
        "<body>",
        f"<h1>Logistic regression training report: {html.escape(mdir.resolve().name)}</h1>",
    ]

    parts.append("<h2>Final metrics</h2>")
    if isinstance(final, dict) and final:
        rows = _ordered_items(final, _METRIC_ORDER)
        parts.append(_html_table(["metric", "value"], rows, "metrics"))
    else:
        parts.append("<p class='note'>No metrics.json next to the model.</p>")

    coef, intercept = _model_weights(model, mdir)
    summary: list[tuple[str, Any]] = []
    for key in ("n_iter", "converged"):
        if key in model:
            summary.append((key, model[key]))
    if "classes" in model:
        classes = model["classes"]
        if isinstance(classes, dict) and "values" in classes:  # {"kind", "dtype", "values"}
            classes = classes["values"]
        summary.append(("classes", classes))
    if intercept is not None:
        summary.append(("intercept", intercept))
    if coef is not None:
        summary.append(("n_features", coef.shape[0]))
    summary += [(k, v) for k, v in model.items() if k not in _MODEL_KEYS]
    if summary:
        parts += ["<h2>Model</h2>", _html_table(["field", "value"], summary, "summary")]

    params = model.get("params")
    if isinstance(params, dict) and params:
        parts += ["<h2>Settings</h2>", _html_table(["setting", "value"], list(params.items()))]

    coef_rows = [] if coef is None else _coefficient_rows(coef, model.get("feature_names"))
    if coef_rows:
        parts += [
            "<h2>Coefficients</h2>",
            "<p class='note'>Sorted by absolute value.</p>",
            _html_table(["feature", "coefficient"], coef_rows, "coefficients"),
        ]

    history = model.get("history")
    if isinstance(history, list) and history:
        dicts = [h for h in history if isinstance(h, dict)]
        parts += ["<h2>Iteration history</h2>", _history_table(dicts, history_limit)]

    pictures = [(name, mdir / fname) for name, fname in PICTURES.items()]
    known = {p for _, p in pictures}
    pictures += [(p.stem, p) for p in sorted(mdir.glob("*.png")) if p not in known]
    figures = []
    for name, png in pictures:
        if not png.is_file():
            continue
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        title = html.escape(_TITLES.get(name, name))
        figures.append(
            f"<figure><img src='data:image/png;base64,{data}' alt='{title}'>"
            f"<figcaption>{title} ({html.escape(png.name)})</figcaption></figure>"
        )
    if figures:
        parts += ["<h2>Pictures</h2>", *figures]
    parts += ["</body>", "</html>", ""]

    target = Path(out) if out is not None else mdir / "report.html"
    text = "\n".join(parts)
    return atomic_write_bytes(target, text.encode("utf-8"))
