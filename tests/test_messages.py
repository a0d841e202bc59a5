"""Error messages that point the right way (one line, naming the file, column and row).

- An inf is not a missing value: ``--missing impute`` cannot impute it, so the message must
  not advise ``--missing impute`` (it did, even when that was the mode in use).
- A label (or a weight) cannot be imputed: a null label suggests ``--missing drop`` only.
- A ``predict --keep`` column that the data lack is found from the footers, before any block
  is scored (exit 2, naming the column and the file), not by a block task mid-scoring.
"""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import logloss
from logloss.cli import EXIT_BAD_INPUT
from logloss.cli import main as cli_main

SEED = 22_015


def main(argv: list[str]) -> int:
    """The command's exit status, as the shell sees it."""
    try:
        return cli_main(argv)
    except SystemExit as exit:
        return int(exit.code or 0)


def _write(path: Path, *, inf_at: int | None = None, null_label_at: int | None = None) -> Path:
    rng = np.random.default_rng(SEED)
    n = 200
    a = rng.normal(size=n)
    if inf_at is not None:
        a[inf_at] = -np.inf
    mask = None if null_label_at is None else np.arange(n) == null_label_at
    y = pa.array(rng.integers(0, 2, n), mask=mask)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": np.arange(n), "a": a, "b": rng.normal(size=n), "y": y}), path)
    return path


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("logloss: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("missing", ["error", "impute"])
def test_an_inf_is_not_advised_to_be_imputed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    data = _write(tmp_path / "inf.parquet", inf_at=37)
    out = tmp_path / "model"
    rc = main(["train", str(data), "--label", "y", "--missing", missing, "--out", str(out)])
    line = _error_line(capsys)
    assert rc == EXIT_BAD_INPUT and not out.exists()
    assert f"got -inf in feature column 'a' at row 37 of file {data}" in line
    assert "inf is not a missing value and cannot be imputed" in line
    assert "--missing drop" in line and "--missing impute" not in line


@pytest.mark.parametrize("missing", ["error", "impute"])
def test_a_null_label_suggests_drop_not_impute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    data = _write(tmp_path / "nully.parquet", null_label_at=123)
    out = tmp_path / "model"
    rc = main(["train", str(data), "--label", "y", "--missing", missing, "--out", str(out)])
    line = _error_line(capsys)
    assert rc == EXIT_BAD_INPUT and not out.exists()
    assert f"got null in label column 'y' at row 123 of file {data}" in line
    assert "labels cannot be imputed; pass --missing drop" in line
    assert "impute" not in line.split("labels cannot be imputed")[1]


def test_the_library_default_hint_says_the_same(tmp_path: Path) -> None:
    data = _write(tmp_path / "inf.parquet", inf_at=5)
    ds = logloss.read_parquet(data, "y", features=["a", "b"])
    with pytest.raises(logloss.DataError) as err:
        dask.compute(ds.X, scheduler="sync")
    assert "(inf is not a missing value and cannot be imputed; pass missing='drop'" in str(err)
    assert "missing='impute'" not in str(err.value)
    # a NaN is missing: both remedies stay
    pq.write_table(pa.table({"a": [1.0, np.nan], "b": [0.0, 1.0], "y": [0, 1]}), data)
    ds = logloss.read_parquet(data, "y")
    with pytest.raises(logloss.DataError, match=r"missing='drop'.*missing='impute'"):
        dask.compute(ds.X, scheduler="sync")


def test_a_wrong_keep_column_is_refused_before_scoring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write(tmp_path / "data.parquet")
    model = tmp_path / "model"
    assert main(["train", str(data), "--label", "y", "--quiet", "--out", str(model)]) == 0
    capsys.readouterr()
    out = tmp_path / "preds"
    rc = main(["predict", str(model), str(data), "--keep", "id", "idx", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == EXIT_BAD_INPUT, err
    assert f"logloss: error: --keep column 'idx' not found in file {data}" in err
    assert "available columns: 'id', 'a', 'b', 'y'" in err
    assert "scoring" not in err  # found from the footers: no block was scored
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.parquet", "model"]
