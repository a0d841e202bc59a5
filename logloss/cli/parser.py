"""Option types and option groups shared by the commands; helpers reading parsed options.

Nothing heavy is imported at module level: ``logloss --help`` builds every parser.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..training.options import columns, positive_float

# ------------------------------------------------------------------ option types
# (positive_float and columns: shared with the training run's options)
__all__ = [
    "add_cluster",
    "add_common",
    "add_data",
    "add_model",
    "cluster",
    "columns",
    "label_for",
    "model_and_data",
    "positive_float",
    "positive_int",
]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {value}")
    return value


# ------------------------------------------------------------------ option groups
def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show full tracebacks and Dask logs")


def add_cluster(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster")
    x = g.add_mutually_exclusive_group()
    x.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786 "
        "(default: env DASK_SCHEDULER_ADDRESS, else this process or a local cluster)",
    )
    x.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="start a local cluster of N worker processes",
    )
    x.add_argument(
        "--processes",
        action="store_true",
        help="start a local cluster with one worker process per core even when the data "
        "fits in memory (default: data that fits is processed in this process by Dask's "
        "threaded scheduler, larger data by a local cluster)",
    )


def add_data(p: argparse.ArgumentParser, *, label_required: bool) -> None:
    p.add_argument(
        "data",
        metavar="DATA",
        help="Parquet file, directory (hive partitions too), glob, or fsspec URL",
    )
    p.add_argument(
        "--label",
        required=label_required,
        metavar="COL",
        help="label column: any two distinct values"
        + ("" if label_required else " (default: the column the model was trained on)"),
    )


def add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model", metavar="MODEL_DIR", help="a saved model (or a directory with 'latest')"
    )


# ------------------------------------------------------------ reading the options
def cluster(args: argparse.Namespace, data_bytes: int | None, phase: Any = None) -> Any:
    """Where the command's tasks run (:func:`logloss.cluster.dask_client`): ``--scheduler``,
    a local cluster (``--workers``, ``--processes``, or data of ``data_bytes`` that does not
    fit in memory; None: unknown), else this process. ``phase(message)`` is told when a
    cluster is connected to or started (they take seconds)."""

    from ..cluster import dask_client, runs_in_process, starting_line

    if phase is not None and not runs_in_process(
        args.scheduler, workers=args.workers, processes=args.processes, data_bytes=data_bytes
    ):
        phase(starting_line(args.scheduler, args.workers))
    return dask_client(
        args.scheduler,
        workers=args.workers,
        processes=args.processes,
        data_bytes=data_bytes,
        quiet=not args.debug,
    )


def model_and_data(
    args: argparse.Namespace, model_dir: Any = None, *, block_bytes: int | None = None
) -> tuple[Any, Any]:
    """The saved model (``args.model``, or ``model_dir``) and ``args.data`` read as it was
    trained: its columns and encoding, ``--label`` (default: the model's label) and
    ``--weight`` when the command has it; blocks of at most ``block_bytes`` if given."""
    from ..data import read_parquet
    from ..evaluation import model_columns
    from ..publishing import load_published

    model = load_published(model_dir if model_dir is not None else args.model)
    sizing: dict[str, Any] = {} if block_bytes is None else {"block_bytes": block_bytes}
    ds = read_parquet(
        args.data,
        label_for(model, args.label),
        weight=getattr(args, "weight", None),
        invalid_hint=None,
        **sizing,
        **model_columns(model),
    )
    return model, ds


def label_for(model: Any, label: str | None) -> str:
    """``--label``, else the label column the model was trained on."""
    label = label or getattr(model, "training_", {}).get("label")
    if not label:
        raise ValueError("the model does not record its label column; pass --label COL")
    return str(label)
