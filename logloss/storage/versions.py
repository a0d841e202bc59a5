"""Locations: immutable version folders and a pointer file ``latest``, written last.

A location (a local path, ``file://`` or any fsspec URL) holds ``latest`` (JSON naming the
version in force), ``v000007-1a2b3c4d/`` folders (a sequence number, the largest + 1, and a
random suffix: no clock orders them) and, locally, ``.v000008-....tmp/`` staging folders.
A save writes its version (locally: staged, fsynced, renamed; on a store: under its prefix,
its commit file last), replaces ``latest`` (locally: temporary file, fsync, ``os.replace``;
on a store: one put), re-reads it, then cleans up: versions older than the previous one, and
staging or unfinished versions untouched for :data:`STALE_AFTER` s by the location's clock.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LATEST, LATEST_FORMAT = "latest", "logloss-latest"
COMMIT_FILES = ("model.json", "_logloss_predictions.json")  # a version is complete with one
VERSION_RE = re.compile(r"^v(\d{6,})-[0-9a-f]{8}$")
STAGING_RE = re.compile(r"^\.(v(\d{6,})-[0-9a-f]{8}|latest\.[0-9a-f]{8})\.tmp$")
OLD_RE = re.compile(r"^(\.current|\.v-\d+-\d+-[0-9a-f]{8}|_logloss_model\.json)$")  # 0.1's
OLD_VERSION_RE = re.compile(r"^\d{8}T\d{6}Z(-[0-9a-f]{6})?$")  # 0.1's published versions
OLD_POINTER = "_logloss_model.json"
STALE_AFTER = 600.0
StrPath = str | os.PathLike[str]  # a local path or a URL


class StoreError(ValueError):
    """A store that cannot be opened or written; the message says what was kept."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason  # the store's own words


def is_url(path: Any) -> bool:
    """True for an fsspec URL that is not a local file (``file://`` is a local path)."""
    text = os.fspath(path) if isinstance(path, str | os.PathLike) else ""
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text)) and text[:7] != "file://"


def split_url(url: str) -> tuple[Any, str]:
    """(filesystem, path inside it); :class:`StoreError` when its store cannot be opened."""
    from fsspec.core import url_to_fs

    try:
        fs, path = url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise StoreError(f"cannot open {url!r}: {exc}", str(exc)) from None
    return fs, str(path).rstrip("/") or str(path)


@dataclass(frozen=True)
class Location:
    shown: str  # as the user wrote it
    fs: Any  # the fsspec filesystem (a LocalFileSystem for a local path)
    path: str
    local: bool

    def join(self, *names: str) -> str:
        return posixpath.join(self.path, *names)

    def fresh(self, *names: str) -> str:
        """The path of ``names``, with what a store's client cached of it forgotten (older
        s3fs serve a file's old size, or an old listing, after another process wrote it)."""
        p = self.join(*names)
        if not self.local:
            self.fs.invalidate_cache(p)
        return p

    def exists(self, *names: str) -> bool:
        return bool(self.fs.exists(self.fresh(*names)))

    def isfile(self, *names: str) -> bool:
        return bool(self.fs.isfile(self.fresh(*names)))

    def open(self, *names: str) -> Any:
        return self.fs.open(self.fresh(*names), "rb")

    def sub(self, name: str) -> Location:
        return Location(posixpath.join(self.shown, name), self.fs, self.join(name), self.local)


def locate(path: StrPath) -> Location:
    text = (os.fspath(path).rstrip("/") or os.fspath(path)).removeprefix("file://")
    if is_url(text):
        return Location(text, *split_url(text), local=False)
    from fsspec.implementations.local import LocalFileSystem

    return Location(text, LocalFileSystem(), os.path.abspath(os.path.expanduser(text)), True)


def names(loc: Location) -> list[str]:
    """The entries directly under ``loc`` (none when it is absent)."""
    try:
        entries = loc.fs.ls(loc.fresh(), detail=False)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted({posixpath.basename(str(e).rstrip("/")) for e in entries} - {""})


