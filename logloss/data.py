"""Parquet data layer: files -> Dask arrays with known row chunks, validated block by block.

Conventions
-----------
- ``X`` is an ``(n, p)`` Dask array of ``float64`` or ``float32``, C-contiguous blocks, chunked
  by rows only: ``X.chunks == ((r1, r2, ...), (p,))``. Row chunk sizes come from the Parquet
  footers (row-group metadata), so they are known without reading any data.
- ``y`` holds the raw label values, ``(n,)``, same row chunks as ``X``: the column's own numeric
  dtype, ``bool``, or ``object`` for strings. Mapping labels to 0/1 is the caller's business
  (:meth:`Dataset.check_labels` returns the two distinct values, sorted).
- ``sample_weight`` is ``(n,)`` ``float64`` or ``None``.
- Block ``i`` of ``X``/``y``/``sample_weight`` is made of the row groups ``blocks[i].row_groups``
  of the file ``blocks[i].path``. The three arrays share one read task per block, so computing
  or persisting them *together* (``dask.persist(X, y, w)`` or :meth:`Dataset.persist`) reads
  each file once.
- Cheap checks (paths, footers, schemas, column names and types) run eagerly in
  :func:`read_parquet`; value checks (null / NaN / inf, negative weights) run inside each block
  task and raise :class:`DataError` when the block is computed. Row numbers in messages are
  0-based indices within the file.
- Hive partition directories (``key=value/``) become columns; they are used only when named
  explicitly (as ``label``, ``weight`` or in ``features``) and only if every value is numeric.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import getitem
from typing import Any
from urllib.parse import unquote

import dask
import dask.array as da
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph
from fsspec.core import has_magic, url_to_fs
from fsspec.spec import AbstractFileSystem

__all__ = [
    "DEFAULT_INVALID_HINT",
    "BlockSpec",
    "DataError",
    "Dataset",
    "FileIdentity",
    "read_block_columns",
    "read_parquet",
]

PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
_DTYPES = ("float64", "float32")
_MAX_LISTED = 10


class DataError(ValueError):
    """Bad input data.

    The message states the rule, and names the file, the column and the offending value.
    Raised eagerly by :func:`read_parquet` and lazily inside Dask block tasks (then re-raised on
    the client by Dask); it holds a single string argument so that it pickles.
    """


PartitionValue = int | float


@dataclass(frozen=True)
class BlockSpec:
    """Where the rows of one block come from.

    ``path`` is a local path or an fsspec URL; ``row_groups`` are consecutive row groups of that
    file; ``n_rows`` is the number of rows in the block (after dropping invalid rows);
    ``row_offset`` is the file row index of the first row of ``row_groups[0]``; ``n_source_rows``
    counts the rows of those row groups before dropping; ``partition`` holds the file's numeric
    hive partition values; ``keep`` is a packed bit mask (``np.packbits``) over the source rows
    when rows were dropped, else ``None``.
    """

    path: str
    row_groups: tuple[int, ...]
    n_rows: int
    row_offset: int = 0
    n_source_rows: int = -1
    partition: tuple[tuple[str, PartitionValue], ...] = ()
    keep: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.n_source_rows < 0:
            object.__setattr__(self, "n_source_rows", self.n_rows)

    def keep_mask(self) -> np.ndarray | None:
        """Boolean mask over the block's source rows (``None`` when no row was dropped)."""
        if self.keep is None:
            return None
        bits = np.unpackbits(np.frombuffer(self.keep, dtype=np.uint8), count=self.n_source_rows)
        return bits.astype(bool)

    def file_row(self, i: int) -> int:
        """File row index (0-based) of row ``i`` of the block."""
        mask = self.keep_mask()
        if mask is None:
            return self.row_offset + i
        return self.row_offset + int(np.flatnonzero(mask)[i])


@dataclass(frozen=True, eq=False)
class Dataset:
    """Lazy arrays over a Parquet dataset; see the module docstring for conventions."""

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
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def n_rows(self) -> int:
        """Number of rows (after dropping invalid rows), known from the footers."""
        return int(sum(b.n_rows for b in self.blocks))

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def persist(self) -> Dataset:
        """Persist ``X``, ``y`` and ``sample_weight`` together, reading each block once."""
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
        parts = dask.compute(*[dask.delayed(_first_seen)(b) for b in self.y.to_delayed()])
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


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


