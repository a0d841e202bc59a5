"""What an output path may be, checked before any data is read or any cluster started.

The rule, the same for every command and flow that writes (``train --out``, ``predict --out``,
the ``score`` flow, ``report --out``, ``generate OUT``, the train flow's model directory):

- the path may be **absent**: its nearest existing ancestor must then be a directory in which
  a file can be created (probed by creating and removing a temporary file);
- or an **existing output of the same kind written by logloss**, which is then replaced:
  a model directory (``model.json`` with ``"format": "logloss-model"``) for ``model``; a
  predictions directory (holding :data:`PREDICTIONS_MARKER`) for ``predictions``; an HTML
  page written by logloss for ``report``; a directory of published versions (only version
  directories, a ``latest`` symbolic link and hidden entries) for ``published``, to which
  a version is added;
- or an **empty directory** (not for ``report``, which writes a file).

Anything else (a file, a non-empty foreign directory, the current or home directory or one of
their ancestors, an output of another kind) raises :class:`OutputPathError`, naming the path
and the reason, and nothing is touched. An output equal to or inside an input (data, model
directory, checkpoint directory), or an input inside the output, is refused the same way.

An fsspec URL (``s3://``, ``gs://``, ``memory://`` ...) follows the same rule for models,
predictions, reports and published versions, with the layout of :mod:`logloss.store` (a model
is known by its pointer file); ``file://`` URLs are local paths. ``generate`` and checkpoint
directories take local paths only.
"""

from __future__ import annotations

import glob
import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePath, PurePosixPath
from typing import Literal

__all__ = [
    "OUTPUT_KINDS",
    "OutputPathError",
    "PREDICTIONS_FORMAT",
    "PREDICTIONS_MARKER",
    "REPORT_MARKERS",
    "check_output",
    "check_work_dir",
    "is_logloss_output",
]

InputPath = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None
OutputKind = Literal["model", "predictions", "report", "dataset", "published"]
OUTPUT_KINDS: tuple[str, ...] = ("model", "predictions", "report", "dataset", "published")

#: Written inside every predictions directory (ignored by Parquet readers: leading ``_``).
PREDICTIONS_MARKER = "_logloss_predictions.json"
PREDICTIONS_FORMAT = "logloss-predictions"
#: Strings by which an HTML page written by :func:`logloss.report.write_html_report` is known.
REPORT_MARKERS = ("<meta name='generator' content='logloss", "<title>logloss report: ")

_VERSION_RE = re.compile(r"^\d{8}T\d{6}Z(-[0-9a-f]{6})?$")
_VERSION_RE_URL = re.compile(r"^\.v-\d+-\d+-[0-9a-f]{8}$")  # a model version (logloss.store)
_WHAT = {
    "model": "a logloss model directory",
    "predictions": "a logloss predictions directory",
    "report": "a report page written by logloss",
    "dataset": "an empty directory",
    "published": "a logloss published-models directory",
}


class OutputPathError(ValueError):
    """An output path that logloss refuses to write: it would replace something else."""


def _local(path: str | os.PathLike[str]) -> str | None:
    """The local filesystem path of ``path``, or None for a remote fsspec URL."""
    text = os.fspath(path)
    if text.startswith("file://"):
        return text[len("file://") :]
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
        return None
    return text


def _real(path: str) -> Path:
    return Path(os.path.realpath(os.path.expanduser(path)))


def _input_paths(inputs: Iterable[InputPath]) -> list[tuple[str, Path]]:
    """(as given, resolved) for every local input; globs expand to the paths they match."""
    found: list[tuple[str, Path]] = []
    for item in inputs:
        if item is None:
            continue
        if not isinstance(item, str | os.PathLike):
            found += _input_paths(item)
            continue
        local = _local(item)
        if local is None:
            continue
        if glob.has_magic(local):
            found += [(m, _real(m)) for m in glob.glob(local, recursive=True)]
        else:
            found.append((os.fspath(item), _real(local)))
    return found


