"""The training settings, defined once: the estimator, the CLI and the flows derive from here.

Conventions
-----------
- :data:`TRAIN_SETTINGS` lists every setting of a fit: its name (the estimator's parameter
  name, also the flow's parameter name), type, default, help text and the rule its value
  must satisfy. Adding a setting is one entry here plus the estimator's ``__init__``
  argument; a test checks that the estimator, the CLI and the ``train`` flow expose exactly
  these settings with these defaults.
- Values are validated by :func:`check_setting`, with one message style everywhere:
  ``"tol must be a finite number >= 0; got inf"``.
- ``class_weight`` may also be a dict in the Python API; the CLI and flows offer
  ``"balanced"`` or none.
- No Dask, no Prefect, no scikit-learn here: importing this module is cheap.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .remedies import Problem, Remedy
from .setting import Setting, check_value

__all__ = [
    "CV_SETTING_NAMES",
    "DATA_SETTING_NAMES",
    "DEPRECATED_ALIASES",
    "TRAIN_SETTINGS",
    "Setting",
    "TrainSettings",
    "add_cli_options",
    "check_setting",
    "defaults",
    "fit_settings",
    "from_cli",
    "normalise",
    "option_name",
    "translate_deprecated",
]


TRAIN_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "solver",
        "choice",
        "auto",
        "auto (default: newton up to 100 features, else lbfgs; with --l1-ratio > 0 proximal "
        "newton up to 100 features, else owlqn), lbfgs, newton (IRLS: fewest passes for "
        "narrow data), owlqn (orthant-wise L-BFGS for an L1 part on wide data; lbfgs with "
        "--l1-ratio > 0 runs it), or gd (fixed learning rate, the lecture's rule)",
        choices=("auto", "lbfgs", "newton", "owlqn", "gd"),
    ),
    Setting(
        "C",
        "float",
        1.0,
        "inverse regularisation strength, as in scikit-learn (default 1.0; inf: no penalty)",
        minimum=0.0,
        strict=True,
        allow_inf=True,
        cli="--C",
    ),
    Setting(
        "l1_ratio",
        "float",
        0.0,
        "elastic-net mixing, as in scikit-learn >= 1.8: the penalty is "
        "l1_ratio*|coef|_1 + (1 - l1_ratio)/2*|coef|^2 (0: L2, the default; 1: L1, exact "
        "zeros); needs a finite --C",
        minimum=0.0,
        maximum=1.0,
    ),
    Setting("max_iter", "int", 100, "iterations at most (default 100)", minimum=0),
    Setting(
        "tol",
        "float",
        1e-4,
        "converged when max |gradient| <= tol (default 1e-4)",
        minimum=0.0,
    ),
    Setting(
        "standardize",
        "bool",
        False,
        "penalise standardised coefficients, as a StandardScaler -> LogisticRegression "
        "pipeline does (coefficients are still reported in the original units)",
    ),
    Setting(
        "fit_intercept",
        "bool",
        True,
        "fit without an intercept (by default one is fitted, never penalised)",
        cli_negated="--no-intercept",
    ),
    Setting(
        "class_weight",
        "choice",
        None,
        "balanced: weight classes inversely to their frequency",
        choices=("balanced", None),
    ),
    Setting(
        "learning_rate",
        "float",
        1.0,
        "learning rate of --solver gd (default 1.0)",
        minimum=0.0,
        strict=True,
    ),
    Setting("line_search", "bool", False, "Armijo backtracking for --solver gd"),
    # how the data's columns become features (see logloss.data.encoding); used when the
    # estimator is given a DataFrame, and by the CLI and flows when they read Parquet
    Setting(
        "missing",
        "choice",
        "error",
        "a null or NaN: error (default); drop the row (reports how many); impute: a numeric "
        "column's training mean plus a 0/1 'COL__missing' feature, and a null categorical "
        "value is its own level. inf is always an error",
        choices=("error", "drop", "impute"),
        group="columns and missing values",
    ),
    Setting(
        "categorical",
        "columns",
        None,
        "integer columns to treat as categorical (strings, dictionaries and bools are; a "
        "list of strings or integers is a bag of tokens: a 0/1 feature 'column=token' each)",
        group="columns and missing values",
    ),
    Setting(
        "numeric",
        "columns",
        None,
        "bool columns to treat as numeric 0/1",
        group="columns and missing values",
    ),
    Setting(
        "exclude",
        "columns",
        None,
        "columns to leave out of the features (by default every usable column but the label "
        "and weight is one); each must be a column of the data",
        group="columns and missing values",
        data_only=True,
    ),
    Setting(
        "max_categories",
        "int",
        None,
        "a categorical column with more distinct values is an error, or hashed with "
        "--hash-bits (default: none, every "
        "column gets a vocabulary: each level seen --min-frequency times a coefficient, the "
        "rarer and unseen ones one shared '(infrequent)' coefficient; wide columns are kept "
        "as int32 codes, never as dense indicators)",
        minimum=1,
        group="columns and missing values",
    ),
    Setting(
        "min_frequency",
        "int",
        1,
        "levels seen fewer than this many times share one '(infrequent)' indicator (default 1)",
        minimum=1,
        group="columns and missing values",
    ),
    Setting(
        "categorical_coding",
        "choice",
        "all",
        "all: one 0/1 indicator per level (default; with an intercept only the penalty "
        "identifies them, so their p-values are not tests); reference: the first level as "
        "sorted is the reference and gets none (treatment coding, as statsmodels), so each "
        "coefficient is the difference from it",
        choices=("all", "reference"),
        group="columns and missing values",
    ),
    Setting(
        "hash_bits",
        "int",
        None,
        "hash categorical columns into 2^B shared buckets (B from 1 to 24; default: none "
        "hashed), each value's token 'column=value' exactly as scikit-learn's "
        "FeatureHasher(n_features=2**B, input_type='string', alternate_sign=True) puts it (a "
        "null: 'column=(null)'); which columns: --hash-columns, else every categorical column "
        "with more distinct values than --max-categories, or than 1000 without it (the "
        "others get a vocabulary). The summary says what each column became "
        "('tailnum: hashed into 2^18 buckets'); the coefficients are named hash[i]",
        minimum=1,
        maximum=24,
        group="columns and missing values",
    ),
    Setting(
        "hash_columns",
        "columns",
        None,
        "with --hash-bits: the columns to hash, whatever their size (integer columns become "
        "categorical; a list column's elements are each a token 'column=token', repeats "
        "adding, as FeatureHasher does); default: by size, see --hash-bits",
        group="columns and missing values",
    ),
    Setting(
        "log1p",
        "columns",
        None,
        "numeric columns whose values x are read as log(1 + x) before imputation and "
        "scaling: counts and amounts with heavy tails, as a click log's (the coefficient is "
        "named log1p(column); predict applies it, to_sklearn() exports it); a value of -1 "
        "or less is an error naming it; default none",
        group="columns and missing values",
        data_only=True,
    ),
    Setting(
        "interactions",
        "columns",
        None,
        "crosses A:B,C:D,... of two categorical columns (Vowpal Wabbit's -q): a vocabulary of "
        "the pairs 'A=a^B=b' (rarer than --min-frequency or unseen: 'A^B=(infrequent)') when "
        "A and B have vocabularies and the product of their numbers of values is at most "
        "--max-categories (10000 without it); else, with --hash-bits, each row's token "
        "'A=a^B=b' hashed into the 2^B buckets (never a string per row)",
        group="columns and missing values",
    ),
    # cross-validation (logloss.cv): choose C (and l1_ratio), then refit on all rows
    Setting(
        "cv",
        "int",
        0,
        "choose C (and l1_ratio) by K-fold cross-validation, K = CV >= 2 (a row's fold is a "
        "hash of its position in the data), then refit on all rows at the chosen C; 0: no "
        "cross-validation (default)",
        minimum=0,
        group="cross-validation",
        cv_only=True,
    ),
    Setting(
        "Cs",
        "grid",
        10,
        "with --cv: the values of C to try: a count N (N values log-spaced from 1e-4 to "
        "1e4, as scikit-learn) or a list C1,C2,... (default 10)",
        cli="--Cs",
        group="cross-validation",
        cv_only=True,
    ),
    Setting(
        "l1_ratios",
        "grid",
        None,
        "with --cv: l1_ratio values to try as well, R1,R2,... in [0, 1] (default: none, "
        "only --l1-ratio)",
        group="cross-validation",
        cv_only=True,
    ),
    Setting(
        "checkpoint_every",
        "int",
        5,
        "with a checkpoint directory: iterations between checkpoints (default 5)",
        minimum=1,
        group="checkpoints",
    ),
)

_BY_NAME = {s.name: s for s in TRAIN_SETTINGS}
#: The settings of the search over C (cross-validation), not of a single fit.
CV_SETTING_NAMES = frozenset(s.name for s in TRAIN_SETTINGS if s.cv_only)
#: The settings of how the data are read (:func:`logloss.data.read_parquet`), not of a fit.
DATA_SETTING_NAMES = frozenset(s.name for s in TRAIN_SETTINGS if s.data_only)

#: Accepted for compatibility, with a FutureWarning, as scikit-learn >= 1.8 does: ``penalty``
#: ("l2" is the default; None means no penalty, which is ``C=inf``). Not a setting of its own.
DEPRECATED_ALIASES: dict[str, str] = {
    "penalty": "use C=inf (--C inf) instead of penalty=None (--penalty none); 'l2' is the default",
}


def defaults() -> dict[str, Any]:
    """Every training setting with its default value."""
    return {s.name: s.default for s in TRAIN_SETTINGS}


def fit_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of one fit (LogisticRegression's parameters): ``values`` without the
    cross-validation settings and those of how the data are read."""
    return {k: v for k, v in values.items() if k not in CV_SETTING_NAMES | DATA_SETTING_NAMES}


