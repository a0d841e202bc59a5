"""The Dask side of the data layer: :func:`read_parquet`, the lazy arrays and :class:`Dataset`.

This is the only module of :mod:`logloss.data` that imports Dask: it builds one read task per
block (:func:`~logloss.data.blocks._read_block`) and the ``X``/``y``/``sample_weight`` arrays
over them, runs the extra pass that counts invalid rows, and persists and checks labels.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from operator import getitem
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask._task_spec import DataNode, Task, TaskRef
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph
from fsspec.spec import AbstractFileSystem

from ..coded import array_nbytes, block_row_bytes, note_coded
from ..windows import Window
from . import codes, windowing
from .blocks import (
    Budget,
    Handed,
    _block_stats,
    _count_valid,
    _read_block,
    _read_labels,
    dictionary_columns,
)
from .counting import learn, merge, merge_positions
from .crosses import CROSS_VOCABULARY_MAX
from .discovery import _describe, _resolve
from .encoding import (
    CATEGORICAL,
    LAST_MERGE_PARTS,
    MERGE_FAN_IN,
    MISSING_MODES,
    NUMERIC,
    VOCABULARY_MAX_LEVELS,
    Encoding,
    value_codes,
)
from .errors import _MAX_LISTED, DEFAULT_INVALID_HINT, DataError, _fmt
from .footers import FileIdentity, _read_footers
from .hashing import HASH_ABOVE, MAX_HASH_BITS, parse_interactions
from .schema import _DTYPES, ColumnOptions, _label_dtype, _make_plan, _Plan
from .spec import BlockSpec, _plan_blocks


@dataclass(frozen=True, eq=False)
class Dataset:
    """Lazy arrays over a Parquet dataset; see :mod:`logloss.data` for conventions."""

    X: da.Array
    y: da.Array | None  # None when read without a label (for prediction)
    sample_weight: da.Array | None
    feature_names: list[str]
    label: str | None
    weight: str | None
    blocks: list[BlockSpec]
    source: str
    n_dropped: int = 0
    drop_invalid: bool = False
    files: tuple[FileIdentity, ...] = ()
    encoding: Encoding | None = None  # categorical/imputed columns: how X was made
    ignored: tuple[tuple[str, str], ...] = ()  # (column, type) left out of automatic features
    # per file (sorted by path): its path and columns (hive partition keys too), from its footer
    file_columns: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def input_columns(self) -> list[str]:
        """The columns the features are made from (``feature_names`` without an encoding)."""
        return self.encoding.input_columns if self.encoding is not None else self.feature_names

    def fingerprint(self) -> str:
        """A stable hex hash of what this dataset is, computed without reading data.

        It covers each file (sorted by path): path, size, modification time (or what a remote
        filesystem reports: ETag, checksum, generation) and footer row count; and the chosen
        columns (features in order, label, weight), ``X``'s dtype and ``drop_invalid``. The
        same files read the same way give the same hash in any process; touching or rewriting
        a file, or choosing other columns, changes it. File order does not matter.
        """
        if not self.files:
            raise DataError(f"dataset {self.source} records no files to fingerprint")
        doc = {
            "format": 1,
            "files": [[f.path, f.size, f.version, f.n_rows] for f in sorted(self.files)],
            "features": list(self.feature_names),
            "label": self.label,
            "weight": self.weight,
            "dtype": str(self.X.dtype),
            "drop_invalid": bool(self.drop_invalid),
        }
        if self.encoding is not None:
            doc["encoding"] = self.encoding.to_json()
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def check_columns(self, names: Sequence[str], role: str = "requested") -> None:
        """Raise :class:`DataError` naming the first of ``names`` that some file lacks (and
        that file, and its columns); from the footers, without reading any data."""
        for path, columns in self.file_columns:
            for name in names:
                if name not in columns:
                    shown = ", ".join(repr(c) for c in columns)
                    raise DataError(
                        f"{role} column {name!r} not found in file {path}; available "
                        f"columns: {shown}"
                    )

    @property
    def n_rows(self) -> int:
        """Number of rows (after dropping invalid rows), known from the footers."""
        return int(sum(b.n_rows for b in self.blocks))

    @property
    def nbytes(self) -> int:
        """Bytes of X, y and the weights once read (what persisting them takes)."""
        arrays = (self.y, self.sample_weight)
        return array_nbytes(self.X) + int(sum(a.nbytes for a in arrays if a is not None))

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def persist(self) -> Dataset:
        """Persist ``X``, ``y`` and ``sample_weight`` together, reading each block once.

        On a cluster whose workers' memory budget (:func:`logloss.placement.memory_budget`)
        the data exceed, nothing is persisted and the dataset is returned as it is: the fit
        reads each block once and writes those that do not fit in memory to the workers'
        disks (:class:`logloss.blockdata.BlockData`)."""
        from ..placement import default_client, memory_budget

        client = default_client()
        largest = max(self.X.chunks[0], default=0) * block_row_bytes(self.X)
        if client is not None and self.nbytes > memory_budget(client, largest):
            return self
        names = [k for k in ("X", "y", "sample_weight") if getattr(self, k) is not None]
        out = dask.persist(*[getattr(self, k) for k in names])
        return dataclasses.replace(self, **dict(zip(names, out, strict=True)))

    def check_labels(self) -> list[Any]:
        """Return the two distinct label values, sorted; raise :class:`DataError` otherwise.

        One distributed pass over ``y`` (per-block ``np.unique``, merged on the client). If
        ``y`` is not persisted this reads the blocks; persist first to read the data once.
        """
        if self.y is None:
            raise DataError(f"dataset {self.source} was read without a label column")
        parts = _compute(*[dask.delayed(_first_seen)(b) for b in self.y.to_delayed()])
        first: dict[Any, tuple[int, int]] = {}
        for i, (values, index) in enumerate(parts):
            for j in np.argsort(index, kind="stable"):
                value = values[j].item() if isinstance(values[j], np.generic) else values[j]
                if value not in first:
                    first[value] = (i, int(index[j]))
        found = _sorted_values(first)
        if len(found) == 2:
            return found
        shown = [_fmt(v) for v in found[:_MAX_LISTED]] + (
            ["..."] if len(found) > _MAX_LISTED else []
        )
        msg = (
            f"labels must be two distinct values; got {len(found)}: "
            f"[{', '.join(shown)}] in column {self.label!r}"
        )
        if len(found) > 2:
            surplus = list(first)[2]
            block, idx = first[surplus]
            spec = self.blocks[block]
            msg += (
                f" (value {_fmt(surplus)} first seen in file {spec.path}, row {spec.file_row(idx)})"
            )
        raise DataError(msg)


def _first_seen(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, index = np.unique(y, return_index=True)
    return values, index


def _sorted_values(first: dict[Any, tuple[int, int]]) -> list[Any]:
    try:
        return sorted(first)
    except TypeError:
        return sorted(first, key=repr)


def _drop_invalid(
    fs: AbstractFileSystem, blocks: list[BlockSpec], plan: _Plan
) -> tuple[list[BlockSpec], int]:
    masks = _compute(*[dask.delayed(_count_valid)(fs, b, plan) for b in blocks])
    out = []
    dropped = 0
    for spec, keep in zip(blocks, masks, strict=True):
        if keep is None:
            out.append(spec)
            continue
        n = int(np.unpackbits(np.frombuffer(keep, np.uint8), count=spec.n_source_rows).sum())
        dropped += spec.n_source_rows - n
        if n:
            out.append(dataclasses.replace(spec, n_rows=n, keep=keep))
    return out, dropped


def _learn_encoding(
    fs: AbstractFileSystem,
    blocks: list[BlockSpec],
    plan: _Plan,
    options: ColumnOptions,
    source: str,
) -> tuple[Encoding, list[Handed] | None]:
    """One pass over the features (and weights): per-block level counts and numeric sums,
    merged here into the encoding. In this process (:func:`_in_this_process`), with the
    blocks' tables kept for their reads (:func:`_handed`), else None."""
    limit = options.max_categories
    counted = plan
    if options.hash_bits:
        if options.hash_columns is None:  # a column over it is hashed: not counted further
            limit = limit or HASH_ABOVE
        named = set(options.hash_columns or ())  # hashed whatever their size: not counted
        keep = [(f, k) for f, k in plan.feature_kinds if f not in named]
        counted = dataclasses.replace(
            plan,
            features=tuple(f for f, _ in keep),
            kinds=tuple(k for _, k in keep),
            file_columns=tuple(c for c in plan.file_columns if c not in named),
        )
    # the crosses whose two columns are counted: their pairs too, up to a vocabulary's bound
    counted_names = set(counted.features)
    crosses = [p for p in options.interactions if set(p) <= counted_names]
    bound = options.max_categories or CROSS_VOCABULARY_MAX
    # merged a column at a time over at most LAST_MERGE_PARTS parts; more blocks first in a
    # tree, MERGE_FAN_IN parts at a time, each keeping at most a vocabulary's levels: no task
    # nor the client holds more than MERGE_FAN_IN parts' counts, or LAST_MERGE_PARTS' of one
    # column
    cap = VOCABULARY_MAX_LEVELS if options.max_categories is None else options.max_categories
    handed = _handed(blocks, plan)
    kept: list[Handed | None] = [None] * len(blocks) if handed is None else list(handed)
    parts = [
        dask.delayed(_block_stats)(fs, b, counted, limit, crosses, bound, h)
        for b, h in zip(blocks, kept, strict=True)
    ]
    while len(parts) > LAST_MERGE_PARTS:
        groups = [parts[i : i + MERGE_FAN_IN] for i in range(0, len(parts), MERGE_FAN_IN)]
        parts = [dask.delayed(merge)(g, limit=cap) for g in groups]
    # the last merge a task per column, in parallel (it had been a second of this process's
    # time at 10 M click-log rows, one column after another); of the blocks themselves,
    # with their tables kept, it also gives the positions of their values among the merged
    # ones, from which their reads find their codes without a lookup (_hand_codes)
    positions = handed is not None and len(parts) == len(blocks)
    keys = [*counted.features, *(("cross", a, b) for a, b in crosses)]
    merged: dict[Any, Any] = {}
    for one in _compute(*(_merged_key(parts, k, cap, positions) for k in keys)):
        merged.update(one)
    held = [k for k in merged if isinstance(k, tuple) and k[0] == "positions"]
    found = {k[1]: merged.pop(k) for k in held}
    encoding = learn(
        plan.feature_kinds,
        merged,
        missing=plan.missing,
        max_categories=options.max_categories,
        min_frequency=options.min_frequency,
        source=source,
        categorical_coding=options.categorical_coding,
        hash_bits=options.hash_bits,
        hash_columns=options.hash_columns,
        interactions=options.interactions,
        log1p=plan.log1p,
    )
    if handed is not None and found:
        _hand_codes(encoding, merged, found, handed)
    return encoding, handed


