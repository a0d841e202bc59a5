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


STREAM_BLOCK_BYTES = 32 * 2**20
"""Block size of a streamed pass: the blocks are read, reduced and released, never kept, so
smaller blocks than training's (which keeps them) cost a little time per task but hold the
peak memory to a few of them, whatever the size of the files."""


def streaming_bytes(ds: Any) -> int:
    """Bytes a streamed pass over ``ds`` holds at once: a few blocks per core (each block
    is read, scored, reduced to its bounded metrics state and released), not the data."""
    import os

    arrays = [a for a in (ds.X, ds.y, ds.sample_weight) if a is not None]
    largest = max((c for c in ds.X.chunks[0] if c == c), default=0)  # NaN: unknown
    row_bytes = sum(a.dtype.itemsize * (a.shape[1] if a.ndim == 2 else 1) for a in arrays)
    held = 3 * (os.cpu_count() or 1) * int(largest) * row_bytes
    return int(min(ds.nbytes, held))


def run(args: argparse.Namespace) -> int:
    phase = Phases(not (args.quiet or args.json))
    phase(f"reading the model {args.model} and the footers of {args.data}")
    from ..evaluation import evaluate_model

    model, ds = model_and_data(args, block_bytes=STREAM_BLOCK_BYTES)
    with cluster(args, streaming_bytes(ds), phase):
        # Nothing is persisted: the labels are checked, then every block is read, scored
        # and reduced to a metrics state of bounded size (logloss.metrics), one pass.
        phase(f"scoring {ds.n_rows:,} rows from {len(ds.files)} file(s), block by block")
        metrics = evaluate_model(model, ds)
    phase("done")
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print_table(f"logloss evaluate on {ds.source}", list(metrics.items()))
    return EXIT_OK
