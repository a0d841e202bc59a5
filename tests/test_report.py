"""Report pictures, the convexity demonstration, the HTML page and the Markdown body."""

from __future__ import annotations

import base64
import html
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import dask.array as da
import matplotlib.image as mpimg
import numpy as np
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss as sk_log_loss

import logloss
from logloss import engine, loss, metrics, report
from logloss.model import ModelFileError, encode_labels, write_model_files
from logloss.outputs import is_logloss_output

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_problem(seed: int, n: int = 800, p: int = 3) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    w = rng.normal(scale=2.0, size=p)
    y = (rng.random(n) < expit(X @ w + 0.4)).astype(np.int64)
    model = LogisticRegression(C=1e4).fit(X, y)
    history = [
        {"iteration": i, "loss": 0.4 + 0.3 * 0.5**i, "grad_norm": 0.5**i, "step": 1.0, "seconds": i}
        for i in range(12)
    ]
    return {
        "X": X,
        "y": y,
        "coef": model.coef_.ravel(),
        "intercept": float(model.intercept_[0]),
        "proba": model.predict_proba(X)[:, 1],
        "history": history,
    }


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert len(data) > 5_000, path
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 150 and image.shape[1] > 150
    assert image.std() > 0.01  # not a blank canvas


def no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
def test_make_pictures_writes_five_valid_pngs(tmp_path: Path, as_dask: bool) -> None:
    prob = make_problem(seed=1)
    y, proba = prob["y"], prob["proba"]
    if as_dask:
        y, proba = da.from_array(y, chunks=300), da.from_array(proba, chunks=300)
    out = report.make_pictures(
        tmp_path / "pics",
        history=prob["history"],
        y_true=y,
        proba=proba,
        X_sample=prob["X"][:300],
        y_sample=prob["y"][:300],
        coef=prob["coef"],
        intercept=prob["intercept"],
    )
    assert out == {
        "loss_curve": "loss_curve.png",
        "roc": "roc.png",
        "calibration": "calibration.png",
        "logloss_branches": "logloss_branches.png",
        "convexity": "convexity.png",
    }
    for filename in out.values():
        assert_png(tmp_path / "pics" / filename)
    assert no_temp_files(tmp_path / "pics")


def test_plot_functions_tolerate_odd_input(tmp_path: Path) -> None:
    # Empty history, missing keys, a one-class evaluation set.
    assert_png(report.plot_loss_curve([], tmp_path / "empty.png"))
    assert_png(report.plot_loss_curve([{"loss": 0.7}, {"loss": 0.6}], tmp_path / "partial.png"))
    rng = np.random.default_rng(2)
    out = report.make_pictures(
        tmp_path,
        history=[{"iteration": 0, "loss": 0.69, "grad_norm": 0.1}],
        y_true=np.ones(50, dtype=int),
        proba=rng.random(50),
        X_sample=rng.normal(size=(50, 2)),
        y_sample=rng.integers(0, 2, 50),
        coef=np.zeros(2),
        intercept=0.0,
    )
    for filename in out.values():
        assert_png(tmp_path / filename)


def test_plot_roc_and_calibration_from_metrics(tmp_path: Path) -> None:
    prob = make_problem(seed=3)
    fpr, tpr, _ = metrics.roc_curve_points(prob["y"], prob["proba"])
    auc = metrics.roc_auc(prob["y"], prob["proba"])
    assert report.plot_roc(fpr, tpr, auc, tmp_path / "r.png") == tmp_path / "r.png"
    assert_png(tmp_path / "r.png")
    bins = metrics.calibration_bins(prob["y"], prob["proba"], n_bins=8)
    assert_png(report.plot_calibration(*bins, tmp_path / "c.png"))
    assert_png(report.plot_logloss_branches(tmp_path / "b.png"))


def second_differences(v: np.ndarray) -> np.ndarray:
    return v[2:] - 2 * v[1:-1] + v[:-2]


def test_log_loss_is_convex_and_mse_of_sigmoid_is_not() -> None:
    prob = make_problem(seed=4)
    X, y, coef, b = prob["X"], prob["y"], prob["coef"], prob["intercept"]
    ts = np.linspace(-3, 3, 121)
    ll, mse = report.losses_along_line(X, y, coef, b, ts)
    assert ll.shape == mse.shape == ts.shape
    # t = 1 is the fitted model: the loss equals scikit-learn's on its probabilities.
    i1 = int(np.argmin(np.abs(ts - 1.0)))
    assert ll[i1] == pytest.approx(sk_log_loss(y, prob["proba"]), rel=1e-9)
    assert (second_differences(ll) >= -1e-12).all()
    assert (second_differences(mse) < -1e-6).any()

    # Any line is fine for convexity: w_fit + t·d for random directions d.
    rng = np.random.default_rng(5)
    for _ in range(5):
        d = rng.normal(size=coef.shape[0] + 1)
        ll_d, _ = report.losses_along_line(X, y, coef, b, ts, direction=d)
        assert (second_differences(ll_d) >= -1e-12).all()
        # The fit is the minimiser (almost no penalty), so t = 0 is the lowest point.
        assert np.argmin(ll_d) == int(np.argmin(np.abs(ts)))


