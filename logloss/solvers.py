"""Solvers for the log-loss objective; they know nothing of Dask.

Each solver takes an :class:`~logloss.objective.Objective` (θ -> loss, gradient[, Hessian])
and a starting :class:`SolverState`, and returns a :class:`SolverResult`. Convergence is
max |∇J| ≤ ``tol`` (scikit-learn's rule for lbfgs), or ``max_iter`` iterations.

After every iteration the solver calls ``callback(state)`` with the new state: the fit
uses it for progress displays and checkpoints (a state is enough to resume from).

- ``gd``: the lecture's rule θ ← θ − η ∇J with a fixed learning rate η; with
  ``line_search=True``, Armijo backtracking from η.
- ``lbfgs``: scipy's L-BFGS-B; each evaluation is one pass over the data.
- ``newton``: Newton/IRLS with the reduced Hessian and a backtracking line search; one
  pass per iteration (value, gradient and Hessian together) when full steps are taken.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import scipy.linalg
import scipy.optimize
from numpy.typing import NDArray

from .objective import Objective

__all__ = ["SOLVERS", "SolverResult", "SolverState", "gd", "lbfgs", "newton", "solve"]

Array = NDArray[np.float64]


class SolverState(NamedTuple):
    """Where an optimisation stands: enough to report progress and to resume."""

    theta: Array
    n_iter: int
    history: tuple[dict[str, float], ...]


class SolverResult(NamedTuple):
    theta: Array
    n_iter: int
    converged: bool
    history: tuple[dict[str, float], ...]
    message: str


Callback = Callable[[SolverState], None]


def _grad_norm(g: Array) -> float:
    return float(np.max(np.abs(g))) if g.size else 0.0


class _Recorder:
    """Appends history rows and forwards each new state to the callback."""

    def __init__(self, start: SolverState, callback: Callback | None) -> None:
        self.history = list(start.history)
        self.n_iter = start.n_iter
        self.offset = self.history[-1]["seconds"] if self.history else 0.0
        self.t0 = time.perf_counter()
        self.callback = callback

    def record(self, theta: Array, value: float, grad: Array, step: float) -> None:
        self.n_iter += 1
        self.history.append(
            {
                "iteration": self.n_iter,
                "loss": float(value),
                "grad_norm": _grad_norm(grad),
                "step": float(step),
                "seconds": self.offset + time.perf_counter() - self.t0,
            }
        )
        if self.callback is not None:
            self.callback(SolverState(theta.copy(), self.n_iter, tuple(self.history)))

    def result(self, theta: Array, converged: bool, message: str) -> SolverResult:
        return SolverResult(theta, self.n_iter, converged, tuple(self.history), message)


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
    rec = _Recorder(start, callback)
    theta = np.array(start.theta, dtype=np.float64)
    value, grad = objective(theta)
    while True:
        if _grad_norm(grad) <= tol:
            return rec.result(theta, True, "gradient norm below tol")
        if rec.n_iter >= max_iter:
            return rec.result(theta, False, "max_iter reached")
        step = learning_rate
        while True:
            trial = theta - step * grad
            t_value, t_grad = objective(trial)
            if not line_search:
                break
            if _armijo(value, t_value, -step * float(grad @ grad)):
                break
            step *= 0.5
            if step < 1e-20:
                return rec.result(theta, False, "line search failed to decrease the loss")
        theta, value, grad = trial, t_value, t_grad
        rec.record(theta, value, grad, step * float(np.linalg.norm(t_grad)))


def lbfgs(
    objective: Objective,
    start: SolverState,
    *,
    max_iter: int,
    tol: float,
    callback: Callback | None = None,
    memory: int = 10,
    hessian: Array | None = None,
) -> SolverResult:
    """scipy's L-BFGS-B with scikit-learn's settings; one data pass per evaluation.

    ``hessian``: an approximation at the start (e.g. a row sample's), used as a
    preconditioner: the search runs over u with θ = θ₀ + L⁻ᵀu, where LLᵀ = ``hessian``, so
    that the Hessian in u is near the identity and the first steps are near Newton steps.
    The gradient test is then made on the gradient in θ (max |∇J| ≤ ``tol``), never on the
    one in u; as without a preconditioner, scipy's relative-decrease test (ftol) also ends
    the search.
    """
    rec = _Recorder(start, callback)
    theta0 = np.array(start.theta, dtype=np.float64)
    chol = None
    if hessian is not None:
        try:
            chol = scipy.linalg.cholesky(hessian, lower=True)
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError, ValueError):
            chol = None

    def to_theta(u: Array) -> Array:
        if chol is None:
            return u
        return theta0 + scipy.linalg.solve_triangular(chol.T, u, lower=False)

    last: dict[str, Any] = {}

    def evaluate(theta: Array) -> tuple[float, Array]:
        seen = last.get("theta")
        if seen is None or not np.array_equal(seen, theta):
            value, grad = objective(theta)
            last["theta"], last["value"], last["grad"] = theta.copy(), value, grad
        return last["value"], last["grad"]

    def fun(u: Array) -> tuple[float, Array]:
        value, grad = evaluate(to_theta(u))
        if chol is None:
            return value, grad
        return value, scipy.linalg.solve_triangular(chol, grad, lower=True)

    prev = [theta0]
    stopped = [False]

    def on_iteration(intermediate_result: scipy.optimize.OptimizeResult) -> None:
        x = to_theta(np.asarray(intermediate_result.x, dtype=np.float64))
        value, grad = evaluate(x)
        rec.record(x, float(value), grad, float(np.linalg.norm(x - prev[0])))
        prev[0] = x
        if chol is not None and _grad_norm(grad) <= tol:
            stopped[0] = True
            raise StopIteration

    remaining = max_iter - start.n_iter
    value0, grad0 = evaluate(theta0)
    if _grad_norm(grad0) <= tol:
        return rec.result(theta0, True, "gradient norm below tol")
    if remaining <= 0:
        return rec.result(theta0, False, "max_iter reached")
    u0 = theta0 if chol is None else np.zeros_like(theta0)
    res = scipy.optimize.minimize(
        fun,
        u0,
        jac=True,
        method="L-BFGS-B",
        callback=on_iteration,
        options={
            "maxiter": remaining,
            "maxls": 50,
            "maxcor": memory,
            # preconditioned: stop on the gradient in θ (above), never on the one in u
            "gtol": tol if chol is None else 0.0,
            "ftol": 64 * np.finfo(float).eps,
        },
    )
    theta = to_theta(np.asarray(res.x, dtype=np.float64))
    converged = stopped[0] or bool(res.status == 0)
    message = "gradient norm below tol" if stopped[0] else str(res.message)
    return rec.result(theta, converged, message)


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
    rec = _Recorder(start, callback)
    theta = np.array(start.theta, dtype=np.float64)
    approx = None if hessian is None else np.asarray(hessian, dtype=np.float64)

    def evaluate(at: Array) -> tuple[float, Array, Array]:
        if approx is None:
            return objective.hessian(at)
        value, grad = objective(at)
        return value, grad, approx

    value, grad, H = evaluate(theta)
    while True:
        if _grad_norm(grad) <= tol:
            return rec.result(theta, True, "gradient norm below tol")
        if rec.n_iter >= max_iter:
            return rec.result(theta, False, "max_iter reached")
        direction = _newton_direction(H, grad)
        slope = float(grad @ direction)
        if not slope < 0:  # not a descent direction (numerical trouble): fall back to -g
            direction, slope = -grad, -float(grad @ grad)
        step = 1.0
        while True:
            trial = theta + step * direction
            t_value, t_grad, t_H = evaluate(trial)
            if _armijo(value, t_value, step * slope):
                break
            step *= 0.5
            if step < 1e-12:
                return rec.result(theta, False, "line search failed to decrease the loss")
        if t_value >= value and _grad_norm(t_grad) >= _grad_norm(grad):
            # No progress left at machine precision.
            return rec.result(theta, _grad_norm(grad) <= tol, "no further decrease possible")
        if approx is not None and (step < 1.0 or _grad_norm(t_grad) > 0.25 * _grad_norm(grad)):
            approx = None  # the approximation stopped paying: exact Hessians from here on
            if _grad_norm(t_grad) > tol:
                t_value, t_grad, t_H = evaluate(trial)
        theta, value, grad, H = trial, t_value, t_grad, t_H
        rec.record(theta, value, grad, step * float(np.linalg.norm(direction)))


def _armijo(value: float, trial: float, decrease: float) -> bool:
    """Sufficient decrease f(θ + t·d) ≤ f(θ) + c·t·∇f·d, to within rounding of f itself.

    Near the optimum the predicted decrease falls below the resolution of f; the slack
    of a few ulps of f keeps the line search from shrinking the step to nothing there.
    """
    slack = 8 * np.finfo(float).eps * abs(value)
    return bool(np.isfinite(trial) and trial <= value + 1e-4 * decrease + slack)


def _newton_direction(H: Array, grad: Array) -> Array:
    try:
        return np.asarray(-scipy.linalg.solve(H, grad, assume_a="pos"), dtype=np.float64)
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        pass
    # Singular Hessian (no penalty, collinear or separable data): least squares.
    sol, *_ = scipy.linalg.lstsq(H, -grad, cond=1e-12)
    return np.asarray(sol, dtype=np.float64)


SOLVERS: dict[str, Callable[..., SolverResult]] = {"gd": gd, "lbfgs": lbfgs, "newton": newton}


def solve(
    solver: str,
    objective: Objective,
    start: SolverState,
    *,
    max_iter: int,
    tol: float,
    callback: Callback | None = None,
    **options: Any,
) -> SolverResult:
    """Run the solver named ``solver`` ("gd", "lbfgs" or "newton")."""
    try:
        fn = SOLVERS[solver]
    except KeyError:
        raise ValueError(f"solver must be one of {sorted(SOLVERS)}; got {solver!r}") from None
    return fn(objective, start, max_iter=max_iter, tol=tol, callback=callback, **options)