def _hand_codes(
    encoding: Encoding,
    merged: dict[Any, Any],
    positions: dict[str, list[np.ndarray | None]],
    handed: list[Handed],
) -> None:
    """Hand each kept block the codes of its dictionary columns' values: each column's
    merged values looked up once (:func:`.encoding.value_codes`), then taken at the block's
    positions among them (:func:`.counting.merge_positions`). The blocks' reads had looked
    up every block's dictionaries against the levels, hashing the levels again each time:
    2 of the 7 thread-seconds of building 10 M click-log rows."""
    wanted = []
    for c in encoding.columns:
        at = positions.get(c.name)
        if c.kind != CATEGORICAL or at is None:  # (positions: merged levels)
            continue
        if any(p is not None and h.wants_codes(c.name) for p, h in zip(at, handed, strict=True)):
            wanted.append((c, at))
    # (one column after another: 0.3 s at 10 M click-log rows; a delayed call per column
    # had cost more, Dask walking each ColumnCode's levels among its arguments)
    for c, at in wanted:
        of_values = value_codes(c, merged[c.name][1])
        for p, h in zip(at, handed, strict=True):
            if p is not None:
                h.hand_codes(c.name, of_values, p)


#: The share of this machine's available memory that the tables kept from the counting
#: pass for the blocks' reads may take (:class:`~.blocks.Handed`); beyond it a block reads
#: its file again. The data trained in this process is at most half of it
#: (:data:`logloss.cluster.IN_PROCESS_FRACTION`), its tables a little less than its blocks.
HANDED_FRACTION = 0.25


