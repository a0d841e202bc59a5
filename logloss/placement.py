"""How much data the workers (or this process) may hold, which client runs the work,
where a fit's blocks will live (:func:`plan_storage`), and which worker thread sums which
blocks in a pass (:func:`worker_groups`; BLAS threads per worker: :func:`limit_blas`).

Shared by the engine (persist, disk or stream the blocks) and the data layer (whether
persisting a dataset's arrays fits); Dask only, no NumPy math. Nothing here computes a
block: the engine persists them as the plan says.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dask
import dask.local
import dask.threaded

from .coded import array_nbytes, block_row_bytes

if TYPE_CHECKING:
    import dask.array as da

__all__ = [
    "StoragePlan",
    "default_client",
    "host_of",
    "limit_blas",
    "memory_budget",
    "plan_storage",
    "worker_groups",
    "worker_headroom",
]

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
    room = worker_headroom(client, block_bytes)
    if room is not None:
        return sum(free for _, _, free in room)
    # no cluster: the same budget as the one that keeps a run in this process
    from .cluster import in_process_budget

    return in_process_budget()


def worker_headroom(
    client: Any | None, block_bytes: float = 0
) -> list[tuple[str, int, float]] | None:
    """(address, threads, bytes) per worker of ``client``: what is left below 60 % of its
    memory limit after what it holds now (at least :data:`WORKER_BASE_BYTES`) and a
    ``block_bytes`` read (~1.5x its block) on each thread. None without a client, or when
    a worker has no memory limit (or the scheduler cannot be asked)."""
    if client is None:
        return None
    try:
        workers = client.scheduler_info()["workers"]
    except Exception:  # pragma: no cover - scheduler unreachable
        return None
    limits = [w.get("memory_limit") or 0 for w in workers.values()]
    if not workers or not all(limits):
        return None
    out = []
    for (addr, w), limit in zip(workers.items(), limits, strict=True):
        used = max(float((w.get("metrics") or {}).get("memory", 0)), WORKER_BASE_BYTES)
        threads = max(1, int(w.get("nthreads", 1)))
        out.append((addr, threads, max(0.0, 0.6 * limit - used - 1.5 * block_bytes * threads)))
    return out


@dataclass(frozen=True)
class StoragePlan:
    """Where a fit's blocks will live, decided before any is computed.

    ``storage``: "persist", "disk" or "stream" ("auto", and "disk" without a cluster,
    resolved); ``per_worker``: one persisted block object per row block on the distributed
    client (a pass is then one task per worker thread over the blocks it holds);
    ``on_disk``: per block, whether it goes to its worker's disk rather than its memory
    (empty unless ``per_worker``); ``row_bytes``: one row of X, y and the weight;
    ``token``: names the blocks' keys and their files.
    """

    storage: str
    per_worker: bool
    on_disk: tuple[bool, ...]
    row_bytes: int
    token: str

    def bytes_on_disk(self, rows: Sequence[float]) -> int:
        """Bytes of the blocks that go to disk, given every block's row count."""
        return sum(int(r) * self.row_bytes for r, d in zip(rows, self.on_disk, strict=False) if d)


def plan_storage(
    X: da.Array,
    *,
    weighted: bool,
    storage: str,
    memory_bytes: float | None,
    client: Any | None,
) -> StoragePlan:
    """The :class:`StoragePlan` for X (and y, and weights when ``weighted``): persist when X
    fits in ``memory_bytes`` (default :func:`memory_budget`), else the workers' disks on a
    cluster (the blocks beyond the budget, in block order), else stream from the source."""
    distributed = client is not None and not getattr(client, "asynchronous", False)
    x_row = block_row_bytes(X)
    largest = max(X.chunks[0], default=0) * x_row
    budget = memory_bytes if memory_bytes is not None else memory_budget(client, largest)
    # blocks this process already holds (a run persists its dataset first) cost nothing more
    # to keep, though they shrank the free memory the budget is half of
    held = client is None and memory_bytes is None and _held_here(X)
    fits = held or array_nbytes(X) <= budget
    storage = _resolve(storage, fits=fits, distributed=distributed)
    per_worker = distributed and storage in ("persist", "disk")
    row_bytes = int(x_row + 8 * (2 if weighted else 1))
    sizes = [int(c) * row_bytes for c in X.chunks[0]] if per_worker else []
    on_disk = _disk_plan(sizes, budget) if storage == "disk" else [False] * len(sizes)
    return StoragePlan(storage, per_worker, tuple(on_disk), row_bytes, uuid.uuid4().hex[:12])


