"""The report's coefficient rows: both units, 95% intervals, sorted by |z| (pure NumPy).

A row is a dict with ``feature``, ``coef`` (original units), ``std_err``, ``z``,
``p_value``, ``ci_low``/``ci_high`` (95%, original units; None without statistics),
``column_std`` (the feature's standard deviation in the data, None when unknown) and the
standardised ``std_coef``, ``std_ci_low``, ``std_ci_high`` (the original-unit values
times ``column_std``: the change in the log-odds per standard deviation of the feature),
and ``identified_by`` (the summary's: "data", "penalty" or "none"; None without
statistics). A coefficient identified only by the penalty (a level of an all-level coded
categorical column, with an intercept) gets no interval, z or p-value here: its interval
would be the penalty's width, and read as a test it would mislead; its column's joint
Wald test is the test. The intercept is not a row; :func:`intercept_row` makes its row
for the page's table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["SORT_NOTES", "TABLE_ROWS", "coefficient_rows", "intercept_row", "shown_rows"]

#: The report lists at most this many coefficients (the first in the rows' order: the
#: largest); a wide model's other coefficients are in its coef.npy.
TABLE_ROWS = 200


def shown_rows(rows: list[dict[str, Any]], note: str) -> tuple[list[dict[str, Any]], str]:
    """The first :data:`TABLE_ROWS` rows, and ``note`` saying so when rows were left out."""
    if len(rows) <= TABLE_ROWS:
        return rows, note
    more = f"The {TABLE_ROWS} largest of {len(rows):,} coefficients are listed."
    return rows[:TABLE_ROWS], f"{note} {more}".strip()


SORT_NOTES = {
    "z": "sorted by |z| (coefficient / standard error), largest first",
    "standardised": "sorted by the size of the standardised coefficient, largest first",
    "coef": "sorted by the size of the coefficient, largest first",
}
"""How the rows were sorted -> the sentence the report shows."""

_STATS = ("std_err", "z", "p_value", "ci_low", "ci_high")


def _number(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _statistics(statistics: Mapping[str, Mapping[str, Any]] | None, name: str) -> dict[str, Any]:
    """A row's statistics: none where the data do not identify the coefficient."""
    found = (statistics or {}).get(name, {})
    by = found.get("identified_by", "data" if found else None)
    shown = by in (None, "data")
    out: dict[str, Any] = {k: _number(found.get(k)) if shown else None for k in _STATS}
    out["identified_by"] = by
    return out


def intercept_row(
    intercept: float, statistics: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The intercept's row (the summary's "intercept" statistics when given), with the
    keys of :func:`coefficient_rows`' rows (no standardised values)."""
    row: dict[str, Any] = {"feature": "intercept", "coef": float(intercept)}
    row.update(_statistics(statistics, "intercept"))
    row.update(column_std=None, std_coef=None, std_ci_low=None, std_ci_high=None)
    return row


def coefficient_rows(
    names: Sequence[str],
    coef: ArrayLike,
    *,
    column_std: ArrayLike | None = None,
    statistics: Mapping[str, Mapping[str, Any]] | None = None,
    l1: bool = False,
) -> tuple[list[dict[str, Any]], str]:
    """(rows, sorted_by): one row per feature, sorted as :data:`SORT_NOTES` says.

    ``statistics`` maps a feature name to its ``std_err``, ``z``, ``p_value``, ``ci_low``,
    ``ci_high`` (a row of :meth:`logloss.logistic.LogisticCore.summary`); with it rows are
    sorted by |z|, without it by the standardised size (``column_std`` given) or by the
    coefficient's size. With ``l1`` only the non-zero coefficients get rows.
    """
    c = np.ravel(np.asarray(coef, dtype=np.float64))
    if len(names) != c.shape[0]:
        raise ValueError(f"need one name per coefficient; got {len(names)} and {c.shape[0]}")
    sd = None if column_std is None else np.ravel(np.asarray(column_std, dtype=np.float64))
    if sd is not None and sd.shape != c.shape:
        raise ValueError(f"column_std must have one entry per coefficient; got {sd.shape}")
    rows: list[dict[str, Any]] = []
    for j, name in enumerate(names):
        if l1 and c[j] == 0.0:
            continue
        row: dict[str, Any] = {"feature": str(name), "coef": float(c[j])}
        row.update(_statistics(statistics, str(name)))
        s = None if sd is None else _number(sd[j])
        row["column_std"] = s
        for key, src in (
            ("std_coef", "coef"),
            ("std_ci_low", "ci_low"),
            ("std_ci_high", "ci_high"),
        ):
            v = row[src]
            row[key] = None if s is None or v is None else v * s
        rows.append(row)
    if statistics:
        sorted_by = "z"
        rows.sort(key=lambda r: -abs(r["z"]) if r["z"] is not None else math.inf)
    elif sd is not None:
        sorted_by = "standardised"
        rows.sort(key=lambda r: -abs(r["std_coef"]) if r["std_coef"] is not None else math.inf)
    else:
        sorted_by = "coef"
        rows.sort(key=lambda r: -abs(r["coef"]))
    return rows, sorted_by
