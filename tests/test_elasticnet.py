"""L1 and elastic net (l1_ratio > 0) against scikit-learn's saga, on data that ships with it."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression as SkLR
from sklearn.preprocessing import StandardScaler

from logloss.cli import main
from logloss.estimator import LogisticRegression, load_model


def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), (y == 0).astype(int)


def objective(X, y, coef, intercept, C, r):
    """scikit-learn's: C Σ loss + r‖w‖₁ + ½(1 − r)‖w‖²."""
    z = X @ coef + intercept
    return (
        C * np.sum(np.logaddexp(0, z) - y * z)
        + r * np.abs(coef).sum()
        + 0.5 * (1 - r) * coef @ coef
    )


def saga(X, y, C, r):
    kw = {"l1_ratio": r}
    if tuple(int(v) for v in sklearn.__version__.split(".")[:2]) < (1, 8):
        kw["penalty"] = "elasticnet"  # before 1.8, l1_ratio needed it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SkLR(C=C, solver="saga", tol=1e-10, max_iter=100_000, **kw).fit(X, y)


@pytest.mark.parametrize("data", [breast_cancer, wine], ids=["breast_cancer", "wine"])
@pytest.mark.parametrize("r", [0.5, 1.0])
@pytest.mark.parametrize("C", [0.05, 0.5])
def test_objective_and_zeros_equal_saga(data, r, C):
    X, y = data()
    ref = saga(X, y, C, r)
    ours = LogisticRegression(C=C, l1_ratio=r, tol=1e-10, max_iter=300).fit(X, y)
    assert ours.converged_ and ours.solver_ == "newton"
    f_ref = objective(X, y, ref.coef_[0], ref.intercept_[0], C, r)
    f_ours = objective(X, y, ours.coef_[0], ours.intercept_[0], C, r)
    assert abs(f_ours - f_ref) <= 1e-8 * abs(f_ref)
    zeros = np.flatnonzero(ours.coef_[0] == 0.0)
    assert zeros.size  # exact zeros where the optimum has them
    np.testing.assert_array_equal(zeros, np.flatnonzero(ref.coef_[0] == 0.0))


@pytest.mark.parametrize("solver", ["newton", "gd"])
def test_dask_blocks_give_the_in_memory_fit(solver):
    X, y = breast_cancer()
    kw = {"C": 0.5, "l1_ratio": 0.7, "tol": 1e-9, "solver": solver}
    if solver == "gd":  # the same 150 proximal steps, whatever the blocks
        kw.update(learning_rate=1.0, line_search=True, max_iter=150, tol=1e-14)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gd stops at max_iter: a ConvergenceWarning
        ref = LogisticRegression(**kw).fit(X, y)
        for blocks in (1, 7, 32):
            rows = -(-len(X) // blocks)
            m = LogisticRegression(**kw).fit(
                da.from_array(X, chunks=(rows, -1)), da.from_array(y, chunks=rows)
            )
            np.testing.assert_allclose(m.coef_, ref.coef_, rtol=0, atol=1e-10)
            np.testing.assert_array_equal(m.coef_ == 0, ref.coef_ == 0)
    assert (ref.coef_ == 0).any()


def test_l1_path_history_reports_the_total_objective_and_a_subgradient_norm():
    X, y = breast_cancer()
    m = LogisticRegression(C=0.5, l1_ratio=1.0, tol=1e-10).fit(X, y)
    last = m.history_[-1]
    n = len(y)
    total = objective(X, y, m.coef_[0], m.intercept_[0], 0.5, 1.0) / (0.5 * n)
    assert last["loss"] == pytest.approx(total, rel=1e-12)
    assert last["grad_norm"] <= 1e-10


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"l1_ratio": 1.5}, "l1_ratio"),
        ({"l1_ratio": -0.1}, "l1_ratio"),
        ({"l1_ratio": 0.5, "C": np.inf}, "l1_ratio=0.5 needs a finite C"),
    ],
)
def test_bad_l1_settings_are_clear_errors(kw, message):
    X, y = breast_cancer()
    with pytest.raises(ValueError, match=message):
        LogisticRegression(**kw).fit(X, y)


def test_cli_l1_ratio_saves_a_sparse_model(tmp_path, capsys):
    out = tmp_path / "m"
    code = main(
        [
            "train",
            "data/breast_cancer.parquet",
            "--label",
            "target",
            "--standardize",
            "--l1-ratio",
            "1",
            "--C",
            "0.1",
            "--tol",
            "1e-8",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    model = load_model(out)
    assert model.l1_ratio == 1.0 and (model.coef_ == 0).sum() >= 10
