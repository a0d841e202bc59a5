"""``logloss train``: a face of the training run (:mod:`logloss.training`). It parses the
options, calls the run, and renders its result (a table, ``--json``) and problems."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from ..remedies import Problem
from ..settings import option_name, translate_deprecated
from ..training.options import add_run_options, run_fields
from .display import Phases, Progress, print_table
from .parser import add_cluster, add_common, add_data
from .status import EXIT_BAD_INPUT, EXIT_NOT_CONVERGED, EXIT_OK, EXIT_REJECTED

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
        "--out",
        required=True,
        metavar="MODEL_DIR",
        help="directory to save the model: absent, empty, or a model saved by logloss "
        "(replaced); anything else is refused",
    )
    add_run_options(t)  # shared with python -m flows.train
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
    add_cluster(t)
    add_common(t)
    return t


def train_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The training settings of parsed ``train`` arguments (``--penalty`` translated)."""
    return translate_deprecated(run_fields(args)["settings"])[0]


def plan_of(args: argparse.Namespace) -> Any:
    """The run the parsed options ask for."""
    from ..training import TrainPlan

    return TrainPlan.create(
        **run_fields(args),
        data=args.data,
        label=args.label,
        out=args.out,
        scheduler=args.scheduler,
        workers=args.workers,
        processes=args.processes,
        quiet=not args.debug,
    )


def check_paths(args: argparse.Namespace) -> None:
    """The output rule for ``--out`` and ``--checkpoint`` (standard library only)."""
    from ..remedies import ProblemError
    from ..training import OutputPathError, check_outputs

    try:
        args.plan = check_outputs(plan_of(args))
    except ProblemError as exc:  # spelt as options
        raise OutputPathError(exc.problem.render(option_name)) from None
    args.out = args.plan.out


def run(args: argparse.Namespace) -> int:
    from ..remedies import ProblemError
    from ..training.run import Hooks
    from ..training.run import run as run_training

    plan = getattr(args, "plan", None) or plan_of(args)
    show = not (args.quiet or args.json)
    phase = Phases(show)

    def searching(passes: int, running: int) -> None:
        phase(f"search pass {passes}: {running} model(s) still running")

    try:
        with Progress(show, plan.settings.max_iter) as progress:
            hooks = Hooks(phase, phase.rows, progress, searching, option_name, phase.end_rows)
            result = run_training(plan, dataclasses.replace(hooks, note=_note))
    except ProblemError as exc:  # a checkpoint of another fit, conflicting options
        print(f"logloss: error: {exc.problem.render(option_name)}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    for message in result.warnings:
        _note(message)
    summary = result.summary(plan)
    phase("done")
    if args.json:
        print(json.dumps(summary, indent=2))
    elif not args.quiet:
        _print_summary(summary)
    if result.problem is not None:
        return _unconverged(plan, result.problem)
    if result.rejected:
        assert result.verdict is not None
        print(f"logloss: error: {result.verdict.line()}; latest unchanged", file=sys.stderr)
        return EXIT_REJECTED
    return EXIT_OK


def _note(note: Problem | str) -> None:
    if isinstance(note, str):  # a warning of the fit
        print(f"warning: {note}", file=sys.stderr)
    elif note.what == "rows dropped":
        print(note.why, file=sys.stderr)
    elif note.what in ("deprecated", "not tracked"):  # not tracked: MLflow did not answer
        print(f"logloss: warning: {note.render(option_name)}", file=sys.stderr)
    else:
        print(f"note: {note.reason(option_name)} ({note.hint(option_name)})", file=sys.stderr)


def _print_summary(s: dict[str, Any]) -> None:
    features = f"{s['features']:,}"
    if s["input_columns"] != s["features"]:
        features += f" (from {s['input_columns']} columns)"
    print_table(
        "logloss train",
        [
            ("data", s["data"]),
            ("rows", f"{s['rows']:,}"),
            ("features", features),
            *[
                ("categorical" if i == 0 else "", c)
                for i, c in enumerate(s.get("categorical") or [])
            ],
            ("ran on", s["ran_on"]),
            ("solver", s["solver"] + (" (auto)" if s["solver_setting"] == "auto" else "")),
            ("iterations", s["iterations"]),
            ("passes over the data", s["passes"]),
            ("converged", "yes" if s["converged"] else "NO"),
            ("final loss", s["final_loss"] if s["final_loss"] is not None else "nan"),
            ("gradient norm", f"{s['gradient_norm'] or float('nan'):.3e}"),
            *_more_rows(s),
            ("load seconds", f"{s['load_seconds']:.2f}"),
            ("fit seconds", f"{s['fit_seconds']:.2f}"),
            ("model", s["model"] or "not written"),
        ],
    )


def _more_rows(s: dict[str, Any]) -> list[tuple[str, Any]]:
    """The search's choice, where the blocks were, the held-out metrics."""
    rows: list[tuple[str, Any]] = []
    if cv := s["cv"]:
        rows.append(("chosen C", f"{cv['C']:.6g}"))
        if cv["l1_ratios"] is not None:
            rows.append(("chosen l1_ratio", f"{cv['l1_ratio']:g}"))
        rows.append(("cross-validation", f"{cv['folds']} folds, {cv['passes']} passes"))
    if info := s.get("data_storage"):
        blocks = f"{info['blocks_in_memory']} in memory, {info['blocks_on_disk']} on disk"
        rows.append(("blocks", blocks))
        if info.get("pass_gb_per_s"):
            rows.append(("pass throughput", f"{info['pass_gb_per_s']:.2f} GB/s"))
    metrics = s.get("metrics") or {}
    rows += [
        (f"held-out {k}", f"{metrics[k]:.6g}") for k in ("log_loss", "roc_auc") if k in metrics
    ]
    return rows + _gate_rows(s)


def _gate_rows(s: dict[str, Any]) -> list[tuple[str, Any]]:
    """How the fit started (both pass counts), the promotion gate, the flagged checks."""
    rows: list[tuple[str, Any]] = []
    start = s.get("start") or {}
    if start.get("line"):
        theirs = start.get("champion_passes")
        rows.append(
            ("start", start["line"] + (f" (the champion's fit: {theirs})" if theirs else ""))
        )
    verdict = s.get("verdict")
    if verdict:
        champion = verdict.get("champion") or {}
        line = verdict["status"] + (f": {verdict['reason']}" if verdict["reason"] else "")
        rows.append(("promotion gate", line))
        if champion.get("log_loss") is not None:
            rows.append(("champion log_loss", f"{champion['log_loss']:.6g} (same hold-out)"))
        rows += [("flagged", f) for f in verdict.get("flagged") or [] if f not in verdict["reason"]]
    return rows


def _unconverged(plan: Any, problem: Problem) -> int:
    why, hint = problem.reason(option_name), problem.hint(option_name)
    allow = option_name("allow_unconverged", True)
    if plan.allow_unconverged:
        print(f"warning: {why}; model written anyway ({allow}); hint: {hint}", file=sys.stderr)
        return EXIT_OK
    where = f"no model written to {str(plan.out)!r} ({allow} writes it)"
    print(f"logloss: error: {why}; {where}\nlogloss: hint: {hint}", file=sys.stderr)
    return EXIT_NOT_CONVERGED
