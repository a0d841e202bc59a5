"""Model files without pickle: a directory of plain files, written atomically.

Layout of a model directory::

    model.json   metadata: format, library version, params, classes, feature names,
                 n_iter, converged, history, the coefficients' shape and SHA-256
    coef.npy     float64 vector [coef_0 .. coef_{p-1}, intercept] (NumPy format,
                 read with allow_pickle=False)

Any other file beside them (metrics.json, pictures, report.html) is ignored by
:func:`read_model_files`. A directory is written under a temporary sibling name and
renamed into place, so a crash never leaves a half-written model.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT",
    "ModelFileError",
    "atomic_dir",
    "atomic_write_bytes",
    "decode_labels",
    "encode_labels",
    "read_model_files",
    "write_model_files",
]

FORMAT = "logloss-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model directory that is missing, corrupt, or not a logloss model."""


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with _suppress():
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def _suppress() -> Iterator[None]:
    try:
        yield
    except OSError:
        pass


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` when the block succeeds.

    On error the temporary directory is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would hide models from other users
    try:
        yield tmp
        if path.exists() or path.is_symlink():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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


def write_model_files(
    path: str | os.PathLike[str],
    meta: dict[str, Any],
    params_vector: np.ndarray,
    *,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write ``model.json`` and ``coef.npy`` into ``path`` atomically.

    ``extra(tmpdir)`` may add more files (metrics, pictures) before the rename.
    """
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
    with atomic_dir(path) as tmp:
        (tmp / "coef.npy").write_bytes(data)
        (tmp / "model.json").write_text(json.dumps(meta, indent=2, allow_nan=True) + "\n")
        if extra is not None:
            extra(tmp)
    return Path(path)


def read_model_files(path: str | os.PathLike[str]) -> tuple[dict[str, Any], np.ndarray]:
    """Read and verify a model directory; :class:`ModelFileError` on any defect."""
    path = Path(path)
    meta_path = path / "model.json"
    if not path.exists():
        raise ModelFileError(f"model directory {str(path)!r} does not exist")
    if not meta_path.is_file():
        raise ModelFileError(f"{str(path)!r} is not a logloss model: no model.json in it")
    try:
        meta = json.loads(meta_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{str(meta_path)!r} is corrupt: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(
            f"{str(meta_path)!r} is not a logloss model file "
            f"(format {meta.get('format') if isinstance(meta, dict) else None!r}, "
            f"expected {FORMAT!r})"
        )
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(meta_path)!r} has format version {meta['format_version']}; "
            f"this logloss reads up to {FORMAT_VERSION}"
        )
    coef_path = path / str(meta.get("coef_file", "coef.npy"))
    try:
        data = coef_path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read coefficients {str(coef_path)!r}: {exc}") from None
    if hashlib.sha256(data).hexdigest() != meta.get("coef_sha256"):
        raise ModelFileError(
            f"{str(coef_path)!r} is corrupt: its SHA-256 does not match model.json"
        )
    try:
        vec = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise ModelFileError(f"{str(coef_path)!r} is corrupt: {exc}") from None
    if list(vec.shape) != meta.get("coef_shape") or vec.dtype != np.float64:
        raise ModelFileError(f"{str(coef_path)!r} has shape {vec.shape}, dtype {vec.dtype}")
    return meta, vec
