"""Cross-validation (logloss.cv, LogisticRegressionCV, train --cv): every (fold, C) model in
the same passes, equal to scikit-learn's LogisticRegressionCV and to separate fits."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegressionCV as SkLogisticRegressionCV
from sklearn.metrics import log_loss
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

from logloss import LogisticRegression, LogisticRegressionCV
from logloss.cv import Folds, cv_block_sums, hashed_folds
from logloss.loss import block_sums, sigmoid
from logloss.storage.files import model_folder

# C values where no held-out probability saturates: scikit-learn's log_loss clips
# probabilities at machine epsilon, logloss's score is the exact log loss
CS = np.logspace(-3, 1, 6)


def _breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _wine() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_wine(return_X_y=True)
    keep = y < 2  # two classes
    return StandardScaler().fit_transform(X[keep]), y[keep]


def _sklearn_cv(X, y, splits, Cs):
    import inspect

    # scikit-learn >= 1.8 warns about attributes it will change: ask for today's layout
    known = inspect.signature(SkLogisticRegressionCV).parameters
    extra = {"use_legacy_attributes": True} if "use_legacy_attributes" in known else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SkLogisticRegressionCV(
            Cs=Cs,
            cv=splits,
            scoring="neg_log_loss",
            solver="newton-cholesky",
            tol=1e-12,
            max_iter=10_000,
            l1_ratios=None,
            **extra,
        ).fit(X, y)


@pytest.mark.parametrize("dataset", [_breast_cancer, _wine])
def test_equals_scikit_learn_logistic_regression_cv_on_its_own_splits(dataset):
    X, y = dataset()
    splits = list(KFold(5, shuffle=True, random_state=0).split(X))  # wine is sorted by class
    ours = LogisticRegressionCV(Cs=CS, cv=splits, tol=1e-10, max_iter=200).fit(X, y)
    ref = _sklearn_cv(X, y, splits, CS)
    key = ours.classes_[1]
    assert list(ours.scores_) == [key] == list(ref.scores_)
    assert ours.scores_[key].shape == ref.scores_[key].shape == (5, len(CS))
    assert ours.coefs_paths_[key].shape == ref.coefs_paths_[key].shape
    assert ours.n_iter_.shape == ref.n_iter_.shape
    np.testing.assert_allclose(ours.Cs_, ref.Cs_)
    np.testing.assert_array_equal(ours.C_, ref.C_)
    np.testing.assert_allclose(ours.scores_[key], ref.scores_[key], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.coefs_paths_[key], ref.coefs_paths_[key], rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)


def test_every_model_is_the_fit_on_its_folds_training_rows_and_its_score_the_held_out_loss():
    """Elastic net too: each (fold, C, l1_ratio) model equals a separate LogisticRegression
    on the fold's training rows, and its score is scikit-learn's log_loss on the fold."""
    X, y = _wine()
    splits = list(KFold(3, shuffle=True, random_state=0).split(X))
    Cs, ratios = [0.05, 0.5], [0.5, 1.0]
    cv = LogisticRegressionCV(Cs=Cs, l1_ratios=ratios, cv=splits, tol=1e-10).fit(X, y)
    scores, paths = cv.scores_[1], cv.coefs_paths_[1]
    assert scores.shape == (3, 2, 2) and paths.shape == (3, 2, 2, X.shape[1] + 1)
    for f, (train, test) in enumerate(splits):
        for i, C in enumerate(Cs):
            for j, r in enumerate(ratios):
                one = LogisticRegression(C=C, l1_ratio=r, tol=1e-10).fit(X[train], y[train])
                w = np.r_[one.coef_[0], one.intercept_]
                np.testing.assert_allclose(paths[f, i, j], w, atol=1e-7)
                assert np.array_equal(paths[f, i, j, :-1] == 0, one.coef_[0] == 0)
                p = sigmoid(X[test] @ paths[f, i, j, :-1] + paths[f, i, j, -1])
                held_out = -log_loss(y[test], p, labels=[0, 1])
                assert scores[f, i, j] == pytest.approx(held_out, abs=1e-12)
    best = np.unravel_index(np.argmax(scores.mean(axis=0)), scores.shape[1:])
    assert (cv.C_[0], cv.l1_ratio_[0]) == (Cs[best[0]], ratios[best[1]])
    assert cv.cv_["l1_ratios"] == ratios and len(cv.cv_["mean"]) == len(ratios)


def test_one_pass_sums_every_model_as_separate_block_sums():
    """cv_block_sums against block_sums model by model, with weights and hashed folds."""
    rng = np.random.default_rng(0)
    n, p, K = 3000, 4, 6
    X = rng.standard_normal((n, p))
    y = (rng.random(n) < 0.4).astype(np.float64)
    s = rng.random(n) + 0.5
    W = rng.standard_normal((p + 1, K))
    model_fold = np.array([0, 0, 1, 1, 2, 2])
    folds = Folds(3)
    hess = np.array([1, 4])
    packed = cv_block_sums(X, y, s, 10, W, model_fold, hess, folds)
    fold = hashed_folds(np.arange(10, 10 + n, dtype=np.uint64), 3)
    q = p + 1
    train = packed[: K * (2 + q)].reshape(K, 2 + q)
    held = packed[K * (2 + q) : K * (2 + q) + 2 * K].reshape(K, 2)
    H = packed[K * (2 + q) + 2 * K :].reshape(2, q, q)
    for k in range(K):
        rows = fold != model_fold[k]
        ref = block_sums(X[rows], y[rows], W[:, k], s[rows], hessian=True)
        np.testing.assert_allclose(train[k], ref[: 2 + q], rtol=1e-10, atol=1e-9)
        out = ~rows
        ref_held = block_sums(X[out], y[out], W[:, k], None)
        np.testing.assert_allclose(held[k], ref_held[:2], rtol=1e-12)
        if k in hess:
            j = int(np.flatnonzero(hess == k)[0])
            np.testing.assert_allclose(H[j].ravel(), ref[2 + q :], rtol=1e-10, atol=1e-9)


def test_hashed_folds_depend_on_the_row_position_only():
    positions = np.arange(100_000, dtype=np.uint64)
    fold = hashed_folds(positions, 5)
    counts = np.bincount(fold, minlength=5)
    assert counts.min() > 19_000 and counts.max() < 21_000  # about equal
    # a block starting anywhere gets the same folds for the same rows
    np.testing.assert_array_equal(hashed_folds(positions[12_345:20_000], 5), fold[12_345:20_000])
    tr, te = Folds(5).masks(12_345, 7_655)
    np.testing.assert_array_equal(te.argmax(axis=1), fold[12_345:20_000])
    np.testing.assert_array_equal(tr + te, np.ones_like(tr))


@pytest.mark.parametrize("chunks", [(50_000,), (7_000,), (33_333,)])
def test_dask_blocks_do_not_change_the_search(chunks):
    """Hashed folds on Dask data: whatever the blocks, the same folds, scores and refit;
    and the same as the in-memory search (40 000 rows: the warm-start path is taken)."""
    rng = np.random.default_rng(1)
    n, p = 40_000, 5
    X = rng.standard_normal((n, p))
    y = (rng.random(n) < sigmoid(X @ rng.standard_normal(p) - 0.3)).astype(int)
    ref = LogisticRegressionCV(Cs=[0.001, 0.1, 10], cv=4, tol=1e-9).fit(X, y)
    got = LogisticRegressionCV(Cs=[0.001, 0.1, 10], cv=4, tol=1e-9).fit(
        da.from_array(X, chunks=(chunks[0], p)), da.from_array(y, chunks=chunks[0])
    )
    np.testing.assert_allclose(got.scores_[1], ref.scores_[1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.coefs_paths_[1], ref.coefs_paths_[1], rtol=0, atol=1e-7)
    np.testing.assert_allclose(got.coef_, ref.coef_, atol=1e-7)
    # each fold model is the fit on the rows the hash keeps for training
    fold = hashed_folds(np.arange(n, dtype=np.uint64), 4)
    one = LogisticRegression(C=0.1, tol=1e-9).fit(X[fold != 2], y[fold != 2])
    np.testing.assert_allclose(
        got.coefs_paths_[1][2, 1], np.r_[one.coef_[0], one.intercept_], atol=1e-7
    )
    assert got.n_cv_passes_ < 12  # all 12 models advance together: a few passes in all


def test_saved_model_keeps_the_search_and_loads_as_a_logistic_regression(tmp_path):
    X, y = _breast_cancer()
    cv = LogisticRegressionCV(Cs=4, cv=3, tol=1e-8).fit(X, y)
    cv.save(tmp_path / "m")
    meta = json.loads((model_folder(tmp_path / "m") / "model.json").read_text())
    assert meta["params"]["C"] == cv.C_[0]
    assert meta["cv"]["Cs"] == list(cv.Cs_) and meta["cv"]["C"] == cv.C_[0]
    np.testing.assert_allclose(meta["cv"]["mean"], cv.scores_[1].mean(axis=0))
    loaded = LogisticRegression.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.coef_, cv.coef_)
    assert loaded.cv_ == cv.cv_
    meta["cv"] = {"Cs": "not a list"}
    (model_folder(tmp_path / "m") / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="field 'cv'"):
        LogisticRegression.load(tmp_path / "m")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"Cs": []}, "Cs is empty"),
        ({"Cs": [1.0, -2.0]}, "every C in Cs must be a finite number > 0; got -2.0"),
        ({"l1_ratios": [0.5, 1.5]}, "every l1_ratio must be between 0 and 1; got 1.5"),
        ({"cv": 400}, "cv=400 folds is more than the 212 rows of the smallest class"),
        ({"cv": [(np.arange(10), np.array([5, 9999]))]}, "test index 9999 is out of range"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, message):
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LogisticRegressionCV(**kwargs).fit(X, y)


def test_cli_train_cv_picks_the_c_the_estimator_picks_and_records_the_search(tmp_path, capsys):
    """`logloss train --cv 3 --Cs 5` on the shipped Parquet data: the same folds (hashed row
    positions), the same chosen C and the same refit as LogisticRegressionCV in memory."""
    import pandas as pd

    from logloss.cli import main

    data = Path(__file__).resolve().parent.parent / "data" / "breast_cancer.parquet"
    out = tmp_path / "m"
    argv = ["train", str(data), "--label", "target", "--standardize", "--cv", "3", "--Cs", "5"]
    assert main([*argv, "--tol", "1e-8", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    frame = pd.read_parquet(data)
    X, y = frame.drop(columns="target").to_numpy(), frame["target"].to_numpy()
    ref = LogisticRegressionCV(Cs=5, cv=3, standardize=True, tol=1e-8).fit(X, y)
    assert summary["cv"]["C"] == ref.C_[0] and summary["cv"]["folds"] == 3
    meta = json.loads((model_folder(out) / "model.json").read_text())
    assert meta["params"]["C"] == ref.C_[0] and meta["cv"] == summary["cv"]
    np.testing.assert_allclose(meta["cv"]["mean"], ref.scores_[1].mean(axis=0), atol=1e-9)
    saved = LogisticRegression.load(out)  # coefficients live in coef.npy, not model.json
    np.testing.assert_allclose(saved.coef_[0], ref.coef_[0], rtol=1e-6, atol=1e-8)
    # a search cannot be checkpointed: refused before anything runs
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--out", str(tmp_path / "m2"), "--checkpoint", str(tmp_path / "ck")])
    assert exit_info.value.code == 2 and not (tmp_path / "m2").exists()
    assert "--checkpoint cannot go with --cv" in capsys.readouterr().err


def test_a_refit_on_numeric_data_forgets_an_earlier_encoding():
    """The search prepares its data as fit does: a DataFrame's encoding is learned and kept,
    and fitting the same estimator on plain arrays afterwards drops it."""
    import pandas as pd

    X, y = _breast_cancer()
    frame = pd.DataFrame(X[:, :3], columns=["a", "b", "c"]).assign(
        g=np.where(X[:, 3] > 0, "hi", "lo")
    )
    cv = LogisticRegressionCV(Cs=3, cv=3).fit(frame, y)
    assert list(cv.feature_names_out_) == ["a", "b", "c", "g=hi", "g=lo"]
    assert hasattr(cv, "encoding_")
    cv.fit(X[:, :3], y)
    assert not hasattr(cv, "encoding_") and cv.n_features_in_ == 3
    np.testing.assert_allclose(cv.predict_proba(X[:, :3]).sum(axis=1), 1.0)
