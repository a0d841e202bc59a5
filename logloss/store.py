"""Outputs at fsspec URLs (``s3://``, ``gs://``, ``memory://`` ...): models, published
versions, predictions and report pages on stores without renames or symbolic links.

A local path (or a ``file://`` URL) keeps the local layout of :mod:`logloss.model`; this
module handles every other URL. Object stores have no atomic rename of a prefix, but writing
one object is atomic. So a model at ``URL`` is::

    URL/.v-<time>-<pid>-<rand>/model.json, coef.npy, ...   one complete, never modified version
    URL/_logloss_model.json                                the pointer: names the version in
                                                           force; written last, in one put
    URL/report.html                                        a copy of the version's page, if any

A version is uploaded completely before the pointer names it, so a save that fails or is
killed part way leaves the pointer (and what readers see) on the old version; a version no
pointer names is invisible and removed by a later save. Readers read the pointer, then the
version's files, and read the pointer again when a concurrent save removed that version.
A directory of published versions holds the versions and ``latest``: a small file naming the
version in force (locally ``latest`` is a symbolic link; readers understand both).

Predictions (Parquet part files, which readers list) are written under a hidden prefix beside
``URL``, then moved into it; the marker file (:data:`~logloss.outputs.PREDICTIONS_MARKER`)
says ``"complete": false`` while the old parts are removed and the new ones moved in, and is
written complete last.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "LATEST",
    "POINTER",
    "POINTER_FORMAT",
    "StoreError",
    "copy_model_to_local",
    "is_url",
    "publish_latest",
    "read_latest",
    "read_model_url",
    "split_url",
    "write_model_url",
    "write_predictions_url",
    "write_bytes_url",
]

#: The file naming the version in force inside a model directory at a URL.
POINTER = "_logloss_model.json"
POINTER_FORMAT = "logloss-model-pointer"
#: Inside a directory of published versions: the version in force (a file or a symlink).
LATEST = "latest"
LATEST_FORMAT = "logloss-latest"

_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_VERSION_RE = re.compile(r"^\.v-(?P<ns>\d+)-\d+-[0-9a-f]{8}$")
_STAGING_RE = re.compile(r"^\.(?P<base>.+)\.(?P<ns>\d+)-\d+-[0-9a-f]{8}\.tmp$")
#: An unnamed version or staging prefix older than this (seconds) is an abandoned write.
ABANDONED_AFTER = 3600.0


def is_url(path: Any) -> bool:
    """True for an fsspec URL that is not a local file (``file://`` is a local path)."""
    if not isinstance(path, str | os.PathLike):
        return False
    text = os.fspath(path)
    return bool(_URL_RE.match(text)) and not text.startswith("file://")


class StoreError(ValueError):
    """A URL whose store cannot be opened here (unknown protocol, package not installed)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot open {url!r}: {reason}")
        self.url = url
        self.reason = reason


def split_url(url: str) -> tuple[Any, str]:
    """(filesystem, path inside it) of an fsspec URL; :class:`StoreError` when its store
    cannot be opened."""
    from fsspec.core import url_to_fs

    try:
        fs, path = url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise StoreError(url, str(exc)) from None
    return fs, str(path).rstrip("/") or str(path)


def join(url: str, *names: str) -> str:
    return "/".join([url.rstrip("/"), *names])


def _stamp() -> str:
    return f"{time.time_ns()}-{os.getpid()}-{os.urandom(4).hex()}"


def _names(fs: Any, path: str) -> list[str]:
    """The entry names directly under ``path`` (none when it does not exist)."""
    try:
        entries = fs.ls(path, detail=False)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted({posixpath.basename(str(e).rstrip("/")) for e in entries} - {""})


def _read_json(fs: Any, path: str) -> Any:
    try:
        return json.loads(fs.cat_file(path).decode("utf-8"))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    except (UnicodeDecodeError, ValueError):
        return None


def _rm(fs: Any, path: str) -> None:
    with contextlib.suppress(FileNotFoundError, OSError):
        fs.rm(path, recursive=True)


# ------------------------------------------------------------------ models
def read_pointer(fs: Any, path: str) -> str | None:
    """The version the pointer file in ``path`` names; None without a valid pointer."""
    doc = _read_json(fs, posixpath.join(path, POINTER))
    if isinstance(doc, dict) and doc.get("format") == POINTER_FORMAT:
        version = doc.get("version")
        if isinstance(version, str) and _VERSION_RE.match(version):
            return version
    return None


def is_model_url(fs: Any, path: str) -> bool:
    """A model directory at a URL: a valid pointer, or a plain ``model.json`` of logloss."""
    if read_pointer(fs, path) is not None:
        return True
    doc = _read_json(fs, posixpath.join(path, "model.json"))
    return isinstance(doc, dict) and doc.get("format") == "logloss-model"


def read_model_url(
    url: str, parse: Callable[[str, bytes, Callable[[str], bytes]], Any], attempts: int = 20
) -> Any:
    """Read the model at ``url`` through its pointer; ``parse(shown, meta_bytes, read)``
    checks the bytes (``read(name)`` returns another file of the same version)."""
    from .model import ModelFileError

    fs, path = split_url(url)
    for attempt in range(attempts):
        version = read_pointer(fs, path)
        if version is None:
            if fs.exists(posixpath.join(path, "model.json")):  # a plain (copied) model
                home, shown = path, join(url, "model.json")
            elif fs.exists(posixpath.join(path, POINTER)):
                raise ModelFileError(
                    f"{join(url, POINTER)!r} is not a logloss model pointer (corrupt file)"
                )
            elif not fs.exists(path):
                raise ModelFileError(f"model directory {url!r} does not exist")
            else:
                raise ModelFileError(f"{url!r} is not a logloss model: no model.json in it")
        else:
            home, shown = posixpath.join(path, version), join(url, version, "model.json")

        def read(name: str, home: str = home) -> bytes:
            return bytes(fs.cat_file(posixpath.join(home, name)))

        try:
            raw = read("model.json")
            return parse(shown, raw, read)
        except (FileNotFoundError, ModelFileError) as exc:
            # a concurrent save may have removed this version: read the pointer again
            if version is not None and attempt + 1 < attempts and read_pointer(fs, path) != version:
                continue
            if isinstance(exc, FileNotFoundError):
                raise ModelFileError(f"cannot read {shown!r}: {exc}") from None
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _check_model_target(fs: Any, path: str, url: str) -> None:
    names = [n for n in _names(fs, path) if not n.startswith(".")]
    if names and not is_model_url(fs, path):
        if fs.isfile(path):
            raise FileExistsError(
                f"cannot save a model to {url!r}: it exists and is not a directory"
            )
        raise FileExistsError(
            f"refusing to replace {url!r}: it is not empty and not a logloss model directory "
            f"(no {POINTER} and no model.json of logloss); it holds {', '.join(names[:5])}"
        )


def _upload_tree(fs: Any, local: Path, path: str) -> list[str]:
    """Upload every file under ``local`` to ``path``; the relative names, sorted."""
    names: list[str] = []
    for dirpath, _dirs, files in os.walk(local):
        for f in sorted(files):
            full = Path(dirpath) / f
            rel = full.relative_to(local).as_posix()
            fs.put_file(str(full), posixpath.join(path, rel))
            names.append(rel)
    return sorted(names)


def _clean_versions(fs: Any, path: str, current: str, own: str) -> None:
    """Remove versions superseded by ``current`` and versions abandoned long ago."""
    keep_ns = int(_VERSION_RE.match(current)["ns"])  # type: ignore[index]
    now = time.time_ns()
    for name in _names(fs, path):
        m = _VERSION_RE.match(name)
        if not m or name == current:
            continue
        ns = int(m["ns"])
        if name == own or ns < keep_ns or now - ns > ABANDONED_AFTER * 1e9:
            _rm(fs, posixpath.join(path, name))


def write_model_url(url: str, files: Callable[[Path], None]) -> str:
    """Write a new version of the model at ``url``: ``files(tmpdir)`` writes model.json,
    coef.npy and the extras into a local temporary directory; they are uploaded under a
    hidden version prefix, then the pointer is written. Returns ``url``."""
    fs, path = split_url(url)
    _check_model_target(fs, path, url)
    version = f".v-{_stamp()}"
    vpath = posixpath.join(path, version)
    with tempfile.TemporaryDirectory(prefix="logloss-model-") as tmp:
        files(Path(tmp))
        try:
            names = _upload_tree(fs, Path(tmp), vpath)
            current = read_pointer(fs, path)
            if current is not None and current > version and _VERSION_RE.match(current):
                # a save that started later is already in force: it wins, this one goes
                _rm(fs, vpath)
                return url
            pointer = {
                "format": POINTER_FORMAT,
                "version": version,
                "files": names,
                "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            fs.pipe_file(posixpath.join(path, POINTER), _json_bytes(pointer))
        except BaseException:
            _rm(fs, vpath)
            raise
        # after the switch: a copy of the page at the top, for people browsing the store
        top = posixpath.join(path, "report.html")
        if "report.html" in names:
            with contextlib.suppress(OSError):
                fs.put_file(str(Path(tmp) / "report.html"), top)
        elif fs.exists(top):
            _rm(fs, top)
    for plain in ("model.json", "coef.npy"):  # an older plain layout at this URL
        if fs.isfile(posixpath.join(path, plain)):
            _rm(fs, posixpath.join(path, plain))
    _clean_versions(fs, path, read_pointer(fs, path) or version, version)
    return url


@contextlib.contextmanager
def copy_model_to_local(url: str) -> Iterator[Path]:
    """The files of the version in force at ``url``, copied into a local temporary
    directory (for code that reads a model directory's pictures and metrics)."""
    from .model import ModelFileError

    fs, path = split_url(url)
    version = read_pointer(fs, path)
    home = path if version is None else posixpath.join(path, version)
    with tempfile.TemporaryDirectory(prefix="logloss-model-") as tmp:
        try:
            for name in _names(fs, home):
                if name.startswith(".") or name == POINTER:
                    continue
                src = posixpath.join(home, name)
                if fs.isfile(src):
                    fs.get_file(src, str(Path(tmp) / name))
        except FileNotFoundError as exc:
            raise ModelFileError(f"cannot read the model at {url!r}: {exc}") from None
        yield Path(tmp)


def _json_bytes(doc: Any) -> bytes:
    return (json.dumps(doc, indent=2) + "\n").encode()


def write_bytes_url(url: str, data: bytes) -> str:
    """One object written in one put (atomic on object stores)."""
    fs, path = split_url(url)
    fs.pipe_file(path, data)
    return url


# ------------------------------------------------------------------ published versions
def publish_latest(root_url: str, version: str) -> None:
    """Point ``root_url/latest`` (a small file) at ``version``, once it is complete."""
    fs, path = split_url(root_url)
    doc = {"format": LATEST_FORMAT, "version": version}
    fs.pipe_file(posixpath.join(path, LATEST), _json_bytes(doc))


def clean_published(root_url: str, *, now: float | None = None) -> list[str]:
    """Remove version directories of ``root_url`` that a killed publish left without a model
    pointer (invisible: ``latest`` never named them), once older than
    :data:`ABANDONED_AFTER` by the time in their name. Returns the names removed."""
    import calendar

    fs, path = split_url(root_url)
    now = time.time() if now is None else now
    current = read_latest(root_url)
    removed = []
    for name in _names(fs, path):
        m = re.match(r"^(\d{8}T\d{6}Z)(-[0-9a-f]{6})?$", name)
        if not m or name == current:
            continue
        version = posixpath.join(path, name)
        if read_pointer(fs, version) is not None or fs.exists(
            posixpath.join(version, "model.json")
        ):
            continue
        made = calendar.timegm(time.strptime(m[1], "%Y%m%dT%H%M%SZ"))
        if now - made > ABANDONED_AFTER:
            _rm(fs, version)
            removed.append(name)
    return removed


def read_latest_doc(data: bytes) -> str | None:
    """The version a ``latest`` pointer file names; None if it is not one."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(doc, dict) and doc.get("format") == LATEST_FORMAT:
        version = doc.get("version")
        if isinstance(version, str) and version and "/" not in version and version[0] != ".":
            return version
    return None


def read_latest(url: str) -> str | None:
    """The version ``url/latest`` names (a pointer file); None when there is none."""
    fs, path = split_url(url)
    try:
        data = fs.cat_file(posixpath.join(path, LATEST))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return read_latest_doc(bytes(data))


# ------------------------------------------------------------------ predictions
def write_predictions_url(
    url: str,
    write_parts: Callable[[str], int],
    marker: Callable[[int], dict[str, Any]],
    marker_name: str,
) -> int:
    """Write Parquet parts with ``write_parts(staging_url)`` beside ``url``, then move them
    into ``url``; the marker is written last. Returns what ``write_parts`` returned."""
    fs, path = split_url(url)
    parent, base = posixpath.split(path.rstrip("/"))
    if not base or not parent or parent == path:
        raise FileExistsError(f"cannot write predictions to {url!r}: name a directory inside it")
    _clean_staging(fs, parent, base)
    staging = posixpath.join(parent, f".{base}.{_stamp()}.tmp")
    staging_url = fs.unstrip_protocol(staging)
    try:
        n = write_parts(staging_url)
        doc = marker(n)
        old = [x for x in _names(fs, path)]
        marker_path = posixpath.join(path, marker_name)
        if old:  # readers that check the marker see the swap as incomplete until the end
            fs.pipe_file(marker_path, _json_bytes({**doc, "complete": False}))
            for name in old:
                if name != marker_name:
                    _rm(fs, posixpath.join(path, name))
        for name in _names(fs, staging):
            fs.mv(posixpath.join(staging, name), posixpath.join(path, name))
        fs.pipe_file(marker_path, _json_bytes({**doc, "complete": True}))
    finally:
        _rm(fs, staging)
    return n


def _clean_staging(fs: Any, parent: str, base: str) -> None:
    now = time.time_ns()
    for name in _names(fs, parent):
        m = _STAGING_RE.match(name)
        if m and m["base"] == base and now - int(m["ns"]) > ABANDONED_AFTER * 1e9:
            _rm(fs, posixpath.join(parent, name))