def _handed(blocks: list[BlockSpec], plan: _Plan) -> list[Handed] | None:
    """Per block, a :class:`~.blocks.Handed` for its table when the passes run in this
    process, under one budget of :data:`HANDED_FRACTION` of the available memory; else
    None (a worker's table would travel to this process and back)."""
    if not _in_this_process():
        return None
    from ..cluster import available_memory

    budget = Budget(int(HANDED_FRACTION * available_memory()))
    return [Handed(plan.file_columns, dictionary_columns(plan), budget) for _ in blocks]


def _in_this_process() -> bool:
    """Whether ``dask.compute`` runs in this process: no scheduler set but threads, and no
    distributed client."""
    if dask.config.get("scheduler", None) not in (None, "threads", "threading", "sync"):
        return False
    if "distributed" not in sys.modules:
        return True
    from distributed import default_client

    try:
        default_client()
    except ValueError:
        return True
    return False


def _merged_key(parts: list[Any], key: Any, limit: int, positions: bool = False) -> Any:
    """The delayed :func:`merge` of one column's (or cross's) summaries in ``parts``; with
    ``positions``, a column's :func:`merge_positions`."""
    mine = [dask.delayed(_key_of)(p, key) for p in parts]
    if positions and isinstance(key, str):
        return dask.delayed(merge_positions)(mine, key, limit=limit)
    return dask.delayed(merge)(mine, limit=limit)