def _inside(a: PurePath, b: PurePath) -> bool:
    return a == b or a.is_relative_to(b)


def is_logloss_output(path: str | os.PathLike[str], kind: str) -> bool:
    """True when ``path`` exists and is an output of ``kind`` written by logloss."""
    from .store import is_url

    if is_url(path):
        try:
            return _is_url_output(os.fspath(path), kind)
        except Exception:  # an unreachable store holds no output of ours
            return False
    p = Path(path)
    try:
        if kind == "model":
            meta = json.loads((p / "model.json").read_text())
            return isinstance(meta, dict) and meta.get("format") == "logloss-model"
        if kind == "predictions":
            meta = json.loads((p / PREDICTIONS_MARKER).read_text())
            return isinstance(meta, dict) and meta.get("format") == PREDICTIONS_FORMAT
        if kind == "report":
            if not p.is_file():
                return False
            with open(p, "rb") as fh:
                head = fh.read(8192).decode("utf-8", errors="replace")
            return head.lstrip().lower().startswith("<!doctype html") and any(
                m in head for m in REPORT_MARKERS
            )
        if kind == "published":
            if not p.is_dir():
                return False
            return all(
                e.name.startswith(".")
                or (e.name == "latest" and (e.is_symlink() or _latest_file(e)))
                or (e.is_dir() and not e.is_symlink() and _VERSION_RE.match(e.name))
                for e in p.iterdir()
            )
    except (OSError, ValueError):
        return False
    return False


def _latest_file(p: Path) -> bool:
    """A ``latest`` pointer file (as written at fsspec URLs, then copied here)."""
    from .store import read_latest_doc

    return p.is_file() and read_latest_doc(p.read_bytes()[:4096]) is not None


def _is_url_output(url: str, kind: str) -> bool:
    from . import store

    fs, path = store.split_url(url)
    if kind == "model":
        return store.is_model_url(fs, path)
    if kind == "predictions":
        meta = store._read_json(fs, f"{path}/{PREDICTIONS_MARKER}")
        return isinstance(meta, dict) and meta.get("format") == PREDICTIONS_FORMAT
    if kind == "report":
        if not fs.isfile(path):
            return False
        with fs.open(path, "rb") as fh:
            head = fh.read(8192).decode("utf-8", errors="replace")
        return head.lstrip().lower().startswith("<!doctype html") and any(
            m in head for m in REPORT_MARKERS
        )
    if kind == "published":
        if not fs.isdir(path):
            return False
        for name in store._names(fs, path):
            full = f"{path}/{name}"
            if name.startswith("."):
                continue
            if name == store.LATEST and fs.isfile(full):
                if store.read_latest_doc(bytes(fs.cat_file(full))) is None:
                    return False
                continue
            if not (_VERSION_RE.match(name) and fs.isdir(full)):
                return False
        return True
    return False


def _url_key(url: str) -> tuple[str, PurePosixPath] | None:
    """(protocol, path) of a URL input or output, to compare them; None if not parsable."""
    from .store import split_url

    try:
        fs, path = split_url(url)
    except Exception:
        return None
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol, PurePosixPath("/" + path.strip("/"))


def _check_url(url: str, kind: str, inputs: Iterable[InputPath]) -> str:
    """The output rule for an fsspec URL (not ``file://``); returns the URL."""
    from . import store

    if kind == "dataset":
        raise OutputPathError(
            f"output path {url!r} must be a local path: generate writes local files only"
        )
    try:
        fs, path = store.split_url(url)
    except store.StoreError as exc:
        raise OutputPathError(f"output URL {url!r} cannot be used: {exc.reason}") from None
    key = _url_key(url)
    _refuse_url_overlap(url, key, inputs)
    if key is not None and key[1] == PurePosixPath("/") and kind != "report":
        raise OutputPathError(f"output path {url!r} is the root of its store; name a directory")
    try:
        exists = fs.exists(path)
        is_file = exists and fs.isfile(path)
        names = store._names(fs, path) if exists and not is_file else []
    except Exception as exc:  # credentials, network, bucket: the store's own message
        raise OutputPathError(
            f"output URL {url!r} cannot be reached: {type(exc).__name__}: {exc}"
        ) from None
    if not exists or (not is_file and not names):
        return url
    _check_existing_url(url, kind, is_file, names)
    return url