def test_losses_along_line_checks_shapes() -> None:
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="one entry per column"):
        report.losses_along_line(X, np.zeros(4), np.zeros(3), 0.0, [0.0])
    with pytest.raises(ValueError, match="direction"):
        report.losses_along_line(X, np.zeros(4), np.zeros(2), 0.0, [0.0], direction=np.ones(5))


def save_model(
    directory: Path,
    weights: np.ndarray,
    bias: float,
    extra: Any = None,
    **fields: Any,
) -> dict[str, Any]:
    """A real model directory (logloss.model.write_model_files); returns its metadata."""
    meta: dict[str, Any] = {
        "library": "logloss",
        "estimator": "LogisticRegression",
        "n_features_in": int(weights.shape[0]),
        "classes": encode_labels(np.array([0, 1])),
        "params": {},
        "n_iter": 0,
        "converged": True,
        **fields,
    }
    write_model_files(directory, meta, np.r_[weights, bias], extra=extra)
    return meta


def write_model_dir(directory: Path, prob: dict[str, Any], n_history: int = 12) -> dict[str, Any]:
    history = [
        {"iteration": i, "loss": 1.0 / (i + 1), "grad_norm": 2.0**-i, "step": 0.5, "seconds": 0.1}
        for i in range(n_history)
    ]
    evaluation = metrics.evaluate(prob["y"], prob["proba"])

    def extra(version: Path) -> None:
        (version / "metrics.json").write_text(json.dumps(evaluation))
        report.make_pictures(
            version,
            history=history,
            y_true=prob["y"],
            proba=prob["proba"],
            X_sample=prob["X"][:200],
            y_sample=prob["y"][:200],
            coef=prob["coef"],
            intercept=prob["intercept"],
        )

    model = save_model(
        directory,
        prob["coef"],
        prob["intercept"],
        extra,
        coef=prob["coef"].tolist(),
        intercept=prob["intercept"],
        feature_names=["age", "<b>income</b>", "tenure & more"],
        classes=encode_labels(np.array(["no", "yes"])),
        params={"solver": "lbfgs", "C": 1.0, "tol": 1e-8},
        n_iter=n_history,
        converged=True,
        history=history,
    )
    return {"model": model, "metrics": evaluation}


def test_html_report_holds_metrics_tables_and_embedded_pictures(tmp_path: Path) -> None:
    prob = make_problem(seed=6)
    written = write_model_dir(tmp_path, prob, n_history=100)
    path = report.write_html_report(tmp_path)
    assert path == tmp_path / "report.html"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")

    for key in ("log_loss", "accuracy", "roc_auc"):
        value = written["metrics"][key]
        assert f"<td>{key}</td><td>{value:.6g}</td>" in text
    assert f"<td>tp</td><td>{written['metrics']['tp']}</td>" in text
    # Settings and free-form fields are shown; text is escaped.
    assert "<td>solver</td><td>lbfgs</td>" in text
    assert "format_version" in text
    assert "<td>classes</td><td>[&quot;no&quot;, &quot;yes&quot;]</td>" in text
    assert html.escape("<b>income</b>") in text and "<b>income</b>" not in text
    assert "tenure &amp; more" in text

    # Coefficients sorted by |coef|.
    table = text.split('class="coefficients"')[1].split("</table>")[0]
    shown = [float(v) for v in re.findall(r"<tr><td>[^<]*</td><td>([^<]+)</td></tr>", table)]
    assert len(shown) == 3
    assert [abs(v) for v in shown] == sorted((abs(v) for v in shown), reverse=True)

    # Long history is truncated with a note.
    assert "100 iterations; showing the first and last 20" in text

    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", text)
    assert len(images) == 5
    assert all(base64.b64decode(data)[:8] == PNG_SIGNATURE for data in images)
    assert no_temp_files(tmp_path)


