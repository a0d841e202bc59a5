"""The ``logloss`` command line: train, predict, evaluate, generate, report.

Every command calls the library's functions (``train``: the run of :mod:`logloss.training`);
nothing here does math.
Each command is one module of this package with ``add_parser(sub)`` (its options),
``check_paths(args)`` (its output paths, checked with the standard library only) and
``run(args)`` (the work, importing Dask and the rest only then, so ``logloss --help`` is fast).

Errors in the input print one line naming the culprit (file, column, value) and exit with
status 2; ``--debug`` shows the traceback instead. Options and output paths are checked
before any data is read or a cluster started (see :mod:`logloss.storage.rules` for what an output
path may replace).

Exit statuses: 0 success; 2 bad input, usage or an output path that may not be written;
3 ``train`` did not converge (no model written; ``--allow-unconverged`` writes it and exits
0); 4 the connection to the scheduler was lost mid-run (one line naming its address; nothing
written: run it again); 130 interrupted (Ctrl-C); 1 an unexpected internal error (one line;
``--debug`` for the traceback).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from ..version import __version__
from . import evaluate, export, generate, predict, promote, report, summary, train, versions
from .display import Progress
from .status import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    EXIT_SCHEDULER_LOST,
)
from .train import train_settings

__all__ = [
    "COMMANDS",
    "EXIT_BAD_INPUT",
    "EXIT_INTERNAL_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_CONVERGED",
    "EXIT_OK",
    "EXIT_SCHEDULER_LOST",
    "Progress",
    "build_parser",
    "main",
    "train_settings",
]

#: The command modules, in the order ``logloss --help`` lists them.
_MODULES = {
    "train": train,
    "predict": predict,
    "evaluate": evaluate,
    "summary": summary,
    "export": export,
    "generate": generate,
    "report": report,
    "versions": versions,
    "promote": promote,
}

#: Command name -> the function that runs it (returns the exit status).
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    name: module.run for name, module in _MODULES.items()
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="logloss",
        description="Distributed batch training of binary logistic regression on Dask, "
        "from Parquet data.",
    )
    parser.add_argument("--version", action="version", version=f"logloss {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _MODULES.values():
        module.add_parser(sub)
    return parser


def _fail(message: str) -> NoReturn:
    print(f"logloss: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


def _interrupted() -> None:
    """One line on Ctrl-C; the cluster was stopped on the way out (its noise silenced)."""
    for name in ("distributed", "asyncio", "tornado", "bokeh"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    print("logloss: interrupted", file=sys.stderr, flush=True)


def _precheck(args: argparse.Namespace) -> None:
    """Output paths and the scheduler address, with the standard library only: a wrong
    path or an address nothing listens at fails before the heavy imports."""
    from ..address import UnreachableSchedulerError, probe_scheduler
    from ..storage import OutputPathError

    try:
        _MODULES[args.command].check_paths(args)
        scheduler = getattr(args, "scheduler", None) or os.environ.get("DASK_SCHEDULER_ADDRESS")
        if "scheduler" in args and scheduler:
            probe_scheduler(scheduler)
    except (OutputPathError, UnreachableSchedulerError) as exc:
        if args.debug:
            raise
        _fail(str(exc))


def _user_errors() -> tuple[type[BaseException], ...]:
    """The project's own error types (and missing/existing files): bad input, status 2."""
    from ..checkpoint import CheckpointError
    from ..cluster import SchedulerUnreachableError
    from ..data import DataError
    from ..diskblocks import DiskSpaceError
    from ..storage import ModelFileError, OutputPathError, StoreError

    return (
        StoreError,
        DataError,
        DiskSpaceError,
        ModelFileError,
        CheckpointError,
        OutputPathError,
        SchedulerUnreachableError,
        FileExistsError,
        FileNotFoundError,
    )


def _run(args: argparse.Namespace) -> int:
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        _interrupted()
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        from ..cluster import SchedulerLostError

        if isinstance(exc, SchedulerLostError):
            from ..checkpoint import CHECKPOINT_FILE

            checkpoint = getattr(args, "checkpoint", None)
            resume = (
                f" (the checkpoint in {checkpoint} resumes the fit: run the command again)"
                if checkpoint and os.path.exists(os.path.join(checkpoint, CHECKPOINT_FILE))
                else ""
            )
            print(f"logloss: error: {exc}{resume}", file=sys.stderr)
            return EXIT_SCHEDULER_LOST
        if isinstance(exc, _user_errors()):
            _fail(str(exc))
        if isinstance(exc, ValueError | OSError | TimeoutError):  # input or environment
            name = type(exc).__name__
            _fail(str(exc) if str(exc).startswith(name) else f"{name}: {exc}")
        # a bug, not the user's input
        first = (str(exc).splitlines() or [""])[0]
        print(
            f"logloss: internal error: {type(exc).__name__}: {first} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # dask.array registers pydata/sparse's array type when that package is installed, and
    # importing it imports numba (0.4 s of every command); no command gets such arrays.
    sys.modules.setdefault("sparse", None)  # type: ignore[arg-type]
    if not args.debug:
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        os.environ.setdefault("DASK_DISTRIBUTED__LOGGING__DISTRIBUTED", "critical")
    _precheck(args)
    return _run(args)
