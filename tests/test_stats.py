"""Coefficient statistics against statsmodels (no penalty) and the penalised-Hessian formula."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from logloss.cli import main
from logloss.estimator import LogisticRegression

sm = pytest.importorskip("statsmodels.api")


def data(p: int = 6):
    X, y = load_breast_cancer(return_X_y=True)
    return X[:, :p], y


def statsmodels_fit(X, y):
    return sm.Logit(y, sm.add_constant(X)).fit(disp=0, tol=1e-12, maxiter=500)


def last_first(a):
    """statsmodels puts the constant first; logloss puts the intercept last."""
    a = np.asarray(a)
    return np.r_[a[1:], a[0]]


@pytest.mark.parametrize("blocks", [None, 7])
def test_unpenalised_statistics_equal_statsmodels(blocks):
    X, y = data()
    model = LogisticRegression(C=np.inf, tol=1e-10, max_iter=200).fit(X, y)
    Xin, yin = X, y
    if blocks:
        rows = -(-len(X) // blocks)
        Xin, yin = da.from_array(X, chunks=(rows, -1)), da.from_array(y, chunks=rows)
    table = model.summary(Xin, yin)
    info = model.summary_info_
    ref = statsmodels_fit(X, y)
    assert list(table.index) == [f"x{j}" for j in range(X.shape[1])] + ["intercept"]
    np.testing.assert_allclose(table["coef"], last_first(ref.params), rtol=1e-6)
    np.testing.assert_allclose(table["std_err"], last_first(ref.bse), rtol=1e-6)
    np.testing.assert_allclose(table["z"], last_first(ref.tvalues), rtol=1e-6)
    np.testing.assert_allclose(table["p_value"], last_first(ref.pvalues), rtol=1e-6)
    ci = np.asarray(ref.conf_int(alpha=0.05))
    np.testing.assert_allclose(table["ci_low"], last_first(ci[:, 0]), rtol=1e-6)
    np.testing.assert_allclose(table["ci_high"], last_first(ci[:, 1]), rtol=1e-6)
    for ours, theirs in (
        ("log_likelihood", ref.llf),
        ("null_log_likelihood", ref.llnull),
        ("aic", ref.aic),
        ("bic", ref.bic),
        ("mcfadden_r2", ref.prsquared),
    ):
        assert info[ours] == pytest.approx(theirs, rel=1e-6), ours
    assert info["n"] == len(y) and not info["approximate"]


def test_integer_weights_equal_repeated_rows():
    X, y = data(4)
    w = np.random.default_rng(0).integers(1, 4, size=len(y))
    model = LogisticRegression(C=np.inf, tol=1e-10, max_iter=200).fit(X, y, sample_weight=w)
    table = model.summary(X, y, sample_weight=w)
    ref = statsmodels_fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(table["std_err"], last_first(ref.bse), rtol=1e-6)
    assert model.summary_info_["n"] == w.sum()
    assert model.summary_info_["log_likelihood"] == pytest.approx(ref.llf, rel=1e-9)


@pytest.mark.parametrize("standardize", [False, True])
def test_penalised_statistics_come_from_the_penalised_hessian(standardize):
    X, y = data(5)
    C = 0.3
    model = LogisticRegression(C=C, standardize=standardize, tol=1e-10).fit(X, y)
    table = model.summary(X, y)
    assert model.summary_info_["approximate"]
    # the reference: I = X̃ᵀ diag(p(1-p)) X̃ plus the penalty's curvature, inverted
    Xt = np.column_stack([X, np.ones(len(X))])
    p = 1 / (1 + np.exp(-(Xt @ np.r_[model.coef_[0], model.intercept_])))
    info = Xt.T @ (Xt * (p * (1 - p))[:, None])
    curvature = X.std(axis=0) ** 2 if standardize else np.ones(X.shape[1])
    info[np.arange(5), np.arange(5)] += curvature / C
    se = np.sqrt(np.diag(np.linalg.inv(info)))
    np.testing.assert_allclose(table["std_err"], se, rtol=1e-8)


def test_l1_lists_only_the_nonzero_coefficients():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = LogisticRegression(C=0.1, l1_ratio=1.0, tol=1e-10).fit(X, y)
    table = model.summary(X, y)
    nonzero = np.flatnonzero(model.coef_[0])
    assert 0 < len(nonzero) < X.shape[1]
    assert list(table.index) == [f"x{j}" for j in nonzero] + ["intercept"]
    assert model.summary_info_["n_params"] == len(nonzero) + 1


def test_cli_summary_json_is_the_library_table(tmp_path, capsys):
    out = tmp_path / "m"
    cols = "mean radius,mean texture,mean smoothness"
    args = ["train", "data/breast_cancer.parquet", "--label", "target", "--features", cols]
    assert main([*args, "--C", "inf", "--tol", "1e-10", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["summary", str(out), "data/breast_cancer.parquet", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    import pandas as pd

    frame = pd.read_parquet("data/breast_cancer.parquet")
    X, y = frame[cols.split(",")].to_numpy(), frame["target"].to_numpy()
    ref = statsmodels_fit(X, y)
    assert [c["feature"] for c in doc["coefficients"]] == [*cols.split(","), "intercept"]
    np.testing.assert_allclose(
        [c["std_err"] for c in doc["coefficients"]], last_first(ref.bse), rtol=1e-6
    )
    assert doc["aic"] == pytest.approx(ref.aic, rel=1e-6)
