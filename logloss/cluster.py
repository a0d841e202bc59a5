"""Where a run's tasks run: this process, a scheduler, or a local cluster it starts and stops.

Conventions
-----------
- :func:`dask_client` is the one place a Client or a LocalCluster is made; the CLI and the
  flows enter it around the steps of the training run (:mod:`logloss.training`).
- The embedded default: with no scheduler address and data that fits in memory, the run
  stays in this process on Dask's threaded scheduler (the engine is the same; NumPy
  releases the GIL in the block passes). Worker processes are started only for data that
  does not fit, or when asked for (``workers``, ``processes``).
- A Ctrl-C stops the local cluster in order (its workers ignore SIGINT); should stopping
  hang, a watchdog ends the process with status 130. Logger levels and the SIGINT handler
  changed on the way are restored when the block ends: nothing outlives the call.
- A scheduler lost while the block runs (killed, its host gone) ends the block with
  :class:`SchedulerLostError`, one line naming the address, whatever Dask raised (a
  cancelled future, a closed comm); the client's reconnection traceback is not logged when
  ``quiet``. Nothing after the lost computation ran: no output was written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from .address import UnreachableSchedulerError, probe_scheduler

__all__ = [
    "IN_PROCESS_FRACTION",
    "SchedulerLostError",
    "SchedulerUnreachableError",
    "dask_client",
    "describe",
    "quiet_shutdown",
    "in_process_budget",
    "real_mismatches",
    "runs_in_process",
]


def _machine_memory() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:  # pragma: no cover - psutil comes with distributed
        return 4 * 2**30


#: The error :func:`dask_client` raises for a scheduler address nothing listens at (one class
#: with :class:`logloss.address.UnreachableSchedulerError`, which the CLI probes with first).
SchedulerUnreachableError = UnreachableSchedulerError


class SchedulerLostError(ConnectionError):
    """The connection to the scheduler was lost while a run used it (the scheduler process
    died, or its host went away): transient, the run may be retried (from its checkpoint).

    ``address`` is the scheduler's address; the message is one line."""

    def __init__(self, address: str) -> None:
        super().__init__(f"lost the connection to the scheduler at {address}; nothing was written")
        self.address = address

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.address,))


def _scheduler_lost(client: Any, exc: BaseException) -> bool:
    """Whether ``exc``, raised while ``client`` was in use, means its scheduler is gone."""
    from distributed.client import FutureCancelledError
    from distributed.comm import CommClosedError

    if isinstance(exc, FutureCancelledError):
        reason = getattr(exc, "reason", None) or str(exc)
        if "scheduler-connection-lost" in reason:
            return True
    if isinstance(exc, CommClosedError):
        return True
    transient = (FutureCancelledError, OSError, TimeoutError)
    return isinstance(exc, transient) and getattr(client, "status", "running") != "running"


@contextmanager
def _lost_scheduler_named(client: Any, address: str) -> Iterator[None]:
    """Turn what Dask raises when the scheduler goes away into :class:`SchedulerLostError`."""
    try:
        yield
    except SchedulerLostError:
        raise
    except Exception as exc:
        if _scheduler_lost(client, exc):
            raise SchedulerLostError(address) from exc
        raise


#: Worker preload (code text): the workers of a local cluster ignore SIGINT, so a Ctrl-C in a
#: terminal (sent to the whole process group) reaches only the client process, which then
#: stops the cluster in order.
_IGNORE_SIGINT = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)  # logloss\n"


def quiet_shutdown() -> Callable[[], None]:
    """Silence what an interrupted run's shutdown reports (cancelled tasks, lost comms).

    Also ignores further SIGINT (a second Ctrl-C must not abort the cleanup). Returns a
    function that restores the loggers and the SIGINT handler.
    """
    names = ("distributed", "asyncio", "tornado", "bokeh")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None

    def restore() -> None:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        if main:
            signal.signal(signal.SIGINT, previous)

    return restore


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while worker processes are spawned: they inherit the disposition."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


