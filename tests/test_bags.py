"""Multi-valued columns (list<string> as bags of tokens) against scikit-learn.

No installed package ships a table with a multi-valued column, so the data are synthetic,
written to real Parquet with pyarrow: Zipf-distributed tokens (ASCII and unicode), null
lists, empty lists, null elements, repeated tokens, a logistic truth on the tokens.

- vocabulary bags: the fit equals ``MultiLabelBinarizer`` (the kept tokens, the rarer ones
  as "(infrequent)", binary) + ``LogisticRegression`` to 1e-5 on 1 and 5 blocks;
  ``to_sklearn()`` (``CountVectorizer(binary=True)``) equals logloss to 1e-8, also on new
  data with tokens unseen in training;
- hashed bags: the block equals ``FeatureHasher(input_type="string")`` over each row's list
  of tokens ``column=token`` (repeats add) exactly, beside a hashed scalar column in the
  same block; the fit equals FeatureHasher + LogisticRegression to 1e-5;
- the ragged kernel (margins, gradient, Hessian diagonal, moments, row indexing, concat)
  against the dense matrix; disk blocks keep the bags;
- list<dictionary>, large_list and list<int64> columns; list<struct> and list<double>
  refused naming the file and column; the CLI's train, summary and predict.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from logloss import coded
from logloss.coded import CodedMatrix, coded_max_abs, coded_moments, coded_sums, concat
from logloss.data import DataError, read_parquet
from logloss.loss import block_moments, block_sums
from logloss.settings import TrainSettings
from logloss.training.fit import train_model

sklearn = pytest.importorskip("sklearn")

from sklearn.feature_extraction import FeatureHasher  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import MultiLabelBinarizer  # noqa: E402

VOCAB = [f"t{i}" for i in range(60)] + ["é", "中文", "ß ø", "😀", "a=b", ""]


def random_lists(rng: np.random.Generator, n: int, vocab: list[str]) -> list[list[str] | None]:
    """Zipf-distributed tokens, 0 to 6 per row (repeats happen), ~5 % null lists, ~10 %
    empty ones, a few null elements."""
    out: list[list[str] | None] = []
    for _ in range(n):
        u = rng.random()
        if u < 0.05:
            out.append(None)
            continue
        k = 0 if u < 0.15 else int(rng.integers(1, 7))
        ranks = np.minimum(rng.zipf(1.4, size=k), len(vocab)) - 1
        row: list[str | None] = [vocab[int(r)] for r in ranks]
        if rng.random() < 0.03:
            row.append(None)
        out.append(row)  # type: ignore[arg-type]
    return out


def frame(n: int, seed: int = 0, vocab: list[str] = VOCAB) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tags = random_lists(rng, n, vocab)
    effect = {t: float(e) for t, e in zip(VOCAB, rng.normal(0, 1.0, len(VOCAB)), strict=True)}
    x = rng.normal(size=n)
    z = 0.5 * x + np.array([sum(effect.get(t, 0.0) for t in set(r or []) if t) for r in tags])
    y = (rng.random(n) < 1 / (1 + np.exp(-(z - 0.3)))).astype(np.int64)
    city = [f"c{int(v)}" for v in rng.integers(0, 40, n)]
    return pd.DataFrame({"x": x, "tags": tags, "city": city, "y": y})


def write(df: pd.DataFrame, path: Path, blocks: int, tag_type: pa.DataType | None = None) -> Path:
    tag_type = tag_type or pa.list_(pa.string())
    cols = {c: pa.array(df[c].tolist(), type=tag_type if c == "tags" else None) for c in df.columns}
    table = pa.table(cols)
    pq.write_table(table, path, row_group_size=-(-table.num_rows // blocks))
    assert pq.ParquetFile(path).num_row_groups == blocks
    return path


def tokens(v) -> list[str]:
    return [] if v is None else [str(t) for t in v if t is not None]


def vocabulary_reference(df: pd.DataFrame, k: int) -> tuple[list[str], sp.csr_matrix]:
    """What a scikit-learn user writes: tokens held by >= k rows kept, the rest one
    "(infrequent)" label, MultiLabelBinarizer (binary)."""
    rows = [set(tokens(v)) for v in df.tags]
    freq = pd.Series([t for r in rows for t in r]).value_counts()
    kept = sorted(t for t, c in freq.items() if c >= k)
    rare = any(c < k for c in freq)
    classes = kept + (["(infrequent)"] if rare else [])
    docs = [{t if t in kept else "(infrequent)" for t in r} for r in rows]
    mlb = MultiLabelBinarizer(classes=classes, sparse_output=True)
    return [f"tags={c}" for c in classes], mlb.fit_transform(docs).tocsr()


def hashed_reference(df: pd.DataFrame, bits: int, scalar: str | None = None) -> sp.csr_matrix:
    toks = [[f"tags={t}" for t in tokens(v)] for v in df.tags]
    if scalar is not None:
        toks = [[f"{scalar}={s}", *t] for s, t in zip(df[scalar], toks, strict=True)]
    return FeatureHasher(n_features=2**bits, input_type="string").transform(toks).tocsr()


def fit(path, C, **read):
    ds = read_parquet(path, "y", block_bytes=1, **read)
    settings = TrainSettings(C=C, tol=1e-8, max_iter=3000, hash_bits=read.get("hash_bits"))
    model = train_model(ds.persist(), settings)
    assert model.converged_
    return ds, model


def probabilities(model, X) -> np.ndarray:
    return np.asarray(model.predict_proba(X)[:, 1].compute())


def blocks_of(ds) -> list[CodedMatrix]:
    return [b.compute() for b in ds.X.to_delayed().ravel()]


@pytest.mark.parametrize("blocks", [1, 5])
def test_vocabulary_bags_equal_multilabelbinarizer_and_export(tmp_path, blocks):
    df = frame(3000)
    path = write(df, tmp_path / "t.parquet", blocks)
    ds, model = fit(path, 0.5, features=["x", "tags"], min_frequency=5)
    assert len(ds.blocks) == blocks
    names, T = vocabulary_reference(df, 5)
    assert ds.feature_names == ["x", *names]
    assert "tags=(infrequent)" in names and "tags=中文" in names
    X = sp.hstack([df[["x"]].to_numpy(), T]).tocsr()
    np.testing.assert_array_equal(np.concatenate([b.toarray() for b in blocks_of(ds)]), X.toarray())
    ref = LogisticRegression(C=0.5, tol=1e-12, max_iter=20_000).fit(X, df.y)
    got = probabilities(model, ds.X)
    np.testing.assert_allclose(got, ref.predict_proba(X)[:, 1], rtol=0, atol=1e-5)
    line = ds.encoding.describe_categorical()[0]
    assert line.startswith("tags: bag of tokens, vocabulary of")
    # to_sklearn(): a CountVectorizer over the model's names, logloss's probabilities
    pipe = model.to_sklearn()
    vec = pipe[0].named_transformers_["bag_tags"][-1]
    assert type(vec).__name__ == "CountVectorizer" and vec.binary
    np.testing.assert_allclose(pipe.predict_proba(df[["x", "tags"]])[:, 1], got, atol=1e-8)
    # new data: unseen tokens go to (infrequent), in logloss and in the export alike
    new = frame(500, seed=9, vocab=[*VOCAB[:20], "never", "seen", "ünseen"])
    assert {"never", "ünseen"} & {t for v in new.tags for t in tokens(v)}
    new_path = write(new, tmp_path / "new.parquet", 1)
    data = read_parquet(new_path, None, encoding=model.encoding_)
    got_new = probabilities(model, data.X)
    expected = pipe.predict_proba(new[["x", "tags"]])[:, 1]
    np.testing.assert_allclose(got_new, expected, rtol=0, atol=1e-8)
    rows = [set(tokens(v)) for v in new.tags]
    kept = {n.split("=", 1)[1] for n in names[:-1]}
    mlb = MultiLabelBinarizer(classes=[n.split("=", 1)[1] for n in names])
    X_new = np.hstack(
        [
            new[["x"]].to_numpy(),
            mlb.fit_transform([{t if t in kept else "(infrequent)" for t in r} for r in rows]),
        ]
    )
    np.testing.assert_allclose(got_new, ref.predict_proba(X_new)[:, 1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("blocks", [1, 4])
def test_hashed_bags_equal_feature_hasher(tmp_path, blocks):
    df = frame(2500, seed=2)
    path = write(df, tmp_path / "h.parquet", blocks)
    ds, model = fit(path, 1.0, hash_bits=7, hash_columns=["tags", "city"])
    enc = ds.encoding
    assert [c.kind for c in enc.columns] == ["numeric", "hashed_bag", "hashed"]
    assert "tags: bag of tokens, hashed into 2^7 buckets (shared)" in enc.describe_categorical()
    H = hashed_reference(df, 7, scalar="city")
    X = sp.hstack([df[["x"]].to_numpy(), H]).tocsr()
    np.testing.assert_array_equal(np.concatenate([b.toarray() for b in blocks_of(ds)]), X.toarray())
    # repeated tokens add up, as FeatureHasher sums them
    assert np.abs(H.toarray()).max() >= 2
    ref = LogisticRegression(C=1.0, tol=1e-12, max_iter=20_000).fit(X, df.y)
    got = probabilities(model, ds.X)
    np.testing.assert_allclose(got, ref.predict_proba(X)[:, 1], rtol=0, atol=1e-5)
    pipe = model.to_sklearn()
    hasher = pipe[0].named_transformers_["hash"][-1]
    assert isinstance(hasher, FeatureHasher) and hasher.n_features == 2**7
    np.testing.assert_allclose(pipe.predict_proba(df[["x", "tags", "city"]])[:, 1], got, atol=1e-8)


def test_vocabulary_and_hashed_bags_together_share_the_layout(tmp_path):
    """A vocabulary bag (list<dictionary>), a hashed bag (large_list) and a vocabulary
    categorical column: the hashed block, then the bags' vocabulary features, last."""
    rng = np.random.default_rng(4)
    n = 1200
    df = frame(n, seed=4)
    genres = random_lists(rng, n, ["drama", "comedy", "noir", "sci-fi", "doc"])
    table = pa.table(
        {
            "x": df.x,
            "tags": pa.array(df.tags.tolist(), type=pa.large_list(pa.string())),
            "genres": pa.array(genres, type=pa.list_(pa.dictionary(pa.int32(), pa.string()))),
            "city": df.city,
            "y": df.y,
        }
    )
    pq.write_table(table, tmp_path / "g.parquet", row_group_size=500)
    ds, model = fit(tmp_path / "g.parquet", 0.3, hash_bits=6, hash_columns=["tags"])
    enc = ds.encoding
    assert [c.kind for c in enc.columns] == ["numeric", "hashed_bag", "bag", "categorical"]
    genre_names = [f"genres={g}" for g in sorted({g for r in genres for g in tokens(r)})]
    cities = [f"city={c}" for c in sorted(set(df.city))]
    assert ds.feature_names == ["x", *cities, *[f"hash[{i}]" for i in range(64)], *genre_names]
    mlb = MultiLabelBinarizer(classes=[g.split("=")[1] for g in genre_names])
    G = mlb.fit_transform([set(tokens(r)) for r in genres])
    C = pd.get_dummies(df.city).reindex(columns=sorted(set(df.city))).to_numpy(float)
    X = np.hstack([df[["x"]].to_numpy(), C, hashed_reference(df, 6).toarray(), G])
    np.testing.assert_array_equal(np.concatenate([b.toarray() for b in blocks_of(ds)]), X)
    ref = LogisticRegression(C=0.3, tol=1e-12, max_iter=20_000).fit(X, df.y)
    got = probabilities(model, ds.X)
    np.testing.assert_allclose(got, ref.predict_proba(X)[:, 1], rtol=0, atol=1e-5)
    from logloss.data.encoding import Encoding

    assert Encoding.from_json(enc.to_json()) == enc  # the saved model's encoding
    frame_in = pd.DataFrame({"x": df.x, "tags": df.tags, "genres": genres, "city": df.city})
    np.testing.assert_allclose(model.to_sklearn().predict_proba(frame_in)[:, 1], got, atol=1e-8)