def check_setting(name: str, value: Any) -> Any:
    """``value`` normalised for setting ``name``; ValueError naming the rule otherwise.

    "none" (any case) means None for choices that allow None; numbers given as strings
    are parsed.
    """
    s = _BY_NAME.get(name)
    if s is None:
        raise ValueError(f"unknown training setting {name!r}; known: {', '.join(_BY_NAME)}")
    return check_value(s, value)


def normalise(values: Mapping[str, Any]) -> dict[str, Any]:
    """All settings: ``values`` checked with :func:`check_setting`, defaults for the rest."""
    out = defaults()
    for name, value in values.items():
        out[name] = check_setting(name, value)
    return out


def _parser_type(s: Setting) -> Any:
    def parse(text: str) -> Any:
        try:
            return check_setting(s.name, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = s.kind  # argparse names the type in its "invalid ... value" message
    return parse


def add_cli_options(
    parser: argparse.ArgumentParser, *, exclude: Sequence[str] = ()
) -> dict[str, argparse._ArgumentGroup]:
    """Add one option per training setting to ``parser``, grouped; returns the groups."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for s in TRAIN_SETTINGS:
        if s.name in exclude:
            continue
        group = groups.get(s.group) or parser.add_argument_group(s.group)
        groups[s.group] = group
        if s.kind == "bool":
            if s.cli_negated:
                group.add_argument(s.cli_negated, dest=s.name, action="store_false", help=s.help)
            else:
                group.add_argument(s.option, dest=s.name, action="store_true", help=s.help)
            group.set_defaults(**{s.name: s.default})
            continue
        metavar = None
        if s.kind == "columns":
            metavar = "A,B,..."
        elif s.kind == "choice":
            metavar = "{" + ",".join("none" if c is None else str(c) for c in s.choices) + "}"
        elif s.kind == "grid":
            metavar = "N|C1,C2,..." if s.name == "Cs" else "R1,R2,..."
        else:
            metavar = s.name.upper() if s.name != "C" else "C"
        group.add_argument(
            s.option,
            dest=s.name,
            type=_parser_type(s),
            default=s.default,
            metavar=metavar,
            help=s.help,
        )
    return groups


def from_cli(args: argparse.Namespace) -> dict[str, Any]:
    """The training settings held in parsed CLI arguments (every one of them)."""
    return {s.name: getattr(args, s.name) for s in TRAIN_SETTINGS if hasattr(args, s.name)}


def option_name(setting: str, value: Any = None) -> str:
    """How the command line spells ``setting`` (a :class:`~logloss.remedies.Namer`): the
    registry's option (``--max-iter``, ``--C inf``; a switch's own flag, ``--no-intercept``
    to set ``fit_intercept`` False), or ``--checkpoint-restart`` for a run option."""
    s = _BY_NAME.get(setting)
    if s is None:
        return "--" + setting.replace("_", "-")
    if s.kind == "bool":
        return s.cli_negated if (value is False and s.cli_negated) else s.option
    if value is None:
        return s.option
    return f"{s.option} {'inf' if value == math.inf else value}"


def translate_deprecated(values: Mapping[str, Any]) -> tuple[dict[str, Any], Problem | None]:
    """The one place the deprecated ``penalty`` is translated: ``values`` without it (with
    ``C=inf`` for ``penalty="none"``), and the deprecation notice to show (None when it was
    not given). ``"l2"`` is the default and changes nothing."""
    out = dict(values)
    penalty = out.pop("penalty", None)
    if penalty is None:
        return out, None
    if str(penalty).lower() == "none":
        out["C"] = math.inf
    notice = Problem(
        "deprecated",
        "penalty is deprecated, as in scikit-learn 1.8",
        (Remedy("C", "use", math.inf, " for no penalty; l2 is the default"),),
    )
    return out, notice


_D = defaults()


@dataclass(frozen=True)
class TrainSettings:
    """The training settings of one run: one field per entry of :data:`TRAIN_SETTINGS`, with
    its default, each checked by :func:`check_setting` (a test holds the fields to the
    registry). ``TrainSettings.from_values`` also takes the deprecated ``penalty``."""

    solver: str = _D["solver"]
    C: float = _D["C"]
    l1_ratio: float = _D["l1_ratio"]
    max_iter: int = _D["max_iter"]
    tol: float = _D["tol"]
    standardize: bool = _D["standardize"]
    fit_intercept: bool = _D["fit_intercept"]
    class_weight: str | None = _D["class_weight"]
    learning_rate: float = _D["learning_rate"]
    line_search: bool = _D["line_search"]
    missing: str = _D["missing"]
    categorical: list[str] | None = _D["categorical"]
    numeric: list[str] | None = _D["numeric"]
    exclude: list[str] | None = _D["exclude"]
    max_categories: int | None = _D["max_categories"]
    min_frequency: int = _D["min_frequency"]
    categorical_coding: str = _D["categorical_coding"]
    hash_bits: int | None = _D["hash_bits"]
    hash_columns: list[str] | None = _D["hash_columns"]
    log1p: list[str] | None = _D["log1p"]
    interactions: list[str] | None = _D["interactions"]
    cv: int = _D["cv"]
    Cs: int | list[float] = _D["Cs"]
    l1_ratios: list[float] | None = _D["l1_ratios"]
    checkpoint_every: int = _D["checkpoint_every"]

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, check_setting(f.name, getattr(self, f.name)))

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> tuple[TrainSettings, Problem | None]:
        """The settings of ``values`` (missing ones at their defaults) and the notice of a
        deprecated alias given (:func:`translate_deprecated`)."""
        plain, notice = translate_deprecated(values)
        return cls(**plain), notice

    @property
    def values(self) -> dict[str, Any]:
        """Every setting by name."""
        return dataclasses.asdict(self)

    def fit(self) -> dict[str, Any]:
        """The settings of one fit: the estimator's parameters (no cross-validation)."""
        return fit_settings(self.values)

    def columns(self) -> dict[str, Any]:
        """How the data's columns become features: the column options of ``read_parquet``."""
        return {
            "missing": self.missing,
            "categorical": self.categorical or (),
            "numeric": self.numeric or (),
            "exclude": self.exclude or (),
            "max_categories": self.max_categories,
            "min_frequency": self.min_frequency,
            "categorical_coding": self.categorical_coding,
            "hash_bits": self.hash_bits,
            "hash_columns": self.hash_columns,
            "interactions": self.interactions or (),
            "log1p": self.log1p or (),
        }
