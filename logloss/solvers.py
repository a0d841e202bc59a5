"""Solvers for the log-loss objective; they know nothing of Dask.

Each solver takes an :class:`~logloss.objective.Objective` (θ -> loss, gradient[, Hessian])
and a starting :class:`SolverState`, and returns a :class:`SolverResult`. Convergence is
max |∇J| ≤ ``tol`` at the returned θ and nothing else: ``SolverResult.converged`` is computed
from the gradient there (never from a solver's own stop test), and ``grad_norm`` holds it.
``max |∇J|`` is ``objective.convergence_norm(∇_θ J)`` when the objective has it (the
gradient with respect to the parameters of the problem posed, whatever coordinates θ the
solver works in), else max |∇_θ J|. History rows record that norm and ``step`` = ‖Δθ‖, the
length of the iteration's move in θ. A solver stops when it has converged, after
``max_iter`` iterations, or when it can make no further progress; ``message`` says which.

After every iteration the solver calls ``callback(state)`` with the new state: the fit
uses it for progress displays and checkpoints (a state is enough to resume from).

- ``gd``: the lecture's rule θ ← θ − η ∇J with a fixed learning rate η; with
  ``line_search=True``, Armijo backtracking from η.
- ``lbfgs``: scipy's L-BFGS-B; each evaluation is one pass over the data. When scipy stops
  above ``tol`` (its relative-decrease test, or a failed line search), L-BFGS is restarted
  from that point with a fresh memory, and if that makes no progress (and θ is small enough
  for a Hessian) Newton steps finish the fit, all within ``max_iter``.
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

__all__ = [
    "SOLVERS",
    "SolverResult",
    "SolverState",
    "choose_solver",
    "gd",
    "lbfgs",
    "newton",
    "convergence_message",
    "non_finite_remedy",
    "solve",
    "solver_options",
    "stop_reason",
    "warm_start",
]

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


def _grad_norm(g: Array) -> float:
    return float(np.max(np.abs(g))) if g.size else 0.0


class _Recorder:
    """Appends history rows and forwards each new state to the callback.

    A start with iterations already done is a resumed run: the first row recorded here
    carries ``"resumed": 1.0``, so a history never mixes two runs silently.
    """

    def __init__(self, objective: Objective, start: SolverState, callback: Callback | None) -> None:
        # The norm that convergence is judged on (max |∇J| in the problem's parameters).
        self.norm: Callable[[Array], float] = getattr(objective, "convergence_norm", _grad_norm)
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
    rec = _Recorder(objective, start, callback)
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
            if _armijo(value, t_value, -step * float(grad @ grad)):
                break
            step *= 0.5
            if step < 1e-20:
                return rec.result(theta, grad, tol, "the line search could not decrease the loss")
        moved = float(np.linalg.norm(trial - theta))  # ‖Δθ‖ of this iteration
        theta, value, grad = trial, t_value, t_grad
        rec.record(theta, value, grad, moved)


# lbfgs: scipy restarts (fresh memory) allowed while they still make progress, and the size
# up to which Newton steps (p×p Hessian) finish a search that scipy ended above tol.
_MAX_RESTARTS = 20
_NEWTON_FINISH_MAX_PARAMS = 1000


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

    Convergence is max |∇J| ≤ ``tol`` on the gradient in θ, whatever scipy's own stop
    reason: when scipy stops above tol (its relative-decrease test ftol, or an abnormal
    line search, typical of badly scaled features), the search restarts from where it
    stopped with a fresh memory while that still makes progress; then, for up to
    1000 parameters, Newton steps finish it. All within ``max_iter`` iterations.
    """
    rec = _Recorder(objective, start, callback)
    theta = np.array(start.theta, dtype=np.float64)
    chol = None
    if hessian is not None:
        try:
            chol = scipy.linalg.cholesky(hessian, lower=True)
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError, ValueError):
            chol = None

    last: dict[str, Any] = {}

    def evaluate(at: Array) -> tuple[float, Array]:
        seen = last.get("theta")
        if seen is None or not np.array_equal(seen, at):
            value, grad = objective(at)
            last["theta"], last["value"], last["grad"] = at.copy(), value, grad
        return last["value"], last["grad"]

    value, grad = evaluate(theta)
    message = "max_iter reached"
    restarts = 0
    while True:
        if rec.norm(grad) <= tol:
            return rec.result(theta, grad, tol, "gradient norm below tol")
        if rec.n_iter >= max_iter:
            return rec.result(theta, grad, tol, "max_iter reached")
        n_before, value_before, norm_before = rec.n_iter, value, rec.norm(grad)
        theta, message = _lbfgs_round(evaluate, theta, chol, rec, max_iter, tol, memory)
        value, grad = evaluate(theta)
        progress = rec.n_iter > n_before and (value < value_before or rec.norm(grad) < norm_before)
        if rec.norm(grad) <= tol or rec.n_iter >= max_iter:
            continue
        restarts += 1
        if not progress or restarts > _MAX_RESTARTS:
            break
    if objective.n_params <= _NEWTON_FINISH_MAX_PARAMS:
        theta, value, grad, why = _newton_loop(
            objective, rec, theta, max_iter=max_iter, tol=tol, start=(value, grad)
        )
        message = f"{message}; then Newton steps: {why}"
    return rec.result(theta, grad, tol, message)


