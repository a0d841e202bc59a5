"""The two-loop L-BFGS that ``lbfgs`` runs above ``twoloop.MIN_PARAMS`` parameters: the same
optimum as scipy's L-BFGS-B, and a wide hashed fit equal to scikit-learn's pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from scipy.special import expit
from test_hashing import (
    FLIGHT_HASHED,
    FLIGHT_NUMERIC,
    FLIGHT_VOCAB,
    fit_hashed,
    flights,
    sklearn_pipeline,
    write_blocks,
)

from logloss.solvers import twoloop


def _logistic(X: np.ndarray, y: np.ndarray, lam: float):
    def fun(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = X @ w
        value = float(np.sum(np.logaddexp(0, z) - y * z)) + 0.5 * lam * float(w @ w)
        return value, X.T @ (expit(z) - y) + lam * w

    return fun


def test_same_optimum_as_scipys_lbfgsb() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 60)) * rng.uniform(0.1, 10, 60)  # badly scaled
    y = (rng.random(400) < expit(X @ rng.standard_normal(60) / 10)).astype(float)
    fun = _logistic(X, y, 1.0)
    seen: list[float] = []

    def stop_at_tol(x: np.ndarray) -> None:
        seen.append(fun(x)[0])
        if np.max(np.abs(fun(x)[1])) <= 1e-5:
            raise StopIteration

    x, why = twoloop.minimize(
        fun, np.zeros(60), callback=stop_at_tol, max_iter=5000, memory=10, ftol=0.0
    )
    ref = scipy.optimize.minimize(
        fun, np.zeros(60), jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 0}
    )
    assert why == "gradient norm below tol", why
    np.testing.assert_allclose(x, ref.x, rtol=0, atol=1e-5)
    assert np.all(np.diff(seen) <= 1e-12 * abs(seen[0])), "the objective went up"


def test_stops_on_max_iter_and_on_a_flat_objective() -> None:
    fun = _logistic(np.eye(3), np.array([1.0, 0.0, 1.0]), 1.0)
    x, why = twoloop.minimize(
        fun, np.zeros(3), callback=lambda x: None, max_iter=2, memory=5, ftol=0
    )
    assert why == "max_iter reached"
    x, why = twoloop.minimize(fun, x, callback=lambda x: None, max_iter=10_000, memory=5, ftol=1e-3)
    assert why in ("relative decrease of the objective below ftol", "line search failed")


@pytest.mark.parametrize("blocks", [1, 5])
def test_wide_hashed_fit_equals_scikit_learns_pipeline(tmp_path, blocks) -> None:
    bits = 16  # 2^16 + 100 parameters: above twoloop.MIN_PARAMS, so lbfgs runs the two loops
    assert 2**bits > twoloop.MIN_PARAMS
    df = flights(20_000)
    path = write_blocks(df, tmp_path / "flights.parquet", blocks)
    ds, model = fit_hashed(path, "late", bits, 0.5, hash_columns=FLIGHT_HASHED)
    features = FLIGHT_NUMERIC + FLIGHT_VOCAB + FLIGHT_HASHED
    ref = sklearn_pipeline(FLIGHT_NUMERIC, FLIGHT_VOCAB, FLIGHT_HASHED, bits, 0.5)
    ref.fit(df[features], df.late)
    got = np.asarray(model.predict_proba(ds.X)[:, 1].compute())
    np.testing.assert_allclose(got, ref.predict_proba(df[features])[:, 1], rtol=0, atol=1e-5)
    assert model.n_iter_ < 300, model.n_iter_