#: Data up to this fraction of the machine's available memory is trained inside the calling
#: process on Dask's threaded scheduler; larger data gets a LocalCluster of worker processes.
IN_PROCESS_FRACTION = 0.5


def available_memory() -> int:
    """Bytes of memory this machine has available now (psutil's ``available``)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with distributed
        return 2 * 2**30


def starting_line(scheduler: str | None, workers: int | None) -> str:
    """What a run that does not stay in this process says before it connects or starts."""
    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    n = workers or max(1, os.cpu_count() or 1)
    if address:
        return f"connecting to the scheduler at {address}"
    return f"starting a local cluster of {n} worker process(es)"


def runs_in_process(
    scheduler: str | None = None,
    *,
    workers: int | None = None,
    processes: bool = False,
    data_bytes: int | None = None,
) -> bool:
    """Whether :func:`dask_client` with these arguments runs in this process (threads).

    It does when no scheduler address is given (nor env ``DASK_SCHEDULER_ADDRESS``), no
    worker processes are asked for (``workers``/``processes``), and the data's size is known
    and at most :data:`IN_PROCESS_FRACTION` of the available memory.
    """
    if scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or workers or processes:
        return False
    return data_bytes is not None and data_bytes <= in_process_budget()


def in_process_budget() -> float:
    """Bytes of data this process takes on: :data:`IN_PROCESS_FRACTION` of the available
    memory (also what the engine persists without a cluster, streaming the rest)."""
    return IN_PROCESS_FRACTION * available_memory()


@contextmanager
def _in_process() -> Iterator[None]:
    """Dask's threaded scheduler in this process, one thread per core, and one BLAS thread
    per Dask thread (each block's products are single-threaded, the blocks run in
    parallel); the scheduler setting and BLAS limits are restored afterwards."""
    import dask

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    limits: Any = contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(limits=1, user_api="blas")
    except Exception:  # pragma: no cover - threadpoolctl missing or a BLAS it cannot drive
        pass
    # The scheduler as a function, not the name "threads": dask then does not import
    # distributed to look for a client (a fifth of a second).
    import dask.threaded

    with dask.config.set(scheduler=dask.threaded.get, num_workers=max(1, cores or 1)), limits:
        yield


@contextmanager
def dask_client(
    scheduler: str | None = None,
    *,
    workers: int | None = None,
    processes: bool = False,
    data_bytes: int | None = None,
    threads_per_worker: int = 1,
    memory_limit: str | int | None = None,
    quiet: bool = True,
) -> Iterator[Any]:
    """The Dask scheduler a run uses, for the duration of the block.

    Yields ``None`` when the run stays in this process (:func:`runs_in_process`: no address,
    no ``workers``/``processes`` asked for, and ``data_bytes`` of data fits in memory): Dask's
    threaded scheduler then runs every task here, without worker processes to start, data
    to serialise, or warm-up to pay. Otherwise yields a distributed Client (also the default
    client for the block):

    ``scheduler`` (else env ``DASK_SCHEDULER_ADDRESS``) connects to a running cluster;
    ``tls://`` addresses use the TLS settings of Dask's config (env
    ``DASK_DISTRIBUTED__COMM__TLS__*``). An address that refuses connections fails within
    a few seconds (:class:`SchedulerUnreachableError`); one that does not answer is waited
    for up to 30 s. Without an address a LocalCluster of ``workers`` processes (default:
    one per core) is started on 127.0.0.1 and stopped afterwards; its workers ignore SIGINT,
    so a Ctrl-C interrupts only this process, which then stops them. With ``quiet`` the
    "distributed" logger is set to WARNING for the block and restored to its level after.
    """
    if runs_in_process(scheduler, workers=workers, processes=processes, data_bytes=data_bytes):
        with _in_process():
            yield None
        return

    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if address:
        probe_scheduler(address)
        import distributed  # noqa: F401 - its import sets its loggers' levels: first

        # the client logs a traceback when it fails to reconnect to a lost scheduler
        quiet_client = logging.CRITICAL + 1 if quiet else None
        with (
            _logger_level("distributed.client", quiet_client),
            _connect(address) as client,
            _lost_scheduler_named(client, address),
        ):
            yield client
        return
    n = workers or max(1, os.cpu_count() or 1)
    limit = memory_limit or int(0.8 * _machine_memory() / n)
    with (
        _logger_level("distributed", logging.WARNING if quiet else None),
        _local_cluster(n, threads_per_worker, limit, quiet) as client,
    ):
        yield client


@contextmanager
def _logger_level(name: str, level: int | None) -> Iterator[None]:
    """Set logger ``name`` to ``level`` (None: leave it) for the block, then restore it."""
    logger = logging.getLogger(name)
    previous = logger.level
    if level is not None:
        logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


_NO_MAIN_GUARD = (
    "starting the local cluster's worker processes at this script's top level cannot work: "
    "they import the main script again and would each start a cluster; put the code that "
    'runs it under `if __name__ == "__main__":`'
)


def _main_is_a_script() -> bool:
    """Whether the main module is a file that worker processes re-import (spawn)."""
    return bool(getattr(sys.modules.get("__main__"), "__file__", None))


def _is_main_guard(node: Any) -> bool:
    """Whether an ``if`` statement's test is ``__name__ == "__main__"`` (either order)."""
    import ast

    test = node.test
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    sides = [test.left, *test.comparators]
    names = {s.id for s in sides if isinstance(s, ast.Name)}
    texts = {s.value for s in sides if isinstance(s, ast.Constant)}
    return isinstance(test.ops[0], ast.Eq) and names == {"__name__"} and texts == {"__main__"}


