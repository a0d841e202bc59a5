"""The math core against its formulas and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logloss.loss import (
    block_moments,
    block_sums,
    combine_moments,
    log1pexp,
    row_loss,
    sigmoid,
    sigmoid_prime,
    unpack,
)
from logloss.objective import LogisticObjective, numpy_sums


def naive_loss(X, y, w, s=None):
    yhat = 1.0 / (1.0 + np.exp(-(X @ w[:-1] + w[-1])))
    rows = -(y * np.log(yhat) + (1 - y) * np.log(1 - yhat))
    return rows.sum() if s is None else (s * rows).sum()


def test_sigmoid_prime_is_sigma_times_one_minus_sigma():
    z = np.linspace(-30, 30, 601)
    h = 1e-6
    numeric = (sigmoid(z + h) - sigmoid(z - h)) / (2 * h)
    np.testing.assert_allclose(sigmoid_prime(z), numeric, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sigmoid_prime(z), sigmoid(z) * (1 - sigmoid(z)))


def test_row_loss_matches_the_lecture_formula_where_it_is_finite():
    rng = np.random.default_rng(1)
    z = rng.normal(scale=3, size=1000)
    y = rng.integers(0, 2, size=1000)
    yhat = 1 / (1 + np.exp(-z))
    expected = -(y * np.log(yhat) + (1 - y) * np.log(1 - yhat))
    np.testing.assert_allclose(row_loss(y, z), expected, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("z", [1e4, -1e4, 7e2, -7e2])
def test_extreme_margins_give_finite_loss_and_gradient(z):
    X = np.array([[1.0], [1.0]])
    y = np.array([0.0, 1.0])
    w = np.array([z, 0.0])
    s = unpack(block_sums(X, y, w, hessian=True), 1)
    assert np.isfinite(s.loss) and np.all(np.isfinite(s.grad)) and np.all(np.isfinite(s.hess))
    # One of the two rows is a confident mistake costing |z|, the other costs ~0.
    assert s.loss == pytest.approx(abs(z), rel=1e-12)
    assert np.isfinite(log1pexp(np.array([z]))).all()
    assert np.isfinite(sigmoid(np.array([z]))).all()


def test_block_sums_match_naive_loss_and_gradient_formula():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 4))
    y = rng.integers(0, 2, size=300).astype(float)
    s = rng.uniform(0.1, 3, size=300)
    w = rng.normal(size=5)
    out = unpack(block_sums(X, y, w, s), 4)
    assert out.loss == pytest.approx(naive_loss(X, y, w, s), rel=1e-12)
    assert out.weight == pytest.approx(s.sum())
    r = (sigmoid(X @ w[:-1] + w[-1]) - y) * s  # error × input
    np.testing.assert_allclose(out.grad[:-1], X.T @ r, rtol=1e-12)
    assert out.grad[-1] == pytest.approx(r.sum(), rel=1e-12)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("alpha", [0.0, 2.5])
@pytest.mark.parametrize("standardized", [False, True])
def test_gradient_and_hessian_agree_with_finite_differences(fit_intercept, alpha, standardized):
    rng = np.random.default_rng(3)
    X = rng.normal(loc=2.0, scale=3.0, size=(400, 3))
    y = rng.integers(0, 2, size=400).astype(float)
    sw = rng.uniform(0.5, 2.0, size=400)
    mean = X.mean(axis=0) if standardized else None
    scale = X.std(axis=0) if standardized else None
    obj = LogisticObjective(
        numpy_sums(X, y, sw, rows_per_block=97),
        3,
        alpha=alpha,
        fit_intercept=fit_intercept,
        mean=mean if fit_intercept else None,
        scale=scale,
    )
    theta = rng.normal(scale=0.5, size=obj.n_params)
    f, g, H = obj.hessian(theta)
    h = 1e-6
    num_g = np.empty_like(theta)
    num_H = np.empty((theta.size, theta.size))
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        fp, gp = obj(theta + e)
        fm, gm = obj(theta - e)
        num_g[i] = (fp - fm) / (2 * h)
        num_H[:, i] = (gp - gm) / (2 * h)
    np.testing.assert_allclose(g, num_g, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(H, num_H, rtol=1e-5, atol=1e-8)
    assert f == pytest.approx(obj(theta)[0])


def test_float32_blocks_accumulate_in_float64():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(5000, 3)).astype(np.float32)
    y = rng.integers(0, 2, size=5000).astype(float)
    w = rng.normal(size=4)
    got = block_sums(X, y, w)
    want = block_sums(X.astype(np.float64), y, w)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_log_loss_is_convex_and_mse_of_sigmoid_is_not_along_a_line():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 1))
    y = (rng.random(200) < sigmoid(3 * X[:, 0])).astype(float)
    ts = np.linspace(-20, 20, 401)
    ll = np.array([row_loss(y, t * X[:, 0]).mean() for t in ts])
    mse = np.array([((sigmoid(t * X[:, 0]) - y) ** 2).mean() for t in ts])
    assert np.min(np.diff(ll, 2)) >= -1e-12
    assert np.min(np.diff(mse, 2)) < -1e-6


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=8), st.integers(0, 10**6))
def test_moments_do_not_depend_on_the_split(sizes, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=1e3, size=(sum(sizes), 3))
    parts, a = [], 0
    for n in sizes:
        parts.append(block_moments(X[a : a + n]))
        a += n
    m = combine_moments(*parts)
    assert m[0] == len(X)
    np.testing.assert_allclose(m[1:4], X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(m[4:], X.var(axis=0) * len(X), rtol=1e-8)
