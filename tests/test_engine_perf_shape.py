"""The engine's fast paths: one task per worker per pass, cache-sized slices, streaming.

They must give the per-block results up to float rounding; no timing is asserted here
(see benchmarks/).
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

from logloss.blockdata import BlockData
from logloss.loss import block_sums


def _data(n=6000, p=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)).astype(dtype)
    y = (rng.random(n) < 0.4).astype(np.float64)
    s = rng.uniform(0.5, 2.0, size=n)
    w = rng.normal(size=p + 1) * 0.3
    return X, y, s, w


def _sums_log(client):
    log = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.transition_log))
    return {str(entry[0]) for entry in log}


@pytest.mark.parametrize("rows", [1, 7, 1000, 4096, 100_000])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_slicing_a_block_does_not_change_its_sums(rows, dtype):
    X, y, s, w = _data(n=5000, dtype=dtype)
    whole = block_sums(X.astype(np.float64), y, w, s, hessian=True, rows_per_slice=len(X))
    got = block_sums(X, y, w, s, hessian=True, rows_per_slice=rows)
    np.testing.assert_allclose(got, whole, rtol=1e-11, atol=1e-9)


def test_float32_blocks_accumulate_in_float64_without_changing_the_input():
    X, y, _, w = _data(n=3000, dtype=np.float32)
    before = X.copy()
    got = block_sums(X, y, w, rows_per_slice=512)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(X, before)
    np.testing.assert_allclose(got, block_sums(X.astype(np.float64), y, w), rtol=1e-12)


@pytest.mark.cluster
def test_a_pass_is_one_task_per_worker_thread(client):
    X, y, s, w = _data(n=16000, seed=1)
    data = BlockData(
        da.from_array(X, chunks=(1000, 4)),
        da.from_array(y, chunks=1000),
        da.from_array(s, chunks=1000),
    )
    assert data.per_worker and data.n_blocks == 16
    before = _sums_log(client)
    got = data.sums(w, True)
    new = {k for k in _sums_log(client) - before if "logloss-sums" in k}
    threads = sum(w["nthreads"] for w in client.scheduler_info()["workers"].values())
    assert 1 <= len(new) <= threads  # not one per block
    np.testing.assert_allclose(got, block_sums(X, y, w, s, hessian=True), rtol=1e-11)


@pytest.mark.cluster
def test_the_per_worker_pass_equals_the_per_block_pass(client):
    X, y, s, w = _data(n=9000, p=6, seed=2, dtype=np.float32)
    Xd = da.from_array(X, chunks=(700, 6))
    yd = da.from_array(y, chunks=700)
    sd = da.from_array(s, chunks=700)
    fast = BlockData(Xd, yd, sd)
    slow = BlockData(Xd, yd, sd, storage="stream")  # one task per block, tree sum
    assert fast.per_worker and not slow.per_worker
    for hessian in (False, True):
        np.testing.assert_allclose(fast.sums(w, hessian), slow.sums(w, hessian), rtol=1e-11)


@pytest.mark.cluster
def test_streaming_recomputes_blocks_each_pass_with_the_same_sums(client):
    X, y, _, w = _data(n=5000, seed=3)
    Xd = da.from_array(X, chunks=(1000, 4))
    yd = da.from_array(y, chunks=1000)
    streamed = BlockData(Xd, yd, storage="stream")
    assert streamed.storage == "stream" and not streamed.per_worker
    np.testing.assert_allclose(streamed.sums(w), block_sums(X, y, w), rtol=1e-12)


def test_storage_must_be_known():
    X, y, _, _ = _data(n=10)
    with pytest.raises(ValueError, match="storage must be .*; got 'tape'"):
        BlockData(da.from_array(X), da.from_array(y), storage="tape")


def _make_block(i, n, p):
    rng = np.random.default_rng(i)
    return rng.normal(size=(n, p))


@pytest.mark.cluster
def test_blocks_lost_with_a_worker_are_recomputed_from_their_graph(client):
    n, p, k = 2000, 3, 6
    blocks = [
        da.from_delayed(dask.delayed(_make_block)(i, n, p), shape=(n, p), dtype=float)
        for i in range(k)
    ]
    X = da.concatenate(blocks)
    y = (X[:, 0] > 0).astype(float)
    data = BlockData(X, y)
    w = np.array([0.3, -0.2, 0.1, 0.05])
    first = data.sums(w)
    victim = sorted(client.scheduler_info()["workers"])[0]
    client.restart_workers([victim])
    again = data.sums(w)
    np.testing.assert_allclose(again, first, rtol=1e-12)
