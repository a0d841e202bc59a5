"""``newton``: Newton/IRLS with the reduced Hessian and a backtracking line search; one pass
per iteration (value, gradient and Hessian together) when full steps are taken."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg

from ..objective import Objective
from .base import Array, Callback, Recorder, SolverResult, SolverState, armijo


def newton(
    objective: Objective,
    start: SolverState,
    *,
    max_iter: int,
    tol: float,
    callback: Callback | None = None,
    hessian: Array | None = None,
) -> SolverResult:
    """Newton's method (IRLS) with the reduced Hessian and Armijo backtracking.

    ``hessian``: an approximation to start with (e.g. the Hessian of a row sample). While it
    is used, each iteration needs only the value and gradient; as soon as a full step fails
    to shrink the gradient norm at least 4-fold, exact Hessians take over.
    """
    rec = Recorder(objective, start, callback)
    theta, _, grad, message = newton_loop(
        objective,
        rec,
        np.array(start.theta, dtype=np.float64),
        max_iter=max_iter,
        tol=tol,
        hessian=hessian,
    )
    return rec.result(theta, grad, tol, message)


def newton_loop(
    objective: Objective,
    rec: Recorder,
    theta: Array,
    *,
    max_iter: int,
    tol: float,
    hessian: Array | None = None,
    start: tuple[float, Array] | None = None,
) -> tuple[Array, float, Array, str]:
    """Newton iterations from θ until max |∇J| ≤ tol, max_iter, or no progress is possible.

    Returns θ, its value and gradient, and why it stopped.
    """
    approx = None if hessian is None else np.asarray(hessian, dtype=np.float64)

    def evaluate(at: Array) -> tuple[float, Array, Array]:
        if approx is None:
            return objective.hessian(at)
        value, grad = objective(at)
        return value, grad, approx

    value, grad, H = evaluate(theta)
    while True:
        if rec.norm(grad) <= tol:
            return theta, value, grad, "gradient norm below tol"
        if rec.n_iter >= max_iter:
            return theta, value, grad, "max_iter reached"
        found = _line_search(evaluate, theta, value, _descent(H, grad))
        if found is None:
            return theta, value, grad, "the line search could not decrease the loss"
        step, trial, (t_value, t_grad, t_H) = found
        if t_value >= value and rec.norm(t_grad) >= rec.norm(grad):
            # No progress left at machine precision.
            return theta, value, grad, "no further decrease possible at machine precision"
        if approx is not None and (step < 1.0 or rec.norm(t_grad) > 0.25 * rec.norm(grad)):
            approx = None  # the approximation stopped paying: exact Hessians from here on
            if rec.norm(t_grad) > tol:
                t_value, t_grad, t_H = evaluate(trial)
        moved = float(np.linalg.norm(trial - theta))  # ‖Δθ‖ of this iteration
        theta, value, grad, H = trial, t_value, t_grad, t_H
        rec.record(theta, value, grad, moved)


def _descent(H: Array, grad: Array) -> tuple[Array, float]:
    """The Newton direction and its slope ∇f·d; −g when it is not a descent direction
    (numerical trouble)."""
    direction = _newton_direction(H, grad)
    slope = float(grad @ direction)
    if not slope < 0:
        return -grad, -float(grad @ grad)
    return direction, slope


def _line_search(
    evaluate: Callable[[Array], tuple[float, Array, Array]],
    theta: Array,
    value: float,
    descent: tuple[Array, float],
) -> tuple[float, Array, tuple[float, Array, Array]] | None:
    """Backtracking from step 1 until :func:`~logloss.solvers.base.armijo` holds: the step,
    the point and its evaluation; None when the step shrinks below 1e-12."""
    direction, slope = descent
    step = 1.0
    while step >= 1e-12:
        trial = theta + step * direction
        evaluated = evaluate(trial)
        if armijo(value, evaluated[0], step * slope):
            return step, trial, evaluated
        step *= 0.5
    return None


def _newton_direction(H: Array, grad: Array) -> Array:
    """−H⁻¹g, solved after a symmetric diagonal scaling of H (columns of very different
    scales, e.g. one in the 1e18s beside ones near 1, would otherwise make H look singular)."""
    diag = np.abs(np.diag(H))
    d = 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0))
    Hs = H * np.outer(d, d)
    gs = grad * d
    try:
        sol = -scipy.linalg.solve(Hs, gs, assume_a="pos")
        return np.asarray(sol * d, dtype=np.float64)
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        pass
    # Singular Hessian (no penalty, collinear or separable data): least squares.
    sol, *_ = scipy.linalg.lstsq(Hs, -gs, cond=1e-12)
    return np.asarray(sol * d, dtype=np.float64)
