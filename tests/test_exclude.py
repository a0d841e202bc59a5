"""``exclude`` (``--exclude COL[,COL]``): leave columns out without listing all the others."""

from __future__ import annotations

import json
from pathlib import Path

import dask
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import logloss
from logloss.cli import EXIT_BAD_INPUT
from logloss.cli import main as cli_main
from logloss.storage.files import model_folder

SEED = 22_105


def main(argv: list[str]) -> int:
    try:
        return cli_main(argv)
    except SystemExit as exit:
        return int(exit.code or 0)


def _data(tmp_path: Path) -> Path:
    rng = np.random.default_rng(SEED)
    n = 300
    X = rng.normal(size=(n, 3))
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ np.array([1.0, -1.0, 0.5])))).astype(np.int64)
    table = pa.table(
        {"id": np.arange(n), "a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "ts": np.arange(n), "y": y}
    )
    path = tmp_path / "d" / "part-0.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    return path


def test_excluded_columns_are_left_out_of_the_default_features(tmp_path: Path) -> None:
    path = _data(tmp_path)
    ds = logloss.read_parquet(path, "y", exclude=["id", "ts"])
    assert ds.feature_names == ["a", "b", "c"]
    named = logloss.read_parquet(path, "y", features=["a", "b", "c"])
    np.testing.assert_array_equal(*dask.compute(ds.X, named.X, scheduler="sync"))
    # with features given, exclude leaves those out too
    assert logloss.read_parquet(path, "y", features=["a", "id"], exclude=["id"]).feature_names == [
        "a"
    ]


def test_an_excluded_column_that_does_not_exist_is_named(tmp_path: Path) -> None:
    path = _data(tmp_path)
    with pytest.raises(
        logloss.DataError, match=rf"excluded column 'idx' not found in file {path}; available"
    ):
        logloss.read_parquet(path, "y", exclude=["id", "idx"])
    with pytest.raises(logloss.DataError, match="'y' is the label column: it cannot be excluded"):
        logloss.read_parquet(path, "y", exclude=["y"])
    with pytest.raises(logloss.DataError, match="every feature column is excluded"):
        logloss.read_parquet(path, "y", exclude=["id", "a", "b", "c", "ts"])


def test_the_cli_option_comes_from_the_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _data(tmp_path)
    out = tmp_path / "model"
    rc = main(["train", str(path), "--label", "y", "--exclude", "id,ts", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    meta = json.loads((model_folder(out) / "model.json").read_text())
    assert "id" not in json.dumps(meta.get("features", meta))
    model = logloss.load_model(out)
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    capsys.readouterr()
    bad = tmp_path / "bad"
    rc = main(["train", str(path), "--label", "y", "--exclude", "zz", "--out", str(bad)])
    err = capsys.readouterr().err
    assert rc == EXIT_BAD_INPUT and not bad.exists()
    assert f"logloss: error: excluded column 'zz' not found in file {path}" in err
