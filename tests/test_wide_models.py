"""Wide models: 2^24 coefficients saved, loaded and served (binary coef.npy, read in place).

The seconds are printed (run with ``-s``), never asserted; the sizes on disk are asserted
(coef.npy is the 8-byte coefficients and a header, model.json stays small).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.special import expit

from logloss import LogisticRegression
from logloss.coded import CodedMatrix
from logloss.fitting import FitResult
from logloss.storage import ModelFileError

P = 2**24


def _wide_model(p: int, seed: int = 0) -> LogisticRegression:
    """A fitted model of ``p`` coefficients built through ``set_fitted`` (no data)."""
    rng = np.random.default_rng(seed)
    result = FitResult(
        coef=rng.normal(0.0, 0.1, size=(1, p)),
        intercept=np.array([-0.25]),
        n_iter=7,
        converged=True,
        stop_reason="synthetic",
        history=(),
        n_passes=8,
        n_sample_passes=0,
        solver="lbfgs",
        data_storage=None,
        badly_scaled=(),
        resumed_from_iter=None,
        n_rows=1000,
        classes=np.array([0, 1]),
        n_features=p,
        feature_names=None,
        encoding=None,
    )
    return LogisticRegression(C=0.5).set_fitted(result)


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
