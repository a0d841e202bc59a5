"""``logloss generate [KIND] OUT``: write a synthetic dataset as partitioned Parquet.

Kinds: ``dense`` (the default: X ~ N(0, 1), :func:`logloss.generate.generate`) and ``ctr``
(a Criteo-shaped click log, :func:`logloss.generate_ctr.generate_ctr`). Usage errors print one
line and exit 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any, NoReturn

from .parser import add_common, positive_int
from .status import EXIT_BAD_INPUT, EXIT_OK

HELP = "write a synthetic dataset (dense logistic, or a Criteo-shaped click log) as Parquet"
KINDS = ("dense", "ctr")
DEFAULT_OUT = {"ctr": "ctr"}  # where `logloss generate ctr` writes without OUT or --out


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD; got {text!r}") from None


def _usage(message: str) -> NoReturn:
    print(f"logloss generate: error: {message} (see logloss generate --help)", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    g: argparse.ArgumentParser = sub.add_parser(
        "generate",
        help=HELP,
        description="Stream synthetic data with a known logistic ground truth into "
        "OUT/part-*.parquet (with --days: OUT/date=YYYY-MM-DD/part-*.parquet), the truth in "
        "OUT/true_weights.json. KIND 'dense' (the default): X ~ N(0, 1), y ~ Bernoulli("
        "sigmoid(Xw + b)), feature columns x0, x1, ...; the label column is 'y' (train with "
        "'logloss train OUT --label y'). KIND 'ctr': a click log shaped like the Criteo Kaggle "
        "set: count columns I1..I13 with nulls, string columns C1..C26 whose numbers of levels "
        "are Criteo's scaled to --rows (Zipf-distributed, dictionary-encoded), about 25 "
        "percent positives in the label column 'label' (train with 'logloss train OUT --label "
        "label'); OUT defaults to ./ctr. OUT follows KIND directly; write an OUT named like a "
        "kind as ./ctr.",
    )
    g.error = _usage  # type: ignore[method-assign]  # one line, not the usage block
    g.add_argument(
        "target",
        nargs="*",
        metavar="[KIND] OUT",
        help="the kind of data (dense, ctr; default dense) and the output directory "
        "(absent or empty)",
    )
    g.add_argument("--out", metavar="OUT", help="the output directory (instead of OUT)")
    g.add_argument("--rows", type=positive_int, required=True, help="number of rows")
    g.add_argument(
        "--features", type=positive_int, help="number of features (dense: required; ctr: not used)"
    )
    g.add_argument(
        "--files", type=positive_int, default=1, help="number of part files (a day, with --days)"
    )
    g.add_argument(
        "--days",
        type=positive_int,
        metavar="N",
        help="write hive partitions date=YYYY-MM-DD: N consecutive days ending at --end-date, "
        "the rows split evenly, oldest first (default: no partitions)",
    )
    g.add_argument(
        "--end-date",
        type=_date,
        metavar="YYYY-MM-DD",
        help="the last day of --days (default: today, UTC)",
    )
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument(
        "--row-group-size", type=positive_int, default=250_000, help="rows per row group"
    )
    g.add_argument("--quiet", action="store_true", help="no progress display")
    add_common(g)
    return g


def _kind_and_out(args: argparse.Namespace) -> tuple[str, str]:
    target = list(args.target)
    kind = target.pop(0) if target and target[0] in KINDS else "dense"
    if len(target) > 1:
        _usage(f"expected [KIND] OUT; got {' '.join(args.target)!r} (KIND: {', '.join(KINDS)})")
    if target and args.out:
        _usage(f"the output directory is given twice: {target[0]!r} and --out {args.out!r}")
    out = (target[0] if target else args.out) or DEFAULT_OUT.get(kind)
    if out is None:
        _usage(f"the output directory OUT is required for {kind} data")
    if kind == "dense" and args.features is None:
        _usage("--features is required for dense data")
    if kind == "ctr" and args.features is not None:
        _usage("--features does not apply to ctr data (its columns are fixed: I1..I13, C1..C26)")
    if args.end_date is not None and args.days is None:
        _usage("--end-date needs --days")
    return kind, out


def check_paths(args: argparse.Namespace) -> None:
    """The kind and OUT; the output rule (:mod:`logloss.storage.rules`) for ``OUT``."""
    from ..storage import check_output

    args.kind, out = _kind_and_out(args)
    args.out = str(check_output(out, "dataset"))  # file:// URLs become paths


def run(args: argparse.Namespace) -> int:
    if not hasattr(args, "kind"):
        check_paths(args)
    progress = None
    if not args.quiet:
        from rich.progress import Progress as Bar

        bar = Bar(transient=True)
        task = bar.add_task("writing rows", total=args.rows)
        progress = lambda done: bar.update(task, completed=done)  # noqa: E731
        bar.start()
    common = {
        "seed": args.seed,
        "row_group_size": args.row_group_size,
        "progress": progress,
        "days": args.days,
        "end_date": args.end_date,
    }
    try:
        if args.kind == "ctr":
            from ..generate_ctr import generate_ctr

            out = generate_ctr(args.out, args.rows, files=args.files, **common)
        else:
            from ..generate import generate

            out = generate(args.out, args.rows, args.features, args.files, **common)
    finally:
        if not args.quiet:
            bar.stop()
    where = f" in {args.days} date= partitions" if args.days else ""
    if args.kind == "ctr":
        what, label = "13 count + 26 string columns", "label"
    else:
        what, label = f"{args.features} features", "y"
    print(
        f"wrote {args.rows:,} rows x {what} to {out}{where} "
        f"(label column '{label}': logloss train {out} --label {label} ...)",
        file=sys.stderr,
    )
    return EXIT_OK
