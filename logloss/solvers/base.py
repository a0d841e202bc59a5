"""What every solver shares: the state and result types, the history recorder, and the
Armijo sufficient-decrease test of the line searches. See :mod:`logloss.solvers` for the
conventions (convergence is max |∇J| ≤ tol at the returned θ, history rows, callbacks)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from ..objective import Objective

Array = NDArray[np.float64]


class SolverState(NamedTuple):
    """Where an optimisation stands: enough to report progress and to resume."""

    theta: Array
    n_iter: int
    history: tuple[dict[str, float], ...]


class SolverResult(NamedTuple):
    """Where a solver stopped. ``converged`` is exactly ``grad_norm <= tol``."""

    theta: Array
    n_iter: int
    converged: bool
    history: tuple[dict[str, float], ...]
    message: str
    grad_norm: float = float("nan")  # max |∇J| at theta


Callback = Callable[[SolverState], None]


class Recorder:
    """Appends history rows and forwards each new state to the callback.

    A start with iterations already done is a resumed run: the first row recorded here
    carries ``"resumed": 1.0``, so a history never mixes two runs silently.
    """

    def __init__(self, objective: Objective, start: SolverState, callback: Callback | None) -> None:
        # The norm that convergence is judged on (max |∇J| in the problem's parameters).
        self.norm: Callable[[Array], float] = objective.convergence_norm
        # The penalty's share of the value (the history records the mean log loss itself
        # next to the penalised objective).
        self.penalty: Callable[[Array], float] = objective.penalty_value
        self.history = list(start.history)
        self.n_iter = start.n_iter
        self.resumed = start.n_iter > 0
        self.offset = self.history[-1]["seconds"] if self.history else 0.0
        self.t0 = time.perf_counter()
        self.callback = callback

    def record(self, theta: Array, value: float, grad: Array, step: float) -> None:
        self.n_iter += 1
        row = {
            "iteration": self.n_iter,
            "loss": float(value),
        }
        row["log_loss"] = float(value) - self.penalty(theta)
        row |= {
            "grad_norm": self.norm(grad),
            "step": float(step),
            "seconds": self.offset + time.perf_counter() - self.t0,
        }
        if self.resumed:
            row["resumed"] = 1.0
            self.resumed = False
        self.history.append(row)
        if self.callback is not None:
            self.callback(SolverState(theta.copy(), self.n_iter, tuple(self.history)))

    def result(self, theta: Array, grad: Array, tol: float, message: str) -> SolverResult:
        """The result at ``theta``; converged exactly when max |grad| <= tol."""
        norm = self.norm(grad)
        return SolverResult(
            theta, self.n_iter, bool(norm <= tol), tuple(self.history), message, norm
        )


def armijo(value: float, trial: float, decrease: float) -> bool:
    """Sufficient decrease f(θ + t·d) ≤ f(θ) + c·t·∇f·d, to within rounding of f itself.

    Near the optimum the predicted decrease falls below the resolution of f; the slack
    of a few ulps of f keeps the line search from shrinking the step to nothing there.
    """
    slack = 8 * np.finfo(float).eps * abs(value)
    return bool(np.isfinite(trial) and trial <= value + 1e-4 * decrease + slack)
