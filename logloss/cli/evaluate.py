"""``logloss evaluate``: log loss, accuracy, ROC AUC, average precision, Brier score and
confusion counts on a dataset."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .display import Phases, print_table
from .parser import add_cluster, add_common, add_data, add_model, cluster, model_and_data
from .status import EXIT_OK

HELP = (
    "log loss, accuracy, ROC AUC, average precision, Brier score and confusion counts of a "
    "model on a dataset"
)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    e: argparse.ArgumentParser = sub.add_parser(
        "evaluate",
        help=HELP,
        description="Evaluate a saved model on a labelled Parquet dataset (distributed).",
    )
    add_model(e)
    add_data(e, label_required=False)
    e.add_argument("--weight", metavar="COL", help="column of sample weights")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    e.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_cluster(e)
    add_common(e)
    return e


def check_paths(args: argparse.Namespace) -> None:
    """``evaluate`` writes nothing."""


def run(args: argparse.Namespace) -> int:
    phase = Phases(not (args.quiet or args.json))
    phase(f"reading the model {args.model} and the footers of {args.data}")
    from ..evaluation import evaluate_model
    from ..loading import persist_dataset

    model, ds = model_and_data(args)
    with cluster(args, ds.nbytes, phase):
        phase(f"reading {ds.n_rows:,} rows from {len(ds.files)} file(s)")
        ds = persist_dataset(ds, progress=phase.rows("reading", ds.n_rows))
        phase.end_rows(f"read {ds.n_rows:,} rows")
        phase("scoring: metrics over every block")
        metrics = evaluate_model(model, ds)
    phase("done")
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print_table(f"logloss evaluate on {ds.source}", list(metrics.items()))
    return EXIT_OK
