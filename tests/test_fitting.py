"""The core's seam: prepare() -> fit_prepared() -> FitResult -> LogisticCore.set_fitted, and the
K-model kernel (loss.cv_block_sums) against K single-model block_sums calls."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pandas as pd
import pytest
from conftest import make_logistic
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLR

from logloss import LogisticRegression
from logloss.fitting import FitResult, fit_prepared
from logloss.lockstep import Lockstep
from logloss.logistic import LogisticCore
from logloss.loss import (
    Folds,
    block_sums,
    cv_block_sums,
    hashed_folds,
    log1pexp,
    sigmoid,
    softplus_and_sigma,
    unpack,
    unpack_models,
)
from logloss.prepare import prepare

# the attribute each FitResult field becomes (set_fitted)
ATTRIBUTE = {
    "coef": "coef_",
    "intercept": "intercept_",
    "converged": "converged_",
    "stop_reason": "stop_reason_",
    "n_passes": "n_passes_",
    "n_sample_passes": "n_sample_passes_",
    "solver": "solver_",
    "data_storage": "data_storage_",
    "resumed_from_iter": "resumed_from_iter_",
    "n_rows": "n_rows_",
    "classes": "classes_",
    "n_features": "n_features_in_",
}


def _assert_attributes_are_the_result(model: LogisticCore, result: FitResult) -> None:
    for field, attribute in ATTRIBUTE.items():
        got, want = getattr(model, attribute), getattr(result, field)
        if isinstance(want, np.ndarray):
            np.testing.assert_array_equal(got, want)
        else:
            assert got == want, field
    assert model.n_iter_.tolist() == [result.n_iter]
    assert model.history_ == list(result.history)
    assert model.badly_scaled_ == list(result.badly_scaled)
    assert model.coef_.shape == (1, result.n_features) and model.intercept_.shape == (1,)


@pytest.mark.parametrize("settings", [{}, {"C": 0.05, "standardize": True}, {"C": np.inf}])
def test_fit_prepared_is_the_estimators_fit_and_scikit_learns_optimum(settings):
    X, y, _ = make_logistic(n=600, p=4, seed=3, scale=2.0)
    params = {"tol": 1e-10, "max_iter": 200, **settings}
    prepared = prepare(X, y, settings=params)
    result = fit_prepared(prepared, params)
    est = LogisticRegression(**params).fit(X, y)
    np.testing.assert_allclose(result.coef, est.coef_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.intercept, est.intercept_, rtol=1e-12, atol=1e-12)
    assert result.converged and result.n_iter == est.n_iter_[0]
    assert result.n_passes == est.n_passes_ and result.solver == est.solver_ == "newton"
    assert [h["loss"] for h in est.history_] == [h["loss"] for h in result.history]
    _assert_attributes_are_the_result(LogisticCore(**params).set_fitted(result), result)
    _assert_attributes_are_the_result(LogisticRegression(**params).set_fitted(result), result)
    # scikit-learn's LogisticRegression (a StandardScaler pipeline for standardize=True)
    Xs = X
    if settings.get("standardize"):
        mean, std = X.mean(axis=0), X.std(axis=0)
        Xs = (X - mean) / std
    C = settings.get("C", 1.0)
    ref = SkLR(C=C, tol=1e-12, max_iter=10_000).fit(Xs, y)
    coef, intercept = ref.coef_[0], ref.intercept_[0]
    if settings.get("standardize"):
        coef, intercept = coef / std, intercept - float(coef @ (mean / std))
    np.testing.assert_allclose(result.coef[0], coef, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(result.intercept[0], intercept, rtol=1e-6, atol=1e-6)


def test_one_prepared_problem_serves_several_fits():
    """Fits at two C on one prepared problem are the fits on the data (the preconditioner
    differs with C, not the optimum)."""
    X, y, _ = make_logistic(n=500, p=3, seed=8)
    prepared = prepare(X, y, settings={"C": 1.0})
    for C in (0.01, 10.0):
        got = fit_prepared(prepared, {"C": C, "tol": 1e-10})
        want = LogisticRegression(C=C, tol=1e-10).fit(X, y)
        np.testing.assert_allclose(got.coef, want.coef_, atol=1e-8)
        np.testing.assert_allclose(got.intercept, want.intercept_, atol=1e-8)


def test_a_dataframe_prepares_with_its_names_labels_and_encoding():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = np.where(frame["a"] + rng.normal(size=300) > 0, "yes", "no")
    prepared = prepare(frame, y)
    assert prepared.feature_names.tolist() == ["a", "b"] and prepared.encoding is None
    assert prepared.classes.tolist() == ["no", "yes"]
    frame["c"] = rng.choice(["u", "v"], size=300)
    encoded = prepare(frame, y)
    assert encoded.encoding is not None
    assert encoded.feature_names.tolist() == list(encoded.encoding.feature_names)
    result = fit_prepared(encoded)
    model = LogisticCore().set_fitted(result)
    assert model.encoding_ is result.encoding
    np.testing.assert_allclose(
        model.predict_proba(frame), LogisticCore().fit(frame, y).predict_proba(frame)
    )
    # set_fitted from a result without names or encoding removes the earlier ones
    model.set_fitted(fit_prepared(prepare(frame[["a", "b"]].to_numpy(), y)))
    assert not hasattr(model, "encoding_") and not hasattr(model, "feature_names_in_")


def test_dask_data_fit_prepared_records_the_storage_and_agrees_with_numpy():
    X, y, _ = make_logistic(n=2000, p=3, seed=9)
    prepared = prepare(da.from_array(X, chunks=(500, 3)), da.from_array(y, chunks=500))
    try:
        result = fit_prepared(prepared, {"tol": 1e-10})
    finally:
        prepared.release()
    assert result.data_storage is not None and result.n_rows == 2000
    ref = fit_prepared(prepare(X, y), {"tol": 1e-10})
    np.testing.assert_allclose(result.coef, ref.coef, atol=1e-8)


def test_init_starts_from_given_coefficients():
    X, y, _ = make_logistic(n=800, p=4, seed=10, scale=3.0)
    prepared = prepare(X, y)
    cold = fit_prepared(prepared, {"tol": 1e-10, "solver": "lbfgs"})
    init = np.r_[cold.coef[0], cold.intercept]
    warm = fit_prepared(prepared, {"tol": 1e-10, "solver": "lbfgs"}, init=init)
    assert warm.n_iter <= 1 < cold.n_iter
    np.testing.assert_allclose(warm.coef, cold.coef, atol=1e-8)
    near = fit_prepared(prepared, {"tol": 1e-10, "solver": "lbfgs"}, init=init * 0.9)
    np.testing.assert_allclose(near.coef, cold.coef, atol=1e-7)
    with pytest.raises(ValueError, match="init must be 5 finite numbers"):
        fit_prepared(prepared, init=init[:4])


def test_a_failed_fit_warns_and_its_result_says_why():
    X, y, _ = make_logistic(n=400, p=3, seed=11)
    X[:, 1] *= 1e5
    with pytest.warns(ConvergenceWarning, match="'b'"):
        result = fit_prepared(
            prepare(pd.DataFrame(X, columns=["a", "b", "c"]), y),
            {"solver": "gd", "max_iter": 3},
        )
    assert not result.converged and result.badly_scaled == (1,)
    assert "did not converge" in result.stop_reason and result.n_iter == 3


# ------------------------------------------------------------------ the K-model kernel
def test_softplus_and_sigma_of_any_margin():
    z = np.array([-1e4, -800.0, -40.0, -1.0, 0.0, 1e-3, 2.0, 40.0, 800.0, 1e4])
    e, t, r = (np.empty_like(z) for _ in range(3))
    softplus_and_sigma(z, e, t, r)
    np.testing.assert_allclose(t, log1pexp(z), rtol=1e-15)
    np.testing.assert_allclose(r, sigmoid(z), rtol=1e-15, atol=0)  # relative, even at -800


def _kernel_problem(seed: int, K: int = 4):
    rng = np.random.default_rng(seed)
    n, p = 700, 3
    X = rng.standard_normal((n, p))
    y = (rng.random(n) < 0.5).astype(np.float64)
    s = rng.random(n) + 0.5
    W = rng.standard_normal((p + 1, K)) * 0.5
    return X, y, s, W


def test_kernel_with_explicit_splits_is_k_block_sums_calls():
    """Overlapping explicit splits (the masked path): every model's sums are block_sums of
    its training rows (weighted) and of its held-out rows (unweighted)."""
    X, y, s, W = _kernel_problem(5)
    n, p = X.shape
    rng = np.random.default_rng(6)
    splits = [
        (np.sort(rng.choice(n, 500, replace=False)), np.arange(f * 100, f * 100 + 150))
        for f in range(2)
    ]
    folds = Folds(2, splits)
    model_fold = np.array([0, 0, 1, 1])
    hess = np.array([0, 3])
    got = unpack_models(cv_block_sums(X, y, s, 0, W, model_fold, hess, folds), p, 4, hess)
    for k, (vec, held_loss, held_rows) in enumerate(got):
        tr, te = splits[model_fold[k]]
        ref = block_sums(X[tr], y[tr], W[:, k], s[tr], hessian=k in hess)
        np.testing.assert_allclose(vec, ref, rtol=1e-10, atol=1e-10)
        ref_held = block_sums(X[te], y[te], W[:, k])
        assert held_loss == pytest.approx(ref_held[0], rel=1e-12) and held_rows == len(te)


def test_kernel_gradient_and_hessian_are_the_derivatives_of_its_loss():
    """Finite differences of each model's training loss sum (hashed folds, the sorted path)."""
    X, y, s, W = _kernel_problem(7, K=3)
    p = X.shape[1]
    folds = Folds(3)
    model_fold = np.array([0, 1, 2])
    hess = np.arange(3)

    def sums(W: np.ndarray) -> list:
        return unpack_models(cv_block_sums(X, y, s, 123, W, model_fold, hess, folds), p, 3, hess)

    base = sums(W)
    h = 1e-6
    for k in range(3):
        grad, H = unpack(base[k][0], p).grad, unpack(base[k][0], p).hess
        for j in range(p + 1):
            Wp, Wm = W.copy(), W.copy()
            Wp[j, k] += h
            Wm[j, k] -= h
            up, down = unpack(sums(Wp)[k][0], p), unpack(sums(Wm)[k][0], p)
            assert (up.loss - down.loss) / (2 * h) == pytest.approx(grad[j], rel=1e-6, abs=1e-6)
            np.testing.assert_allclose((up.grad - down.grad) / (2 * h), H[j], rtol=1e-5, atol=1e-5)
    # and the training rows are the ones outside the model's hashed fold
    fold = hashed_folds(np.arange(123, 123 + len(y), dtype=np.uint64), 3)
    for k in range(3):
        assert unpack(base[k][0], p).weight == pytest.approx(s[fold != k].sum(), rel=1e-12)
        assert base[k][2] == np.sum(fold == k)


def test_lockstep_raises_a_models_error_and_stops_the_others():
    calls = []

    def run_pass(requests):
        calls.append(sorted(requests))
        return {m: (np.zeros(3), 0.0, 0.0) for m in requests}

    lock = Lockstep(run_pass)

    def work(model: int) -> None:
        sums = lock.sums_for(model)
        for _ in range(3 if model else 1):
            sums(np.zeros(2), False)
        if model == 0:
            raise RuntimeError("model 0 failed")
        for _ in range(100):
            sums(np.zeros(2), False)

    with warnings.catch_warnings(), pytest.raises(RuntimeError, match="model 0 failed"):
        lock.run(range(3), work)
    assert calls[0] == [0, 1, 2] and len(calls) < 100
