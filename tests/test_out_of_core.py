"""Data larger than the workers' memory: memory-safe reads and disk blocks.

Real ``dask worker --memory-limit`` processes on loopback (:mod:`cluster_procs`). The data
are files of one row group each, larger than a block would be: a block is then one whole
row group, and the worker's limit is 4x that block. The fit reads each block once, keeps
what fits in memory and writes the rest to the workers' local disks, and must reach the
optimum of the same fit in this process; the files are gone afterwards.
"""

from __future__ import annotations

import errno
import glob
import os
from pathlib import Path

import dask
import numpy as np
import pytest
from cluster_procs import process_cluster

import logloss
from logloss import LogisticRegression, diskblocks
from logloss.generate import LABEL, generate

pytestmark = pytest.mark.cluster

SEED = 4_417_001
ROWS, FEATURES, FILES = 1_600_000, 20, 2  # 256 MB of float64 X in 2 row groups of 128 MB
BLOCK = ROWS // FILES * FEATURES * 8
WORKER_MEMORY = 4 * BLOCK  # 512 MB: the data (and the read of a block) exceed the budget


def _block_files(client) -> dict[str, list[str]]:
    def listing(dask_worker=None):  # type: ignore[no-untyped-def]
        root = os.path.join(dask_worker.local_directory, diskblocks.SUBDIR)
        return sorted(glob.glob(os.path.join(root, "*", "*")))

    return client.run(listing)


def test_data_beyond_the_workers_memory_go_to_disk_once_and_reach_the_in_memory_optimum(
    tmp_path: Path,
) -> None:
    data = tmp_path / "big"
    generate(data, rows=ROWS, features=FEATURES, files=FILES, seed=SEED, row_group_size=ROWS)
    ds = logloss.read_parquet(str(data), LABEL)
    assert len(ds.blocks) == FILES
    reference = LogisticRegression(tol=1e-8).fit(ds.X, ds.y)  # in this process, in memory
    assert reference.converged_

    with process_cluster(tmp_path / "procs", n_workers=2, memory_limit=str(WORKER_MEMORY)) as (
        cluster,
        client,
    ):
        start = set(client.scheduler_info(n_workers=-1)["workers"])

        # a fit that died earlier left its directory behind: removed before new blocks
        def make_stale(dask_worker=None):  # type: ignore[no-untyped-def]
            directory = os.path.join(dask_worker.local_directory, "logloss-blocks", "dead0000")
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, "0.X.npy"), "wb") as f:
                f.write(b"half")
            return directory

        stale = client.run(make_stale)
        ds = logloss.read_parquet(str(data), LABEL)
        assert [b.n_rows for b in ds.blocks] == [ROWS // FILES] * FILES  # row groups > limit/4
        ds = ds.persist()  # does not fit: left unpersisted, the fit reads each block once
        model = LogisticRegression(tol=1e-8).fit(ds.X, ds.y)
        files_after = _block_files(client)
        workers = client.scheduler_info(n_workers=-1)["workers"]
        logs = cluster.logs()

    assert set(workers) == start, "a worker was lost or restarted"
    assert "exceeded 95% memory budget" not in logs
    info = model.data_storage_
    assert info["storage"] == "disk" and info["blocks_on_disk"] >= 1
    assert info["blocks_in_memory"] + info["blocks_on_disk"] == FILES
    assert info["pass_gb_per_s"] > 0
    assert model.converged_
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-9, atol=1e-12)
    assert model.history_[-1]["loss"] == pytest.approx(reference.history_[-1]["loss"], abs=1e-9)
    assert all(not files for files in files_after.values()), files_after
    for path in stale.values():
        assert not os.path.exists(path)


def test_all_blocks_on_disk_when_the_budget_is_zero_and_a_fit_that_fails_removes_them(
    client, tmp_path: Path
) -> None:
    from logloss.blockdata import BlockData

    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(20_000, 5))
    y = (rng.random(20_000) < 0.5).astype(float)
    import dask.array as da

    Xd, yd = da.from_array(X, chunks=(3_000, 5)), da.from_array(y, chunks=3_000)
    ref = BlockData(Xd, yd, storage="persist")
    w = rng.normal(size=6)
    with dask.config.set({"logloss.memory-budget": 0}):
        data = BlockData(Xd, yd)
    info = data.storage_info()
    assert data.storage == "disk" and info["blocks_on_disk"] == data.n_blocks == 7
    np.testing.assert_allclose(data.sums(w), ref.sums(w), rtol=1e-12)
    np.testing.assert_allclose(data.sums(w, True), ref.sums(w, True), rtol=1e-12)
    assert sum(map(len, _block_files(client).values())) == 2 * 7  # X and y per block
    sample = data.sample(4)
    assert sample is not None and np.array_equal(
        sample[0], np.concatenate([X[i : i + 3_000][::4] for i in range(0, 20_000, 3_000)])
    )
    del data  # the fit's blocks released (ended, failed or cancelled): files removed
    assert not any(_block_files(client).values())


