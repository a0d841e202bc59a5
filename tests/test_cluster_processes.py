"""Training on a real ``dask scheduler`` + two ``dask worker`` processes, without Docker.

The processes run the compose file's commands (host-network variant, see
tests/cluster_procs.py) on 127.0.0.1. The CLI (as a subprocess) and the Prefect flow train
through ``--scheduler`` / ``scheduler_address`` and must match the same fit computed in this
process by the threaded scheduler.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from cluster_procs import assert_loopback_only, process_cluster, subprocess_env

from logloss import load_model
from logloss.generate import LABEL, generate
from logloss.loading import load_dataset
from logloss.settings import TrainSettings
from logloss.training.fit import train_model

pytestmark = pytest.mark.cluster

SEED = 20240611


@pytest.fixture(scope="module")
def dask_procs(tmp_path_factory):
    """A scheduler and two workers (1 thread, 1 GiB each) as OS processes, for the module."""
    with process_cluster(
        tmp_path_factory.mktemp("dask-procs"),
        n_workers=2,
        memory_limit="1GiB",
        client_kwargs={"set_as_default": False},  # the references run on the threaded scheduler
    ) as (cluster, client):
        yield cluster, client


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """30 000 rows, 6 features, over 3 files of 2 500-row row groups (12 blocks)."""
    out = tmp_path_factory.mktemp("data") / "synthetic"
    generate(out, rows=30_000, features=6, files=3, seed=SEED, row_group_size=2_500)
    return out


def _local_fit(path, settings: TrainSettings):
    """The reference: the same fit in this process on the threaded scheduler (no client)."""
    from distributed import default_client

    with pytest.raises(ValueError):
        default_client()  # no distributed client may be current here
    ds = load_dataset(str(path), LABEL)
    return train_model(ds, settings)


def _close(a, b, rtol=1e-9):
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=rtol, atol=0)
    np.testing.assert_allclose(a.intercept_, b.intercept_, rtol=rtol, atol=0)


def test_processes_listen_on_loopback_only(dask_procs):
    cluster, client = dask_procs
    info = client.scheduler_info(n_workers=-1)
    assert len(info["workers"]) == 2
    assert all(addr.startswith("tcp://127.0.0.1:") for addr in info["workers"])
    assert_loopback_only(cluster)


@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_cli_trains_on_the_process_cluster_like_the_local_fit(
    dask_procs, dataset, tmp_path, solver
):
    cluster, _ = dask_procs
    out = tmp_path / "model"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "logloss.cli",
            "train",
            str(dataset),
            "--label",
            LABEL,
            "--solver",
            solver,
            "--tol",
            "1e-8",
            "--out",
            str(out),
            "--scheduler",
            cluster.address,
            "--json",
        ],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "workers" in json.loads(proc.stdout)["ran_on"]  # the summary names the cluster used
    model = load_model(out)
    reference = _local_fit(dataset, TrainSettings(solver=solver, tol=1e-8))
    assert model.converged_ and reference.converged_
    _close(model, reference)


@pytest.mark.prefect
def test_flow_trains_on_the_process_cluster_like_the_local_fit(
    prefect_api, dask_procs, dataset, tmp_path
):
    from flows.train import train

    cluster, _ = dask_procs
    version = train(
        data=str(dataset),
        label=LABEL,
        solver="lbfgs",
        tol=1e-8,
        standardize=True,
        validation=None,
        scheduler_address=cluster.address,
        model_dir=str(tmp_path / "models"),
        name="procs",
    )
    model = load_model(version)
    reference = _local_fit(dataset, TrainSettings(solver="lbfgs", tol=1e-8, standardize=True))
    _close(model, reference)
    assert model.training_["metrics"]["log_loss"] > 0


@pytest.fixture(scope="module")
def clicks(tmp_path_factory):
    """20 000 Criteo-shaped rows (13 counts with nulls, 26 string columns) in 4 files."""
    from logloss.generate_ctr import generate_ctr

    out = tmp_path_factory.mktemp("clicks") / "ctr"
    generate_ctr(out, rows=20_000, files=4, seed=SEED)
    return out


def _search(data, cluster, out, hash_bits: int) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "logloss.cli", "train", str(data), "--label", "label"]
    args += ["--missing", "impute", "--hash-bits", str(hash_bits), "--cv", "3"]
    args += ["--Cs", "0.01,0.1,1", "--tol", "1e-4", "--quiet", "--out", str(out)]
    args += ["--scheduler", cluster.address]
    return subprocess.run(args, capture_output=True, text=True, env=subprocess_env(), timeout=300)


def test_a_search_over_a_workers_memory_is_refused_in_one_line_and_one_within_runs(
    dask_procs, clicks, tmp_path
):
    """9 models of 2^20 buckets take about 0.5 GB on a worker in a pass (coefficients and
    sums), more than a 1 GiB worker has below 60 %, while this process could hold them:
    refused before a pass, naming the worker, with exit 2 and nothing written (it had been
    a KilledWorker). The same search over 2^14 buckets runs on the same workers."""
    from logloss.cv import worker_search_bytes

    cluster, client = dask_procs
    out = tmp_path / "wide"
    proc = _search(clicks, cluster, out, 20)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr + proc.stdout
    assert len(err) == 1, err
    line = err[0]
    assert line.startswith("logloss: error: cross-validation of 9 models (3 folds x 3 C)")
    assert "GiB on worker tcp://127.0.0.1:" in line and "below 60 % of its memory limit" in line
    assert "--hash-bits (now 20)" in line and "workers with a larger --memory-limit" in line
    assert not out.exists()
    limit = min(w["memory_limit"] for w in client.scheduler_info()["workers"].values())
    assert worker_search_bytes(9, 2**20, 1) > 0.6 * limit - 300 * 2**20  # the figure checked
    out = tmp_path / "narrow"
    proc = _search(clicks, cluster, out, 14)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert load_model(out).coef_.shape[-1] >= 2**14


def test_the_worker_search_estimate_is_what_a_worker_allocates_for_the_models(
    dask_procs, clicks, tmp_path
):
    """worker_search_bytes, the figure the refusal above compares with a worker's headroom
    (what is left after what it holds, its blocks included), against what each worker
    process allocates during two searches (tracemalloc's peak: every NumPy buffer and
    message), over 2^15 and 2^18 buckets on workers that ran a search before (a worker's
    first search also allocates its imports, ~65 MiB): the peaks differ by the estimates'
    difference within 15 %, and beyond the estimate a peak holds less than a fifth of it at
    2^18 (the blocks and reads, which the check finds in the worker's memory)."""
    import tracemalloc

    from logloss.cv import worker_search_bytes

    cluster, client = dask_procs
    warm = _search(clicks, cluster, tmp_path / "warm", 12)  # the workers' first imports
    assert warm.returncode == 0, warm.stderr + warm.stdout
    peak, estimate = {}, {}
    for bits in (15, 18):
        client.run(tracemalloc.start)
        try:
            proc = _search(clicks, cluster, tmp_path / str(bits), bits)
        finally:  # (functions of the tracemalloc module: the workers cannot import this file)
            traced = client.run(tracemalloc.get_traced_memory)
            client.run(tracemalloc.stop)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        peak[bits] = max(p for _, p in traced.values())
        estimate[bits] = worker_search_bytes(9, load_model(tmp_path / str(bits)).coef_.shape[-1], 1)
    grown, expected = peak[18] - peak[15], estimate[18] - estimate[15]
    assert abs(grown - expected) <= 0.15 * expected, (grown / 2**20, expected / 2**20)
    assert estimate[18] <= peak[18] <= 1.2 * estimate[18], (peak[18] / 2**20, estimate[18] / 2**20)
