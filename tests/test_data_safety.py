"""logloss.data: the column decision does not depend on file order; ambiguous columns are errors;
value errors carry the caller's hint; a dataset's fingerprint identifies its files and columns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dask
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logloss.data import DEFAULT_INVALID_HINT, DataError, Dataset, read_block_columns, read_parquet


def table(rng: np.random.Generator, n: int, names: list[str], **extra: object) -> pa.Table:
    cols: dict[str, object] = {name: rng.normal(size=n) for name in names}
    cols["y"] = rng.integers(0, 2, size=n)
    cols.update(extra)
    return pa.table(cols)


def write(path: Path, t: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(t, path)
    return path


def error(*args: object, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        read_parquet(*args, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def no_compute(*args: object, **kwargs: object) -> None:
    raise AssertionError("something was computed")


# --------------------------------------------------------------------------------------------
# item 8: the feature set does not depend on file order


def test_feature_missing_from_some_files_is_an_error_in_every_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(100)
    # "a" sorts first and lacks x1: the old code silently left x1 out when "a" came first
    a = write(tmp_path / "a.parquet", table(rng, 20, ["x0", "x2"]))
    b = write(tmp_path / "b.parquet", table(rng, 20, ["x0", "x1", "x2"]))
    messages = {error([a, b], "y"), error([b, a], "y"), error(tmp_path, "y")}
    assert len(messages) == 1  # the same decision, word for word
    msg = messages.pop()
    assert "feature column 'x1' not found in 1 of 2 files" in msg and str(a) in msg
    assert "name the features explicitly" in msg
    # naming the features present everywhere is fine, in either order, with the same columns
    one = read_parquet([a, b], "y", features=["x2", "x0"])
    two = read_parquet([b, a], "y", features=["x2", "x0"])
    assert one.feature_names == two.feature_names == ["x2", "x0"]
    assert one.n_rows == two.n_rows == 40
    # a named feature missing somewhere: the error names the column and the file
    msg = error([b, a], "y", features=["x0", "x1"])
    assert "feature column 'x1' not found in 1 of 2 files" in msg and str(a) in msg
    assert "name the features explicitly" not in msg


def test_auto_feature_order_is_that_of_the_first_file_by_path(tmp_path: Path) -> None:
    rng = np.random.default_rng(101)
    a = write(tmp_path / "a.parquet", table(rng, 10, ["x0", "x1", "x2"]))
    b = write(tmp_path / "b.parquet", table(rng, 10, ["x2", "x0", "x1"]))
    assert read_parquet([b, a], "y").feature_names == ["x0", "x1", "x2"]
    assert read_parquet([a, b], "y").feature_names == ["x0", "x1", "x2"]


def test_missing_column_lists_a_few_files_and_a_count(tmp_path: Path) -> None:
    rng = np.random.default_rng(102)
    paths = [write(tmp_path / "full.parquet", table(rng, 5, ["x0", "x1"]))]
    paths += [write(tmp_path / f"part-{i}.parquet", table(rng, 5, ["x0"])) for i in range(6)]
    msg = error(paths[::-1], "y", features=["x0", "x1"])
    assert "feature column 'x1' not found in 6 of 7 files" in msg
    assert f"{paths[1]}, {paths[2]}, {paths[3]} and 3 more" in msg
    assert str(paths[0]) not in msg.split("(")[0]


@pytest.mark.parametrize("role", ["label", "weight"])
def test_label_or_weight_missing_from_some_files(tmp_path: Path, role: str) -> None:
    rng = np.random.default_rng(103)
    name = "y" if role == "label" else "w"
    full = table(rng, 8, ["x0"], w=np.ones(8))
    a = write(tmp_path / "a.parquet", full)
    b = write(tmp_path / "b.parquet", full.drop_columns([name]))
    c = write(tmp_path / "c.parquet", full)
    for order in ([a, b, c], [c, b, a], [b, a, c]):
        msg = error(order, "y", features=["x0"], weight="w")
        assert msg.startswith(f"{role} column {name!r} not found in 1 of 3 files: {b}")


def test_column_type_differs_between_files_same_decision_whatever_the_order(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(104)
    # "a" sorts first and holds x1 as strings: the old code silently left x1 out
    a = write(tmp_path / "a.parquet", table(rng, 6, ["x0"], x1=["u"] * 6))
    b = write(tmp_path / "b.parquet", table(rng, 6, ["x0", "x1"]))
    messages = {error([a, b], "y"), error([b, a], "y")}
    assert len(messages) == 1
    msg = messages.pop()
    assert "files must agree on column types; feature column 'x1' is" in msg
    assert f"double in file {b}" in msg and f"string in file {a}" in msg
    # not used: no error, in either order
    assert read_parquet([b, a], "y", features=["x0"]).feature_names == ["x0"]
    assert read_parquet([a, b], "y", features=["x0"]).feature_names == ["x0"]


# --------------------------------------------------------------------------------------------
# item 9: ambiguous column names


def test_duplicate_column_names_in_a_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(105)
    good = write(tmp_path / "a.parquet", table(rng, 5, ["x", "z"]))
    t = pa.table(
        [rng.normal(size=5), rng.normal(size=5), rng.normal(size=5), rng.integers(0, 2, 5)],
        names=["x", "x", "z", "y"],
    )
    dup = write(tmp_path / "b.parquet", t)
    expected = "column names must be unique within a file; feature column 'x' appears 2 times "
    for kwargs in ({}, {"features": ["x"]}, {"features": ["z", "x"]}):
        msg = error([dup, good], "y", **kwargs)
        assert msg == expected + f"in file {dup}"
    # the duplicated column unused: fine
    ds = read_parquet([dup, good], "y", features=["z"])
    assert ds.X.compute().shape == (10, 1)
    with pytest.raises(DataError, match=f"column 'x' appears 2 times in file {dup}"):
        read_block_columns(ds.blocks[0], ["x"])
    # the label duplicated
    t2 = pa.table([rng.normal(size=4), [0, 1, 0, 1], [1, 0, 1, 0]], names=["x", "y", "y"])
    two = write(tmp_path / "c" / "l.parquet", t2)
    assert "label column 'y' appears 2 times in file" in error(two, "y", features=["x"])


def test_partition_key_that_is_also_a_column(tmp_path: Path) -> None:
    rng = np.random.default_rng(106)
    path = write(tmp_path / "day=3" / "a.parquet", table(rng, 5, ["x0"], day=np.arange(5.0)))
    for kwargs in ({"features": ["x0", "day"]}, {}):
        msg = error(tmp_path, "y", **kwargs)
        assert msg == (
            "column names must be unambiguous; feature column 'day' is both a hive partition "
            f"key (directory day=...) and a column in file {path}"
        )
    # not used: fine
    assert read_parquet(tmp_path, "y", features=["x0"]).n_rows == 5


def test_label_or_weight_in_features_and_feature_named_twice(tmp_path: Path) -> None:
    rng = np.random.default_rng(107)
    path = write(tmp_path / "a.parquet", table(rng, 5, ["x0", "x1"], w=np.ones(5)))
    assert error(path, "y", features=["x0", "y"]) == (
        "column 'y' cannot be both a feature and the label column; remove it from features"
    )
    assert "'w' cannot be both a feature and the weight column" in error(
        path, "y", features=["w"], weight="w"
    )
    assert error(path, "y", features=["x0", "x1", "x0"]) == (
        "feature columns must be distinct; got 'x0' more than once in features ['x0', 'x1', 'x0']"
    )


# --------------------------------------------------------------------------------------------
# item 14: the hint at the end of value errors


def compute_error(ds: Dataset) -> str:
    with pytest.raises(DataError) as info:
        dask.compute(ds.X, ds.y, *([ds.sample_weight] if ds.sample_weight is not None else []))
    return str(info.value)


@pytest.mark.parametrize("column", ["x", "y", "w"])
def test_invalid_value_message_ends_with_the_callers_hint(tmp_path: Path, column: str) -> None:
    cols = {"x": [1.0, 2.0, 3.0], "y": [0.0, 1.0, 0.0], "w": [1.0, 1.0, 1.0]}
    cols[column][2] = np.nan
    path = write(tmp_path / "a.parquet", pa.table(cols))
    where = f"at row 2 of file {path}"
    # a feature's missing value may be imputed; a label or a weight cannot: only dropping
    cannot = {"x": "", "y": "labels cannot be imputed; ", "w": "sample weights cannot be imputed; "}
    default = compute_error(read_parquet(path, "y", features=["x"], weight="w"))
    hint = DEFAULT_INVALID_HINT if column == "x" else DEFAULT_INVALID_HINT.split(", or ")[0]
    assert default.endswith(f"{where} ({cannot[column]}{hint})")
    cli = compute_error(
        read_parquet(
            path,
            "y",
            features=["x"],
            weight="w",
            invalid_hint="pass --drop-invalid to drop such rows",
        )
    )
    assert cli.endswith(f"{where} ({cannot[column]}pass --drop-invalid to drop such rows)")
    bare = compute_error(read_parquet(path, "y", features=["x"], weight="w", invalid_hint=None))
    assert bare.endswith(where) and "drop" not in bare
    # dropped rows are dropped: nothing to hint
    ds = read_parquet(path, "y", features=["x"], weight="w", invalid_hint=None, drop_invalid=True)
    assert ds.n_rows == 2


def test_negative_weight_has_no_drop_hint(tmp_path: Path) -> None:
    path = write(tmp_path / "a.parquet", pa.table({"x": [1.0, 2.0], "y": [0, 1], "w": [1.0, -1.0]}))
    msg = compute_error(read_parquet(path, "y", weight="w", invalid_hint="pass --drop-invalid"))
    assert msg.endswith(f"at row 1 of file {path}")


# --------------------------------------------------------------------------------------------
# Dataset.fingerprint


FINGERPRINT = """
import sys
from logloss.data import read_parquet
print(read_parquet(sys.argv[1:], "y", features=["x0", "x1"]).fingerprint())
"""


def test_fingerprint_identifies_files_and_columns(tmp_path: Path) -> None:
    rng = np.random.default_rng(108)
    a = write(tmp_path / "a.parquet", table(rng, 30, ["x0", "x1", "x2"], w=np.ones(30)))
    b = write(tmp_path / "b.parquet", table(rng, 20, ["x0", "x1", "x2"], w=np.ones(20)))
    with dask.config.set(scheduler=no_compute):  # no data read
        base = read_parquet([a, b], "y", features=["x0", "x1"]).fingerprint()
        assert len(base) == 64 and int(base, 16) >= 0
        assert read_parquet([b, a], "y", features=["x0", "x1"]).fingerprint() == base
        assert read_parquet(tmp_path, "y", features=["x0", "x1"]).fingerprint() == base
    # another process, same files: same hash
    out = subprocess.run(
        [sys.executable, "-c", FINGERPRINT, str(a), str(b)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip() == base

    def fp(**kwargs: object) -> str:
        args: dict[str, object] = {"features": ["x0", "x1"], **kwargs}
        return read_parquet([a, b], "y", **args).fingerprint()  # type: ignore[arg-type]

    others = [
        fp(features=["x0", "x2"]),
        fp(features=["x1", "x0"]),
        fp(features=["x0", "x1", "x2"]),
        fp(weight="w"),
        fp(dtype="float32"),
        fp(drop_invalid=True),
        read_parquet([a, b], "x2", features=["x0", "x1"]).fingerprint(),
        read_parquet([a], "y", features=["x0", "x1"]).fingerprint(),
    ]
    assert len({base, *others}) == len(others) + 1
    # touching a file changes it
    st = os.stat(a)
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    touched = fp()
    assert touched != base
    # rewriting a file with other data of the same shape changes it
    write(b, table(rng, 20, ["x0", "x1", "x2"], w=np.ones(20)))
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    assert fp() not in (base, touched)


def test_fingerprint_on_an_fsspec_filesystem() -> None:
    import fsspec

    rng = np.random.default_rng(109)
    fs = fsspec.filesystem("memory")
    root = "memory://fingerprint-test"

    def put(n: int) -> None:
        with fs.open(f"{root}/a.parquet", "wb") as f:
            pq.write_table(table(rng, n, ["x0"]), f)

    try:
        put(10)
        first = read_parquet(root, "y").fingerprint()
        assert read_parquet(root, "y").fingerprint() == first
        put(12)
        assert read_parquet(root, "y").fingerprint() != first
    finally:
        fs.rm(root, recursive=True)