@pytest.mark.parametrize("slice_rows", [None, 64])
def test_the_ragged_kernel_equals_the_dense_matrix(tmp_path, slice_rows, monkeypatch):
    if slice_rows is not None:  # 64-row slices: the bags and wide ranges summed once after
        monkeypatch.setattr(coded, "CODED_SLICE_ROWS", slice_rows)
    df = frame(800, seed=6)
    path = write(df, tmp_path / "k.parquet", 2)
    ds = read_parquet(path, "y", hash_bits=5, hash_columns=["city"], min_frequency=3, block_bytes=1)
    a, b = blocks_of(ds)
    X = concat([a, b])
    assert X.bags is not None and len(X) == 800
    D = X.toarray()
    n, p = X.shape
    rng = np.random.default_rng(1)
    w = rng.normal(size=p + 1)
    y = df.y.to_numpy(np.float64)
    s = rng.random(n)
    dense = block_sums(D, y, w, s)
    got = coded_sums(X, y, w, s, diag=True)
    np.testing.assert_allclose(got[: p + 3], dense, rtol=1e-12, atol=1e-9)
    z = D @ w[:p] + w[p]
    mu = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(got[p + 3 : 2 * p + 3], (s * mu * (1 - mu)) @ (D * D), atol=1e-9)
    np.testing.assert_allclose(coded_moments(X), block_moments(D), rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(coded_max_abs(X), np.abs(D).max(axis=0))
    # rows: slices, fancy indices with repeats, boolean masks
    for key in (slice(3, 250), slice(790, 900), slice(0, 800, 7), rng.integers(0, n, 300), y > 0):
        np.testing.assert_array_equal(X[key].toarray(), D[key])
    np.testing.assert_array_equal(X[np.array([], np.int64)].toarray(), D[:0])


def test_disk_blocks_keep_the_bags(tmp_path):
    from logloss.diskblocks import write_block

    df = frame(600, seed=7)
    path = write(df, tmp_path / "d.parquet", 1)
    ds = read_parquet(path, "y", hash_bits=6, hash_columns=["city"])
    (X,) = blocks_of(ds)
    y = df.y.to_numpy(np.float64)
    block = write_block(str(tmp_path / "b"), "t", 0, X, y, None, X.nbytes + y.nbytes)
    back = block.X
    assert back.bags is not None
    w = np.random.default_rng(3).normal(size=X.shape[1] + 1)
    np.testing.assert_array_equal(back.toarray(), X.toarray())
    np.testing.assert_allclose(coded_sums(back, y, w, diag=True), coded_sums(X, y, w, diag=True))


def test_integer_lists_are_tokens_and_dictionaries_may_differ_per_row_group(tmp_path):
    rng = np.random.default_rng(8)
    n = 900
    ints = [None if i % 31 == 0 else [int(v) for v in rng.integers(0, 9, i % 4)] for i in range(n)]
    y = rng.integers(0, 2, n)
    pq.write_table(
        pa.table({"codes": pa.array(ints, pa.list_(pa.int64())), "y": y}), tmp_path / "i.parquet"
    )
    ds = read_parquet(tmp_path / "i.parquet", "y")
    assert ds.feature_names == [f"codes={v}" for v in range(9)]
    # list<dictionary> written in two files whose dictionaries differ
    a = pa.array([["b", "a"], ["c"]], pa.list_(pa.dictionary(pa.int32(), pa.string())))
    b = pa.array([["z"], ["a", "a", None], []], pa.list_(pa.dictionary(pa.int32(), pa.string())))
    pq.write_table(pa.table({"t": a, "y": [0, 1]}), tmp_path / "d1.parquet")
    pq.write_table(pa.table({"t": b, "y": [1, 0, 1]}), tmp_path / "d2.parquet")
    ds = read_parquet([tmp_path / "d1.parquet", tmp_path / "d2.parquet"], "y")
    assert ds.feature_names == ["t=a", "t=b", "t=c", "t=z"]
    X = np.concatenate([x.toarray() for x in blocks_of(ds)])
    np.testing.assert_array_equal(
        X, [[1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]]
    )


@pytest.mark.parametrize(
    "values, type_",
    [
        ([[{"a": 1}], []], pa.list_(pa.struct([("a", pa.int64())]))),
        ([[1.5], [2.0]], pa.list_(pa.float64())),
        ([[["a"]], []], pa.list_(pa.list_(pa.string()))),
    ],
)
def test_lists_of_other_types_are_refused_naming_file_and_column(tmp_path, values, type_):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"v": pa.array(values, type_), "x": [1.0, 2.0], "y": [0, 1]}), path)
    with pytest.raises(
        DataError,
        match=r"multi-valued feature column 'v' must be a list of strings or integers; "
        r"got type .* in file .*bad.parquet",
    ):
        read_parquet(path, "y", features=["v", "x"])
    # without named features, such a column is left out, as other nested types are
    ds = read_parquet(path, "y")
    assert ds.feature_names == ["x"] and [c for c, _ in ds.ignored] == ["v"]


