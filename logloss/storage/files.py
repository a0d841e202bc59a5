"""Models and predictions, each written as a version of a location (:mod:`.versions`).

A model version holds ``model.json`` and ``coef.npy`` (:mod:`.modelfile`) and whatever
``extra(tmpdir)`` adds; a predictions version holds ``part-*.parquet`` and the marker
:data:`PREDICTIONS_MARKER`. Readers follow ``latest`` and, when a save or a clean-up removes
the version they were reading, follow it again: they always get one whole model.
"""

from __future__ import annotations

import json
import os
import posixpath
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .modelfile import (
    FORMAT,
    FORMAT_VERSION,
    ModelFileError,
    check_vector,
    npy_header,
    parse_doc,
    read_coef,
)
from .versions import LATEST, OLD_POINTER, Location, commit, locate, resolve, staging_dir

PREDICTIONS_MARKER = "_logloss_predictions.json"
PREDICTIONS_FORMAT = "logloss-predictions"
MAX_META_BYTES = 1 << 26  # a model.json larger than this is refused (64 MiB)
_ATTEMPTS = 20


def _shown(loc: Location) -> Path | str:
    return Path(loc.shown) if loc.local else loc.shown


def _upload(loc: Location, local: str, target: str, last: str) -> None:
    """Upload the files under ``local`` to the version at ``target``, ``last`` at the end."""
    root = loc.fs._strip_protocol(target)
    files = sorted(
        os.path.relpath(os.path.join(d, f), local) for d, _, fs in os.walk(local) for f in fs
    )
    for rel in sorted(files, key=lambda r: r == last):
        loc.fs.put_file(os.path.join(local, rel), posixpath.join(root, *rel.split(os.sep)))


def save_folder(path: str | os.PathLike[str], fill: Callable[[Path], None]) -> Path | str:
    """A new model version at ``path`` whose files ``fill(folder)`` writes (model.json
    among them, written last at a store); the output rule applies. Returns the version."""
    from .rules import check_contents

    loc = locate(path)
    check_contents(loc, "model")

    def write(target: str) -> None:
        if loc.local:
            return fill(Path(target))
        with staging_dir() as tmp:
            fill(Path(tmp))
            _upload(loc, tmp, target, "model.json")

    return _shown(loc.sub(commit(loc, "model", write)))


def save_model(
    path: str | os.PathLike[str],
    meta: dict[str, Any],
    vector: np.ndarray,
    *,
    extra: Callable[[Path], None] | None = None,
) -> Path | str:
    """Save ``meta`` (model.json) and ``vector`` (coef.npy) as a new version; returns it."""
    vec = np.ascontiguousarray(vector, dtype="<f8").ravel()
    doc = {k: v for k, v in meta.items() if k not in ("coef", "coef_sha256")}
    doc.update(format=FORMAT, format_version=FORMAT_VERSION, coef_file="coef.npy")
    doc["coef_shape"] = [int(vec.size)]
    text = (json.dumps(doc, indent=2) + "\n").encode()

    def fill(folder: Path) -> None:
        with open(folder / "coef.npy", "wb") as fh:
            fh.write(npy_header(vec.size))
            fh.write(memoryview(vec).cast("B"))
        (folder / "model.json").write_bytes(text)  # uploaded last to a store
        if extra is not None:
            extra(folder)

    return save_folder(path, fill)