def _lbfgs_round(
    evaluate: Callable[[Array], tuple[float, Array]],
    theta0: Array,
    chol: Array | None,
    rec: _Recorder,
    max_iter: int,
    tol: float,
    memory: int,
) -> tuple[Array, str]:
    """One scipy L-BFGS-B search from θ₀ (at most max_iter − done iterations)."""

    def to_theta(u: Array) -> Array:
        if chol is None:
            return u
        return theta0 + scipy.linalg.solve_triangular(chol.T, u, lower=False)

    def fun(u: Array) -> tuple[float, Array]:
        value, grad = evaluate(to_theta(u))
        if chol is None:
            return value, grad
        return value, scipy.linalg.solve_triangular(chol, grad, lower=True)

    prev = [theta0]
    stopped = [False]

    def on_iteration(intermediate_result: scipy.optimize.OptimizeResult) -> None:
        # A copy: scipy updates its x in place, so a kept reference would move with it.
        x = np.array(to_theta(np.asarray(intermediate_result.x, dtype=np.float64)))
        value, grad = evaluate(x)
        rec.record(x, float(value), grad, float(np.linalg.norm(x - prev[0])))
        prev[0] = x
        if rec.norm(grad) <= tol:
            stopped[0] = True
            raise StopIteration

    u0 = theta0 if chol is None else np.zeros_like(theta0)
    res = scipy.optimize.minimize(
        fun,
        u0,
        jac=True,
        method="L-BFGS-B",
        callback=on_iteration,
        options={
            "maxiter": max_iter - rec.n_iter,
            "maxls": 50,
            "maxcor": memory,
            # The gradient test is made on the gradient in θ (above), never on scipy's.
            "gtol": 0.0,
            "ftol": 64 * np.finfo(float).eps,
        },
    )
    theta = to_theta(np.asarray(res.x, dtype=np.float64))
    return theta, ("gradient norm below tol" if stopped[0] else f"scipy: {res.message}")


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
    rec = _Recorder(objective, start, callback)
    theta, _, grad, message = _newton_loop(
        objective,
        rec,
        np.array(start.theta, dtype=np.float64),
        max_iter=max_iter,
        tol=tol,
        hessian=hessian,
    )
    return rec.result(theta, grad, tol, message)


