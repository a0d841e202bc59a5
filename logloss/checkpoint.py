"""Optimiser checkpoints: one JSON file, written atomically, enough to resume a fit.

The file holds θ (floats written with repr, so they read back bit for bit), the
iteration count, the history, a fingerprint of the problem (data shape, classes,
settings, the caller's data fingerprint, a content hash of in-memory data) and the
value and gradient of the objective at θ, which the resumed fit compares with its first
evaluation there (a free check that the rows are the same). Resuming against a different
problem is refused with a :class:`CheckpointError` that says what differs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .objective import Objective
from .remedies import Problem, ProblemError, Remedy
from .solvers import SolverResult, SolverState
from .storage import atomic_write_bytes

Array = NDArray[np.float64]

__all__ = [
    "CHECKPOINT_FILE",
    "CheckpointError",
    "Evaluations",
    "NotACheckpointError",
    "content_hash",
    "describe_difference",
    "load_checkpoint",
    "read_checkpoint",
    "run_checkpointed",
    "save_checkpoint",
]

CHECKPOINT_FILE = "checkpoint.json"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used for this fit."""


class CheckpointMismatchError(ProblemError, CheckpointError):
    """A checkpoint written for another fit (other data or settings); its problem's remedy
    is ``checkpoint_restart`` (start afresh and overwrite it)."""

    @classmethod
    def of(cls, why: str) -> CheckpointMismatchError:
        restart = Remedy(
            "checkpoint_restart",
            "remove it, use another checkpoint directory, or pass",
            True,
            " to start afresh and overwrite it",
        )
        return cls(Problem("checkpoint mismatch", why, (restart,)))


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
        raise CheckpointMismatchError.of(
            f"checkpoint {str(path)!r} was written for a different fit; it differs in: "
            f"{'; '.join(diff)}"
        )
    return state, at_theta


def load_checkpoint(
    directory: str | os.PathLike[str], fingerprint: dict[str, Any]
) -> SolverState | None:
    """The saved state, or None when the directory holds no checkpoint yet."""
    got = read_checkpoint(directory, fingerprint)
    return None if got is None else got[0]


