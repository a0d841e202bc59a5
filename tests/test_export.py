"""Export: a fitted scikit-learn estimator (to_sklearn) and an ONNX graph, against predict_proba."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from logloss.cli import main
from logloss.estimator import LogisticRegression, load_model


def cancer():
    return load_breast_cancer(return_X_y=True)


@pytest.mark.parametrize(
    "kw", [{}, {"C": np.inf}, {"C": 0.2, "l1_ratio": 0.5}, {"fit_intercept": False}]
)
def test_to_sklearn_predicts_the_same_probabilities(kw):
    from sklearn.linear_model import LogisticRegression as SkLR

    X, y = cancer()
    model = LogisticRegression(tol=1e-8, max_iter=500, **kw).fit(X, y)
    est = model.to_sklearn()
    assert isinstance(est, SkLR)
    np.testing.assert_allclose(est.predict_proba(X), model.predict_proba(X), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(est.predict(X), model.predict(X))


def test_to_sklearn_of_an_encoded_model_is_a_pipeline_on_the_input_columns():
    df = pd.read_parquet("data/penguins.parquet")
    y = df.pop("adelie")
    model = LogisticRegression(missing="impute", min_frequency=3, C=0.5, tol=1e-10).fit(df, y)
    pipe = model.to_sklearn()
    frame = df.copy()
    for c in ("island", "sex"):
        values = [None if pd.isna(v) else v for v in df[c].astype(object)]
        frame[c] = pd.Series(values, index=df.index, dtype=object)
    np.testing.assert_allclose(
        pipe.predict_proba(frame), model.predict_proba(df), rtol=0, atol=1e-12
    )
    names = [n.split("__", 1)[1] for n in pipe[0].get_feature_names_out()]
    assert len(names) == len(model.feature_names_out_)


def test_saved_model_round_trips_to_sklearn(tmp_path):
    X, y = cancer()
    model = LogisticRegression(tol=1e-8, max_iter=500).fit(X, y)
    model.save(tmp_path / "m")
    est = load_model(tmp_path / "m").to_sklearn()
    np.testing.assert_allclose(est.predict_proba(X), model.predict_proba(X), atol=1e-12)


def test_onnx_export_runs_in_onnxruntime(tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    out = tmp_path / "m"
    args = ["train", "data/breast_cancer.parquet", "--label", "target", "--standardize"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    onnx_file = tmp_path / "m.onnx"
    assert main(["export", str(out), str(onnx_file)]) == 0
    session = ort.InferenceSession(onnx_file.read_bytes())
    frame = pd.read_parquet("data/breast_cancer.parquet")
    X = frame.drop(columns="target").to_numpy()
    label, proba = session.run(None, {"X": X})
    model = load_model(out)
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(label, model.predict(X))
    # an existing file is refused, and nothing is written over it
    before = onnx_file.read_bytes()
    with pytest.raises(SystemExit) as info:
        main(["export", str(out), str(onnx_file)])
    assert info.value.code == 2 and onnx_file.read_bytes() == before


def test_onnx_export_of_an_encoded_model_runs_in_onnxruntime(tmp_path, capsys):
    """An encoded model (imputed numbers, categories with a null level) exports: one
    input per column, probabilities equal to predict_proba (a null given as "(null)")."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    out = tmp_path / "m"
    args = ["train", "data/penguins.parquet", "--label", "adelie", "--missing", "impute"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["export", str(out), str(tmp_path / "m.onnx")]) == 0
    model = load_model(out)
    frame = pd.read_parquet("data/penguins.parquet").drop(columns="adelie")
    feed = {}
    for c in model.encoding_.columns:
        values = frame[c.name]
        if c.kind == "numeric":
            feed[c.name] = values.to_numpy(np.float64).reshape(-1, 1)
        else:
            text = ["(null)" if pd.isna(v) else str(v) for v in values.tolist()]
            feed[c.name] = np.asarray(text, dtype=object).reshape(-1, 1)
    session = ort.InferenceSession((tmp_path / "m.onnx").read_bytes())
    prob = session.run(["probabilities"], feed)[0]
    np.testing.assert_allclose(prob, model.predict_proba(frame), rtol=0, atol=1e-6)
