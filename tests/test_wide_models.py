"""Wide models: 2^24 coefficients saved, loaded and served (binary coef.npy, read in place).

The seconds are printed (run with ``-s``), never asserted; the sizes on disk are asserted
(coef.npy is the 8-byte coefficients and a header, model.json stays small).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from fitted import fitted_model
from scipy.special import expit

from logloss import LogisticRegression
from logloss.coded import CodedMatrix
from logloss.storage import ModelFileError

P = 2**24


def _wide_model(p: int, seed: int = 0) -> LogisticRegression:
    """A fitted model of ``p`` coefficients built through ``set_fitted`` (no data)."""
    return fitted_model(p, seed=seed)


def _rows(p: int, n: int, k: int, seed: int = 1) -> CodedMatrix:
    """``n`` rows of ``k`` code columns over [0, p) (each column its own range)."""
    rng = np.random.default_rng(seed)
    bounds = np.linspace(0, p, k + 1).astype(int)
    codes = np.column_stack([rng.integers(bounds[j], bounds[j + 1], n) for j in range(k)])
    return CodedMatrix(np.zeros((n, 0)), np.asfortranarray(codes, dtype=np.int32), bounds)


def test_model_of_2_24_coefficients_saves_loads_and_serves(tmp_path):
    model = _wide_model(P)
    t = time.perf_counter()
    version = model.save(tmp_path / "m")
    saved = time.perf_counter() - t
    t = time.perf_counter()
    back = LogisticRegression.load(tmp_path / "m")
    loaded = time.perf_counter() - t
    coef_bytes = (version / "coef.npy").stat().st_size
    json_bytes = (version / "model.json").stat().st_size
    print(
        f"\n2^24 coefficients: saved in {saved:.3f} s, loaded in {loaded:.3f} s; "
        f"coef.npy {coef_bytes / 2**20:.1f} MiB, model.json {json_bytes / 2**10:.1f} KiB"
    )
    assert 8 * (P + 1) <= coef_bytes <= 8 * (P + 1) + 4096  # the float64 values and a header
    assert json_bytes < 64 * 2**10
    assert back.coef_.shape == (1, P) and back.n_features_in_ == P
    np.testing.assert_array_equal(back.coef_, model.coef_)
    np.testing.assert_array_equal(back.intercept_, model.intercept_)

    X = _rows(P, 6, 26)
    t = time.perf_counter()
    proba = back.predict_proba(X)
    served = time.perf_counter() - t
    print(f"predict_proba on {len(X)} rows of 26 codes: {served * 1e3:.2f} ms")
    w = model.coef_[0]
    want = expit(w[X.codes].sum(axis=1) + model.intercept_[0])  # the NumPy reference
    np.testing.assert_allclose(proba[:, 1], want, rtol=1e-12)
    np.testing.assert_array_equal(proba, model.predict_proba(X))
    np.testing.assert_array_equal(back.predict(X), model.predict(X))


def test_wide_coef_file_cut_short_or_padded_is_refused(tmp_path):
    model = _wide_model(2**16)
    version = model.save(tmp_path / "m")
    coef = version / "coef.npy"
    data = coef.read_bytes()
    coef.write_bytes(data[:-8])
    with pytest.raises(ModelFileError, match=r"coef.npy' is corrupt: \d+ bytes of data"):
        LogisticRegression.load(version)
    coef.write_bytes(data + b"\0")
    with pytest.raises(ModelFileError, match="bytes of data, expected"):
        LogisticRegression.load(version)
    coef.write_bytes(data)
    np.testing.assert_array_equal(LogisticRegression.load(version).coef_, model.coef_)


# ------------------------------------------------------------------ the reduction
def _id_parquet(path, levels: int, repeat: int, files: int, seed: int = 0):
    """A click-log-like table: one id column of ``levels`` distinct strings (each ``repeat``
    times), one numeric column, a label; in ``files`` files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.repeat(np.arange(levels), repeat))
    n = len(ids)
    x = rng.normal(size=n)
    y = (rng.random(n) < expit(0.5 * x + np.where(ids % 3 == 0, 1.0, -1.0))).astype(np.int8)
    path.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(n), files)):
        table = pa.table(
            {"user": pa.array([f"u{v}" for v in ids[rows]]), "x": x[rows], "label": y[rows]}
        )
        pq.write_table(table, path / f"part-{i}.parquet", row_group_size=len(rows) // 2 + 1)
    return path


def _reference_sums(ds, w):
    """Loss sum, weight sum and gradient by scipy.sparse over the whole one-hot matrix."""
    import scipy.sparse as sp

    from logloss.coded import concat

    X = concat([b for b in ds.X.to_delayed().ravel().tolist() for b in [b.compute()]])
    y = np.asarray(ds.y.compute() == 1, dtype=np.float64)
    n, p = X.shape
    rows = np.repeat(np.arange(n), X.codes.shape[1])
    v = np.ones(X.codes.size) if X.vals is None else X.vals.ravel().astype(np.float64)
    onehot = sp.csr_matrix((v, (rows, X.codes.ravel())), shape=(n, p)).tolil()
    onehot[:, : X.dense.shape[1]] = X.dense
    onehot = onehot.tocsr()
    z = onehot @ w[:p] + w[p]
    r = expit(z) - y
    loss = float(np.sum(np.logaddexp(0, z) - y * z))
    return np.concatenate([[loss, n], onehot.T @ r, [r.sum()]])


@pytest.mark.parametrize("levels", [2**16 + 500, 300])
def test_one_partial_per_worker_reaches_the_client(tmp_path, levels):
    """A pass over coded blocks on a 2-worker, 2-thread cluster: one task per worker thread,
    each accumulating its blocks into one vector; from 2^16 features on the client receives
    one partial per worker (combined on the worker), below it one per task. The sums equal
    a scipy.sparse reference."""
    from distributed import Client, LocalCluster

    from logloss.blockdata import WORKER_COMBINE_FEATURES, BlockData
    from logloss.data import read_parquet

    path = _id_parquet(tmp_path / "clicks", levels, 2, 4)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        ds = read_parquet(path, "label", block_bytes=1)
        p = ds.n_features
        assert ds.X.numblocks[0] == 8 and (p >= WORKER_COMBINE_FEATURES) == (levels > 2**16)
        data = BlockData(ds.X, (ds.y == 1).astype(float), storage="persist")
        w = np.random.default_rng(1).normal(scale=0.1, size=p + 1)
        got = data.sums(w)
        tasks, partials = data.last_pass["tasks"], data.last_pass["partials"]
        workers = data.last_pass["workers"]  # the workers the tasks went to
        print(f"\np = {p:,}: {tasks} tasks, {partials} partials, {data.last_pass['bytes']:,} bytes")
        holding = [
            a for a, keys in client.has_what().items() if any("block" in str(k) for k in keys)
        ]
        assert workers == len(holding) and 1 <= workers <= 2  # where the blocks were persisted
        assert workers <= tasks <= 4  # at most one per worker thread
        assert partials == (workers if p >= WORKER_COMBINE_FEATURES else tasks)
        assert data.last_pass["bytes"] == partials * (p + 3) * 8 <= 2 * workers * (p + 3) * 8
        np.testing.assert_allclose(got, _reference_sums(ds, w), rtol=1e-9, atol=1e-9)
        data.release()


def test_a_vocabulary_of_200k_levels_saves_loads_and_serves(tmp_path):
    """An encoded model (two numeric columns, an id column of 200,000 levels and an
    "(infrequent)" one): model.json is written on one line (json's C encoder) above
    COMPACT_FEATURES coefficients; the loaded model predicts as the saved one on a frame."""
    import pandas as pd

    from logloss.data.encoding import CATEGORICAL, NUMERIC, ColumnCode, Encoding
    from logloss.storage.files import COMPACT_FEATURES

    levels = tuple(f"u{i:07d}" for i in range(200_000))
    enc = Encoding(
        (
            ColumnCode("a", NUMERIC, mean=0.5),
            ColumnCode("b", NUMERIC, mean=1.0, indicator=True),
            ColumnCode("user", CATEGORICAL, levels, ("rare",)),
        ),
        "impute",
    )
    p = enc.width
    model = _wide_model(p)
    model.set_features(model.classes_, p, np.asarray(enc.feature_names, dtype=object), enc)
    t = time.perf_counter()
    version = model.save(tmp_path / "m")
    saved = time.perf_counter() - t
    t = time.perf_counter()
    back = LogisticRegression.load(tmp_path / "m")
    loaded = time.perf_counter() - t
    text = (version / "model.json").read_bytes()
    print(
        f"\n{p:,} coefficients, vocabulary of {len(levels):,}: saved in {saved:.3f} s, "
        f"loaded in {loaded:.3f} s; model.json {len(text) / 2**20:.1f} MiB, coef.npy "
        f"{(version / 'coef.npy').stat().st_size / 2**20:.1f} MiB"
    )
    assert p > COMPACT_FEATURES and text.count(b"\n") == 1
    assert list(back.feature_names_in_) == enc.feature_names
    frame = pd.DataFrame(
        {"a": [0.1, -1.0, 2.0], "b": [1.0, np.nan, 0.0], "user": ["u0000007", "zzz", "u0199999"]}
    )
    np.testing.assert_array_equal(back.predict_proba(frame), model.predict_proba(frame))
    j = [enc.feature_names.index(f"user={u}") for u in ("u0000007", "u0199999")]
    w, b = model.coef_[0], model.intercept_[0]
    want = [  # by hand: a, b (imputed 1.0 and its indicator), the user's coefficient
        0.1 * w[0] + 1.0 * w[1] + w[j[0]] + b,
        -1.0 * w[0] + 1.0 * w[1] + w[2] + w[p - 1] + b,  # unseen -> (infrequent)
        2.0 * w[0] + w[j[1]] + b,
    ]
    np.testing.assert_allclose(back.decision_function(frame), want, rtol=1e-12)