def _refuse_url_overlap(
    url: str, key: tuple[str, PurePosixPath] | None, inputs: Iterable[InputPath]
) -> None:
    from . import store

    for item in _flat(inputs):
        if not store.is_url(item):
            continue
        other = _url_key(os.fspath(item))
        if key is None or other is None or other[0] != key[0]:
            continue
        if _inside(key[1], other[1]):
            rel = "is" if key[1] == other[1] else "is inside"
            raise OutputPathError(
                f"output path {url!r} {rel} the input {os.fspath(item)!r}; "
                "write the output elsewhere"
            )
        if _inside(other[1], key[1]):
            raise OutputPathError(
                f"output path {url!r} contains the input {os.fspath(item)!r}; "
                "write the output elsewhere"
            )


def _check_existing_url(url: str, kind: str, is_file: bool, names: list[str]) -> None:
    """An existing, non-empty output at a URL: an output of ``kind`` by logloss, or refused."""
    what = _WHAT[kind]
    if kind == "report":
        if not is_file:
            raise OutputPathError(f"output path {url!r} is a directory; expected an HTML file path")
        if not _is_url_output(url, "report"):
            raise OutputPathError(
                f"output path {url!r} exists and is not {what}; not overwriting it"
            )
        return
    if is_file:
        raise OutputPathError(f"output path {url!r} is a file, not {what}; not overwriting it")
    if _is_url_output(url, kind) or all(_VERSION_RE_URL.match(n) for n in names):
        return  # ours, or only versions a crashed save of logloss left
    kinds = [k for k in ("model", "predictions", "published") if k != kind]
    found = next((k for k in kinds if _is_url_output(url, k)), None)
    why = f"it is {_WHAT[found]}" if found else "it holds files logloss did not write"
    raise OutputPathError(
        f"output path {url!r} is not empty and not {what} ({why}); not replacing it"
    )


def _flat(inputs: Iterable[InputPath]) -> list[str | os.PathLike[str]]:
    out: list[str | os.PathLike[str]] = []
    for item in inputs:
        if item is None:
            continue
        if isinstance(item, str | os.PathLike):
            out.append(item)
        else:
            out += _flat(item)
    return out


