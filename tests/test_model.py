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
    assert visible == ["_version.json", "coef.npy", "model.json"]


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


def _set(*keys, value):
    def apply(meta):
        d = meta
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value

    return apply


def _del(key):
    return lambda meta: meta.pop(key)


# one malformed field family per case; each loaded, or failed with a TypeError, before
MALFORMED = {
    "format_version_string": (_set("format_version", value="2"), "format_version"),
    "format_version_bool": (_set("format_version", value=True), "format_version"),
    "three_classes": (_set("classes", "values", value=[0, 1, 2]), "classes.values"),
    "equal_classes": (_set("classes", "values", value=[1, 1]), "classes.values"),
    "class_kind_mismatch": (_set("classes", "values", value=["a", 1]), "classes.values"),
    "class_dtype_mismatch": (_set("classes", "dtype", value="<U5"), "classes.dtype"),
    "n_features_string": (_set("n_features_in", value="5"), "n_features_in"),
    "feature_names_count": (_set("feature_names", value=["a", "b"]), "feature_names"),
    "feature_names_type": (_set("feature_names", value=[1, 2, 3, 4, 5]), "feature_names"),
    "params_not_object": (_set("params", value=[]), "params"),
    "params_bad_C": (_set("params", "C", value="abc"), "params.C"),
    "params_bad_penalty": (_set("params", "penalty", value="l1"), "params.penalty"),
    "params_bad_max_iter": (_set("params", "max_iter", value=-5), "params.max_iter"),
    "history_not_list": (_set("history", value="abc"), "history"),
    "n_iter_string": (_set("n_iter", value="7"), "n_iter"),
    "n_iter_float": (_set("n_iter", value=2.5), "n_iter"),
    "n_iter_beyond_int32": (_set("n_iter", value=2**40), "n_iter"),  # was an OverflowError
    "converged_string": (_set("converged", value="no"), "converged"),
    "n_rows_negative": (_set("n_rows", value=-1), "n_rows"),
    "training_not_object": (_set("training", value=[]), "training"),
    "coef_list_mismatch": (_set("coef", value=[0.0] * 5), "coef"),
    "intercept_mismatch": (_set("intercept", value=123.0), "intercept"),
    "library_foreign": (_set("library", value="sklearn"), "library"),
    "required_missing": (_del("converged"), "converged"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_model_json_is_refused_naming_file_and_field(tmp_path, case):
    X, y, _ = make_logistic(n=300, seed=37)
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(5)])
    path = LogisticRegression().fit(df, y).save(tmp_path / "m")
    meta = json.loads((path / "model.json").read_text())
    damage, field = MALFORMED[case]
    damage(meta)
    (path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    msg = str(info.value)
    assert "model.json" in msg and f"'{field}'" in msg, msg


def test_coef_file_outside_the_model_directory_is_refused(tmp_path):
    X, y, _ = make_logistic(n=300, seed=38)
    path = LogisticRegression().fit(X, y).save(tmp_path / "m")
    (tmp_path / "elsewhere.npy").write_bytes((path / "coef.npy").read_bytes())
    meta = json.loads((path / "model.json").read_text())
    meta["coef_file"] = "../elsewhere.npy"
    (path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="'coef_file'"):
        load_model(path)


def test_unknown_extra_fields_in_model_json_are_tolerated(tmp_path):
    X, y, _ = make_logistic(n=300, seed=39)
    model = LogisticRegression().fit(X, y)
    path = model.save(tmp_path / "m")
    meta = json.loads((path / "model.json").read_text())
    meta["added_by_a_later_release"] = {"anything": [1, 2]}
    (path / "model.json").write_text(json.dumps(meta))
    np.testing.assert_array_equal(load_model(path).coef_, model.coef_)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int64", "uint64"])
def test_small_integer_labels_round_trip(tmp_path, dtype):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(dtype)
    model = LogisticRegression().fit(X, y)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.classes_.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
