"""The solver for an objective with an L1 part (elastic net): proximal Newton; and the
pieces the proximal solvers share (the pseudo-gradient, the soft threshold). Gradient
descent (:mod:`.gd`) takes the proximal step itself.

The objective is F(θ) = f(θ) + Σ λ_j |θ_j|: f is the smooth part the objective evaluates
(value, gradient, Hessian), λ = ``objective.l1_weights()`` (0 for the intercept).

- ``prox_newton`` (what ``solver="newton"`` runs when there is an L1 part, as glmnet and glum
  do): at θ, one pass gives f, ∇f and the Hessian H; the step d minimises the local model
  ∇fᵀd + ½dᵀHd + Σ λ_j|θ_j + d_j| (coordinate descent in this process, exact zeros), and a
  backtracking line search on F accepts θ + t·d. The trial point's pass also gives its
  Hessian, so a full step costs one pass.

Convergence is max |pseudo-gradient| ≤ tol: the minimum-norm subgradient of F (∇f_j + λ_j
sign θ_j where θ_j ≠ 0, else the amount by which |∇f_j| exceeds λ_j), which is 0 exactly at
the optimum. History rows record F and that norm.
"""

from __future__ import annotations

import numpy as np

from ..objective import Objective
from .base import Array, Callback, Recorder, SolverResult, SolverState, armijo


def pseudo_gradient(theta: Array, grad: Array, lam: Array) -> Array:
    """The minimum-norm subgradient of f + Σλ|θ| at θ given ∇f."""
    out = grad + lam * np.sign(theta)
    zero = theta == 0
    out[zero] = np.sign(grad[zero]) * np.maximum(np.abs(grad[zero]) - lam[zero], 0.0)
    return out


def soft(x: Array | float, t: Array | float) -> Array:
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


def l1_model_step(H: Array, g: Array, theta: Array, lam: Array, *, sweeps: int = 1000) -> Array:
    """u minimising gᵀ(u − θ) + ½(u − θ)ᵀH(u − θ) + Σλ|u| (coordinate descent until the
    largest change of a sweep is below 1e-13 of the largest |u|); returns u − θ."""
    u = theta.copy()
    r = np.zeros_like(theta)  # H (u − θ), kept current
    diag = np.diag(H).copy()
    diag[diag <= 0] = 1e-12
    for _ in range(sweeps):
        biggest = 0.0
        for j in range(len(u)):
            old = u[j]
            z = old - (g[j] + r[j]) / diag[j]
            new = float(soft(z, lam[j] / diag[j])) if lam[j] else z
            if new != old:
                r += H[:, j] * (new - old)
                u[j] = new
                biggest = max(biggest, abs(new - old))
        if biggest <= 1e-13 * max(1.0, float(np.max(np.abs(u)))):
            break
    return u - theta


def _within_rounding(rec: Recorder, total: float, t_total: float, pg: Array, t_pg: Array) -> bool:
    """Near the optimum the decrease a step predicts falls below the resolution of F (a sum
    over every row, rounded in each), and the Armijo test becomes a coin toss on rounding:
    accept a step that leaves F equal to within 1e-12 of itself (far below any tolerance,
    above the rounding of a long sum) while it shrinks the pseudo-gradient, the convergence
    measure."""
    slack = 1e-12 * abs(total)
    return bool(np.isfinite(t_total) and t_total <= total + slack and rec.norm(t_pg) < rec.norm(pg))


def prox_newton(
    objective: Objective,
    start: SolverState,
    *,
    max_iter: int,
    tol: float,
    callback: Callback | None = None,
    hessian: Array | None = None,  # accepted for the warm start's options; not used
) -> SolverResult:
    rec = Recorder(objective, start, callback)
    theta = np.array(start.theta, dtype=np.float64)
    value, grad, H = objective.hessian(theta)
    lam = objective.l1_weights()
    total = value + float(lam @ np.abs(theta))
    while True:
        pg = pseudo_gradient(theta, grad, lam)
        if rec.norm(pg) <= tol:
            return rec.result(theta, pg, tol, "gradient norm below tol")
        if rec.n_iter >= max_iter:
            return rec.result(theta, pg, tol, "max_iter reached")
        d = l1_model_step(H, grad, theta, lam)
        # predicted decrease of F along d (negative for a descent direction)
        decrease = float(grad @ d) + float(lam @ (np.abs(theta + d) - np.abs(theta)))
        step = 1.0
        while True:
            trial = theta + step * d
            t_value, t_grad, t_H = objective.hessian(trial)
            t_total = t_value + float(lam @ np.abs(trial))
            if armijo(total, t_total, step * decrease) or _within_rounding(
                rec, total, t_total, pg, pseudo_gradient(trial, t_grad, lam)
            ):
                break
            step *= 0.5
            if step < 1e-12:
                return rec.result(theta, pg, tol, "the line search could not decrease the loss")
        moved = float(np.linalg.norm(trial - theta))
        if moved == 0.0:
            return rec.result(theta, pg, tol, "no further decrease possible at machine precision")
        theta, value, grad, H, total = trial, t_value, t_grad, t_H, t_total
        rec.record(theta, total, pseudo_gradient(theta, grad, lam), moved)
