"""The solver's Dask layer: persisted row blocks, per-block sums, tree reduction.

The only module that talks to Dask for a fit's blocks: persisting them where
:func:`~logloss.placement.plan_storage` says, and every pass the objective makes over them.
Below it all is NumPy.

Conventions
-----------
- ``X`` is a Dask array (n, p) with one column chunk; ``y01`` (labels mapped to 0/1,
  float64) and the optional ``sample_weight`` share X's row chunks.
- :class:`BlockData` persists the three arrays once (on the default distributed client if
  one exists, else in the local threaded scheduler's memory) and keeps the keys of their
  blocks. An evaluation submits one task per block, which calls a pure NumPy block
  function with the parameter vector passed inline, and a tree of additions; only the
  packed sums travel back.
- Persisted blocks are computed from their original graph (e.g. Parquet reads), so a
  worker that is lost takes only copies: Dask recomputes its blocks from the source.
"""

from __future__ import annotations

import itertools
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import dask
import dask.array as da
import dask.local
import dask.threaded
import numpy as np
from dask.delayed import Delayed, delayed
from numpy.typing import NDArray

from .coded import ArrowSpec, CodedMatrix, any_concat, any_sums, block_row_bytes, coded_sums
from .diskblocks import DiskBlock, remove_stale, remove_token, write_block
from .placement import (
    StoragePlan,
    default_client,
    host_of,
    limit_blas,
    plan_storage,
    worker_groups,
)

__all__ = ["BlockData", "default_client", "tree_reduce", "worker_groups"]

Array = NDArray[np.float64]

_counter = itertools.count()


def _add(*parts: Array) -> Array:
    total = parts[0].copy()
    for p in parts[1:]:
        total += p
    return total


def tree_reduce(
    parts: Sequence[Delayed],
    combine: Callable[..., Any] = _add,
    *,
    fan_in: int = 8,
    name: str = "logloss-reduce",
) -> Delayed:
    """Combine delayed parts in a tree of ``combine(*group)`` calls, ``fan_in`` at a time."""
    if not parts:
        raise ValueError("nothing to reduce: the array has no blocks")
    level = list(parts)
    depth = 0
    token = uuid.uuid4().hex[:12]
    while len(level) > 1:
        level = [
            delayed(combine, pure=True)(
                *level[i : i + fan_in], dask_key_name=f"{name}-{token}-{depth}-{i}"
            )
            for i in range(0, len(level), fan_in)
        ]
        depth += 1
    return level[0]


def _sums_task(
    X: NDArray[np.floating],
    y: NDArray[np.floating],
    s: NDArray[np.floating] | None,
    w: Array,
    hessian: bool,
    diag: bool | ArrowSpec = False,
    out: Array | None = None,
) -> Array:
    """A block's packed sums; with ``out``, added into ``out`` in place (a coded block's
    scatter-adds go straight into it: no packed vector per block) and ``out`` returned."""
    if out is not None and isinstance(X, CodedMatrix) and not hessian:
        return coded_sums(X, y, w, s, diag=diag, out=out)
    part = any_sums(X, y, w, s, hessian=hessian, diag=diag)
    if out is None:
        return part
    out += part
    return out


def _own_columns(a: NDArray[Any]) -> NDArray[Any]:
    if a.flags.f_contiguous and a.flags.aligned:
        return a
    return np.asfortranarray(a).copy(order="F")


class _Block:
    """One row block held on a worker: X, y (float64) and weights, aligned and co-located."""

    __slots__ = ("X", "y", "s")

    def __init__(
        self, X: NDArray[np.floating], y: NDArray[np.floating], s: NDArray[np.floating] | None
    ) -> None:
        self.X = self._own(X)
        self.y = self._own(np.asarray(y, dtype=np.float64))
        self.s = None if s is None else self._own(np.asarray(s, dtype=np.float64))

    @staticmethod
    def _own(a: Any) -> Any:
        if isinstance(a, CodedMatrix):  # codes and vals column-major (see logloss.coded)
            vals = None if a.vals is None else _own_columns(a.vals)
            dense, codes = _Block._own(a.dense), _own_columns(a.codes)
            return CodedMatrix(dense, codes, a.bounds, vals, a.bags)
        # Arrays that arrived over the network may sit at odd addresses: BLAS then runs a
        # slow path (10x here). Copy once, at persist time, into a fresh aligned array.
        if a.flags.c_contiguous and a.flags.aligned:
            return a
        return np.ascontiguousarray(a).copy()

    def __reduce__(self) -> Any:
        return (_Block, (self.X, self.y, self.s))