# ------------------------------------------------------------ what a fit is
def content_hash(X: Any, y01: Any, sw: Any) -> dict[str, Any]:
    """Cheap content fingerprint of in-memory data: SHA-256 of a row sample (about 1024
    evenly spaced rows, plus the last) and per-column sums."""
    n = len(y01)
    step = max(1, n // 1024)
    rows = np.unique(np.r_[np.arange(0, n, step), max(n - 1, 0)]) if n else np.arange(0)
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(X[rows], dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(y01[rows], dtype=np.float64).tobytes())
    if sw is not None:
        h.update(np.ascontiguousarray(sw[rows], dtype=np.float64).tobytes())
    sums = np.atleast_1d(np.sum(X, axis=0, dtype=np.float64))
    return {
        "rows_sha256": h.hexdigest(),
        "column_sums": [float(v) for v in sums],
        "label_sum": float(np.sum(y01)),
        "weight_sum": None if sw is None else float(np.sum(sw)),
    }


def fit_fingerprint(
    params: dict[str, Any],
    classes: list[Any],
    n_rows: int,
    n_features: int,
    data_fingerprint: str | None,
    content: dict[str, Any],
) -> dict[str, Any]:
    """The problem a checkpoint belongs to: the estimator's settings (those that change the
    optimum: not max_iter, tol, checkpoint_every), shape, classes, the caller's data
    fingerprint and the content hash of in-memory data."""
    kept = {k: v for k, v in params.items() if k not in ("max_iter", "tol", "checkpoint_every")}
    kept = {
        k: (v if not isinstance(v, float) or np.isfinite(v) else str(v)) for k, v in kept.items()
    }
    if isinstance(kept.get("class_weight"), dict):
        kept["class_weight"] = {str(k): v for k, v in kept["class_weight"].items()}
    return {
        "n_rows": int(n_rows),
        "n_features": int(n_features),
        "classes": classes,
        "params": kept,
        "data_fingerprint": data_fingerprint,
        "content": content,
    }


class Evaluations:
    """The objective as the solver sees it, remembering the last few (value, gradient) by θ
    (stored with each checkpoint) and, on a resumed fit, checking the first evaluation at
    the saved θ against the values saved with it: different rows give different values."""

    _KEEP = 8
    #: Above this many parameters only the last 2 are kept (each a copy of θ and ∇J).
    _WIDE = 1 << 16

    def __init__(self, objective: Objective) -> None:
        self._objective = objective
        self.n_params = objective.n_params
        # the rest of the solver contract (logloss.objective.Objective), passed through
        self.convergence_norm = objective.convergence_norm
        self.penalty_value = objective.penalty_value
        self.has_l1 = objective.has_l1
        self.l1_weights = objective.l1_weights
        if hasattr(objective, "hessian_diag"):  # wide data's preconditioner (lbfgs)
            self.hessian_diag = objective.hessian_diag
        if hasattr(objective, "arrow_blocks"):  # and categorical codes' (lbfgs)
            self.arrow_blocks = objective.arrow_blocks
        self._recent: dict[bytes, tuple[float, Array]] = {}
        self._keep = self._KEEP if self.n_params <= self._WIDE else 2
        self._expect: tuple[bytes, float, Array, Path] | None = None

    def expect(self, theta: Array, at_theta: tuple[float, Array], path: Path) -> None:
        self._expect = (np.asarray(theta, np.float64).tobytes(), *at_theta, path)

    def at(self, theta: Array) -> tuple[float, Array] | None:
        return self._recent.get(np.asarray(theta, np.float64).tobytes())

    def _check_expected(self, key: bytes, value: float, grad: Array) -> None:
        if self._expect is None or self._expect[0] != key:
            return
        _, v0, g0, path = self._expect
        self._expect = None
        g0 = np.asarray(g0, dtype=np.float64)
        same = (
            g0.shape == grad.shape
            and abs(value - v0) <= 1e-9 * max(1.0, abs(v0))
            and bool(np.all(np.abs(grad - g0) <= 1e-8 * max(1.0, float(np.max(np.abs(g0))))))
        )
        if not same:
            raise CheckpointMismatchError.of(
                f"checkpoint {str(path)!r} was written for different data of the same "
                f"shape: the objective at its saved parameters is {value!r} on these rows "
                f"but was {v0!r} when it was saved"
            )

    def _seen(self, theta: Array, value: float, grad: Array) -> None:
        key = np.asarray(theta, np.float64).tobytes()
        self._recent[key] = (value, grad.copy())
        while len(self._recent) > self._keep:
            del self._recent[next(iter(self._recent))]
        self._check_expected(key, value, grad)

    def __call__(self, theta: Array) -> tuple[float, Array]:
        value, grad = self._objective(theta)
        self._seen(theta, value, grad)
        return value, grad

    def hessian(self, theta: Array) -> tuple[float, Array, Array]:
        value, grad, H = self._objective.hessian(theta)
        self._seen(theta, value, grad)
        return value, grad, H


# ------------------------------------------------------------ a checkpointed run
Callback = Callable[[SolverState], None]
#: ``run(objective, start, on_iteration)``: the solve itself (warm start included).
Run = Callable[[Evaluations, SolverState, Callback], SolverResult]


def _resume_point(
    directory: str | os.PathLike[str] | None, fingerprint: dict[str, Any], restart: bool
) -> tuple[SolverState, tuple[float, Array] | None] | None:
    if directory is None:
        return None
    try:
        return read_checkpoint(directory, fingerprint)
    except NotACheckpointError:
        raise  # someone else's file: never overwritten, even with restart
    except CheckpointError:
        if not restart:
            raise
        return None


def run_checkpointed(
    objective: Objective,
    run: Run,
    *,
    directory: str | os.PathLike[str] | None,
    fingerprint: dict[str, Any],
    every: int,
    restart: bool,
    callback: Callback | None = None,
    fresh: bool = False,
) -> tuple[SolverResult, int | None]:
    """``run`` from the checkpoint in ``directory`` when it holds one of this problem
    (``fingerprint``), saving one every ``every`` iterations and at the end.

    Returns the result and the iteration resumed from (None for a fresh start). A checkpoint
    of another problem raises :class:`CheckpointError`, or with ``restart`` is ignored
    and overwritten; so is one whose objective at its saved θ differs on these rows.
    ``fresh``: do not look for a checkpoint (start from θ = 0; it is still written).
    """
    seen = Evaluations(objective)
    n_params = objective.n_params
    start = SolverState(np.zeros(n_params), 0, ())
    resumed = None if fresh else _resume_point(directory, fingerprint, restart)
    if resumed is not None:
        start = resumed[0]
        if resumed[1] is not None:
            seen.expect(start.theta, resumed[1], Path(directory or "") / CHECKPOINT_FILE)

    def on_iteration(state: SolverState) -> None:
        if directory is not None and state.n_iter % every == 0:
            save_checkpoint(directory, state, fingerprint, at_theta=seen.at(state.theta))
        if callback is not None:
            callback(state)

    try:
        result = run(seen, start, on_iteration)
    except CheckpointError:
        if not restart:
            raise
        # the rows differ: start afresh, overwrite it
        again = run_checkpointed(
            objective,
            run,
            directory=directory,
            fingerprint=fingerprint,
            every=every,
            restart=False,
            callback=callback,
            fresh=True,
        )
        return again[0], None
    if directory is not None:
        state = SolverState(result.theta, result.n_iter, result.history)
        save_checkpoint(directory, state, fingerprint, at_theta=seen.at(result.theta))
    return result, (None if resumed is None else start.n_iter)
