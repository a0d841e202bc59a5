"""Parquet footers: each file's schema, row-group sizes and identity, read without any data."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from fsspec.spec import AbstractFileSystem

from .discovery import _File, _is_local, _open_parquet, _parse_number_kind, _read_errors, _resolve
from .errors import DataError


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
    key: str  # changes when the file changes: the filesystem's ukey, else a footer hash
    identity: FileIdentity


def _read_footer(fs: AbstractFileSystem, file: _File) -> _Footer:
    try:
        with _open_parquet(fs, file.path) as pf:
            meta = pf.metadata
            rows = tuple(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
            schema = pf.schema_arrow
    except _read_errors(fs) as exc:
        raise DataError(f"cannot read file {file.path} as Parquet: {exc}") from None
    try:
        identity = _identity(fs, file.path, sum(rows))
    except _read_errors(fs) as exc:
        raise DataError(f"cannot read file {file.path} as Parquet: {exc}") from None
    try:
        key = str(fs.ukey(file.path))
    except Exception:  # a filesystem without ukey: fall back to the footer contents
        text = repr((rows, schema.to_string(), meta.serialized_size))
        key = hashlib.sha256(text.encode()).hexdigest()
    return _Footer(file, schema, rows, key, identity)


def _read_footers(fs: AbstractFileSystem, files: list[_File]) -> list[_Footer]:
    if len(files) <= 4:
        return [_read_footer(fs, f) for f in files]
    with ThreadPoolExecutor(max_workers=min(16, len(files))) as pool:
        return list(pool.map(lambda f: _read_footer(fs, f), files))


@dataclass(frozen=True)
class FooterStats:
    """What the footers of a source say about its columns, without reading any data.

    ``schema``: the first file's columns, then its hive partition keys (int64 or float64
    where their value is a number, else string); ``nulls``: per column asked for, its nulls
    by the row groups' statistics over the files kept (-1 where a file records none, or for
    a partition key); ``rows``: the rows of those files."""

    schema: pa.Schema
    nulls: dict[str, int]
    rows: int


def footer_stats(
    source: Any,
    names: Callable[[pa.Schema], list[str]],
    keep: Callable[[str], bool] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> FooterStats:
    """:class:`FooterStats` of ``source`` (paths, folders, globs or URLs, as
    :func:`~logloss.data.read_parquet` takes them), for the columns ``names(schema)``, over
    the files whose path ``keep`` accepts (all without it). Raises :class:`DataError` where
    the files cannot be listed or read."""
    fs, files = _resolve(source, storage_options)
    schema: pa.Schema | None = None
    nulls: dict[str, int] = {}
    rows = 0
    for file in files:
        if keep is not None and not keep(file.path):
            continue
        try:
            with _open_parquet(fs, file.path) as pf:
                meta = pf.metadata
                if schema is None:
                    kinds = {int: pa.int64(), float: pa.float64(), str: pa.string()}
                    keys = [pa.field(k, kinds[_parse_number_kind(v)]) for k, v in file.partition]
                    first = pf.schema_arrow
                    schema = pa.schema([*first, *(f for f in keys if f.name not in first.names)])
                    nulls = dict.fromkeys(names(schema), 0)
        except _read_errors(fs) as exc:
            raise DataError(f"cannot read file {file.path} as Parquet: {exc}") from None
        index = {meta.schema.column(j).name: j for j in range(meta.num_columns)}
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            rows += group.num_rows
            for n in nulls:
                stats = group.column(index[n]).statistics if n in index else None
                if stats is None or not stats.has_null_count or nulls[n] < 0:
                    nulls[n] = -1  # not recorded (or a partition key): not known
                else:
                    nulls[n] += stats.null_count
    if schema is None:  # no file kept: the first file's columns, and no rows
        with _open_parquet(fs, files[0].path) as pf:
            schema = pf.schema_arrow
        nulls = dict.fromkeys(names(schema), 0)
    return FooterStats(schema, nulls, rows)
