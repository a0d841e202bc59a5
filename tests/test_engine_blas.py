"""Worker BLAS threads are sized on the worker, from its own cores and its host's threads."""

from __future__ import annotations

import os

import dask.array as da
import pytest
from conftest import make_logistic

from logloss import LogisticRegression, blockdata

pytestmark = pytest.mark.cluster


def _blas_state(dask_worker):
    from threadpoolctl import threadpool_info

    blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    return getattr(dask_worker, "_logloss_blas_threads", None), blas


def test_each_worker_caps_blas_at_its_share_of_the_host(client):
    X, y, _ = make_logistic(n=20_000, p=5, seed=3)
    Xd, yd = da.from_array(X, chunks=5_000), da.from_array(y, chunks=5_000)
    LogisticRegression(solver="lbfgs").fit(Xd, yd)
    info = client.scheduler_info()["workers"]
    host_threads = sum(int(w["nthreads"]) for w in info.values())  # one host: loopback
    cores = len(os.sched_getaffinity(0))
    expected = max(1, cores // host_threads)
    for remembered, blas in client.run(_blas_state).values():
        assert remembered == expected
        assert all(n == expected for n in blas)


def test_the_engine_keeps_no_module_level_blas_state():
    assert not hasattr(blockdata, "_blas_threads")
