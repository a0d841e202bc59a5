"""``logloss train``: fit a model on a Parquet dataset and save it."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from ..settings import add_cli_options, from_cli
from .display import Phases, Progress, print_table
from .parser import (
    add_cluster,
    add_common,
    add_data,
    cluster,
    columns,
    positive_float,
)
from .status import EXIT_NOT_CONVERGED, EXIT_OK

HELP = "fit a model on a Parquet dataset and save it"

_EPILOG = """\
examples:
  logloss train data/breast_cancer.parquet --label target --standardize --out models/bc
  logloss train s3://bucket/events/ --label clicked --features a,b,c --C 0.5 \\
      --scheduler tcp://scheduler:8786 --out models/clicks

Without --scheduler (or env DASK_SCHEDULER_ADDRESS), data that fits in half the available
memory is trained in this process by Dask's threaded scheduler; larger data (or --processes,
--workers N) by a local cluster of worker processes on 127.0.0.1, stopped at the end.
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    t: argparse.ArgumentParser = sub.add_parser(
        "train",
        help=HELP,
        description="Fit binary logistic regression by minimising the log loss over a "
        "Parquet dataset on a Dask cluster, and save the model as plain files "
        "(model.json + coef.npy).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_data(t, label_required=True)
    t.add_argument(
        "--features",
        type=columns,
        metavar="A,B,...",
        help="feature columns (default: every numeric column except label and weight)",
    )
    t.add_argument("--weight", metavar="COL", help="column of non-negative sample weights")
    t.add_argument(
        "--out",
        required=True,
        metavar="MODEL_DIR",
        help="directory to save the model: absent, empty, or a model saved by logloss "
        "(replaced); anything else is refused",
    )
    groups = add_cli_options(t)  # one option per training setting (logloss.settings)
    groups["model"].add_argument(
        "--penalty",
        choices=["l2", "none"],
        default=None,
        help="deprecated (as in scikit-learn 1.8): --C inf fits without a penalty; l2 is "
        "the default",
    )
    groups["columns and missing values"].description = (
        "Without --features every column except the label and weight is a feature:\n"
        "numbers are numeric; strings, dictionaries and bools categorical (one 0/1\n"
        "indicator per level seen in training; a level not seen gives all zeros)."
    )
    groups["columns and missing values"].add_argument(
        "--drop-invalid", action="store_true", help="the same as --missing drop"
    )
    _add_data_handling(t)
    _add_run_options(t)
    add_cluster(t)
    add_common(t)
    return t


def _add_data_handling(t: argparse.ArgumentParser) -> None:
    d = t.add_argument_group("data handling")
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


def _add_run_options(t: argparse.ArgumentParser) -> None:
    t.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="save the optimiser state here every few iterations; a re-run with the same "
        "DIR, data and settings resumes from it",
    )
    t.add_argument(
        "--checkpoint-restart",
        action="store_true",
        help="start afresh (overwriting the checkpoint) when the checkpoint in DIR belongs to "
        "other data or settings, instead of failing",
    )
    t.add_argument(
        "--allow-unconverged",
        action="store_true",
        help="save the model even if the fit did not converge (max |gradient| > tol) and exit "
        "0 with a warning; without it no model is written and the exit status is 3",
    )
    t.add_argument(
        "--report",
        action="store_true",
        help="also write the report (report.html with its pictures, and metrics.json; on "
        "the training data) into MODEL_DIR",
    )
    t.add_argument(
        "--quiet",
        action="store_true",
        help="print nothing but errors (no phases, progress or summary table)",
    )
    t.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (paths, rows, iterations, passes, converged, loss, "
        "timings) on stdout instead of the table; no progress display",
    )


def check_paths(args: argparse.Namespace) -> None:
    """The output rule (:mod:`logloss.storage.rules`) for ``--out`` and ``--checkpoint``."""
    from ..storage import check_output, check_work_dir

    # a file:// URL becomes its path; other URLs are refused (one line)
    args.out = str(check_output(args.out, "model", inputs=[args.data, args.checkpoint]))
    if args.checkpoint:
        if getattr(args, "cv", 0):
            from ..storage import OutputPathError

            raise OutputPathError(
                "--checkpoint cannot go with --cv: a cross-validation search is not "
                "checkpointed (leave out --checkpoint, or --cv to fit one C)"
            )
        check_work_dir(args.checkpoint, "checkpoint directory")