def test_cli_trains_summarises_and_predicts_with_unseen_tokens(tmp_path, capsys):
    from logloss.cli import main
    from logloss.estimator import load_model
    from logloss.storage.files import predictions_path

    df = frame(2000, seed=11)
    train = write(df, tmp_path / "train.parquet", 2)
    new = frame(300, seed=12, vocab=["t0", "t1", "brand-new", "jamais-vu"])
    new_path = write(new, tmp_path / "new.parquet", 1)
    out = tmp_path / "m"
    argv = ["train", str(train), "--label", "y", "--out", str(out), "--min-frequency", "4"]
    assert main([*argv, "--features", "x,tags"]) == 0
    summary = capsys.readouterr().out
    assert "tags: bag of tokens, vocabulary of" in summary
    model = load_model(out)
    preds = tmp_path / "p"
    assert main(["predict", str(out), str(new_path), "--out", str(preds), "--quiet"]) == 0
    shown = pq.read_table(predictions_path(preds)).column("probability").to_numpy()
    expected = model.to_sklearn().predict_proba(new[["x", "tags"]])[:, 1]
    np.testing.assert_allclose(shown, expected, rtol=0, atol=1e-8)
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"v": pa.array([[1.5]], pa.list_(pa.float64())), "y": [1]}), bad)
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(bad), "--label", "y", "--features", "v", "--out", str(tmp_path / "b")])
    assert exit_.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "multi-valued feature column 'v'" in errors[0]
    assert not (tmp_path / "b").exists()


