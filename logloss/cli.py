"""The ``logloss`` command line: train, predict, evaluate, generate, report.

Every command calls the library functions of :mod:`logloss.pipeline`; nothing here does math.
Errors in the input print one line naming the culprit (file, column, value) and exit with
status 2; ``--debug`` shows the traceback instead. Options and output paths are checked
before any data is read or a cluster started (see :mod:`logloss.outputs` for what an output
path may replace).

Exit statuses: 0 success; 2 bad input, usage or an output path that may not be written;
3 ``train`` did not converge (no model written; ``--allow-unconverged`` writes it and exits
0); 130 interrupted (Ctrl-C); 1 an unexpected internal error (a traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .settings import add_cli_options, from_cli

EXIT_OK = 0
EXIT_INTERNAL_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3
EXIT_INTERRUPTED = 130

_MODEL_HELP = "a saved model directory, or a directory holding a 'latest' pointer"

_EPILOG_TRAIN = """\
examples:
  logloss train data/breast_cancer.parquet --label target --standardize --out models/bc
  logloss train s3://bucket/events/ --label clicked --features a,b,c --C 0.5 \\
      --scheduler tcp://scheduler:8786 --out models/clicks

Without --scheduler (or env DASK_SCHEDULER_ADDRESS) a local Dask cluster with one worker
process per core is started on 127.0.0.1 and stopped at the end.
"""


# ---------------------------------------------------------------------- parsing
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number; got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive finite number; got {text}")
    return value


def _columns(text: str) -> list[str]:
    cols = [c.strip() for c in text.split(",") if c.strip()]
    if not cols:
        raise argparse.ArgumentTypeError("expected a comma-separated list of column names")
    return cols


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show full tracebacks and Dask logs")


def _add_cluster(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster")
    x = g.add_mutually_exclusive_group()
    x.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786 "
        "(default: env DASK_SCHEDULER_ADDRESS, else a local cluster)",
    )
    x.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="worker processes of the local cluster (default: one per core)",
    )


def _add_data(p: argparse.ArgumentParser, *, label_required: bool) -> None:
    p.add_argument(
        "data",
        metavar="DATA",
        help="Parquet file, directory (hive partitions too), glob, or fsspec URL",
    )
    p.add_argument(
        "--label",
        required=label_required,
        metavar="COL",
        help="label column: any two distinct values"
        + ("" if label_required else " (default: the column the model was trained on)"),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="logloss",
        description="Distributed batch training of binary logistic regression on Dask, "
        "from Parquet data.",
    )
    parser.add_argument("--version", action="version", version=f"logloss {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    t = sub.add_parser(
        "train",
        help="fit a model on a Parquet dataset and save it",
        description="Fit binary logistic regression by minimising the log loss over a "
        "Parquet dataset on a Dask cluster, and save the model as plain files "
        "(model.json + coef.npy).",
        epilog=_EPILOG_TRAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data(t, label_required=True)
    t.add_argument(
        "--features",
        type=_columns,
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
    d = t.add_argument_group("data handling")
    d.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="storage type of the features in memory (sums are always float64)",
    )
    d.add_argument(
        "--block-mb",
        type=_positive_float,
        default=128.0,
        metavar="MB",
        help="feature data per block in memory (default 128); lower it for workers with "
        "little memory (a block read peaks at about 3x this)",
    )
    d.add_argument(
        "--drop-invalid",
        action="store_true",
        help="drop rows with null, NaN or inf instead of failing (reports how many)",
    )
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
        help="also write metrics.json and the report pictures (on the training data) "
        "into MODEL_DIR",
    )
    t.add_argument("--quiet", action="store_true", help="no progress display")
    _add_cluster(t)
    _add_common(t)

    p = sub.add_parser(
        "predict",
        help="score a Parquet dataset with a saved model",
        description="Write a Parquet dataset of predictions, block by block on the cluster: "
        "the kept columns, 'probability' (of the model's second class) and 'prediction'.",
    )
    p.add_argument(
        "model", metavar="MODEL_DIR", help="a saved model (or a directory with 'latest')"
    )
    p.add_argument("data", metavar="DATA", help="Parquet file, directory, glob, or fsspec URL")
    p.add_argument(
        "--out",
        required=True,
        metavar="PREDICTIONS",
        help="output directory: absent, empty, or earlier predictions of logloss (replaced); "
        "anything else is refused",
    )
    p.add_argument(
        "--keep",
        nargs="+",
        default=[],
        metavar="COL",
        help="input columns to copy beside the predictions (e.g. an id)",
    )
    _add_cluster(p)
    _add_common(p)

    e = sub.add_parser(
        "evaluate",
        help="log loss, accuracy, ROC AUC and confusion counts of a model on a dataset",
        description="Evaluate a saved model on a labelled Parquet dataset (distributed).",
    )
    e.add_argument(
        "model", metavar="MODEL_DIR", help="a saved model (or a directory with 'latest')"
    )
    _add_data(e, label_required=False)
    e.add_argument("--weight", metavar="COL", help="column of sample weights")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    _add_cluster(e)
    _add_common(e)

    g = sub.add_parser(
        "generate",
        help="write a synthetic logistic dataset as partitioned Parquet",
        description="Stream synthetic data: X ~ N(0, 1), y ~ Bernoulli(sigmoid(Xw + b)), "
        "written as OUT/part-*.parquet with the true weights in OUT/true_weights.json.",
    )
    g.add_argument("out", metavar="OUT", help="output directory (absent or empty)")
    g.add_argument("--rows", type=_positive_int, required=True, help="number of rows")
    g.add_argument("--features", type=_positive_int, required=True, help="number of features")
    g.add_argument("--files", type=_positive_int, default=1, help="number of part files")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument(
        "--row-group-size", type=_positive_int, default=250_000, help="rows per row group"
    )
    g.add_argument("--quiet", action="store_true", help="no progress display")
    _add_common(g)

    r = sub.add_parser(
        "report",
        help="write an HTML page with a model's metrics and pictures",
        description="Write MODEL_DIR/report.html from model.json, metrics.json and the "
        "pictures. With DATA, first evaluate the model on it and draw the pictures.",
    )
    r.add_argument(
        "model", metavar="MODEL_DIR", help="a saved model (or a directory with 'latest')"
    )
    r.add_argument("--data", metavar="DATA", help="labelled Parquet data to evaluate on first")
    r.add_argument("--label", metavar="COL", help="label column of DATA (default: as trained)")
    r.add_argument(
        "--out",
        metavar="FILE",
        help="output HTML file (default MODEL_DIR/report.html): absent or a report of logloss "
        "(replaced)",
    )
    _add_cluster(r)
    _add_common(r)
    return parser


# -------------------------------------------------------------------- display
class Progress:
    """Live training progress on a terminal; one line per few seconds otherwise."""

    def __init__(self, enabled: bool, max_iter: int) -> None:
        self.enabled = enabled
        self.max_iter = max_iter
        self.t0 = time.perf_counter()
        self._last_print = 0.0
        self._live: Any = None
        self._tty = sys.stderr.isatty()

    def __enter__(self) -> Progress:
        if self.enabled and self._tty:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                self._render(None), console=Console(stderr=True), refresh_per_second=8
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def _render(self, row: dict[str, float] | None) -> Any:
        from rich.table import Table

        table = Table(title="training", show_header=True, header_style="bold")
        for col in ("iteration", "loss", "gradient norm", "elapsed"):
            table.add_column(col, justify="right")
        if row is not None:
            table.add_row(
                f"{row['iteration']}/{self.max_iter}",
                f"{row['loss']:.10g}",
                f"{row['grad_norm']:.3e}",
                f"{time.perf_counter() - self.t0:.1f} s",
            )
        return table

    def __call__(self, state: Any) -> None:
        if not self.enabled or not state.history:
            return
        row = state.history[-1]
        if self._live is not None:
            self._live.update(self._render(row))
            return
        now = time.perf_counter()
        if now - self._last_print >= 2.0 or row["iteration"] == 1:
            self._last_print = now
            print(
                f"iteration {row['iteration']}/{self.max_iter}  loss {row['loss']:.10g}  "
                f"|grad| {row['grad_norm']:.3e}  elapsed {now - self.t0:.1f} s",
                file=sys.stderr,
                flush=True,
            )


def _print_table(title: str, rows: Sequence[tuple[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    for k, v in rows:
        table.add_row(
            k, v if isinstance(v, str) else f"{v:.6g}" if isinstance(v, float) else str(v)
        )
    Console().print(table)


# ------------------------------------------------------------------- commands
def _cluster(args: argparse.Namespace) -> Any:
    from .pipeline import dask_client

    return dask_client(args.scheduler, workers=args.workers, quiet=not args.debug)


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


def cmd_train(args: argparse.Namespace) -> int:
    from .outputs import check_output, check_work_dir

    # Before any data is read or a cluster started: a wrong path fails at once.
    check_output(args.out, "model", inputs=[args.data, args.checkpoint])
    if args.checkpoint:
        check_work_dir(args.checkpoint, "checkpoint directory")

    from .data import read_parquet
    from .pipeline import (
        TrainSettings,
        non_convergence,
        persist_dataset,
        train_model,
        write_report_assets,
    )

    settings = TrainSettings(**train_settings(args))
    t0 = time.perf_counter()
    # Footer-level problems (paths, columns, schemas) fail here, before a cluster starts.
    ds = read_parquet(
        args.data,
        args.label,
        features=args.features,
        weight=args.weight,
        dtype=args.dtype,
        drop_invalid=args.drop_invalid,
        block_bytes=int(args.block_mb * 2**20),
        invalid_hint="pass --drop-invalid to drop such rows",
    )
    with _cluster(args) as client:
        ds = persist_dataset(ds)
        if ds.n_dropped:
            print(f"dropped {ds.n_dropped} invalid row(s) of {ds.source}", file=sys.stderr)
        loaded = time.perf_counter()
        with (
            Progress(not args.quiet, args.max_iter) as progress,
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            model = train_model(
                ds,
                settings,
                callback=progress,
                checkpoint=args.checkpoint,
                checkpoint_restart=args.checkpoint_restart,
            )
        fitted = time.perf_counter()
        problem = non_convergence(model, ds.feature_names)
        saved = problem is None or args.allow_unconverged
        if saved:
            extra = None
            if args.report:

                def extra(tmp: Path) -> None:
                    write_report_assets(model, ds, tmp)

            model.save(args.out, extra=extra)
        n_workers = len(client.scheduler_info().get("workers", {}))
    from sklearn.exceptions import ConvergenceWarning

    for w in caught:
        # non-convergence is reported below, with the reason and a hint
        if issubclass(w.category, UserWarning) and not issubclass(w.category, ConvergenceWarning):
            print(f"warning: {w.message}", file=sys.stderr)
    last = (
        model.history_[-1] if model.history_ else {"loss": float("nan"), "grad_norm": float("nan")}
    )
    _print_table(
        "logloss train",
        [
            ("data", ds.source),
            ("rows", f"{ds.X.shape[0]:,}"),
            ("features", ds.n_features),
            ("workers", n_workers),
            ("solver", model.solver_ + (" (auto)" if settings.solver == "auto" else "")),
            ("iterations", int(model.n_iter_[0])),
            ("passes over the data", int(model.n_passes_)),
            ("converged", "yes" if model.converged_ else "NO"),
            ("final loss", last["loss"]),
            ("gradient norm", f"{last['grad_norm']:.3e}"),
            ("load seconds", f"{loaded - t0:.2f}"),
            ("fit seconds", f"{fitted - loaded:.2f}"),
            ("model", str(args.out) if saved else "not written"),
        ],
    )
    if problem is not None:
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
    return EXIT_OK


def cmd_predict(args: argparse.Namespace) -> int:
    from .outputs import check_output

    check_output(args.out, "predictions", inputs=[args.data, args.model])
    from .pipeline import load_published, predict_to_parquet, resolve_model

    model_path = resolve_model(args.model)
    model = load_published(model_path)
    with _cluster(args):
        out, n = predict_to_parquet(
            model, args.data, args.out, keep=args.keep, model_path=model_path
        )
    print(f"wrote {n:,} predictions to {out}", file=sys.stderr)
    return EXIT_OK


def _label_for(model: Any, label: str | None) -> str:
    label = label or getattr(model, "training_", {}).get("label")
    if not label:
        raise ValueError("the model does not record its label column; pass --label COL")
    return str(label)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .data import read_parquet
    from .pipeline import evaluate_model, load_published, model_features, persist_dataset

    model = load_published(args.model)
    ds = read_parquet(
        args.data,
        _label_for(model, args.label),
        features=model_features(model),
        weight=args.weight,
        invalid_hint=None,
    )
    with _cluster(args):
        metrics = evaluate_model(model, persist_dataset(ds))
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        _print_table(f"logloss evaluate on {ds.source}", list(metrics.items()))
    return EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    from .outputs import check_output

    check_output(args.out, "dataset")
    from .generate import generate

    progress = None
    if not args.quiet:
        from rich.progress import Progress as Bar

        bar = Bar(transient=True)
        task = bar.add_task("writing rows", total=args.rows)
        progress = lambda done: bar.update(task, completed=done)  # noqa: E731
        bar.start()
    try:
        out = generate(
            args.out,
            rows=args.rows,
            features=args.features,
            files=args.files,
            seed=args.seed,
            row_group_size=args.row_group_size,
            progress=progress,
        )
    finally:
        if not args.quiet:
            bar.stop()
    print(f"wrote {args.rows:,} rows x {args.features} features to {out}", file=sys.stderr)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from .data import read_parquet
    from .outputs import check_output
    from .pipeline import (
        load_published,
        model_features,
        persist_dataset,
        resolve_model,
        write_report_assets,
    )
    from .report import write_html_report

    directory = resolve_model(args.model)
    out = check_output(
        args.out if args.out is not None else directory / "report.html",
        "report",
        inputs=[args.data],
    )
    if args.data:
        model = load_published(directory)
        ds = read_parquet(
            args.data,
            _label_for(model, args.label),
            features=model_features(model),
            invalid_hint=None,
        )
        with _cluster(args):
            write_report_assets(model, persist_dataset(ds), directory)
    else:
        load_published(directory)  # validates the model files
    written = write_html_report(directory, out)
    print(f"wrote {written}", file=sys.stderr)
    return EXIT_OK


COMMANDS = {
    "train": cmd_train,
    "predict": cmd_predict,
    "evaluate": cmd_evaluate,
    "generate": cmd_generate,
    "report": cmd_report,
}


def _fail(message: str) -> NoReturn:
    print(f"logloss: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


def _check_paths(args: argparse.Namespace) -> None:
    """The output-path rule of :mod:`logloss.outputs` for every command that writes."""
    from .outputs import check_output, check_work_dir

    if args.command == "train":
        check_output(args.out, "model", inputs=[args.data, args.checkpoint])
        if args.checkpoint:
            check_work_dir(args.checkpoint, "checkpoint directory")
    elif args.command == "predict":
        check_output(args.out, "predictions", inputs=[args.data, args.model])
    elif args.command == "generate":
        check_output(args.out, "dataset")
    elif args.command == "report" and args.out is not None:
        check_output(args.out, "report", inputs=[args.data])


def _interrupted() -> None:
    """One line on Ctrl-C; the cluster was stopped on the way out (its noise silenced)."""
    for name in ("distributed", "asyncio", "tornado", "bokeh"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    print("logloss: interrupted", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.debug:
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        os.environ.setdefault("DASK_DISTRIBUTED__LOGGING__DISTRIBUTED", "critical")
    from .address import UnreachableSchedulerError, probe_scheduler
    from .outputs import OutputPathError

    try:
        _check_paths(args)  # stdlib only: a wrong path fails before the heavy imports
        scheduler = getattr(args, "scheduler", None) or os.environ.get("DASK_SCHEDULER_ADDRESS")
        if "scheduler" in args and scheduler:
            probe_scheduler(scheduler)  # so does a scheduler address nothing listens at
    except (OutputPathError, UnreachableSchedulerError) as exc:
        if args.debug:
            raise
        _fail(str(exc))
    try:
        from .checkpoint import CheckpointError
        from .data import DataError
        from .model import ModelFileError
        from .outputs import OutputPathError
        from .pipeline import SchedulerUnreachableError

        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        _interrupted()
        return EXIT_INTERRUPTED
    except (
        DataError,
        ModelFileError,
        CheckpointError,
        OutputPathError,
        SchedulerUnreachableError,
        FileExistsError,
        FileNotFoundError,
    ) as exc:
        if args.debug:
            raise
        _fail(str(exc))
    except (ValueError, OSError, TimeoutError) as exc:  # input or environment at fault
        if args.debug:
            raise
        _fail(
            f"{type(exc).__name__}: {exc}"
            if not str(exc).startswith(type(exc).__name__)
            else str(exc)
        )
    except Exception as exc:  # a bug: not the user's input
        if args.debug:
            raise
        first = (str(exc).splitlines() or [""])[0]
        print(
            f"logloss: internal error: {type(exc).__name__}: {first} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
