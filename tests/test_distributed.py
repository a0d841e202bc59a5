"""The engine on a real LocalCluster with two worker processes, and resuming from checkpoints."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from conftest import make_logistic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logloss import LogisticRegression
from logloss.blockdata import BlockData
from logloss.loss import block_sums

TIGHT = dict(tol=1e-10, max_iter=1000)


@pytest.mark.cluster
@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_fit_on_a_two_process_local_cluster_matches_the_in_memory_fit(client, solver):
    X, y, _ = make_logistic(n=20000, p=6, seed=41)
    sw = np.random.default_rng(41).uniform(0.5, 2, size=len(y))
    local = LogisticRegression(C=0.5, solver=solver, **TIGHT).fit(X, y, sample_weight=sw)
    Xd = da.from_array(X, chunks=(2500, 6))
    yd = da.from_array(y, chunks=2500)
    swd = da.from_array(sw, chunks=2500)
    remote = LogisticRegression(C=0.5, solver=solver, **TIGHT).fit(Xd, yd, sample_weight=swd)
    # Sums are added in another order on the cluster, so the two solver paths part at the
    # rounding floor; both stop at max|grad| <= 1e-10, where coefficients agree to ~1e-8.
    np.testing.assert_allclose(remote.coef_, local.coef_, rtol=1e-7)
    np.testing.assert_allclose(remote.intercept_, local.intercept_, rtol=1e-7)
    assert remote.history_[-1]["loss"] == pytest.approx(local.history_[-1]["loss"], abs=1e-13)
    # the blocks really were spread over both worker processes
    assert len(client.scheduler_info()["workers"]) == 2


@pytest.mark.cluster
def test_one_pass_is_one_task_per_block_plus_the_reduction(client):
    X, y, _ = make_logistic(n=8000, p=3, seed=42)
    data = BlockData(
        da.from_array(X, chunks=(1000, 3)), da.from_array(y.astype(float), chunks=1000)
    )
    w = np.array([0.1, -0.2, 0.3, 0.05])
    before = len(
        client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.transition_log))
    )
    got = data.sums(w)
    np.testing.assert_allclose(got, block_sums(X, y.astype(float), w), rtol=1e-12)
    log = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.transition_log))
    keys = {str(entry[0]) for entry in log[before:]}
    sums_tasks = {k for k in keys if "logloss-sums" in k and "reduce" not in k}
    assert data.n_blocks == 8
    assert len(sums_tasks) <= data.n_blocks + 2  # 8 block tasks + a reduction of 8


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 400), min_size=1, max_size=10), st.integers(0, 2**31))
def test_chunking_does_not_change_the_sums(sizes, seed):
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    X = rng.normal(size=(n, 3))
    y = rng.integers(0, 2, size=n).astype(float)
    w = rng.normal(size=4)
    data = BlockData(
        da.from_array(X, chunks=(tuple(sizes), 3)), da.from_array(y, chunks=(tuple(sizes),))
    )
    np.testing.assert_allclose(
        data.sums(w, True), block_sums(X, y, w, hessian=True), rtol=1e-10, atol=1e-10
    )


def test_checkpoint_resume_reaches_the_same_optimum_in_fewer_iterations(tmp_path):
    X, y, _ = make_logistic(n=3000, p=8, seed=43)
    full = LogisticRegression(C=0.2, **TIGHT).fit(X, y)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        LogisticRegression(C=0.2, tol=1e-10, max_iter=6, checkpoint_every=3).fit(
            X, y, checkpoint=tmp_path
        )
    resumed = LogisticRegression(C=0.2, **TIGHT).fit(X, y, checkpoint=tmp_path)
    assert resumed.history_[0]["iteration"] == 1 and len(resumed.history_) == resumed.n_iter_[0]
    np.testing.assert_allclose(resumed.coef_, full.coef_, rtol=1e-7)
    assert resumed.history_[-1]["loss"] == pytest.approx(full.history_[-1]["loss"], abs=1e-12)
    # fewer new passes than the full fit needed
    assert resumed.n_passes_ < full.n_passes_


def test_a_checkpoint_of_another_problem_is_refused(tmp_path):
    from logloss.checkpoint import CheckpointError

    X, y, _ = make_logistic(n=500, seed=44)
    LogisticRegression(C=1.0, max_iter=50).fit(X, y, checkpoint=tmp_path)
    with pytest.raises(CheckpointError, match="differs in: params"):
        LogisticRegression(C=2.0).fit(X, y, checkpoint=tmp_path)


@pytest.mark.cluster
@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
@pytest.mark.parametrize("standardize", [False, True])
def test_warm_start_on_a_row_sample_reaches_the_same_optimum(client, solver, standardize):
    from logloss import estimator

    X, y, _ = make_logistic(n=estimator._WARM_MIN_ROWS, p=5, seed=45, scale=2.0)
    X[:, 2] += 10.0
    sw = np.random.default_rng(45).uniform(0.5, 2.0, size=len(y))
    Xd = da.from_array(X, chunks=(50_000, 5))
    yd = da.from_array(y, chunks=50_000)
    swd = da.from_array(sw, chunks=50_000)
    kw = dict(C=0.05, solver=solver, standardize=standardize, **TIGHT)
    warm = LogisticRegression(**kw).fit(Xd, yd, sample_weight=swd)
    assert warm.n_sample_passes_ > 0  # the warm start ran
    cold = LogisticRegression(**kw).fit(X, y, sample_weight=sw)  # in memory: no warm start
    assert cold.n_sample_passes_ == 0
    np.testing.assert_allclose(warm.coef_, cold.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(warm.intercept_, cold.intercept_, rtol=1e-6, atol=1e-9)
    assert warm.converged_
    if solver == "newton":  # gradient-only passes with the sample's Hessian
        assert warm.n_passes_ < cold.n_passes_ + 2
