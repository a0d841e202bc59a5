"""What an output path may be (docs/guarantees.md), checked before any data is read.

An output is absent (its nearest existing ancestor a directory where a file can be created,
probed), an empty directory, or: for a model or predictions, a location holding only what
logloss wrote (version folders, ``latest``, its hidden staging names, 0.1's entries), of the
same kind; for a report, a page written by logloss. Anything else, the current or home
directory or their ancestors, and an output equal to, inside or holding an input raise
:class:`OutputPathError` naming the path and the first foreign entry; nothing is touched.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePath, PurePosixPath
from typing import Literal, get_args

from . import versions as v
from .versions import Location, StoreError, StrPath, is_url, locate

InputPath = StrPath | Sequence[StrPath] | None
OutputKind = Literal["model", "predictions", "report", "dataset", "published"]
OUTPUT_KINDS: tuple[str, ...] = get_args(OutputKind)
#: Strings by which an HTML page written by :func:`logloss.report.write_html_report` is known.
REPORT_MARKERS = ("<meta name='generator' content='logloss", "<title>logloss report: ")
_WHAT = {k: f"a logloss {k} directory" for k in ("model", "predictions")}
_WHAT.update(report="a report page written by logloss", dataset="an empty directory")
_OWN = (v.VERSION_RE, v.STAGING_RE, v.OLD_VERSION_RE)


class OutputPathError(ValueError):
    """An output path that logloss refuses to write: it would replace something else."""


def _no(shown: str, why: str, what: str = "output path") -> OutputPathError:
    return OutputPathError(f"{what} {shown!r} {why}")


def _kind_of(entries: list[str], latest: tuple[str, str] | None, old: list[str]) -> str | None:
    """The kind of output logloss wrote there (None: not recognisably logloss's)."""
    if latest or v.COMMIT_FILES[1] in entries:
        return latest[1] if latest else "predictions"
    model = any(v.VERSION_RE.match(n) or v.OLD_VERSION_RE.match(n) for n in entries)
    return "model" if model or "model.json" in entries or old else None


def check_contents(loc: Location, kind: str) -> None:
    """An existing location: only what logloss wrote, of ``kind``; else OutputPathError."""
    kind = "model" if kind == "published" else kind
    if (os.path.lexists(loc.path) and not os.path.isdir(loc.path)) if loc.local else loc.isfile():
        raise _no(loc.shown, f"is a file, not {_WHAT[kind]}; not overwriting it")
    entries = v.names(loc)
    latest, old = v.pointer(loc) if v.LATEST in entries else None, v.legacy(loc, entries)
    ours = {*old, ".checkpoints"} | ({v.LATEST} if latest else set())  # + the flow's checkpoints
    bad = [n for n in entries if n not in ours and not any(r.match(n) for r in _OWN)]
    found = _kind_of(entries, latest, old) if entries else kind
    if found not in (None, kind):
        why = f"it is {_WHAT[found]}"
    elif bad:
        why = f"it holds {bad[0]!r}, which logloss did not write"
    else:
        return
    raise _no(loc.shown, f"is not empty and not {_WHAT[kind]} ({why}); not replacing it")


def is_logloss_output(path: StrPath, kind: str) -> bool:
    """True when ``path`` exists and is an output of ``kind`` written by logloss."""
    try:
        loc = locate(path)
        if kind == "report":
            return _is_report(loc)
        check_contents(loc, kind)
        return bool(v.names(loc))
    except (OutputPathError, OSError, StoreError):
        return False


def _is_report(loc: Location) -> bool:
    if not loc.isfile():
        return False
    with loc.open() as fh:
        head = fh.read(8192).decode("utf-8", errors="replace")
    html = head.lstrip().lower().startswith("<!doctype html")
    return html and any(m in head for m in REPORT_MARKERS)


def _check_existing(loc: Location, kind: str) -> None:
    if kind != "report":
        check_contents(loc, kind)  # a dataset's: absent, a file, or an empty directory
    elif loc.fs.isdir(loc.path):
        raise _no(loc.shown, "is a directory; expected an HTML file path")
    elif loc.exists() and not _is_report(loc):
        raise _no(loc.shown, f"exists and is not {_WHAT['report']}; not overwriting it")


def _inputs(inputs: Iterable[InputPath], urls: bool) -> list[tuple[str, PurePath]]:
    """(as given, where) of the local inputs (globs expanded), or of the URL inputs."""
    found: list[tuple[str, PurePath]] = []
    for item in inputs:
        if item is not None and not isinstance(item, str | os.PathLike):
            found += _inputs(item, urls)
        elif item is not None and is_url(item) == urls:
            text = os.fspath(item).removeprefix("file://")
            if urls:
                found += [(text, key) for key in [_url_key(text)] if key is not None]
            elif glob.has_magic(text):
                found += [(m, _real(m)) for m in glob.glob(text, recursive=True)]
            else:
                found.append((os.fspath(item), _real(text)))
    return found


def _real(path: str) -> Path:
    return Path(os.path.realpath(os.path.expanduser(path)))


def _url_key(url: str) -> PurePosixPath | None:
    try:
        loc = locate(url)
    except Exception:  # noqa: BLE001 - an unparsable URL overlaps nothing
        return None
    protocol = loc.fs.protocol if isinstance(loc.fs.protocol, str) else loc.fs.protocol[0]
    return PurePosixPath("/", protocol, loc.path.strip("/"))


def _refuse_overlap(shown: str, real: PurePath, inputs: list[tuple[str, PurePath]]) -> None:
    for given, inp in inputs:
        rel = "is" if real == inp else "is inside" if real.is_relative_to(inp) else "contains"
        if rel != "contains" or inp.is_relative_to(real):
            raise _no(shown, f"{rel} the input {given!r}; write the output elsewhere")


def _probe(p: Path, shown: str, what: str = "output path") -> None:
    """Create and remove a file in ``p`` or its nearest existing ancestor."""
    while not p.exists() and not p.is_symlink() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        state = "a file, not a directory" if p.exists() else "a dangling symbolic link"
        verb = "created" if what == "output path" else "used"
        raise _no(shown, f"cannot be {verb}: {str(p)!r} is {state}", what)
    try:
        tempfile.TemporaryFile(prefix=".logloss-probe-", dir=p).close()
    except OSError as exc:
        why = f"cannot be written: cannot create files in {str(p)!r} ({exc.strerror or exc})"
        raise _no(shown, why, what) from None


def _check_local(shown: str, kind: str, inputs: Iterable[InputPath]) -> Path:
    p = Path(os.path.expanduser(shown.removeprefix("file://")))
    real = _real(str(p))
    for name, special in (("current directory", Path.cwd()), ("home directory", Path.home())):
        if special.resolve().is_relative_to(real):
            rel = "is" if real == special.resolve() else "is an ancestor of"
            raise _no(shown, f"{rel} the {name}; refusing to replace it")
    _refuse_overlap(shown, real, _inputs(inputs, urls=False))
    if p.is_symlink() and not p.exists():
        raise _no(shown, "is a dangling symbolic link; not replacing")
    if kind == "dataset" and p.is_dir() and any(p.iterdir()):
        raise _no(shown, "is a directory that is not empty; not writing into it")
    _check_existing(locate(p), kind)
    _probe(p if p.is_dir() else p.parent, shown)
    return p


def _check_url(url: str, kind: str, inputs: Iterable[InputPath]) -> str:
    if kind == "dataset":
        raise _no(url, "must be a local path: generate writes local files only")
    try:
        loc = locate(url)
    except StoreError as exc:
        raise _no(url, f"cannot be used: {exc.reason}", "output URL") from None
    if (key := _url_key(url)) is not None:
        _refuse_overlap(url, key, _inputs(inputs, urls=True))
        if len(key.parts) == 2 and kind != "report":
            raise _no(url, "is the root of its store; name a directory")
    try:
        if (bucket := loc.path.split("/")[0]) and not loc.fs.exists(bucket):
            raise _no(url, f"cannot be used: its bucket {bucket!r} does not exist", "output URL")
        _check_existing(loc, kind)
    except OutputPathError:
        raise
    except Exception as exc:  # credentials, network: the store's own message
        raise _no(url, f"cannot be reached: {type(exc).__name__}: {exc}", "output URL") from None
    return url


def check_output(
    path: StrPath, kind: OutputKind, *, inputs: Iterable[InputPath] = ()
) -> Path | str:
    """``path`` as a Path (local) or the URL, when the rule lets it be an output of ``kind``
    for a command reading ``inputs``; :class:`OutputPathError` otherwise."""
    if kind not in OUTPUT_KINDS:
        raise ValueError(f"output kind must be one of {OUTPUT_KINDS}; got {kind!r}")
    shown = os.fspath(path)
    if not shown:
        raise OutputPathError("output path must not be empty")
    return _check_url(shown, kind, inputs) if is_url(shown) else _check_local(shown, kind, inputs)


def check_work_dir(path: StrPath, what: str) -> Path:
    """A local directory logloss adds its own files to (e.g. a checkpoint directory)."""
    shown = os.fspath(path)
    if not shown or is_url(shown):
        raise _no(shown, "must be a local path", what)
    p = Path(os.path.expanduser(shown.removeprefix("file://")))
    _probe(p, shown, what)
    return p
