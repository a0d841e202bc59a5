"""Wide dense data: the objective's map w = Aθ costs O(p), never a (p + 1)² matrix, so an
lbfgs fit needs memory for the data and a few vectors of length p (before: a 100 k-column
fit asked for a dense 74.5 GiB A, whatever the solver)."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

from logloss import LogisticRegression
from logloss.objective import LogisticObjective, numpy_sums


def _wide(n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    beta = np.zeros(p)
    beta[:20] = 1.0
    return X, (X @ beta + rng.logistic(size=n) > 0).astype(int)


def test_100k_columns_fit_with_lbfgs_in_memory_of_the_data():
    X, y = _wide(200, 100_000, seed=41)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = LogisticRegression(solver="lbfgs", max_iter=30).fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.all(np.isfinite(model.coef_)) and np.isfinite(model.intercept_[0])
    # X itself is 160 MB; a dense A would be 80 GB. Vectors of length p are 0.8 MB each.
    assert peak < 2 * X.nbytes, f"peak {peak / 2**20:.0f} MiB for {X.nbytes / 2**20:.0f} MiB"


def test_wide_lbfgs_matches_scikit_learn():
    X, y = _wide(400, 10_000, seed=7)
    C = 1e-3
    ref = SkLogisticRegression(C=C, solver="newton-cg", tol=1e-12, max_iter=1000).fit(X, y)
    ours = LogisticRegression(C=C, solver="lbfgs", tol=1e-8, max_iter=500).fit(X, y)
    assert ours.converged_
    want = np.r_[ref.coef_[0], ref.intercept_]
    got = np.r_[ours.coef_[0], ours.intercept_]
    assert np.max(np.abs(got - want)) <= 1e-6 * np.max(np.abs(want))


def test_the_map_and_its_transpose_equal_the_dense_matrix():
    # w = Aθ, Aᵀg and AᵀHA, each applied in O(p) (O(p²) for H), against A written out.
    rng = np.random.default_rng(43)
    p = 7
    X = rng.normal(loc=1.5, scale=2.0, size=(50, p))
    mean, scale = X.mean(axis=0), X.std(axis=0)
    for fit_intercept in (True, False):
        obj = LogisticObjective(
            numpy_sums(X, (X[:, 0] > 1.5).astype(float)),
            p,
            alpha=1.0,
            fit_intercept=fit_intercept,
            mean=mean if fit_intercept else None,
            scale=scale,
        )
        A = np.zeros((p + 1, obj.n_params))
        A[np.arange(p), np.arange(p)] = 1.0 / scale
        if fit_intercept:
            A[p, :p] = -mean / scale
            A[p, p] = 1.0
        theta = rng.normal(size=obj.n_params)
        g = rng.normal(size=p + 1)
        H = rng.normal(size=(p + 1, p + 1))
        H = H @ H.T
        np.testing.assert_allclose(obj.to_w(theta), A @ theta, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(obj.grad_to_theta(g), A.T @ g, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(obj.hessian_to_theta(H), A.T @ H @ A, rtol=1e-12, atol=1e-13)
