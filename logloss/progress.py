"""Rows done while Dask computes blocks: for progress displays (no display here).

A ``report(rows_done)`` callback is called from the thread that waits for the work, as
blocks finish, whichever scheduler runs them: Dask's local schedulers (a scheduler callback
on each finished task) or a distributed client (its futures, polled).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any

import dask

RowsReport = Callable[[int], None]

__all__ = ["RowsReport", "compute_rows", "distributed_client", "local_rows", "wait_rows"]


def distributed_client() -> Any:
    """The distributed client Dask computes on now, or None (local schedulers)."""
    sched = dask.base.get_scheduler()
    client = getattr(sched, "__self__", None)
    if client is not None and type(client).__name__ == "Client":
        return client
    return None


@contextlib.contextmanager
def local_rows(rows_of: Mapping[Hashable, int], report: RowsReport | None) -> Iterator[None]:
    """While active, Dask's local schedulers report the rows of finished keys of ``rows_of``."""
    if report is None:
        yield
        return
    from dask.callbacks import Callback

    done = 0

    def posttask(key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        nonlocal done
        n = rows_of.get(key)
        if n is not None:
            done += n
            report(done)

    with Callback(posttask=posttask):
        yield


def wait_rows(
    futures: Sequence[Any],
    rows_of: Mapping[Hashable, int],
    report: RowsReport | None,
    *,
    poll: float = 0.25,
) -> None:
    """Wait for distributed ``futures``, reporting the rows of those finished."""
    if report is None:
        return
    pending = list(futures)
    done = 0
    while pending:
        still = []
        for f in pending:
            if f.done():
                done += rows_of.get(f.key, 0)
            else:
                still.append(f)
        if len(still) != len(pending):
            report(done)
        pending = still
        if pending:
            time.sleep(poll)


def compute_rows(tasks: Sequence[Any], rows: Sequence[int], report: RowsReport | None) -> list[Any]:
    """``dask.compute(*tasks)`` reporting ``rows[i]`` as task ``i`` finishes."""
    rows_of = {t.key: n for t, n in zip(tasks, rows, strict=True)}
    client = distributed_client() if report is not None else None
    if client is not None:
        futures = client.compute(list(tasks))
        wait_rows(futures, rows_of, report)
        return list(client.gather(futures))
    with local_rows(rows_of, report):
        return list(dask.compute(*tasks))