# --------------------------------------------------------------------------------------------
# Source resolution


@dataclass(frozen=True)
class _File:
    path: str  # display path: local path or URL
    partition: tuple[tuple[str, str], ...]


def _is_local(fs: AbstractFileSystem) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocol or "local" in protocol


def _hidden(relative: str) -> bool:
    return any(part.startswith((".", "_")) for part in relative.split("/") if part)


def _partition_of(relative: str) -> tuple[tuple[str, str], ...]:
    out = []
    for part in relative.split("/")[:-1]:
        if "=" in part:
            key, value = part.split("=", 1)
            out.append((key, unquote(value)))
    return tuple(out)


def _relative(path: str, root: str) -> str:
    root = root.rstrip("/")
    return path[len(root) + 1 :] if path.startswith(root + "/") else path.rsplit("/", 1)[-1]


def _find_parquet(fs: AbstractFileSystem, root: str) -> list[tuple[str, str]]:
    """Parquet files under ``root`` (recursively) as (path, path relative to root)."""
    found = []
    for path in sorted(fs.find(root)):
        rel = _relative(path, root)
        if rel.endswith(PARQUET_SUFFIXES) and not _hidden(rel):
            found.append((path, rel))
    return found


def _glob_root(path: str) -> str:
    parts = path.split("/")
    static = []
    for part in parts:
        if has_magic(part):
            break
        static.append(part)
    return "/".join(static)


def _resolve(
    source: Any, storage_options: dict[str, Any] | None
) -> tuple[AbstractFileSystem, list[_File]]:
    items = [source] if isinstance(source, str | os.PathLike) else list(source)
    if not items:
        raise DataError("no input paths given: source is an empty list")
    fs: AbstractFileSystem | None = None
    files: list[_File] = []
    seen: set[str] = set()
    for item in items:
        text = os.fspath(item)
        item_fs, path = url_to_fs(text, **(storage_options or {}))
        if fs is None:
            fs = item_fs
        elif item_fs.protocol != fs.protocol:
            raise DataError(
                f"all paths must be on one filesystem; got {fs.protocol!r} and "
                f"{item_fs.protocol!r} (path {text})"
            )
        found: list[tuple[str, str]]
        if has_magic(path):
            root = _glob_root(path)
            matches = sorted(item_fs.glob(path, detail=True).items())
            if not matches:
                raise DataError(f"path does not exist: no files match the glob {text}")
            found = []
            for match, info in matches:
                if info.get("type") == "directory":
                    found += [(p, _relative(p, root)) for p, _ in _find_parquet(item_fs, match)]
                elif match.endswith(PARQUET_SUFFIXES) and not _hidden(_relative(match, root)):
                    found.append((match, _relative(match, root)))
        elif item_fs.isdir(path):
            found = _find_parquet(item_fs, path)
            if not found:
                raise DataError(
                    f"directory {text} holds no Parquet files "
                    f"(looked recursively for {', '.join('*' + s for s in PARQUET_SUFFIXES)})"
                )
        elif item_fs.isfile(path):
            found = [(path, path.rsplit("/", 1)[-1])]
        else:
            raise DataError(f"path does not exist: {text}")
        if not found:
            raise DataError(f"no Parquet files match {text}")
        for path_, rel in found:
            shown = path_ if _is_local(item_fs) else item_fs.unstrip_protocol(path_)
            if shown not in seen:
                seen.add(shown)
                files.append(_File(shown, _partition_of(rel)))
    assert fs is not None
    return fs, files


# --------------------------------------------------------------------------------------------
# Footers


@dataclass(frozen=True, order=True)
class FileIdentity:
    """What identifies a file's contents without reading its data.

    ``path`` is the local path (absolute) or URL; ``size`` is in bytes; ``version`` is the
    modification time in nanoseconds for local files, else what the filesystem's ``info``
    reports among modification time, ETag, checksum or generation (``""`` if none);
    ``n_rows`` is the footer's row count.
    """

    path: str
    size: int
    version: str
    n_rows: int