# ------------------------------------------------------------------ the files themselves


def test_a_block_file_is_written_whole_or_not_at_all(tmp_path: Path, monkeypatch) -> None:
    X = np.arange(12.0).reshape(4, 3)
    y = np.array([0.0, 1.0, 1.0, 0.0])
    block = diskblocks.write_block(str(tmp_path), "tok", 0, X, y, None, X.nbytes)
    assert np.array_equal(block.X, X) and np.array_equal(block.y, y) and block.s is None
    assert block.X.ctypes.data % 64 == 0  # aligned for BLAS

    def full(f, array, allow_pickle=False):  # type: ignore[no-untyped-def]
        f.write(b"\x93NUMPY partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "save", full)
    with pytest.raises(diskblocks.DiskSpaceError, match=r"disk filled up .* blocks to .*tok"):
        diskblocks.write_block(str(tmp_path), "tok", 1, X, y, None, 10 * X.nbytes)
    names = os.listdir(tmp_path / diskblocks.SUBDIR / "tok")
    assert sorted(names) == ["0.X.npy", "0.y.npy"]  # no half-written block, no temporary


def test_a_full_disk_is_refused_before_writing_with_the_space_needed(
    tmp_path: Path, monkeypatch
) -> None:
    import shutil

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        diskblocks.shutil, "disk_usage", lambda path: usage._replace(free=10 * 2**20)
    )
    X = np.zeros((1000, 4))
    with pytest.raises(diskblocks.DiskSpaceError) as err:
        diskblocks.write_block(str(tmp_path), "tok", 0, X, np.zeros(1000), None, 3 * 2**30)
    msg = str(err.value)
    assert str(tmp_path) in msg and "10 MiB free" in msg and "3,072 MiB" in msg
    assert not list((tmp_path / diskblocks.SUBDIR / "tok").iterdir())


# ------------------------------------------------------------ reads in a worker's memory


@pytest.fixture
def worker_reads(monkeypatch):
    """Blocks read as in a worker, with row groups too large for the read budget: a few
    columns at a time."""
    import logloss.data.blocks as blocks

    monkeypatch.setattr(blocks, "_on_worker", lambda: True)
    monkeypatch.setattr(blocks, "READ_BYTES", 1024)


def _dataset(tmp_path: Path, rng: np.random.Generator, nan_at: int | None = None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 5_000
    cols = {f"x{j}": rng.normal(size=n) for j in range(9)}
    if nan_at is not None:
        cols["x6"][nan_at] = np.nan
    cols["w"] = rng.random(n)
    cols["y"] = rng.integers(0, 2, n)
    part = tmp_path / "d" / "g=3"
    part.mkdir(parents=True)
    pq.write_table(pa.table(cols), part / "a.parquet", row_group_size=2_000)
    return tmp_path / "d"


def test_a_worker_reads_large_row_groups_a_few_columns_at_a_time_to_the_same_arrays(
    tmp_path: Path, monkeypatch
) -> None:
    import logloss.data.blocks as blocks

    rng = np.random.default_rng(SEED)
    path = _dataset(tmp_path, rng, nan_at=2_345)
    features = ["x0", "g", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8"]

    def read():  # type: ignore[no-untyped-def]
        ds = logloss.read_parquet(path, "y", features=features, weight="w", drop_invalid=True)
        return dask.compute(ds.X, ds.y, ds.sample_weight, scheduler="sync")

    expected = read()
    groups: list[list[str]] = []
    real = blocks._column_groups
    monkeypatch.setattr(blocks, "_on_worker", lambda: True)
    monkeypatch.setattr(blocks, "READ_BYTES", 1024)
    monkeypatch.setattr(blocks, "_column_groups", lambda *a: groups.extend(real(*a)) or real(*a))
    got = read()
    assert groups and all(len(g) < len(features) for g in groups)  # a few columns at a time
    assert len(got[0]) == 4_999 and np.all(got[0][:, 1] == 3.0)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_bad_value_read_in_column_groups_names_its_file_row(tmp_path: Path, worker_reads) -> None:
    rng = np.random.default_rng(SEED + 1)
    path = _dataset(tmp_path, rng, nan_at=4_321)
    ds = logloss.read_parquet(path, "y", weight="w")
    with pytest.raises(logloss.DataError, match=r"'x6' at row 4321 of file .*a\.parquet"):
        dask.compute(ds.X, scheduler="sync")
