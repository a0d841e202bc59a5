"""How much data the workers (or this process) may hold, and which client runs the work.

Shared by the engine (persist, disk or stream the blocks) and the data layer (whether
persisting a dataset's arrays fits); Dask only, no NumPy math.
"""

from __future__ import annotations

from typing import Any

import dask
import dask.local
import dask.threaded

__all__ = ["default_client", "memory_budget"]

_LOCAL_SCHEDULERS = ("threads", "threading", "sync", "synchronous", "single-threaded")


def default_client() -> Any | None:
    """The current distributed Client, or None (then the threaded scheduler is used).

    None too inside ``dask.config.set(scheduler="threads")`` (or another local scheduler):
    a run told to stay in this process does so even when a Client exists.
    """
    scheduler = dask.config.get("scheduler", None)
    if scheduler in _LOCAL_SCHEDULERS or scheduler in (dask.threaded.get, dask.local.get_sync):
        return None
    try:
        from distributed import default_client as _dc

        return _dc()
    except (ImportError, ValueError):
        return None


#: What a worker process holds before any data: Python, NumPy, pyarrow, Dask, logloss.
WORKER_BASE_BYTES = 300 * 2**20


def memory_budget(client: Any | None, block_bytes: float = 0) -> float:
    """Bytes the data may take when persisted: the workers' headroom (or half the free RAM).

    A worker's headroom is what is left below 60% of its memory limit (Dask pauses a worker
    at 80% and restarts it at 95%) after what it already holds (at least
    :data:`WORKER_BASE_BYTES`, its imports) and room to read a ``block_bytes`` block (a
    read peaks at ~1.5x its block) on each of its threads. Dask config
    ``logloss.memory-budget`` (bytes, e.g. ``DASK_LOGLOSS__MEMORY_BUDGET=0``: every block of
    a fit on a cluster goes to the workers' disks) overrides it."""
    configured = dask.config.get("logloss.memory-budget", None)
    if configured is not None:
        return float(configured)
    if client is not None:
        try:
            workers = list(client.scheduler_info()["workers"].values())
        except Exception:  # pragma: no cover - scheduler unreachable
            workers = []
        limits = [w.get("memory_limit") or 0 for w in workers]
        if workers and all(limits):
            total = 0.0
            for w, limit in zip(workers, limits, strict=True):
                used = max(float((w.get("metrics") or {}).get("memory", 0)), WORKER_BASE_BYTES)
                reads = 1.5 * block_bytes * max(1, int(w.get("nthreads", 1)))
                total += max(0.0, 0.6 * limit - used - reads)
            return total
    # no cluster: the same budget as the one that keeps a run in this process
    from .cluster import in_process_budget

    return in_process_budget()
