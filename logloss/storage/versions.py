"""Locations: immutable version folders and one pointer file, ``latest``, written last.

A location is a local path, a ``file://`` URL or any fsspec URL (``s3://``, ``memory://``)::

    latest              {"format": "logloss-latest", "kind": "model", "version": "v000007-1a2b3c4d"}
    v000007-1a2b3c4d/   the version in force: complete, never modified
    v000006-9f8e7d6c/   the previous one (kept for a rollback)
    .v000008-5e6f7a8b.tmp/   a local save in progress (renamed into place once complete)

Version names are a sequence number (the largest at the location + 1) and a random suffix:
no clock orders them. A save writes its whole version (locally into a hidden staging folder
that is fsynced and renamed; on a store straight under its prefix, its commit file last:
``model.json`` or the predictions marker), then replaces ``latest`` (locally a temporary file,
fsync and ``os.replace``; on a store one put), re-reads it, then cleans up: complete versions
older than the previous one, and staging or unfinished versions untouched for
:data:`STALE_AFTER` seconds by the location's own clock (the pointer's modification time).
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

LATEST = "latest"
LATEST_FORMAT = "logloss-latest"
COMMIT_FILES = ("model.json", "_logloss_predictions.json")
VERSION_RE = re.compile(r"^v(\d{6,})-[0-9a-f]{8}$")
STAGING_RE = re.compile(r"^\.(v(\d{6,})-[0-9a-f]{8}|latest\.[0-9a-f]{8})\.tmp$")
#: logloss 0.1's own entries (a model directory, a URL model, published versions).
OLD_RE = re.compile(r"^(\.current|\.v-\d+-\d+-[0-9a-f]{8}|_logloss_model\.json)$")
OLD_VERSION_RE = re.compile(r"^\d{8}T\d{6}Z(-[0-9a-f]{6})?$")
OLD_POINTER = "_logloss_model.json"
STALE_AFTER = 600.0
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class StoreError(ValueError):
    """A store that cannot be opened or written; says what was kept."""

    def __init__(self, url: str, reason: str, message: str = "") -> None:
        super().__init__(message or f"cannot open {url!r}: {reason}")
        self.url, self.reason = url, reason


def is_url(path: Any) -> bool:
    """True for an fsspec URL that is not a local file (``file://`` is a local path)."""
    if not isinstance(path, str | os.PathLike):
        return False
    text = os.fspath(path)
    return bool(_URL_RE.match(text)) and not text.startswith("file://")


def split_url(url: str) -> tuple[Any, str]:
    """(filesystem, path inside it); :class:`StoreError` when its store cannot be opened."""
    from fsspec.core import url_to_fs

    try:
        fs, path = url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise StoreError(url, str(exc)) from None
    return fs, str(path).rstrip("/") or str(path)


@dataclass(frozen=True)
class Location:
    shown: str  # as the user wrote it (a path or a URL)
    store: Any  # the fsspec filesystem; None for a local path until it is needed
    path: str  # inside ``fs``
    local: bool

    @property
    def fs(self) -> Any:
        if self.store is not None:
            return self.store
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem()

    def exists(self, *names: str) -> bool:
        p = self.join(*names)
        return os.path.exists(p) if self.local else bool(self.fs.exists(p))

    def isfile(self, *names: str) -> bool:
        p = self.join(*names)
        return os.path.isfile(p) if self.local else bool(self.fs.isfile(p))

    def join(self, *names: str) -> str:
        return posixpath.join(self.path, *names)

    def sub(self, name: str) -> Location:
        return Location(posixpath.join(self.shown, name), self.store, self.join(name), self.local)

    def target(self, name: str) -> str:
        """Where writers (Dask workers too) open ``name``: a local path or a full URL."""
        return self.join(name) if self.local else self.fs.unstrip_protocol(self.join(name))


def locate(path: str | os.PathLike[str]) -> Location:
    text = os.fspath(path).rstrip("/") or os.fspath(path)
    if text.startswith("file://"):
        text = text[len("file://") :]
    if is_url(text):
        return Location(text, *split_url(text), local=False)
    return Location(text, None, os.path.abspath(os.path.expanduser(text)), True)


def names(loc: Location) -> list[str]:
    """The entries directly under ``loc`` (none when it is absent)."""
    if loc.local:
        try:
            return sorted(os.listdir(loc.path))
        except (FileNotFoundError, NotADirectoryError):
            return []
    try:
        entries = loc.fs.ls(loc.path, detail=False)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted({posixpath.basename(str(e).rstrip("/")) for e in entries} - {""})


def read_json(loc: Location, name: str, limit: int = 1 << 16) -> Any:
    try:
        with open(loc.join(name), "rb") if loc.local else loc.fs.open(loc.join(name), "rb") as fh:
            return json.loads(fh.read(limit).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def pointer(loc: Location) -> tuple[str, str] | None:
    """(version, kind) that ``loc/latest`` names (also 0.1's symlink), or None."""
    link = loc.join(LATEST)
    if loc.local and os.path.islink(link):
        return os.path.basename(os.readlink(link).rstrip("/")), "model"
    doc = read_json(loc, LATEST)
    if isinstance(doc, dict) and doc.get("format") == LATEST_FORMAT:
        v = doc.get("version")
        if isinstance(v, str) and v and "/" not in v and v[0] != ".":
            return v, str(doc.get("kind", "model"))
    return None


def set_pointer(loc: Location, version: str, kind: str = "model") -> None:
    """Point ``loc/latest`` at ``version`` (promote or roll back): one atomic step."""
    doc = {"format": LATEST_FORMAT, "kind": kind, "version": version}
    data = (json.dumps(doc) + "\n").encode()
    if loc.local:
        atomic_write_bytes(loc.join(LATEST), data, tmp=f".latest.{secrets.token_hex(4)}.tmp")
    else:
        loc.fs.pipe_file(loc.join(LATEST), data)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, tmp: str = "") -> Any:
    """Write a local file through a temporary beside it, fsync and ``os.replace``."""
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(tmp or f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(staging, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(staging, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(staging)
        raise
    _fsync(str(path.parent))
    return path


def _fsync(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _order(name: str) -> tuple[int, str]:
    m = VERSION_RE.match(name) or STAGING_RE.match(name)
    return (int(m[1] if VERSION_RE.match(name) else m[2] or 0), name) if m else (-1, name)


def complete(loc: Location, version: str) -> bool:
    return any(loc.exists(version, f) for f in COMMIT_FILES)


def list_versions(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The complete versions at ``path``, oldest first: name, location, in force, and the
    metadata of their commit file (model.json or the predictions marker)."""
    loc = locate(path)
    now = pointer(loc)
    out = []
    for name in sorted((n for n in names(loc) if VERSION_RE.match(n)), key=_order):
        meta = next(
            (
                d
                for f in COMMIT_FILES
                if isinstance(d := read_json(loc, f"{name}/{f}", 1 << 24), dict)
            ),
            None,
        )
        if meta is not None:
            out.append(
                {
                    "version": name,
                    "path": loc.sub(name).shown,
                    "current": now is not None and now[0] == name,
                    "meta": meta,
                }
            )
    return out


def promote(path: str | os.PathLike[str], version: str) -> None:
    """Make ``version`` (a complete version at ``path``) the one readers get."""
    loc = locate(path)
    if not VERSION_RE.match(version) or not complete(loc, version):
        raise StoreError(loc.shown, "", f"{loc.shown!r} has no complete version {version!r}")
    kind = "predictions" if loc.exists(version, COMMIT_FILES[1]) else "model"
    set_pointer(loc, version, kind)


def _error(
    loc: Location, what: str, exc: BaseException, kept: tuple[str, str] | None
) -> StoreError:
    reason = (
        exc.strerror
        if isinstance(exc, OSError) and exc.strerror
        else str(exc) or type(exc).__name__
    )
    keep = (
        f"kept {loc.sub(kept[0]).shown!r}, the {what} in force" if kept else "nothing was written"
    )
    msg = f"cannot write the {what} to {loc.shown!r}: {type(exc).__name__}: {reason}; {keep}"
    return StoreError(loc.shown, reason, msg)


def _ours(exc: BaseException) -> bool:
    """True for errors of logloss, Python or Dask (raised as they are), not of a store."""
    mod = type(exc).__module__.split(".")[0]
    return not isinstance(exc, OSError) and mod in ("logloss", "builtins", "dask", "distributed")


def commit(loc: Location, kind: str, write: Callable[[str], None]) -> str:
    """Write a new version with ``write(target)`` (a local staging folder, or the version's
    URL at a store, its commit file last), then point ``latest`` at it; returns its name."""
    kept = pointer(loc)
    seq = max([_order(n)[0] for n in names(loc)] + [0]) + 1
    name = f"v{seq:06d}-{secrets.token_hex(4)}"
    work = loc.join(f".{name}.tmp" if loc.local else name)
    fresh = loc.local and not os.path.exists(loc.path)
    try:
        if loc.local:
            os.makedirs(work)
        write(work if loc.local else loc.target(name))
        if loc.local:
            _fsync_tree(work)
            os.rename(work, loc.join(name))  # made durable with the pointer's rename
        before = pointer(loc)
        if before is None or _order(before[0]) < _order(name):  # never back past a later save
            set_pointer(loc, name, kind)
        now = pointer(loc)
    except BaseException as exc:
        _remove(loc, work)
        if (pointer(loc) or ("",))[0] != name:
            _remove(loc, loc.join(name))
        if fresh:
            with contextlib.suppress(OSError):
                os.rmdir(loc.path)
        if isinstance(exc, Exception) and not _ours(exc):
            raise _error(loc, kind, exc, kept) from None
        raise
    if now is not None and not complete(loc, now[0]):
        # a concurrent clean-up removed the version just named: name the newest complete one
        done = [n for n in names(loc) if VERSION_RE.match(n) and complete(loc, n)]
        set_pointer(loc, max(done, key=_order, default=name), kind)
        now = pointer(loc)
    if now is None or not complete(loc, now[0]):  # a save returns only what readers get
        msg = f"{loc.shown!r}: 'latest' names no complete version after this save wrote it"
        raise StoreError(loc.shown, "", msg)
    clean(loc, now[0])
    return name


def _fsync_tree(root: str) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            _fsync(os.path.join(dirpath, f))
        _fsync(dirpath)


def _remove(loc: Location, path: str) -> None:
    with contextlib.suppress(OSError):
        if loc.local and (os.path.islink(path) or os.path.isfile(path)):
            os.unlink(path)
        elif loc.local:
            shutil.rmtree(path)
        else:
            loc.fs.rm(path, recursive=True)


def _newest(loc: Location, name: str) -> float:
    """The latest modification time under ``loc/name``, by the location's clock."""
    paths = [loc.join(name)]
    with contextlib.suppress(OSError):
        paths += list(loc.fs.find(loc.join(name)))
    times = []
    for p in paths:
        with contextlib.suppress(OSError, NotImplementedError, ValueError):
            times.append(loc.fs.modified(p).timestamp())
    return max(times, default=float("inf"))


def legacy(loc: Location, entries: list[str]) -> list[str]:
    """The entries logloss 0.1 wrote here that this layout no longer needs."""
    found = [n for n in entries if OLD_RE.match(n)]
    if loc.local:
        found += [
            n
            for n in entries
            if os.path.islink(p := loc.join(n)) and os.readlink(p).startswith(".current/")
        ]
    if OLD_POINTER in entries and "report.html" in entries:
        found.append("report.html")
    if COMMIT_FILES[1] in entries:  # a 0.1 predictions directory: the marker and its parts
        found += [n for n in entries if n == COMMIT_FILES[1] or re.match(r"^part-\d+\.parquet$", n)]
    return sorted(set(found))


def clean(loc: Location, current: str) -> None:
    """Remove complete versions older than the previous one, staging and unfinished
    versions untouched for :data:`STALE_AFTER` seconds, and what 0.1 left here."""
    entries = names(loc)
    older = [
        n
        for n in entries
        if VERSION_RE.match(n) and _order(n) < _order(current) and complete(loc, n)
    ]
    for n in sorted(older, key=_order)[:-1]:  # keep the previous version for a rollback
        _remove(loc, loc.join(n))
    with contextlib.suppress(OSError, NotImplementedError, ValueError):
        now = loc.fs.modified(loc.join(LATEST)).timestamp()
        for n in entries:
            unfinished = VERSION_RE.match(n) and n != current and not complete(loc, n)
            if (unfinished or STAGING_RE.match(n)) and now - _newest(loc, n) > STALE_AFTER:
                _remove(loc, loc.join(n))
    for n in legacy(loc, entries):
        _remove(loc, loc.join(n))


def resolve(path: str | os.PathLike[str]) -> Location:
    """The folder holding the files in force: follows ``latest`` (a pointer file, 0.1's
    symlink) and 0.1's ``_logloss_model.json``; a path to a ``latest`` file follows it."""
    loc = locate(path)
    if posixpath.basename(loc.path) == LATEST and loc.isfile():
        parent = posixpath.dirname(loc.shown.rstrip("/")) or "."
        loc = Location(parent, loc.store, posixpath.dirname(loc.path), loc.local)
    for _ in range(3):
        found = pointer(loc)
        if found is None:
            doc = read_json(loc, OLD_POINTER)
            v = doc.get("version") if isinstance(doc, dict) else None
            if not (isinstance(v, str) and re.match(r"^\.v-\d+-\d+-[0-9a-f]{8}$", v)):
                return loc
            found = v, "model"
        loc = loc.sub(found[0])
    return loc


@contextlib.contextmanager
def staging_dir() -> Iterator[str]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="logloss-") as tmp:
        yield tmp
