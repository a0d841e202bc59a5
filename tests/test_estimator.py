"""LogisticRegression against scikit-learn, across input kinds, chunkings and solvers."""

from __future__ import annotations

import warnings

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from conftest import make_logistic
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLR

from logloss import LogisticRegression

TIGHT = dict(tol=1e-10, max_iter=1000)


def sk_fit(X, y, *, C=1.0, penalty="l2", fit_intercept=True, sample_weight=None, class_weight=None):
    C = np.inf if penalty is None else C
    return SkLR(C=C, fit_intercept=fit_intercept, class_weight=class_weight, **TIGHT).fit(
        X, y, sample_weight=sample_weight
    )


def assert_same_model(ours, ref, rtol=1e-6):
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=rtol, atol=1e-9)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=rtol, atol=1e-9)


@pytest.mark.parametrize("penalty,C", [(None, 1.0), ("l2", 0.01), ("l2", 1.0), ("l2", 100.0)])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_matches_sklearn_on_numpy(penalty, C, fit_intercept):
    X, y, _ = make_logistic(seed=11)
    C_ours = np.inf if penalty is None else C  # penalty=None is spelled C=np.inf now
    ours = LogisticRegression(C=C_ours, fit_intercept=fit_intercept, **TIGHT).fit(X, y)
    ref = sk_fit(X, y, C=C, penalty=penalty, fit_intercept=fit_intercept)
    assert_same_model(ours, ref)
    assert ours.coef_.shape == (1, 5) and ours.intercept_.shape == (1,)
    assert ours.converged_ and ours.n_iter_[0] >= 1
    if not fit_intercept:
        assert ours.intercept_[0] == 0.0


def test_matches_sklearn_with_sample_weights():
    X, y, _ = make_logistic(seed=12)
    sw = np.random.default_rng(12).uniform(0.1, 5.0, size=len(y))
    ours = LogisticRegression(C=0.5, **TIGHT).fit(X, y, sample_weight=sw)
    assert_same_model(ours, sk_fit(X, y, C=0.5, sample_weight=sw))


@pytest.mark.parametrize("class_weight", ["balanced", {0: 3.0, 1: 0.5}])
def test_matches_sklearn_with_class_weights(class_weight):
    X, y, _ = make_logistic(seed=13, intercept=-1.5)
    ours = LogisticRegression(C=2.0, class_weight=class_weight, **TIGHT).fit(X, y)
    assert_same_model(ours, sk_fit(X, y, C=2.0, class_weight=class_weight))


@pytest.mark.parametrize("nchunks", [1, 7, 32])
@pytest.mark.parametrize("weighted", [False, True])
def test_dask_array_chunked_any_way_gives_the_same_fit(nchunks, weighted):
    X, y, _ = make_logistic(n=3000, seed=14)
    sw = np.random.default_rng(14).uniform(0.5, 2.0, size=len(y)) if weighted else None
    ref = sk_fit(X, y, C=0.3, sample_weight=sw)
    rows = -(-len(y) // nchunks)
    Xd = da.from_array(X, chunks=(rows, 5))
    yd = da.from_array(y, chunks=rows)
    swd = None if sw is None else da.from_array(sw, chunks=rows)
    ours = LogisticRegression(C=0.3, **TIGHT).fit(Xd, yd, sample_weight=swd)
    assert Xd.numblocks[0] == nchunks
    assert_same_model(ours, ref)


def test_dask_array_with_unknown_chunks_and_column_chunks():
    X, y, _ = make_logistic(n=1500, seed=15)
    Xd = da.from_array(X, chunks=(200, 2))
    ddf = dd.from_pandas(pd.DataFrame({"y": y}), npartitions=4)
    yd = ddf["y"].to_dask_array()  # unknown chunk sizes
    assert any(np.isnan(c) for c in yd.chunks[0])
    ours = LogisticRegression(**TIGHT).fit(Xd, yd)
    assert_same_model(ours, sk_fit(X, y))


def test_dask_dataframe_sets_feature_names_and_predicts_lazily():
    X, y, _ = make_logistic(n=1000, seed=16)
    cols = [f"f{i}" for i in range(5)]
    df = pd.DataFrame(X, columns=cols)
    ddf = dd.from_pandas(df, npartitions=3)
    ys = dd.from_pandas(pd.Series(y, name="y"), npartitions=3)
    ours = LogisticRegression(**TIGHT).fit(ddf, ys)
    assert list(ours.feature_names_in_) == cols
    assert_same_model(ours, sk_fit(df, y))
    proba = ours.predict_proba(ddf)
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), ours.predict_proba(df), rtol=1e-12)
    pred = ours.predict(da.from_array(X, chunks=300))
    assert isinstance(pred, da.Array)
    np.testing.assert_array_equal(pred.compute(), ours.predict(X))
    assert ours.score(da.from_array(X, chunks=300), da.from_array(y, chunks=300)) == pytest.approx(
        ours.score(X, y)
    )