def train_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The training settings of parsed ``train`` arguments; ``--penalty`` is the deprecated
    alias of ``--C inf`` (none) and of the default (l2)."""
    values = from_cli(args)
    if getattr(args, "penalty", None) is not None:
        print(
            "logloss: warning: --penalty is deprecated: "
            + ("use --C inf for no penalty" if args.penalty == "none" else "l2 is the default"),
            file=sys.stderr,
        )
        if args.penalty == "none":
            values["C"] = float("inf")
    return values


def run(args: argparse.Namespace) -> int:
    # Before any data is read or a cluster started: a wrong path fails at once.
    check_paths(args)
    phase = Phases(not (args.quiet or args.json))
    phase(f"reading {args.data}")

    from ..cluster import describe
    from ..pipeline import TrainSettings, non_convergence, persist_dataset

    if args.drop_invalid:
        if args.missing == "impute":
            from ..data import DataError

            raise DataError("--drop-invalid is --missing drop; it cannot go with --missing impute")
        args.missing = "drop"
    settings = TrainSettings(**train_settings(args))
    t0 = time.perf_counter()
    remote = bool(args.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS"))
    with contextlib.ExitStack() as stack:
        # With a scheduler, the levels of categorical columns are counted on its workers;
        # without one, footer-level problems (paths, columns, schemas) fail before a local
        # cluster starts, and the data's size decides whether one starts at all.
        client = stack.enter_context(cluster(args, None, phase)) if remote else None
        ds = _open(args)
        if not remote:
            client = stack.enter_context(cluster(args, ds.nbytes, phase))
        ran_on = describe(client)
        phase(
            f"loading {ds.n_rows:,} rows x {ds.n_features} features from {len(ds.files)} "
            f"file(s) in {len(ds.blocks)} block(s) on {ran_on}"
        )
        ds = persist_dataset(ds, progress=phase.rows("loading", ds.n_rows))
        phase.end_rows(f"loaded {ds.n_rows:,} rows")
        if ds.n_dropped:
            print(f"dropped {ds.n_dropped} invalid row(s) of {ds.source}", file=sys.stderr)
        loaded = time.perf_counter()
        phase(_fit_phase(settings))
        model, caught = _fit(args, ds, settings, phase)
        fitted = time.perf_counter()
        if getattr(model, "cv_", None):
            phase(_chosen(model.cv_))
        problem = non_convergence(model, ds.feature_names)
        saved = problem is None or args.allow_unconverged
        if saved:
            phase(f"writing the model{' and its report' if args.report else ''} to {args.out}")
            _save(args, model, ds)
        saved_at = time.perf_counter()
    _show_warnings(caught)
    summary = _summary(args, ds, model, settings, ran_on, saved)
    summary.update(
        load_seconds=round(loaded - t0, 3),
        fit_seconds=round(fitted - loaded, 3),
        save_seconds=round(saved_at - fitted, 3),
    )
    phase("done")
    if args.json:
        print(json.dumps(summary, indent=2))
    elif not args.quiet:
        _print_summary(summary)
    return EXIT_OK if problem is None else _unconverged(args, problem)


def _summary(
    args: argparse.Namespace, ds: Any, model: Any, settings: Any, ran_on: str, saved: bool
) -> dict[str, Any]:
    """What ``train`` reports (the table, or ``--json``'s object)."""
    last = model.history_[-1] if model.history_ else {}
    loss, norm = last.get("loss", float("nan")), last.get("grad_norm", float("nan"))
    return {
        "data": ds.source,
        "rows": int(ds.X.shape[0]),
        "rows_dropped": int(ds.n_dropped),
        "features": int(ds.n_features),
        "input_columns": len(ds.input_columns),
        "ran_on": ran_on,
        "solver": model.solver_,
        "solver_setting": settings.solver,
        "iterations": int(model.n_iter_[0]),
        "passes": int(model.n_passes_),
        "converged": bool(model.converged_),
        "final_loss": float(loss) if math.isfinite(loss) else None,
        "gradient_norm": float(norm) if math.isfinite(norm) else None,
        "model": str(args.out) if saved else None,
        "report": bool(args.report and saved),
        "cv": getattr(model, "cv_", None),
        "data_storage": getattr(model, "data_storage_", None),
    }


def _print_summary(s: dict[str, Any]) -> None:
    features = str(s["features"])
    if s["input_columns"] != s["features"]:
        features += f" (from {s['input_columns']} columns)"
    print_table(
        "logloss train",
        [
            ("data", s["data"]),
            ("rows", f"{s['rows']:,}"),
            ("features", features),
            ("ran on", s["ran_on"]),
            ("solver", s["solver"] + (" (auto)" if s["solver_setting"] == "auto" else "")),
            ("iterations", s["iterations"]),
            ("passes over the data", s["passes"]),
            ("converged", "yes" if s["converged"] else "NO"),
            ("final loss", s["final_loss"] if s["final_loss"] is not None else "nan"),
            ("gradient norm", f"{s['gradient_norm'] or float('nan'):.3e}"),
            *_cv_rows(s["cv"]),
            *_storage_rows(s.get("data_storage")),
            ("load seconds", f"{s['load_seconds']:.2f}"),
            ("fit seconds", f"{s['fit_seconds']:.2f}"),
            ("model", s["model"] or "not written"),
        ],
    )


def _storage_rows(info: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """Where the blocks were (memory, the workers' disks) and the speed of a pass."""
    if not info:
        return []
    rows: list[tuple[str, Any]] = [
        ("blocks", f"{info['blocks_in_memory']} in memory, {info['blocks_on_disk']} on disk")
    ]
    if info.get("pass_gb_per_s"):
        rows.append(("pass throughput", f"{info['pass_gb_per_s']:.2f} GB/s"))
    return rows


def _cv_rows(table: dict[str, Any] | None) -> list[tuple[str, Any]]:
    if not table:
        return []
    rows: list[tuple[str, Any]] = [("chosen C", f"{table['C']:.6g}")]
    if table["l1_ratios"] is not None:
        rows.append(("chosen l1_ratio", f"{table['l1_ratio']:g}"))
    rows.append(("cross-validation", f"{table['folds']} folds, {table['passes']} passes"))
    return rows


def _open(args: argparse.Namespace) -> Any:
    """The dataset of the command's options (footers read; levels and means learned)."""
    from ..data import read_parquet

    ds = read_parquet(
        args.data,
        args.label,
        features=args.features,
        weight=args.weight,
        dtype=args.dtype,
        block_bytes=int(args.block_mb * 2**20),
        categorical=args.categorical or (),
        numeric=args.numeric or (),
        exclude=args.exclude or (),
        missing=args.missing,
        max_categories=args.max_categories,
        min_frequency=args.min_frequency,
        categorical_coding=args.categorical_coding,
        invalid_hint="pass --missing drop to drop such rows, "
        "or --missing impute to impute feature values",
    )
    if ds.ignored:
        shown = ", ".join(f"{name!r} ({kind})" for name, kind in ds.ignored)
        print(
            f"note: left out column(s) {shown}: neither numeric nor categorical "
            "(--features names the columns to use)",
            file=sys.stderr,
        )
    return ds


def _fit_phase(settings: Any) -> str:
    if not settings.cv:
        return "fitting"
    from ..cv import check_grid

    Cs, ratios = check_grid(settings.Cs, settings.l1_ratios)
    grid = f"{settings.cv} folds x {len(Cs)} C" + (
        f" x {len(ratios)} l1_ratio" if settings.l1_ratios is not None else ""
    )
    models = settings.cv * len(Cs) * len(ratios)
    return f"cross-validating {models} models ({grid}) in the same passes, then the refit"


def _chosen(table: dict[str, Any]) -> str:
    """One line: the (C, l1_ratio) the search chose and its held-out log loss."""
    i = table["Cs"].index(table["C"])
    if table["l1_ratios"] is None:
        mean, choice = table["mean"][i], f"C={table['C']:.4g}"
    else:
        mean = table["mean"][table["l1_ratios"].index(table["l1_ratio"])][i]
        choice = f"C={table['C']:.4g}, l1_ratio={table['l1_ratio']:g}"
    return (
        f"chose {choice} by {table['folds']}-fold cross-validation (held-out log loss "
        f"{-mean:.6g}, {table['passes']} passes for the search); refitted on all rows"
    )


def _fit(
    args: argparse.Namespace, ds: Any, settings: Any, phase: Any = None
) -> tuple[Any, list[Any]]:
    """Train with the progress display, recording the warnings the fit raises."""
    from ..pipeline import train_model

    def searching(passes: int, running: int) -> None:
        if phase is not None:
            phase(f"search pass {passes}: {running} model(s) still running")

    with (
        Progress(not (args.quiet or args.json), args.max_iter) as progress,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        model = train_model(
            ds,
            settings,
            callback=progress,
            checkpoint=args.checkpoint,
            checkpoint_restart=args.checkpoint_restart,
            cv_progress=searching,
        )
    return model, list(caught)


def _save(args: argparse.Namespace, model: Any, ds: Any) -> None:
    from ..pipeline import write_report_assets

    extra = None
    if args.report:

        def extra(tmp: Path) -> None:
            # the whole report: metrics, pictures and the page, in the new version
            from ..report import write_html_report

            write_report_assets(model, ds, tmp)
            write_html_report(tmp, tmp / "report.html", name=Path(args.out).name)

    model.save(args.out, extra=extra)


def _show_warnings(caught: list[Any]) -> None:
    if not caught:
        return  # (scikit-learn, for its ConvergenceWarning, is imported only if needed)
    from sklearn.exceptions import ConvergenceWarning

    for w in caught:
        # non-convergence is reported after the table, with the reason and a hint
        if issubclass(w.category, UserWarning) and not issubclass(w.category, ConvergenceWarning):
            print(f"warning: {w.message}", file=sys.stderr)


def _unconverged(args: argparse.Namespace, problem: Any) -> int:
    if args.allow_unconverged:
        print(
            f"warning: {problem.reason}; model written anyway (--allow-unconverged); "
            f"{problem.hint}",
            file=sys.stderr,
        )
        return EXIT_OK
    print(
        f"logloss: error: {problem.reason}; no model written to {str(args.out)!r} "
        "(--allow-unconverged writes it)",
        file=sys.stderr,
    )
    print(f"logloss: {problem.hint}", file=sys.stderr)
    return EXIT_NOT_CONVERGED
