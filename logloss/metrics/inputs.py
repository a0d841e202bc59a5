"""Inputs of the metrics: 1-D NumPy or Dask arrays brought onto the same row blocks, each
block checked, and the map over the blocks followed by a tree reduction.

``y_true`` is 1-D and holds {0, 1} (ints, floats or bools); the scores are 1-D (``proba``
in [0, 1], or margins ``z``); ``sample_weight`` is optional, 1-D, finite. Dask arrays must
share the same row blocks, known or unknown (NaN) sizes; a NumPy argument mixed with a
Dask one is cut into the Dask array's blocks (counted first if their sizes are unknown).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed, delayed
from numpy.typing import NDArray

from ..blockdata import tree_reduce

__all__ = [
    "Array",
    "ArrayIn",
    "SPLIT_EVERY",
    "check_block",
    "map_reduce",
    "prepare",
    "reduce_blocks",
]

Array = NDArray[np.float64]
ArrayIn = Any  # NumPy array, Dask array, or anything np.asarray accepts

SPLIT_EVERY = 8
"""How many partial results one task of the tree reduction combines."""


def _as_1d(x: ArrayIn, name: str) -> Any:
    """Return ``x`` as a 1-D NumPy or Dask array (a single column is flattened)."""
    if not isinstance(x, da.Array):
        x = np.asarray(x)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {x.shape}")
    return x


def _align(arrays: Sequence[Any], names: Sequence[str]) -> list[Any]:
    """Bring the Dask arrays among ``arrays`` onto the same row blocks.

    The first Dask array is the reference. NumPy arrays are cut into its blocks; Dask
    arrays with known but different chunks are rechunked to it. Unknown chunk sizes are
    trusted when the number of blocks agrees (each block checks its own lengths).
    """
    ref_i = next(i for i, a in enumerate(arrays) if isinstance(a, da.Array))
    ref = arrays[ref_i]
    known = not any(np.isnan(c) for c in ref.chunks[0])
    if not known and any(
        isinstance(a, np.ndarray)
        or (isinstance(a, da.Array) and a.numblocks[0] != ref.numblocks[0])
        for a in arrays
    ):
        # The reference's block lengths are needed to cut the other inputs: count them.
        ref = ref.compute_chunk_sizes()
        known = True
    out: list[Any] = []
    for a, name in zip(arrays, names, strict=True):
        if a is arrays[ref_i]:
            out.append(ref)
            continue
        if known and not np.isnan(a.shape[0]) and a.shape[0] != ref.shape[0]:
            raise ValueError(
                f"{name} must have as many rows as {names[ref_i]}; "
                f"got {a.shape[0]} and {ref.shape[0]}"
            )
        if isinstance(a, np.ndarray):
            out.append(da.from_array(a, chunks=ref.chunks))
        elif a.chunks == ref.chunks:
            out.append(a)
        elif known and not any(np.isnan(c) for c in a.chunks[0]):
            out.append(a.rechunk(ref.chunks))
        elif a.numblocks[0] == ref.numblocks[0]:
            out.append(a)
        elif known:
            # Different blocks of unknown size: count them (one pass), then rechunk.
            out.append(a.compute_chunk_sizes().rechunk(ref.chunks))
        else:
            raise ValueError(
                f"{name} and {names[ref_i]} must have the same row blocks; got "
                f"{a.numblocks[0]} and {ref.numblocks[0]} blocks of unknown size"
            )
    return out


def prepare(
    y_true: ArrayIn,
    scores: ArrayIn,
    sample_weight: ArrayIn | None,
    score_name: str = "proba",
) -> tuple[list[tuple[Any, Any, Any]], bool]:
    """Return ``(blocks, is_dask)``: a list of (y, scores, weight-or-None) per row block.

    For all-NumPy input there is a single block made of the arrays themselves.
    """
    names = ["y_true", score_name] + ([] if sample_weight is None else ["sample_weight"])
    arrays = [_as_1d(y_true, "y_true"), _as_1d(scores, score_name)]
    if sample_weight is not None:
        arrays.append(_as_1d(sample_weight, "sample_weight"))
    if not any(isinstance(a, da.Array) for a in arrays):
        n = {a.shape[0] for a in arrays}
        if len(n) != 1:
            raise ValueError(
                f"{', '.join(names)} must have the same length; got {[a.shape[0] for a in arrays]}"
            )
        w = arrays[2] if sample_weight is not None else None
        return [(arrays[0], arrays[1], w)], False
    arrays = _align(arrays, names)
    parts = [a.to_delayed().ravel().tolist() for a in arrays]
    if sample_weight is None:
        parts.append([None] * len(parts[0]))
    return list(zip(*parts, strict=True)), True


def check_block(
    y: NDArray[Any], s: NDArray[Any], w: NDArray[Any] | None, *, probabilities: bool
) -> tuple[Array, NDArray[np.floating[Any]], Array | None]:
    """Validate one block; return y as float64, scores as a float array, w as float64."""
    y = np.asarray(y)
    s = np.asarray(s)
    if y.shape[0] != s.shape[0] or (w is not None and np.shape(w)[0] != y.shape[0]):
        raise ValueError(
            "y_true, scores and sample_weight must have the same row blocks; got a block "
            f"with lengths {y.shape[0]}, {s.shape[0]}"
            + ("" if w is None else f", {np.shape(w)[0]}")
        )
    yf = y.astype(np.float64)
    bad = (yf != 0.0) & (yf != 1.0)
    if bad.any():
        found = np.unique(y[bad])[:5]
        raise ValueError(
            f"y_true must hold only 0 and 1 (map the labels first); got values such as "
            f"{found.tolist()}"
        )
    if not np.issubdtype(s.dtype, np.floating):
        s = s.astype(np.float64)
    if s.size:
        if not np.isfinite(s).all():
            raise ValueError("scores must be finite; got NaN or infinity")
        if probabilities and (s.min() < 0.0 or s.max() > 1.0):
            raise ValueError(f"proba must lie in [0, 1]; got values in [{s.min()!r}, {s.max()!r}]")
    wf: Array | None = None
    if w is not None:
        wf = np.asarray(w, dtype=np.float64)
        if wf.size and not np.isfinite(wf).all():
            raise ValueError("sample_weight must be finite; got NaN or infinity")
    return yf, s, wf


def reduce_blocks(
    block_fn: Callable[..., Any],
    combine: Callable[..., Any],
    y_true: ArrayIn,
    scores: ArrayIn,
    sample_weight: ArrayIn | None,
    *,
    score_name: str = "proba",
    split_every: int = SPLIT_EVERY,
) -> Any:
    """``block_fn(y, s, w)`` on every row block, the results combined ``split_every`` at a
    time in a tree: a ``Delayed`` (not computed) for Dask input, the value for NumPy input.

    Nothing but the combined result reaches the caller: no block's rows are gathered.
    """
    blocks, is_dask = prepare(y_true, scores, sample_weight, score_name)
    if not is_dask:
        return block_fn(*blocks[0])
    mapped = [delayed(block_fn)(*b) for b in blocks]
    return tree_reduce(mapped, combine, fan_in=split_every, name="logloss-metrics")


def compute(*roots: Any) -> tuple[Any, ...]:
    """``dask.compute`` of ``roots`` (values that are not Dask collections come back as
    they are): the threaded scheduler, or the active ``distributed.Client``."""
    return tuple(dask.compute(*roots))


def map_reduce(
    block_fn: Callable[..., Any],
    combine: Callable[..., Any],
    y_true: ArrayIn,
    scores: ArrayIn,
    sample_weight: ArrayIn | None,
    *,
    score_name: str = "proba",
    split_every: int = SPLIT_EVERY,
) -> Any:
    """:func:`reduce_blocks`, computed (one ``dask.compute`` on Dask input)."""
    root = reduce_blocks(
        block_fn,
        combine,
        y_true,
        scores,
        sample_weight,
        score_name=score_name,
        split_every=split_every,
    )
    return dask.compute(root)[0] if isinstance(root, Delayed) else root