def test_pandas_dataframe_feature_names():
    X, y, _ = make_logistic(n=500, seed=17)
    df = pd.DataFrame(X, columns=list("abcde"))
    ours = LogisticRegression().fit(df, y)
    assert list(ours.feature_names_in_) == list("abcde")


@pytest.mark.parametrize(
    "labels", [np.array(["no", "yes"]), np.array([False, True]), np.array([-1, 7])]
)
def test_any_two_labels_map_through_classes(labels):
    X, y01, _ = make_logistic(n=800, seed=18)
    y = labels[y01]
    ours = LogisticRegression(**TIGHT).fit(X, y)
    ref = sk_fit(X, y)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    assert_same_model(ours, ref)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    dask_pred = ours.predict(da.from_array(X, chunks=100)).compute()
    np.testing.assert_array_equal(dask_pred, ref.predict(X))


@pytest.mark.parametrize("dask_input", [False, True])
def test_other_label_sets_are_refused_with_the_values(dask_input):
    X, _, _ = make_logistic(n=90, seed=19)
    y = np.repeat([0, 1, 2], 30)
    if dask_input:
        X, y = da.from_array(X, chunks=30), da.from_array(y, chunks=30)
    with pytest.raises(ValueError, match=r"two distinct values; got 3: \[0, 1, 2\]"):
        LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="only one class"):
        LogisticRegression().fit(
            X, np.ones(90, dtype=int) if not dask_input else da.ones(90, chunks=30)
        )


@pytest.mark.parametrize("solver", ["lbfgs", "newton", "gd"])
def test_each_solver_reaches_the_optimum(solver):
    X, y, _ = make_logistic(n=2000, p=4, seed=20)
    ref = sk_fit(X, y, C=1.0)
    kw = dict(tol=1e-9, max_iter=20000, solver=solver)
    if solver == "gd":
        kw.update(learning_rate=4.0, line_search=True)
    ours = LogisticRegression(C=1.0, **kw).fit(X, y)
    assert ours.converged_
    assert_same_model(ours, ref, rtol=1e-6)


def test_gd_with_small_fixed_rate_decreases_the_loss_every_step():
    X, y, _ = make_logistic(n=1000, p=3, seed=21)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = LogisticRegression(solver="gd", learning_rate=0.1, max_iter=200, tol=0).fit(X, y)
    losses = np.array([h["loss"] for h in ours.history_])
    assert len(losses) == 200
    assert np.all(np.diff(losses) < 0)
    assert {"iteration", "loss", "grad_norm", "step", "seconds"} <= set(ours.history_[0])


def test_not_converging_warns_and_records_it():
    X, y, _ = make_logistic(n=500, seed=22)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        ours = LogisticRegression(max_iter=2, tol=1e-12).fit(X, y)
    assert not ours.converged_ and ours.n_iter_[0] == 2 and len(ours.history_) == 2


@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_separable_data_without_penalty_never_gives_nan(solver):
    rng = np.random.default_rng(23)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = LogisticRegression(None, solver=solver, max_iter=50, tol=1e-14).fit(X, y)
    assert np.all(np.isfinite(ours.coef_)) and np.isfinite(ours.intercept_).all()
    assert np.linalg.norm(ours.coef_) > 10  # coefficients grow on separable data
    assert ours.score(X, y) == 1.0


def test_standardize_reports_original_units_and_matches_a_scaled_pipeline():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, _ = make_logistic(n=2000, seed=24)
    X = X * np.array([1.0, 100.0, 0.01, 5.0, 1e3]) + np.array([0, 50, -3, 0, 1e4])
    pipe = make_pipeline(StandardScaler(), SkLR(C=0.5, **TIGHT)).fit(X, y)
    sc, lr = pipe[0], pipe[1]
    coef = lr.coef_ / sc.scale_
    intercept = lr.intercept_ - coef @ sc.mean_
    for data in (X, da.from_array(X, chunks=333)):
        ours = LogisticRegression(C=0.5, standardize=True, **TIGHT).fit(data, y)
        np.testing.assert_allclose(ours.coef_, coef, rtol=1e-6)
        np.testing.assert_allclose(ours.intercept_, intercept, rtol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), pipe.predict_proba(X), rtol=1e-7)