def test_html_report_of_a_minimal_model(tmp_path: Path) -> None:
    save_model(tmp_path / "m", np.array([0.5, -2.0]), 0.1)
    out = report.write_html_report(tmp_path / "m", tmp_path / "sub" / "page.html")
    text = out.read_text(encoding="utf-8")
    assert "No metrics.json" in text
    assert "<td>x1</td><td>-2.0</td>" in text
    assert "<td>intercept</td><td>0.1</td>" in text
    assert "data:image/png" not in text

    with pytest.raises(FileNotFoundError, match="model.json"):
        report.write_html_report(tmp_path / "sub")


def test_html_report_reads_the_model_only_through_the_verified_reader(tmp_path: Path) -> None:
    # A hand-written model.json (no format, no SHA-256) is not a model: no page.
    (tmp_path / "model.json").write_text(json.dumps({"coef": [[0.5, -2.0]], "intercept": [0.1]}))
    with pytest.raises(ModelFileError, match="not a logloss model"):
        report.write_html_report(tmp_path)
    assert not (tmp_path / "report.html").exists()

    # coef.npy changed behind model.json's back: the SHA-256 check refuses it.
    model = tmp_path / "model"
    save_model(model, np.array([0.25, -3.5]), 1.0)
    np.save((model / "coef.npy").resolve(), np.array([9.0, 9.0, 9.0]), allow_pickle=False)
    with pytest.raises(ModelFileError, match="SHA-256"):
        report.write_html_report(model, tmp_path / "page.html")
    assert not (tmp_path / "page.html").exists()


def test_html_report_has_a_generator_marker_the_cli_recognises(tmp_path: Path) -> None:
    save_model(tmp_path, np.array([1.0]), 0.0)
    page = report.write_html_report(tmp_path)
    head = page.read_text(encoding="utf-8").split("</head>")[0]
    assert head.count("name='generator'") == 1
    assert f"<meta name='generator' content='logloss {logloss.__version__}'>" in head
    assert report.GENERATOR == f"logloss {logloss.__version__}"
    assert is_logloss_output(page, "report")


def test_import_does_not_load_matplotlib() -> None:
    code = "import sys, logloss.report; print(sorted(m for m in sys.modules if 'matplotlib' in m))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


def test_log_loss_is_written_once() -> None:
    # Along a line the report uses the training loss (loss.row_loss); the picture of the
    # two branches uses metrics.row_log_loss; metrics reduces with the engine's _add.
    rng = np.random.default_rng(8)
    X, y = rng.normal(size=(50, 2)), rng.integers(0, 2, 50)
    coef, b = np.array([0.7, -1.2]), 0.3
    ll, _ = report.losses_along_line(X, y, coef, b, [1.0])
    assert ll[0] == np.mean(loss.row_loss(y, X @ coef + b))
    p = rng.random(50)
    np.testing.assert_allclose(
        metrics.row_log_loss(y.astype(float), p), -(y * np.log(p) + (1 - y) * np.log(1 - p))
    )
    assert metrics._add is engine._add
    package = Path(report.__file__).parent
    sources = [*package.glob("*.py"), Path(metrics.__file__)]
    for src in sources:
        text = src.read_text(encoding="utf-8")
        for formula in ("logaddexp", "np.log1p", "np.log(", "expit("):
            assert formula not in text, f"{src.name} computes {formula} itself"


def test_markdown_report() -> None:
    prob = make_problem(seed=7)
    evaluation = metrics.evaluate(prob["y"], prob["proba"])
    body = report.markdown_report(
        evaluation,
        {"solver": "gd", "learning_rate": 0.1, "note": "a|b"},
        {"roc": "https://example.org/roc.png", "convexity": "convexity.png"},
    )
    assert "| metric | value |" in body
    assert f"| log_loss | {evaluation['log_loss']:.6g} |" in body
    assert f"| roc_auc | {evaluation['roc_auc']:.6g} |" in body
    assert "| learning_rate | 0.1 |" in body
    assert "| note | a\\|b |" in body
    assert "![ROC curve](https://example.org/roc.png)" in body
    assert "(convexity.png)" in body
    # Undefined AUC shows as n/a.
    assert "| roc_auc | n/a |" in report.markdown_report({"roc_auc": None}, {}, {})


def test_the_settings_table_leaves_out_the_unused_deprecated_penalty(tmp_path):
    from logloss.estimator import LogisticRegression as Ours
    from logloss.report import markdown_report

    text = markdown_report({"log_loss": 0.1}, Ours().get_params(), {})
    assert "| C |" in text and "penalty" not in text
    given = markdown_report({"log_loss": 0.1}, Ours(None).get_params(), {})
    assert "| penalty |" in given
