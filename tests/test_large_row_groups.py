"""A row group larger than a block is read as several blocks (row ranges of it).

One 1 GB row group on 1.2 GB workers used to be one 1 GB block: the workers were restarted
until Dask gave up (``KilledWorker``). Blocks are now at most the block size whatever the
row groups' size, their lengths still known from the footers.
"""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import logloss
from logloss import LogisticRegression

SEED = 22_007


def _one_row_group(path: Path, n: int, p: int, seed: int, nan_at: int | None = None) -> pa.Table:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    if nan_at is not None:
        X[nan_at, 1] = np.nan
    z = np.nan_to_num(X) @ rng.normal(size=p) + 0.2
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    cols = {f"x{j}": X[:, j] for j in range(p)}
    table = pa.table({**cols, "w": rng.random(n) + 0.5, "y": y})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=n)
    assert pq.ParquetFile(path).num_row_groups == 1
    return table


N, P = 120_000, 4
BLOCK = 2**20  # 1 MiB: 32 768 rows of 4 float64 features, so 4 blocks of the one row group


def test_one_row_group_of_several_blocks_gives_several_blocks_equal_to_pyarrows_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "one.parquet"
    table = _one_row_group(path, N, P, SEED)
    ds = logloss.read_parquet(path, "y", weight="w", block_bytes=BLOCK)

    assert len(ds.blocks) == 4
    assert all(b.row_groups == (0,) for b in ds.blocks)
    assert [b.row_range for b in ds.blocks] == [
        (0, 30_000),
        (30_000, 60_000),
        (60_000, 90_000),
        (90_000, 120_000),
    ]
    # at most the block size, lengths known from the footer without reading any data
    assert ds.X.chunks == ((30_000,) * 4, (P,))
    assert max(ds.X.chunks[0]) * P * 8 <= BLOCK

    X, y, w = dask.compute(ds.X, ds.y, ds.sample_weight, scheduler="sync")
    expected = np.column_stack([table.column(f"x{j}").to_numpy() for j in range(P)])
    np.testing.assert_array_equal(X, expected)
    np.testing.assert_array_equal(y, table.column("y").to_numpy())
    np.testing.assert_array_equal(w, table.column("w").to_numpy())


def test_row_ranges_read_as_in_a_worker_in_small_batches_give_the_same_arrays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logloss.data.blocks as blocks

    path = tmp_path / "one.parquet"
    _one_row_group(path, N, P, SEED)
    expected = dask.compute(logloss.read_parquet(path, "y", weight="w").X, scheduler="sync")[0]
    monkeypatch.setattr(blocks, "_on_worker", lambda: True)
    monkeypatch.setattr(blocks, "READ_BYTES", 4096)  # batches of 1 024 rows
    ds = logloss.read_parquet(path, "y", weight="w", block_bytes=BLOCK)
    assert len(ds.blocks) == 4
    np.testing.assert_array_equal(dask.compute(ds.X, scheduler="sync")[0], expected)


def test_a_bad_value_in_a_row_range_names_its_file_row_and_drop_drops_it(tmp_path: Path) -> None:
    path = tmp_path / "one.parquet"
    table = _one_row_group(path, N, P, SEED + 1, nan_at=71_234)
    ds = logloss.read_parquet(path, "y", weight="w", block_bytes=BLOCK)
    with pytest.raises(logloss.DataError, match=r"'x1' at row 71234 of file .*one\.parquet"):
        dask.compute(ds.X, scheduler="sync")

    ds = logloss.read_parquet(path, "y", weight="w", block_bytes=BLOCK, missing="drop")
    assert ds.n_dropped == 1 and ds.X.chunks[0] == (30_000, 30_000, 29_999, 30_000)
    X, y = dask.compute(ds.X, ds.y, scheduler="sync")
    keep = np.ones(N, bool)
    keep[71_234] = False
    expected = np.column_stack([table.column(f"x{j}").to_numpy() for j in range(P)])[keep]
    np.testing.assert_array_equal(X, expected)
    np.testing.assert_array_equal(y, table.column("y").to_numpy()[keep])


