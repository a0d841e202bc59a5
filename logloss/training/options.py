"""The options of a training run on a command line, defined once: ``logloss train`` and
``python -m flows.train`` both add them (:func:`add_run_options`) and read them back
(:func:`run_fields`); each face adds only its own (its data and output arguments, display).

The standard library and :mod:`logloss.settings` only: ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from ..settings import add_cli_options, from_cli
from ..windows import WindowError, parse_as_of, parse_duration

__all__ = [
    "add_run_options",
    "add_window_options",
    "columns",
    "holdout",
    "positive_float",
    "run_fields",
    "validation",
]

COLUMNS_NOTE = (
    "Without --features every column except the label and weight is a feature:\n"
    "numbers are numeric; strings, dictionaries and bools categorical (one 0/1\n"
    "indicator per level seen in training; a level not seen gives all zeros).\n"
    "Date and timestamp columns are left out, with a note naming them."
)

MLFLOW_NOTE = (
    "With a tracking URI the run is also recorded in MLflow: its settings, its metrics,\n"
    "the model (scikit-learn flavour, and model.json + coef.npy) and a new version of a\n"
    "registered model, which gets the alias 'champion'. A server that does not answer\n"
    "is a one-line warning: the model is written all the same."
)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number; got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive finite number; got {text}")
    return value


def columns(text: str) -> list[str]:
    cols = [c.strip() for c in text.split(",") if c.strip()]
    if not cols:
        raise argparse.ArgumentTypeError("expected a comma-separated list of column names")
    return cols


def validation(text: str) -> float | str | None:
    """A hold-out fraction (0 < f < 1; 0 or "none": none) or the path of a second dataset."""
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        return text  # a dataset
    if value == 0.0:
        return None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(
            f"validation must be a fraction between 0 and 1 (0: none), or a dataset; got {text}"
        )
    return value


def add_run_options(
    parser: argparse.ArgumentParser,
    *,
    report_default: bool = False,
    validation_default: float | None = None,
) -> None:
    """The options of a run both faces take: features, weight, every training setting (and
    the deprecated --penalty), the column options, data handling, hold-out, checkpoint,
    report, the unconverged rule and MLflow. ``report_default`` True offers ``--no-report``."""
    parser.add_argument(
        "--features",
        type=columns,
        metavar="A,B,...",
        help="feature columns (default: every column except label and weight that is "
        "numeric, a string, a dictionary or a bool; dates and timestamps are left out)",
    )
    parser.add_argument("--weight", metavar="COL", help="column of non-negative sample weights")
    groups = add_cli_options(parser)  # one option per training setting (logloss.settings)
    groups["model"].add_argument(
        "--penalty",
        choices=["l2", "none"],
        default=None,
        help="deprecated (as in scikit-learn 1.8): --C inf fits without a penalty; l2 is "
        "the default",
    )
    cols = groups["columns and missing values"]
    cols.description = COLUMNS_NOTE
    cols.add_argument("--drop-invalid", action="store_true", help="the same as --missing drop")
    d = parser.add_argument_group("data handling")
    d.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="storage type of the features in memory (sums are always float64)",
    )
    d.add_argument(
        "--block-mb",
        type=positive_float,
        default=128.0,
        metavar="MB",
        help="feature data per block in memory (default 128; on a cluster at most a quarter "
        "of a worker's memory limit per thread: a block read peaks at about 1.5x this)",
    )
    d.add_argument(
        "--validation",
        type=validation,
        default=validation_default,
        metavar="FRACTION|DATA",
        help="hold out this fraction of the rows (0 < f < 1), or evaluate on a second "
        f"dataset, for the metrics and the report (default: {validation_default or 'none'}: "
        "the training rows)",
    )
    add_window_options(parser)
    _add_checkpoint_and_report(parser, report_default)
    _add_mlflow(parser)


def _add_mlflow(parser: argparse.ArgumentParser) -> None:
    m = parser.add_argument_group("MLflow (pip install 'logloss[mlflow]')", MLFLOW_NOTE)
    m.add_argument(
        "--mlflow-tracking-uri",
        metavar="URI",
        help="MLflow tracking server or store (http://host:5000, sqlite:///mlflow.db ...; "
        "default: env MLFLOW_TRACKING_URI, else no MLflow)",
    )
    m.add_argument(
        "--mlflow-model-name",
        metavar="NAME",
        help="the registered model's name (default: the output's last part, else 'logloss')",
    )
    _add_gate(parser)


#: The promotion gate's and the data checks' options: (flag, setting, help).
GATE_OPTIONS = (
    (
        "--gate-max-log-loss",
        "gate_max_log_loss",
        "reject the new model when its held-out log loss is above X",
    ),
    ("--gate-min-auc", "gate_min_auc", "reject it when its held-out ROC AUC is below X"),
    (
        "--gate-max-log-loss-increase",
        "gate_max_log_loss_increase",
        "reject it when its "
        "log loss exceeds the champion's on the same hold-out by more than X (e.g. 0.002)",
    ),
    (
        "--gate-max-auc-drop",
        "gate_max_auc_drop",
        "reject it when its ROC AUC is more than X below the champion's on the same hold-out",
    ),
    (
        "--drift-max-psi",
        "drift_max_psi",
        "reject it when a numeric column's PSI between "
        "the champion's training data and this data is above X (above 0.2 it is flagged)",
    ),
    (
        "--check-max-null-rate",
        "check_max_null_rate",
        "reject it when a column's share of null values is above X",
    ),
    (
        "--check-label-rate-change",
        "check_label_rate_change",
        "reject it when the share of "
        "positive labels differs from the champion's training data by more than X",
    ),
    (
        "--check-max-unseen-rate",
        "check_max_unseen_rate",
        "reject it when a categorical "
        "column's share of rows with a level the champion never saw is above X",
    ),
)

GATE_NOTE = (
    "The champion is the model 'latest' names at the output. Each rule is off unless\n"
    "given; a rejected model is written as a version marked 'rejected', 'latest' stays\n"
    "on the champion and the exit status is 5. A champion column gone from the data,\n"
    "or of another type, fails the run before fitting (exit status 2)."
)


def _add_gate(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("warm start and promotion gate", GATE_NOTE)
    g.add_argument(
        "--warm-start",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="start the fit from the champion's coefficients when it fits the data (the "
        "same input columns and encoding; new levels start at 0); default: on",
    )
    for flag, dest, text in GATE_OPTIONS:
        g.add_argument(flag, dest=dest, type=non_negative, metavar="X", help=text)


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0; got {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0; got {text}")
    return value


def _duration(text: str) -> str:
    try:
        parse_duration(text)
    except WindowError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def _as_of(text: str) -> str:
    try:
        parse_as_of(text)
    except WindowError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def holdout(text: str) -> float | str | None:
    """A duration (the newest part of the window held out) or a fraction (a random split)."""
    try:
        return _duration(text)
    except argparse.ArgumentTypeError:
        pass
    try:
        value = validation(text)
    except argparse.ArgumentTypeError:
        value = text
    if isinstance(value, str):
        raise argparse.ArgumentTypeError(
            f"holdout must be a duration such as 1d or 12h (the newest part of the window), "
            f"or a fraction between 0 and 1 (a random split); got {text!r}"
        )
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1; got {text!r}")
    return value


def add_window_options(parser: argparse.ArgumentParser) -> None:
    """The training window, the time-based hold-out and retention (docs/cli.md)."""
    w = parser.add_argument_group(
        "training window and versions",
        "Train on the rows of [AS_OF - WINDOW, AS_OF): whole date=YYYY-MM-DD partitions,\n"
        "the days (UTC) that end in (AS_OF - WINDOW, AS_OF], never one unfinished at AS_OF\n"
        "(the files of the others are never opened); or with --time-column the rows whose\n"
        "timestamp is in it (row groups wholly outside, by their Parquet statistics, are\n"
        "never read).",
    )
    w.add_argument(
        "--window",
        type=_duration,
        metavar="DURATION",
        help="train on this much of the newest data before --as-of: 30d, 12h, 2w, 90m "
        "(default: all the data)",
    )
    w.add_argument(
        "--as-of",
        type=_as_of,
        metavar="TIME",
        help="the end of the window (excluded): an ISO date or time, UTC unless it names a "
        "zone, e.g. 2024-03-01 or 2024-03-01T06:00:00Z (default: now)",
    )
    w.add_argument(
        "--time-column",
        metavar="COL",
        help="window over this timestamp (or date) column instead of date= partitions",
    )
    w.add_argument(
        "--holdout",
        type=holdout,
        metavar="DURATION|FRACTION",
        help="evaluate on the newest DURATION of the window (1d: its last day; needs "
        "--window), or on a random FRACTION of the rows (as --validation)",
    )
    w.add_argument(
        "--keep-versions",
        type=positive_int,
        metavar="N",
        help="retention: keep the last N versions of the model (default 2); 'latest' and "
        "the previous champion are never removed",
    )


def _add_checkpoint_and_report(parser: argparse.ArgumentParser, report_default: bool) -> None:
    r = parser.add_argument_group("checkpoint and output")
    r.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="save the optimiser state here every few iterations; a re-run with the same "
        "DIR, data and settings resumes from it",
    )
    r.add_argument(
        "--checkpoint-restart",
        action="store_true",
        help="start afresh (overwriting the checkpoint) when the checkpoint in DIR belongs to "
        "other data or settings, instead of failing",
    )
    r.add_argument(
        "--allow-unconverged",
        action="store_true",
        help="save the model even if the fit did not converge (max |gradient| > tol) and exit "
        "0 with a warning; without it no model is written and the exit status is 3",
    )
    if report_default:
        r.add_argument(
            "--no-report",
            dest="report",
            action="store_false",
            help="publish without the report (report.html, its pictures, metrics.json)",
        )
        r.set_defaults(report=True)
    else:
        r.add_argument(
            "--report",
            action="store_true",
            help="also write the report (report.html with its pictures, and metrics.json; on "
            "the hold-out, else the training data) into the model directory",
        )


def run_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The run's options of parsed ``args`` as keyword arguments of both faces' run:
    ``settings`` (every training setting; ``penalty`` when given) and the rest by name."""
    settings = from_cli(args)
    if getattr(args, "penalty", None) is not None:
        settings["penalty"] = args.penalty
    return {
        "settings": settings,
        "features": args.features,
        "weight": args.weight,
        "dtype": args.dtype,
        "block_mb": args.block_mb,
        "validation": args.validation,
        "checkpoint": args.checkpoint,
        "checkpoint_restart": args.checkpoint_restart,
        "allow_unconverged": args.allow_unconverged,
        "report": args.report,
        "drop_invalid": args.drop_invalid,
        "mlflow_tracking_uri": args.mlflow_tracking_uri,
        "mlflow_model_name": args.mlflow_model_name,
        "warm_start": getattr(args, "warm_start", True),
        **{dest: getattr(args, dest, None) for _, dest, _ in GATE_OPTIONS},
        "window": args.window,
        "as_of": args.as_of,
        "time_column": args.time_column,
        "holdout": args.holdout,
        "keep_versions": args.keep_versions,
    }
