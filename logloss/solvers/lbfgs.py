"""``lbfgs``: scipy's L-BFGS-B (above :data:`.twoloop.MIN_PARAMS` parameters the two-loop
recursion of :mod:`.twoloop`, which has no per-iteration cost of its own beyond O(m·p));
each evaluation is one pass over the data. When scipy stops
above ``tol`` (its relative-decrease test, or a failed line search), L-BFGS is restarted from
that point with a fresh memory, and if that makes no progress (and θ is small enough for a
Hessian) Newton steps finish the fit, all within ``max_iter``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize

from ..objective import Objective
from . import twoloop
from .arrow import ArrowFactor, arrow_factor
from .base import Array, Callback, Recorder, SolverResult, SolverState
from .newton import newton_loop

# lbfgs: scipy restarts (fresh memory) allowed while they still make progress, and the size
# up to which Newton steps (p×p Hessian) finish a search that scipy ended above tol.
_MAX_RESTARTS = 20
_NEWTON_FINISH_MAX_PARAMS = 1000
#: Iterations with the diagonal preconditioner after which an objective that has the arrow
#: preconditioner (:mod:`.arrow`) switches to it: its pass costs several ordinary ones, and
#: well-conditioned fits (click logs under a strong penalty: 5 iterations) never need it.
ARROW_AFTER = 10
_SWITCH = "switch to the arrow preconditioner"
_FTOL = 64 * np.finfo(float).eps


def lbfgs(
    objective: Objective,
    start: SolverState,
    *,
    max_iter: int,
    tol: float,
    callback: Callback | None = None,
    memory: int = 10,
    hessian: Array | None = None,
    diagonal: bool = False,
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

    ``diagonal`` (wide data, without ``hessian``): the preconditioner is the Hessian's
    diagonal D at the start (the objective's ``hessian_diag``, O(p): one pass, none at a cold
    start, where it comes from the moments): the search
    runs over u with θ = θ₀ + D^(−½)u. A 1-D ``hessian`` is taken as such a diagonal. An
    objective with ``arrow_blocks`` (categorical codes with a few narrow columns) switches
    to the arrow preconditioner (:mod:`.arrow`: exact on the narrow columns' rows) when
    :data:`ARROW_AFTER` iterations have not converged. The preconditioner is computed again
    where a restart begins.
    """
    rec = Recorder(objective, start, callback)
    theta = np.array(start.theta, dtype=np.float64)
    chol: Array | ArrowFactor | None = _preconditioner(objective, theta, hessian, diagonal)

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
    arrow_pending = diagonal and hessian is None and hasattr(objective, "arrow_blocks")
    while True:
        if rec.norm(grad) <= tol:
            return rec.result(theta, grad, tol, "gradient norm below tol")
        if rec.n_iter >= max_iter:
            return rec.result(theta, grad, tol, "max_iter reached")
        n_before, value_before, norm_before = rec.n_iter, value, rec.norm(grad)
        stop_after = ARROW_AFTER if arrow_pending else None
        theta, message = _lbfgs_round(
            evaluate, theta, chol, rec, max_iter, tol, memory, stop_after=stop_after
        )
        value, grad = evaluate(theta)
        if message == _SWITCH:
            arrow_pending = False
            chol = arrow_factor(objective, theta) or chol
            continue
        progress = rec.n_iter > n_before and (value < value_before or rec.norm(grad) < norm_before)
        if rec.norm(grad) <= tol or rec.n_iter >= max_iter:
            continue
        restarts += 1
        if not progress or restarts > _MAX_RESTARTS:
            break
        if isinstance(chol, ArrowFactor):  # the preconditioner where the search is now
            chol = arrow_factor(objective, theta) or chol
        elif diagonal and chol is not None and chol.ndim == 1:
            fresh = _preconditioner(objective, theta, None, True)
            chol = chol if fresh is None else fresh
    if objective.n_params <= _NEWTON_FINISH_MAX_PARAMS:
        theta, value, grad, why = newton_loop(
            objective, rec, theta, max_iter=max_iter, tol=tol, start=(value, grad)
        )
        message = f"{message}; then Newton steps: {why}"
    return rec.result(theta, grad, tol, message)


