"""The estimator never calls a wrong answer right (issue 9, items 4-7 and 14).

- a checkpoint resumes only the fit of the same data (4), and says where it resumed (5);
- ``converged_`` means exactly max |∇J| <= tol, checked here with an independent NumPy
  gradient (6);
- weights must be finite and non-negative, in NumPy and Dask input alike (7);
- error and warning texts name the right remedy for the settings (14).
"""

from __future__ import annotations

import json
import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from conftest import make_logistic
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning

from logloss import LogisticRegression
from logloss.checkpoint import CheckpointError


def numpy_max_grad(model: LogisticRegression, X, y, sample_weight=None) -> float:
    """max |∇J| of scikit-learn's objective / (C Σs) at the model's coefficients (NumPy);
    with standardize=True, in the standardized features' coordinates, where it is judged."""
    X = np.asarray(X, dtype=np.float64)
    coef, b = model.coef_[0], model.intercept_[0]
    if model.standardize:
        mean, std = X.mean(axis=0), X.std(axis=0)
        X, coef, b = (X - mean) / std, coef * std, b + coef @ mean
    y01 = (np.asarray(y) == model.classes_[1]).astype(np.float64)
    s = np.ones(len(y01)) if sample_weight is None else np.asarray(sample_weight, float)
    r = s * (expit(X @ coef + b) - y01)
    g = np.r_[X.T @ r, r.sum()] / s.sum()
    if model.penalty is not None and np.isfinite(model.C):
        g[:-1] += coef / (model.C * s.sum())
    return float(np.max(np.abs(g if model.fit_intercept else g[:-1])))


@pytest.fixture(autouse=True)
def _threaded_scheduler():
    with dask.config.set(scheduler="threads"):
        yield


class Interrupted(Exception):
    pass


def interrupt_at(n: int):
    def callback(state):
        if state.n_iter == n:
            raise Interrupted

    return callback


# ----------------------------------------------------------------- 4: checkpoint data
@pytest.mark.parametrize("kind", ["numpy", "dask"])
def test_a_checkpoint_of_other_data_of_the_same_shape_is_refused(tmp_path, kind):
    XA, yA, _ = make_logistic(n=600, p=4, seed=101)
    XB, yB, _ = make_logistic(n=600, p=4, seed=102)
    if kind == "dask":
        XA, yA = da.from_array(XA, chunks=200), da.from_array(yA, chunks=200)
        XB, yB = da.from_array(XB, chunks=200), da.from_array(yB, chunks=200)
    kw = dict(tol=1e-10, max_iter=200)
    LogisticRegression(**kw).fit(XA, yA, checkpoint=tmp_path)
    saved = (tmp_path / "checkpoint.json").read_bytes()
    msg = "content" if kind == "numpy" else "different data of the same shape"
    with pytest.raises(CheckpointError, match=msg):
        LogisticRegression(**kw).fit(XB, yB, checkpoint=tmp_path)
    assert (tmp_path / "checkpoint.json").read_bytes() == saved  # refused: left as it was

    # checkpoint_restart: a fresh start on B, the same fit as without a checkpoint ...
    fresh = LogisticRegression(**kw).fit(XB, yB)
    restarted = LogisticRegression(**kw).fit(XB, yB, checkpoint=tmp_path, checkpoint_restart=True)
    assert restarted.resumed_from_iter_ is None
    np.testing.assert_array_equal(restarted.coef_, fresh.coef_)
    np.testing.assert_array_equal(restarted.intercept_, fresh.intercept_)
    assert not any("resumed" in h for h in restarted.history_)
    # ... that overwrote the checkpoint: B now resumes from it, A is refused.
    again = LogisticRegression(**kw).fit(XB, yB, checkpoint=tmp_path)
    assert again.resumed_from_iter_ == restarted.n_iter_[0]
    np.testing.assert_array_equal(again.coef_, fresh.coef_)
    with pytest.raises(CheckpointError):
        LogisticRegression(**kw).fit(XA, yA, checkpoint=tmp_path)