_VERSION_KEYS = (
    "mtime",
    "LastModified",
    "last_modified",
    "modified",
    "updated",
    "ETag",
    "etag",
    "md5Hash",
    "crc32c",
    "generation",
    "created",
)


def _identity(fs: AbstractFileSystem, path: str, n_rows: int) -> FileIdentity:
    if _is_local(fs):
        st = os.stat(path)
        return FileIdentity(path, st.st_size, str(st.st_mtime_ns), n_rows)
    info = fs.info(path)
    version = ";".join(f"{k}={info[k]}" for k in _VERSION_KEYS if info.get(k) is not None)
    return FileIdentity(path, int(info.get("size") or 0), version, n_rows)


@dataclass(frozen=True)
class _Footer:
    file: _File
    schema: pa.Schema
    row_group_rows: tuple[int, ...]
    key: str
    identity: FileIdentity


@contextmanager
def _open_parquet(fs: AbstractFileSystem, path: str) -> Iterator[pq.ParquetFile]:
    """A ParquetFile over a local path (native reads) or an fsspec file, closed on exit."""
    if _is_local(fs):
        with pq.ParquetFile(path) as pf:
            yield pf
    else:
        with fs.open(path, "rb") as f, pq.ParquetFile(f) as pf:
            yield pf


def _read_footer(fs: AbstractFileSystem, file: _File) -> _Footer:
    try:
        with _open_parquet(fs, file.path) as pf:
            meta = pf.metadata
            rows = tuple(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
            schema = pf.schema_arrow
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise DataError(f"cannot read file {file.path} as Parquet: {exc}") from None
    try:
        identity = _identity(fs, file.path, sum(rows))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read file {file.path} as Parquet: {exc}") from None
    try:
        key = str(fs.ukey(file.path))
    except Exception:  # a filesystem without ukey: fall back to the footer contents
        key = tokenize(rows, schema.to_string(), meta.serialized_size)
    return _Footer(file, schema, rows, key, identity)


def _read_footers(fs: AbstractFileSystem, files: list[_File]) -> list[_Footer]:
    if len(files) <= 4:
        return [_read_footer(fs, f) for f in files]
    with ThreadPoolExecutor(max_workers=min(16, len(files))) as pool:
        return list(pool.map(lambda f: _read_footer(fs, f), files))


# --------------------------------------------------------------------------------------------
# Column plan


def _numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t))


