"""``logloss generate``: write a synthetic logistic dataset as partitioned Parquet."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .parser import add_common, positive_int
from .status import EXIT_OK

HELP = "write a synthetic logistic dataset as partitioned Parquet"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    g: argparse.ArgumentParser = sub.add_parser(
        "generate",
        help=HELP,
        description="Stream synthetic data: X ~ N(0, 1), y ~ Bernoulli(sigmoid(Xw + b)), "
        "written as OUT/part-*.parquet (feature columns x0, x1, ...; the label column is "
        "'y') with the true weights in OUT/true_weights.json. Train on it with "
        "'logloss train OUT --label y'.",
    )
    g.add_argument("out", metavar="OUT", help="output directory (absent or empty)")
    g.add_argument("--rows", type=positive_int, required=True, help="number of rows")
    g.add_argument("--features", type=positive_int, required=True, help="number of features")
    g.add_argument("--files", type=positive_int, default=1, help="number of part files")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument(
        "--row-group-size", type=positive_int, default=250_000, help="rows per row group"
    )
    g.add_argument("--quiet", action="store_true", help="no progress display")
    add_common(g)
    return g


def check_paths(args: argparse.Namespace) -> None:
    """The output rule (:mod:`logloss.storage.rules`) for ``OUT``."""
    from ..storage import check_output

    args.out = str(check_output(args.out, "dataset"))  # file:// URLs become paths


def run(args: argparse.Namespace) -> int:
    check_paths(args)
    from ..generate import generate

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
    print(
        f"wrote {args.rows:,} rows x {args.features} features to {out} "
        f"(label column 'y': logloss train {out} --label y ...)",
        file=sys.stderr,
    )
    return EXIT_OK
