"""Optimiser checkpoints: one JSON file, written atomically, enough to resume a fit.

The file holds θ (floats written with repr, so they read back bit for bit), the
iteration count, the history, and a fingerprint of the problem (data shape, classes,
settings). Resuming against a different problem is refused with a clear error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .model import atomic_write_bytes
from .solvers import SolverState

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint", "CHECKPOINT_FILE"]

CHECKPOINT_FILE = "checkpoint.json"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used for this fit."""


def save_checkpoint(
    directory: str | os.PathLike[str], state: SolverState, fingerprint: dict[str, Any]
) -> Path:
    doc = {
        "format": "logloss-checkpoint",
        "fingerprint": fingerprint,
        "n_iter": state.n_iter,
        "theta": [float(v) for v in state.theta],
        "history": list(state.history),
    }
    return atomic_write_bytes(Path(directory) / CHECKPOINT_FILE, json.dumps(doc).encode())


def load_checkpoint(
    directory: str | os.PathLike[str], fingerprint: dict[str, Any]
) -> SolverState | None:
    """The saved state, or None when the directory holds no checkpoint yet."""
    path = Path(directory) / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
        theta = np.array(doc["theta"], dtype=np.float64)
        state = SolverState(theta, int(doc["n_iter"]), tuple(doc["history"]))
        saved = doc["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} is unreadable: {exc}") from None
    if saved != fingerprint:
        diff = sorted(
            k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k)
        )
        raise CheckpointError(
            f"checkpoint {str(path)!r} was written for a different fit "
            f"(differs in: {', '.join(diff)}); remove it or use another checkpoint directory"
        )
    return state
