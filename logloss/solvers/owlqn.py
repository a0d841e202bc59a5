"""``owlqn``: orthant-wise limited-memory quasi-Newton (Andrew & Gao 2007, "Scalable training
of L1-regularized log-linear models"), the solver for an L1 part (elastic net) on wide data.

The objective is F(θ) = f(θ) + Σ λ_j |θ_j| (f smooth, λ = ``objective.l1_weights()``, 0 for
the intercept), as in :mod:`.prox`. One iteration:

1. the pseudo-gradient v at θ (:func:`.prox.pseudo_gradient`, the minimum-norm subgradient
   of F: what convergence is judged on);
2. the direction d = −H v by the L-BFGS two-loop recursion over the last ``memory`` pairs
   (s, y) of steps and differences of the *smooth* part's gradients ∇f, then aligned with
   −v: d_j = 0 wherever d_j v_j ≥ 0 (so a coefficient at 0 whose |∇f_j| ≤ λ_j stays there);
3. a backtracking line search over θ(t) = π(θ + t·d; ξ), the projection onto the orthant ξ
   of θ (ξ_j = sign θ_j, or sign(−v_j) where θ_j = 0): a coordinate that would cross zero
   is set to exactly 0. Armijo's test F(θ(t)) ≤ F(θ) + c·vᵀ(θ(t) − θ) accepts t.

Each trial of the line search is one pass over the data (value and gradient together); a
full step, the usual case, makes an iteration one pass. Memory: 2 × ``memory`` vectors of
length p, i.e. O(p · history); no p × p matrix is ever formed.

The initial inverse Hessian of the two-loop is γI with γ = sᵀy / yᵀy of the newest pair
(the usual scaling), or with ``diagonal`` γD⁻¹ where D is the Hessian's diagonal at the
start (the objective's ``hessian_diag``, O(p): one pass of the coded kernel's scatter-adds,
none at a cold start, where it comes from the moments),
γ = sᵀy / yᵀD⁻¹y. Without an L1 part (λ = 0) this is plain L-BFGS.
"""

from __future__ import annotations

import numpy as np

from ..objective import Objective
from .base import Array, Callback, Recorder, SolverResult, SolverState, armijo
from .lbfgs import _start_diagonal
from .prox import _within_rounding, pseudo_gradient
from .twoloop import Memory

__all__ = ["owlqn"]

# backtracking: the step shrinks by this factor per failed trial, down to _MIN_STEP
_SHRINK = 0.5
_MIN_STEP = 1e-10


def _push(mem: Memory, s: Array, y: Array) -> None:
    """Keep (s, y) when its curvature sᵀy is safely positive (else skip the pair)."""
    sy = float(s @ y)
    if sy > 1e-10 * float(np.sqrt((s @ s) * (y @ y))) and sy > 0:
        mem.push(s, y, sy)


def _inverse_diagonal(objective: Objective, theta: Array) -> Array | None:
    """D⁻¹ from the objective's ``hessian_diag`` at θ; None when it cannot give one. Entries
    that are not positive and finite (features never seen) are 1."""
    d = _start_diagonal(objective, theta)
    if d is None:
        return None
    out = np.ones_like(d)
    ok = np.isfinite(d) & (d > 0)
    out[ok] = 1.0 / d[ok]
    return out


def _orthant(theta: Array, v: Array) -> Array:
    """ξ: the sign of θ_j, or of −v_j where θ_j = 0."""
    xi = np.sign(theta)
    zero = theta == 0
    xi[zero] = -np.sign(v[zero])
    return xi


def owlqn(
    objective: Objective,
    start: SolverState,
    *,
    max_iter: int,
    tol: float,
    callback: Callback | None = None,
    memory: int = 10,
    diagonal: bool = False,
    hessian: Array | None = None,  # accepted for the warm start's options; not used
) -> SolverResult:
    """OWL-QN from ``start``: max |pseudo-gradient| ≤ ``tol`` within ``max_iter`` iterations.

    ``memory``: the number of (s, y) pairs kept. ``diagonal``: scale the initial inverse
    Hessian by the Hessian's diagonal at the start (one extra pass; off by default: on the
    flights one-hot data, whose columns the fit's coordinates already scale to a diagonal
    near 1 at θ = 0, it took 10-60 % more passes).
    """
    rec = Recorder(objective, start, callback)
    theta = np.array(start.theta, dtype=np.float64)
    value, grad = objective(theta)
    lam = objective.l1_weights() if objective.has_l1 else np.zeros_like(theta)
    inv_diag = _inverse_diagonal(objective, theta) if diagonal else None
    mem = Memory(memory, inv_diag)
    total = value + float(lam @ np.abs(theta))
    fresh = True  # no pair yet: the first step is scaled to a unit length (or D⁻¹v)
    while True:
        v = pseudo_gradient(theta, grad, lam)
        if rec.norm(v) <= tol:
            return rec.result(theta, v, tol, "gradient norm below tol")
        if rec.n_iter >= max_iter:
            return rec.result(theta, v, tol, "max_iter reached")
        found = _line_search(objective, rec, theta, v, lam, total, mem, fresh)
        if found is None and mem.pairs:  # a poor quasi-Newton model: forget it, retry once
            mem.clear()
            found = _line_search(objective, rec, theta, v, lam, total, mem, True)
        if found is None:
            return rec.result(theta, v, tol, "the line search could not decrease the loss")
        trial, t_value, t_grad, t_total = found
        moved = float(np.linalg.norm(trial - theta))
        if moved == 0.0:
            return rec.result(theta, v, tol, "no further decrease possible at machine precision")
        _push(mem, trial - theta, t_grad - grad)
        fresh = not mem.pairs
        theta, value, grad, total = trial, t_value, t_grad, t_total
        rec.record(theta, total, pseudo_gradient(theta, grad, lam), moved)


def _line_search(
    objective: Objective,
    rec: Recorder,
    theta: Array,
    v: Array,
    lam: Array,
    total: float,
    mem: Memory,
    fresh: bool,
) -> tuple[Array, float, Array, float] | None:
    """The accepted trial (θ(t), f, ∇f, F) along the aligned quasi-Newton direction, or
    None when no step down to :data:`_MIN_STEP` decreases F."""
    d = mem.direction(v)
    pen = lam > 0  # the orthant's rules apply to the penalised coordinates only
    d[pen & (d * v >= 0)] = 0.0  # aligned with −v: only descent coordinates move
    if not np.any(d):
        d = -v if mem.inv_diag is None else -mem.inv_diag * v
    step = 1.0
    if fresh and mem.inv_diag is None:
        step = min(1.0, 1.0 / max(float(np.linalg.norm(d)), 1e-300))
    xi = _orthant(theta, v)
    while step >= _MIN_STEP:
        trial = theta + step * d
        trial[pen & (np.sign(trial) != xi)] = 0.0  # π: a coordinate crossing 0 stops there
        t_value, t_grad = objective(trial)
        t_total = t_value + float(lam @ np.abs(trial))
        decrease = float(v @ (trial - theta))
        if armijo(total, t_total, decrease) or _within_rounding(
            rec, total, t_total, v, pseudo_gradient(trial, t_grad, lam)
        ):
            return trial, t_value, t_grad, t_total
        step *= _SHRINK
    return None
