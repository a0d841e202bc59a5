"""Losing a worker mid-fit, and data larger than the workers' memory.

A worker process is SIGKILLed between two passes of a fit on persisted Parquet data; Dask
recomputes the blocks it held from the Parquet files and the fit ends at the same
coefficients as an undisturbed one. Two ways to lose a worker, as in the compose stack:

- ``nanny``: the worker process dies under its nanny (the compose worker's command runs a
  nanny; e.g. the OOM killer hits the worker process). The nanny starts a replacement.
- ``no-nanny``: the whole worker goes away (a container killed with ``docker kill``); the
  surviving worker does all the work.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import psutil
import pytest
from cluster_procs import process_cluster

import logloss
from logloss import LogisticRegression
from logloss.generate import LABEL, generate

pytestmark = pytest.mark.cluster

SEED = 7_310_522


@pytest.fixture(scope="module")
def parquet_data(tmp_path_factory):
    """120 000 rows, 8 features, 4 files of 10 000-row row groups (12 blocks)."""
    out = tmp_path_factory.mktemp("data") / "synthetic"
    generate(out, rows=120_000, features=8, files=4, seed=SEED, row_group_size=10_000)
    return out


def _fit(path, callback=None):
    ds = logloss.read_parquet(str(path), LABEL).persist()
    model = LogisticRegression(solver="lbfgs", tol=1e-9, max_iter=200)
    model.fit(ds.X, ds.y, callback=callback)
    return model, ds


def _holders(client, ds) -> dict[str, set[str]]:
    from distributed import futures_of

    return {k: set(v) for k, v in client.who_has(futures_of(ds.X)).items()}


@pytest.mark.parametrize("nanny", [True, False], ids=["nanny", "no-nanny"])
def test_a_worker_killed_mid_fit_is_recovered_from_parquet(parquet_data, tmp_path, nanny):
    with process_cluster(tmp_path / "procs", n_workers=2, nanny=nanny) as (cluster, client):
        reference, _ = _fit(parquet_data)
        assert reference.converged_

        killed: dict[str, object] = {}

        def kill_at_iteration_3(state):
            if state.n_iter != 3 or killed:
                return
            pids = cluster.worker_pids(client)
            spawned = {p.popen.pid for p in cluster.procs}
            victim, pid = sorted(pids.items())[0]
            proc = psutil.Process(pid)
            # With a nanny the worker runs in the nanny's child; without, it is the process
            # started by the test.
            assert (proc.parent().pid in spawned) if nanny else (pid in spawned)
            killed.update(
                address=victim,
                pid=pid,
                keys={k for k, h in _holders(client, ds_box[0]).items() if victim in h},
            )
            os.kill(pid, signal.SIGKILL)  # the next pass starts while it is dying

        ds_box = [logloss.read_parquet(str(parquet_data), LABEL).persist()]
        model = LogisticRegression(solver="lbfgs", tol=1e-9, max_iter=200)
        model.fit(ds_box[0].X, ds_box[0].y, callback=kill_at_iteration_3)

        assert killed, "the fit ended before iteration 3"
        assert killed["keys"], "the killed worker held none of the persisted blocks"
        assert not psutil.pid_exists(killed["pid"]) or (
            psutil.Process(killed["pid"]).status() == psutil.STATUS_ZOMBIE
        )
        workers = client.scheduler_info(n_workers=-1)["workers"]
        assert killed["address"] not in workers
        # Every block the dead worker held is in memory again: Dask recomputed it from the
        # Parquet files (nothing was replicated).
        holders = _holders(client, ds_box[0])
        assert all(holders[k] and killed["address"] not in holders[k] for k in killed["keys"])
        if nanny:  # the nanny starts a replacement worker process
            cluster.wait_for_workers(client, 2, timeout=60)
        else:
            assert len(workers) == 1

        np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-10, atol=0)
        np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-10, atol=0)
        assert model.n_iter_[0] == reference.n_iter_[0]


# ------------------------------------------------------------ small worker memory
# A worker process that has imported logloss (pyarrow, scipy, scikit-learn) holds ~270 MB
# before it sees any data, and keeps ~400-470 MB after reading a few 20 MB blocks (memory
# pools, allocator). With 2 x 500 MB both workers pause at Dask's 80% mark and the fit never
# finishes, so the limits here are 2 x 700 MB (1.4 GB) for a 1.6 GB dataset.
WORKER_MEMORY = "700MB"
ROWS, FEATURES = 4_000_000, 50  # 1.6 GB of float64 features
BLOCK_BYTES = 16 * 2**20  # one 50 000-row row group (20 MB) per block


@pytest.mark.slow
def test_data_larger_than_the_cluster_memory_reaches_the_same_optimum(tmp_path):
    data = tmp_path / "big"
    generate(data, rows=ROWS, features=FEATURES, files=16, seed=SEED + 1, row_group_size=50_000)
    ds = logloss.read_parquet(str(data), LABEL, block_bytes=BLOCK_BYTES)
    assert ds.X.nbytes > 2 * 700e6

    # Reference: the same library in this process (threaded scheduler, data held in RAM).
    reference = LogisticRegression(tol=1e-8, max_iter=200).fit(ds.X, ds.y)
    assert reference.converged_

    with process_cluster(tmp_path / "procs", n_workers=2, memory_limit=WORKER_MEMORY) as (
        cluster,
        client,
    ):
        start = set(client.scheduler_info(n_workers=-1)["workers"])
        ds = logloss.read_parquet(str(data), LABEL, block_bytes=BLOCK_BYTES)
        model = LogisticRegression(tol=1e-8, max_iter=200).fit(ds.X, ds.y)
        workers = client.scheduler_info(n_workers=-1)["workers"]
        logs = cluster.logs()

    # What Dask did: no worker was restarted for exceeding its memory; spilling, if any.
    assert set(workers) == start, "a worker was lost or restarted during the fit"
    assert "exceeded 95% memory budget" not in logs
    for address, w in sorted(workers.items()):
        m = w["metrics"]
        print(
            f"{address}: memory limit {w['memory_limit'] / 1e6:.0f} MB, process "
            f"{m['memory'] / 1e6:.0f} MB, managed {m['managed_bytes'] / 1e6:.1f} MB, "
            f"spilled to disk {m['spilled_bytes']['disk'] / 1e6:.1f} MB"
        )
    print(f"{model.n_passes_} passes over {ds.X.nbytes / 1e9:.2f} GB in {len(ds.blocks)} blocks")
    assert model.converged_
    assert model.data_storage_["blocks_on_disk"] > 0  # read once, then from the workers' disks
    # The same optimum as the in-memory fit, to the fits' tolerance (the solver paths may
    # differ: the blocks are summed in other groups).
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-6, atol=1e-7)
    assert model.history_[-1]["loss"] == pytest.approx(reference.history_[-1]["loss"], abs=1e-13)


@pytest.mark.slow
def test_data_persisted_close_to_the_memory_limits_spills_instead_of_killing_workers(tmp_path):
    data = tmp_path / "medium"
    # 600 MB of features on 2 x 700 MB: 'auto' persists (600 MB <= half of 1.4 GB).
    generate(data, rows=1_500_000, features=50, files=6, seed=SEED + 2, row_group_size=50_000)
    ds = logloss.read_parquet(str(data), LABEL, block_bytes=BLOCK_BYTES)
    reference = LogisticRegression(tol=1e-8, max_iter=200).fit(ds.X, ds.y)

    import threading

    with process_cluster(tmp_path / "procs", n_workers=2, memory_limit=WORKER_MEMORY) as (
        cluster,
        client,
    ):
        start = set(client.scheduler_info(n_workers=-1)["workers"])
        result: dict[str, object] = {}

        def fit() -> None:
            try:
                ds = logloss.read_parquet(str(data), LABEL, block_bytes=BLOCK_BYTES)
                result["model"] = LogisticRegression(tol=1e-8, max_iter=200).fit(ds.X, ds.y)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                result["error"] = exc

        thread = threading.Thread(target=fit, daemon=True)
        thread.start()
        thread.join(timeout=240)  # paused workers would otherwise hang the fit for ever
        logs = cluster.logs()
        if thread.is_alive():
            client.close()
            raise TimeoutError("the fit did not finish in 240 s (workers paused?)")
        workers = set(client.scheduler_info(n_workers=-1)["workers"])
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    assert workers == start and "exceeded 95% memory budget" not in logs
    model = result["model"]
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-6, atol=1e-7)  # type: ignore[attr-defined]


# ------------------------------------------------------------ disk blocks
def test_a_worker_killed_mid_fit_rebuilds_its_disk_blocks_from_parquet(parquet_data, tmp_path):
    """Every block on the workers' disks (memory budget 0): a worker SIGKILLed at iteration 3
    takes its block files with it; Dask rebuilds those blocks from Parquet on the workers
    left and the fit ends at the undisturbed fit's coefficients."""
    import dask

    with (
        process_cluster(tmp_path / "procs", n_workers=2) as (cluster, client),
        dask.config.set({"logloss.memory-budget": 0}),
    ):
        reference, ds = _fit(parquet_data)
        n_blocks = len(ds.blocks)
        assert reference.converged_ and n_blocks >= 2
        assert reference.data_storage_["blocks_on_disk"] == n_blocks

        killed: dict[str, object] = {}

        def kill_at_iteration_3(state):
            if state.n_iter != 3 or killed:
                return
            victim, pid = sorted(cluster.worker_pids(client).items())[0]
            held = client.who_has()
            killed.update(
                pid=pid,
                keys={
                    k
                    for k, h in held.items()
                    if str(k).startswith("logloss-block-") and victim in h
                },
            )
            os.kill(pid, signal.SIGKILL)

        model, _ = _fit(parquet_data, callback=kill_at_iteration_3)
        assert killed, "the fit ended before iteration 3"
        assert killed["keys"], "the killed worker held none of the disk blocks"
        assert model.data_storage_["blocks_on_disk"] == n_blocks
        left = client.run(
            lambda dask_worker=None: (
                os.listdir(dask_worker.local_directory + "/logloss-blocks")
                if os.path.isdir(dask_worker.local_directory + "/logloss-blocks")
                else []
            )
        )
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-10, atol=0)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-10, atol=0)
    assert model.n_iter_[0] == reference.n_iter_[0]
    assert not any(left.values()), left  # the fits' block files are gone