def test_the_callers_data_fingerprint_is_part_of_the_checkpoint(tmp_path):
    X, y, _ = make_logistic(n=300, p=3, seed=103)
    LogisticRegression().fit(X, y, checkpoint=tmp_path, data_fingerprint="files-v1")
    with pytest.raises(CheckpointError, match=r"data_fingerprint \(\"files-v1\".*\"files-v2\""):
        LogisticRegression().fit(X, y, checkpoint=tmp_path, data_fingerprint="files-v2")
    same = LogisticRegression().fit(X, y, checkpoint=tmp_path, data_fingerprint="files-v1")
    assert same.resumed_from_iter_ is not None


# ---------------------------------------------------------------- 5: what a resume is
@pytest.mark.parametrize("solver", ["gd", "newton"])
def test_gd_and_newton_resume_exactly(tmp_path, solver):
    X, y, _ = make_logistic(n=800, p=4, seed=104)
    kw = dict(solver=solver, tol=1e-9, max_iter=3000, checkpoint_every=1)
    if solver == "gd":
        kw.update(learning_rate=2.0)
    whole = LogisticRegression(**kw).fit(X, y)
    stop = 3 if solver == "newton" else 40
    with pytest.raises(Interrupted):
        LogisticRegression(**kw).fit(X, y, checkpoint=tmp_path, callback=interrupt_at(stop))
    resumed = LogisticRegression(**kw).fit(X, y, checkpoint=tmp_path)
    assert resumed.resumed_from_iter_ == stop
    np.testing.assert_array_equal(resumed.coef_, whole.coef_)
    np.testing.assert_array_equal(resumed.intercept_, whole.intercept_)
    assert resumed.n_iter_[0] == whole.n_iter_[0]


