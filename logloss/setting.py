"""One training setting: its definition (:class:`Setting`) and how a value given for it is
checked and normalised (:func:`check_value`); :mod:`logloss.settings` lists them all. No
Dask, no Prefect, no scikit-learn here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Setting", "check_value"]


@dataclass(frozen=True)
class Setting:
    """One training setting.

    ``kind`` is "bool", "int", "float", "choice", "columns" (column names: a list, or
    comma-separated on the command line; None for none) or "grid" (the values a
    cross-validation tries: a list, comma-separated on the command line). Numbers must be
    finite (``C`` may also be ``inf``, meaning no penalty) and at least ``minimum``
    (strictly above it when ``strict``). ``cli`` is the option string; a bool whose
    default is True is offered as its negation (``cli_negated``).
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None  # inclusive
    strict: bool = False
    allow_inf: bool = False
    cli: str | None = None
    cli_negated: str | None = None
    group: str = "model"
    # a setting of the search over C (cross-validation), not of one fit: the CLI and the
    # flows take it, LogisticRegressionCV has it, LogisticRegression does not
    cv_only: bool = False
    # a setting of how the Parquet data are read, not of a fit: the CLI and the flows take
    # it, the estimators do not (a caller of fit chooses the DataFrame's columns)
    data_only: bool = False

    @property
    def option(self) -> str:
        return self.cli or "--" + self.name.replace("_", "-")


def check_value(s: Setting, value: Any) -> Any:
    """``value`` normalised for setting ``s``; ValueError naming the rule otherwise."""
    checkers = {
        "bool": _check_bool,
        "choice": _check_choice,
        "columns": _check_columns,
        "grid": _check_grid,
    }
    checker = checkers.get(s.kind, _check_number)
    ok, normalised = checker(s, value)
    if not ok:
        raise ValueError(f"{s.name} must be {_describe(s)}; got {value!r}")
    return normalised


def _describe(s: Setting) -> str:
    if s.kind == "grid":
        if s.name == "Cs":
            return "a count >= 1 or a list of numbers > 0"
        return "a list of numbers between 0 and 1, or none"
    if s.kind == "columns":
        return "a list of column names, or none"
    if s.kind == "choice":
        return "one of " + ", ".join("none" if c is None else repr(c) for c in s.choices)
    if s.kind == "bool":
        return "true or false"
    what = "an integer" if s.kind == "int" else "a finite number"
    if s.allow_inf:
        what = "a number (inf allowed)"
    if s.minimum is not None and s.maximum is not None:
        return f"{what} between {s.minimum:g} and {s.maximum:g}"
    if s.minimum is not None:
        what += f" {'>' if s.strict else '>='} {s.minimum:g}"
    return what


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _check_bool(s: Setting, value: Any) -> tuple[bool, Any]:
    if isinstance(value, bool):
        return True, value
    text = value.lower() if isinstance(value, str) else None
    return text in _TRUE + _FALSE, text in _TRUE


def _check_columns(s: Setting, value: Any) -> tuple[bool, Any]:
    if value is None:
        return True, None
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        return False, None
    return True, list(value) or None


def _check_grid(s: Setting, value: Any) -> tuple[bool, Any]:
    """``Cs``: a count (int >= 1) or a list of finite numbers > 0; ``l1_ratios``: None or a
    list of numbers in [0, 1]. Text is comma-separated ("10" is a count for ``Cs``)."""
    counts = s.name == "Cs"
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return not counts, None
    if isinstance(value, str):
        parts = [v.strip() for v in value.split(",") if v.strip()]
        if counts and len(parts) == 1 and "," not in value and parts[0].isdigit():
            value = int(parts[0])
        else:
            try:
                value = [float(v) for v in parts]
            except ValueError:
                return False, None
    if counts and isinstance(value, int) and not isinstance(value, bool):
        return value >= 1, value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [float(value)]
    if not isinstance(value, list | tuple) or not value:
        return False, None
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError):
        return False, None
    if any(isinstance(v, bool) for v in value):
        return False, None
    if counts:
        ok = all(math.isfinite(v) and v > 0 for v in numbers)
    else:
        ok = all(0.0 <= v <= 1.0 for v in numbers)
    return ok, numbers


def _check_choice(s: Setting, value: Any) -> tuple[bool, Any]:
    if isinstance(value, str) and value.lower() == "none" and None in s.choices:
        return True, None
    return value in s.choices, value


def _check_number(s: Setting, value: Any) -> tuple[bool, Any]:
    if s.default is None and (value is None or str(value).lower() == "none"):
        return True, None  # a number setting whose default is None: no limit
    if isinstance(value, bool):
        return False, None
    try:
        number: float = int(value) if s.kind == "int" else float(value)
    except (TypeError, ValueError):
        return False, None
    if s.kind == "int" and isinstance(value, float) and value != number:
        return False, None
    if math.isnan(number) or (math.isinf(number) and not s.allow_inf):
        return False, None
    below = s.minimum is not None and (number < s.minimum or (s.strict and number == s.minimum))
    above = s.maximum is not None and number > s.maximum
    return not (below or above), number