def test_the_fit_on_row_range_blocks_is_the_fit_on_the_whole_row_group(tmp_path: Path) -> None:
    path = tmp_path / "one.parquet"
    _one_row_group(path, N, P, SEED + 2)
    whole = logloss.read_parquet(path, "y", weight="w")
    split = logloss.read_parquet(path, "y", weight="w", block_bytes=BLOCK)
    assert len(whole.blocks) == 1 and len(split.blocks) == 4
    a = LogisticRegression(tol=1e-10).fit(whole.X, whole.y, sample_weight=whole.sample_weight)
    b = LogisticRegression(tol=1e-10).fit(split.X, split.y, sample_weight=split.sample_weight)
    assert a.converged_ and b.converged_
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(b.intercept_, a.intercept_, rtol=1e-10, atol=1e-10)


def test_row_groups_smaller_than_a_block_are_never_split(tmp_path: Path) -> None:
    path = tmp_path / "one.parquet"
    _one_row_group(path, 20_000, P, SEED + 3)  # 640 kB: under the 1 MiB a split may make
    ds = logloss.read_parquet(path, "y", weight="w", block_bytes=1)
    assert [(b.row_groups, b.row_range) for b in ds.blocks] == [((0,), None)]


# ------------------------------------------------------------ a real worker's memory limit
# One 4 000 000-row row group of 10 float64 features (320 MB) on one worker of 900 MB, whose
# process holds ~270 MB once it has imported logloss. As one block, its read took the
# worker past 95% of its limit: the nanny restarted it until Dask gave up (KilledWorker).
BIG_ROWS, BIG_FEATURES, WORKER_MEMORY = 6_000_000, 10, "700MB"


@pytest.mark.slow
@pytest.mark.cluster
def test_one_large_row_group_stays_within_a_real_workers_memory_limit(tmp_path: Path) -> None:
    from cluster_procs import process_cluster

    from logloss.generate import LABEL, generate

    data = tmp_path / "big"
    generate(
        data, rows=BIG_ROWS, features=BIG_FEATURES, files=1, seed=SEED, row_group_size=BIG_ROWS
    )
    (file,) = sorted(data.glob("*.parquet"))
    assert pq.ParquetFile(file).num_row_groups == 1
    expected = None
    with process_cluster(tmp_path / "procs", n_workers=1, memory_limit=WORKER_MEMORY) as (
        cluster,
        client,
    ):
        start = set(client.scheduler_info(n_workers=-1)["workers"])
        ds = logloss.read_parquet(data, LABEL)
        assert len(ds.blocks) > 1 and max(ds.X.chunks[0]) * BIG_FEATURES * 8 <= 700e6 / 4
        sums = client.compute(ds.X.sum(axis=0)).result(timeout=300)
        workers = client.scheduler_info(n_workers=-1)["workers"]
        logs = cluster.logs()
    assert set(workers) == start, "the worker was restarted"
    assert "exceeded 95% memory budget" not in logs
    expected = pq.read_table(file, columns=[f"x{j}" for j in range(BIG_FEATURES)])
    np.testing.assert_allclose(
        sums, [np.sum(expected.column(j).to_numpy()) for j in range(BIG_FEATURES)], rtol=1e-12
    )


def test_categorical_and_imputed_columns_read_from_row_ranges_equal_the_whole_read(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(SEED + 4)
    n = 120_000
    a = rng.normal(size=n)
    a[rng.random(n) < 0.01] = np.nan
    table = pa.table(
        {
            "a": a,
            "b": rng.normal(size=n),
            "c": pa.array(rng.choice(["x", "y", "z"], n)),
            "y": rng.integers(0, 2, n),
        }
    )
    path = tmp_path / "one.parquet"
    pq.write_table(table, path, row_group_size=n)
    whole = logloss.read_parquet(path, "y", missing="impute")
    split = logloss.read_parquet(path, "y", missing="impute", block_bytes=BLOCK)
    assert len(whole.blocks) == 1 and len(split.blocks) > 1
    # the same levels, and the same means to rounding (summed block by block)
    assert split.encoding is not None and whole.encoding is not None
    assert split.feature_names == whole.feature_names
    for s, w in zip(split.encoding.columns, whole.encoding.columns, strict=True):
        assert (s.name, s.kind, s.levels, s.indicator) == (w.name, w.kind, w.levels, w.indicator)
        assert s.mean == pytest.approx(w.mean, rel=1e-12, abs=1e-15)
    got, expected = dask.compute(split.X, whole.X, scheduler="sync")
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
