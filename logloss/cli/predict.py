"""``logloss predict``: score a Parquet dataset with a saved model."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .display import Phases
from .parser import add_cluster, add_common, add_model, cluster
from .status import EXIT_OK

HELP = "score a Parquet dataset with a saved model"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "predict",
        help=HELP,
        description="Write a Parquet dataset of predictions, block by block on the cluster: "
        "the kept columns, 'probability' (of the model's second class) and 'prediction'.",
    )
    add_model(p)
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
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (output path, rows, model, columns) on stdout",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    add_cluster(p)
    add_common(p)
    return p


def check_paths(args: argparse.Namespace) -> None:
    """The output rule (:mod:`logloss.storage.rules`) for ``--out``."""
    from ..storage import check_output

    # a file:// URL becomes its path; other URLs are refused (one line)
    args.out = str(check_output(args.out, "predictions", inputs=[args.data, args.model]))


def run(args: argparse.Namespace) -> int:
    check_paths(args)
    phase = Phases(not (args.quiet or args.json))
    phase(f"reading the model {args.model}")
    from ..publishing import load_published, resolve_model
    from ..scoring import predict_to_parquet

    model_path = resolve_model(args.model)
    model = load_published(model_path)

    def opened(ds: Any) -> None:
        ds.check_columns(args.keep, "--keep")  # before any block is scored
        phase(
            f"scoring {ds.n_rows:,} rows from {len(ds.files)} file(s) in {len(ds.blocks)} "
            f"block(s), writing {args.out}"
        )
        phase.rows("scoring and writing", ds.n_rows)

    # predictions stream block by block: any size fits in this process
    with cluster(args, 0, phase):
        out, n = predict_to_parquet(
            model,
            args.data,
            args.out,
            keep=args.keep,
            model_path=model_path,
            opened=opened,
            progress=phase.progress,
        )
    phase.end_rows(f"scored and wrote {n:,} rows")
    phase("done")
    if args.json:
        doc = {"predictions": str(out), "rows": int(n), "model": str(model_path)}
        print(
            json.dumps(
                {
                    **doc,
                    "data": str(args.data),
                    "columns": [*args.keep, "probability", "prediction"],
                },
                indent=2,
            )
        )
    elif not args.quiet:
        print(f"wrote {n:,} predictions to {out}", file=sys.stderr)
    return EXIT_OK