def test_lbfgs_resumed_reaches_the_same_optimum_and_marks_where_it_resumed(tmp_path):
    X, y, _ = make_logistic(n=2000, p=6, seed=105, scale=3.0)
    kw = dict(tol=1e-10, max_iter=1000, checkpoint_every=1)
    whole = LogisticRegression(**kw).fit(X, y)
    with pytest.raises(Interrupted):
        LogisticRegression(**kw).fit(X, y, checkpoint=tmp_path, callback=interrupt_at(5))
    resumed = LogisticRegression(**kw).fit(X, y, checkpoint=tmp_path)
    # The guarantee: the same optimum to the fit's tolerance, converged by the same rule.
    assert resumed.converged_ and whole.converged_
    assert numpy_max_grad(resumed, X, y) <= 1e-10
    np.testing.assert_allclose(resumed.coef_, whole.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(resumed.intercept_, whole.intercept_, rtol=1e-7, atol=1e-9)
    # ... and one history, numbered on, with the row where the second run began marked.
    its = [h["iteration"] for h in resumed.history_]
    assert its == list(range(1, len(its) + 1))
    marked = [h["iteration"] for h in resumed.history_ if h.get("resumed")]
    assert marked == [6] and resumed.resumed_from_iter_ == 5
    saved = json.loads((tmp_path / "checkpoint.json").read_text())
    assert [h["iteration"] for h in saved["history"] if h.get("resumed")] == [6]


# ------------------------------------------------------------- 6: what converged means
def test_a_huge_column_without_standardize_is_not_called_converged():
    X, y, _ = make_logistic(n=1000, p=3, seed=106)
    big = np.random.default_rng(106).integers(0, np.iinfo(np.int64).max, 1000)
    X = np.column_stack([X, big.astype(np.float64)])
    with pytest.warns(ConvergenceWarning) as record:
        model = LogisticRegression(max_iter=100).fit(X, y)
    assert not model.converged_
    assert numpy_max_grad(model, X, y) > model.tol
    assert model.badly_scaled_ == [3]
    text = str(record[0].message)
    assert "column 3" in text and "standardize=True" in text
    assert "penalty=None" not in text and "separable" not in text  # the penalty is l2
    assert "max|gradient|" in model.stop_reason_ and "tol 0.0001" in model.stop_reason_
    # The remedy it names works: standardized, the same data converge, by the same rule.
    ok = LogisticRegression(max_iter=100, standardize=True).fit(X, y)
    assert ok.converged_ and ok.badly_scaled_ == []
    assert numpy_max_grad(ok, X, y) <= ok.tol * 1.01
    assert "converged" in ok.stop_reason_ and "did not" not in ok.stop_reason_


def test_badly_scaled_columns_are_found_in_dask_input_too():
    X, y, _ = make_logistic(n=900, p=3, seed=107)
    X[:, 1] *= 1e12
    with pytest.warns(ConvergenceWarning, match="column 1"):
        model = LogisticRegression(max_iter=30, tol=1e-10).fit(
            da.from_array(X, chunks=300), da.from_array(y, chunks=300)
        )
    assert not model.converged_ and model.badly_scaled_ == [1]


@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_ill_conditioned_fit_reaches_tol_when_it_says_converged(solver):
    X, y, _ = make_logistic(n=2000, p=5, seed=2)
    X[:, 1] = X[:, 0] + 1e-4 * np.random.default_rng(2).normal(size=2000)
    X = X * np.array([1, 1, 100, 1e-2, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(None, tol=1e-8, max_iter=1000, solver=solver).fit(X, y)
    # scipy's ftol test stopped lbfgs at max|grad| 1.2e-6 and it was reported converged:
    # converged_ is now exactly the README's rule, and here the fit does reach tol.
    assert model.converged_
    assert numpy_max_grad(model, X, y) <= 1e-8


@pytest.mark.parametrize("solver", ["lbfgs", "newton", "gd"])
def test_converged_is_exactly_the_gradient_rule(solver):
    X, y, _ = make_logistic(n=500, p=4, seed=108)
    for max_iter in (1, 3, 200):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LogisticRegression(solver=solver, tol=1e-6, max_iter=max_iter).fit(X, y)
        g = numpy_max_grad(model, X, y)
        assert model.converged_ == (g <= 1e-6 * (1 + 1e-6)), (max_iter, g)


def test_the_warning_without_a_penalty_names_separability():
    rng = np.random.default_rng(109)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    with pytest.warns(ConvergenceWarning, match="separable") as record:
        LogisticRegression(C=np.inf, max_iter=20, tol=1e-12).fit(X, y)
    assert "max_iter (now 20)" in str(record[0].message)


# -------------------------------------------------------------------- 7: weight rules
@pytest.mark.parametrize("kind", ["numpy", "dask"])
@pytest.mark.parametrize("bad", [-5.0, np.nan, np.inf])
def test_bad_sample_weights_are_refused_with_their_index(kind, bad):
    X, y, _ = make_logistic(n=300, p=3, seed=110)
    sw = np.random.default_rng(110).uniform(0.5, 2.0, size=300)
    sw[217] = bad
    sw[250] = -1.0  # a second bad value: the first one is named
    if kind == "dask":
        X, y, sw = (da.from_array(a, chunks=100) for a in (X, y, sw))
    with pytest.raises(ValueError, match=rf"finite and non-negative; got {bad!r} at index 217"):
        LogisticRegression().fit(X, y, sample_weight=sw)


@pytest.mark.parametrize("kind", ["numpy", "dask"])
def test_zero_total_weight_is_refused(kind):
    X, y, _ = make_logistic(n=300, p=3, seed=111)
    sw = np.zeros(300)
    if kind == "dask":
        X, y, sw = (da.from_array(a, chunks=100) for a in (X, y, sw))
    with pytest.raises(ValueError, match="sum of sample weights .* must be positive; got 0.0"):
        LogisticRegression().fit(X, y, sample_weight=sw)


@pytest.mark.parametrize("kind", ["numpy", "dask"])
@pytest.mark.parametrize("value", [-2.0, np.nan, np.inf])
def test_bad_class_weight_values_are_refused_naming_the_label(kind, value):
    X, y, _ = make_logistic(n=300, p=3, seed=112)
    if kind == "dask":
        X, y = da.from_array(X, chunks=100), da.from_array(y, chunks=100)
    with pytest.raises(ValueError, match=rf"got {value!r} for label 1"):
        LogisticRegression(class_weight={0: 1.0, 1: value}).fit(X, y)


def test_dask_weights_of_the_wrong_length_say_both_lengths():
    X, y, _ = make_logistic(n=300, p=3, seed=113)
    sw = da.ones(299, chunks=100)
    with pytest.raises(ValueError, match="sample_weight has 299 rows, X has 300"):
        LogisticRegression().fit(da.from_array(X, chunks=100), da.from_array(y, chunks=100), sw)


def test_dask_nan_labels_are_refused_with_their_index():
    X, y, _ = make_logistic(n=300, p=3, seed=114)
    yf = y.astype(np.float64)
    yf[123] = np.nan
    with pytest.raises(ValueError, match="NaN in y at index 123"):
        LogisticRegression().fit(da.from_array(X, chunks=100), da.from_array(yf, chunks=100))


def test_valid_weights_still_match_numpy_and_dask():
    X, y, _ = make_logistic(n=600, p=3, seed=115)
    sw = np.random.default_rng(115).uniform(0.0, 3.0, size=600)
    sw[::7] = 0.0  # zero weights are allowed
    a = LogisticRegression(tol=1e-10).fit(X, y, sample_weight=sw)
    b = LogisticRegression(tol=1e-10).fit(
        da.from_array(X, chunks=150), da.from_array(y, chunks=150), da.from_array(sw, chunks=150)
    )
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-7)
    assert numpy_max_grad(a, X, y, sw) <= 1e-10


# --------------------------------------------------------------- 14: the right remedy
def test_gd_diverging_names_the_learning_rate():
    # The solver works in scaled coordinates, where η = 1e6 no longer diverges on these
    # data; η = 1e12 does (the penalty term alone multiplies θ by about 1 − 3e3 per step).
    X, y, _ = make_logistic(n=300, p=3, seed=116, scale=1e3)
    with pytest.raises(ValueError, match=r"lower learning_rate \(now 1e\+12\)"):
        LogisticRegression(solver="gd", learning_rate=1e12, max_iter=5000).fit(X, y)


@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_overflowing_features_do_not_mention_a_learning_rate(solver):
    X, y, _ = make_logistic(n=300, p=3, seed=117)
    X[:, 0] *= 1e160
    with pytest.raises(ValueError) as info:
        LogisticRegression(None, solver=solver).fit(X, y)
    text = str(info.value)
    assert "learning" not in text and "standardize=True" in text


@pytest.mark.parametrize("content", ["my notes\n", '{"a": 1}\n'])
def test_restart_never_overwrites_a_file_that_is_not_a_checkpoint(tmp_path, content):
    X, y, _ = make_logistic(n=200, p=3, seed=5)
    (tmp_path / "checkpoint.json").write_text(content)
    for restart in (False, True):
        with pytest.raises(CheckpointError, match="not a logloss checkpoint"):
            LogisticRegression().fit(X, y, checkpoint=tmp_path, checkpoint_restart=restart)
    assert (tmp_path / "checkpoint.json").read_text() == content


def test_a_class_weight_that_is_not_a_number_names_the_label():
    X, y, _ = make_logistic(n=200, p=3, seed=6)
    with pytest.raises(ValueError, match=r"got 'x' for label 0"):
        LogisticRegression(class_weight={0: "x"}).fit(X, y)