def _key_of(stats: dict[Any, Any], key: Any) -> dict[Any, Any]:
    return {key: stats[key]} if key in stats else {}


def _build_arrays(
    fs: AbstractFileSystem,
    blocks: list[BlockSpec],
    plan: _Plan,
    y_dtype: Any,
    token: str,
    handed: list[Handed] | None = None,
) -> tuple[da.Array, da.Array | None, da.Array | None]:
    read = f"read-parquet-{token}"
    names = {"X": f"parquet-X-{token}", "y": f"parquet-y-{token}", "w": f"parquet-w-{token}"}
    # The plan (its encoding: the levels of every column, 20 MB pickled at 45 M click-log
    # rows) is one key of the graph that the reads depend on, not an argument of each task:
    # a worker receives it once, where each task's message had carried a copy. The reads
    # are marked as data producers, so that the scheduler spreads them over the workers
    # rather than gathering them where the plan is.
    held = f"read-plan-{token}"
    plan_node = DataNode(held, plan)
    read_layer: dict[Any, Any] = {held: plan_node}
    for i, spec in enumerate(blocks):
        key = (read, i)
        kept = None if handed is None else handed[i]  # the counting pass's table (.blocks)
        read_layer[key] = Task(key, _read_block, fs, spec, TaskRef(held), kept, _data_producer=True)
    rows = tuple(b.n_rows for b in blocks)

    def array(kind: str, index: int, chunks: tuple[tuple[int, ...], ...], dtype: Any) -> da.Array:
        name = names[kind]
        extra = (0,) * (len(chunks) - 1)
        layer: dict[Any, Any] = {
            (name, i, *extra): (getitem, (read, i), index) for i in range(len(blocks))
        }
        graph = HighLevelGraph({read: read_layer, name: layer}, {read: set(), name: {read}})
        return da.Array(graph, name, chunks=chunks, dtype=dtype)

    width = len(plan.features) if plan.encoding is None else plan.encoding.width
    X = array("X", 0, (rows, (width,)), np.dtype(plan.dtype))
    if plan.encoding is not None and plan.encoding.coded:
        note_coded(X.name, codes.row_bytes(plan.encoding, plan.dtype))
    y = None
    if plan.label is not None:
        # y reads its own column only: a pass over the labels alone (the label checks of a
        # fit on data that is not persisted) decodes no features
        y_layer: dict[Any, Any] = {held: plan_node}
        for i, spec in enumerate(blocks):
            key = (names["y"], i)
            y_layer[key] = Task(key, _read_labels, fs, spec, TaskRef(held), _data_producer=True)
        graph = HighLevelGraph({names["y"]: y_layer}, {names["y"]: set()})
        y = da.Array(graph, names["y"], chunks=(rows,), dtype=y_dtype)
    w = array("w", 2, (rows,), np.dtype(np.float64)) if plan.weight is not None else None
    return X, y, w