def read_json(loc: Location, name: str, limit: int = 1 << 16) -> Any:
    try:
        with loc.open(name) as fh:
            return json.loads(fh.read(limit).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def pointer(loc: Location) -> tuple[str, str] | None:
    """(version, kind) that ``loc/latest`` names (0.1's symlink too), or None."""
    if loc.local and os.path.islink(link := loc.join(LATEST)):
        return os.path.basename(os.readlink(link).rstrip("/")), "model"
    doc = read_json(loc, LATEST)
    if not isinstance(doc, dict) or doc.get("format") != LATEST_FORMAT:
        return None
    v = doc.get("version")
    ok = isinstance(v, str) and v[:1] not in ("", ".") and "/" not in v  # a name here
    return (str(v), str(doc.get("kind", "model"))) if ok else None


def set_pointer(loc: Location, version: str, kind: str = "model") -> None:
    """Point ``loc/latest`` at ``version`` in one atomic step."""
    data = (json.dumps({"format": LATEST_FORMAT, "kind": kind, "version": version}) + "\n").encode()
    if loc.local:
        atomic_write_bytes(loc.join(LATEST), data)  # staged as .latest.<random>.tmp
    else:
        loc.fs.pipe_file(loc.join(LATEST), data)


def atomic_write_bytes(path: StrPath, data: bytes) -> Any:
    """Write a local file through a temporary beside it, fsync and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
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


def _fsync(*paths: str) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _order(name: str) -> tuple[int, str]:
    m = re.match(r"^\.?v(\d{6,})-[0-9a-f]{8}(\.tmp)?$", name)
    return (int(m[1]), name) if m else (-1, name)


def complete(loc: Location, version: str) -> bool:
    return any(loc.exists(version, f) for f in COMMIT_FILES)


def current(loc: Location) -> str:
    """The version ``loc/latest`` names ("" when none)."""
    return (pointer(loc) or ("",))[0]


def list_versions(path: StrPath) -> list[dict[str, Any]]:
    """The complete versions at ``path``, oldest first: version, path, current, meta."""
    loc = locate(path)
    now, found = current(loc), []
    for n in sorted(filter(VERSION_RE.match, names(loc)), key=_order):
        docs = [read_json(loc, posixpath.join(n, f), 1 << 24) for f in COMMIT_FILES]
        if meta := next((d for d in docs if isinstance(d, dict)), None):
            found.append(dict(version=n, path=loc.sub(n).shown, current=n == now, meta=meta))
    return found


def promote(path: StrPath, version: str) -> None:
    """Make ``version`` (a complete version at ``path``) the one readers get: a rollback."""
    loc = locate(path)
    if not VERSION_RE.match(version) or not complete(loc, version):
        raise StoreError(f"{loc.shown!r} has no complete version {version!r}")
    set_pointer(loc, version, "predictions" if loc.exists(version, COMMIT_FILES[1]) else "model")


def _failed(
    loc: Location, what: str, exc: Exception, kept: tuple[str, str] | None, keep: str = ""
) -> StoreError:
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    keep = keep or (
        f"kept {loc.sub(kept[0]).shown!r}, the {what} in force" if kept else "nothing written"
    )
    msg = f"cannot write the {what} to {loc.shown!r}: {type(exc).__name__}: {why}; {keep}"
    return StoreError(msg, why)


def _ours(exc: BaseException) -> bool:
    """logloss's own errors (they name what they stopped), bugs and interrupts: raised as
    they are; anything else is a store's or the disk's."""
    mod = type(exc).__module__.split(".")[0]
    plain = mod in ("builtins", "dask", "distributed") and not isinstance(exc, OSError)
    return mod == "logloss" or plain or not isinstance(exc, Exception)


@contextlib.contextmanager
def reaching(
    loc: Location, what: str, kept: tuple[str, str] | None = None, keep: str = ""
) -> Iterator[None]:
    """A store's or the disk's error in the block: a :class:`StoreError` naming ``loc``."""
    try:
        yield
    except Exception as exc:
        if _ours(exc):
            raise
        raise _failed(loc, what, exc, kept, keep) from None


def commit(loc: Location, kind: str, write: Callable[[str], None]) -> str:
    """A new version written by ``write(staging folder or URL)``, then named by ``latest``."""
    with reaching(loc, kind):  # a store lost before anything is written
        kept = pointer(loc)
        name = f"v{max([_order(n)[0] for n in names(loc)] + [0]) + 1:06d}-{secrets.token_hex(4)}"
        work, fresh = loc.join(f".{name}.tmp" if loc.local else name), not loc.exists()
    try:
        if loc.local:
            os.makedirs(work)
        write(work if loc.local else loc.fs.unstrip_protocol(work))
        if loc.local:
            _fsync(*[os.path.join(d, f) for d, _, fs in os.walk(work) for f in fs], work)
            os.rename(work, loc.join(name))  # made durable with the pointer's rename
        if _order(current(loc)) < _order(name):  # never back past a later save
            set_pointer(loc, name, kind)
    except BaseException as exc:
        with contextlib.suppress(Exception):  # a store that cannot be read: nothing removed
            for p in [work] + ([loc.join(name)] if current(loc) != name else []):
                _remove(loc, p)
        if fresh and loc.local:
            with contextlib.suppress(OSError):
                os.rmdir(loc.path)
        if isinstance(exc, Exception) and not _ours(exc):  # a store's or the disk's error
            raise _failed(loc, kind, exc, kept) from None
        raise
    was = f"{loc.sub(kept[0]).shown!r}" if kept else "nothing"
    with reaching(loc, kind, keep=f"wrote {loc.sub(name).shown!r}; 'latest' names it or {was}"):
        now = current(loc)
        ours = [n for n in names(loc) if VERSION_RE.match(n) and _order(n) >= _order(name)]
        best = max((n for n in ours if complete(loc, n)), key=_order, default=name)
        if not now or not complete(loc, now) or _order(now) < _order(best):
            # a concurrent save moved `latest` back past this one (or a newer complete one),
            # or a concurrent clean-up removed the version it names: the newest complete one
            set_pointer(loc, best, kind)
        if not (now := current(loc)) or not complete(loc, now):  # success: what readers get
            raise StoreError(f"{loc.shown!r}: 'latest' names no complete version")
    with contextlib.suppress(StoreError), reaching(loc, kind):  # clean-up is best-effort
        clean(loc, now)
    return name


def _remove(loc: Location, path: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        if loc.local and os.path.islink(path):  # the link itself (dangling too), never its target
            os.unlink(path)
        else:
            loc.fs.rm(path, recursive=True)


def _newest(loc: Location, name: str) -> float:
    """The latest modification time under ``loc/name``, by the location's clock."""
    times = []
    with contextlib.suppress(OSError):
        for p in [loc.join(name), *loc.fs.find(loc.join(name))]:
            with contextlib.suppress(OSError, NotImplementedError, ValueError):
                times.append(loc.fs.modified(p).timestamp())
    return max(times, default=float("inf"))


def legacy(loc: Location, entries: list[str]) -> list[str]:
    """The entries logloss 0.1 wrote here that this layout no longer needs."""
    found = {n for n in entries if OLD_RE.match(n)}
    if loc.local:
        links = (n for n in entries if os.path.islink(loc.join(n)))
        found |= {n for n in links if os.readlink(loc.join(n)).startswith(".current/")}
    if OLD_POINTER in entries and "report.html" in entries:
        found.add("report.html")  # 0.1's copy of the page at the top of a URL model
    if COMMIT_FILES[1] in entries:  # a 0.1 predictions directory: the marker and its parts
        found |= {n for n in entries if n == COMMIT_FILES[1] or re.match(r"^part-\d+\.parquet$", n)}
    return sorted(found)


def clean(loc: Location, current: str) -> None:
    """Remove all but the current and previous versions, stale staging, and 0.1's entries."""
    entries = names(loc)
    now = pointer(loc)  # read again: a concurrent save may have moved it since
    current = min(current, now[0] if now else current, key=_order)
    older = [n for n in entries if VERSION_RE.match(n) and _order(n) < _order(current)]
    for n in sorted(filter(lambda n: complete(loc, n), older), key=_order)[:-1]:
        _remove(loc, loc.join(n))  # the previous version stays, for a rollback
    with contextlib.suppress(OSError, NotImplementedError, ValueError):
        now = loc.fs.modified(loc.join(LATEST)).timestamp()
        for n in entries:
            unfinished = VERSION_RE.match(n) and n != current and not complete(loc, n)
            if (unfinished or STAGING_RE.match(n)) and now - _newest(loc, n) > STALE_AFTER:
                _remove(loc, loc.join(n))
    for n in legacy(loc, entries):
        _remove(loc, loc.join(n))


def resolve(path: StrPath) -> Location:
    """The folder in force at ``path``, following ``latest`` (or 0.1's pointers) from it."""
    loc = locate(path)
    if posixpath.basename(loc.path) == LATEST and loc.isfile():
        parent = posixpath.dirname(loc.shown) or "."
        loc = Location(parent, loc.fs, posixpath.dirname(loc.path), loc.local)
    for _ in range(3):
        if (found := pointer(loc)) is None:
            doc = read_json(loc, OLD_POINTER)
            old = doc.get("version") if isinstance(doc, dict) else None
            if not (isinstance(old, str) and OLD_RE.match(old)):
                return loc
            found = old, "model"
        loc = loc.sub(found[0])
    return loc
