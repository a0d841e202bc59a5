"""The Dask cluster a run uses: connect to a scheduler, or start and stop a local cluster.

Conventions
-----------
- :func:`dask_client` is the one place a Client or a LocalCluster is made; the CLI and the
  flows enter it around the steps of :mod:`logloss.pipeline`.
- A Ctrl-C stops the local cluster in order (its workers ignore SIGINT); should stopping
  hang, a watchdog ends the process with status 130. Logger levels and the SIGINT handler
  changed on the way are restored when the block ends: nothing outlives the call.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .address import UnreachableSchedulerError, probe_scheduler

__all__ = ["SchedulerUnreachableError", "dask_client", "quiet_shutdown"]


def _machine_memory() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:  # pragma: no cover - psutil comes with distributed
        return 4 * 2**30


#: The error :func:`dask_client` raises for a scheduler address nothing listens at (one class
#: with :class:`logloss.address.UnreachableSchedulerError`, which the CLI probes with first).
SchedulerUnreachableError = UnreachableSchedulerError


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


@contextmanager
def dask_client(
    scheduler: str | None = None,
    *,
    workers: int | None = None,
    threads_per_worker: int = 1,
    memory_limit: str | int | None = None,
    quiet: bool = True,
) -> Iterator[Any]:
    """A distributed Client for the duration of the block (and the default client).

    ``scheduler`` (else env ``DASK_SCHEDULER_ADDRESS``) connects to a running cluster;
    ``tls://`` addresses use the TLS settings of Dask's config (env
    ``DASK_DISTRIBUTED__COMM__TLS__*``). An address that refuses connections fails within
    a few seconds (:class:`SchedulerUnreachableError`); one that does not answer is waited
    for up to 30 s. Without an address a LocalCluster of ``workers`` processes (default:
    one per core) is started on 127.0.0.1 and stopped afterwards; its workers ignore SIGINT,
    so a Ctrl-C interrupts only this process, which then stops them. With ``quiet`` the
    "distributed" logger is set to WARNING for the block and restored to its level after.
    """
    from distributed import Client

    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if address:
        probe_scheduler(address)
        with Client(address, timeout="30s") as client:
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


@contextmanager
def _local_cluster(n: int, threads_per_worker: int, limit: int | str, quiet: bool) -> Iterator[Any]:
    """A Client on a LocalCluster of ``n`` worker processes on 127.0.0.1, stopped at the end."""
    from distributed import Client, LocalCluster

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
