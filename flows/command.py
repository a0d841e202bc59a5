"""``python -m flows.train``: the training flow from a shell, with ``logloss train``'s options
(:mod:`logloss.training.options`, shared) and its manners: bad input is one line
``error: ...`` and exit status 2 (3: not converged; 5: rejected by the promotion gate),
Ctrl-C one line ``interrupted`` and exit status 130 within seconds, and no traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from logloss.remedies import ProblemError
from logloss.training.options import add_run_options, run_fields

EXIT_BAD_INPUT, EXIT_NOT_CONVERGED, EXIT_INTERRUPTED, EXIT_FAILED = 2, 3, 130, 1
EXIT_REJECTED = 5  # the promotion gate rejected the model: a version kept, latest unchanged
_STATUS = {"not converged": EXIT_NOT_CONVERGED, "rejected": EXIT_REJECTED}

#: Seconds the flow has to wind down after Ctrl-C before the process exits anyway (Prefect
#: would otherwise retry reporting the run's state to a temporary server already stopped).
INTERRUPT_GRACE = 5.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flows.train",
        description="Run the training flow once (defaults: the environment's settings, "
        "else the bundled sample data, standardized).",
    )
    parser.add_argument("--data", help="Parquet dataset (default: env LOGLOSS_DATA)")
    parser.add_argument("--label", help="label column (default: env LOGLOSS_LABEL)")
    parser.add_argument("--model-dir", help="(default: env LOGLOSS_MODEL_DIR)")
    parser.add_argument("--name", help="model name (default: env LOGLOSS_MODEL_NAME)")
    add_run_options(parser, report_default=True, validation_default=0.2)
    c = parser.add_argument_group("cluster")
    c.add_argument("--scheduler-address", help="(default: env DASK_SCHEDULER_ADDRESS)")
    c.add_argument("--workers", type=int, metavar="N", help="a local cluster of N workers")
    c.add_argument("--processes", action="store_true", help="a local cluster even for small data")
    return parser


def flow_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The flow's parameters of parsed options."""
    fields = run_fields(args)
    settings = fields.pop("settings")
    return {
        **settings,
        **fields,
        "data": args.data,
        "label": args.label,
        "model_dir": args.model_dir,
        "name": args.name,
        "scheduler_address": args.scheduler_address,
        "workers": args.workers,
        "processes": args.processes,
    }


def _fail(message: str, status: int = EXIT_BAD_INPUT) -> NoReturn:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


@contextmanager
def _quiet_tracebacks() -> Iterator[None]:
    """Prefect's console logs without tracebacks: the failure is shown as one line here."""

    def strip(record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return "Traceback (most recent call last)" not in record.getMessage()

    loggers = [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]
    handlers = {h for lg in loggers if lg.name.startswith("prefect") for h in lg.handlers}
    for h in handlers:
        h.addFilter(strip)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(strip)


#: True while ``python -m flows.train`` runs the flow: :func:`bail` then ends the process.
ACTIVE = False


def bail(status: int, message: str) -> None:
    """As the command (:data:`ACTIVE`): print ``message``, stop Prefect's temporary server
    and exit with ``status`` at once, without Prefect reporting the run's state to a server
    that is gone (it retries for minutes). Otherwise (a library call) return."""
    if not ACTIVE:
        return
    logging.disable(logging.CRITICAL)
    stream, sys.stderr = sys.stderr, open(os.devnull, "w")  # Prefect's threads: silenced
    time.sleep(0.1)  # (a write under way ends)
    start = "" if getattr(stream, "at_line_start", True) else "\n"
    stream.write(f"{start}{message}\n")  # not print(): with log_prints it is a log record
    stream.flush()
    try:
        from prefect.server.api.server import SubprocessASGIServer

        for server in list(SubprocessASGIServer._instances.values()):
            server.stop()
    finally:
        sys.stdout.flush()
        os._exit(status)


class _Tracked:
    """stderr, remembering whether its last write ended a line (Prefect's API log worker
    writes "All connection attempts failed" without one)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.at_line_start = True

    def write(self, text: str) -> int:
        if text:
            self.at_line_start = text.endswith("\n")
        return int(self._stream.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _on_interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C: unwind (the flow stops its cluster, then bails); exit 130 anyway if that
    takes longer than :data:`INTERRUPT_GRACE` seconds."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.disable(logging.CRITICAL)
    timer = threading.Timer(INTERRUPT_GRACE, bail, (EXIT_INTERRUPTED, "interrupted"))
    timer.daemon = True
    timer.start()
    raise KeyboardInterrupt


def main(
    argv: list[str] | None,
    train: Callable[..., Any],
    precheck: Callable[[dict[str, Any]], None] | None = None,
) -> str:
    """Parse ``argv``, ``precheck`` the flow's parameters (bad input: one line, before any
    Prefect run starts), then run ``train`` (the flow) with them."""
    global ACTIVE
    kwargs = flow_arguments(build_parser().parse_args(argv))
    if not os.environ.get("PREFECT_API_URL"):
        # the temporary server Prefect starts for this command writes its services' own log
        # to this terminal, Ctrl-C included (it gets the signal too: "Error flushing
        # events"); the flow's one-line errors say what the user needs
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    previous = signal.signal(signal.SIGINT, _on_interrupt)
    ACTIVE, stderr = True, sys.stderr
    sys.stderr = _Tracked(stderr)  # type: ignore[assignment]
    try:
        if precheck is not None:
            precheck(kwargs)
        with _quiet_tracebacks():
            return str(train(**kwargs))
    except KeyboardInterrupt:
        bail(EXIT_INTERRUPTED, "interrupted")
        raise SystemExit(EXIT_INTERRUPTED) from None
    except ProblemError as exc:
        _fail(exc.problem.render(), _STATUS.get(exc.problem.what, EXIT_BAD_INPUT))
    except (ValueError, OSError, TimeoutError) as exc:  # input or environment
        _fail(str(exc) or type(exc).__name__)
    except Exception as exc:  # a lost Prefect server, a bug: one line too
        first = (str(exc).splitlines() or [""])[0]
        _fail(f"{type(exc).__name__}: {first}", EXIT_FAILED)
    finally:
        ACTIVE, sys.stderr = False, stderr
        signal.signal(signal.SIGINT, previous)


def exit_with(run: Callable[[], str]) -> None:
    """Run ``run()`` as the process's main: print its result; exit with its status."""
    try:
        print(run())
    except KeyboardInterrupt:  # pragma: no cover - between the handler and main's except
        raise SystemExit(EXIT_INTERRUPTED) from None
