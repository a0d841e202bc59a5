"""Locations: immutable version folders and a pointer file ``latest``, written last.

A location (a local path, ``file://`` or any fsspec URL) holds ``latest`` (JSON naming the
version in force), ``v000007-1a2b3c4d/`` folders (a sequence number, the largest + 1, and a
random suffix: no clock orders them) and, locally, ``.v000008-....tmp/`` staging folders.
A save writes its version (locally: staged, fsynced, renamed; on a store: under its prefix,
its commit file last), replaces ``latest`` (locally: temporary file, fsync, ``os.replace``;
on a store: one put), re-reads it, then cleans up: versions older than the previous one, and
staging or unfinished versions untouched for :data:`STALE_AFTER` s by the location's clock.

Each version written by :func:`commit` also holds ``_version.json`` (:data:`RECORD_FILE`,
written before anything else of it): when it was made, its data window, its metrics and its
verdict (:data:`VERDICTS`) with the reason. A ``rejected`` version is kept but ``latest`` is
never moved to it; a ``refused`` one is a record only (no model). Neither is ever served:
``latest`` heals to the newest *servable* version, and :func:`promote` refuses them.
Retention keeps the last ``keep`` versions, ``latest`` and the previous champion.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
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
RECORD_FILE, RECORD_FORMAT = "_version.json", "logloss-version"
VERDICTS = ("promoted", "rejected", "refused")  # only a promoted (or 0.2's) version is served
KEEP_VERSIONS = 2  # retention's default: the version in force and the one before it
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


def has_data(loc: Location, version: str) -> bool:
    """Whether ``version`` holds its model (or predictions): its commit file is there."""
    return any(loc.exists(version, f) for f in COMMIT_FILES)


def record_of(loc: Location, version: str) -> dict[str, Any] | None:
    """The version's ``_version.json`` (None: absent, unreadable, or of an older version)."""
    doc = read_json(loc, posixpath.join(version, RECORD_FILE), 1 << 24)
    return doc if isinstance(doc, dict) and doc.get("format") == RECORD_FORMAT else None


def verdict_of(loc: Location, version: str) -> str:
    """The version's verdict: its record's, ``promoted`` for a version without one."""
    return str((record_of(loc, version) or {}).get("verdict", "promoted"))


def complete(loc: Location, version: str) -> bool:
    """Whether ``version`` is whole: its commit file is there, or it is a refused record."""
    return has_data(loc, version) or verdict_of(loc, version) == "refused"


def servable(loc: Location, version: str) -> bool:
    """Whether readers may get ``version``: complete and neither rejected nor refused."""
    return has_data(loc, version) and verdict_of(loc, version) not in ("rejected", "refused")


def current(loc: Location) -> str:
    """The version ``loc/latest`` names ("" when none)."""
    return (pointer(loc) or ("",))[0]


def list_versions(path: StrPath) -> list[dict[str, Any]]:
    """The complete versions at ``path``, oldest first: version, path, current, meta (its
    model.json or predictions marker; ``{}`` for a refused record) and record (its
    ``_version.json``, None for older versions)."""
    loc = locate(path)
    with reaching(loc, "versions", keep="nothing changed"):
        now, found = current(loc), []
        for n in sorted(filter(VERSION_RE.match, names(loc)), key=_order):
            docs = [read_json(loc, posixpath.join(n, f), 1 << 24) for f in COMMIT_FILES]
            meta = next((d for d in docs if isinstance(d, dict)), None)
            record = record_of(loc, n)
            if meta is None and (record or {}).get("verdict") == "refused":
                meta = {}
            if meta is not None:
                shown = loc.sub(n).shown
                found.append(
                    dict(version=n, path=shown, current=n == now, meta=meta, record=record)
                )
    return found