def _unguarded_main_line() -> int | None:
    """The line of the main script that is starting a cluster outside an
    ``if __name__ == "__main__":`` block, or None (guarded, not a script, or not at the
    script's top level). Worker processes started with "spawn" or "forkserver" import the
    main script again, so such a line would start clusters in every worker."""
    import ast

    import dask

    if dask.config.get("distributed.worker.multiprocessing-method", "spawn") == "fork":
        return None
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    # multiprocessing does not import a package's __main__ module again (``python -m pkg``,
    # or a file named __main__.py): nothing to refuse there
    spec_name = getattr(getattr(main, "__spec__", None), "name", None) or ""
    if spec_name == "__main__" or spec_name.endswith(".__main__"):
        return None
    if main_file is not None and os.path.basename(main_file) == "__main__.py":
        return None
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        code = frame.f_code
        if (
            code.co_name == "<module>"
            and frame.f_globals.get("__name__") == "__main__"
            and code.co_filename == main_file
        ):
            break
        frame = frame.f_back
    if frame is None or main_file is None:
        return None
    line = frame.f_lineno
    try:
        with open(main_file, encoding="utf-8") as f:
            tree = ast.parse(f.read(), main_file)
    except (OSError, SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.If)
            and _is_main_guard(node)
            and node.lineno <= line <= (node.end_lineno or node.lineno)
        ):
            return None
    return line


def _refuse_in_a_bootstrapping_child() -> None:
    """In a process that multiprocessing started and that is still importing the parent's
    main script (no ``if __name__ == "__main__":`` guard there), stop with one line instead
    of starting processes of its own (which multiprocessing refuses with a long traceback)."""
    import multiprocessing

    # multiprocessing marks a spawned process "inheriting" while it imports the main script;
    # the parent then reports the failure (below), so this process ends with one line
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        print(f"logloss: error: {_NO_MAIN_GUARD}", file=sys.stderr, flush=True)
        os._exit(1)


