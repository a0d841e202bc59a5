"""The solvers work in centred, scaled coordinates whatever ``standardize`` says; the
problem (the penalty, the optimum, the convergence rule) stays the one the user posed.
And every solver's history records the real step length ‖θ_k − θ_{k−1}‖."""

from __future__ import annotations

import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import pytest
from conftest import make_logistic
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

from logloss import LogisticRegression
from logloss.objective import LogisticObjective, numpy_sums

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "breast_cancer.parquet"


def _breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    df = pd.read_parquet(SAMPLE)
    return df.drop(columns="target").to_numpy(dtype=np.float64), df["target"].to_numpy()


def _max_grad_w(model: LogisticRegression, X: np.ndarray, y: np.ndarray) -> float:
    """max |∇_w J| in original units, J = mean log loss + ‖coef‖² / (2 C n)."""
    w, b = model.coef_[0], float(model.intercept_[0])
    r = expit(X @ w + b) - y
    g = X.T @ r / len(y)
    if np.isfinite(model.C):
        g = g + w / (model.C * len(y))
    return float(np.max(np.abs(np.r_[g, r.mean()])))


def _sklearn_optimum(X: np.ndarray, y: np.ndarray, C: float) -> np.ndarray:
    # newton-cholesky reaches the optimum (max|grad| ~1e-13 here); scikit-learn's own lbfgs
    # at tol=1e-10, max_iter=10000 stops 1e-4 (relative) away from it on these data.
    sk = SkLogisticRegression(C=C, tol=1e-10, max_iter=10000, solver="newton-cholesky")
    sk.fit(X, y)
    return np.r_[sk.coef_[0], sk.intercept_]


def _rel(model: LogisticRegression, ref: np.ndarray) -> float:
    got = np.r_[model.coef_[0], model.intercept_]
    return float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))


@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_breast_cancer_converges_without_standardize(solver):
    # Before: lbfgs stopped at max_iter=1000 with max|grad| 0.019 > tol 1e-4.
    X, y = _breast_cancer()
    model = LogisticRegression(solver=solver, max_iter=1000).fit(X, y)
    assert model.converged_
    assert _max_grad_w(model, X, y) <= model.tol * (1 + 1e-6)


@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
@pytest.mark.parametrize(("columns", "C"), [(slice(None), 1.0), (slice(0, 10), np.inf)])
def test_breast_cancer_matches_scikit_learn(solver, columns, C):
    # C=inf on the first 10 columns: all 30 are linearly separable (no optimum exists).
    X, y = _breast_cancer()
    X = X[:, columns]
    ref = _sklearn_optimum(X, y, C)
    model = LogisticRegression(C=C, solver=solver, tol=1e-8, max_iter=1000).fit(X, y)
    assert model.converged_
    assert _rel(model, ref) <= 1e-5


def test_the_penalty_stays_on_original_units_without_standardize():
    # Scaling only preconditions: the optimum equals the unscaled objective's optimum.
    X, y, _ = make_logistic(n=400, p=3, seed=31)
    X = X * np.array([1e-3, 1.0, 1e3]) + np.array([5.0, 0.0, -2e3])
    y01 = y.astype(np.float64)
    plain = LogisticObjective(numpy_sums(X, y01), 3, alpha=1.0)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scaled = LogisticObjective(
        numpy_sums(X, y01), 3, alpha=1.0, mean=mean, scale=scale, penalize="w"
    )
    # the map w = Aθ written out densely, as a reference for the objective's O(p) one
    A = np.zeros((4, 4))
    A[np.arange(3), np.arange(3)] = 1.0 / scale
    A[3, :3] = -mean / scale
    A[3, 3] = 1.0
    rng = np.random.default_rng(31)
    for _ in range(3):
        theta = rng.normal(size=4)
        w = scaled.to_w(theta)
        np.testing.assert_allclose(w, A @ theta, rtol=1e-12, atol=1e-12)
        v1, g1 = scaled(theta)
        v0, g0 = plain(w)  # identity coordinates: θ = w
        assert v1 == pytest.approx(v0, rel=1e-12)
        np.testing.assert_allclose(g1, A.T @ g0, rtol=1e-9, atol=1e-12)
        # convergence_norm maps ∇_θ back to ∇_w
        assert scaled.convergence_norm(g1) == pytest.approx(np.max(np.abs(g0)), rel=1e-9)
        _, _, H1 = scaled.hessian(theta)
        _, _, H0 = plain.hessian(w)
        np.testing.assert_allclose(H1, A.T @ H0 @ A, rtol=1e-9, atol=1e-12)


def test_standardize_true_keeps_the_penalty_on_standardised_coefficients():
    X, y = _breast_cancer()
    model = LogisticRegression(standardize=True, tol=1e-8, max_iter=1000).fit(X, y)
    mean, std = X.mean(axis=0), X.std(axis=0)
    sk = SkLogisticRegression(tol=1e-10, max_iter=10000, solver="newton-cholesky")
    sk.fit((X - mean) / std, y)
    coef = sk.coef_[0] / std
    ref = np.r_[coef, sk.intercept_[0] - mean @ coef]
    assert model.converged_ and _rel(model, ref) <= 1e-5


def test_dask_and_numpy_fits_agree_on_badly_scaled_data():
    X, y = _breast_cancer()
    a = LogisticRegression(tol=1e-8, max_iter=1000).fit(X, y)
    b = LogisticRegression(tol=1e-8, max_iter=1000).fit(
        da.from_array(X, chunks=200), da.from_array(y, chunks=200)
    )
    assert a.converged_ and b.converged_
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-6)


# ------------------------------------------------ issue #10 item 5: the recorded step
@pytest.mark.parametrize(
    ("solver", "options"),
    [
        ("gd", {}),
        ("gd", {"line_search": True, "learning_rate": 8.0}),
        ("lbfgs", {}),
        ("newton", {}),
    ],
)
def test_history_step_is_the_length_of_the_move(solver, options):
    X, y, _ = make_logistic(n=500, p=4, seed=32, scale=3.0)
    thetas: list[np.ndarray] = []
    steps: list[float] = []

    def seen(state):
        thetas.append(state.theta.copy())
        steps.append(state.history[-1]["step"])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(solver=solver, tol=1e-8, max_iter=40, **options)
        model.fit(X, y, callback=seen)
    assert len(thetas) >= 3
    # θ₀ = 0 for a fresh NumPy fit.
    moves = [float(np.linalg.norm(thetas[0]))] + [
        float(np.linalg.norm(b - a)) for a, b in zip(thetas, thetas[1:], strict=False)
    ]
    np.testing.assert_allclose(steps, moves, rtol=1e-12, atol=1e-300)
    assert all(s > 0 for s in steps)
    assert [h["step"] for h in model.history_] == steps