def _stringy(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


@dataclass(frozen=True)
class _Plan:
    features: tuple[str, ...]
    label: str | None
    weight: str | None
    dtype: str
    file_columns: tuple[str, ...]  # columns to read from the files
    drop_invalid: bool
    invalid_hint: str | None = None  # appended to value errors as " (<hint>)"


def _partition_kinds(footers: list[_Footer]) -> dict[str, type]:
    """Numeric partition keys present in every file, mapped to int or float."""
    keys: dict[str, type] | None = None
    for footer in footers:
        kinds = {}
        for key, value in footer.file.partition:
            kinds[key] = _parse_number_kind(value)
        if keys is None:
            keys = {k: v for k, v in kinds.items() if v is not str}
        else:
            keys = {
                k: (float if float in (v, kinds[k]) else int)
                for k, v in keys.items()
                if kinds.get(k, str) is not str
            }
    return keys or {}


def _parse_number_kind(value: str) -> type:
    try:
        int(value)
        return int
    except ValueError:
        pass
    try:
        return float if np.isfinite(float(value)) else str
    except ValueError:
        return str


def _available(footer: _Footer) -> str:
    cols = list(footer.schema.names) + [k for k, _ in footer.file.partition]
    return ", ".join(repr(c) for c in cols)


def _some_files(paths: Sequence[str], limit: int = 3) -> str:
    """A few file names, then how many more."""
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _field_types(footer: _Footer) -> dict[str, list[pa.DataType]]:
    """Column name -> the types of the file's columns of that name (several if duplicated)."""
    out: dict[str, list[pa.DataType]] = {}
    for f in footer.schema:
        out.setdefault(f.name, []).append(f.type)
    return out


def _type_groups(
    footers: list[_Footer], types: list[dict[str, list[pa.DataType]]], name: str
) -> str:
    """'double in a, b; int64 in c' for the files that hold column ``name``."""
    groups: dict[str, list[str]] = {}
    for footer, cols in zip(footers, types, strict=True):
        if name in cols:
            groups.setdefault(str(cols[name][0]), []).append(footer.file.path)
    return "; ".join(f"{t} in file {_some_files(paths)}" for t, paths in sorted(groups.items()))


def _make_plan(
    footers: list[_Footer],
    label: str | None,
    features: Sequence[str] | None,
    weight: str | None,
    dtype: str,
    drop_invalid: bool,
    invalid_hint: str | None = None,
) -> tuple[_Plan, dict[str, type]]:
    """Decide the columns from all footers; the decision does not depend on the file order.

    Files are considered sorted by path; with ``features=None`` the feature order is the column
    order of the first file by path. A used column (feature, label, weight) must be present in
    every file, once, with one type; with ``features=None`` every column that is numeric in some
    file counts as used.
    """
    if isinstance(features, str):
        raise TypeError("features must be a sequence of column names, not a string")
    if weight is not None and weight == label:
        raise DataError(f"weight column must differ from the label column; got {weight!r}")
    if features is not None:
        feats = list(features)
        if not feats:
            raise DataError("features must name at least one column; got an empty list")
        dupes = sorted({f for f in feats if feats.count(f) > 1})
        if dupes:
            raise DataError(
                f"feature columns must be distinct; got {', '.join(repr(d) for d in dupes)} "
                f"more than once in features {feats}"
            )
        for role, name in (("label", label), ("weight", weight)):
            if name is not None and name in feats:
                raise DataError(
                    f"column {name!r} cannot be both a feature and the {role} column; "
                    f"remove it from features"
                )

    ordered = sorted(footers, key=lambda f: f.file.path)
    n_files = len(ordered)
    types = [_field_types(f) for f in ordered]
    partition_kinds = _partition_kinds(ordered)
    partition_keys = {k for f in ordered for k, _ in f.file.partition}
    reference = ordered[0]

    if features is None:
        # candidates: every column numeric in at least one file, in the reference file's order
        names: list[str] = []
        for cols in types:
            names += [n for n in cols if n not in names]
        candidates = [
            n
            for n in names
            if n not in (label, weight) and any(_numeric(t) for c in types for t in c.get(n, []))
        ]
        feats = candidates
        if not feats:
            raise DataError(
                f"no numeric feature columns in file {reference.file.path} besides the label "
                f"{label!r}; available columns: {_available(reference)}"
            )
    used = [*feats] + [c for c in (label, weight) if c is not None]
    auto = features is None

    def role_of(name: str) -> str:
        return "label" if name == label else "weight" if name == weight else "feature"

    file_columns: list[str] = []
    for name in used:
        holders = [i for i, cols in enumerate(types) if name in cols]
        role = role_of(name)
        # a name that is a hive partition key in a file that also holds a column of that name
        both = [
            ordered[i].file.path
            for i in holders
            if any(k == name for k, _ in ordered[i].file.partition)
        ]
        if both:
            raise DataError(
                f"column names must be unambiguous; {role} column {name!r} is both a hive "
                f"partition key (directory {name}=...) and a column in file {_some_files(both)}"
            )
        if not holders:
            if name in partition_kinds:
                continue  # a numeric partition key of every file
            if name in partition_keys:
                bad = [
                    f.file.path
                    for f in ordered
                    if _parse_number_kind(dict(f.file.partition).get(name, "")) is str
                ]
                raise DataError(
                    f"partition column {name!r} must be numeric in every file to be used; "
                    f"got non-numeric or missing values in {len(bad)} of {n_files} files: "
                    f"{_some_files(bad)}"
                )
            where = f"file {reference.file.path}" if n_files == 1 else f"any of {n_files} files"
            raise DataError(
                f"{role} column {name!r} not found in {where}; available columns"
                f"{'' if n_files == 1 else ' in ' + reference.file.path}: {_available(reference)}"
            )
        if len(holders) < n_files:
            missing = [f.file.path for i, f in enumerate(ordered) if i not in set(holders)]
            first_missing = ordered[[i for i in range(n_files) if i not in holders][0]]
            hint = (
                "; every numeric column is a feature when features are not given: name the "
                "features explicitly to leave it out"
                if auto and role == "feature"
                else ""
            )
            raise DataError(
                f"{role} column {name!r} not found in {len(missing)} of {n_files} files: "
                f"{_some_files(missing)} (available columns in {first_missing.file.path}: "
                f"{_available(first_missing)}); every file must hold the used columns{hint}"
            )
        dup = [i for i in holders if len(types[i][name]) > 1]
        if dup:
            raise DataError(
                f"column names must be unique within a file; {role} column {name!r} appears "
                f"{len(types[dup[0]][name])} times in file "
                f"{_some_files([ordered[i].file.path for i in dup])}"
            )
        kinds = {str(types[i][name][0]) for i in holders}
        if len(kinds) > 1:
            raise DataError(
                f"files must agree on column types; {role} column {name!r} is "
                f"{_type_groups(ordered, types, name)}"
            )
        t = types[holders[0]][name][0]
        if role == "label":
            if not (_numeric(t) or _stringy(t)):
                raise DataError(
                    f"label column {name!r} must be numeric, bool or string; got type {t} "
                    f"in file {_some_files([ordered[i].file.path for i in holders])}"
                )
        elif not _numeric(t):
            raise DataError(
                f"{role} column {name!r} must be numeric (int, float or bool); got type {t} "
                f"in file {_some_files([ordered[i].file.path for i in holders])}"
            )
        file_columns.append(name)
    plan = _Plan(
        tuple(feats), label, weight, dtype, tuple(file_columns), drop_invalid, invalid_hint
    )
    return plan, {k: v for k, v in partition_kinds.items() if k in used}


def _label_dtype(footers: list[_Footer], label: str, partition_kinds: dict[str, type]) -> Any:
    if label in partition_kinds:
        return np.dtype(np.int64 if partition_kinds[label] is int else np.float64)
    t = footers[0].schema.field(label).type
    if _stringy(t):
        return np.dtype(object)
    return np.dtype(t.to_pandas_dtype())


# --------------------------------------------------------------------------------------------
# Blocks


def _plan_blocks(
    footers: list[_Footer], partition_kinds: dict[str, type], row_bytes: int, block_bytes: int
) -> list[BlockSpec]:
    blocks = []
    for footer in footers:
        part = tuple(
            (k, partition_kinds[k](v)) for k, v in footer.file.partition if k in partition_kinds
        )
        groups: list[int] = []
        rows = offset = start = 0
        for i, n in enumerate(footer.row_group_rows):
            if groups and (rows + n) * row_bytes > block_bytes:
                blocks.append(BlockSpec(footer.file.path, tuple(groups), rows, start, rows, part))
                groups, rows = [], 0
            if n == 0:
                continue
            if not groups:
                start = offset
            groups.append(i)
            rows += n
            offset += n
        if groups:
            blocks.append(BlockSpec(footer.file.path, tuple(groups), rows, start, rows, part))
    return blocks


def _read_table(fs: AbstractFileSystem, spec: BlockSpec, columns: Sequence[str]) -> pa.Table:
    try:
        with _open_parquet(fs, spec.path) as pf:
            table = pf.read_row_groups(
                list(spec.row_groups), columns=list(columns), use_threads=False
            )
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise DataError(
            f"cannot read row groups {list(spec.row_groups)} of file {spec.path}: {exc}"
        ) from None
    if table.num_rows != spec.n_source_rows:
        raise DataError(
            f"file {spec.path} changed since it was opened: row groups {list(spec.row_groups)} "
            f"hold {table.num_rows} rows, expected {spec.n_source_rows}"
        )
    mask = spec.keep_mask()
    if mask is not None:
        table = table.filter(pa.array(mask))
    return table


def _first_true(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _column_values(
    table: pa.Table, spec: BlockSpec, name: str, role: str, rule: str, hint: str = ""
) -> np.ndarray:
    """NumPy values of a column, raising on nulls and (for floats) non-finite values.

    ``hint`` (empty or `` (...)``) ends the message.
    """
    col = table.column(name)
    if col.null_count:
        i = _first_true(pc.is_null(col).to_numpy(zero_copy_only=False))
        raise DataError(
            f"{rule}; got null in {role} column {name!r} at row {spec.file_row(i)} "
            f"of file {spec.path}{hint}"
        )
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    values = col.to_numpy()
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        if not finite.all():
            i = _first_true(~finite)
            raise DataError(
                f"{rule}; got {values[i]} in {role} column {name!r} at row {spec.file_row(i)} "
                f"of file {spec.path}{hint}"
            )
    return values


DEFAULT_INVALID_HINT = "pass drop_invalid=True to drop such rows"


def _read_block(
    fs: AbstractFileSystem, spec: BlockSpec, plan: _Plan
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Read one block: (X, y, w) as NumPy arrays, validated (y is None without a label)."""
    table = _read_table(fs, spec, plan.file_columns)
    n = table.num_rows
    partition = dict(spec.partition)
    X = np.empty((n, len(plan.features)), dtype=plan.dtype)
    hint = "" if plan.drop_invalid or not plan.invalid_hint else f" ({plan.invalid_hint})"
    for j, name in enumerate(plan.features):
        if name in partition:
            X[:, j] = partition[name]
            continue
        values = _column_values(
            table, spec, name, "feature", "feature values must be finite and non-null", hint
        )
        with np.errstate(over="ignore"):
            X[:, j] = values
        if plan.dtype == "float32" and values.dtype.kind == "f" and values.dtype.itemsize > 4:
            finite = np.isfinite(X[:, j])
            if not finite.all():
                i = _first_true(~finite)
                raise DataError(
                    f"feature values must fit in float32; got {values[i]} in feature column "
                    f"{name!r} at row {spec.file_row(i)} of file {spec.path}"
                )
    y: np.ndarray | None = None
    if plan.label is None:
        pass
    elif plan.label in partition:
        y = np.full(n, partition[plan.label])
    else:
        y = _column_values(
            table, spec, plan.label, "label", "labels must be finite and non-null", hint
        )
        if y.dtype.kind in "OUS":
            y = np.asarray(y, dtype=object)
    w: np.ndarray | None = None
    if plan.weight is not None:
        if plan.weight in partition:
            w = np.full(n, partition[plan.weight], dtype=np.float64)
        else:
            w = _column_values(
                table,
                spec,
                plan.weight,
                "weight",
                "sample weights must be finite and non-null",
                hint,
            ).astype(np.float64, copy=False)
        if (w < 0).any():
            i = _first_true(w < 0)
            raise DataError(
                f"sample weights must be non-negative; got {w[i]} in weight column "
                f"{plan.weight!r} at row {spec.file_row(i)} of file {spec.path}"
            )
    return X, y, w


def _count_valid(fs: AbstractFileSystem, spec: BlockSpec, plan: _Plan) -> bytes | None:
    """Packed mask of the rows of a block whose used columns are all non-null and finite."""
    table = _read_table(fs, spec, plan.file_columns)
    keep = np.ones(table.num_rows, dtype=bool)
    for name in plan.file_columns:
        col = table.column(name)
        if col.null_count:
            keep &= ~pc.is_null(col).to_numpy(zero_copy_only=False)
        if pa.types.is_floating(col.type):
            keep &= pc.is_finite(col).fill_null(False).to_numpy(zero_copy_only=False)
    if keep.all():
        return None
    return np.packbits(keep).tobytes()


def _drop_invalid(
    fs: AbstractFileSystem, blocks: list[BlockSpec], plan: _Plan
) -> tuple[list[BlockSpec], int]:
    masks = dask.compute(*[dask.delayed(_count_valid)(fs, b, plan) for b in blocks])
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


def _build_arrays(
    fs: AbstractFileSystem,
    blocks: list[BlockSpec],
    plan: _Plan,
    y_dtype: Any,
    token: str,
) -> tuple[da.Array, da.Array | None, da.Array | None]:
    read = f"read-parquet-{token}"
    names = {"X": f"parquet-X-{token}", "y": f"parquet-y-{token}", "w": f"parquet-w-{token}"}
    read_layer: dict[Any, Any] = {
        (read, i): (_read_block, fs, spec, plan) for i, spec in enumerate(blocks)
    }
    rows = tuple(b.n_rows for b in blocks)

    def array(kind: str, index: int, chunks: tuple[tuple[int, ...], ...], dtype: Any) -> da.Array:
        name = names[kind]
        extra = (0,) * (len(chunks) - 1)
        layer: dict[Any, Any] = {
            (name, i, *extra): (getitem, (read, i), index) for i in range(len(blocks))
        }
        graph = HighLevelGraph({read: read_layer, name: layer}, {read: set(), name: {read}})
        return da.Array(graph, name, chunks=chunks, dtype=dtype)

    X = array("X", 0, (rows, (len(plan.features),)), np.dtype(plan.dtype))
    y = array("y", 1, (rows,), y_dtype) if plan.label is not None else None
    w = array("w", 2, (rows,), np.dtype(np.float64)) if plan.weight is not None else None
    return X, y, w


# --------------------------------------------------------------------------------------------
# Public API


def _describe(source: Any) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return ", ".join(os.fspath(s) for s in source)


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
) -> Dataset:
    """Open a Parquet dataset as lazy Dask arrays with known row chunks.

    ``source`` is a file, a directory (searched recursively for ``*.parquet``, ``*.parq``,
    ``*.pq``; hidden and ``_``-prefixed entries are skipped), a glob, a list of those, or any
    fsspec URL (``storage_options`` go to the filesystem). ``features=None`` takes every
    int/float/bool column except the label and weight (they must be in every file).
    Each block is one row group or several consecutive row groups of one file, holding about
    ``block_bytes`` of feature data. With ``drop_invalid=True`` rows with a null, NaN or inf in
    any used column are dropped (one extra pass over the used columns counts them); otherwise
    such values raise :class:`DataError` when the block is computed.
    ``label=None`` reads features (and weights) only, for prediction; then ``y`` is None.
    ``invalid_hint`` ends those value errors as `` (<hint>)`` (nothing when ``None``): say how
    the caller's user drops such rows, or ``None`` where they cannot.

    The columns are decided from all footers, the same way whatever the file order: a used
    column (feature, label, weight; with ``features=None`` every column numeric in some file)
    missing from some files, duplicated within a file, also a hive partition key of a file
    that holds it, or of different types in different files raises :class:`DataError` naming
    the column and the files. With ``features=None`` the feature order is the column order of
    the first file by path.
    """
    if invalid_hint is not None and not isinstance(invalid_hint, str):
        raise TypeError(f"invalid_hint must be a string or None; got {invalid_hint!r}")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}; got {dtype!r}")
    if block_bytes <= 0:
        raise ValueError(f"block_bytes must be positive; got {block_bytes}")
    shown = _describe(source)
    fs, files = _resolve(source, storage_options)
    footers = _read_footers(fs, files)
    plan, partition_kinds = _make_plan(
        footers, label, features, weight, dtype, drop_invalid, invalid_hint
    )
    row_bytes = max(1, len(plan.features)) * np.dtype(dtype).itemsize
    blocks = _plan_blocks(footers, partition_kinds, row_bytes, block_bytes)
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
    y_dtype = _label_dtype(footers, label, partition_kinds) if label is not None else None
    token = tokenize(fs.protocol, [f.key for f in footers], blocks, plan, str(y_dtype), block_bytes)
    X, y, w = _build_arrays(fs, blocks, plan, y_dtype, token)
    return Dataset(
        X=X,
        y=y,
        sample_weight=w,
        feature_names=list(plan.features),
        label=label,
        weight=weight,
        blocks=blocks,
        source=shown,
        n_dropped=n_dropped,
        drop_invalid=drop_invalid,
        files=tuple(f.identity for f in footers),
    )


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
    except (OSError, pa.ArrowException, ValueError) as exc:
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
