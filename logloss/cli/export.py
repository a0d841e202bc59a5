"""``logloss export``: a saved model as an ONNX file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .parser import add_common, add_model
from .status import EXIT_BAD_INPUT, EXIT_OK

HELP = "write a saved model as an ONNX file (needs pip install 'logloss[onnx]')"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    e: argparse.ArgumentParser = sub.add_parser(
        "export",
        help=HELP,
        description="Write a saved model as an ONNX graph, outputs 'label' and "
        "'probabilities'. A numeric-only model takes input 'X' (float64 features in the "
        "model's order); a model with categorical, hashed or imputed columns takes one input "
        "per column, named as the column, of shape [N, 1]: float64 for a numeric column (NaN "
        "for missing), int64 for an integer categorical column, else strings (a null as "
        "'(null)'; a hashed column's values as strings). Crosses are computed in the graph; "
        "a model with a list column (a bag of tokens) is refused. In Python, "
        "model.to_sklearn() gives the fitted scikit-learn estimator for skops, skl2onnx or "
        "mlflow.sklearn.",
    )
    add_model(e)
    e.add_argument("out", metavar="OUT", help="the ONNX file to write (must not exist)")
    e.add_argument("--format", choices=["onnx"], default="onnx", help="the format (onnx)")
    add_common(e)
    return e


def check_paths(args: argparse.Namespace) -> None:
    from ..storage import OutputPathError, StoreError, is_url, split_url

    if args.out.startswith("file://"):
        args.out = args.out[len("file://") :]
    if is_url(args.out):  # one object, written in one put
        try:
            fs, path = split_url(args.out)
            exists = fs.exists(path)
        except StoreError as exc:
            raise OutputPathError(f"--out {args.out!r} cannot be used: {exc.reason}") from None
        except Exception as exc:  # credentials, network: the store's own message
            raise OutputPathError(
                f"--out {args.out!r} cannot be reached: {type(exc).__name__}: {exc}"
            ) from None
        if exists:
            raise OutputPathError(f"--out {args.out!r} exists; export writes a new file only")
        return
    if os.path.lexists(args.out):
        raise OutputPathError(f"--out {args.out!r} exists; export writes a new file only")
    parent = Path(args.out).resolve().parent
    if not parent.is_dir():
        raise OutputPathError(f"the directory of {args.out!r} does not exist")


def run(args: argparse.Namespace) -> int:
    from ..export import to_onnx
    from ..publishing import load_published
    from ..storage import atomic_write_bytes, is_url, write_bytes_url

    model = load_published(args.model)
    try:
        data = to_onnx(model)
    except (ImportError, ValueError) as exc:  # skl2onnx missing; a model ONNX cannot hold
        print(f"logloss: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if is_url(args.out):
        write_bytes_url(args.out, data)
    else:
        atomic_write_bytes(Path(args.out), data)
    print(f"wrote {args.out} ({len(data):,} bytes)", file=sys.stderr)
    return EXIT_OK