# ------------------------------------------------------------------ crosses with a vocabulary
def cross_frame(n: int, seed: int, a_levels: int = 15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ranks = np.minimum(rng.zipf(1.6, size=n), a_levels) - 1
    a = [None if i % 37 == 0 else f"a{int(r)}" for i, r in enumerate(ranks)]
    b = rng.integers(0, 8, n)
    x = rng.normal(size=n)
    effect = rng.normal(0, 1.0, (a_levels + 1, 8))
    ia = np.array([a_levels if v is None else int(v[1:]) for v in a])  # None: the last row
    z = 0.4 * x + effect[np.minimum(ia, a_levels), b]
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    return pd.DataFrame({"x": x, "a": a, "b": b, "y": y})


def explicit_cross(df: pd.DataFrame) -> pd.DataFrame:
    """The cross as a scikit-learn user writes it: one string column a^b."""
    a = df.a.map(lambda v: v if isinstance(v, str) else "(null)")
    b = df.b.astype(str)
    return pd.DataFrame({"x": df.x, "a": a, "b": b, "ab": a + "^" + b})


def sklearn_input(df: pd.DataFrame) -> pd.DataFrame:
    """The columns as to_sklearn()'s pipeline takes them: objects, a null as None."""
    out = df[["x", "a", "b"]].astype({"a": object, "b": object})
    out["a"] = pd.Series([v if isinstance(v, str) else None for v in out.a], out.index, object)
    return out


def cross_reference(C: float, k: int):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    onehot = OneHotEncoder(min_frequency=k, handle_unknown="infrequent_if_exist")
    columns = ColumnTransformer([("num", "passthrough", ["x"]), ("cat", onehot, ["a", "b", "ab"])])
    lr = LogisticRegression(C=C, tol=1e-12, max_iter=20_000)
    return Pipeline([("columns", columns), ("lr", lr)])


@pytest.mark.parametrize("blocks", [1, 3])
def test_vocabulary_cross_equals_onehot_of_the_explicit_cross_column(tmp_path, blocks):
    df = cross_frame(4000, seed=1)
    path = tmp_path / "c.parquet"
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, path, row_group_size=-(-len(df) // blocks))
    read = dict(categorical=["b"], interactions=["a:b"], missing="impute", min_frequency=6)
    ds, model = fit(path, 0.7, **read)
    enc = ds.encoding
    assert enc.interactions == () and [x.pair for x in enc.crosses] == [("a", "b")]
    (line,) = [s for s in enc.describe_categorical() if s.startswith("a:b")]
    assert line.startswith("a:b: cross, vocabulary of") and "(infrequent)" in line
    assert "a=a0^b=3" in ds.feature_names and "a^b=(infrequent)" in ds.feature_names
    ref = cross_reference(0.7, 6).fit(explicit_cross(df), df.y)
    width = ref[0].transform(explicit_cross(df).iloc[:1]).shape[1]
    assert ds.n_features == width
    got = probabilities(model, ds.X)
    np.testing.assert_allclose(got, ref.predict_proba(explicit_cross(df))[:, 1], atol=1e-5)
    pipe = model.to_sklearn()
    np.testing.assert_allclose(pipe.predict_proba(sklearn_input(df))[:, 1], got, atol=1e-8)
    # new data: pairs never seen (and a level of a never seen) go to a^b=(infrequent)
    new = cross_frame(600, seed=5, a_levels=18)
    new_path = tmp_path / "new.parquet"
    pq.write_table(pa.Table.from_pandas(new, preserve_index=False), new_path)
    data = read_parquet(new_path, None, encoding=model.encoding_)
    got_new = probabilities(model, data.X)
    expected = ref.predict_proba(explicit_cross(new))[:, 1]
    np.testing.assert_allclose(got_new, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(pipe.predict_proba(sklearn_input(new))[:, 1], got_new, atol=1e-8)
    # the saved model keeps the cross's vocabulary
    from logloss.data.encoding import Encoding

    back = Encoding.from_json(model.encoding_.to_json())
    assert back == model.encoding_


def test_a_cross_past_the_bound_is_hashed_or_refused(tmp_path):
    df = cross_frame(1500, seed=2)
    path = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
    read = dict(categorical=["b"], interactions=["a:b"], missing="impute", max_categories=40)
    ds = read_parquet(path, "y", hash_bits=8, **read)
    assert ds.encoding.interactions == (("a", "b"),) and not ds.encoding.crosses
    with pytest.raises(DataError, match=r"the cross a:b cannot have a vocabulary \(1.. pairs"):
        read_parquet(path, "y", **read)


def test_bags_by_size_drop_mode_kinds_and_skops(tmp_path):
    import skops.io as sio

    rng = np.random.default_rng(13)
    n = 3000
    many = [[f"id{int(v)}" for v in rng.integers(0, 5000, 2)] for _ in range(n)]
    few = [None if i % 10 == 0 else ["a", "b"][: i % 3] for i in range(n)]
    x = [None if i % 100 == 1 else float(i % 7) for i in range(n)]
    table = pa.table({"many": many, "few": few, "x": x, "y": rng.integers(0, 2, n)})
    path = tmp_path / "s.parquet"
    pq.write_table(table, path)
    # by size: more distinct tokens than 1000 is hashed; null lists are no reason to drop
    ds = read_parquet(path, "y", hash_bits=8, missing="drop")
    assert [c.kind for c in ds.encoding.columns] == ["hashed_bag", "bag", "numeric"]
    assert ds.n_dropped == n // 100  # the rows with a null x only
    assert ds.feature_names[-2:] == ["few=a", "few=b"]
    # a bag column must be a list at predict time, and a list column a bag
    bad = tmp_path / "bad.parquet"
    pq.write_table(table.set_column(1, "few", pa.array(["a"] * n)), bad)
    with pytest.raises(
        DataError,
        match=r"column 'few' was a list column \(a bag of tokens\) when the model was trained",
    ):
        read_parquet(bad, "y", encoding=ds.encoding)
    # the export loads with skops, trusting logloss's own functions only
    _, model = fit(path, 1.0, hash_bits=8, missing="drop")
    blob = sio.dumps(model.to_sklearn())
    untrusted = sio.get_untrusted_types(data=blob)
    assert {t for t in untrusted if not t.startswith("logloss.")} <= {"numpy.dtype"}
    pipe = sio.loads(blob, trusted=untrusted)
    df = table.to_pandas().dropna(subset=["x"])
    df["few"] = [None if v is None else list(v) for v in df.few]
    got = probabilities(model, read_parquet(path, "y", encoding=model.encoding_, missing="drop").X)
    np.testing.assert_allclose(pipe.predict_proba(df[["many", "few", "x"]])[:, 1], got, atol=1e-8)


def test_a_guarded_retrain_keeps_bags_and_hashed_columns(tmp_path, capsys):
    """The footer checks give a list column the kind bag, and compare a hashed column of
    the champion with its type's kind (a retrain with a check used to refuse them)."""
    from logloss.cli import main

    df = frame(1500, seed=21)
    path = write(df, tmp_path / "t.parquet", 2)
    argv = ["train", str(path), "--label", "y", "--out", str(tmp_path / "m"), "--quiet"]
    argv += ["--hash-bits", "6", "--hash-columns", "city", "--check-max-unseen-rate", "0.5"]
    assert main(argv) == 0
    assert main(argv) == 0
    assert len(list((tmp_path / "m").glob("v*/model.json"))) == 2
