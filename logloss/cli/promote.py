"""``logloss promote``: make a version the one ``latest`` names, in one atomic step (a
rollback too)."""

from __future__ import annotations

import argparse
from typing import Any

from .parser import add_common
from .status import EXIT_OK

HELP = "make VERSION the one 'latest' names (atomic; also the rollback)"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "promote",
        help=HELP,
        description="Move MODEL_DIR's 'latest' to VERSION in one atomic step (a local rename, "
        "one put on an object store): readers get that version from then on. It rolls back "
        "too. Refused, in one line with exit status 2: a version that is not there, is "
        "incomplete, or was rejected or refused (never served). 'logloss versions' lists "
        "them.",
    )
    p.add_argument("model", metavar="MODEL_DIR", help="the model's location (where 'latest' is)")
    p.add_argument("version", metavar="VERSION", help="a version's name, e.g. v000007-1a2b3c4d")
    add_common(p)
    return p


def check_paths(args: argparse.Namespace) -> None:
    """``promote`` writes only the pointer, checked by :func:`logloss.storage.promote`."""


def run(args: argparse.Namespace) -> int:
    from ..storage import promote

    promote(args.model, args.version)
    print(f"latest -> {args.version}")
    return EXIT_OK
