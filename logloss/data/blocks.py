"""Blocks: reading and validating one block on a worker (planned by :mod:`.spec`).

Everything here runs with pyarrow and NumPy only (no Dask): a block task calls
:func:`_read_block` with the filesystem, the :class:`BlockSpec` and the column plan.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec.core import url_to_fs
from fsspec.spec import AbstractFileSystem

from . import codes
from .arrow import Source, as_numpy, column_numpy, fill_tiles
from .bags import is_list
from .counting import block_stats
from .crosses import cross_counts
from .discovery import _open_parquet, _read_errors
from .encoding import CATEGORICAL, _Where, categorical_values
from .errors import DataError
from .schema import _Plan
from .spec import BlockSpec

# --------------------------------------------------------------------------------------------
# Reading and validating (on a worker)


class Handed:
    """A block's table, read by the counting pass and kept for the block's read, when both
    run in the client's process (Dask's threaded scheduler: nothing is copied): the file is
    then decoded once, not twice. :meth:`take` gives it once; a later read (a block that is
    not persisted, read again each pass) reads its file as ever. ``budget`` (shared by a
    dataset's blocks) bounds the bytes kept: a table beyond it is not kept. A graph that
    leaves this process (the dataset persisted on a cluster started after it was opened)
    carries an empty one, and the table is let go here: pickling releases it."""

    __slots__ = ("columns", "dictionary", "budget", "_kept", "_entries", "_codes")

    def __init__(
        self, columns: Sequence[str], dictionary: Sequence[str], budget: Budget | None
    ) -> None:
        self.columns, self.dictionary, self.budget = list(columns), list(dictionary), budget
        self._kept: tuple[pa.Table, dict[str, Any]] | None = None
        self._entries: dict[str, list[np.ndarray]] = {}
        self._codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def put(
        self,
        table: pa.Table,
        numeric: dict[str, Any],
        entries: dict[str, list[np.ndarray]] | None = None,
    ) -> None:
        """Keep ``table`` without the columns of ``numeric`` (name -> (values, missing
        mask) as the pass read them, :func:`.values.numeric_values`'), and those: the
        numeric columns are not read again either (their log1p not taken twice). ``entries``:
        per dictionary column, per chunk, each entry's position among the block's counted
        values (:func:`.counting.block_stats`), for :meth:`hand_codes`."""
        if self.budget is None:
            return
        table = table.drop_columns([c for c in numeric if c in table.column_names])
        arrays = [a for pair in numeric.values() for a in pair if a is not None]
        arrays += [a for chunks in (entries or {}).values() for a in chunks]
        nbytes = table.nbytes + sum(a.nbytes for a in arrays)  # (a view holds its buffer)
        if self.budget.claim(nbytes):
            self._kept = (table, numeric)
            self._entries = dict(entries or {})

    def wants_codes(self, name: str) -> bool:
        """Whether a kept table's dictionary column ``name`` can take :meth:`hand_codes`."""
        return self._kept is not None and name in self._entries

    def hand_codes(self, name: str, codes: np.ndarray, positions: np.ndarray) -> None:
        """Column ``name``'s code of each merged value (``codes``, the null's included) and
        the position of each of this block's counted values among those (``positions``,
        :func:`.counting.merge_positions`): its entries' codes, made in :meth:`take`."""
        if self.wants_codes(name):
            self._codes[name] = (codes, positions)

    def __reduce__(self) -> Any:
        self._kept, self._entries, self._codes = None, {}, {}
        return (Handed, (self.columns, self.dictionary, None))

    def take(self) -> tuple[pa.Table, dict[str, Any], dict[str, list[np.ndarray]]] | None:
        """The kept table and numeric columns (:meth:`put`), once, and per dictionary
        column handed its codes (:meth:`hand_codes`), per chunk, each entry's code, the
        null's last (as :func:`.encoding._entry_codes` finds them); else None."""
        kept, self._kept = self._kept, None
        if kept is None:
            return None
        known = {
            name: [codes[positions[at]] for at in self._entries[name]]
            for name, (codes, positions) in self._codes.items()
            if len(positions)  # (a column with no value here: nothing to look up)
        }
        self._entries, self._codes = {}, {}
        return (*kept, known)

    def __dask_tokenize__(self) -> Any:
        return ("handed-table", id(self))


class Budget:
    """Bytes that may still be kept (:class:`Handed`), claimed by the threads of a pass."""

    def __init__(self, nbytes: int) -> None:
        self.left = nbytes
        self._lock = threading.Lock()

    def claim(self, nbytes: int) -> bool:
        with self._lock:
            if nbytes > self.left:
                return False
            self.left -= nbytes
            return True


def _on_worker() -> bool:
    """Whether this runs in a distributed worker (else in the client's process)."""
    dist = sys.modules.get("distributed")
    if dist is None:
        return False
    try:
        dist.get_worker()
    except ValueError:
        return False
    return True


def _read_table(
    fs: AbstractFileSystem, spec: BlockSpec, columns: Sequence[str], dictionary: Sequence[str] = ()
) -> pa.Table:
    """The block's rows of ``columns`` (``dictionary``: those read as Arrow dictionaries)."""
    # pyarrow's own threads decode the columns in parallel when the block is read in the
    # client's process (Dask's threaded scheduler: the threads share pyarrow's one pool of
    # one thread per core); a worker process reads with its task's thread only, as its
    # cores are shared with the other workers of its host.
    threads = not _on_worker()
    try:
        if spec.row_range is not None:  # a row range of a large row group, in batches
            with _open_parquet(fs, spec.path, stream=True, dictionary=dictionary) as pf:
                names = list(columns)
                batch = _batch_rows(len(names), READ_BYTES)
                parts = list(_range_tables(pf, spec, names, batch, threads))
                table = pa.concat_tables(parts) if parts else _empty(pf, names)
        else:
            with _open_parquet(fs, spec.path, dictionary=dictionary) as pf:
                table = pf.read_row_groups(
                    list(spec.row_groups), columns=list(columns), use_threads=threads
                )
    except _read_errors(fs) as exc:
        raise DataError(f"cannot read {_where(spec)} of file {spec.path}: {exc}") from None
    if table.num_rows != spec.n_source_rows:
        raise DataError(
            f"file {spec.path} changed since it was opened: {_where(spec)} "
            f"hold {table.num_rows} rows, expected {spec.n_source_rows}"
        )
    mask = spec.keep_mask()
    if mask is not None:
        table = table.filter(pa.array(mask))
    return table


def _where(spec: BlockSpec) -> str:
    """The block's rows as a message names them: its row groups, or its row range."""
    if spec.row_range is None:
        return f"row groups {list(spec.row_groups)}"
    lo, hi = spec.row_range
    return f"rows {lo}:{hi} of row group {spec.row_groups[0]}"


def _empty(pf: pq.ParquetFile, columns: list[str]) -> pa.Table:
    return pf.schema_arrow.empty_table().select(columns)


def _batch_rows(n_columns: int, budget: int) -> int:
    """Rows of a batch of ``n_columns`` columns that fits in ``budget`` bytes while decoded."""
    return max(1024, budget // (2 * 8 * max(1, n_columns)))


def _range_tables(
    pf: pq.ParquetFile, spec: BlockSpec, columns: list[str], batch_rows: int, threads: bool
) -> Iterator[pa.Table]:
    """The rows ``spec.row_range`` of the block's row group, as tables of at most
    ``batch_rows`` rows. Parquet cannot seek to a row within a row group: the batches before
    the range are decoded and dropped, one at a time, and the read stops at its end, so it
    holds a batch of Arrow data at a time whatever the row group's size."""
    assert spec.row_range is not None
    lo, hi = spec.row_range
    (group,) = spec.row_groups
    if hi > pf.metadata.row_group(group).num_rows:
        raise ValueError(f"row group {group} holds fewer than {hi} rows")
    row = 0
    batches = pf.iter_batches(
        batch_size=batch_rows, row_groups=[group], columns=columns, use_threads=threads
    )
    for batch in batches:
        a, b = max(lo, row), min(hi, row + batch.num_rows)
        if b > a:
            yield pa.Table.from_batches([batch.slice(a - row, b - a)])
        row += batch.num_rows
        del batch
        if row >= hi:
            break


def _first_true(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _hints(plan: _Plan, role: str) -> tuple[str, str]:
    """What ends a value error of a ``role`` column (empty or `` (...)``): for a missing
    value (null, NaN), and for an inf. The caller's ``invalid_hint`` says how to drop such
    rows, then after ``", or "`` how to impute feature values: only a feature's missing
    value can be imputed, so the others get its first part, saying why."""
    full = plan.invalid_hint
    if plan.drop_invalid or not full:
        return "", ""
    drop = full.split(", or ")[0]
    inf = f" (inf is not a missing value and cannot be imputed; {drop})"
    if role == "feature":
        return ("" if plan.missing == "impute" else f" ({full})"), inf
    cannot = f" ({'labels' if role == 'label' else 'sample weights'} cannot be imputed; {drop})"
    return cannot, cannot


def _column_values(
    table: pa.Table,
    spec: BlockSpec | _Rows,
    name: str,
    role: str,
    rule: str,
    hints: tuple[str, str] = ("", ""),
) -> np.ndarray:
    """NumPy values of a column, raising on nulls and (for floats) non-finite values.

    ``hints`` (:func:`_hints`) end the message of a missing value and of an inf.
    """
    col = table.column(name)
    if col.null_count:
        i = _first_true(as_numpy(pc.is_null(col)))
        raise DataError(
            f"{rule}; got null in {role} column {name!r} at row {spec.file_row(i)} "
            f"of file {spec.path}{hints[0]}"
        )
    values = column_numpy(col)
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        if not finite.all():
            i = _first_true(~finite)
            raise DataError(
                f"{rule}; got {values[i]} in {role} column {name!r} at row {spec.file_row(i)} "
                f"of file {spec.path}{hints[0] if np.isnan(values[i]) else hints[1]}"
            )
    return values


def _features(
    table: pa.Table,
    spec: BlockSpec | _Rows,
    plan: _Plan,
    partition: dict[str, Any],
    out: np.ndarray | None = None,
    constants: bool = True,
) -> np.ndarray:
    """The ``(n, p)`` feature matrix of ``table``'s rows in the plan's dtype, C-ordered: each
    column is read once and copied tile by tile into the one preallocated array (``out`` when
    given), and the tile is checked finite while in cache. Any fault is then located and
    named by :func:`_feature_fault` (a slow path taken only for bad data). Features absent
    from ``table`` are left for another group of its columns; hive partition values are
    written with ``constants``."""
    X = np.empty((table.num_rows, len(plan.features)), dtype=plan.dtype) if out is None else out
    sources: list[Source] = []
    present = set(table.column_names)
    for j, name in enumerate(plan.features):
        if name in partition:
            if constants:
                sources.append(("value", j, partition[name]))
            continue
        if name not in present:
            continue  # read in another group of columns
        col = table.column(name)
        if col.null_count:
            _feature_fault(table, spec, plan, partition)
        sources.append(("value", j, column_numpy(col)))
    partial = len(sources) < len(plan.features)
    columns = [j for _, j, _ in sources] if partial else None
    if sources and not fill_tiles(X, sources, check_finite=True, columns=columns):
        _feature_fault(table, spec, plan, partition)
    return X


def _feature_fault(
    table: pa.Table, spec: BlockSpec | _Rows, plan: _Plan, partition: dict[str, Any]
) -> None:
    """Raise the DataError naming the first column, row and value of a block's features
    that is null, non-finite, or (for float32) out of range."""
    for name in plan.features:
        if name in partition or name not in table.column_names:
            continue
        values = _column_values(
            table,
            spec,
            name,
            "feature",
            "feature values must be finite and non-null",
            _hints(plan, "feature"),
        )
        if plan.dtype == "float32" and values.dtype.kind == "f" and values.dtype.itemsize > 4:
            with np.errstate(over="ignore"):
                finite = np.isfinite(values.astype(np.float32))
            if not finite.all():
                i = _first_true(~finite)
                raise DataError(
                    f"feature values must fit in float32; got {values[i]} in feature column "
                    f"{name!r} at row {spec.file_row(i)} of file {spec.path}"
                )
    raise DataError(f"feature values of file {spec.path} are not finite")  # pragma: no cover


def _labels(
    table: pa.Table, spec: BlockSpec | _Rows, plan: _Plan, partition: dict[str, Any]
) -> np.ndarray | None:
    """The block's raw label values (``None`` without a label column)."""
    if plan.label is None:
        return None
    if plan.label in partition:
        return np.full(table.num_rows, partition[plan.label])
    rule = "labels must be finite and non-null"
    y = _column_values(table, spec, plan.label, "label", rule, _hints(plan, "label"))
    if y.dtype.kind in "OUS":
        y = np.asarray(y, dtype=object)
    return y


def _weights(
    table: pa.Table, spec: BlockSpec | _Rows, plan: _Plan, partition: dict[str, Any]
) -> np.ndarray | None:
    """The block's sample weights as float64, checked non-negative (``None`` without)."""
    if plan.weight is None:
        return None
    if plan.weight in partition:
        w = np.full(table.num_rows, partition[plan.weight], dtype=np.float64)
    else:
        w = _column_values(
            table,
            spec,
            plan.weight,
            "weight",
            "sample weights must be finite and non-null",
            _hints(plan, "weight"),
        ).astype(np.float64, copy=False)
    if (w < 0).any():
        i = _first_true(w < 0)
        raise DataError(
            f"sample weights must be non-negative; got {w[i]} in weight column "
            f"{plan.weight!r} at row {spec.file_row(i)} of file {spec.path}"
        )
    return w


class _Rows:
    """The rows ``start:`` of a block, for error messages: its path and file rows."""

    __slots__ = ("path", "_spec", "_start")

    def __init__(self, spec: BlockSpec, start: int) -> None:
        self.path, self._spec, self._start = spec.path, spec, start

    def file_row(self, i: int) -> int:
        return self._spec.file_row(self._start + i)


#: Bytes of decoded Arrow columns a block read in a worker may hold at least (it may hold
#: up to a quarter of the block's X): larger row groups are read a few columns at a time.
READ_BYTES = 8 * 2**20


def _column_groups(
    plan: _Plan, partition: dict[str, Any], rows: int, budget: int
) -> list[list[str]]:
    """The columns of a row group of ``rows`` rows to read together: all of them when they
    fit in ``budget`` (about twice their values while decoding), else the label and weight
    first, then the features a few at a time (one at least)."""
    columns = list(plan.file_columns)
    per_column = 2 * 8 * max(1, rows)
    if plan.encoding is not None or len(columns) * per_column <= budget:
        return [columns]
    extra = [c for c in (plan.label, plan.weight) if c is not None and c not in partition]
    features = [c for c in columns if c not in extra]
    k = max(1, budget // per_column)
    return ([extra] if extra else []) + [features[i : i + k] for i in range(0, len(features), k)]


def dictionary_columns(plan: _Plan) -> list[str]:
    """The categorical columns, read as Arrow dictionaries when a block is encoded."""
    return [c for c, k in plan.feature_kinds if k == CATEGORICAL]


def _parts(
    fs: AbstractFileSystem, spec: BlockSpec, plan: _Plan, budget: int
) -> Iterator[tuple[pa.Table, int, bool]]:
    """The block's rows as tables (dropped rows removed): row group after row group, each
    read whole when its columns fit in ``budget`` bytes, else a group of columns at a time
    (:func:`_column_groups`); a block that is a row range of a row group in batches of rows
    that fit in ``budget`` (:func:`_range_tables`). With the block row each starts at and
    whether the table holds the first group of columns of its rows. Column chunks are
    streamed through a small buffer, never loaded whole, so a read holds about ``budget``
    of Arrow data besides the block's own arrays, whatever the row groups' size."""
    threads = not _on_worker()
    mask = spec.keep_mask()
    # block row of each source row: the kept rows before it
    kept_before = None if mask is None else np.concatenate([[0], np.cumsum(mask)])
    source = 0
    # categorical string columns read as dictionaries: a row group's distinct values are
    # looked up (or hashed) once each, then its codes taken (never a string per row)
    dictionary = dictionary_columns(plan) if plan.encoding else []
    try:
        with _open_parquet(fs, spec.path, stream=True, dictionary=dictionary) as pf:
            for pieces in _source_pieces(pf, spec, plan, budget, threads):
                n = 0
                for table, offset, first in pieces:
                    at, k = source + offset, table.num_rows
                    n = max(n, offset + k)
                    if mask is not None and kept_before is not None:
                        table = table.filter(pa.array(mask[at : at + k]))
                    yield table, at if kept_before is None else int(kept_before[at]), first
                    del table
                    if not threads:
                        _release_arrow_memory()
                source += n
    except _read_errors(fs) as exc:
        raise DataError(f"cannot read {_where(spec)} of file {spec.path}: {exc}") from None
    if source != spec.n_source_rows:
        raise DataError(
            f"file {spec.path} changed since it was opened: {_where(spec)} "
            f"hold {source} rows, expected {spec.n_source_rows}"
        )


def _source_pieces(
    pf: pq.ParquetFile, spec: BlockSpec, plan: _Plan, budget: int, threads: bool
) -> Iterator[Iterator[tuple[pa.Table, int, bool]]]:
    """Per row group of the block (or its one row range): its tables, each with its first
    row's offset within that row group's rows and whether it is the first group of columns."""
    columns = list(plan.file_columns)
    if spec.row_range is not None:
        rows = _range_tables(pf, spec, columns, _batch_rows(len(columns), budget), threads)
        yield _offsets(rows)
        return
    partition = dict(spec.partition)
    for g in spec.row_groups:
        n = pf.metadata.row_group(g).num_rows
        yield _column_group_tables(pf, g, n, _column_groups(plan, partition, n, budget), threads)


def _offsets(tables: Iterator[pa.Table]) -> Iterator[tuple[pa.Table, int, bool]]:
    offset = 0
    for table in tables:
        yield table, offset, True
        offset += table.num_rows


def _column_group_tables(
    pf: pq.ParquetFile, g: int, n: int, groups: list[list[str]], threads: bool
) -> Iterator[tuple[pa.Table, int, bool]]:
    for i, names in enumerate(groups):
        table = pf.read_row_group(g, columns=names, use_threads=threads)
        if table.num_rows != n:  # pragma: no cover - a file rewritten meanwhile
            raise ValueError(f"row group {g} changed size")
        yield table, 0, i == 0


def _read_block(
    fs: AbstractFileSystem, spec: BlockSpec, plan: _Plan, handed: Handed | None = None
) -> tuple[Any, np.ndarray | None, np.ndarray | None]:
    """Read one block: (X, y, w) as NumPy arrays, validated (y is None without a label); X
    is a :class:`~logloss.coded.CodedMatrix` when the encoding is coded.

    X, y and w are allocated once at their final size and filled from one row group (or
    group of columns of one) at a time (:func:`_parts`): the read's peak is the block's
    arrays plus about a quarter of X (at least :data:`READ_BYTES`) in a worker. ``handed``:
    the block's table, when the counting pass kept it (:class:`Handed`)."""
    partition = dict(spec.partition)
    n = spec.n_rows
    width = len(plan.features) if plan.encoding is None else plan.encoding.width
    enc = plan.encoding
    coded = enc is not None and enc.coded
    X: Any = codes.empty(enc, n, plan.dtype) if enc is not None and coded else None
    if X is None:
        X = np.empty((n, width), plan.dtype)
    w = None if plan.weight is None else np.empty(n, dtype=np.float64)
    labels: list[np.ndarray] = []
    # in a worker, within its memory limit; in the client's process (threads, data that
    # fits in its memory) a row group at a time, decoded with pyarrow's threads
    budget = max(READ_BYTES, X.nbytes // 4) if _on_worker() else max(READ_BYTES, X.nbytes)
    kept = None if handed is None else handed.take()
    numeric = None if kept is None else kept[1]
    known = None if kept is None else kept[2]  # the dictionary columns' entries' codes
    pieces = _parts(fs, spec, plan, budget) if kept is None else iter([(kept[0], 0, True)])
    del kept
    for table, start, first in pieces:
        k = table.num_rows
        if start + k > n:
            raise DataError(
                f"file {spec.path} changed since it was opened: {_where(spec)} "
                f"hold more than the {n} rows expected"
            )
        rows = _Rows(spec, start)
        if plan.encoding is None:
            out = X[start : start + k]
            _features(table, rows, plan, partition, out=out, constants=first)
        else:
            where = _where_of(spec.path, rows.file_row, plan)
            part = _with_partition(table, plan, partition)
            if enc is not None and coded:
                codes.encode_into(enc, part, plan.dtype, where, X, start, numeric, known)
            else:
                plan.encoding.encode(part, plan.dtype, where, X[start : start + k], numeric)
        if not first:
            continue
        y = _labels(table, rows, plan, partition)
        if y is not None:
            labels.append(y)
        wk = _weights(table, rows, plan, partition)
        if w is not None and wk is not None:
            w[start : start + k] = wk
    _release_arrow_memory()
    y_all = None
    if plan.label is not None:
        y_all = labels[0] if len(labels) == 1 else np.concatenate(labels)
    return X, y_all, w


def _read_labels(fs: AbstractFileSystem, spec: BlockSpec, plan: _Plan) -> np.ndarray:
    """Read one block's label column only (validated): what a pass over ``y`` alone needs
    (the label checks), without decoding the features."""
    assert plan.label is not None
    partition = dict(spec.partition)
    if plan.label in partition:
        return np.full(spec.n_rows, partition[plan.label])
    only = dataclasses.replace(plan, file_columns=(plan.label,), encoding=None, weight=None)
    labels = []
    for table, start, _ in _parts(fs, spec, only, READ_BYTES):
        y = _labels(table, _Rows(spec, start), only, partition)
        assert y is not None
        labels.append(y)
    return labels[0] if len(labels) == 1 else np.concatenate(labels)


def _where_of(path: str, file_row: Any, plan: _Plan) -> _Where:
    """Where an encoded block's rows are, for its errors: a missing value's hint, and an
    inf's (:func:`_hints`)."""
    missing, inf = _hints(plan, "feature")
    return _Where(path, file_row, missing, inf_hint=inf)


def _release_arrow_memory() -> None:
    """Return Arrow's freed pages to the system (its allocator keeps them otherwise)."""
    try:
        pa.default_memory_pool().release_unused()
    except Exception:  # pragma: no cover - an allocator without it
        pass


def _with_partition(table: pa.Table, plan: _Plan, partition: dict[str, Any]) -> pa.Table:
    """The table with the features that are hive partition keys added as constant columns."""
    for name in plan.features:
        if name in partition and name not in table.column_names:
            value = partition[name]
            table = table.append_column(name, pa.array(np.full(table.num_rows, value)))
    return table


def _block_stats(
    fs: AbstractFileSystem,
    spec: BlockSpec,
    plan: _Plan,
    max_categories: int,
    crosses: Sequence[tuple[str, str]] = (),
    cross_limit: int = 0,
    handed: Handed | None = None,
) -> dict[Any, Any]:
    """:func:`~logloss.data.counting.block_stats` of one block (the features and weights),
    and the pairs of values of ``crosses`` (at most ``cross_limit`` distinct: see
    :func:`~logloss.data.crosses.cross_counts`), under ("cross", A, B). ``handed``: the
    block's columns for its read are read instead, and kept there (:class:`Handed`)."""
    columns = [c for c in plan.file_columns if c != plan.label]
    categorical = {f for f, k in plan.feature_kinds if k == CATEGORICAL}
    # string columns read as dictionaries: their levels are counted per dictionary entry
    if handed is None:
        table = _read_table(fs, spec, columns, [c for c in columns if c in categorical])
    else:
        table = _read_table(fs, spec, handed.columns, handed.dictionary)
    partition = dict(spec.partition)
    w = _weights(table, spec, plan, partition)
    where = _where_of(spec.path, spec.file_row, plan)
    raw = table  # kept without the partition's columns, as a read of its file has them
    table = _with_partition(table, plan, partition)
    numeric: dict[str, Any] | None = None if handed is None else {}
    entries: dict[str, list[np.ndarray]] | None = None if handed is None else {}
    out: dict[Any, Any] = block_stats(
        table,
        plan.feature_kinds,
        w,
        where,
        plan.missing,
        max_categories,
        plan.log1p,
        numeric,
        entries,
    )
    for a, b in crosses:
        values = lambda n: categorical_values(table, n, where, plan.missing)  # noqa: E731
        out["cross", a, b] = cross_counts(table, (a, b), values, cross_limit)
    if handed is not None and numeric is not None:
        handed.put(raw, numeric, entries)
    return out


def _count_valid(fs: AbstractFileSystem, spec: BlockSpec, plan: _Plan) -> bytes | None:
    """Packed mask of the rows of a block whose used columns are all non-null and finite."""
    table = _read_table(fs, spec, plan.file_columns)
    keep = np.ones(table.num_rows, dtype=bool)
    for name in plan.file_columns:
        col = table.column(name)
        if col.null_count and not is_list(col.type):  # a null list: an empty bag
            keep &= ~as_numpy(pc.is_null(col))
        if pa.types.is_floating(col.type):
            keep &= as_numpy(pc.is_finite(col).fill_null(False))
    if keep.all():
        return None
    return np.packbits(keep).tobytes()


def read_block_columns(
    spec: BlockSpec, columns: Sequence[str], storage_options: dict[str, Any] | None = None
) -> pa.Table:
    """Read ``columns`` for exactly the rows of a block (dropped rows stay dropped).

    Columns may be any type, including the block's hive partition keys. The result has
    ``spec.n_rows`` rows, in block order, aligned with the block's rows of ``X``/``y``.
    """
    fs, _ = url_to_fs(spec.path, **(storage_options or {}))
    partition = dict(spec.partition)
    names = [c for c in columns if c not in partition]
    try:
        with _open_parquet(fs, spec.path) as pf:
            available = pf.schema_arrow.names
    except _read_errors(fs) as exc:
        raise DataError(f"cannot read file {spec.path} as Parquet: {exc}") from None
    for name in names:
        if name not in available:
            raise DataError(
                f"column {name!r} not found in file {spec.path}; available columns: "
                f"{', '.join(repr(c) for c in [*available, *partition])}"
            )
        if available.count(name) > 1:
            raise DataError(
                f"column names must be unique within a file; column {name!r} appears "
                f"{available.count(name)} times in file {spec.path}"
            )
    table = _read_table(fs, spec, names)
    for name in columns:
        if name in partition:
            table = table.append_column(name, pa.array(np.full(table.num_rows, partition[name])))
    return table.select(list(columns))
