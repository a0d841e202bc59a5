"""Models and predictions, each written as a version of a location (:mod:`.versions`).

A model version holds ``model.json``, ``coef.npy`` (:mod:`.modelfile`) and what
``extra(folder)`` adds; a predictions version ``part-*.parquet`` and :data:`PREDICTIONS_MARKER`.
Readers follow ``latest`` and, when a save or clean-up removed what they were reading, again.
"""

from __future__ import annotations

import json
import os
import posixpath
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from . import levels
from . import modelfile as mf
from .modelfile import ModelFileError
from .rules import check_contents
from .versions import (
    COMMIT_FILES,
    LATEST,
    OLD_POINTER,
    Location,
    StrPath,
    commit,
    locate,
    reaching,
    resolve,
)

PREDICTIONS_MARKER, PREDICTIONS_FORMAT = "_logloss_predictions.json", "logloss-predictions"
COMPACT_FEATURES = 100_000  # model.json of a model with more coefficients is written compact
MAX_META_BYTES = 1 << 26  # a model.json larger than this (64 MiB) is refused unread
_ATTEMPTS = 20
T = TypeVar("T")
Fill = Callable[[Path], None]  # writes a version's files into a local folder


def _shown(loc: Location) -> Path | str:
    return Path(loc.shown) if loc.local else loc.shown


def save_folder(
    path: StrPath,
    fill: Fill,
    *,
    promote: bool = True,
    verdict: str | None = None,
    reason: str = "",
    record: Mapping[str, Any] | None = None,
    keep: int | None = None,
) -> Path | str:
    """A new model version at ``path`` whose files ``fill(folder)`` writes; returns it.

    ``promote`` False: the version is written and kept (verdict ``rejected`` by default)
    but ``latest`` is not moved and it is never served. ``verdict``, ``reason`` and
    ``record`` (``window``, ``metrics``, anything else to keep) go into its
    ``_version.json``; ``keep``: retention (:func:`~logloss.storage.versions.commit`)."""
    loc = locate(path)
    with reaching(loc, "model"):
        check_contents(loc, "model")

    def write(where: str) -> None:
        if loc.local:
            return fill(Path(where))
        with tempfile.TemporaryDirectory(prefix="logloss-") as top:
            tmp = Path(top, posixpath.basename(where))  # named as the version
            tmp.mkdir()
            fill(tmp)
            files = [p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file()]
            for rel in sorted(files, key=lambda r: (r == "model.json", r)):  # model.json last
                loc.fs.put_file(str(tmp / rel), posixpath.join(loc.fs._strip_protocol(where), rel))

    how: dict[str, Any] = dict(
        promote=promote, verdict=verdict, reason=reason, record=record, keep=keep
    )
    return _shown(loc.sub(commit(loc, "model", write, **how)))


def save_refused(
    path: StrPath,
    reason: str,
    *,
    record: Mapping[str, Any] | None = None,
    keep: int | None = None,
) -> Path | str:
    """A version at ``path`` that is a record only (verdict ``refused``: no model was fitted,
    e.g. the data checks failed): listed by ``logloss versions``, never served."""
    how: dict[str, Any] = dict(reason=reason, record=record, keep=keep)
    return save_folder(path, lambda folder: None, promote=False, verdict="refused", **how)


def version_of(folder: StrPath) -> str:
    """The name of the version a ``fill(folder)`` of :func:`save_folder` is writing."""
    return os.path.basename(os.fspath(folder)).removeprefix(".").removesuffix(".tmp")


def save_model(
    path: StrPath,
    meta: dict[str, Any],
    vector: np.ndarray | Sequence[np.ndarray],
    *,
    extra: Fill | None = None,
    promote: bool = True,
    verdict: str | None = None,
    reason: str = "",
    record: Mapping[str, Any] | None = None,
    keep: int | None = None,
) -> Path | str:
    """Save ``meta`` (model.json) and ``vector`` (coef.npy) as a new version; returns it.
    ``vector``: one array, or its parts (e.g. :func:`~logloss.storage.modelfile.model_vector`'s
    coefficients and intercept) written one after the other. ``promote``, ``verdict``,
    ``reason``, ``record``, ``keep``: as :func:`save_folder`."""
    vectors = [vector] if isinstance(vector, np.ndarray) else list(vector)
    parts = [np.ascontiguousarray(v, dtype="<f8").ravel() for v in vectors]
    size = sum(int(v.size) for v in parts)
    doc = {k: v for k, v in meta.items() if k not in ("coef", "coef_sha256")}
    doc, side = levels.split(doc)  # large vocabularies: binary side files
    if side:  # the feature names follow from the encoding: not repeated
        doc = {**doc, "feature_names": None}
    doc.update(format=mf.FORMAT, format_version=3 if side else 2, coef_file="coef.npy")
    # Indented for a reader up to COMPACT_FEATURES; beyond, one line: json's C encoder (an
    # indented dump runs the pure-Python one, ~7 s for a vocabulary of a million levels).
    indent = 2 if size <= COMPACT_FEATURES else None
    text = (json.dumps({**doc, "coef_shape": [size]}, indent=indent) + "\n").encode()

    def fill(folder: Path) -> None:
        for name, data in side.items():
            (folder / name).write_bytes(data)
        with open(folder / "coef.npy", "wb") as fh:
            fh.write(mf.npy_header(size))
            for v in parts:
                fh.write(v.data)
        (folder / "model.json").write_bytes(text)
        if extra is not None:
            extra(folder)

    how: dict[str, Any] = dict(
        promote=promote, verdict=verdict, reason=reason, record=record, keep=keep
    )
    return save_folder(path, fill, **how)


