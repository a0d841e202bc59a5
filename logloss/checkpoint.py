"""Optimiser checkpoints: one JSON file, written atomically, enough to resume a fit.

The file holds θ (floats written with repr, so they read back bit for bit), the
iteration count, the history, a fingerprint of the problem (data shape, classes,
settings, the caller's data fingerprint, a content hash of in-memory data) and the
value and gradient of the objective at θ, which the resumed fit compares with its first
evaluation there (a free check that the rows are the same). Resuming against a different
problem is refused with a :class:`CheckpointError` that says what differs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .model import atomic_write_bytes
from .solvers import SolverState

__all__ = [
    "CHECKPOINT_FILE",
    "CheckpointError",
    "NotACheckpointError",
    "describe_difference",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FILE = "checkpoint.json"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used for this fit."""


class NotACheckpointError(CheckpointError):
    """The checkpoint file exists but was not written by logloss: never overwritten."""


def save_checkpoint(
    directory: str | os.PathLike[str],
    state: SolverState,
    fingerprint: dict[str, Any],
    *,
    at_theta: tuple[float, Any] | None = None,
) -> Path:
    """Write ``state`` atomically; ``at_theta`` = (value, gradient) of the objective at θ."""
    doc: dict[str, Any] = {
        "format": "logloss-checkpoint",
        "fingerprint": fingerprint,
        "n_iter": state.n_iter,
        "theta": [float(v) for v in state.theta],
        "history": list(state.history),
    }
    if at_theta is not None:
        doc["at_theta"] = {
            "value": float(at_theta[0]),
            "grad": [float(v) for v in np.asarray(at_theta[1], dtype=np.float64)],
        }
    return atomic_write_bytes(Path(directory) / CHECKPOINT_FILE, json.dumps(doc).encode())


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_difference(saved: Any, now: Any, prefix: str = "") -> list[str]:
    """'key (<saved> in the checkpoint, <now> now)' for every (nested) key that differs."""
    if isinstance(saved, dict) and isinstance(now, dict):
        out: list[str] = []
        for k in sorted(set(saved) | set(now), key=str):
            name = f"{prefix}.{k}" if prefix else str(k)
            if k not in saved:
                out.append(f"{name} (absent in the checkpoint, {_short(now[k])} now)")
            elif k not in now:
                out.append(f"{name} ({_short(saved[k])} in the checkpoint, absent now)")
            elif saved[k] != now[k]:
                out.extend(describe_difference(saved[k], now[k], name))
        return out
    if saved == now:
        return []
    return [f"{prefix or 'value'} ({_short(saved)} in the checkpoint, {_short(now)} now)"]


def read_checkpoint(
    directory: str | os.PathLike[str], fingerprint: dict[str, Any]
) -> tuple[SolverState, tuple[float, np.ndarray] | None] | None:
    """The saved state and (value, gradient) at its θ if recorded; None when there is no
    checkpoint yet. A checkpoint of another problem raises :class:`CheckpointError`."""
    path = Path(directory) / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise NotACheckpointError(
            f"{str(path)!r} is not a logloss checkpoint ({exc}); it is left as it is: "
            "choose another checkpoint directory"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != "logloss-checkpoint":
        raise NotACheckpointError(
            f'{str(path)!r} is not a logloss checkpoint (no "format": '
            '"logloss-checkpoint" in it); it is left as it is: choose another checkpoint '
            "directory"
        )
    try:
        theta = np.array(doc["theta"], dtype=np.float64)
        state = SolverState(theta, int(doc["n_iter"]), tuple(doc["history"]))
        saved = doc["fingerprint"]
        at = doc.get("at_theta")
        at_theta = (
            None if at is None else (float(at["value"]), np.array(at["grad"], dtype=np.float64))
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} is unreadable: {exc}") from None
    if saved != fingerprint:
        diff = describe_difference(saved, fingerprint)
        raise CheckpointError(
            f"checkpoint {str(path)!r} was written for a different fit; it differs in: "
            f"{'; '.join(diff)}. Remove it, use another checkpoint directory, or pass "
            "checkpoint_restart=True to start afresh and overwrite it"
        )
    return state, at_theta


def load_checkpoint(
    directory: str | os.PathLike[str], fingerprint: dict[str, Any]
) -> SolverState | None:
    """The saved state, or None when the directory holds no checkpoint yet."""
    got = read_checkpoint(directory, fingerprint)
    return None if got is None else got[0]