def _pack(
    X: NDArray[np.floating], y: NDArray[np.floating], s: NDArray[np.floating] | None
) -> _Block:
    return _Block(X, y, s)


def _register_sizeof() -> None:
    from dask.sizeof import sizeof

    @sizeof.register(_Block)
    def _sizeof_block(b: _Block) -> int:
        # The whole block: once its input keys are released the pack is the only holder of
        # these buffers, and Dask must see their size to spill them under memory pressure.
        extra = 0 if b.s is None else b.s.nbytes
        return int(b.X.nbytes + b.y.nbytes + extra) + 1024


_register_sizeof()


def _group_task(
    block_fn: Callable[..., Any],
    combine: Callable[..., Any],
    blocks: Sequence[_Block],
    host_threads: int | None,
    offsets: Sequence[int] | None,
    *args: Any,
) -> Any:
    """``combine`` of ``block_fn`` over the blocks a worker already holds (one task, no copies
    of the blocks); with ``offsets``, each block's first global row is passed after its
    weights. One partial is kept and accumulated block after block: the passes' sums are
    added into it in place (:func:`_sums_task`'s ``out``), other results combined two at a
    time (in place for the default addition): never one result per block held at once."""
    limit_blas(host_threads)
    acc: Any = None
    for i, b in enumerate(blocks):
        head = (b.X, b.y, b.s) if offsets is None else (b.X, b.y, b.s, offsets[i])
        if acc is not None and block_fn is _sums_task and offsets is None:
            w, hessian, *rest = args
            acc = _sums_task(b.X, b.y, b.s, w, hessian, rest[0] if rest else False, out=acc)
            continue
        part = block_fn(*head, *args)
        if acc is None:
            acc = part
        elif combine is _add and isinstance(acc, np.ndarray) and acc.flags.writeable:
            acc += part
        else:
            acc = combine(acc, part)
    return acc


def _disk_pack(
    X: NDArray[np.floating],
    y: NDArray[np.floating],
    s: NDArray[np.floating] | None,
    token: str,
    index: int,
    total: int,
) -> DiskBlock:
    """Write one block to this worker's local directory (see :mod:`logloss.diskblocks`);
    before a worker's first block of a fit, the directories of fits it no longer holds
    blocks of are removed (a fit cancelled, a client that died)."""
    from distributed import get_worker

    worker: Any = get_worker()
    root = worker.local_directory
    cleaned: set[str] = getattr(worker, "_logloss_disk_tokens", set())
    if token not in cleaned:
        remove_stale(root, lambda t: t == token or _holds_blocks_of(worker, t))
        cleaned.add(token)
        worker._logloss_disk_tokens = cleaned
    return write_block(root, token, index, X, y, s, total)


def _holds_blocks_of(worker: Any, token: str) -> bool:
    prefix = f"logloss-block-{token}-"
    return any(str(key).startswith(prefix) for key in list(worker.state.tasks))


def _remove_disk_blocks(token: str, dask_worker: Any = None) -> bool:
    return remove_token(dask_worker.local_directory, token) if dask_worker is not None else False


def _release_disk_blocks(client: Any, token: str) -> None:
    """Remove a fit's block files on every worker (when its BlockData is released)."""
    if getattr(client, "asynchronous", False) or getattr(client, "status", "") != "running":
        return
    try:
        client.run(_remove_disk_blocks, token)
    except Exception:  # pragma: no cover - workers gone: their directories went with them
        pass


