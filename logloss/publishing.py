"""Published models and their report assets: a model saved as a new version under
``model_dir/name/`` with ``latest`` moved last, and the reading side (``latest`` followed)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .core import LogisticCore
from .data import DataError, Dataset
from .evaluation import check_features, labels01
from .model import ModelFileError
from .outputs import check_output
from .store import clean_published, is_url, publish_latest, read_latest, read_latest_doc

__all__ = ["load_published", "publish_model", "resolve_model", "write_report_assets"]


def write_report_assets(
    model: LogisticCore,
    ds: Dataset,
    directory: str | os.PathLike[str],
    *,
    metrics: dict[str, Any] | None = None,
    train: Dataset | None = None,
    held_out: str | None = None,
    sample_rows: int = 5000,
    seed: int = 0,
) -> dict[str, Any]:
    """Write metrics.json, report.json and the report pictures for ``model`` on ``ds`` into
    ``directory`` (:func:`logloss.report.assets.write_assets`).

    ``train``: the training data, for the coefficient statistics (default ``ds``).
    ``held_out``: None when ``ds`` holds the training rows, else a sentence saying how its
    rows were held out (shown at the top of the page).
    """
    from .report.assets import write_assets

    if ds.y is None:
        raise DataError(f"dataset {ds.source} has no label column to evaluate against")
    check_features(model, ds)
    train = ds if train is None else train
    return write_assets(
        directory,
        model,
        y_true=labels01(model, ds),
        proba=model.predict_proba(ds.X)[:, 1],
        sample_weight=ds.sample_weight,
        X=ds.X,
        evaluation={"data": ds.source, "rows": int(ds.X.shape[0]), "held_out": held_out},
        train=(train.X, train.y, train.sample_weight),
        metrics=metrics,
        sample_rows=sample_rows,
        seed=seed,
    )


def publish_model(
    model: LogisticCore,
    model_dir: str | os.PathLike[str],
    name: str,
    *,
    extra: Callable[[Path], None] | None = None,
    version: str | None = None,
) -> Path | str:
    """Save ``model`` as a new version under ``model_dir/name/`` and then move ``latest``.

    The version directory is complete (model files plus whatever ``extra`` writes) before
    the ``latest`` symlink is atomically replaced to point at it, so readers of ``latest``
    never see a half-written model. ``model_dir/name`` must be absent or hold only
    published versions (see :func:`logloss.outputs.check_output`, kind ``"published"``).
    At an fsspec URL ``latest`` is a small pointer file written last (:mod:`logloss.store`).
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ValueError(f"model name must be letters, digits, '.', '_' or '-'; got {name!r}")
    if version is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        version = f"{stamp}-{os.urandom(3).hex()}"
    if is_url(model_dir):  # an object store: the version, then the `latest` pointer file
        url = check_output(f"{os.fspath(model_dir).rstrip('/')}/{name}", "published")
        model.save(f"{url}/{version}", extra=extra)
        publish_latest(str(url), version)
        clean_published(str(url))  # versions a killed publish left without their pointer
        return f"{url}/{version}"
    root = Path(check_output(Path(model_dir) / name, "published"))
    root.mkdir(parents=True, exist_ok=True)
    target = root / version
    if target.exists():
        raise FileExistsError(f"model version {str(target)!r} already exists")
    model.save(target, extra=extra)
    link = root / "latest"
    tmp_link = root / f".latest-{os.getpid()}-{time.monotonic_ns()}"
    os.symlink(version, tmp_link)
    os.replace(tmp_link, link)
    return target


def resolve_model(path: str | os.PathLike[str]) -> Path | str:
    """A model directory, following a ``latest`` pointer (a symlink, or a pointer file as
    written at fsspec URLs); clear error if there is none. URLs stay strings."""
    text = os.fspath(path)
    if text.startswith("file://"):
        text = text[len("file://") :]
    if is_url(text):
        version = read_latest(text)
        return f"{text.rstrip('/')}/{version}" if version is not None else text
    p = Path(text)
    latest = p / "latest"
    if latest.is_file() and not latest.is_symlink() and not (p / "model.json").exists():
        version = read_latest_doc(latest.read_bytes())
        if version is None:
            raise ModelFileError(f"{str(latest)!r} is not a logloss 'latest' pointer")
        p = p / version
    elif latest.exists() and not (p / "model.json").exists():
        p = latest
    if not p.exists():
        raise ModelFileError(f"model directory {str(p)!r} does not exist")
    return p.resolve()


def load_published(path: str | os.PathLike[str]) -> LogisticCore:
    return LogisticCore.load(resolve_model(path))
