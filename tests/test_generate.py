"""Tests for logloss.generate: streamed synthetic data whose true weights a fit recovers."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from logloss.data import read_parquet
from logloss.generate import COEF_NORM, generate, true_coefficients


def parts(out: Path) -> list[Path]:
    return sorted(out.glob("part-*.parquet"))


def read_all(out: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in parts(out)], ignore_index=True)


def test_writes_requested_rows_files_and_row_groups(tmp_path: Path) -> None:
    seen: list[int] = []
    out = generate(tmp_path / "d", 10_001, 4, 3, seed=1, row_group_size=1_000, progress=seen.append)
    assert out == tmp_path / "d"
    files = parts(out)
    assert [f.name for f in files] == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    rows = [pq.ParquetFile(f).metadata.num_rows for f in files]
    assert rows == [3333, 3334, 3334]
    groups = [pq.ParquetFile(f).metadata.num_row_groups for f in files]
    assert groups == [4, 4, 4]
    assert seen == sorted(seen) and seen[-1] == 10_001 and len(seen) == 12
    schema = pq.read_schema(files[0])
    assert schema.names == ["x0", "x1", "x2", "x3", "y"]
    assert str(schema.field("x0").type) == "double" and str(schema.field("y").type) == "int8"
    meta = json.loads((out / "true_weights.json").read_text())
    coef, intercept = true_coefficients(4, seed=1)
    assert meta["coef"] == coef.tolist() and meta["intercept"] == intercept
    assert (meta["seed"], meta["rows"], meta["features"]) == (1, 10_001, 4)
    assert np.isclose(np.linalg.norm(meta["coef"]), COEF_NORM)
    df = read_all(out)
    assert set(np.unique(df["y"])) == {0, 1} and not df.isna().any().any()
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no temporary directory left behind


def test_rows_do_not_depend_on_the_split(tmp_path: Path) -> None:
    a = read_all(generate(tmp_path / "a", 40_000, 3, 1, seed=7, row_group_size=40_000))
    b = read_all(generate(tmp_path / "b", 40_000, 3, 7, seed=7, row_group_size=3_001))
    c = read_all(generate(tmp_path / "c", 40_000, 3, 2, seed=8))
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["x0"], c["x0"])


def test_float32_and_given_intercept(tmp_path: Path) -> None:
    out = generate(tmp_path / "f", 5_000, 2, 2, seed=2, dtype="float32", intercept=-1.5)
    assert str(pq.read_schema(parts(out)[0]).field("x1").type) == "float"
    meta = json.loads((out / "true_weights.json").read_text())
    assert meta["intercept"] == -1.5 and meta["dtype"] == "float32"
    assert read_all(out)["y"].mean() < 0.4  # the intercept shifts the classes


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "d"
    out.mkdir()
    generate(out, 100, 2, 1)  # an empty directory is fine
    before = (out / "part-00000.parquet").read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        generate(out, 100, 2, 1, seed=5)
    assert (out / "part-00000.parquet").read_bytes() == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError):
        generate(tmp_path / "file", 100, 2, 1)


def test_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    def boom(rows: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "d", 1000, 2, 2, row_group_size=100, progress=boom)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rows": 0, "features": 2, "files": 1},
        {"rows": 10, "features": 0, "files": 1},
        {"rows": 3, "features": 2, "files": 4},
        {"rows": 10, "features": 2, "files": 1, "dtype": "int8"},
        {"rows": 10, "features": 2, "files": 1, "row_group_size": 0},
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path / "d", **kwargs)


def test_streaming_memory_stays_near_one_row_group(tmp_path: Path) -> None:
    rows, p, group = 400_000, 10, 20_000
    tracemalloc.start()
    try:
        generate(tmp_path / "d", rows, p, 2, row_group_size=group)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    group_bytes = group * p * 8
    assert peak < 5 * group_bytes  # one row group, one generation chunk and change
    assert peak < rows * p * 8 / 5  # all of X would be 32 MB


def test_fit_recovers_true_weights(tmp_path: Path) -> None:
    rows, p = 200_000, 5
    out = generate(tmp_path / "d", rows, p, 4, seed=11, row_group_size=30_000)
    meta = json.loads((out / "true_weights.json").read_text())
    ds = read_parquet(out, "y")
    assert ds.feature_names == [f"x{j}" for j in range(p)] and ds.n_rows == rows
    X, y = dask.compute(ds.X, ds.y)
    fit = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(X, y)  # no penalty
    est = np.r_[fit.intercept_, fit.coef_.ravel()]
    true = np.r_[meta["intercept"], meta["coef"]]
    # standard errors from the Fisher information at the estimate
    A = np.c_[np.ones(rows), X]
    prob = expit(A @ est)
    se = np.sqrt(np.diag(np.linalg.inv(A.T @ (A * (prob * (1 - prob))[:, None]))))
    z = np.abs(est - true) / se
    assert z.max() < 4, (est, true, se)
    assert np.abs(est - true).max() < 0.05  # se is about 0.01 here: cannot pass by accident
    assert 0.6 < (fit.predict(X) == y).mean() < 0.95  # neither trivial nor hopeless
