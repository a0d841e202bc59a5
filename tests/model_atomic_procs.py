"""Processes for the kill -9 tests of model saves (run through a forkserver)."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np

from logloss.storage import encode_labels, read_model, save_model

P = 6
EXTRA_NAMES = ("metrics.json", "report.html", "roc.png")


def model_meta(tag: int) -> tuple[dict[str, Any], np.ndarray]:
    """A valid model whose every coefficient and ``training.tag`` equal ``tag``."""
    vec = np.full(P + 1, float(tag))
    meta = {
        "library": "logloss",
        "version": "0",
        "estimator": "LogisticRegression",
        "params": {"C": 1.0, "penalty": "l2"},
        "classes": encode_labels(np.array([0, 1])),
        "n_features_in": P,
        "feature_names": [f"c{i}" for i in range(P)],
        "n_iter": tag,
        "converged": True,
        "n_rows": 10,
        "history": [{"iteration": 1, "loss": 0.5, "grad_norm": 0.1}],
        "coef": vec[:P].tolist(),
        "intercept": float(vec[P]),
        "training": {"tag": tag},
    }
    return meta, vec


def save(path: str | Path, tag: int, extras: tuple[str, ...] = ()) -> None:
    meta, vec = model_meta(tag)

    def extra(d: Path) -> None:
        for name in extras:
            (d / name).write_text(f"{tag}\n")

    save_model(path, meta, vec, extra=extra if extras else None)


def check(path: str | Path) -> int:
    """Load the model at ``path``; the tag it holds (raises on any inconsistency)."""
    meta, vec = read_model(path)
    tag = meta["training"]["tag"]
    if not (vec == float(tag)).all() or meta["n_iter"] != tag:
        raise AssertionError(f"model mixes versions: tag {tag}, coef {vec.tolist()}")
    return int(tag)


def save_01(path: str | Path, tag: int, extras: tuple[str, ...] = ()) -> None:
    """A model directory as logloss 0.1 wrote it: a hidden version, ``.current`` and
    relative links through it (format 1: the coefficients listed and hashed in model.json)."""
    import hashlib
    import io
    import json

    meta, vec = model_meta(tag)
    buf = io.BytesIO()
    np.save(buf, vec, allow_pickle=False)
    data = buf.getvalue()
    meta.update(format="logloss-model", format_version=1, coef_file="coef.npy")
    meta.update(coef_shape=[P + 1], coef_sha256=hashlib.sha256(data).hexdigest())
    path = Path(path)
    version = path / f".v-{1000 + tag}-{os.getpid()}-0123abcd"
    version.mkdir(parents=True)
    (version / "coef.npy").write_bytes(data)
    (version / "model.json").write_text(json.dumps(meta))
    for name in extras:
        (version / name).write_text(f"{tag}\n")
    os.symlink(version.name, path / ".current")
    for name in ("model.json", "coef.npy", *extras):
        os.symlink(f".current/{name}", path / name)


def saver(path: str, first_tag: int, ready: Any, seed: int) -> None:
    """Save models with increasing tags over ``path`` until killed."""
    rng = random.Random(seed)
    ready.set()
    tag = first_tag
    while True:
        extras = tuple(n for n in EXTRA_NAMES if rng.random() < 0.5)
        save(path, tag, extras)
        tag += 1


def saves(path: str, first_tag: int, n: int, seed: int) -> None:
    """Save ``n`` models with increasing tags and random extra files over ``path``."""
    rng = random.Random(seed)
    for tag in range(first_tag, first_tag + n):
        save(path, tag, tuple(name for name in EXTRA_NAMES if rng.random() < 0.5))


def reader(path: str, stop: Any, out: Any) -> None:
    """Load ``path`` in a loop until ``stop``; put (n_loads, tags seen, errors) on ``out``."""
    n, tags, errors = 0, set(), []
    while not stop.is_set():
        try:
            tags.add(check(path))
            n += 1
        except Exception as exc:  # noqa: BLE001 - every failure is reported to the test
            errors.append(f"{type(exc).__name__}: {exc}")
            if len(errors) > 20:
                break
    out.put((os.getpid(), n, sorted(tags), errors))
