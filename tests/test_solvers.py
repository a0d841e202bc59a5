"""The solver contract, pinned on objectives written here (neither the engine nor
LogisticObjective): every solver reaches the known minimum of a toy quadratic and of a toy
logistic objective, judges convergence only by ``objective.convergence_norm`` ≤ tol, stops at
max_iter without NaN, handles the L1 part by proximal steps (the soft-threshold solution), and
uses no member of the objective beyond the :class:`~logloss.objective.Objective` protocol."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.optimize
from scipy.special import expit

from logloss.checkpoint import Evaluations
from logloss.objective import LogisticObjective, Objective, numpy_sums
from logloss.solvers import (
    SolverState,
    choose_solver,
    convergence_message,
    solve,
    solver_options,
    warm_start,
)

#: The members of the protocol: all that a solver may touch.
DECLARED = {
    "n_params",
    "has_l1",
    "hessian",
    "convergence_norm",
    "penalty_value",
    "l1_weights",
}


class Quadratic:
    """f(θ) = ½θᵀQθ − bᵀθ (+ Σ λ_j|θ_j| as the L1 part); minimum Q⁻¹b without λ."""

    def __init__(self, Q: np.ndarray, b: np.ndarray, lam: np.ndarray | None = None) -> None:
        self.Q, self.b = Q, b
        self.lam = np.zeros_like(b) if lam is None else lam
        self.n_params = b.size
        self.has_l1 = bool(np.any(self.lam > 0))

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        Qt = self.Q @ theta
        return float(0.5 * theta @ Qt - self.b @ theta), Qt - self.b

    def hessian(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        return (*self(theta), self.Q.copy())

    def convergence_norm(self, grad: np.ndarray) -> float:
        return float(np.max(np.abs(grad)))

    def penalty_value(self, theta: np.ndarray) -> float:
        return float(self.lam @ np.abs(theta))

    def l1_weights(self) -> np.ndarray:
        return self.lam.copy()


class Logistic:
    """Mean log loss of labels y ∈ {0, 1} on X (its last column the intercept's ones) plus
    ½α‖θ[:-1]‖², written out in NumPy."""

    def __init__(self, X: np.ndarray, y: np.ndarray, alpha: float) -> None:
        self.X, self.y, self.alpha = X, y, alpha
        self.n_params = X.shape[1]
        self.has_l1 = False
        self.mask = np.r_[np.ones(X.shape[1] - 1), 0.0]

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = self.X @ theta
        loss = float(np.mean(np.logaddexp(0.0, z) - self.y * z))
        grad = self.X.T @ (expit(z) - self.y) / len(self.y) + self.alpha * self.mask * theta
        return loss + self.penalty_value(theta), grad

    def hessian(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        p = expit(self.X @ theta)
        H = (self.X * (p * (1 - p))[:, None]).T @ self.X / len(self.y)
        return (*self(theta), H + np.diag(self.alpha * self.mask))

    def convergence_norm(self, grad: np.ndarray) -> float:
        return float(np.max(np.abs(grad)))

    def penalty_value(self, theta: np.ndarray) -> float:
        return 0.5 * self.alpha * float(np.sum(self.mask * theta**2))

    def l1_weights(self) -> np.ndarray:
        return np.zeros(self.n_params)


class Watched:
    """The objective as a solver sees it, recording every member the solver asks for."""

    def __init__(self, objective: Any) -> None:
        self._objective = objective
        self.asked: set[str] = set()

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        return self._objective(theta)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        self.asked.add(name)
        return getattr(self._objective, name)


def _quadratic(p: int = 5, seed: int = 0, diagonal: bool = False, **kw: Any) -> Quadratic:
    rng = np.random.default_rng(seed)
    if diagonal:
        Q = np.diag(rng.uniform(0.5, 2.0, size=p))
    else:
        M = rng.normal(size=(p, p))
        Q = M @ M.T / p + np.eye(p)
    return Quadratic(Q, rng.normal(size=p), **kw)


def _logistic_data(n: int = 300, p: int = 4, seed: int = 1, separable: bool = False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    z = X @ rng.normal(size=p) + 0.3
    y = (z > 0).astype(float) if separable else (rng.random(n) < expit(z)).astype(float)
    return np.c_[X, np.ones(n)], y


def _scipy_minimum(objective: Any) -> np.ndarray:
    res = scipy.optimize.minimize(
        lambda t: objective(t),
        np.zeros(objective.n_params),
        jac=True,
        hess=lambda t: objective.hessian(t)[2],
        method="trust-exact",
        options={"gtol": 1e-13},
    )
    return np.asarray(res.x)


def _options(name: str, objective: Any) -> dict[str, Any]:
    if name != "gd":
        return {}
    # 1/L for the quadratic's largest curvature (a safe fixed step), with backtracking
    L = float(np.max(np.linalg.eigvalsh(objective.hessian(np.zeros(objective.n_params))[2])))
    return solver_options("gd", learning_rate=1.0 / L, line_search=True)


def _solve(name: str, objective: Any, *, max_iter: int = 5000, tol: float = 1e-10):
    if name == "auto":
        lam = objective.l1_weights() if objective.has_l1 else None
        name = choose_solver("auto", objective.n_params, 0.5 if lam is not None else 0.0)
    start = SolverState(np.zeros(objective.n_params), 0, ())
    watched = Watched(objective)
    result = solve(name, watched, start, max_iter=max_iter, tol=tol, **_options(name, objective))
    assert watched.asked <= DECLARED, f"{name} used {sorted(watched.asked - DECLARED)}"
    assert "convergence_norm" in watched.asked  # the rule every solver stops on
    return result


SMOOTH = ["gd", "lbfgs", "newton", "owlqn", "auto"]


def test_the_protocol_is_what_the_objectives_provide():
    X, y = _logistic_data()
    real = LogisticObjective(numpy_sums(X[:, :-1], y), X.shape[1] - 1, alpha=1.0)
    for obj in (_quadratic(), Logistic(X, y, 0.1), real, Evaluations(real)):
        assert isinstance(obj, Objective)
    assert {m for m in dir(Objective) if not m.startswith("_")} == DECLARED


@pytest.mark.parametrize("name", SMOOTH)
def test_every_solver_reaches_the_quadratics_closed_form_minimum(name):
    obj = _quadratic(p=6, seed=2)
    result = _solve(name, obj)
    assert result.converged and result.grad_norm <= 1e-10
    np.testing.assert_allclose(result.theta, np.linalg.solve(obj.Q, obj.b), rtol=0, atol=1e-9)
    assert all(np.isfinite(h["loss"]) for h in result.history)


def test_auto_takes_lbfgs_on_a_wide_quadratic_and_reaches_its_minimum():
    obj = _quadratic(p=150, seed=3)
    assert choose_solver("auto", obj.n_params) == "lbfgs"
    result = _solve("auto", obj)
    assert result.converged
    np.testing.assert_allclose(result.theta, np.linalg.solve(obj.Q, obj.b), rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", SMOOTH)
def test_every_solver_reaches_scipys_logistic_minimum(name):
    X, y = _logistic_data()
    obj = Logistic(X, y, alpha=0.05)
    ref = _scipy_minimum(obj)
    result = _solve(name, obj, tol=1e-9)
    assert result.converged and result.grad_norm <= 1e-9
    np.testing.assert_allclose(result.theta, ref, rtol=0, atol=1e-7)
    # the history's log_loss is the value minus the objective's penalty_value
    last = result.history[-1]
    assert last["log_loss"] == pytest.approx(last["loss"] - obj.penalty_value(result.theta))


@pytest.mark.parametrize("name", SMOOTH)
def test_convergence_is_the_objectives_norm_below_tol(name):
    # An objective whose convergence norm is 1000 × max|g|: the solvers must stop on it,
    # not on max|g| (the norm of the problem posed, e.g. in original units).
    class Stricter(Quadratic):
        def convergence_norm(self, grad: np.ndarray) -> float:
            return 1000.0 * float(np.max(np.abs(grad)))

    base = _quadratic(p=4, seed=5)
    obj = Stricter(base.Q, base.b)
    result = _solve(name, obj, tol=1e-8)
    _, g = obj(result.theta)
    assert result.converged == (obj.convergence_norm(g) <= 1e-8)
    assert result.converged and np.max(np.abs(g)) <= 1e-11
    assert result.grad_norm == pytest.approx(obj.convergence_norm(g))


@pytest.mark.parametrize("name", SMOOTH)
def test_max_iter_stops_separable_data_without_nan(name):
    # No penalty, separable labels: no minimum exists and the coefficients keep growing.
    X, y = _logistic_data(separable=True)
    obj = Logistic(X, y, alpha=0.0)
    result = _solve(name, obj, max_iter=15, tol=1e-12)
    assert not result.converged
    assert result.n_iter <= 15 and result.n_iter > 0
    assert np.all(np.isfinite(result.theta))
    assert all(np.isfinite(v) for h in result.history for v in h.values())
    params = {"max_iter": 15, "tol": 1e-12, "penalty": None, "C": np.inf, "line_search": True}
    message = convergence_message(name, result, params, [])
    assert "did not converge" in message
    if result.message == "max_iter reached":
        assert result.n_iter == 15 and "increase max_iter (now 15)" in message


L1 = ["gd", "newton", "owlqn", "auto"]


@pytest.mark.parametrize("name", L1)
def test_the_l1_part_gives_the_soft_threshold_solution(name):
    # Diagonal Q: the minimum of ½θᵀQθ − bᵀθ + Σλ|θ| is soft(b, λ) / diag(Q), exact zeros.
    rng = np.random.default_rng(7)
    p = 8
    Q = np.diag(rng.uniform(0.5, 2.0, size=p))
    b = rng.normal(size=p)
    lam = np.full(p, 0.6)
    obj = Quadratic(Q, b, lam)
    want = np.sign(b) * np.maximum(np.abs(b) - lam, 0.0) / np.diag(Q)
    assert np.any(want == 0) and np.any(want != 0)
    result = _solve(name, obj)
    assert result.converged
    np.testing.assert_allclose(result.theta, want, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(result.theta == 0, want == 0)  # exact zeros
    # the history's loss is the total F = f + Σλ|θ|
    f, _ = obj(result.theta)
    assert result.history[-1]["loss"] == pytest.approx(f + obj.penalty_value(result.theta))


@pytest.mark.parametrize("name", L1)
def test_the_l1_part_on_a_correlated_quadratic_meets_the_optimality_conditions(name):
    obj = _quadratic(p=6, seed=11, lam=np.full(6, 0.4))
    result = _solve(name, obj)
    assert result.converged
    _, g = obj(result.theta)
    nz = result.theta != 0
    # KKT: ∇f_j = −λ sign θ_j where θ_j ≠ 0, |∇f_j| ≤ λ where θ_j = 0
    np.testing.assert_allclose(g[nz], -obj.lam[nz] * np.sign(result.theta[nz]), atol=1e-9)
    assert np.all(np.abs(g[~nz]) <= obj.lam[~nz] + 1e-9)
    assert np.any(~nz)


def test_lbfgs_with_an_l1_part_is_owlqn_and_the_smooth_solvers_refuse_one():
    assert choose_solver("lbfgs", 5, l1_ratio=0.5) == "owlqn"  # L-BFGS for an L1 part
    assert choose_solver("auto", 100, l1_ratio=0.5) == "newton"  # proximal Newton, narrow
    assert choose_solver("auto", 101, l1_ratio=0.5) == "owlqn"
    assert choose_solver("owlqn", 5) == "owlqn"  # plain L-BFGS without an L1 part
    with pytest.raises(ValueError, match="does not support l1_ratio"):
        choose_solver("bfgs", 5, l1_ratio=0.5)
    obj = _quadratic(lam=np.full(5, 0.1))
    with pytest.raises(ValueError, match="solver must be one of"):
        solve("lbfgs", obj, SolverState(np.zeros(5), 0, ()), max_iter=10, tol=1e-8)


@pytest.mark.parametrize("name", ["lbfgs", "newton"])
def test_a_warm_start_from_a_sample_reaches_the_full_minimum(name):
    X, y = _logistic_data(n=2000, seed=13)
    full, sample = Logistic(X, y, alpha=0.01), Logistic(X[::10], y[::10], alpha=0.01)
    start, options = warm_start(Watched(sample), SolverState(np.zeros(5), 0, ()), tol=1e-9)
    assert set(options) == {"hessian"}
    watched = Watched(full)
    result = solve(name, watched, start, max_iter=200, tol=1e-9, **options)
    assert watched.asked <= DECLARED
    assert result.converged
    np.testing.assert_allclose(result.theta, _scipy_minimum(full), rtol=0, atol=1e-7)