def _subsample_block(block: _Block, step: int) -> _Block:
    s = None if block.s is None else block.s[::step].copy()
    X = block.X[::step]
    if isinstance(X, CodedMatrix):
        vals = None if X.vals is None else _own_columns(X.vals)
        dense, codes = np.ascontiguousarray(X.dense), _own_columns(X.codes)
        X = CodedMatrix(dense, codes, X.bounds, vals, X.bags)
    else:
        X = np.ascontiguousarray(X)
    return _Block(X, block.y[::step].copy(), s)


def _aligned(
    X: da.Array, y01: da.Array, sample_weight: da.Array | None
) -> tuple[da.Array, da.Array, da.Array | None]:
    """X with one column chunk and known row chunks; y and the weights on X's row chunks."""
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D; got shape {X.shape}")
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError("X must have known row chunk sizes; call compute_chunk_sizes()")
    if y01.chunks[0] != X.chunks[0]:
        y01 = y01.rechunk((X.chunks[0],))
    if sample_weight is not None and sample_weight.chunks[0] != X.chunks[0]:
        sample_weight = sample_weight.rechunk((X.chunks[0],))
    return X, y01, sample_weight


def _delayed_blocks(a: da.Array | None, n: int) -> list[Any]:
    return a.to_delayed(optimize_graph=False).ravel().tolist() if a is not None else [None] * n


def _persist_per_worker(
    client: Any, X: da.Array, y01: da.Array, sample_weight: da.Array | None, plan: StoragePlan
) -> list[Any]:
    """One persisted :class:`_Block` (or, where ``plan.on_disk``, a
    :class:`~logloss.diskblocks.DiskBlock` on its worker's disk) per row block: X, y and
    weights computed together from their graph (so a lost worker's blocks are recomputed
    from the source), co-located, aligned; the inputs themselves are not kept. Returns the
    blocks' futures in block order, once they exist (their placement is known then)."""
    xs = _delayed_blocks(X, 0)
    ys = _delayed_blocks(y01, 0)
    ss = _delayed_blocks(sample_weight, len(xs))
    token = plan.token
    on_disk_bytes = plan.bytes_on_disk(X.chunks[0])
    packs = [
        delayed(_disk_pack, pure=True)(
            x, y, s, token, i, on_disk_bytes, dask_key_name=f"logloss-block-{token}-{i}"
        )
        if disk
        else delayed(_pack, pure=True)(x, y, s, dask_key_name=f"logloss-block-{token}-{i}")
        for i, (x, y, s, disk) in enumerate(zip(xs, ys, ss, plan.on_disk, strict=True))
    ]
    blocks = list(client.compute(packs, optimize_graph=False))
    from distributed import wait

    wait(blocks)
    return blocks


def _persist_local(
    X: da.Array, y01: da.Array, sample_weight: da.Array | None
) -> tuple[da.Array, da.Array, da.Array | None]:
    """X, y and the weights persisted by the local (threaded) scheduler, in this process."""
    X, y01, *rest = dask.persist(X, y01, *([] if sample_weight is None else [sample_weight]))
    return X, y01, (rest[0] if rest else None)


_REGROUP_EVERY = 25

#: From this many features on, a pass's partials are combined on each worker first: the
#: client receives one vector per worker (at p = 2^24 one is 128 MB), not one per thread.
WORKER_COMBINE_FEATURES = 2**16


def _per_worker(
    client: Any,
    combine: Callable[..., Any],
    groups: Sequence[tuple[str, list[int]]],
    futures: Sequence[Any],
    tag: str,
) -> list[Any]:
    """The futures of one ``combine`` task per worker over its thread tasks' futures (run
    on that worker: its inputs are already there), in the order of the workers' first
    blocks; a worker with one task keeps it."""
    by_worker: dict[str, list[Any]] = {}
    for (addr, _), f in zip(groups, futures, strict=True):
        by_worker.setdefault(addr, []).append(f)
    out = []
    for j, (addr, fs) in enumerate(by_worker.items()):
        if len(fs) == 1:
            out.append(fs[0])
            continue
        where = {"workers": [addr], "allow_other_workers": True} if addr else {}
        out.append(client.submit(combine, *fs, key=f"{tag}-c{j}", pure=False, **where))
    return out