def test_predictions_match_sklearn_for_the_same_coefficients():
    X, y, _ = make_logistic(n=700, seed=25)
    ours = LogisticRegression(**TIGHT).fit(X, y)
    ref = sk_fit(X, y)
    # scikit-learn stops on its ftol test (max|grad| ~1e-9 here) where ours reaches tol:
    # compare the predictions of the same coefficients.
    assert_same_model(ours, ref)
    ref.coef_, ref.intercept_ = ours.coef_.copy(), ours.intercept_.copy()
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-12)
    np.testing.assert_allclose(ours.decision_function(X), ref.decision_function(X), rtol=1e-12)
    np.testing.assert_allclose(ours.predict_log_proba(X), ref.predict_log_proba(X), rtol=1e-12)
    assert ours.score(X, y) == pytest.approx(ref.score(X, y))


def test_nan_in_dask_input_is_a_clear_error():
    X, y, _ = make_logistic(n=300, seed=26)
    X[17, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        LogisticRegression().fit(da.from_array(X, chunks=100), da.from_array(y, chunks=100))


@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_solvers_given_a_sample_hessian_reach_the_same_optimum(solver):
    from logloss.objective import LogisticObjective, numpy_sums
    from logloss.solvers import SolverState, solve

    X, y, _ = make_logistic(n=5000, p=6, seed=27, scale=3.0)
    y = y.astype(float)
    full = LogisticObjective(numpy_sums(X, y), 6, alpha=1.0)
    sample = LogisticObjective(numpy_sums(X[::10], y[::10]), 6, alpha=0.1)
    theta_s = solve("lbfgs", sample, SolverState(np.zeros(7), 0, ()), max_iter=100, tol=1e-8).theta
    H_s = sample.hessian(theta_s)[2]
    cold = solve(solver, full, SolverState(np.zeros(7), 0, ()), max_iter=200, tol=1e-10)
    for hessian in (H_s, -np.eye(7)):  # a good approximation, and one that is not even PD
        warm = solve(
            solver, full, SolverState(theta_s, 0, ()), max_iter=200, tol=1e-10, hessian=hessian
        )
        assert warm.converged
        if solver == "newton":  # lbfgs may also stop on ftol, as scikit-learn's does
            assert np.max(np.abs(full(warm.theta)[1])) <= 1e-10
        np.testing.assert_allclose(warm.theta, cold.theta, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("penalty,C", [(None, 1.0), ("l2", 0.5)])
def test_deprecated_penalty_warns_and_still_means_what_it_meant(penalty, C):
    X, y, _ = make_logistic(n=300, p=3, seed=21)
    with pytest.warns(FutureWarning, match="'penalty' is deprecated"):
        old = LogisticRegression(penalty, C=C, **TIGHT).fit(X, y)
    new = LogisticRegression(C=np.inf if penalty is None else C, **TIGHT).fit(X, y)
    np.testing.assert_allclose(old.coef_, new.coef_, rtol=1e-12)


def test_the_default_penalty_does_not_warn():
    import warnings

    X, y, _ = make_logistic(n=300, p=3, seed=22)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        LogisticRegression().fit(X, y)


@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("class_weight", [None, "balanced", {"b": 3.0}])
def test_preparation_of_numpy_and_dask_data_agrees(standardize, class_weight):
    """One set of preparation rules: the same rows in memory (one block) and as Dask blocks
    give the same classes, total weight, objective sums and solver coordinates."""
    from logloss.prepare import Scaling, prepare_dask, prepare_numpy

    X, y01, _ = make_logistic(n=400, p=3, seed=61, scale=3.0)
    y = np.where(y01 == 1, "b", "a")
    sw = np.random.default_rng(61).uniform(0.5, 2.0, size=len(y))
    how = Scaling(standardize=standardize, fit_intercept=True, alpha=0.01)
    mem = prepare_numpy(X, y, sw, class_weight, how)
    dsk = prepare_dask(
        da.from_array(X, chunks=(97, 3)), da.from_array(y, chunks=97), sw, class_weight, how
    )
    assert mem.classes.tolist() == dsk.classes.tolist() == ["a", "b"]
    assert mem.n_rows == dsk.n_rows == 400
    theta = np.linspace(-0.5, 0.5, 4)
    np.testing.assert_allclose(mem.sums(theta, False), dsk.sums(theta, False), rtol=1e-10)
    np.testing.assert_allclose(mem.scale, dsk.scale, rtol=0.1 if not standardize else 1e-10)
    with pytest.raises(ValueError, match="only one class"):
        prepare_numpy(X[:5], np.array(["a"] * 5), None, None, how)
    with pytest.raises(ValueError, match="only one class"):
        prepare_dask(da.from_array(X[:5]), da.from_array(np.array(["a"] * 5)), None, None, how)