def _held_here(X: da.Array) -> bool:
    """Whether X's blocks are computed and held in this process (persisted by the threaded
    scheduler): its graph is one value per block and no task."""
    from dask.core import istask

    graph = X.__dask_graph__()
    return len(graph) == X.npartitions and not any(istask(v) for v in graph.values())


def _resolve(storage: str, *, fits: bool, distributed: bool) -> str:
    """The storage that "auto" (persist what fits, else disk) and "disk" mean here: disk
    blocks live in workers' local directories, so without a cluster they are streamed."""
    if storage == "auto":
        storage = "persist" if fits else "disk"
    return "stream" if storage == "disk" and not distributed else storage


def _disk_plan(sizes: Sequence[int], budget: float) -> list[bool]:
    """Which blocks go to disk: in block order, blocks stay in memory while their running
    total fits in ``budget``; the rest (and every block after the first that does not fit)
    are written to disk."""
    out: list[bool] = []
    used = 0
    for size in sizes:
        fits = used + size <= budget and not any(out)
        used += size if fits else 0
        out.append(not fits)
    return out


def limit_blas(host_threads: int | None) -> None:
    """Cap BLAS threads in this worker process: its host's cores (counted here, on the
    worker) shared by the ``host_threads`` worker threads on that host. Done once per
    worker process and value (remembered on the Worker object, not in a module global)."""
    if host_threads is None:
        return
    try:
        from distributed import get_worker

        worker: Any = get_worker()
    except (ImportError, ValueError):  # not inside a distributed worker
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, (cores or 1) // max(host_threads, 1))
    if getattr(worker, "_logloss_blas_threads", None) == threads:
        return
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")
    except Exception:  # pragma: no cover - threadpoolctl missing or a BLAS it cannot drive
        pass
    worker._logloss_blas_threads = threads


def host_of(address: str) -> str:
    return address.split("://")[-1].rsplit(":", 1)[0]


def _split(items: list[int], sizes: Sequence[int], groups: int) -> list[list[int]]:
    """Split block indices (in order) into at most ``groups`` runs of about equal rows."""
    groups = max(1, min(groups, len(items)))
    if groups == 1:
        return [items]
    total = sum(sizes[i] for i in items)
    out: list[list[int]] = [[] for _ in range(groups)]
    acc = 0
    for i in items:
        g = min(groups - 1, int(acc * groups / total)) if total else 0
        out[g].append(i)
        acc += sizes[i]
    return [g for g in out if g]


def worker_groups(
    keys: Sequence[Any],
    who_has: Mapping[Any, Sequence[str]],
    workers: Mapping[str, Mapping[str, Any]],
    rows: Sequence[int],
) -> list[tuple[str, list[int]]]:
    """(worker address, block indices) per task of a pass, in block order: each block with
    the first worker holding it (``who_has``: key -> addresses; "" when none does), each
    worker's blocks split into one run of about equal rows per thread of it (``workers``:
    the scheduler's worker info)."""
    by_worker: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        holders = sorted(who_has.get(key, ()))
        by_worker.setdefault(holders[0] if holders else "", []).append(i)
    groups: list[tuple[str, list[int]]] = []
    for addr, items in by_worker.items():
        nthreads = int(workers.get(addr, {}).get("nthreads", 1))
        groups.extend((addr, g) for g in _split(items, rows, nthreads))
    groups.sort(key=lambda g: g[1][0])
    return groups
