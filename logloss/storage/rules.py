"""What an output path may be, checked before any data is read or any cluster started.

The rule, the same for every command and flow that writes (``train --out``, ``predict --out``,
the ``score`` flow, ``report --out``, ``generate OUT``, the train flow's ``model_dir/name``):

- the path may be **absent** (its nearest existing ancestor must be a directory in which a
  file can be created, probed by creating and removing one) or an **empty directory**;
- a model or predictions location may hold **only what logloss wrote**, recognisably: its
  version folders, its ``latest`` pointer, its own hidden staging names (and the entries of
  logloss 0.1's layouts); a new version is added to it. The first other entry is named and
  refused. A location of the other kind (predictions for a model) is refused too;
- a report is absent or an HTML page written by logloss (replaced); ``dataset`` (``generate``)
  an absent or empty directory.

Anything else, the current or home directory or one of their ancestors, and an output equal
to or inside an input (or holding one) raise :class:`OutputPathError` naming the path and the
reason; nothing is touched. fsspec URLs follow the same rule; ``file://`` URLs are local.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePath, PurePosixPath
from typing import Literal

from .versions import (
    LATEST,
    OLD_VERSION_RE,
    STAGING_RE,
    VERSION_RE,
    Location,
    StoreError,
    is_url,
    legacy,
    locate,
    names,
    pointer,
)

InputPath = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None
OutputKind = Literal["model", "predictions", "report", "dataset", "published"]
OUTPUT_KINDS: tuple[str, ...] = ("model", "predictions", "report", "dataset", "published")
#: Strings by which an HTML page written by :func:`logloss.report.write_html_report` is known.
REPORT_MARKERS = ("<meta name='generator' content='logloss", "<title>logloss report: ")
_WHAT = {
    "model": "a logloss model directory",
    "predictions": "a logloss predictions directory",
    "report": "a report page written by logloss",
    "dataset": "an empty directory",
}


class OutputPathError(ValueError):
    """An output path that logloss refuses to write: it would replace something else."""


def _kind_of(loc: Location, entries: list[str]) -> str | None:
    """ "model" or "predictions" for a location logloss wrote (None: not recognisably)."""
    found = pointer(loc) if LATEST in entries else None
    if found is not None:
        return found[1]
    if "_logloss_predictions.json" in entries:
        return "predictions"
    if "model.json" in entries or any(VERSION_RE.match(n) or OLD_VERSION_RE.match(n) for n in entries):
        return "model"
    if legacy(loc, entries):
        return "model"
    return None


def foreign_entry(loc: Location, kind: str, entries: list[str]) -> str | None:
    """The first entry of ``loc`` that logloss did not write (None when all are ours)."""
    old = set(legacy(loc, entries))
    for n in entries:
        if n == LATEST and pointer(loc) is not None:
            continue
        if not (VERSION_RE.match(n) or STAGING_RE.match(n) or OLD_VERSION_RE.match(n) or n in old):
            if n == ".checkpoints":  # the train flow's checkpoints (flows/train.py)
                continue
            return n
    return None


def check_contents(loc: Location, kind: str) -> None:
    """An existing model or predictions location: ours and of ``kind``, or refused."""
    kind = "model" if kind == "published" else kind
    if loc.local and os.path.lexists(loc.path) and not os.path.isdir(loc.path):
        raise OutputPathError(
            f"output path {loc.shown!r} is a file, not {_WHAT[kind]}; not overwriting it"
        )
    if not loc.local and loc.fs.isfile(loc.path):
        raise OutputPathError(
            f"output path {loc.shown!r} is a file, not {_WHAT[kind]}; not overwriting it"
        )
    entries = names(loc)
    if not entries:
        return
    found = _kind_of(loc, entries)
    if found is not None and found != kind:
        why = f"it is {_WHAT[found]}"
    elif (bad := foreign_entry(loc, kind, entries)) is not None:
        why = f"it holds {bad!r}, which logloss did not write"
    else:
        return
    raise OutputPathError(
        f"output path {loc.shown!r} is not empty and not {_WHAT[kind]} ({why}); not replacing it"
    )


def is_logloss_output(path: str | os.PathLike[str], kind: str) -> bool:
    """True when ``path`` exists and is an output of ``kind`` written by logloss."""
    try:
        if kind == "report":
            return _is_report(locate(path))
        loc = locate(path)
        entries = names(loc)
        check_contents(loc, kind)
        return bool(entries)
    except (OutputPathError, OSError, StoreError):
        return False


def _is_report(loc: Location) -> bool:
    if not loc.isfile():
        return False
    with open(loc.path, "rb") if loc.local else loc.fs.open(loc.path, "rb") as fh:
        head = fh.read(8192).decode("utf-8", errors="replace")
    return head.lstrip().lower().startswith("<!doctype html") and any(
        m in head for m in REPORT_MARKERS
    )


def _real(path: str) -> Path:
    return Path(os.path.realpath(os.path.expanduser(path)))


def _flat(inputs: Iterable[InputPath]) -> list[str]:
    out: list[str] = []
    for item in inputs:
        if isinstance(item, str | os.PathLike):
            out.append(os.fspath(item))
        elif item is not None:
            out += _flat(item)
    return out


def _local_inputs(inputs: Iterable[InputPath]) -> list[tuple[str, Path]]:
    """(as given, resolved) for every local input; globs expand to the paths they match."""
    found: list[tuple[str, Path]] = []
    for item in _flat(inputs):
        local = item[len("file://") :] if item.startswith("file://") else item
        if is_url(item):
            continue
        if glob.has_magic(local):
            found += [(m, _real(m)) for m in glob.glob(local, recursive=True)]
        else:
            found.append((item, _real(local)))
    return found


def _inside(a: PurePath, b: PurePath) -> bool:
    return a == b or a.is_relative_to(b)


def _refuse_overlap(shown: str, real: PurePath, inputs: list[tuple[str, PurePath]]) -> None:
    for given, inp in inputs:
        if _inside(real, inp):
            rel = "is" if real == inp else "is inside"
            raise OutputPathError(
                f"output path {shown!r} {rel} the input {given!r}; write the output elsewhere"
            )
        if _inside(inp, real):
            raise OutputPathError(
                f"output path {shown!r} contains the input {given!r}; write the output elsewhere"
            )


def _probe_writable(directory: Path, shown: str, what: str = "output path") -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".logloss-probe-", dir=directory)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputPathError(
            f"{what} {shown!r} cannot be written: cannot create files in {str(directory)!r} ({reason})"
        ) from None
    os.close(fd)
    os.unlink(name)


def _nearest_dir(p: Path, shown: str, what: str) -> Path:
    ancestor = p
    while not ancestor.exists() and not ancestor.is_symlink() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        state = "a file, not a directory" if ancestor.exists() else "a dangling symbolic link"
        raise OutputPathError(
            f"{what} {shown!r} cannot be {'created' if what == 'output path' else 'used'}: {str(ancestor)!r} is {state}"
        )
    return ancestor


def _check_local(shown: str, local: str, kind: str, inputs: Iterable[InputPath]) -> Path:
    p, real = Path(os.path.expanduser(local)), _real(local)
    for name, special in (
        ("the current directory", Path.cwd().resolve()),
        ("the home directory", Path.home().resolve()),
    ):
        if _inside(special, real):
            rel = "is" if real == special else "is an ancestor of"
            raise OutputPathError(f"output path {shown!r} {rel} {name}; refusing to replace it")
    _refuse_overlap(shown, real, _local_inputs(inputs))
    if p.is_symlink() and not p.exists():
        raise OutputPathError(f"output path {shown!r} is a dangling symbolic link; not replacing")
    if not p.exists():
        _probe_writable(_nearest_dir(p.parent, shown, "output path"), shown)
        return p
    if kind == "report":
        _check_report(locate(local), shown, p.is_dir())
    elif kind == "dataset":
        if not p.is_dir() or any(p.iterdir()):
            raise OutputPathError(
                f"output path {shown!r} is a directory that is not empty; not writing into it"
                if p.is_dir()
                else f"output path {shown!r} is a file, not {_WHAT[kind]}; not overwriting it"
            )
    else:
        check_contents(locate(local), kind)
    _probe_writable(p if p.is_dir() else p.parent, shown)
    return p


def _check_report(loc: Location, shown: str, is_dir: bool) -> None:
    if is_dir:
        raise OutputPathError(f"output path {shown!r} is a directory; expected an HTML file path")
    if not _is_report(loc):
        raise OutputPathError(
            f"output path {shown!r} exists and is not {_WHAT['report']}; not overwriting it"
        )


def _url_key(url: str) -> tuple[str, PurePosixPath] | None:
    try:
        loc = locate(url)
    except Exception:  # noqa: BLE001 - an unparsable URL overlaps nothing
        return None
    protocol = loc.fs.protocol if isinstance(loc.fs.protocol, str) else loc.fs.protocol[0]
    return protocol, PurePosixPath("/" + loc.path.strip("/"))


def _check_url(url: str, kind: str, inputs: Iterable[InputPath]) -> str:
    if kind == "dataset":
        raise OutputPathError(
            f"output path {url!r} must be a local path: generate writes local files only"
        )
    try:
        loc = locate(url)
    except StoreError as exc:
        raise OutputPathError(f"output URL {url!r} cannot be used: {exc.reason}") from None
    key = _url_key(url)
    if key is not None:
        others = [
            (i, k[1]) for i in _flat(inputs) if is_url(i) and (k := _url_key(i)) and k[0] == key[0]
        ]
        _refuse_overlap(url, key[1], others)  # type: ignore[arg-type]
        if key[1] == PurePosixPath("/") and kind != "report":
            raise OutputPathError(f"output path {url!r} is the root of its store; name a directory")
    try:
        bucket = loc.path.split("/")[0]
        if bucket and not loc.path.startswith("/") and not loc.fs.exists(bucket):
            raise OutputPathError(
                f"output URL {url!r} cannot be used: its bucket {bucket!r} does not exist"
            )
        exists = loc.fs.exists(loc.path)
        if exists and kind == "report":
            _check_report(loc, url, not loc.fs.isfile(loc.path))
        elif exists:
            check_contents(loc, kind)
    except OutputPathError:
        raise
    except Exception as exc:  # credentials, network: the store's own message
        raise OutputPathError(
            f"output URL {url!r} cannot be reached: {type(exc).__name__}: {exc}"
        ) from None
    return url


def check_output(
    path: str | os.PathLike[str], kind: OutputKind, *, inputs: Iterable[InputPath] = ()
) -> Path | str:
    """Check that ``path`` may be written as an output of ``kind`` (see the module's rule).

    ``inputs`` are the paths the command reads (data, model, checkpoint directory). Raises
    :class:`OutputPathError`, touching nothing but a probe file. Returns a local path as a
    Path (``file://`` stripped), an fsspec URL as the string given.
    """
    if kind not in OUTPUT_KINDS:
        raise ValueError(f"output kind must be one of {OUTPUT_KINDS}; got {kind!r}")
    shown = os.fspath(path)
    if not shown:
        raise OutputPathError("output path must not be empty")
    if is_url(shown):
        return _check_url(shown, kind, inputs)
    return _check_local(
        shown, shown[len("file://") :] if shown.startswith("file://") else shown, kind, inputs
    )


def check_work_dir(path: str | os.PathLike[str], what: str) -> Path:
    """A local directory logloss adds its own files to (e.g. a checkpoint directory)."""
    shown = os.fspath(path)
    if not shown or is_url(shown):
        raise OutputPathError(f"{what} {shown!r} must be a local path")
    p = Path(os.path.expanduser(shown[len("file://") :] if shown.startswith("file://") else shown))
    _probe_writable(_nearest_dir(p, shown, what), shown, what)
    return p