def _preconditioner(
    objective: Objective, theta: Array, hessian: Array | None, diagonal: bool
) -> Array | None:
    """L with LLᵀ = ``hessian`` (a Cholesky factor), or √D (1-D) for a diagonal D: given,
    or with ``diagonal`` the objective's Hessian diagonal at θ; None without."""
    if hessian is None and diagonal:
        hessian = _start_diagonal(objective, theta)
    if hessian is None:
        return None
    if np.ndim(hessian) == 1:
        return _safe_diagonal(np.asarray(hessian, dtype=np.float64))
    try:
        return np.asarray(scipy.linalg.cholesky(hessian, lower=True))
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError, ValueError):
        return None


def _start_diagonal(objective: Objective, theta: Array) -> Array | None:
    """The Hessian's diagonal at θ, or None when the objective cannot give it."""
    fn = getattr(objective, "hessian_diag", None)
    if fn is None:
        return None
    try:
        return np.asarray(fn(theta), dtype=np.float64)
    except (TypeError, NotImplementedError):
        return None


def _safe_diagonal(d: Array) -> Array:
    """√D with entries that are not positive and finite (features never seen) set to 1."""
    ok = np.isfinite(d) & (d > 0)
    out = np.ones_like(d)
    out[ok] = np.sqrt(d[ok])
    return out


def _coordinates(
    theta0: Array, chol: Array | ArrowFactor | None
) -> tuple[Callable[[Array], Array], Callable[[Array], Array]]:
    """The preconditioned search's maps: θ of u (θ₀ + L⁻ᵀu) and the gradient in u of one
    in θ (L⁻¹g), for a factor L (dense, a diagonal's √D, or an arrow); identities without."""
    if chol is None:
        return (lambda u: u), (lambda g: g)
    if isinstance(chol, ArrowFactor):
        return (lambda u: theta0 + chol.solve_lt(u)), chol.solve_l
    if chol.ndim == 1:
        return (lambda u: theta0 + u / chol), (lambda g: g / chol)
    return (
        lambda u: theta0 + scipy.linalg.solve_triangular(chol.T, u, lower=False),
        lambda g: scipy.linalg.solve_triangular(chol, g, lower=True),
    )


def _lbfgs_round(
    evaluate: Callable[[Array], tuple[float, Array]],
    theta0: Array,
    chol: Array | ArrowFactor | None,
    rec: Recorder,
    max_iter: int,
    tol: float,
    memory: int,
    *,
    stop_after: int | None = None,
) -> tuple[Array, str]:
    """One scipy L-BFGS-B search from θ₀ (at most max_iter − done iterations; with
    ``stop_after``, at most that many, then the message is :data:`_SWITCH`)."""

    to_theta, to_u = _coordinates(theta0, chol)

    def fun(u: Array) -> tuple[float, Array]:
        value, grad = evaluate(to_theta(u))
        return value, to_u(grad)

    prev = [theta0]
    stopped = [False]
    switched = [False]
    first = rec.n_iter

    def on_iteration(intermediate_result: scipy.optimize.OptimizeResult) -> None:
        # A copy: scipy updates its x in place, so a kept reference would move with it.
        x = np.array(to_theta(np.asarray(intermediate_result.x, dtype=np.float64)))
        value, grad = evaluate(x)
        rec.record(x, float(value), grad, float(np.linalg.norm(x - prev[0])))
        prev[0] = x
        if rec.norm(grad) <= tol:
            stopped[0] = True
            raise StopIteration
        if stop_after is not None and rec.n_iter - first >= stop_after:
            switched[0] = True
            raise StopIteration

    u0 = theta0 if chol is None else np.zeros_like(theta0)
    if theta0.size > twoloop.MIN_PARAMS:
        u, why = twoloop.minimize(
            fun,
            u0,
            callback=lambda u: on_iteration(scipy.optimize.OptimizeResult(x=u)),
            max_iter=max_iter - rec.n_iter,
            memory=memory,
            ftol=_FTOL,
        )
        return to_theta(u), (_SWITCH if switched[0] else why)
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
            "ftol": _FTOL,
        },
    )
    theta = to_theta(np.asarray(res.x, dtype=np.float64))
    if switched[0]:
        return theta, _SWITCH
    return theta, ("gradient norm below tol" if stopped[0] else f"scipy: {res.message}")
