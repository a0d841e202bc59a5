"""``gd``: the lecture's rule θ ← θ − η ∇J with a fixed learning rate η; with
``line_search=True``, Armijo backtracking from η."""

from __future__ import annotations

import numpy as np

from ..objective import Objective
from .base import Callback, Recorder, SolverResult, SolverState, armijo


def gd(
    objective: Objective,
    start: SolverState,
    *,
    max_iter: int,
    tol: float,
    learning_rate: float = 1.0,
    line_search: bool = False,
    callback: Callback | None = None,
) -> SolverResult:
    """Gradient descent θ ← θ − η ∇J(θ), optionally with Armijo backtracking from η."""
    rec = Recorder(objective, start, callback)
    theta = np.array(start.theta, dtype=np.float64)
    value, grad = objective(theta)
    while True:
        if rec.norm(grad) <= tol:
            return rec.result(theta, grad, tol, "gradient norm below tol")
        if rec.n_iter >= max_iter:
            return rec.result(theta, grad, tol, "max_iter reached")
        step = learning_rate
        while True:
            trial = theta - step * grad
            t_value, t_grad = objective(trial)
            if not line_search:
                break
            if armijo(value, t_value, -step * float(grad @ grad)):
                break
            step *= 0.5
            if step < 1e-20:
                return rec.result(theta, grad, tol, "the line search could not decrease the loss")
        moved = float(np.linalg.norm(trial - theta))  # ‖Δθ‖ of this iteration
        theta, value, grad = trial, t_value, t_grad
        rec.record(theta, value, grad, moved)