def read_model(path: str | os.PathLike[str]) -> tuple[dict[str, Any], np.ndarray]:
    """(model.json as a dict, coef.npy) of the model at ``path``: a location (follows
    ``latest``), a version folder, a plain folder with model.json + coef.npy, or 0.1's
    layouts. :class:`ModelFileError` names the file, field and value of any defect."""
    for attempt in range(_ATTEMPTS):
        loc = resolve(path)
        try:
            return _read_folder(loc)
        except (OSError, ModelFileError) as exc:
            if attempt + 1 < _ATTEMPTS and (resolve(path).path != loc.path or not loc.exists()):
                time.sleep(0.001 * attempt)  # a save or a clean-up moved `latest`: again
                continue
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(f"cannot read the model at {loc.shown!r}: {exc}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _read_folder(loc: Location) -> tuple[dict[str, Any], np.ndarray]:
    fs, shown = loc.fs, loc.sub("model.json").shown
    try:
        with fs.open(loc.join("model.json"), "rb") as fh:
            raw = fh.read(MAX_META_BYTES + 1)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        if not fs.exists(loc.path):
            raise ModelFileError(f"model directory {loc.shown!r} does not exist") from None
        for name in (LATEST, OLD_POINTER):
            if fs.isfile(loc.join(name)):
                raise ModelFileError(
                    f"{loc.sub(name).shown!r} is not a logloss model pointer (corrupt file)"
                ) from None
        raise ModelFileError(f"{loc.shown!r} is not a logloss model: no model.json in it") from None
    if len(raw) > MAX_META_BYTES:
        raise ModelFileError(f"{shown!r} is larger than {MAX_META_BYTES} bytes; not a model file")
    doc, meta = parse_doc(raw, shown)
    coef_shown = loc.sub("coef.npy").shown
    try:
        fh = fs.open(loc.join("coef.npy"), "rb")
    except OSError as exc:
        raise ModelFileError(f"cannot read coefficients {coef_shown!r}: {exc}") from None
    with fh:
        vec = read_coef(fh, coef_shown, doc)
    check_vector(doc, vec, shown)
    return meta, vec


@contextmanager
def copy_model_to_local(path: str | os.PathLike[str]) -> Iterator[Path]:
    """The files of the model version in force at ``path``, copied into a local temporary
    folder (for code that reads a model's pictures and metrics)."""
    loc = resolve(path)
    with staging_dir() as tmp:
        try:
            for name in loc.fs.ls(loc.path, detail=False):
                if loc.fs.isfile(name) and not posixpath.basename(name).startswith("."):
                    loc.fs.get_file(name, os.path.join(tmp, posixpath.basename(name)))
        except OSError as exc:
            raise ModelFileError(f"cannot read the model at {loc.shown!r}: {exc}") from None
        yield Path(tmp)


def write_bytes_url(url: str, data: bytes) -> str:
    """One object written in one put (atomic on object stores)."""
    loc = locate(url)
    loc.fs.pipe_file(loc.path, data)
    return url


# ------------------------------------------------------------------ predictions
def write_predictions(
    out: str | os.PathLike[str],
    write_parts: Callable[[str], int],
    marker: Callable[[int], dict[str, Any]],
) -> tuple[Path | str, int]:
    """A new predictions version at ``out``: ``write_parts(folder)`` writes the part files
    (``folder`` is a local path or a URL) and returns the row count; the marker
    ``marker(rows)`` is written last, then ``latest``. Returns (``out``, rows)."""
    from .rules import check_contents

    loc = locate(out)
    check_contents(loc, "predictions")
    rows = [0]

    def write(target: str) -> None:
        rows[0] = write_parts(target)
        doc = {"format": PREDICTIONS_FORMAT, **marker(rows[0]), "complete": True}
        data = (json.dumps(doc, indent=2) + "\n").encode()
        loc.fs.pipe_file(posixpath.join(loc.fs._strip_protocol(target), PREDICTIONS_MARKER), data)

    commit(loc, "predictions", write)
    return _shown(loc), rows[0]


def predictions_path(path: str | os.PathLike[str]) -> Path | str:
    """The folder of the predictions in force at ``path`` (its ``part-*.parquet``)."""
    loc = resolve(path)
    if not loc.fs.isfile(loc.join(PREDICTIONS_MARKER)):
        raise ModelFileError(f"{loc.shown!r} holds no complete predictions of logloss")
    return _shown(loc)


def read_predictions(path: str | os.PathLike[str], columns: list[str] | None = None) -> Any:
    """The predictions in force at ``path`` as one ``pyarrow.Table`` (all parts, in order)."""
    import pyarrow.dataset as pads

    for attempt in range(_ATTEMPTS):
        where = locate(predictions_path(path))
        try:
            data = pads.dataset(where.path, filesystem=where.fs, format="parquet")
            return data.to_table(columns=columns)
        except (OSError, FileNotFoundError):
            if attempt + 1 == _ATTEMPTS or resolve(path).path == where.path:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def model_folder(path: str | os.PathLike[str]) -> Path | str:
    """The folder of the model in force at ``path`` (following ``latest``)."""
    loc = resolve(path)
    if not loc.exists():
        raise ModelFileError(f"model directory {loc.shown!r} does not exist")
    return Path(loc.path) if loc.local else loc.shown
