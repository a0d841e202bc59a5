"""``logloss summary``: coefficient statistics of a model on a dataset."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from .display import print_table
from .parser import add_cluster, add_common, add_data, add_model, cluster, model_and_data
from .status import EXIT_OK

HELP = "coefficients with standard errors, z, p-values and 95%% intervals"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    s: argparse.ArgumentParser = sub.add_parser(
        "summary",
        help=HELP,
        description="Coefficient statistics of a saved model on a labelled Parquet dataset "
        "(usually its training data), from the observed information at the fitted "
        "coefficients (one pass over the data). Without a penalty (C inf) these are the "
        "maximum-likelihood statistics; with one they are approximate.",
    )
    add_model(s)
    add_data(s, label_required=False)
    s.add_argument("--weight", metavar="COL", help="column of sample weights")
    s.add_argument(
        "--json", action="store_true", help="print one JSON object (coefficients and fit)"
    )
    add_cluster(s)
    add_common(s)
    return s


def check_paths(args: argparse.Namespace) -> None:
    """``summary`` writes nothing."""


def _number(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def run(args: argparse.Namespace) -> int:
    from ..loading import persist_dataset

    model, ds = model_and_data(args)
    with cluster(args, ds.nbytes):
        ds = persist_dataset(ds)
        table = model.summary(ds.X, ds.y, ds.sample_weight)
    info = model.summary_info_
    if args.json:
        doc = {
            "model": str(args.model),
            "data": ds.source,
            "coefficients": [
                {"feature": name, **{k: _number(v) for k, v in row.items()}}
                for name, row in table.iterrows()
            ],
            **{k: (_number(v) if isinstance(v, float) else v) for k, v in info.items()},
        }
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    _print_coefficients(table, f"coefficients of {args.model} on {ds.source}")
    print_table("fit", list(info.items()))
    if info["approximate"]:
        print(
            "note: the model is penalised: standard errors, p-values and intervals are "
            "approximate (from the penalised Hessian)",
            file=sys.stderr,
        )
    return EXIT_OK


def _print_coefficients(table: Any, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Table(title=title)
    out.add_column("feature", style="bold")
    for name in table.columns:
        out.add_column(name, justify="right")
    for feature, row in table.iterrows():
        out.add_row(str(feature), *(f"{v:.4g}" for v in row.tolist()))
    Console().print(out)