def describe_versions(path: StrPath) -> list[dict[str, Any]]:
    """Every version at ``path``, oldest first, as ``logloss versions --json`` shows it:
    ``version``, ``created`` (ISO, UTC; None for a version older than its record),
    ``window`` (the data window it was trained on, or None), ``metrics``, ``verdict``
    (:data:`VERDICTS`), ``reason`` and ``latest`` (True for the one served)."""
    loc = locate(path)
    with reaching(loc, "versions", keep="nothing changed"):
        if not loc.exists():
            raise StoreError(f"{loc.shown!r} does not exist")
    out = []
    for v in list_versions(path):
        record, meta = v["record"] or {}, v["meta"] or {}
        training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
        out.append(
            {
                "version": v["version"],
                "created": record.get("created") or (training or {}).get("trained_at"),
                "window": record.get("window"),
                "metrics": record.get("metrics") or (training or {}).get("metrics") or {},
                "verdict": record.get("verdict", "promoted"),
                "reason": record.get("reason", ""),
                "latest": bool(v["current"]),
            }
        )
    return out


def promote(path: StrPath, version: str) -> None:
    """Make ``version`` (a complete, servable version at ``path``) the one readers get: a
    rollback too. :class:`StoreError` (one line) for a version that is not there, is not
    complete, or was rejected or refused (never served)."""
    loc = locate(path)
    with reaching(loc, "pointer", keep="'latest' unchanged"):
        if not VERSION_RE.match(version) or not loc.exists(version):
            raise StoreError(f"{loc.shown!r} has no complete version {version!r}")
        if not complete(loc, version):
            raise StoreError(f"{loc.sub(version).shown!r} is not a complete version")
        if (verdict := verdict_of(loc, version)) in ("rejected", "refused"):
            why = (record_of(loc, version) or {}).get("reason") or "no reason recorded"
            raise StoreError(f"{loc.sub(version).shown!r} was {verdict} ({why}): never served")
        kind = "predictions" if loc.exists(version, COMMIT_FILES[1]) else "model"
        set_pointer(loc, version, kind)


def make_record(
    version: str,
    *,
    verdict: str,
    reason: str = "",
    record: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``_version.json`` of ``version``: ``record``'s fields (``window``, ``metrics`` and
    any others: a gate's numbers, data checks), the verdict, the reason, the time (UTC)."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}; got {verdict!r}")
    doc = {"window": None, "metrics": {}, **dict(record or {})}
    created = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    doc.update(format=RECORD_FORMAT, version=version, created=created)
    doc.update(verdict=verdict, reason=str(reason))
    return doc


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


def commit(
    loc: Location,
    kind: str,
    write: Callable[[str], None],
    *,
    promote: bool = True,
    verdict: str | None = None,
    reason: str = "",
    record: Mapping[str, Any] | None = None,
    keep: int | None = None,
) -> str:
    """A new version written by ``write(staging folder or URL)``, then (``promote``) named
    by ``latest``; returns its name.

    Its ``_version.json`` (:func:`make_record`: ``record``, ``verdict``, default
    ``promoted`` with ``promote`` else ``rejected``, and ``reason``) is written first.
    Without ``promote`` the version is kept but ``latest`` stays where it is (healed to the
    newest servable version when what it names is gone). ``keep``: the versions retention
    keeps (:func:`clean`; default :data:`KEEP_VERSIONS`)."""
    verdict = verdict or ("promoted" if promote else "rejected")
    if promote and verdict != "promoted":
        raise ValueError(f"a {verdict} version cannot be promoted")
    if keep is not None and keep < 1:
        raise ValueError(f"keep_versions must be at least 1; got {keep}")
    with reaching(loc, kind):  # a store lost before anything is written
        kept = pointer(loc)
        name = f"v{max([_order(n)[0] for n in names(loc)] + [0]) + 1:06d}-{secrets.token_hex(4)}"
        work, fresh = loc.join(f".{name}.tmp" if loc.local else name), not loc.exists()
    made = make_record(name, verdict=verdict, reason=reason, record=record)
    doc = (json.dumps(made, indent=2, default=str) + "\n").encode()
    try:
        if loc.local:
            os.makedirs(work)
            Path(work, RECORD_FILE).write_bytes(doc)
        else:
            if "local" in _protocols(loc.fs):  # local:// (a store's way, on a disk)
                loc.fs.makedirs(work, exist_ok=True)
            loc.fs.pipe_file(posixpath.join(work, RECORD_FILE), doc)
        write(work if loc.local else loc.fs.unstrip_protocol(work))
        if loc.local:
            _fsync(*[os.path.join(d, f) for d, _, fs in os.walk(work) for f in fs], work)
            os.rename(work, loc.join(name))  # made durable with the pointer's rename
        if promote and _order(current(loc)) < _order(name):  # never back past a later save
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
        now = _heal(loc, kind, name, promote)
    with contextlib.suppress(StoreError), reaching(loc, kind):  # clean-up is best-effort
        clean(loc, now or name, keep=keep)
    return name


def _protocols(fs: Any) -> tuple[str, ...]:
    return fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)