def _compute(*parts: Any) -> tuple[Any, ...]:
    """``dask.compute``, on the threaded scheduler when none is set and no distributed
    client can exist (distributed not imported): dask would import distributed only to
    look for one, a third of a second of a command's start."""
    if dask.config.get("scheduler", None) is None and "distributed" not in sys.modules:
        from dask.threaded import get as threaded

        return tuple(dask.compute(*parts, scheduler=threaded))
    return tuple(dask.compute(*parts))


def worker_block_bytes() -> int | None:
    """The largest block the current cluster's workers read safely: a quarter of the
    smallest worker memory limit per worker thread (a read peaks at ~1.5x its block, each
    thread reads one, and the worker holds its imports and data besides); None without a
    distributed client or memory limits."""
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import default_client

        workers = default_client().scheduler_info()["workers"].values()
    except (ImportError, ValueError, KeyError):
        return None
    sizes = [
        int(w["memory_limit"]) // (4 * max(1, int(w.get("nthreads", 1))))
        for w in workers
        if w.get("memory_limit")
    ]
    return max(2**20, min(sizes)) if sizes else None


def _check_read_arguments(
    invalid_hint: Any, dtype: str, block_bytes: int, missing: str | None, drop_invalid: bool
) -> None:
    if invalid_hint is not None and not isinstance(invalid_hint, str):
        raise TypeError(f"invalid_hint must be a string or None; got {invalid_hint!r}")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}; got {dtype!r}")
    if block_bytes <= 0:
        raise ValueError(f"block_bytes must be positive; got {block_bytes}")
    if missing is not None and missing not in MISSING_MODES:
        raise ValueError(f"missing must be one of {MISSING_MODES}; got {missing!r}")
    if drop_invalid and missing not in (None, "drop"):
        raise ValueError(f"drop_invalid=True is missing='drop'; got missing={missing!r} too")


