"""The data checks' picture (``drift.png``): PSI per numeric column against its thresholds,
and the null and unseen-level rates per column; drawn from the checks stored with a model
version (``training.data_checks.checks`` of model.json)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .figures import PathLike, figure, message, save

__all__ = ["DRIFT_PICTURE", "drift_figure"]

DRIFT_PICTURE = "drift.png"
_FLAGGED, _BLOCKING, _OK = "#d9822b", "#c23b22", "#4878a8"


def _colour(check: Mapping[str, Any]) -> str:
    if check.get("blocking"):
        return _BLOCKING
    return _FLAGGED if check.get("flagged") else _OK


def _bars(ax: Any, checks: list[Mapping[str, Any]], title: str, empty: str) -> None:
    ax.set_title(title)
    if not checks:
        message(ax, empty)
        return
    labels = [
        str(c.get("column") or "all rows") + (f" ({c['name']})" if "_" in c["name"] else "")
        for c in checks
    ]
    values = [float(c["value"]) if c.get("value") is not None else 0.0 for c in checks]
    y = list(range(len(checks)))
    ax.barh(y, values, color=[_colour(c) for c in checks])
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    marks = {("warn", c["warn"]) for c in checks if c.get("warn") is not None}
    marks |= {("threshold", c["threshold"]) for c in checks if c.get("threshold") is not None}
    for kind, x in sorted(marks, key=lambda m: m[1]):
        style = "--" if kind == "warn" else "-"
        ax.axvline(x, color="0.3", linestyle=style, linewidth=1)
        ax.annotate(
            f"{kind} {x:g}",
            (x, 0),
            xycoords=("data", "axes fraction"),
            fontsize=8,
            xytext=(2, 2),
            textcoords="offset points",
        )
    ax.set_xlim(left=0)


def drift_figure(checks: Sequence[Mapping[str, Any]], path: PathLike) -> Path:
    """Draw the data ``checks`` (dicts of :meth:`logloss.training.gate.Check.to_json`):
    left the PSI of each numeric column, right the null and unseen-level rates; bars over
    a blocking threshold in red, flagged ones in orange."""
    psi = [c for c in checks if c["name"] == "psi"]
    rates = [c for c in checks if c["name"] in ("null_rate", "unseen_levels", "label_rate_change")]
    rates = [c for c in rates if c["name"] != "null_rate" or c["value"] or c.get("threshold")]
    height = 1.6 + 0.28 * max(len(psi), len(rates), 3)
    fig = figure(10.0, height)
    left, right = fig.subplots(1, 2)
    _bars(
        left,
        psi,
        "PSI against the champion's training data",
        "no champion's bins to compare with: the first run",
    )
    _bars(right, rates, "Null, unseen-level and label-rate changes", "no nulls, no unseen levels")
    left.set_xlabel("population stability index (deciles of the champion's data)")
    right.set_xlabel("share of rows")
    return save(fig, path)