def _probe_writable(directory: Path, shown: str, what: str = "output path") -> None:
    """Create and remove a file in ``directory`` (the nearest existing ancestor of the output)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".logloss-probe-", dir=directory)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputPathError(
            f"{what} {shown!r} cannot be written: cannot create files in "
            f"{str(directory)!r} ({reason})"
        ) from None
    os.close(fd)
    os.unlink(name)


def _refuse_user_dirs(shown: str, real: Path) -> None:
    """Directories a user works in are never an output, even when empty."""
    for name, special in (
        ("the current directory", Path.cwd().resolve()),
        ("the home directory", Path.home().resolve()),
    ):
        if _inside(special, real):
            rel = "is" if real == special else "is an ancestor of"
            raise OutputPathError(f"output path {shown!r} {rel} {name}; refusing to replace it")


def _refuse_overlap(shown: str, real: Path, inputs: Iterable[InputPath]) -> None:
    """An output equal to or inside an input, or holding one, is refused."""
    for given, inp in _input_paths(inputs):
        if _inside(real, inp):
            rel = "is" if real == inp else "is inside"
            raise OutputPathError(
                f"output path {shown!r} {rel} the input {given!r}; write the output elsewhere"
            )
        if _inside(inp, real):
            raise OutputPathError(
                f"output path {shown!r} contains the input {given!r}; write the output elsewhere"
            )


def _check_existing_report(p: Path, shown: str) -> None:
    if p.is_dir():
        raise OutputPathError(f"output path {shown!r} is a directory; expected an HTML file path")
    if not is_logloss_output(p, "report"):
        raise OutputPathError(
            f"output path {shown!r} exists and is not {_WHAT['report']}; not overwriting it"
        )


def _check_existing_dir(p: Path, shown: str, kind: str) -> None:
    """An existing directory must be an output of ``kind`` by logloss, or empty."""
    what = _WHAT[kind]
    if not p.is_dir():
        raise OutputPathError(f"output path {shown!r} is a file, not {what}; not overwriting it")
    if is_logloss_output(p, kind):
        return
    try:
        empty = not any(p.iterdir())
    except OSError as exc:
        raise OutputPathError(f"output path {shown!r} cannot be listed: {exc}") from None
    if empty:
        return
    if kind == "dataset":
        raise OutputPathError(
            f"output path {shown!r} is a directory that is not empty; not writing into it"
        )
    other = [k for k in ("model", "predictions", "published") if k != kind]
    found = next((k for k in other if is_logloss_output(p, k)), None)
    why = f"it is {_WHAT[found]}" if found else "it holds files logloss did not write"
    raise OutputPathError(
        f"output path {shown!r} is not empty and not {what} ({why}); not replacing it"
    )


def _check_creatable(p: Path, shown: str) -> None:
    """An absent output: its nearest existing ancestor must be a writable directory."""
    ancestor = p.parent
    while not ancestor.exists() and not ancestor.is_symlink() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputPathError(
            f"output path {shown!r} cannot be created: {str(ancestor)!r} is "
            + ("a file, not a directory" if ancestor.exists() else "a dangling symbolic link")
        )
    _probe_writable(ancestor, shown)


def check_output(
    path: str | os.PathLike[str],
    kind: OutputKind,
    *,
    inputs: Iterable[InputPath] = (),
) -> Path | str:
    """Check that ``path`` may be written as an output of ``kind``; return it as a Path.

    See the module docstring for the rule. ``inputs`` are the paths the command reads
    (data files, directories or globs, the model directory, the checkpoint directory);
    URL inputs are compared with a URL output. Raises :class:`OutputPathError` (a
    ValueError), touching nothing but a probe file created and removed in the nearest
    existing ancestor. Returns a local path as a Path (``file://`` stripped), an fsspec URL
    as the string given.
    """
    if kind not in OUTPUT_KINDS:
        raise ValueError(f"output kind must be one of {OUTPUT_KINDS}; got {kind!r}")
    shown = os.fspath(path)
    local = _local(path)
    if not shown:
        raise OutputPathError("output path must not be empty")
    if local is None:
        return _check_url(shown, kind, inputs)
    p = Path(os.path.expanduser(local))
    real = _real(local)
    _refuse_user_dirs(shown, real)
    _refuse_overlap(shown, real, inputs)
    if p.is_symlink() and not p.exists():
        raise OutputPathError(f"output path {shown!r} is a dangling symbolic link; not replacing")
    if not p.exists():
        _check_creatable(p, shown)
        return p
    if kind == "report":
        _check_existing_report(p, shown)
    else:
        _check_existing_dir(p, shown, kind)
    # the replacement is written beside the output, then renamed over it
    _probe_writable(p.parent if p.parent.exists() else real.parent, shown)
    return p


def check_work_dir(path: str | os.PathLike[str], what: str) -> Path:
    """A directory logloss adds its own files to (e.g. a checkpoint directory).

    It may exist (as a directory) or be absent; either way files must be creatable in it or
    in its nearest existing ancestor. Raises :class:`OutputPathError` otherwise.
    """
    shown = os.fspath(path)
    local = _local(path)
    if local is None or not shown:
        raise OutputPathError(f"{what} {shown!r} must be a local path")
    p = Path(os.path.expanduser(local))
    ancestor = p
    while not ancestor.exists() and not ancestor.is_symlink() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputPathError(
            f"{what} {shown!r} cannot be used: {str(ancestor)!r} is "
            + ("a file, not a directory" if ancestor.exists() else "a dangling symbolic link")
        )
    _probe_writable(ancestor, shown, what)
    return p
