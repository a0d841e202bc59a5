"""Sources -> files: local paths, directories, globs and fsspec URLs, with hive partitions.

A source is a path, a directory (searched recursively for Parquet files; hidden and
``_``-prefixed entries are skipped), a glob, a list of those, or any fsspec URL. Every file
found becomes a :class:`_File`: its display path (local path or URL) and the ``key=value``
directory names on its way from the root, decoded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.core import has_magic, url_to_fs
from fsspec.spec import AbstractFileSystem

from .errors import DataError

PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")


@dataclass(frozen=True)
class _File:
    path: str  # display path: local path or URL
    partition: tuple[tuple[str, str], ...]


def _is_local(fs: AbstractFileSystem) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocol or "local" in protocol


@contextmanager
def _open_parquet(
    fs: AbstractFileSystem, path: str, *, stream: bool = False, dictionary: Sequence[str] = ()
) -> Iterator[pq.ParquetFile]:
    """A ParquetFile over a local path (native reads) or an fsspec file, closed on exit.

    ``stream``: column chunks are read through a 1 MiB buffer as pages are decoded, not
    loaded whole first (bounded memory whatever the row groups' size). ``dictionary``:
    columns of the file read as Arrow dictionaries (a string column's dictionary pages
    decoded once per row group, its rows as indices; other types are read as usual)."""
    read_dictionary = {"read_dictionary": list(dictionary)} if dictionary else {}
    if _is_local(fs):
        # pre_buffer: a read of several columns is coalesced into few large reads
        opts: dict[str, Any] = (
            {"pre_buffer": False, "buffer_size": 2**20} if stream else {"pre_buffer": True}
        )
        with pq.ParquetFile(path, **opts, **read_dictionary) as pf:
            yield pf
    else:
        opts = {"buffer_size": 2**20} if stream else {}
        with fs.open(path, "rb") as f, pq.ParquetFile(f, **opts, **read_dictionary) as pf:
            yield pf


def _read_errors(fs: AbstractFileSystem) -> tuple[type[Exception], ...]:
    """What reading ``fs`` raises for an unreadable file or an unreachable store: OSError,
    Arrow's errors and ValueError on a local disk; any error on a remote store, whose client
    has its own types (botocore's ``EndpointConnectionError`` is not an OSError)."""
    return (OSError, pa.ArrowException, ValueError) if _is_local(fs) else (Exception,)


def _reason(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    first = (str(exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _hidden(relative: str) -> bool:
    return any(part.startswith((".", "_")) for part in relative.split("/") if part)


def _partition_of(relative: str) -> tuple[tuple[str, str], ...]:
    out = []
    for part in relative.split("/")[:-1]:
        if "=" in part:
            key, value = part.split("=", 1)
            out.append((key, unquote(value)))
    return tuple(out)


def _parse_number_kind(value: str) -> type:
    """The kind of a hive partition value: int, float (finite) or str."""
    try:
        int(value)
        return int
    except ValueError:
        pass
    try:
        return float if np.isfinite(float(value)) else str
    except ValueError:
        return str


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


def _glob_files(fs: AbstractFileSystem, path: str, text: str) -> list[tuple[str, str]]:
    """Parquet files matching the glob ``path`` (directories searched recursively)."""
    root = _glob_root(path)
    matches = sorted(fs.glob(path, detail=True).items())
    if not matches:
        raise DataError(f"path does not exist: no files match the glob {text}")
    found: list[tuple[str, str]] = []
    for match, info in matches:
        if info.get("type") == "directory":
            found += [(p, _relative(p, root)) for p, _ in _find_parquet(fs, match)]
        elif match.endswith(PARQUET_SUFFIXES) and not _hidden(_relative(match, root)):
            found.append((match, _relative(match, root)))
    return found


def _files_of(fs: AbstractFileSystem, path: str, text: str) -> list[tuple[str, str]]:
    """Parquet files named by one source item, as (path, path relative to its root)."""
    found: list[tuple[str, str]]
    if has_magic(path):
        found = _glob_files(fs, path, text)
    elif fs.isdir(path):
        found = _find_parquet(fs, path)
        if not found:
            raise DataError(
                f"directory {text} holds no Parquet files "
                f"(looked recursively for {', '.join('*' + s for s in PARQUET_SUFFIXES)})"
            )
    elif fs.isfile(path):
        found = [(path, path.rsplit("/", 1)[-1])]
    else:
        raise DataError(f"path does not exist: {text}")
    if not found:
        raise DataError(f"no Parquet files match {text}")
    return found


def _resolve(
    source: Any, storage_options: dict[str, Any] | None
) -> tuple[AbstractFileSystem, list[_File]]:
    """The filesystem and the Parquet files of ``source``, each once, in the order found."""
    items = [source] if isinstance(source, str | os.PathLike) else list(source)
    if not items:
        raise DataError("no input paths given: source is an empty list")
    fs: AbstractFileSystem | None = None
    files: list[_File] = []
    seen: set[str] = set()
    for item in items:
        text = os.fspath(item)
        try:  # a remote filesystem may connect to its store here
            item_fs, path = url_to_fs(text, **(storage_options or {}))
        except (OSError, ValueError, ImportError) as exc:
            raise DataError(f"cannot open {text}: {_reason(exc)}") from None
        except Exception as exc:  # a store client's own error type
            raise DataError(f"cannot reach the store of {text}: {_reason(exc)}") from None
        if fs is None:
            fs = item_fs
        elif item_fs.protocol != fs.protocol:
            raise DataError(
                f"all paths must be on one filesystem; got {fs.protocol!r} and "
                f"{item_fs.protocol!r} (path {text})"
            )
        try:
            listed = _files_of(item_fs, path, text)
        except DataError:
            raise
        except _read_errors(item_fs) as exc:
            raise DataError(f"cannot list {text}: {_reason(exc)}") from None
        for path_, rel in listed:
            shown = path_ if _is_local(item_fs) else item_fs.unstrip_protocol(path_)
            if shown not in seen:
                seen.add(shown)
                files.append(_File(shown, _partition_of(rel)))
    assert fs is not None
    return fs, files


def _describe(source: Any) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return ", ".join(os.fspath(s) for s in source)