@contextmanager
def _local_cluster(n: int, threads_per_worker: int, limit: int | str, quiet: bool) -> Iterator[Any]:
    """A Client on a LocalCluster of ``n`` worker processes on 127.0.0.1, stopped at the end."""
    from distributed import Client, LocalCluster

    _refuse_in_a_bootstrapping_child()
    if _unguarded_main_line() is not None:
        raise RuntimeError(_NO_MAIN_GUARD)
    try:
        with _sigint_ignored():
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=threads_per_worker,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                memory_limit=limit,
                silence_logs=logging.CRITICAL if quiet else logging.WARNING,
                preload=[_IGNORE_SIGINT],
            )
    except Exception as exc:
        if "failed to start" in str(exc) and _main_is_a_script():
            raise RuntimeError(_NO_MAIN_GUARD) from None
        raise
    restore: Callable[[], None] | None = None
    watchdog: threading.Timer | None = None
    try:
        with Client(cluster) as client:
            try:
                yield client
            except KeyboardInterrupt:
                restore = quiet_shutdown()
                watchdog = _exit_if_stuck(after=20.0)
                raise
    finally:
        try:
            cluster.close()
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if restore is not None:
                restore()


def _exit_if_stuck(after: float) -> threading.Timer:
    """After a Ctrl-C the process must end: should stopping the local cluster hang for
    ``after`` seconds, kill its worker processes and exit with status 130.

    Returns the started timer; the caller cancels it once the cluster has stopped.
    """

    def force() -> None:
        import psutil

        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()
        print("logloss: interrupted", file=sys.stderr, flush=True)
        os._exit(130)

    timer = threading.Timer(after, force)
    timer.daemon = True
    timer.start()
    return timer


def describe(client: Any | None) -> str:
    """Where a run's tasks ran: "this process (N threads)" or "N workers (ADDRESS)"."""
    if client is None:
        import dask

        return f"this process ({dask.config.get('num_workers', None) or os.cpu_count()} threads)"
    try:
        info = client.scheduler_info()
        n = len(info.get("workers", {}))
        return f"{n} worker{'s' if n != 1 else ''} ({info.get('address', '?')})"
    except Exception:  # pragma: no cover - the scheduler went away
        return "a Dask cluster"


@contextmanager
def _connect(address: str) -> Iterator[Any]:
    """A Client of the scheduler at ``address``. Dask's version check prints a table for any
    difference, including a Python patch level (3.11.7 here, 3.11.2 in an image), which
    does not matter; that one is dropped, and a real mismatch is one line on stderr."""
    from distributed import Client
    from distributed.versions import VersionMismatchWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VersionMismatchWarning)
        client = Client(address, timeout="30s")
    with client:
        try:
            found = real_mismatches(dict(client.get_versions(check=False)))  # type: ignore[arg-type]
        except Exception:  # pragma: no cover - the check is a courtesy
            found = []
        if found:
            print(
                "logloss: warning: versions differ between this process and the cluster: "
                + "; ".join(found),
                file=sys.stderr,
            )
        yield client


def real_mismatches(versions: dict[str, Any]) -> list[str]:
    """The packages whose versions differ between the client, the scheduler and the
    workers (``Client.get_versions()``), as "pkg: here X, scheduler Y, workers Z"; Python
    counts only up to its minor version (3.11.7 and 3.11.2 agree)."""

    def norm(pkg: str, v: Any) -> Any:
        if pkg == "python" and isinstance(v, str):
            return ".".join(v.split(".")[:2])
        return v

    def packages(entry: Any) -> dict[str, Any]:
        return dict((entry or {}).get("packages") or {})

    here = packages(versions.get("client"))
    scheduler = packages(versions.get("scheduler"))
    workers = [packages(w) for w in (versions.get("workers") or {}).values()]
    out = []
    for pkg in sorted(set(here) | set(scheduler) | {k for w in workers for k in w}):
        if pkg in ("lz4",):
            continue  # optional compression: absent on one side is fine
        seen = {norm(pkg, here.get(pkg)), norm(pkg, scheduler.get(pkg))}
        seen |= {norm(pkg, w.get(pkg)) for w in workers}
        if len(seen) > 1:
            shown_workers = sorted({str(w.get(pkg)) for w in workers})
            out.append(
                f"{pkg}: here {here.get(pkg)}, scheduler {scheduler.get(pkg)}, "
                f"workers {', '.join(shown_workers) or '-'}"
            )
    return out
