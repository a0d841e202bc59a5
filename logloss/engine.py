"""The only module that talks to Dask: persisted row blocks, per-block sums, tree reduction.

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
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed, delayed
from numpy.typing import NDArray

from .loss import block_sums

__all__ = ["BlockData", "tree_reduce", "default_client"]

Array = NDArray[np.float64]

_counter = itertools.count()


def default_client() -> Any | None:
    """The current distributed Client, or None (then the threaded scheduler is used)."""
    try:
        from distributed import default_client as _dc

        return _dc()
    except (ImportError, ValueError):
        return None


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
) -> Array:
    return block_sums(X, y, w, s, hessian=hessian)


class BlockData:
    """Row blocks of X, y and weights persisted once, evaluated many times."""

    def __init__(
        self,
        X: da.Array,
        y01: da.Array,
        sample_weight: da.Array | None = None,
    ) -> None:
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
        arrays = [X, y01] if sample_weight is None else [X, y01, sample_weight]
        persisted = dask.persist(*arrays)
        self.X: da.Array = persisted[0]
        self.y: da.Array = persisted[1]
        self.sample_weight: da.Array | None = persisted[2] if sample_weight is not None else None
        self.n_rows = int(sum(self.X.chunks[0]))
        self.n_features = int(self.X.shape[1])
        self._xs = self.X.to_delayed(optimize_graph=False).ravel().tolist()
        self._ys = self.y.to_delayed(optimize_graph=False).ravel().tolist()
        self._ss: list[Delayed | None] = (
            self.sample_weight.to_delayed(optimize_graph=False).ravel().tolist()
            if self.sample_weight is not None
            else [None] * len(self._xs)
        )

    @property
    def n_blocks(self) -> int:
        return len(self._xs)

    def map_reduce(
        self,
        block_fn: Callable[..., Any],
        *args: Any,
        combine: Callable[..., Any] = _add,
        name: str = "logloss-map",
    ) -> Any:
        """``combine`` of ``block_fn(X_i, y_i, s_i, *args)`` over all blocks, computed now."""
        tag = f"{name}-{next(_counter)}-{uuid.uuid4().hex[:8]}"
        parts = [
            delayed(block_fn, pure=True)(x, y, s, *args, dask_key_name=f"{tag}-{i}")
            for i, (x, y, s) in enumerate(zip(self._xs, self._ys, self._ss, strict=True))
        ]
        (result,) = dask.compute(tree_reduce(parts, combine, name=tag), optimize_graph=False)
        return result

    def sums(self, w: Array, hessian: bool = False) -> Array:
        """Packed Σ over all rows of :func:`logloss.loss.block_sums` at ``w`` (one pass)."""
        return np.asarray(
            self.map_reduce(_sums_task, np.asarray(w, dtype=np.float64), hessian, name="logloss-sums")
        )

    def release(self) -> None:
        """Drop the references to the persisted blocks so the cluster may free them."""
        self.X = self.y = None  # type: ignore[assignment]
        self.sample_weight = None
        self._xs, self._ys, self._ss = [], [], []
