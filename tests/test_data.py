"""Tests for logloss.data: Parquet -> Dask arrays with known chunks, and its error messages."""

from __future__ import annotations

import pickle
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logloss.data import BlockSpec, DataError, Dataset, read_block_columns, read_parquet

# --------------------------------------------------------------------------------------------
# helpers


def random_table(rng: np.random.Generator, n: int, p: int = 3, **extra: object) -> pa.Table:
    cols: dict[str, object] = {f"x{j}": rng.normal(size=n) for j in range(p)}
    cols["y"] = rng.integers(0, 2, size=n)
    cols.update(extra)
    return pa.table(cols)


def write(path: Path, table: pa.Table, row_group_size: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def write_parts(
    root: Path, rng: np.random.Generator, sizes: list[int], row_group_size: int = 50, p: int = 3
) -> list[Path]:
    return [
        write(root / f"part-{i}.parquet", random_table(rng, n, p), row_group_size)
        for i, n in enumerate(sizes)
    ]


def no_compute(*args: object, **kwargs: object) -> None:
    raise AssertionError("something was computed")


def compute_error(ds: Dataset) -> DataError:
    with pytest.raises(DataError) as info:
        dask.compute(ds.X, ds.y, *([ds.sample_weight] if ds.sample_weight is not None else []))
    return info.value


# --------------------------------------------------------------------------------------------
# known chunks, values, layouts


def test_many_files_known_chunks_without_reading(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    sizes = [120, 75, 1, 300, 50, 0, 220]
    files = write_parts(tmp_path, rng, sizes, row_group_size=40)
    with dask.config.set(scheduler=no_compute):
        ds = read_parquet(tmp_path, "y")
        assert not any(np.isnan(c) for c in ds.X.chunks[0])
        assert ds.X.chunks[1] == (3,)
        assert ds.y.chunks[0] == ds.X.chunks[0]
        assert sum(ds.X.chunks[0]) == sum(sizes) == ds.n_rows == ds.X.shape[0]
        assert [b.n_rows for b in ds.blocks] == list(ds.X.chunks[0])
        per_file: dict[str, int] = {}
        for b in ds.blocks:
            per_file[b.path] = per_file.get(b.path, 0) + b.n_rows
        assert per_file == {str(f): n for f, n in zip(files, sizes, strict=True) if n}
    expected = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    X, y = dask.compute(ds.X, ds.y)
    np.testing.assert_array_equal(X, expected[["x0", "x1", "x2"]].to_numpy())
    np.testing.assert_array_equal(y, expected["y"].to_numpy())
    assert X.flags.c_contiguous and X.dtype == np.float64
    assert ds.feature_names == ["x0", "x1", "x2"] and ds.sample_weight is None


def test_values_equal_pandas_and_blocks_are_c_contiguous(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = write(tmp_path / "one.parquet", random_table(rng, 1000, 5), row_group_size=128)
    ds = read_parquet(str(path), "y", features=["x4", "x0"])
    df = pd.read_parquet(path)
    blocks = [b for b in dask.compute(*ds.X.to_delayed().ravel())]
    assert all(b.flags.c_contiguous for b in blocks)
    np.testing.assert_array_equal(np.vstack(blocks), df[["x4", "x0"]].to_numpy())
    assert ds.check_labels() == [0, 1]


def test_block_grouping_of_small_row_groups(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    path = write(tmp_path / "a.parquet", random_table(rng, 1000, 2), row_group_size=100)
    ds = read_parquet(path, "y", block_bytes=100 * 2 * 8 * 3)  # three row groups per block
    assert [b.row_groups for b in ds.blocks] == [(0, 1, 2), (3, 4, 5), (6, 7, 8), (9,)]
    assert ds.X.chunks[0] == (300, 300, 300, 100)
    assert [b.row_offset for b in ds.blocks] == [0, 300, 600, 900]
    one = read_parquet(path, "y", block_bytes=1)  # never fewer than one row group per block
    assert one.X.chunks[0] == (100,) * 10
    whole = read_parquet(path, "y")
    assert whole.X.chunks[0] == (1000,)
    np.testing.assert_array_equal(ds.X.compute(), one.X.compute())


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sizes=st.lists(st.integers(0, 60), min_size=1, max_size=4),
    row_group_size=st.integers(1, 25),
    groups_per_block=st.integers(1, 5),
)
def test_chunking_does_not_change_values(
    tmp_path_factory: pytest.TempPathFactory,
    sizes: list[int],
    row_group_size: int,
    groups_per_block: int,
) -> None:
    if sum(sizes) == 0:
        sizes = [*sizes, 1]
    rng = np.random.default_rng(3)
    root = tmp_path_factory.mktemp("chunks")
    files = write_parts(root, rng, sizes, row_group_size=row_group_size, p=2)
    ds = read_parquet(root, "y", block_bytes=row_group_size * 2 * 8 * groups_per_block)
    expected = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    np.testing.assert_array_equal(ds.X.compute(), expected[["x0", "x1"]].to_numpy())
    assert sum(ds.X.chunks[0]) == len(expected)


def test_hive_partitioned_directory(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frames = []
    for region in (1, 2):
        for cls in (0, 1):
            n = 30 + 10 * region + cls
            t = pa.table({"x0": rng.normal(size=n), "x1": rng.normal(size=n)})
            write(tmp_path / f"region={region}" / f"cls={cls}" / "part-0.parquet", t, 16)
            frames.append(t.to_pandas().assign(region=region, cls=cls))
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".hidden.parquet").write_text("not parquet")
    expected = pd.concat(frames, ignore_index=True)
    ds = read_parquet(tmp_path, "cls")
    assert ds.feature_names == ["x0", "x1"]  # partition keys only when named
    np.testing.assert_array_equal(ds.X.compute(), expected[["x0", "x1"]].to_numpy())
    np.testing.assert_array_equal(ds.y.compute(), expected["cls"].to_numpy())
    assert ds.y.dtype == np.int64 and ds.check_labels() == [0, 1]
    ds2 = read_parquet(tmp_path, "cls", features=["x1", "region"])
    np.testing.assert_array_equal(ds2.X.compute(), expected[["x1", "region"]].to_numpy())


def test_hive_non_numeric_partition_is_ignored_unless_named(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    for city in ("paris", "oslo"):
        write(tmp_path / f"city={city}" / "p.parquet", random_table(rng, 20))
    ds = read_parquet(tmp_path, "y")
    assert ds.feature_names == ["x0", "x1", "x2"] and ds.n_rows == 40
    with pytest.raises(DataError, match="partition column 'city' must be numeric"):
        read_parquet(tmp_path, "y", features=["x0", "city"])


def test_glob_and_list_of_paths(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    files = write_parts(tmp_path / "d", rng, [40, 50, 60])
    (tmp_path / "d" / "notes.txt").write_text("ignored")
    by_glob = read_parquet(str(tmp_path / "d" / "*.parquet"), "y")
    by_list = read_parquet([files[0], str(files[2])], "y")
    assert by_glob.n_rows == 150 and by_list.n_rows == 100
    expected = pd.concat([pd.read_parquet(files[0]), pd.read_parquet(files[2])])
    np.testing.assert_array_equal(by_list.X.compute(), expected[["x0", "x1", "x2"]].to_numpy())
    with pytest.raises(DataError, match="no files match"):
        read_parquet(str(tmp_path / "d" / "*.nothing"), "y")


def test_fsspec_url(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    path = write(tmp_path / "a.parquet", random_table(rng, 64))
    ds = read_parquet(f"file://{path}", "y")
    np.testing.assert_array_equal(ds.X.compute(), pd.read_parquet(path)[["x0", "x1", "x2"]])
    import fsspec

    mem = fsspec.filesystem("memory")
    with mem.open("/logloss-test/part.parquet", "wb") as f:
        pq.write_table(random_table(rng, 50), f, row_group_size=20)
    try:
        ds = read_parquet("memory://logloss-test", "y")
        assert ds.blocks[0].path == "memory:///logloss-test/part.parquet"
        assert ds.X.chunks[0] == (50,) and ds.X.compute().shape == (50, 3)
        assert read_block_columns(ds.blocks[0], ["y"]).num_rows == 50
    finally:
        mem.rm("/logloss-test", recursive=True)


def test_float32_and_bool_int_features(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    n = 100
    t = pa.table(
        {
            "f": rng.normal(size=n),
            "i": rng.integers(-5, 5, size=n).astype(np.int32),
            "b": rng.random(n) > 0.5,
            "u": rng.integers(0, 9, size=n).astype(np.uint8),
            "s": ["a"] * n,
            "y": rng.random(n) > 0.5,
        }
    )
    path = write(tmp_path / "t.parquet", t)
    # bool as numeric 0/1 (--numeric); the string column left out by naming the features
    ds = read_parquet(path, "y", features=["f", "i", "b", "u"], numeric=["b"], dtype="float32")
    assert ds.feature_names == ["f", "i", "b", "u"]
    # by default both are categorical: the string's one level, bool's False and True
    auto = read_parquet(path, "y", dtype="float32")
    assert auto.feature_names == ["f", "i", "u", "b=False", "b=True", "s=a"]  # numeric first
    X = ds.X.compute()
    assert X.dtype == np.float32 and ds.X.dtype == np.float32
    df = t.to_pandas()
    np.testing.assert_array_equal(X, df[["f", "i", "b", "u"]].to_numpy().astype(np.float32))
    assert ds.y.dtype == bool and ds.check_labels() == [False, True]
    with pytest.raises(ValueError, match="dtype must be one of"):
        read_parquet(path, "y", dtype="int64")


def test_float32_overflow_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "big.parquet", pa.table({"x": [1.0, 1e300], "y": [0, 1]}))
    err = compute_error(read_parquet(path, "y", dtype="float32"))
    assert "float32" in str(err) and "1e+300" in str(err) and "row 1" in str(err)


def test_string_labels_and_weights(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    n = 80
    labels = rng.choice(["spam", "ham"], size=n)
    t = pa.table({"x": rng.normal(size=n), "w": rng.integers(1, 4, size=n), "label": labels})
    path = write(tmp_path / "s.parquet", t, 30)
    ds = read_parquet(path, "label", weight="w")
    assert ds.feature_names == ["x"] and ds.y.dtype == object
    assert ds.check_labels() == ["ham", "spam"]
    assert ds.sample_weight is not None and ds.sample_weight.dtype == np.float64
    X, y, w = dask.compute(ds.X, ds.y, ds.sample_weight)
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_array_equal(w, t.column("w").to_numpy())
    persisted = ds.persist()
    np.testing.assert_array_equal(persisted.X.compute(), X)


def test_negative_weight_is_an_error(tmp_path: Path) -> None:
    t = pa.table({"x": [0.0, 1.0, 2.0], "w": [1.0, -0.5, 1.0], "y": [0, 1, 0]})
    path = write(tmp_path / "w.parquet", t)
    msg = str(compute_error(read_parquet(path, "y", weight="w")))
    assert "non-negative" in msg and "'w'" in msg and "-0.5" in msg and str(path) in msg


def test_graph_is_deterministic_and_tracks_file_changes(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    path = write(tmp_path / "a.parquet", random_table(rng, 50))
    a, b = read_parquet(path, "y"), read_parquet(path, "y")
    assert a.X.name == b.X.name and a.y.name == b.y.name
    assert read_parquet(path, "y", dtype="float32").X.name != a.X.name
    write(path, random_table(rng, 60))
    assert read_parquet(path, "y").X.name != a.X.name


def test_x_and_w_share_one_read_per_block_and_y_reads_its_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logloss.data.blocks as data

    rng = np.random.default_rng(11)
    write_parts(tmp_path, rng, [30, 40], row_group_size=100, p=2)
    calls: list[str] = []
    real = data._parts

    def spy(fs, spec, plan, budget):  # type: ignore[no-untyped-def]
        calls.append(",".join(plan.file_columns))
        return real(fs, spec, plan, budget)

    monkeypatch.setattr(data, "_parts", spy)
    ds = read_parquet(tmp_path, "y")
    dask.compute(ds.X, ds.y)
    assert sorted(calls) == ["x0,x1,y", "x0,x1,y", "y", "y"]
    calls.clear()
    dask.compute(ds.y)  # the labels alone decode no feature
    assert calls == ["y", "y"]


def test_errors_surface_through_distributed_and_pickle(tmp_path: Path) -> None:
    err = DataError("labels must be two distinct values; got 1: [1] in column 'y'")
    assert str(pickle.loads(pickle.dumps(err))) == str(err)
    spec = BlockSpec("a.parquet", (0, 1), 10, keep=np.packbits(np.ones(10, bool)).tobytes())
    assert pickle.loads(pickle.dumps(spec)) == spec
    distributed = pytest.importorskip("distributed")
    x = np.array([0.0, np.nan, 1.0])
    path = write(tmp_path / "nan.parquet", pa.table({"x": x, "y": [0, 1, 0]}))
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1) as client:
        ds = read_parquet(path, "y")
        with pytest.raises(DataError, match="'x' at row 1 of file"):
            client.compute(ds.X).result()


# --------------------------------------------------------------------------------------------
# validation errors


def test_missing_label_column(tmp_path: Path) -> None:
    rng = np.random.default_rng(20)
    path = write(tmp_path / "a.parquet", random_table(rng, 10))
    with pytest.raises(DataError) as info:
        read_parquet(path, "target")
    msg = str(info.value)
    assert "'target'" in msg and str(path) in msg and "'x0', 'x1', 'x2', 'y'" in msg


def test_missing_feature_column_in_a_later_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(21)
    write(tmp_path / "a.parquet", random_table(rng, 10))
    b = write(tmp_path / "b.parquet", random_table(rng, 10, p=2))
    with pytest.raises(DataError) as info:
        read_parquet(tmp_path, "y", features=["x0", "x2"])
    msg = str(info.value)
    assert "'x2' not found" in msg and str(b) in msg and "available columns" in msg
    with pytest.raises(DataError, match="'nope' not found"):
        read_parquet(tmp_path, "y", features=["nope"])


def test_feature_of_an_unsupported_type(tmp_path: Path) -> None:
    """A string feature is categorical; a binary (or date, nested) one is refused."""
    rng = np.random.default_rng(22)
    path = write(tmp_path / "a.parquet", random_table(rng, 10, name=[b"n"] * 10))
    with pytest.raises(DataError) as info:
        read_parquet(path, "y", features=["x0", "name"])
    msg = str(info.value)
    assert "'name'" in msg and "binary" in msg and str(path) in msg and "numeric" in msg
    assert "categorical" in msg
    # left out of automatic features (with the others named for the caller to report)
    ds = read_parquet(path, "y")
    assert "name" not in ds.input_columns and ds.ignored == (("name", "binary"),)


def test_three_label_values_names_the_file_where_the_surplus_appears(tmp_path: Path) -> None:
    rng = np.random.default_rng(23)
    for i in range(4):
        y = rng.integers(0, 2, size=20)
        if i == 3:
            y[7] = 2
        write(tmp_path / f"part-{i}.parquet", random_table(rng, 20, y=y))
    ds = read_parquet(tmp_path, "y")
    with pytest.raises(DataError) as info:
        ds.check_labels()
    msg = str(info.value)
    assert msg.startswith("labels must be two distinct values; got 3: [0, 1, 2] in column 'y'")
    assert f"value 2 first seen in file {tmp_path / 'part-3.parquet'}, row 7" in msg


def test_one_label_value(tmp_path: Path) -> None:
    rng = np.random.default_rng(24)
    write_parts(tmp_path, rng, [10, 10])
    for f in tmp_path.iterdir():
        write(f, random_table(rng, 10, y=np.ones(10, dtype=np.int64)))
    with pytest.raises(DataError) as info:
        read_parquet(tmp_path, "y").check_labels()
    assert str(info.value) == "labels must be two distinct values; got 1: [1] in column 'y'"


def test_many_label_values_are_truncated(tmp_path: Path) -> None:
    rng = np.random.default_rng(25)
    path = write(tmp_path / "a.parquet", random_table(rng, 50, y=np.arange(50)))
    with pytest.raises(DataError, match=r"got 50: \[0, 1, .*, 9, \.\.\.\]"):
        read_parquet(path, "y").check_labels()


@pytest.mark.parametrize(
    ("bad", "shown"), [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf"), (None, "null")]
)
def test_invalid_feature_value(tmp_path: Path, bad: float | None, shown: str) -> None:
    rng = np.random.default_rng(26)
    x1 = rng.normal(size=30).tolist()
    x1[17] = bad
    write(tmp_path / "part-0.parquet", random_table(rng, 40), row_group_size=16)
    path = write(
        tmp_path / "part-1.parquet",
        pa.table({"x0": rng.normal(size=30), "x1": pa.array(x1, pa.float64()), "y": [0] * 30}),
        row_group_size=8,
    )
    ds = read_parquet(tmp_path, "y", features=["x0", "x1"])
    msg = str(compute_error(ds))
    assert f"got {shown} in feature column 'x1' at row 17 of file {path}" in msg
    assert msg.startswith("feature values must be finite and non-null")
    assert "missing='drop'" in msg
    # a null or NaN is missing and may be imputed; an inf is not, and cannot
    assert ("missing='impute'" in msg) == (shown in ("nan", "null"))


def test_null_label(tmp_path: Path) -> None:
    path = write(tmp_path / "a.parquet", pa.table({"x": [1.0, 2.0, 3.0], "y": [0, None, 1]}))
    msg = str(compute_error(read_parquet(path, "y")))
    assert "labels must be finite and non-null" in msg
    assert f"got null in label column 'y' at row 1 of file {path}" in msg


def test_nan_label(tmp_path: Path) -> None:
    path = write(tmp_path / "a.parquet", pa.table({"x": [1.0, 2.0, 3.0], "y": [0.0, 1.0, np.nan]}))
    msg = str(compute_error(read_parquet(path, "y")))
    assert f"got nan in label column 'y' at row 2 of file {path}" in msg


def test_schemas_disagree(tmp_path: Path) -> None:
    rng = np.random.default_rng(27)
    a = write(tmp_path / "a.parquet", random_table(rng, 10))
    b = write(tmp_path / "b.parquet", random_table(rng, 10, x1=rng.integers(0, 3, size=10)))
    with pytest.raises(DataError) as info:
        read_parquet(tmp_path, "y")
    msg = str(info.value)
    assert "'x1'" in msg and str(a) in msg and str(b) in msg
    assert "double" in msg and "int64" in msg
    # an unused column may differ
    assert read_parquet(tmp_path, "y", features=["x0", "x2"]).n_rows == 20


def test_corrupt_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(28)
    write(tmp_path / "a.parquet", random_table(rng, 10))
    bad = tmp_path / "b.parquet"
    bad.write_bytes(rng.bytes(500))
    with pytest.raises(DataError) as info:
        read_parquet(tmp_path, "y")
    assert str(bad) in str(info.value) and "Parquet" in str(info.value)


def test_truncated_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(29)
    path = write(tmp_path / "a.parquet", random_table(rng, 100))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=f"cannot read file {path} as Parquet"):
        read_parquet(path, "y")


def test_corrupt_data_pages_raise_data_error_when_read(tmp_path: Path) -> None:
    rng = np.random.default_rng(30)
    t = random_table(rng, 2000)
    path = tmp_path / "a.parquet"
    pq.write_table(t, path, compression="snappy")
    data = bytearray(path.read_bytes())
    data[4:5000] = rng.bytes(4996)  # footer intact, page headers garbage
    path.write_bytes(bytes(data))
    ds = read_parquet(path, "y")
    with pytest.raises(DataError, match=str(path)):
        ds.X.compute()


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.parquet"
    with pytest.raises(DataError, match=f"path does not exist: {missing}"):
        read_parquet(missing, "y")


def test_directory_without_parquet_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.csv").write_text("x,y\n1,0\n")
    with pytest.raises(DataError, match=f"directory {tmp_path} holds no Parquet files"):
        read_parquet(tmp_path, "y")


def test_empty_dataset(tmp_path: Path) -> None:
    rng = np.random.default_rng(31)
    path = write(tmp_path / "e.parquet", random_table(rng, 0))
    with pytest.raises(DataError, match="has no rows"):
        read_parquet(path, "y")


def test_bad_arguments(tmp_path: Path) -> None:
    rng = np.random.default_rng(32)
    path = write(tmp_path / "a.parquet", random_table(rng, 10, w=np.ones(10)))
    with pytest.raises(DataError, match="both a feature and the label"):
        read_parquet(path, "y", features=["x0", "y"])
    with pytest.raises(DataError, match="distinct"):
        read_parquet(path, "y", features=["x0", "x0"])
    with pytest.raises(DataError, match="weight column must differ"):
        read_parquet(path, "y", weight="y")
    with pytest.raises(DataError, match="no feature columns"):
        read_parquet(write(tmp_path / "b.parquet", pa.table({"y": [0, 1]})), "y")


# --------------------------------------------------------------------------------------------
# drop_invalid and read_block_columns


def invalid_dataset(tmp_path: Path) -> tuple[list[Path], pd.DataFrame]:
    """Two files with some null / NaN / inf values in used columns and an id column."""
    rng = np.random.default_rng(40)
    frames = []
    paths = []
    for i, n in enumerate((90, 70)):
        x0 = rng.normal(size=n)
        x1 = rng.normal(size=n)
        y = rng.integers(0, 2, size=n).astype(float)
        bad = rng.choice(n, size=12, replace=False)
        x0[bad[:4]] = np.nan
        x1[bad[4:8]] = np.inf
        y[bad[8:10]] = np.nan
        x1_list: list[float | None] = x1.tolist()
        x1_list[int(bad[10])] = None
        junk = rng.normal(size=n)
        junk[bad[11]] = np.nan  # unused column: must not cause a drop
        ids = [f"f{i}-r{r}" for r in range(n)]
        t = pa.table(
            {
                "id": ids,
                "x0": x0,
                "x1": pa.array(x1_list, pa.float64()),
                "junk": junk,
                "y": pa.array(y.tolist(), pa.float64()),
            }
        )
        paths.append(write(tmp_path / f"part-{i}.parquet", t, row_group_size=25))
        frames.append(t.to_pandas())
    return paths, pd.concat(frames, ignore_index=True)


def test_drop_invalid_drops_and_counts(tmp_path: Path) -> None:
    _, df = invalid_dataset(tmp_path)
    assert "missing='drop'" in str(compute_error(read_parquet(tmp_path, "y", features=["x0"])))
    ds = read_parquet(tmp_path, "y", features=["x0", "x1"], drop_invalid=True)
    clean = df.replace([np.inf, -np.inf], np.nan).dropna(subset=["x0", "x1", "y"])
    assert ds.n_dropped == len(df) - len(clean) == 2 * 11
    assert ds.n_rows == len(clean) == sum(ds.X.chunks[0])
    assert not any(np.isnan(c) for c in ds.X.chunks[0])
    X, y = dask.compute(ds.X, ds.y)
    np.testing.assert_array_equal(X, clean[["x0", "x1"]].to_numpy())
    np.testing.assert_array_equal(y, clean["y"].to_numpy())
    assert ds.check_labels() == [0.0, 1.0]


def test_drop_invalid_all_rows_invalid(tmp_path: Path) -> None:
    path = write(tmp_path / "a.parquet", pa.table({"x": [np.nan, np.inf], "y": [0, 1]}))
    with pytest.raises(DataError, match="no valid rows"):
        read_parquet(path, "y", drop_invalid=True)


def test_read_block_columns_without_dropped_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(41)
    n = 120
    t = random_table(rng, n, id=np.arange(n) * 10)
    path = write(tmp_path / "a.parquet", t, row_group_size=25)
    ds = read_parquet(path, "y", features=["x0"], block_bytes=25 * 8 * 2)
    assert len(ds.blocks) == 3
    X = ds.X.compute()
    got = [read_block_columns(b, ["id", "x0"]) for b in ds.blocks]
    assert [g.num_rows for g in got] == [b.n_rows for b in ds.blocks]
    ids = np.concatenate([g.column("id").to_numpy() for g in got])
    np.testing.assert_array_equal(ids, np.arange(n) * 10)
    np.testing.assert_array_equal(np.concatenate([g.column("x0").to_numpy() for g in got]), X[:, 0])
    assert got[1].column_names == ["id", "x0"]
    with pytest.raises(DataError, match="'nope' not found"):
        read_block_columns(ds.blocks[0], ["nope"])


def test_read_block_columns_with_dropped_rows(tmp_path: Path) -> None:
    _, df = invalid_dataset(tmp_path)
    ds = read_parquet(tmp_path, "y", features=["x0", "x1"], drop_invalid=True)
    clean = df.replace([np.inf, -np.inf], np.nan).dropna(subset=["x0", "x1", "y"])
    tables = [read_block_columns(b, ["id", "junk"]) for b in ds.blocks]
    assert [t.num_rows for t in tables] == list(ds.X.chunks[0])
    ids = [v for t in tables for v in t.column("id").to_pylist()]
    assert ids == clean["id"].tolist()
    X = ds.X.compute()
    x0 = np.concatenate([read_block_columns(b, ["x0"]).column("x0").to_numpy() for b in ds.blocks])
    np.testing.assert_array_equal(x0, X[:, 0])
    for b in ds.blocks:
        mask = b.keep_mask()
        if mask is not None:
            assert mask.sum() == b.n_rows and mask.size == b.n_source_rows


def test_read_block_columns_partition_column(tmp_path: Path) -> None:
    rng = np.random.default_rng(42)
    write(tmp_path / "day=3" / "a.parquet", random_table(rng, 15))
    ds = read_parquet(tmp_path, "y", features=["x0", "day"])
    t = read_block_columns(ds.blocks[0], ["day", "x1"])
    assert t.column("day").to_pylist() == [3] * 15


# ------------------------------------------------- reading a block into its row-major X
def test_block_X_equals_the_columns_across_tiles_chunks_and_types(tmp_path: Path) -> None:
    """X is built tile by tile (4096 rows) from each column's Arrow chunks: with many row
    groups (several chunks per column), int, float32, dictionary-encoded and partition
    columns, it equals NumPy's column_stack of the same values, C-ordered."""
    rng = np.random.default_rng(51)
    n = 10_000  # tiles of 4096 rows: two full, one partial
    f64 = rng.normal(size=n)
    i32 = rng.integers(-1000, 1000, size=n).astype(np.int32)
    f32 = rng.normal(size=n).astype(np.float32)
    u8 = rng.integers(0, 255, size=n).astype(np.uint8)
    table = pa.table(
        {
            "f64": f64,
            "i32": i32,
            "f32": f32,
            "u8": u8,
            "dict": pa.array(np.round(f64, 1)).dictionary_encode(),
            "y": rng.integers(0, 2, size=n),
        }
    )
    path = write(tmp_path / "k=3" / "part-0.parquet", table, row_group_size=3000)
    names = ["f64", "i32", "f32", "u8", "dict", "k"]
    for dtype in ("float64", "float32"):
        ds = read_parquet(tmp_path, "y", features=names, dtype=dtype)
        X = ds.X.compute()
        expected = np.column_stack([f64, i32, f32, u8, np.round(f64, 1), np.full(n, 3.0)]).astype(
            dtype
        )
        assert X.dtype == np.dtype(dtype) and X.flags.c_contiguous
        np.testing.assert_array_equal(X, expected)
    assert path.exists()


def test_bad_value_after_the_first_tile_is_named_with_its_row(tmp_path: Path) -> None:
    rng = np.random.default_rng(52)
    x = rng.normal(size=9000)
    x[6000] = np.inf
    path = write(
        tmp_path / "a.parquet",
        pa.table({"a": rng.normal(size=9000), "x": x, "y": [0, 1] * 4500}),
        row_group_size=2500,
    )
    msg = str(compute_error(read_parquet(path, "y")))
    assert f"got inf in feature column 'x' at row 6000 of file {path}" in msg


def test_float64_values_beyond_float32_are_refused_with_float32(tmp_path: Path) -> None:
    x = np.ones(50)
    x[33] = 1e300
    path = write(tmp_path / "a.parquet", pa.table({"x": x, "y": [0, 1] * 25}))
    msg = str(compute_error(read_parquet(path, "y", dtype="float32")))
    assert msg == (
        f"feature values must fit in float32; got 1e+300 in feature column 'x' at row 33 "
        f"of file {path}"
    )
    # float64 takes it
    assert read_parquet(path, "y").X.compute()[33, 0] == 1e300


def _click_table(rng: np.random.Generator, n: int) -> pa.Table:
    ids = np.array([f"u{i}" for i in rng.integers(0, 300, n)], dtype=object)
    ids[rng.random(n) < 0.05] = None
    count = pa.array(rng.integers(0, 9, n), mask=rng.random(n) < 0.1)
    return pa.table(
        {"y": rng.integers(0, 2, n), "user": pa.array(ids), "site": pa.array(
            rng.choice(["a", "b", "c"], n)), "count": count}
    )  # fmt: skip


def test_the_counting_pass_hands_its_tables_to_the_reads(tmp_path, monkeypatch):
    """In this process, each block's table read by the counting pass is its read's: the
    files are decoded once (no read of a row group by the blocks' reads), the blocks equal
    those of a second decoding; a block read again (not persisted) decodes its file; and a
    budget too small keeps nothing, with the same blocks."""
    from logloss.data import blocks, dataset

    rng = np.random.default_rng(4)
    for i in range(2):
        pq.write_table(_click_table(rng, 3000), tmp_path / f"p{i}.parquet", row_group_size=1000)
    opts = dict(missing="impute", min_frequency=3, codes=True, max_categories=1000, log1p=["count"])
    decoded = []
    parts = blocks._parts

    def counted(*args, **kw):
        if args[2].encoding is not None:  # a block's read (a read of its labels has none)
            decoded.append(args[1])
        return parts(*args, **kw)

    monkeypatch.setattr(blocks, "_parts", counted)
    from logloss.data import encoding

    numeric_reads = []
    values = encoding.numeric_values

    def numeric(table, name, *args):
        numeric_reads.append(name)
        return values(table, name, *args)

    monkeypatch.setattr(encoding, "numeric_values", numeric)
    ds = read_parquet(tmp_path, "y", **opts)
    n = len(ds.blocks)
    assert n == 2  # a file each, of three row groups
    first = _blocks_of(ds)
    assert decoded == []  # every block's table came from the counting pass
    assert numeric_reads == []  # and its numeric column's values, log1p's taken
    again = _blocks_of(ds)
    assert len(decoded) == n  # taken once: read again, each block decodes its file
    assert numeric_reads == ["count"] * 6  # a row group at a time
    monkeypatch.setattr(dataset, "HANDED_FRACTION", 0.0)
    fresh = read_parquet(tmp_path, "y", **opts)
    decoded.clear()
    other = _blocks_of(fresh)
    assert len(decoded) == n
    assert fresh.encoding == ds.encoding
    for got in (again, other):
        np.testing.assert_array_equal(got[1], first[1])
        for a, b in zip(got[0], first[0], strict=True):
            np.testing.assert_array_equal(a.dense, b.dense)
            np.testing.assert_array_equal(a.codes, b.codes)
            assert a.vals is None and b.vals is None


def _blocks_of(ds: Dataset) -> tuple[list, np.ndarray]:
    """A dataset's coded X blocks and its y, in one compute."""
    return dask.compute(list(ds.X.to_delayed().ravel()), ds.y)


def test_a_handed_table_is_let_go_when_its_graph_leaves_the_process(tmp_path):
    """A dataset opened in this process and persisted on a cluster started afterwards: the
    workers read their files (the graph carries no table), and the kept tables are let go
    here when the graph is pickled."""
    from distributed import Client, LocalCluster

    from logloss.data import blocks

    rng = np.random.default_rng(5)
    pq.write_table(_click_table(rng, 2000), tmp_path / "p.parquet", row_group_size=500)
    opts = dict(missing="impute", min_frequency=3, codes=True, max_categories=1000)
    ds = read_parquet(tmp_path, "y", **opts)
    local = _blocks_of(read_parquet(tmp_path, "y", **opts))
    handed = [
        a
        for t in ds.X.dask.values()
        for a in getattr(t, "args", ())
        if isinstance(a, blocks.Handed)
    ]
    assert handed and all(h._kept is not None for h in handed)
    copy = pickle.loads(pickle.dumps(handed[0]))
    assert copy.take() is None and handed[0].take() is None
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
        with Client(cluster):
            remote = _blocks_of(ds)
    np.testing.assert_array_equal(remote[1], local[1])
    for a, b in zip(remote[0], local[0], strict=True):
        np.testing.assert_array_equal(a.dense, b.dense)
        np.testing.assert_array_equal(a.codes, b.codes)


@pytest.mark.parametrize("coding", ["all", "reference"])
def test_handed_blocks_find_their_codes_from_the_merge_without_a_lookup(
    tmp_path, monkeypatch, coding
):
    """The merge's positions give each kept block its dictionary columns' codes: its first
    read looks up no dictionary entry, and its codes equal a read that looks them all up
    (blocks of several row groups whose dictionaries differ, nulls, rare levels folded,
    a level that only one file has, an all-null chunk)."""
    from logloss.data import dataset, encoding

    rng = np.random.default_rng(11)
    for i in range(3):
        t = _click_table(rng, 2500)
        rare = np.array([f"r{i}-{j % 40}" for j in range(2500)], dtype=object)
        rare[:500] = None  # the first row group's chunk all null
        t = t.append_column("rare", pa.array(rare))
        pq.write_table(t, tmp_path / f"p{i}.parquet", row_group_size=500)
    opts = dict(missing="impute", min_frequency=70, codes=True, max_categories=1000)
    opts["categorical_coding"] = coding
    looked = []
    entry_codes = encoding._entry_codes

    def counted(c, *args):
        looked.append(c.name)
        return entry_codes(c, *args)

    monkeypatch.setattr(encoding, "_entry_codes", counted)
    ds = read_parquet(tmp_path, "y", **opts)
    assert {c.name for c in ds.encoding.columns if c.infrequent} >= {"rare", "user"}
    first = _blocks_of(ds)
    assert looked == []  # every dictionary entry's code came from the merge
    monkeypatch.setattr(dataset, "HANDED_FRACTION", 0.0)
    fresh = read_parquet(tmp_path, "y", **opts)
    other = _blocks_of(fresh)
    assert set(looked) == {"user", "site", "rare"}  # read from the files: looked up
    assert fresh.encoding == ds.encoding
    np.testing.assert_array_equal(other[1], first[1])
    for a, b in zip(other[0], first[0], strict=True):
        np.testing.assert_array_equal(a.codes, b.codes)
        np.testing.assert_array_equal(a.dense, b.dense)
        np.testing.assert_array_equal(
            np.ones(a.codes.shape) if a.vals is None else a.vals,
            np.ones(b.codes.shape) if b.vals is None else b.vals,
        )