def _again(path: StrPath, read: Callable[[Location], T]) -> T:
    """``read`` the folder in force at ``path``; again when a save or clean-up moved it."""
    for attempt in range(_ATTEMPTS - 1):
        loc = resolve(path)
        try:
            return read(loc)
        except (OSError, ModelFileError):
            moved = resolve(path).path != loc.path  # a save or a clean-up moved `latest`
            going = not loc.exists() or not any(loc.isfile(f) for f in COMMIT_FILES)
            if not (moved or going):  # (going: a clean-up is removing the folder)
                raise
            time.sleep(0.001 * attempt)
    return read(resolve(path))


def read_model(path: StrPath) -> tuple[dict[str, Any], np.ndarray]:
    """(model.json, coef.npy) at ``path``: a location, a version or plain folder, 0.1's layout."""
    try:
        return _again(path, _read_folder)
    except OSError as exc:
        raise ModelFileError(f"cannot read the model at {resolve(path).shown!r}: {exc}") from None


def _read_folder(loc: Location) -> tuple[dict[str, Any], np.ndarray]:
    shown, coef = loc.sub("model.json").shown, loc.sub("coef.npy").shown
    try:
        with loc.open("model.json") as fh:
            raw = fh.read(MAX_META_BYTES + 1)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        if not loc.exists():
            raise ModelFileError(f"model directory {loc.shown!r} does not exist") from None
        if bad := next((n for n in (LATEST, OLD_POINTER) if loc.isfile(n)), None):
            raise ModelFileError(f"{loc.sub(bad).shown!r} is not a logloss model pointer") from None
        raise ModelFileError(f"{loc.shown!r} is not a logloss model: no model.json in it") from None
    if len(raw) > MAX_META_BYTES:
        raise ModelFileError(f"{shown!r} is larger than {MAX_META_BYTES} bytes; not a model file")

    def side(name: str, limit: int) -> bytes:
        with loc.open(name) as fh:
            return bytes(fh.read(limit + 1))

    def prepare(doc: dict[str, Any]) -> None:
        if levels.has_side_files(doc):
            levels.join(doc, side, lambda name: loc.sub(name).shown)

    doc, meta = mf.parse_doc(raw, shown, prepare)
    if meta.get("feature_names") is None and meta.get("encoding") and doc.format_version >= 3:
        from ..data.encoding import Encoding  # names not repeated beside side files: derived

        meta["feature_names"] = Encoding.from_json(meta["encoding"]).feature_names
    try:
        fh = loc.open("coef.npy")
    except OSError as exc:
        raise ModelFileError(f"cannot read coefficients {coef!r}: {exc}") from None
    with fh:
        vec = mf.read_coef(fh, coef, doc)
    mf.check_vector(doc, vec, shown)
    return meta, vec


def model_folder(path: StrPath) -> Path | str:
    """The folder of the model in force at ``path`` (following ``latest``)."""
    if not (loc := resolve(path)).exists():
        raise ModelFileError(f"model directory {loc.shown!r} does not exist")
    return Path(loc.path) if loc.local else loc.shown


@contextmanager
def copy_model_to_local(path: StrPath) -> Iterator[Path]:
    """The files of the model version in force at ``path``, in a local temporary folder."""
    loc = resolve(path)
    with tempfile.TemporaryDirectory(prefix="logloss-") as tmp:
        try:
            for name in loc.fs.ls(loc.path, detail=False):
                if loc.fs.isfile(name) and not posixpath.basename(name).startswith("."):
                    loc.fs.get_file(name, os.path.join(tmp, posixpath.basename(name)))
        except OSError as exc:
            raise ModelFileError(f"cannot read the model at {loc.shown!r}: {exc}") from None
        yield Path(tmp)


def write_bytes_url(url: str, data: bytes) -> str:
    """One object written in one put (atomic on object stores)."""
    (loc := locate(url)).fs.pipe_file(loc.path, data)
    return url


def write_predictions(
    out: StrPath, write_parts: Callable[[str], int], marker: Callable[[int], dict]
) -> tuple[Path | str, int]:
    """A new predictions version at ``out`` whose parts ``write_parts(folder or URL)`` writes
    (returning the rows), then the marker ``marker(rows)``; returns (``out``, rows)."""
    loc, rows = locate(out), [0]
    with reaching(loc, "predictions"):
        check_contents(loc, "predictions")

    def write(where: str) -> None:
        rows[0] = write_parts(where)
        doc = {"format": PREDICTIONS_FORMAT, **marker(rows[0]), "complete": True}
        target = posixpath.join(loc.fs._strip_protocol(where), PREDICTIONS_MARKER)
        loc.fs.pipe_file(target, (json.dumps(doc, indent=2) + "\n").encode())

    commit(loc, "predictions", write)
    return _shown(loc), rows[0]


def predictions_path(path: StrPath) -> Path | str:
    """The folder of the predictions in force at ``path`` (its ``part-*.parquet``)."""
    return _shown(_predictions(resolve(path)))


def _predictions(loc: Location) -> Location:
    if not loc.isfile(PREDICTIONS_MARKER):
        raise ModelFileError(f"{loc.shown!r} holds no complete predictions of logloss")
    return loc


def read_predictions(path: StrPath, columns: list[str] | None = None) -> Any:
    """The predictions in force at ``path`` as one ``pyarrow.Table`` (all parts, in order)."""
    import pyarrow.dataset as pads

    def read(loc: Location) -> Any:
        return pads.dataset(_predictions(loc).path, filesystem=loc.fs).to_table(columns=columns)

    return _again(path, read)
