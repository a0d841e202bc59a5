"""``gd``: the lecture's rule θ ← θ − η ∇J with a fixed learning rate η; with
``line_search=True``, Armijo backtracking from η.

With an L1 part (``objective.l1_weights()``, elastic net) the step is the proximal one,
θ ← soft(θ − η∇f, ηλ), convergence is judged on the pseudo-gradient and the history records
the total objective f + Σλ|θ|; without one, λ = 0 and that is the plain rule (the soft
threshold by 0 and the pseudo-gradient of ∇f are ∇f's own values).
"""

from __future__ import annotations

import numpy as np

from ..objective import Objective
from .base import Callback, Recorder, SolverResult, SolverState, armijo
from .prox import pseudo_gradient, soft


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
    """Gradient descent θ ← θ − η ∇J(θ) (proximal with an L1 part), optionally with Armijo
    backtracking from η."""
    rec = Recorder(objective, start, callback)
    theta = np.array(start.theta, dtype=np.float64)
    value, grad = objective(theta)
    lam = objective.l1_weights() if objective.has_l1 else np.zeros_like(theta)
    total = value + float(lam @ np.abs(theta))
    while True:
        pg = pseudo_gradient(theta, grad, lam)
        if rec.norm(pg) <= tol:
            return rec.result(theta, pg, tol, "gradient norm below tol")
        if rec.n_iter >= max_iter:
            return rec.result(theta, pg, tol, "max_iter reached")
        step = learning_rate
        while True:
            trial = soft(theta - step * grad, step * lam)
            t_value, t_grad = objective(trial)
            t_total = t_value + float(lam @ np.abs(trial))
            if not line_search:
                break
            # sufficient decrease along the (proximal) step: -‖Δθ‖²/η, i.e. -η‖∇f‖² plain
            if armijo(total, t_total, -float(np.sum((trial - theta) ** 2)) / step):
                break
            step *= 0.5
            if step < 1e-20:
                return rec.result(theta, pg, tol, "the line search could not decrease the loss")
        moved = float(np.linalg.norm(trial - theta))  # ‖Δθ‖ of this iteration
        if moved == 0.0:  # a step too small to change θ: nothing more to gain
            return rec.result(theta, pg, tol, "no further decrease possible at machine precision")
        theta, value, grad, total = trial, t_value, t_grad, t_total
        rec.record(theta, total, pseudo_gradient(theta, grad, lam), moved)