def _check_hashing(
    hash_bits: int | None,
    hash_columns: Sequence[str] | None,
    interactions: Sequence[str | tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    """The hashing options checked; the interactions as pairs."""
    if hash_bits is not None and not 1 <= hash_bits <= MAX_HASH_BITS:
        raise ValueError(f"hash_bits must be in [1, {MAX_HASH_BITS}]; got {hash_bits!r}")
    if hash_columns is not None and not hash_bits:
        raise ValueError("hash_columns need hash_bits (--hash-bits)")
    return parse_interactions(interactions)


def _log1p_columns(plan: _Plan, names: Sequence[str], shown: str) -> tuple[str, ...]:
    """``names`` checked: each a numeric feature of ``plan`` (DataError naming it else)."""
    kinds = dict(plan.feature_kinds)
    for name in names:
        if kinds.get(name) != NUMERIC:
            what = "not a feature" if name not in kinds else f"a {kinds[name]} feature"
            raise DataError(
                f"--log1p column {name!r} of dataset {shown} is {what}: it takes numeric "
                f"feature columns"
            )
    return tuple(dict.fromkeys(names))


def read_parquet(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    label: str | None,
    features: Sequence[str] | None = None,
    weight: str | None = None,
    dtype: str = "float64",
    *,
    drop_invalid: bool = False,
    storage_options: dict[str, Any] | None = None,
    block_bytes: int = 128 * 2**20,
    invalid_hint: str | None = DEFAULT_INVALID_HINT,
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    missing: str | None = None,
    max_categories: int | None = None,
    min_frequency: int = 1,
    encoding: Encoding | None = None,
    categorical_coding: str = "all",
    exclude: Sequence[str] = (),
    codes: bool | None = None,
    window: Window | None = None,
    hash_bits: int | None = None,
    hash_columns: Sequence[str] | None = None,
    interactions: Sequence[str | tuple[str, str]] = (),
    log1p: Sequence[str] = (),
) -> Dataset:
    """Open a Parquet dataset as lazy Dask arrays with known row chunks.

    ``source`` is a file, a directory (searched recursively for ``*.parquet``, ``*.parq``,
    ``*.pq``; hidden and ``_``-prefixed entries are skipped), a glob, a list of those, or any
    fsspec URL (``storage_options`` go to the filesystem). ``features=None`` takes every
    int/float/bool column except the label and weight (they must be in every file);
    ``exclude`` leaves columns out of the features either way (each must be a column of some
    file, and neither the label nor the weight).
    Each block is one row group or several consecutive row groups of one file, holding at
    most ``block_bytes`` of feature data, at most :func:`worker_block_bytes` on a cluster (a
    quarter of a worker's memory limit per thread); a larger row group is split into row
    ranges of at most that size (never under 1 MiB). Block lengths come from the footers.
    With ``drop_invalid=True`` rows with a null, NaN or inf in any used column are dropped
    (one extra pass over the used columns counts them); otherwise such values raise
    :class:`DataError` when the block is computed.
    ``label=None`` reads features (and weights) only, for prediction; then ``y`` is None.
    ``invalid_hint`` ends those value errors as `` (<hint>)`` (nothing when ``None``): say how
    the caller's user drops such rows, then after ``", or "`` how they impute feature values
    (or ``None`` where they cannot); an error about a value that cannot be imputed (an inf, a
    label, a weight) ends with the part before ``", or "`` and says why.

    The columns are decided from all footers, the same way whatever the file order: a used
    column (feature, label, weight; with ``features=None`` every column numeric in some file)
    missing from some files, duplicated within a file, also a hive partition key of a file
    that holds it, or of different types in different files raises :class:`DataError` naming
    the column and the files. With ``features=None`` the feature order is the column order of
    the first file by path.

    Column kinds (see :mod:`logloss.data.encoding`): numeric (int, float, decimal) columns are
    numeric features; string, dictionary and bool columns are categorical, one 0/1
    indicator per level seen (levels found in one pass over the features when the dataset
    is opened). ``categorical`` forces integer (or integer-valued float) columns categorical,
    ``numeric`` forces bool columns numeric. ``missing``: "error" (default), "drop" (the
    same as ``drop_invalid=True``) or "impute" (a missing numeric value becomes the training
    mean, plus a "missing" indicator; a null categorical value is its own level).
    ``max_categories`` bounds the levels of a column (more is an error: it may be an
    identifier; None: no bound but memory, :data:`~logloss.data.encoding.VOCABULARY_MAX_LEVELS`);
    ``min_frequency`` folds rarer levels into one "infrequent" indicator (and the levels
    unseen in training go there too, as scikit-learn's
    ``OneHotEncoder(handle_unknown="infrequent_if_exist")``). An encoding of more than
    :data:`~logloss.data.encoding.CODES_ABOVE` indicator features is read as int32 codes
    (:class:`~logloss.coded.CodedMatrix` blocks), never as dense indicators; ``codes``
    forces that choice (True / False).
    ``categorical_coding``: "all" (an indicator per level) or "reference" (the first level
    as sorted of each column gets none: treatment coding).
    ``hash_bits`` B: categorical columns are hashed into 2^B shared buckets exactly as
    scikit-learn's ``FeatureHasher(2**B, input_type="string", alternate_sign=True)`` does
    with the tokens ``column=value`` (:mod:`logloss.data.hashing`): the columns
    ``hash_columns`` (integer ones become categorical), by default every categorical column
    with more distinct values than ``max_categories``, or than
    :data:`~logloss.data.hashing.HASH_ABOVE` without it; the features ``hash[i]``.
    ``interactions`` ("A:B" or (A, B) each): crosses of two categorical columns (Vowpal
    Wabbit's ``-q``): with a vocabulary of the pairs ``A=a^B=b`` when both columns have one
    and the product of their numbers of values is at most ``max_categories`` (or
    :data:`~logloss.data.crosses.CROSS_VOCABULARY_MAX`), else the token ``A=a^B=b`` hashed
    into the shared block (needs ``hash_bits``); see :mod:`logloss.data.crosses`.
    ``log1p``: numeric feature columns read as log(1 + x) (counts, amounts: heavy tails),
    before imputation and scaling; the encoding keeps it for prediction. A value of -1 or
    less raises :class:`DataError` naming it; a name that is not a numeric feature too.
    ``window`` (:class:`logloss.windows.Window`): only its rows, by partition (other
    partitions' files never opened) or by a timestamp column (row groups outside it, by
    their statistics, never read); see :mod:`logloss.data.windowing`.
    ``encoding`` (a trained model's) decides the columns and how they are encoded instead;
    then no pass is made. ``feature_names`` are the encoded features' names
    (``name=level``, ``name__missing``); ``input_columns`` the columns they come from.
    """
    _check_read_arguments(invalid_hint, dtype, block_bytes, missing, drop_invalid)
    if (max_categories is not None and max_categories < 1) or min_frequency < 1:
        raise ValueError("max_categories and min_frequency must be at least 1")
    pairs = _check_hashing(hash_bits, hash_columns, interactions)
    drop_invalid = drop_invalid or missing == "drop"
    options = ColumnOptions(
        tuple(categorical),
        tuple(numeric),
        "drop" if drop_invalid else (missing or "error"),
        max_categories,
        min_frequency,
        encoding,
        categorical_coding,
        tuple(exclude or ()),
        hash_bits or None,
        None if hash_columns is None else tuple(hash_columns),
        pairs,
    )
    shown = _describe(source)
    fs, files = _resolve(source, storage_options)
    files = windowing.select_files(files, window, shown)  # partitions outside: never opened
    footers = _read_footers(fs, files)
    plan, partition_kinds = _make_plan(
        footers, label, features, weight, dtype, drop_invalid, invalid_hint, options
    )
    if log1p and encoding is None:
        plan = dataclasses.replace(plan, log1p=_log1p_columns(plan, log1p, shown))
    row_bytes = max(1, len(plan.features)) * np.dtype(dtype).itemsize
    block_bytes = min(block_bytes, worker_block_bytes() or block_bytes)
    groups = windowing.row_groups(fs, footers, window)  # row groups outside: never read
    blocks = _plan_blocks(footers, partition_kinds, row_bytes, block_bytes, windowing.only(groups))
    windowing.check_blocks(blocks, window, groups, shown)
    if not blocks:
        raise DataError(f"dataset {shown} has no rows ({len(files)} file(s), all empty)")
    n_dropped = 0
    if drop_invalid:
        blocks, n_dropped = _drop_invalid(fs, blocks, plan)
        if not blocks:
            raise DataError(
                f"dataset {shown} has no valid rows: all {n_dropped} rows hold a null, NaN or "
                f"inf in a used column"
            )
    blocks = windowing.filter_rows(fs, blocks, window, groups, shown)  # straddling row groups
    handed = None
    if plan.encoding is None and plan.needs_encoding:
        learnt, handed = _learn_encoding(fs, blocks, plan, options, shown)
        plan = dataclasses.replace(plan, encoding=learnt)
    if plan.encoding is not None and codes is not None:
        plan = dataclasses.replace(plan, encoding=dataclasses.replace(plan.encoding, codes=codes))
    y_dtype = _label_dtype(footers, label, partition_kinds) if label is not None else None
    token = tokenize(fs.protocol, [f.key for f in footers], blocks, plan, str(y_dtype), block_bytes)
    X, y, w = _build_arrays(fs, blocks, plan, y_dtype, token, handed)
    return Dataset(
        X=X,
        y=y,
        sample_weight=w,
        feature_names=(
            list(plan.features) if plan.encoding is None else plan.encoding.feature_names
        ),
        label=label,
        weight=weight,
        blocks=blocks,
        source=shown,
        n_dropped=n_dropped,
        drop_invalid=drop_invalid,
        files=tuple(f.identity for f in footers),
        encoding=plan.encoding,
        ignored=plan.ignored,
        file_columns=tuple(
            (f.file.path, (*f.schema.names, *(k for k, _ in f.file.partition)))
            for f in sorted(footers, key=lambda f: f.file.path)
        ),
    )