class BlockData:
    """Row blocks of X, y and weights persisted once, evaluated many times.

    ``storage``: ``"persist"`` keeps the blocks in (cluster) memory, Dask spilling them to
    disk under pressure; ``"disk"`` (distributed only) keeps as many blocks in memory as
    the budget allows (in block order) and writes the others once, decoded and validated,
    to their worker's local directory (:mod:`logloss.diskblocks`), read back in every
    later pass; ``"stream"`` recomputes them from their source graph (e.g. the Parquet
    reads) in every pass, in bounded memory; ``"auto"`` (default) persists when X fits in
    ``memory_bytes`` (default: the workers' headroom, what is left below 60% of each
    worker's memory limit after what it already holds; half the free RAM without a
    cluster), else uses the disk on a cluster and streams without one
    (:func:`~logloss.placement.plan_storage`).

    On a distributed client, a pass over persisted blocks is one task per worker thread:
    the blocks are grouped by the worker holding them (``Client.who_has``) and each task
    loops over its blocks, accumulating one packed vector in place. From
    :data:`WORKER_COMBINE_FEATURES` features on, each worker's task vectors are added on
    that worker, so the client receives one vector per worker (p × 8 bytes each; at
    p = 2^24, 128 MB); below, one per task. The client adds them in order; ``last_pass``
    counts them. Elsewhere (threaded scheduler, streaming) it is one task per block and a
    tree sum.
    """

    def __init__(
        self,
        X: da.Array,
        y01: da.Array,
        sample_weight: da.Array | None = None,
        *,
        storage: str = "auto",
        memory_bytes: float | None = None,
    ) -> None:
        if storage not in ("auto", "persist", "disk", "stream"):
            raise ValueError(
                f"storage must be 'auto', 'persist', 'disk' or 'stream'; got {storage!r}"
            )
        X, y01, sample_weight = _aligned(X, y01, sample_weight)
        client = default_client()
        plan = plan_storage(
            X,
            weighted=sample_weight is not None,
            storage=storage,
            memory_bytes=memory_bytes,
            client=client,
        )
        self.storage = plan.storage
        self._client: Any | None = None
        self._blocks: list[Any] | None = None  # futures of _Block / DiskBlock, in block order
        self._plan = plan
        self._pass_seconds: list[float] = []
        self._release: Callable[[], Any] | None = None
        if plan.per_worker:
            if any(plan.on_disk):  # attached first: a persist that fails removes its files
                self._release = weakref.finalize(self, _release_disk_blocks, client, plan.token)
            self._blocks = _persist_per_worker(client, X, y01, sample_weight, plan)
            self._client = client
        elif plan.storage == "persist":
            X, y01, sample_weight = _persist_local(X, y01, sample_weight)
        self.X: da.Array = X
        self.y: da.Array = y01
        self.sample_weight: da.Array | None = sample_weight
        self.n_rows = int(sum(self.X.chunks[0]))
        self.n_features = int(self.X.shape[1])
        self._rows = [int(c) for c in self.X.chunks[0]]
        self._xs = _delayed_blocks(self.X, 0)
        self._ys = _delayed_blocks(self.y, 0)
        self._ss: list[Delayed | None] = _delayed_blocks(self.sample_weight, len(self._xs))
        self.per_worker = self._blocks is not None
        self._groups: list[tuple[str, list[int]]] | None = None
        self._blas: dict[str, int] = {}
        self._passes = 0
        #: the last per-worker pass: its ``tasks``, the ``workers`` they were sent to, the
        #: ``partials`` the client received and their ``bytes`` (empty before one, and
        #: without a distributed client)
        self.last_pass: dict[str, int] = {}

    @property
    def client(self) -> Any | None:
        """The distributed client whose workers hold the blocks (None: in this process)."""
        return self._client

    @property
    def n_blocks(self) -> int:
        return len(self._blocks) if self._blocks is not None else len(self._xs)

    def _worker_groups(self) -> list[tuple[str, list[int]]]:
        """(worker address, block indices) per task: the blocks each worker thread will sum.

        Asked of the scheduler once every ``_REGROUP_EVERY`` passes, not in every pass: a
        stale grouping is still correct (tasks may run on other workers, and lost blocks
        are recomputed), only less local until the next refresh.
        """
        if self._groups is None or self._passes % _REGROUP_EVERY == 0:
            self._groups = self._ask_worker_groups()
            self._blas = self._host_threads()
        self._passes += 1
        return self._groups

    def _ask_worker_groups(self) -> list[tuple[str, list[int]]]:
        client = self._client
        assert client is not None and self._blocks is not None
        keys = [f.key for f in self._blocks]
        return worker_groups(
            keys, client.who_has(self._blocks), client.scheduler_info()["workers"], self._rows
        )

    def _host_threads(self) -> dict[str, int]:
        """Worker address -> the number of worker threads on its host (from the scheduler);
        each worker divides its own core count by this (:func:`~logloss.placement.limit_blas`)."""
        client = self._client
        if client is None:
            return {}
        try:
            info = client.scheduler_info()["workers"]
        except Exception:  # pragma: no cover
            return {}
        per_host: dict[str, int] = {}
        for addr, w in info.items():
            per_host[host_of(addr)] = per_host.get(host_of(addr), 0) + int(w.get("nthreads", 1))
        return {addr: per_host[host_of(addr)] for addr in info}

    def map_reduce(
        self,
        block_fn: Callable[..., Any],
        *args: Any,
        combine: Callable[..., Any] = _add,
        name: str = "logloss-map",
        offsets: bool = False,
    ) -> Any:
        """``combine`` of ``block_fn(X_i, y_i, s_i, *args)`` over all blocks, computed now.
        With ``offsets``: ``block_fn(X_i, y_i, s_i, offset_i, *args)``, ``offset_i`` the
        global position of the block's first row (for row-position rules, e.g. CV folds)."""
        tag = f"{name}-{next(_counter)}-{uuid.uuid4().hex[:8]}"
        if self._blocks is not None:
            return self._map_reduce_per_worker(block_fn, args, combine, tag, offsets)
        starts = self.offsets()
        parts = [
            delayed(block_fn, pure=True)(
                x, y, s, *((starts[i],) if offsets else ()), *args, dask_key_name=f"{tag}-{i}"
            )
            for i, (x, y, s) in enumerate(zip(self._xs, self._ys, self._ss, strict=True))
        ]
        (result,) = dask.compute(tree_reduce(parts, combine, name=tag), optimize_graph=False)
        return result

    def _map_reduce_per_worker(
        self,
        block_fn: Callable[..., Any],
        args: tuple[Any, ...],
        combine: Callable[..., Any],
        tag: str,
        offsets: bool = False,
    ) -> Any:
        client = self._client
        assert client is not None and self._blocks is not None
        blocks = self._blocks
        groups = self._worker_groups()
        host_threads = self._blas
        starts = self.offsets()
        futures = []
        for j, (addr, items) in enumerate(groups):
            futures.append(
                client.submit(
                    _group_task,
                    block_fn,
                    combine,
                    [blocks[i] for i in items],
                    host_threads.get(addr),
                    [starts[i] for i in items] if offsets else None,
                    *args,
                    key=f"{tag}-w{j}",
                    pure=False,
                    **({"workers": [addr], "allow_other_workers": True} if addr else {}),
                )
            )
        if self.n_features >= WORKER_COMBINE_FEATURES:
            futures = _per_worker(client, combine, groups, futures, tag)
        parts = client.gather(futures)
        del futures
        self.last_pass = {
            "tasks": len(groups),
            "workers": len({addr for addr, _ in groups}),
            "partials": len(parts),
            "bytes": int(sum(getattr(p, "nbytes", 0) for p in parts)),
        }
        if len(parts) == 1:
            return parts[0]
        if combine is _add and all(isinstance(p, np.ndarray) for p in parts):
            total = parts[0] if parts[0].flags.writeable else parts[0].copy()
            for p in parts[1:]:
                total += p
            return total
        return combine(*parts)

    def offsets(self) -> list[int]:
        """The global position of each block's first row, in block order."""
        return [int(o) for o in np.cumsum([0, *self._rows[:-1]])] if self._rows else []

    def sample(
        self, step: int
    ) -> tuple[NDArray[np.floating], NDArray[np.float64], NDArray[np.float64] | None] | None:
        """Every ``step``-th row of each block, brought to the client as NumPy arrays.

        For a warm start of the solver in this process (the sample's optimum lies within
        sampling error of the full one). None when the blocks are streamed from source.
        """
        if self.storage == "stream" or step < 2:
            return None
        if self._blocks is not None and self._client is not None:
            futures = self._client.map(_subsample_block, self._blocks, step=step, pure=False)
            parts = self._client.gather(futures)
            del futures
            X = any_concat([b.X for b in parts])
            y = np.concatenate([b.y for b in parts])
            s = None if parts[0].s is None else np.concatenate([b.s for b in parts])
            return X, y, s
        sw = None if self.sample_weight is None else self.sample_weight[::step]
        if block_row_bytes(self.X) != self.n_features * self.X.dtype.itemsize:
            parts = self.X[::step].to_delayed().ravel().tolist()
            xs, ys_, ss_ = dask.compute(parts, self.y[::step], sw)
            return any_concat(xs), np.asarray(ys_, dtype=np.float64), ss_
        X, y, s = dask.compute(self.X[::step], self.y[::step], sw)
        return X, np.asarray(y, dtype=np.float64), s

    def sums(self, w: Array, hessian: bool = False, diag: bool | ArrowSpec = False) -> Array:
        """Packed Σ over all rows of :func:`logloss.coded.any_sums` at ``w`` (one pass):
        :func:`logloss.loss.block_sums`' layout, or with ``diag`` the Hessian's diagonal
        and intercept column after the gradient (and an arrow spec's Hessian rows)."""
        start = time.perf_counter()
        out = np.asarray(
            self.map_reduce(
                _sums_task, np.asarray(w, dtype=np.float64), hessian, diag, name="logloss-sums"
            )
        )
        if not hessian:
            self._pass_seconds.append(time.perf_counter() - start)
        return out

    def storage_info(self) -> dict[str, Any]:
        """Where the blocks are and how fast a pass went: ``storage``, ``blocks_in_memory``,
        ``blocks_on_disk``, ``bytes_on_disk`` (X, y and weights), ``pass_seconds`` (the
        median loss+gradient pass) and ``pass_gb_per_s`` (X's bytes over it)."""
        n_disk = sum(self._plan.on_disk)
        in_memory = 0 if self.storage == "stream" else self.n_blocks - n_disk
        seconds = float(np.median(self._pass_seconds)) if self._pass_seconds else None
        nbytes = self.n_rows * block_row_bytes(self.X)
        return {
            "storage": self.storage,
            "blocks": self.n_blocks,
            "blocks_in_memory": in_memory,
            "blocks_on_disk": n_disk,
            "bytes_on_disk": self._plan.bytes_on_disk(self._rows),
            "pass_seconds": seconds,
            "pass_gb_per_s": (nbytes / seconds / 1e9) if seconds else None,
        }

    def release(self) -> None:
        """Drop the references to the persisted blocks so the cluster may free them (and
        remove the blocks' files from the workers' disks)."""
        if self._release is not None:
            self._release()
        self.X = self.y = None  # type: ignore[assignment]
        self.sample_weight = None
        self._xs, self._ys, self._ss = [], [], []
        self._blocks = None
        self._client = None
