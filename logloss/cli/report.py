"""``logloss report``: write an HTML page with a model's metrics and pictures."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .parser import add_cluster, add_common, add_model, cluster, model_and_data
from .status import EXIT_OK

HELP = "write an HTML page with a model's metrics and pictures"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    r: argparse.ArgumentParser = sub.add_parser(
        "report",
        help=HELP,
        description="Write MODEL_DIR/report.html from model.json, metrics.json and the "
        "pictures. With DATA, first evaluate the model on it and draw the pictures.",
    )
    add_model(r)
    r.add_argument("--data", metavar="DATA", help="labelled Parquet data to evaluate on first")
    r.add_argument("--label", metavar="COL", help="label column of DATA (default: as trained)")
    r.add_argument(
        "--out",
        metavar="FILE",
        help="output HTML file (default MODEL_DIR/report.html): absent or a report of logloss "
        "(replaced)",
    )
    add_cluster(r)
    add_common(r)
    return r


def check_paths(args: argparse.Namespace) -> None:
    """The output rule (:mod:`logloss.outputs`) for an explicit ``--out``; the default
    (inside the model directory) is checked once the model directory is resolved."""
    from ..outputs import check_output

    if args.out is not None:
        args.out = str(check_output(args.out, "report", inputs=[args.data]))


def run(args: argparse.Namespace) -> int:
    from ..outputs import check_output
    from ..pipeline import (
        load_published,
        persist_dataset,
        resolve_model,
        write_report_assets,
    )
    from ..report import write_html_report

    directory = resolve_model(args.model)
    out = check_output(
        args.out if args.out is not None else directory / "report.html",
        "report",
        inputs=[args.data],
    )
    if args.data:
        model, ds = model_and_data(args, directory)
        with cluster(args, ds.nbytes):
            write_report_assets(model, persist_dataset(ds), directory)
    else:
        load_published(directory)  # validates the model files
    written = write_html_report(directory, out)
    print(f"wrote {written}", file=sys.stderr)
    return EXIT_OK
