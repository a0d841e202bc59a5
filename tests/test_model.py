"""Model files: plain JSON + .npy, atomic writes, exact round trips, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_logistic

from logloss import LogisticRegression, ModelFileError, load_model


@pytest.mark.parametrize(
    "labels", [None, np.array(["benign", "malignant"]), np.array([False, True])]
)
def test_save_load_round_trip_reproduces_predict_proba_exactly(tmp_path, labels):
    X, y, _ = make_logistic(n=600, seed=31)
    if labels is not None:
        y = labels[y]
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(5)])
    model = LogisticRegression(C=0.7, class_weight="balanced", standardize=True).fit(df, y)
    path = model.save(tmp_path / "m")
    back = load_model(path)
    np.testing.assert_array_equal(back.predict_proba(df), model.predict_proba(df))
    np.testing.assert_array_equal(back.predict(df), model.predict(df))
    np.testing.assert_array_equal(back.classes_, model.classes_)
    assert list(back.feature_names_in_) == list(df.columns)
    assert back.get_params() == model.get_params()
    assert back.history_ == model.history_
    assert back.n_iter_[0] == model.n_iter_[0]
    meta = json.loads((path / "model.json").read_text())
    assert meta["format"] == "logloss-model" and meta["version"]
    visible = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
    assert visible == ["coef.npy", "model.json"]


def test_infinite_C_and_dict_class_weight_survive_json(tmp_path):
    X, y, _ = make_logistic(n=300, seed=32)
    model = LogisticRegression(C=np.inf, class_weight={0: 2.0, 1: 1.0}).fit(X, y)
    back = load_model(model.save(tmp_path / "m"))
    assert back.C == np.inf and back.class_weight == {0: 2.0, 1: 1.0}


def test_save_replaces_an_existing_model_and_leaves_no_temporaries(tmp_path):
    X, y, _ = make_logistic(n=300, seed=33)
    a = LogisticRegression(C=0.01).fit(X, y)
    b = LogisticRegression(C=10.0).fit(X, y)
    a.save(tmp_path / "m")
    b.save(tmp_path / "m")
    np.testing.assert_array_equal(load_model(tmp_path / "m").coef_, b.coef_)
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_a_failed_save_leaves_nothing_half_written(tmp_path):
    X, y, _ = make_logistic(n=300, seed=34)
    model = LogisticRegression().fit(X, y)

    def boom(_tmp):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        model.save(tmp_path / "m", extra=boom)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "damage,match",
    [
        (lambda p: (p / "coef.npy").write_bytes(b"\x93NUMPY garbage"), "corrupt"),
        (lambda p: (p / "model.json").write_text("{not json"), "not valid JSON"),
        (
            lambda p: (p / "model.json").write_text('{"format": "something-else"}'),
            "not a logloss model",
        ),
        (lambda p: (p / "coef.npy").unlink(), "cannot read coefficients"),
        (lambda p: (p / "model.json").unlink(), "no model.json"),
    ],
)
def test_corrupt_or_foreign_model_files_give_clear_errors(tmp_path, damage, match):
    X, y, _ = make_logistic(n=300, seed=35)
    path = LogisticRegression().fit(X, y).save(tmp_path / "m")
    damage(path)
    with pytest.raises(ModelFileError, match=match):
        load_model(path)


def test_missing_model_directory(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nope")


def test_pickled_arrays_are_never_loaded(tmp_path):
    X, y, _ = make_logistic(n=300, seed=36)
    path = LogisticRegression().fit(X, y).save(tmp_path / "m")
    import hashlib
    import io

    buf = io.BytesIO()
    np.save(buf, np.array([object(), 1], dtype=object), allow_pickle=True)
    data = buf.getvalue()
    (path / "coef.npy").write_bytes(data)
    meta = json.loads((path / "model.json").read_text())
    meta["coef_sha256"] = hashlib.sha256(data).hexdigest()  # even with a matching hash
    (path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="corrupt"):
        load_model(path)
