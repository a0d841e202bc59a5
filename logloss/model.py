"""Model files without pickle: a directory of plain files, replaced atomically.

What a reader sees at ``PATH/`` (a real directory, so ``mv PATH`` and ``cp -r PATH`` keep a
working model)::

    model.json   -> .current/model.json   metadata: format, library version, params, classes,
                                          feature names, n_iter, converged, history, the
                                          coefficients' shape and SHA-256
    coef.npy     -> .current/coef.npy     float64 vector [coef_0 .. coef_{p-1}, intercept]
                                          (NumPy format, read with allow_pickle=False)
    report.html, metrics.json, ... -> .current/NAME   whatever ``extra`` wrote
    .current     -> .v-<time>-<pid>-<rand>   the version in force
    .v-<time>-<pid>-<rand>/                   one complete, never modified version

Every top-level name is a relative symlink through ``.current``, so one atomic
``os.replace`` of ``.current`` switches every file at once. A save writes a new hidden
version directory (fsynced), flips ``.current``, adds symlinks for new names, removes the
names the new version does not have, then removes superseded versions. Hence:

* at every instant ``PATH/model.json`` and ``PATH/coef.npy`` are a complete model, old or
  new; a crash (kill -9, power loss after the fsyncs) at any point leaves one of them;
* a reader resolves the version once (the real path of ``PATH/model.json``), reads both
  files from that directory and checks the SHA-256; if a concurrent save removed that
  version in between, it resolves again (:func:`read_model_files` retries);
* a directory in the older plain layout (real ``model.json``/``coef.npy``) is converted in
  place: the new version and ``.current`` first, then each real file is replaced by its
  symlink with ``os.replace``, ``model.json`` first (readers take the coefficients beside
  the *real* ``model.json``, so every instant is consistent);
* temporaries carry the writer's pid (``.NAME.<pid>-<rand>.tmp``); those of dead
  processes, and superseded versions no writer holds (a version being written is
  ``flock``-ed by its writer), are removed by the next save; nothing a crashed save left
  can make a later save fail;
* concurrent saves to one ``PATH`` all succeed; the last flip wins and the top-level names
  end up those of the version in force.

Copy a model with ``cp -r PATH DEST`` (symlinks are relative, the copy is self-contained)
or ``cp -rL PATH DEST`` for plain files; ``cp PATH/* DEST`` copies dangling links.

At an fsspec URL (``s3://``, ``gs://``, ``memory://`` ...: no renames, no symlinks) the same
functions write and read the layout of :mod:`logloss.store`: hidden version prefixes and a
pointer file ``_logloss_model.json`` written last; a local directory holding such a pointer
instead of ``model.json`` (a copy of a model from a store) is read the same way.

:func:`atomic_dir` (used for directories of Parquet part files, which readers list and
open one by one) swaps the complete new directory with the old one in a single
``renameat2(RENAME_EXCHANGE)`` where the kernel and file system offer it, so ``PATH`` is
never missing; elsewhere it falls back to two renames, and the next write restores an old
directory a crash left under its hidden name when ``PATH`` is missing.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import io
import json
import math
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .settings import TRAIN_SETTINGS, check_setting

__all__ = [
    "FORMAT",
    "ModelFileError",
    "atomic_dir",
    "atomic_write_bytes",
    "decode_labels",
    "encode_labels",
    "is_model_dir",
    "read_model_files",
    "write_model_files",
]

FORMAT = "logloss-model"
FORMAT_VERSION = 1
CURRENT = ".current"

# temporaries: ".<base>.<pid>-<8 hex>.tmp" (or ".old" for a directory moved aside)
_TMP_RE = re.compile(r"^\.(?P<base>.*)\.(?P<pid>\d+)-(?P<rand>[0-9a-f]{8})\.(?P<kind>tmp|old)$")
# versions inside a model directory
_VERSION_RE = re.compile(r"^\.v-\d+-(?P<pid>\d+)-[0-9a-f]{8}$")
# names older logloss releases used: mkstemp/mkdtemp ".<base>.XXXXXXXX.tmp", ".<base>.old-PID"
_LEGACY_TMP_RE = re.compile(r"^\.(?P<base>.*)\.[a-z0-9_]{8}\.tmp$")
_LEGACY_OLD_RE = re.compile(r"^\.(?P<base>.*)\.old-(?P<pid>\d+)$")
_LEGACY_MAX_AGE = 3600.0  # seconds: a pid-less temporary older than this is abandoned

_LIVE: set[str] = set()  # temporaries this process is writing now (any thread)
_LIVE_LOCK = threading.Lock()


class ModelFileError(ValueError):
    """A model directory that is missing, corrupt, or not a logloss model."""


# ------------------------------------------------------------------ temporaries
def _token() -> str:
    return f"{os.getpid()}-{os.urandom(4).hex()}"


def _tmp_name(base: str, kind: str = "tmp") -> str:
    return f".{base}.{_token()}.{kind}"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def _owner_gone(name: str, pid: int) -> bool:
    """True when the temporary ``name`` made by ``pid`` belongs to no running writer."""
    if pid == os.getpid():
        with _LIVE_LOCK:
            return name not in _LIVE
    return not _pid_alive(pid)


@contextmanager
def _live(*names: str) -> Iterator[None]:
    with _LIVE_LOCK:
        _LIVE.update(names)
    try:
        yield
    finally:
        with _LIVE_LOCK:
            _LIVE.difference_update(names)


def _remove(p: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink()


def _clean_stale_beside(path: Path) -> None:
    """Remove temporaries of dead writers named after ``path`` in its parent directory.

    An old directory a crashed :func:`atomic_dir` left aside (``.NAME.<pid>-<rand>.old`` or
    an older release's ``.NAME.old-PID``) is renamed back to ``path`` when ``path`` is
    missing, so a crash never leaves the data only under a hidden name.
    """
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    now = time.time()
    for entry in entries:
        name = entry.name
        m = _TMP_RE.match(name)
        if m and m["base"] == path.name:
            if not _owner_gone(name, int(m["pid"])):
                continue
            if m["kind"] == "old" and not os.path.lexists(path):
                with contextlib.suppress(OSError):
                    os.rename(entry.path, path)
                    continue
            _remove(Path(entry.path))
            continue
        m = _LEGACY_OLD_RE.match(name)
        if m and m["base"] == path.name:
            if _pid_alive(int(m["pid"])) and int(m["pid"]) != os.getpid():
                continue
            if not os.path.lexists(path):
                with contextlib.suppress(OSError):
                    os.rename(entry.path, path)
                    continue
            _remove(Path(entry.path))
            continue
        m = _LEGACY_TMP_RE.match(name)
        if m and m["base"] == path.name:
            with contextlib.suppress(OSError):
                if now - entry.stat(follow_symlinks=False).st_mtime > _LEGACY_MAX_AGE:
                    _remove(Path(entry.path))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------------ single files
def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory + rename.

    The temporary ``.NAME.<pid>-<rand>.tmp`` carries the writer's pid; temporaries of dead
    writers of the same ``NAME`` are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_beside(path)
    tmp = path.with_name(_tmp_name(path.name))
    with _live(tmp.name):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    return path


# ------------------------------------------------------------------ directories
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_renameat2: Any = None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap ``a`` and ``b`` (Linux renameat2); False when not supported here."""
    global _renameat2
    if _renameat2 is None:
        try:
            _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
        except (AttributeError, OSError):
            _renameat2 = False
    if _renameat2 is False:
        return False
    rc = _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` when the block succeeds.

    On error the temporary directory is removed and ``path`` is left as it was. The
    replacement is one atomic exchange where supported (``path`` is never missing),
    otherwise two renames; stale temporaries of dead writers are cleaned up first, and an
    old directory a crash left aside is restored when ``path`` is missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_beside(path)
    tmp = path.with_name(_tmp_name(path.name))
    with _live(tmp.name):
        os.mkdir(tmp, 0o777)  # the umask applies, as for any directory the user makes
        try:
            yield tmp
            _fsync_dir(tmp)
            _replace_dir(tmp, path)
            _fsync_dir(path.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _replace_dir(tmp: Path, path: Path) -> None:
    if not os.path.lexists(path):
        try:
            os.rename(tmp, path)
            return
        except OSError as exc:  # appeared meanwhile
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                raise
    if path.is_dir() and not path.is_symlink():
        if _exchange(tmp, path):
            shutil.rmtree(tmp, ignore_errors=True)  # now holds the old contents
            return
    old = path.with_name(_tmp_name(path.name, "old"))
    with _live(old.name):
        os.rename(path, old)
        os.rename(tmp, path)
        _remove(old)


# ------------------------------------------------------------------ labels
def encode_labels(classes: np.ndarray) -> dict[str, Any]:
    """JSON form of the two class labels, keeping their type (int, float, bool, str)."""
    values = classes.tolist()
    if classes.dtype.kind == "b":
        kind = "bool"
    elif classes.dtype.kind in "iu":
        kind = "int"
    elif classes.dtype.kind == "f":
        kind = "float"
    elif all(isinstance(v, str) for v in values):
        kind = "str"
    else:
        raise ValueError(f"cannot store class labels of type {classes.dtype}: {values!r}")
    return {"kind": kind, "dtype": classes.dtype.str, "values": values}


def decode_labels(spec: dict[str, Any]) -> np.ndarray:
    kind, values = spec["kind"], spec["values"]
    if kind == "str":
        return np.array(values, dtype=object)
    if kind not in ("bool", "int", "float"):
        raise ModelFileError(f"unknown class label kind {kind!r}")
    return np.array(values, dtype=np.dtype(spec["dtype"]))


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


# ------------------------------------------------------------------ model directories
def is_model_dir(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` holds a ``model.json`` whose ``format`` is ``"logloss-model"``."""
    try:
        meta = json.loads((Path(path) / "model.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def _write_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            with contextlib.suppress(OSError):
                fd = os.open(os.path.join(dirpath, f), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        _fsync_dir(Path(dirpath))


def _symlink_replace(target: str, link: Path) -> None:
    """Make ``link`` a symlink to ``target`` with one atomic rename."""
    tmp = link.with_name(_tmp_name(link.name))
    with _live(tmp.name):
        os.symlink(target, tmp)
        try:
            if link.is_dir() and not link.is_symlink():
                aside = link.with_name(_tmp_name(link.name, "old"))
                os.rename(link, aside)
                os.replace(tmp, link)
                _remove(aside)
            else:
                os.replace(tmp, link)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _readlink(link: Path) -> str | None:
    """The target of symlink ``link``; None when it is absent or not a symlink."""
    try:
        return os.readlink(link)
    except OSError:
        return None


def _current_target(path: Path) -> str | None:
    return _readlink(path / CURRENT)


def _clean_inside(path: Path, own: str | None = None) -> None:
    """Remove superseded versions no writer holds and temporaries of dead writers.

    ``own`` is the version this caller wrote and still locks: it is removed too when a
    concurrent save flipped ``.current`` past it (its writer, the caller, is done with it).
    """
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        m = _TMP_RE.match(name)
        if m:
            if _owner_gone(name, int(m["pid"])):
                _remove(Path(entry.path))
            continue
        if not _VERSION_RE.match(name) or name == _current_target(path):
            continue
        if name == own:
            shutil.rmtree(entry.path, ignore_errors=True)
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its writer is still at work
            # no writer can flip to it any more: re-read the pointer while holding the lock
            if name != _current_target(path):
                shutil.rmtree(entry.path, ignore_errors=True)
        finally:
            os.close(fd)


def _check_replaceable(path: Path) -> None:
    if os.path.lexists(path) and not path.is_dir():
        raise FileExistsError(
            f"cannot save a model to {str(path)!r}: it exists and is not a directory"
        )
    if path.is_dir():
        visible = [p.name for p in path.iterdir() if not p.name.startswith(".")]
        if visible and not is_model_dir(path) and not os.path.islink(path / CURRENT):
            raise FileExistsError(
                f"refusing to replace {str(path)!r}: it is not empty and not a logloss model "
                f"directory (no model.json with format {FORMAT!r}); it holds "
                f"{', '.join(sorted(visible)[:5])}"
            )


def _link_names(version: Path) -> list[str]:
    names = sorted(n for n in os.listdir(version) if not n.startswith("."))
    first = [n for n in ("model.json", "coef.npy") if n in names]
    return first + [n for n in names if n not in first]


def _install(path: Path, version: Path) -> None:
    """Flip ``path/.current`` to ``version`` (inside ``path``) and fix the top-level names."""
    _fsync_dir(path)
    _symlink_replace(version.name, path / CURRENT)
    names = _link_names(version)
    for n in names:
        want = f"{CURRENT}/{n}"
        top = path / n
        if _readlink(top) == want:
            continue
        _symlink_replace(want, top)
    # the names of the version in force now (a concurrent save to the same PATH may have
    # flipped after us: its names are kept, ours that it lacks are not left dangling)
    keep = set(names)
    now = _current_target(path)
    if now is not None and now != version.name:
        with contextlib.suppress(OSError):
            keep = set(_link_names(path / now))
    for entry in list(os.scandir(path)):
        if not entry.name.startswith(".") and entry.name not in keep:
            _remove(Path(entry.path))
    _fsync_dir(path)
    _clean_inside(path, own=version.name)


def write_model_files(
    path: str | os.PathLike[str],
    meta: dict[str, Any],
    params_vector: np.ndarray,
    *,
    extra: Callable[[Path], None] | None = None,
) -> Path | str:
    """Write ``model.json`` and ``coef.npy`` (and what ``extra`` adds) as one new version.

    ``extra(tmpdir)`` may add more files (metrics, pictures) before the switch. ``path``
    must be absent, an empty directory or a model directory (which is then replaced, its
    old files removed); anything else raises :class:`FileExistsError` and is left alone.
    See the module docstring for what readers and crashes see. ``path`` may be an fsspec
    URL (``s3://``, ``memory://`` ...): a new version under a hidden prefix, then a pointer
    file (:mod:`logloss.store`); a ``file://`` URL is its local path.
    """
    from .store import is_url

    url = os.fspath(path)
    if url.startswith("file://"):
        path = url[len("file://") :]
    vec = np.ascontiguousarray(params_vector, dtype=np.float64)
    data = _npy_bytes(vec)
    meta = dict(meta)
    meta.update(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        coef_file="coef.npy",
        coef_shape=list(vec.shape),
        coef_sha256=hashlib.sha256(data).hexdigest(),
    )
    text = (json.dumps(meta, indent=2, allow_nan=True) + "\n").encode()
    if is_url(url):
        return _write_model_url(url, data, text, extra)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_beside(path)
    _check_replaceable(path)
    vname = f".v-{time.time_ns()}-{_token()}"
    staging = path.with_name(_tmp_name(path.name))
    fresh = not os.path.lexists(path)
    home = staging if fresh else path
    work = home / f"{vname}.{_token()}.tmp"
    with _live(staging.name, vname, work.name):
        if fresh:
            os.mkdir(staging, 0o777)
        try:
            os.mkdir(work, 0o777)
            fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # held until this version is in force
                _write_file(work / "coef.npy", data)
                _write_file(work / "model.json", text)
                if extra is not None:
                    extra(work)
                _fsync_tree(work)
                version = home / vname
                os.rename(work, version)
                if fresh:
                    _install(staging, version)
                    try:
                        os.rename(staging, path)
                    except OSError as exc:  # another save created it meanwhile
                        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                            raise
                        _check_replaceable(path)
                        os.rename(version, path / vname)
                        shutil.rmtree(staging, ignore_errors=True)
                        _install(path, path / vname)
                    _fsync_dir(path.parent)
                else:
                    _install(path, version)
            finally:
                os.close(fd)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            if fresh:
                shutil.rmtree(staging, ignore_errors=True)
            raise
    if _current_target(path) != vname:
        # a concurrent save flipped past this version while its lock kept that save's
        # cleanup away; nobody flips back to it, so it goes now
        shutil.rmtree(path / vname, ignore_errors=True)
    return path


def _write_model_url(
    url: str, data: bytes, text: bytes, extra: Callable[[Path], None] | None
) -> str:
    from .store import write_model_url

    def files(work: Path) -> None:
        (work / "coef.npy").write_bytes(data)
        (work / "model.json").write_bytes(text)
        if extra is not None:
            extra(work)

    return write_model_url(url, files)


def read_model_files(path: str | os.PathLike[str]) -> tuple[dict[str, Any], np.ndarray]:
    """Read, verify and validate a model directory; :class:`ModelFileError` on any defect.

    Both files are read from the directory ``model.json`` really lives in; if a concurrent
    save switches versions in between, the read starts again. ``path`` may be an fsspec
    URL (read through its pointer file, :mod:`logloss.store`); a local directory holding a
    pointer file instead of ``model.json`` (a copy of such a model) is read the same way.
    """
    from .store import POINTER, is_url, read_model_url

    url = os.fspath(path)
    if url.startswith("file://"):
        url = url[len("file://") :]
    if is_url(url):
        return read_model_url(url, parse_model_bytes)  # type: ignore[no-any-return]
    path = Path(url)
    meta_path = path / "model.json"
    if not os.path.lexists(meta_path) and (path / POINTER).is_file():
        return read_model_url(f"file://{path.resolve()}", parse_model_bytes)  # type: ignore[no-any-return]
    attempts = 20
    for attempt in range(attempts):
        if not path.exists():
            raise ModelFileError(f"model directory {str(path)!r} does not exist")
        if not meta_path.is_file():
            if attempt + 1 < attempts and os.path.islink(meta_path):
                time.sleep(0.002 * (attempt + 1))  # a version removed under our feet
                continue
            raise ModelFileError(f"{str(path)!r} is not a logloss model: no model.json in it")
        real = os.path.realpath(meta_path)
        try:
            return _read_version(meta_path, Path(real))
        except ModelFileError:
            if attempt + 1 < attempts and os.path.realpath(meta_path) != real:
                continue
            if attempt + 1 < attempts and not os.path.exists(real):
                time.sleep(0.002 * (attempt + 1))
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _read_version(shown: Path, real: Path) -> tuple[dict[str, Any], np.ndarray]:
    try:
        raw = real.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read {str(shown)!r}: {exc}") from None

    def read(name: str) -> bytes:
        if not os.path.lexists(shown.parent / name):
            raise FileNotFoundError(errno.ENOENT, "no such file")
        return (real.parent / name).read_bytes()

    return parse_model_bytes(str(shown), raw, read)


def parse_model_bytes(
    shown: str, raw: bytes, read: Callable[[str], bytes]
) -> tuple[dict[str, Any], np.ndarray]:
    """Check model.json's bytes ``raw`` (shown as ``shown``) and the coefficients that
    ``read(coef_file)`` returns; :class:`ModelFileError` naming the file on any defect."""
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{shown!r} is corrupt: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(
            f"{shown!r} is not a logloss model file "
            f"(format {meta.get('format') if isinstance(meta, dict) else None!r}, "
            f"expected {FORMAT!r})"
        )
    v = meta.get("format_version")
    if type(v) is not int:
        raise ModelFileError(f"{shown!r}: field 'format_version' must be an integer; got {v!r}")
    if not 1 <= v <= FORMAT_VERSION:
        raise ModelFileError(
            f"{shown!r} has format version {v}; this logloss reads 1 to {FORMAT_VERSION}"
        )
    coef_file = meta.get("coef_file", "coef.npy")
    if (
        not isinstance(coef_file, str)
        or not coef_file
        or coef_file != os.path.basename(coef_file)
        or coef_file in (".", "..")
    ):
        raise ModelFileError(
            f"{shown!r}: field 'coef_file' must be a file name beside model.json; got {coef_file!r}"
        )
    shown_coef = shown.rsplit("/", 1)[0] + "/" + coef_file if "/" in shown else coef_file
    try:
        data = read(coef_file)
    except OSError as exc:
        raise ModelFileError(f"cannot read coefficients {shown_coef!r}: {exc}") from None
    if hashlib.sha256(data).hexdigest() != meta.get("coef_sha256"):
        raise ModelFileError(f"{shown_coef!r} is corrupt: its SHA-256 does not match model.json")
    try:
        vec = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise ModelFileError(f"{shown_coef!r} is corrupt: {exc}") from None
    if list(vec.shape) != meta.get("coef_shape") or vec.dtype != np.float64:
        raise ModelFileError(
            f"{shown_coef!r} has shape {vec.shape}, dtype {vec.dtype}; model.json "
            f"says coef_shape {meta.get('coef_shape')!r}, float64"
        )
    _validate_meta(meta, vec, shown)
    return meta, vec


# ------------------------------------------------------------------ validation
_KNOWN_PARAMS = {s.name for s in TRAIN_SETTINGS} | {"penalty"}


def _param_error(key: str, value: Any) -> str | None:
    """Why ``params[key]`` of a model.json is invalid (None when it is valid).

    The rules are the training settings' own (:mod:`logloss.settings`); ``class_weight``
    is stored as [label, weight] pairs and ``penalty`` is the deprecated alias.
    """
    if key == "penalty":
        return None if value in (None, "l2", "deprecated") else "must be 'l2', null or 'deprecated'"
    if key == "class_weight" and isinstance(value, list):
        pairs_ok = all(
            isinstance(kv, list)
            and len(kv) == 2
            and _is_number(kv[1])
            and math.isfinite(kv[1])
            and kv[1] >= 0
            for kv in value
        )
        return (
            None if pairs_ok else "must be null, 'balanced' or a list of [label, weight >= 0] pairs"
        )
    setting = next((s for s in TRAIN_SETTINGS if s.name == key), None)
    if setting is None:
        return "is not a known parameter"
    if setting.kind in ("int", "float") and not (
        _is_number(value) or (key == "C" and value == "inf")
    ):
        return "must be a number" + (" or 'inf'" if key == "C" else "")
    if setting.kind == "bool" and type(value) is not bool:
        return "must be true or false"
    if setting.kind == "int" and not _is_int(value):
        return "must be an integer"
    try:
        check_setting(key, value)
    except ValueError as exc:
        return str(exc).split(";")[0].removeprefix(key).strip()
    return None


_INT32_MAX = 2**31 - 1  # n_iter_ is an int32 array, as in scikit-learn


def _is_int(v: Any) -> bool:
    return type(v) is int


def _is_number(v: Any) -> bool:
    return type(v) in (int, float)


def _validate_meta(meta: dict[str, Any], vec: np.ndarray, where: str) -> None:
    """Types and consistency of every field :meth:`LogisticRegression.save` writes."""
    check = _MetaCheck(meta, where)
    check.header()
    p = check.coefficients(vec)
    check.features(p)
    check.encoding(p)
    check.classes()
    check.fit_summary()
    check.params()


_LABEL_CHECKS: dict[str, Callable[[Any], bool]] = {
    "bool": lambda v: type(v) is bool,
    "int": _is_int,
    "float": lambda v: _is_number(v) and math.isfinite(v),
    "str": lambda v: isinstance(v, str),
}


class _MetaCheck:
    """The checks of model.json, one method per family of fields; each raises a
    :class:`ModelFileError` naming the file, the field, the rule and the value."""

    def __init__(self, meta: dict[str, Any], where: str) -> None:
        self.meta = meta
        self.where = where

    def bad(self, field: str, rule: str, value: Any) -> ModelFileError:
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        return ModelFileError(f"{self.where!r}: field {field!r} {rule}; got {shown}")

    def need(self, field: str) -> Any:
        if field not in self.meta:
            raise ModelFileError(f"{self.where!r}: required field {field!r} is missing")
        return self.meta[field]

    def header(self) -> None:
        meta = self.meta
        for field, expected in (("library", "logloss"), ("estimator", "LogisticRegression")):
            if field in meta and meta[field] != expected:
                raise self.bad(field, f"must be {expected!r}", meta[field])
        if "version" in meta and not isinstance(meta["version"], str):
            raise self.bad("version", "must be a string", meta["version"])

    def coefficients(self, vec: np.ndarray) -> int:
        """n_features_in, coef_shape, coef and intercept against coef.npy; returns p."""
        meta = self.meta
        p = self.need("n_features_in")
        if not _is_int(p) or p < 1:
            raise self.bad("n_features_in", "must be an integer >= 1", p)
        if list(vec.shape) != [p + 1]:
            rule = f"must be [{p + 1}] (n_features_in + 1)"
            raise self.bad("coef_shape", rule, meta.get("coef_shape"))
        if "coef" in meta and not _same_coef(meta["coef"], vec[:p]):
            rule = f"must list the {p} coefficients stored in coef.npy"
            raise self.bad("coef", rule, meta["coef"])
        b = meta.get("intercept")
        if "intercept" in meta and not _same_number(b, vec[p]):
            raise self.bad("intercept", f"must equal the intercept in coef.npy ({vec[p]!r})", b)
        if not np.all(np.isfinite(vec)):
            raise ModelFileError(f"{self.where!r}: the coefficients in coef.npy are not all finite")
        return int(p)

    def features(self, p: int) -> None:
        names = self.meta.get("feature_names")
        if names is None:
            return
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise self.bad("feature_names", "must be a list of strings or null", names)
        if len(names) != p:
            raise self.bad("feature_names", f"must have n_features_in = {p} names", names)
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise self.bad("feature_names", f"must not repeat a name (repeated: {dup})", names)

    def encoding(self, p: int) -> None:
        """The column encoding, when there is one: valid, p features wide, names agreeing."""
        doc = self.meta.get("encoding")
        if doc is None:
            return
        from .data.encoding import Encoding

        try:
            enc = Encoding.from_json(doc)
        except ValueError as exc:
            raise self.bad("encoding", str(exc), doc) from None
        if enc.width != p:
            raise self.bad("encoding", f"must encode n_features_in = {p} features", enc.width)
        names = self.meta.get("feature_names")
        if names is not None and names != enc.feature_names:
            raise self.bad("feature_names", "must be the encoding's feature names", names)

    def classes(self) -> None:
        spec = self.need("classes")
        if not isinstance(spec, dict):
            raise self.bad("classes", "must be an object with kind, dtype and values", spec)
        kind, dtype, values = spec.get("kind"), spec.get("dtype"), spec.get("values")
        if kind not in _LABEL_CHECKS:
            raise self.bad("classes.kind", "must be one of 'bool', 'int', 'float', 'str'", kind)
        if not isinstance(values, list) or len(values) != 2:
            rule = "must list exactly 2 class labels (binary model)"
            raise self.bad("classes.values", rule, values)
        if not all(_LABEL_CHECKS[kind](v) for v in values):
            raise self.bad("classes.values", f"must be two {kind} labels", values)
        if values[0] == values[1]:
            raise self.bad("classes.values", "must be two different labels", values)
        if kind != "str":
            self._class_dtype(kind, dtype, values)
        elif dtype is not None and not isinstance(dtype, str):
            raise self.bad("classes.dtype", "must be a string", dtype)

    def _class_dtype(self, kind: str, dtype: Any, values: list[Any]) -> None:
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise self.bad("classes.dtype", "must be a NumPy dtype string", dtype) from None
        want = {"bool": "b", "int": "iu", "float": "f"}[kind]
        if not isinstance(dtype, str) or dt.kind not in want:
            raise self.bad("classes.dtype", f"must be a {kind} NumPy dtype", dtype)
        info = np.iinfo(dt.str) if kind == "int" else None
        if info is not None and not all(info.min <= v <= info.max for v in values):
            raise self.bad("classes.values", f"must fit dtype {dtype}", values)

    def fit_summary(self) -> None:
        meta = self.meta
        n_iter = self.need("n_iter")
        if not _is_int(n_iter) or not 0 <= n_iter <= _INT32_MAX:
            raise self.bad("n_iter", f"must be an integer from 0 to {_INT32_MAX}", n_iter)
        if type(self.need("converged")) is not bool:
            raise self.bad("converged", "must be true or false", meta["converged"])
        if "n_rows" in meta and (not _is_int(meta["n_rows"]) or meta["n_rows"] < 0):
            raise self.bad("n_rows", "must be an integer >= 0", meta["n_rows"])
        history = meta.get("history", [])
        if not isinstance(history, list) or not all(
            isinstance(h, dict) and all(isinstance(k, str) for k in h) for h in history
        ):
            raise self.bad("history", "must be a list of objects (one per iteration)", history)
        training = meta.get("training")
        if training is not None and not isinstance(training, dict):
            raise self.bad("training", "must be an object", training)

    def params(self) -> None:
        params = self.need("params")
        if not isinstance(params, dict):
            raise self.bad("params", "must be an object", params)
        unknown = sorted(set(params) - _KNOWN_PARAMS)
        if unknown:
            raise self.bad("params", f"has unknown parameter(s) {unknown}", params)
        for key, value in params.items():
            why = _param_error(key, value)
            if why is not None:
                raise self.bad(f"params.{key}", why, value)


def _same_coef(coef: Any, stored: np.ndarray) -> bool:
    return (
        isinstance(coef, list)
        and len(coef) == len(stored)
        and all(_is_number(c) for c in coef)
        and np.array_equal(np.asarray(coef, dtype=np.float64), stored, equal_nan=True)
    )


def _same_number(b: Any, stored: float) -> bool:
    return _is_number(b) and (b == stored or (math.isnan(b) and math.isnan(stored)))


# ------------------------------------------------------------ the estimator in model.json
def model_meta(est: Any, training: dict[str, Any] | None = None) -> dict[str, Any]:
    """The model.json document of a fitted estimator: its parameters, classes, feature
    names, fit summary, history, coefficients and ``training`` facts (JSON only)."""
    from . import __version__

    params = est.get_params()
    if isinstance(params.get("class_weight"), dict):
        params["class_weight"] = [[k, v] for k, v in params["class_weight"].items()]
    if isinstance(params.get("C"), float) and not np.isfinite(params["C"]):
        params["C"] = "inf"
    names = getattr(est, "feature_names_in_", None)
    encoding = getattr(est, "encoding_", None)
    return {
        "library": "logloss",
        "version": __version__,
        "estimator": "LogisticRegression",
        "params": params,
        "classes": encode_labels(est.classes_),
        "n_features_in": int(est.n_features_in_),
        "feature_names": None if names is None else [str(c) for c in names],
        "n_iter": int(est.n_iter_[0]),
        "converged": bool(est.converged_),
        "n_rows": int(getattr(est, "n_rows_", 0)),
        "history": est.history_,
        "coef": est.coef_[0].tolist(),
        "intercept": float(est.intercept_[0]),
        "training": dict(training or getattr(est, "training_", {})),
        "encoding": None if encoding is None else encoding.to_json(),
        "cv": getattr(est, "cv_", None),
    }


def model_vector(est: Any) -> np.ndarray:
    """The coefficients then the intercept: the content of coef.npy."""
    return np.concatenate([est.coef_[0], est.intercept_])


def estimator_kwargs(meta: dict[str, Any]) -> dict[str, Any]:
    """The estimator's constructor arguments from model.json's "params"."""
    params = dict(meta["params"])
    if isinstance(params.get("class_weight"), list):
        params["class_weight"] = {k: v for k, v in params["class_weight"]}
    if params.get("C") == "inf":
        params["C"] = float("inf")
    return params


def fitted_attributes(meta: dict[str, Any], vec: np.ndarray) -> dict[str, Any]:
    """The fitted attributes (``classes_``, ``coef_`` ...) from model.json and coef.npy."""
    p = int(meta["n_features_in"])
    if vec.shape != (p + 1,):
        raise ModelFileError(f"coefficients have shape {vec.shape}, expected ({p + 1},)")
    out: dict[str, Any] = {
        "classes_": decode_labels(meta["classes"]),
        "coef_": vec[:p].reshape(1, p).copy(),
        "intercept_": vec[p:].copy(),
        "n_features_in_": p,
    }
    if meta.get("feature_names") is not None:
        out["feature_names_in_"] = np.asarray(meta["feature_names"], dtype=object)
    out["n_iter_"] = np.array([int(meta["n_iter"])], dtype=np.int32)
    out["converged_"] = bool(meta["converged"])
    out["history_"] = list(meta.get("history", []))
    out["n_rows_"] = int(meta.get("n_rows", 0))
    out["training_"] = dict(meta.get("training") or {})
    if meta.get("encoding") is not None:
        from .data.encoding import Encoding

        out["encoding_"] = Encoding.from_json(meta["encoding"])
    if meta.get("cv") is not None:
        out["cv_"] = _checked_cv(meta["cv"])
    return out


def _checked_cv(cv: Any) -> dict[str, Any]:
    """model.json's "cv" (a cross-validated model's search table), checked."""
    ok = (
        isinstance(cv, dict)
        and type(cv.get("folds")) is int
        and isinstance(cv.get("Cs"), list)
        and all(_is_number(c) and c > 0 for c in cv["Cs"])
        and isinstance(cv.get("mean"), list)
        and isinstance(cv.get("std_err"), list)
        and len(cv["mean"]) == len(cv["std_err"])
        and _is_number(cv.get("C"))
    )
    if not ok:
        raise ModelFileError(
            "field 'cv' must be a cross-validation table (folds, Cs, mean, std_err, C)"
        )
    return dict(cv)