def _newton_loop(
    objective: Objective,
    rec: _Recorder,
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
    """Backtracking from step 1 until :func:`_armijo` holds: the step, the point and its
    evaluation; None when the step shrinks below 1e-12."""
    direction, slope = descent
    step = 1.0
    while step >= 1e-12:
        trial = theta + step * direction
        evaluated = evaluate(trial)
        if _armijo(value, evaluated[0], step * slope):
            return step, trial, evaluated
        step *= 0.5
    return None


def _armijo(value: float, trial: float, decrease: float) -> bool:
    """Sufficient decrease f(θ + t·d) ≤ f(θ) + c·t·∇f·d, to within rounding of f itself.

    Near the optimum the predicted decrease falls below the resolution of f; the slack
    of a few ulps of f keeps the line search from shrinking the step to nothing there.
    """
    slack = 8 * np.finfo(float).eps * abs(value)
    return bool(np.isfinite(trial) and trial <= value + 1e-4 * decrease + slack)


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


SOLVERS: dict[str, Callable[..., SolverResult]] = {"gd": gd, "lbfgs": lbfgs, "newton": newton}

#: ``solver="auto"`` takes Newton up to this many features: its Hessian pass costs about p
#: times a gradient pass, paid back by needing a handful of passes; lbfgs above.
NEWTON_MAX_FEATURES = 100


def choose_solver(solver: str, n_features: int) -> str:
    """The solver that ``solver`` names; "auto": newton for narrow data, else lbfgs."""
    if solver != "auto":
        return solver
    return "newton" if n_features <= NEWTON_MAX_FEATURES else "lbfgs"


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


def solver_options(name: str, *, learning_rate: float, line_search: bool) -> dict[str, Any]:
    """The estimator's settings that solver ``name`` takes (beyond max_iter and tol)."""
    if name == "gd":
        return {"learning_rate": learning_rate, "line_search": line_search}
    return {}


def warm_start(
    sample_objective: Objective, start: SolverState, *, tol: float
) -> tuple[SolverState, dict[str, Any]]:
    """θ (and the Hessian there) of an in-process lbfgs solve of ``sample_objective``, the
    objective on a row sample of the data (with the same penalty per unit of weight).

    The sample's optimum lies within sampling error of the full optimum, so on large data
    the full solve needs fewer expensive passes; Newton can take its first steps with the
    sample's Hessian and gradient-only passes. The result is the same optimum: the full
    objective alone decides convergence. Returns the start state and the extra solver
    options (``hessian``) for the full solve.
    """
    result = solve("lbfgs", sample_objective, start, max_iter=100, tol=max(tol, 1e-6))
    hessian = sample_objective.hessian(result.theta)[2]
    return SolverState(result.theta, 0, ()), {"hessian": hessian}


# ------------------------------------------------------------ why a solve stopped
def stop_reason(solver: str, result: SolverResult, tol: float) -> str:
    """One sentence: why ``solver`` stopped, with the final max |∇J| and tol."""
    verdict = "converged" if result.converged else "did not converge"
    return (
        f"{solver} {verdict} after {result.n_iter} iterations: {result.message}; "
        f"final max|gradient| {result.grad_norm:.3g}, tol {tol:.3g}."
    )


def _hints(
    solver: str, result: SolverResult, params: dict[str, Any], badly: list[str]
) -> list[str]:
    hints: list[str] = []
    if badly:
        more = "" if len(badly) <= 10 else f" (and {len(badly) - 10} more)"
        hints.append(
            f"features with values far from unit scale ({', '.join(badly[:10])}{more}) are "
            "the likely cause: fit with standardize=True"
        )
    if result.n_iter >= params["max_iter"]:
        hints.append(f"increase max_iter (now {params['max_iter']})")
    if solver == "gd" and not params["line_search"]:
        hints.append("set line_search=True or tune learning_rate")
    if params["penalty"] is None or np.isinf(params["C"]):
        hints.append(
            "without a penalty the data may be linearly separable, in which case the "
            "coefficients keep growing: use a finite C"
        )
    if not hints:
        hints.append(f"loosen tol (now {params['tol']:g}) or fit with standardize=True")
    return hints


def convergence_message(
    solver: str, result: SolverResult, params: dict[str, Any], badly_scaled: list[str]
) -> str:
    """The ConvergenceWarning of a fit with the estimator's ``params`` (``get_params()``)
    that did not converge, with the likely remedies; ``badly_scaled``: the names of the
    feature columns far from unit scale."""
    return (
        f"{solver} did not converge: max|gradient| {result.grad_norm:.3g} > tol "
        f"{params['tol']:.3g} after {result.n_iter} iterations ({result.message}). "
        + "; ".join(_hints(solver, result, params, badly_scaled))
        + "."
    )


def non_finite_remedy(solver: str, diverged: bool, params: dict[str, Any]) -> str:
    """What to do about a non-finite loss: ``diverged`` when θ itself ran away."""
    if solver == "gd" and not params["line_search"]:
        gd_fix = f"lower learning_rate (now {params['learning_rate']:g}) or set line_search=True"
        return gd_fix if diverged else f"check X for NaN or infinity; if X is finite, {gd_fix}"
    if not diverged:
        return "check X for NaN or infinity, or fit with standardize=True"
    return "fit with standardize=True (features of very different scales)"