def _heal(loc: Location, kind: str, name: str, promote: bool) -> str:
    """``latest`` after saving ``name``: moved on to the newest servable version when a
    concurrent save moved it back past this one, or a clean-up removed what it names.
    Returns what it names ("" only when no version is servable and none was promoted)."""
    now = current(loc)
    ours = [n for n in names(loc) if VERSION_RE.match(n) and _order(n) >= _order(name)]
    if not promote:  # only a broken pointer is mended, never moved past the champion
        ours = [n for n in names(loc) if VERSION_RE.match(n)] if now else []
    best = max((n for n in ours if servable(loc, n)), key=_order, default="")
    if best and (not now or not servable(loc, now) or (promote and _order(now) < _order(best))):
        set_pointer(loc, best, kind)
    now = current(loc)
    if (now or promote) and (not now or not servable(loc, now)):  # success: what readers get
        raise StoreError(f"{loc.shown!r}: 'latest' names no complete version")
    return now


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


def champions(loc: Location, now: str) -> list[str]:
    """The versions retention never removes besides the last ones: ``now`` (what ``latest``
    names) and the previous champion (the newest servable version before it)."""
    older = [n for n in names(loc) if VERSION_RE.match(n) and _order(n) < _order(now)]
    previous = max((n for n in older if servable(loc, n)), key=_order, default="")
    return [n for n in (now, previous) if n]


def clean(loc: Location, current: str, *, keep: int | None = None) -> list[str]:
    """Remove complete versions but the last ``keep`` (default :data:`KEEP_VERSIONS`),
    ``latest`` and the previous champion; stale staging; 0.1's entries. Returns the versions
    removed."""
    keep = KEEP_VERSIONS if keep is None else keep
    entries = names(loc)
    now = pointer(loc)  # read again: a concurrent save may have moved it since
    protected = {current, *(now[:1] if now else ())}
    for n in list(protected):
        protected |= set(champions(loc, n))
    whole = sorted((n for n in entries if VERSION_RE.match(n) and complete(loc, n)), key=_order)
    newest, oldest = whole[-keep:], min(protected, key=_order)
    # a servable version newer than what `latest` names may be a concurrent save's, about
    # to be named: left alone (a rejected or refused one is never named)
    gone = [n for n in whole if _order(n) < _order(oldest) or not servable(loc, n)]
    removed = [n for n in gone if n not in protected and n not in newest]
    for n in removed:
        _remove(loc, loc.join(n))
    with contextlib.suppress(OSError, NotImplementedError, ValueError):
        stamp = loc.fs.modified(loc.join(LATEST)).timestamp()
        for n in entries:
            unfinished = VERSION_RE.match(n) and n not in protected and not complete(loc, n)
            if (unfinished or STAGING_RE.match(n)) and stamp - _newest(loc, n) > STALE_AFTER:
                _remove(loc, loc.join(n))
    for n in legacy(loc, entries):
        _remove(loc, loc.join(n))
    return removed


def retain(path: StrPath, keep: int) -> list[str]:
    """Retention at ``path`` now: the last ``keep`` versions, ``latest`` and the previous
    champion stay; returns the versions removed."""
    if keep < 1:
        raise ValueError(f"keep_versions must be at least 1; got {keep}")
    loc = locate(path)
    with reaching(loc, "versions", keep="nothing removed"):
        return clean(loc, current(loc), keep=keep)


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
