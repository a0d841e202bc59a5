"""``logloss summary``: coefficient statistics of a model on a dataset."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from .display import print_grid, print_table
from .parser import add_cluster, add_common, add_data, add_model, cluster, model_and_data
from .status import EXIT_OK

HELP = "coefficients with standard errors, z, p-values and 95%% intervals"

#: summary_info_ entries shown as tables or notes of their own, not in the "fit" table
_LISTS = ("identified_by_penalty", "not_identified", "categorical_tests")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    s: argparse.ArgumentParser = sub.add_parser(
        "summary",
        help=HELP,
        description="Coefficient statistics of a saved model on a labelled Parquet dataset "
        "(usually its training data), from the observed information at the fitted "
        "coefficients (one pass over the data), and a joint Wald test per categorical "
        "column. Without a penalty (C inf) these are the maximum-likelihood statistics; "
        "with one they are approximate. With all-level coding of a categorical column "
        "(train's default --categorical-coding all) and an intercept, its per-level "
        "coefficients are identified only by the penalty: their intervals are marked "
        "'penalty' and are no test; use the column's joint test, or train with "
        "--categorical-coding reference. On a terminal the tables are drawn; otherwise "
        "(a pipe, a file) they are tab-separated with every value in full.",
    )
    add_model(s)
    add_data(s, label_required=False)
    s.add_argument("--weight", metavar="COL", help="column of sample weights")
    out = s.add_mutually_exclusive_group()
    out.add_argument(
        "--json", action="store_true", help="print one JSON object (coefficients and fit)"
    )
    out.add_argument(
        "--csv",
        action="store_true",
        help="print the coefficient table as CSV (full precision; one row per coefficient)",
    )
    add_cluster(s)
    add_common(s)
    return s


def check_paths(args: argparse.Namespace) -> None:
    """``summary`` writes nothing."""


def _number(v: Any) -> Any:
    if isinstance(v, str) or v is None:
        return v
    return float(v) if math.isfinite(v) else None


def _json(v: Any) -> Any:
    if isinstance(v, float):
        return _number(v)
    if isinstance(v, list):
        return [_json(x) for x in v]
    if isinstance(v, dict):
        return {k: _json(x) for k, x in v.items()}
    return v


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
            **{k: _json(v) for k, v in info.items()},
        }
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    if args.csv:
        sys.stdout.write(table.to_csv())
        return EXIT_OK
    _print_coefficients(table, f"coefficients of {args.model} on {ds.source}")
    tests = info.get("categorical_tests") or []
    if tests:
        print_grid(
            "categorical columns: joint Wald test that all levels have the same effect",
            ["column", "chi2", "df", "p_value"],
            [[t["column"], t["chi2"], t["df"], t["p_value"]] for t in tests],
        )
    print_table("fit", [(k, v) for k, v in info.items() if k not in _LISTS and v is not None])
    for line in _notes(info):
        print(f"note: {line}", file=sys.stderr)
    return EXIT_OK


def _notes(info: dict[str, Any]) -> list[str]:
    from ..data.errors import some_items  # here: the data package imports Dask

    out = []
    if info.get("identified_by_penalty"):
        out.append(
            "with every level of a categorical column coded and an intercept, only the "
            "penalty identifies " + some_items(info["identified_by_penalty"], 12) + ": their "
            "standard errors, p-values and intervals (identified_by 'penalty') show the "
            "penalty's width, not a test. Read the column's joint Wald test, or train "
            "with --categorical-coding reference"
        )
    if info.get("not_identified"):
        out.append(
            "without a penalty these coefficients are not identified (every level of a "
            "categorical column coded, and an intercept): "
            + some_items(info["not_identified"], 12)
            + ". Their statistics are left out; the columns' joint Wald tests are "
            "identified. Train with --categorical-coding reference for per-level tests"
        )
    if info.get("approximate"):
        out.append(
            "the model is penalised: standard errors, p-values and intervals are "
            "approximate (from the penalised Hessian)"
        )
    return out


def _print_coefficients(table: Any, title: str) -> None:
    header = ["feature", *table.columns]
    rows = [[str(feature), *row.tolist()] for feature, row in table.iterrows()]
    print_grid(title, header, rows)
