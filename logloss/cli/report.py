"""``logloss report``: write an HTML page with a model's metrics and pictures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .display import Phases
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
    r.add_argument("--quiet", action="store_true", help="print nothing but errors")
    add_cluster(r)
    add_common(r)
    return r


def check_paths(args: argparse.Namespace) -> None:
    """The output rule (:mod:`logloss.storage.rules`) for an explicit ``--out``; the default
    (inside the model directory) is checked once the model directory is resolved."""
    from ..storage import check_output

    if args.out is not None:
        args.out = str(check_output(args.out, "report", inputs=[args.data]))


def run(args: argparse.Namespace) -> int:
    from ..publishing import load_published, resolve_model
    from ..report import write_html_report
    from ..storage import check_output

    phase = Phases(not args.quiet)
    phase(f"reading the model {args.model}")
    directory = resolve_model(args.model)
    written: Any
    if isinstance(directory, str):  # an fsspec URL
        written = _run_url(args, directory, phase)
    else:
        out = check_output(
            args.out if args.out is not None else directory / "report.html",
            "report",
            inputs=[args.data],
        )
        if args.data:
            _assets(args, directory, phase)
        else:
            load_published(directory)  # validates the model files
        phase(f"writing {out}")
        written = write_html_report(directory, out)
    phase("done")
    if not args.quiet:
        print(f"wrote {written}", file=sys.stderr)
    return EXIT_OK


def _assets(args: argparse.Namespace, directory: Any, phase: Phases) -> None:
    """Evaluate the model on ``--data`` and draw the pictures into ``directory``."""
    from ..publishing import write_report_assets
    from .evaluate import STREAM_BLOCK_BYTES, streaming_bytes

    model, ds = model_and_data(args, directory, block_bytes=STREAM_BLOCK_BYTES)
    with cluster(args, streaming_bytes(ds), phase):
        # Nothing is persisted: each pass streams the blocks and keeps bounded results
        # (logloss.report.assets), so memory does not grow with the rows.
        phase(f"scoring {ds.n_rows:,} rows from {len(ds.files)} file(s) and drawing the pictures")
        write_report_assets(model, ds, directory)


def _run_url(args: argparse.Namespace, url: str, phase: Phases) -> str:
    """A model at an fsspec URL: its files are copied here, the page drawn, then either a
    new version of the model with the page (the default: all or nothing) or the page alone
    at ``--out``."""
    import shutil

    from ..publishing import load_published
    from ..report import write_html_report
    from ..storage import (
        atomic_write_bytes,
        copy_model_to_local,
        is_url,
        save_folder,
        write_bytes_url,
    )

    with copy_model_to_local(url) as tmp:
        if args.data:
            _assets(args, tmp, phase)
        else:
            load_published(tmp)  # validates the model files
        name = str(args.model).rstrip("/").rsplit("/", 1)[-1]
        page = write_html_report(tmp, tmp / "report.html", name=name)
        target = args.out if args.out is not None else f"a new version of {args.model}"
        phase(f"writing {target}")
        if args.out is None:

            def files(work: Path) -> None:
                shutil.copytree(tmp, work, dirs_exist_ok=True)

            target = f"{save_folder(args.model, files)}/report.html"  # the model's location
        elif is_url(args.out):
            write_bytes_url(args.out, page.read_bytes())
        else:
            atomic_write_bytes(args.out, page.read_bytes())
    return str(target)
