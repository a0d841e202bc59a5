"""``logloss versions``: every version of a model location, oldest first: when it was made,
the data window it was trained on, its metrics, its verdict and which one ``latest`` names."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .display import print_grid
from .parser import add_common
from .status import EXIT_OK

HELP = "list a model's versions: time, data window, metrics, verdict, which is latest"

#: The metrics shown in the table (all of them are in --json).
SHOWN_METRICS = ("log_loss", "roc_auc")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    v: argparse.ArgumentParser = sub.add_parser(
        "versions",
        help=HELP,
        description="List every version at MODEL_DIR (a local path or an fsspec URL), oldest "
        "first: its version, when it was created (UTC), the data window it was trained on, "
        "its log loss and AUC on the hold-out, its verdict (promoted, rejected: kept but "
        "never served, refused: the data checks stopped the run before any fit) with the "
        "reason, and which one 'latest' names. On a terminal a drawn table; otherwise "
        "(a pipe, a file) tab-separated values in full.",
    )
    v.add_argument("model", metavar="MODEL_DIR", help="the model's location (where 'latest' is)")
    v.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of objects with version, created, window, metrics, verdict, "
        "reason and latest (true for the one served)",
    )
    add_common(v)
    return v


def check_paths(args: argparse.Namespace) -> None:
    """``versions`` writes nothing."""


def window_text(window: dict[str, Any] | None) -> str:
    """A version's data window in a few words: ``30d to 2024-03-08T00:00:00Z`` (and its
    hold-out, and the column of a time window)."""
    if not window:
        return ""
    text = f"{window.get('window', '')} to {window.get('as_of', '')}".strip()
    if window.get("column"):
        text += f" of {window['column']}"
    if window.get("holdout"):
        text += f", hold-out {window['holdout']}"
    return text


def run(args: argparse.Namespace) -> int:
    from ..storage import describe_versions

    rows = describe_versions(args.model)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return EXIT_OK
    header = ["version", "created", "window", *SHOWN_METRICS, "verdict", "reason", "latest"]
    table = [
        [
            r["version"],
            r["created"],
            window_text(r["window"]),
            *(r["metrics"].get(m) for m in SHOWN_METRICS),
            r["verdict"],
            r["reason"],
            "latest" if r["latest"] else "",
        ]
        for r in rows
    ]
    print_grid(f"versions of {args.model}", header, table)
    return EXIT_OK
