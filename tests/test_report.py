"""Report pictures, the convexity demonstration, the HTML page and the Markdown body."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
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
from logloss import blockdata, loss, metrics, report
from logloss.storage import ModelFileError, encode_labels, is_logloss_output
from logloss.storage import save_model as write_model_files

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
def test_make_pictures_writes_every_picture_as_a_valid_png(tmp_path: Path, as_dask: bool) -> None:
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
    assert out == {k: v for k, v in report.PICTURES.items() if k != "cv"}  # cv: only with CV
    assert list(out) == [k for k in report.PICTURES if k != "cv"]  # in the page's order
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
    bins = metrics.calibration_quantile_bins(prob["y"], prob["proba"], n_bins=8)
    assert_png(report.plot_calibration(bins, tmp_path / "c.png"))
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
    """A real model (logloss.storage.save_model), as a plain folder: the files of the
    version it saved, copied into ``directory``; returns its metadata."""
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
    location = directory.with_name(directory.name + "-location")
    version = write_model_files(location, meta, np.r_[weights, bias], extra=extra)
    shutil.copytree(version, directory, dirs_exist_ok=True)
    shutil.rmtree(location)
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
    assert "<th>classes</th><td>no / yes (positive)</td>" in text
    assert html.escape("<b>income</b>") in text and "<b>income</b>" not in text
    assert "tenure &amp; more" in text

    # Without the data's statistics: coefficients sorted by |coef|, and the page says so.
    table = text.split('class="coefficients"')[1].split("</table>")[0]
    shown = [float(v) for v in re.findall(r'<tr><td>[^<]*</td><td class="num">([^<]+)</td>', table)]
    assert len(shown) == 4  # three features, then the intercept
    assert shown[3] == pytest.approx(written["model"]["intercept"], rel=1e-3)
    assert [abs(v) for v in shown[:3]] == sorted((abs(v) for v in shown[:3]), reverse=True)
    assert "sorted by the size of the coefficient" in text.lower()

    # Long history is truncated with a note.
    assert "100 iterations; showing the first and last 20" in text

    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == len(report.PICTURES) - 1  # all but the cross-validation picture
    assert all(base64.b64decode(data)[:8] == PNG_SIGNATURE for data in images)
    assert no_temp_files(tmp_path)


def test_html_report_of_a_minimal_model(tmp_path: Path) -> None:
    save_model(tmp_path / "m", np.array([0.5, -2.0]), 0.1)
    out = report.write_html_report(tmp_path / "m", tmp_path / "sub" / "page.html")
    text = out.read_text(encoding="utf-8")
    assert "No metrics.json" in text
    assert '<td>x1</td><td class="num">-2</td>' in text
    assert '<td>intercept</td><td class="num">0.1</td>' in text
    assert "data:image/png" not in text

    with pytest.raises(FileNotFoundError, match="model.json"):
        report.write_html_report(tmp_path / "sub")


def test_html_report_reads_the_model_only_through_the_verified_reader(tmp_path: Path) -> None:
    # A hand-written model.json (no format, no SHA-256) is not a model: no page.
    (tmp_path / "model.json").write_text(json.dumps({"coef": [[0.5, -2.0]], "intercept": [0.1]}))
    with pytest.raises(ModelFileError, match="not a logloss model"):
        report.write_html_report(tmp_path)
    assert not (tmp_path / "report.html").exists()

    # coef.npy changed behind model.json's back: its header's shape is checked first.
    model = tmp_path / "model"
    save_model(model, np.array([0.25, -3.5]), 1.0)
    np.save((model / "coef.npy").resolve(), np.array([9.0, 9.0, 9.0, 9.0]), allow_pickle=False)
    with pytest.raises(ModelFileError, match="corrupt"):
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
    assert metrics._add is blockdata._add
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


# ----------------------------------------------------------- the redesigned report
def breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return X, y


@pytest.mark.parametrize(
    "settings",
    [
        {"standardize": True},
        {"standardize": True, "l1_ratio": 0.5, "C": 0.5},
        {"standardize": True, "solver": "lbfgs"},
        {"standardize": True, "solver": "gd", "max_iter": 30},
        {"standardize": True, "C": np.inf, "max_iter": 20},
    ],
    ids=["l2-newton", "elasticnet-prox", "lbfgs", "gd", "no-penalty"],
)
def test_history_records_the_training_log_loss_next_to_the_objective(settings) -> None:
    import warnings

    X, y = breast_cancer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gd and the unpenalised fit stop at max_iter
        model = logloss.LogisticRegression(**settings).fit(X, y)
    last = model.history_[-1]
    want = sk_log_loss(y, model.predict_proba(X)[:, 1])
    assert last["log_loss"] == pytest.approx(want, rel=1e-9)
    if np.isfinite(model.C):
        assert all(h["loss"] > h["log_loss"] for h in model.history_)  # the penalty is > 0
    else:
        assert all(h["loss"] == h["log_loss"] for h in model.history_)
    # the step column holds each iteration's real move (lbfgs recorded 0.0 before)
    assert all(h["step"] > 0 for h in model.history_)


def test_log_loss_in_the_history_is_the_objective_minus_the_l2_penalty() -> None:
    prob = make_problem(seed=21)
    C = 0.05
    model = logloss.LogisticRegression(C=C, tol=1e-10).fit(prob["X"], prob["y"])
    last = model.history_[-1]
    n = prob["X"].shape[0]
    penalty = 0.5 * float(model.coef_[0] @ model.coef_[0]) / (C * n)
    assert last["loss"] - last["log_loss"] == pytest.approx(penalty, rel=1e-9)


def legend_texts(fig: Any) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]


def test_loss_curve_plots_the_log_loss_and_labels_the_objective_as_a_second_line() -> None:
    from logloss.report.plots import loss_curve_figure

    X, y = breast_cancer()
    model = logloss.LogisticRegression(standardize=True).fit(X, y)
    fig = loss_curve_figure(model.history_)
    texts = legend_texts(fig)
    assert texts[:2] == ["training log loss", "penalised objective (log loss + penalty)"]
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    np.testing.assert_array_equal(
        lines["training log loss"].get_ydata(), [h["log_loss"] for h in model.history_]
    )
    np.testing.assert_array_equal(
        lines["penalised objective (log loss + penalty)"].get_ydata(),
        [h["loss"] for h in model.history_],
    )
    # without a penalty the two are one line, said so; an old history has only the objective
    same = [{**h, "loss": h["log_loss"]} for h in model.history_]
    assert legend_texts(loss_curve_figure(same))[0] == "training log loss (no penalty: = objective)"
    old = [{k: v for k, v in h.items() if k != "log_loss"} for h in model.history_]
    assert "log loss not recorded" in legend_texts(loss_curve_figure(old))[0]


def write_assets_for(
    directory: Path,
    model: Any,
    X: np.ndarray,
    y: np.ndarray,
    proba: np.ndarray | None = None,
    **evaluation: Any,
) -> dict[str, Any]:
    from logloss.report.assets import write_assets

    y01 = (y == model.classes_[1]).astype(float)
    return write_assets(
        directory,
        model,
        y_true=y01,
        proba=model.predict_proba(X)[:, 1] if proba is None else proba,
        sample_weight=None,
        X=X,
        evaluation={"data": "bc.parquet", "rows": len(y), "held_out": None, **evaluation},
        train=(X, y, None),
    )


@pytest.mark.parametrize("l1_ratio", [0.0, 1.0], ids=["l2", "l1"])
def test_coefficients_are_the_summary_sorted_by_z_in_both_units(tmp_path, l1_ratio) -> None:
    X, y = breast_cancer()
    model = logloss.LogisticRegression(standardize=True, C=0.5, l1_ratio=l1_ratio).fit(X, y)
    done = write_assets_for(tmp_path, model, X, y)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["coefficients"] == json.loads(json.dumps(done["report"]["coefficients"]))
    coefs = saved["coefficients"]
    rows = coefs["rows"]
    table = model.summary(X, y).drop(index="intercept")
    want = table.reindex(table["z"].abs().sort_values(ascending=False).index)
    assert [r["feature"] for r in rows] == list(want.index)
    assert coefs["sorted_by"] == "z" and coefs["approximate"] is True  # penalised
    sd = dict(zip([f"x{j}" for j in range(X.shape[1])], X.std(axis=0), strict=True))
    for r in rows:
        ref = want.loc[r["feature"]]
        for key in ("coef", "std_err", "z", "p_value", "ci_low", "ci_high"):
            assert r[key] == pytest.approx(ref[key], rel=1e-12), key
        assert r["std_coef"] == pytest.approx(ref["coef"] * sd[r["feature"]], rel=1e-12)
        assert r["std_ci_low"] == pytest.approx(ref["ci_low"] * sd[r["feature"]], rel=1e-12)
    if l1_ratio:  # only the non-zero coefficients
        assert len(rows) == np.count_nonzero(model.coef_) < X.shape[1]
    else:
        assert len(rows) == X.shape[1]
    assert_png(tmp_path / "coefficients.png")
    # the metrics written are those of the evaluation rows
    got = json.loads((tmp_path / "metrics.json").read_text())
    assert got["log_loss"] == pytest.approx(sk_log_loss(y, model.predict_proba(X)[:, 1]))


def test_coefficient_rows_without_statistics_sort_by_standardised_size() -> None:
    rows, by = report.coefficient_rows(["a", "b", "c"], [10.0, -1.0, 0.5], column_std=[0.01, 1, 4])
    assert by == "standardised"
    assert [r["feature"] for r in rows] == ["c", "b", "a"]  # |std coef| = 2, 1, 0.1
    assert rows[0]["std_coef"] == 2.0 and rows[0]["ci_low"] is None
    rows, by = report.coefficient_rows(["a", "b"], [0.0, -3.0], l1=True)
    assert by == "coef" and [r["feature"] for r in rows] == ["b"]
    with pytest.raises(ValueError, match="one name per coefficient"):
        report.coefficient_rows(["a"], [1.0, 2.0])


CV_TABLE = {
    "folds": 5,
    "scoring": "neg_log_loss",
    "Cs": [0.01, 0.1, 1.0, 10.0, 100.0],
    "l1_ratios": None,
    "mean": [-0.41, -0.17, -0.09, -0.1, -0.13],
    "std_err": [0.02, 0.01, 0.012, 0.015, 0.03],
    "C": 1.0,
    "l1_ratio": 0.0,
}


def test_cv_picture_and_table_from_a_hand_written_cv_entry(tmp_path) -> None:
    from logloss.report.plots import plot_cv

    X, y = breast_cancer()
    model = logloss.LogisticRegression(standardize=True).fit(X, y)
    multi = {
        **CV_TABLE,
        "l1_ratios": [0.0, 0.5],
        "mean": [CV_TABLE["mean"], [-0.4, -0.15, -0.08, -0.11, -0.14]],
        "std_err": [CV_TABLE["std_err"]] * 2,
        "l1_ratio": 0.5,
    }
    for i, cv in enumerate([CV_TABLE, multi]):
        assert_png(plot_cv(cv, tmp_path / f"cv{i}.png"))
    with pytest.raises(ValueError, match="one value per C"):
        plot_cv({**CV_TABLE, "mean": [-0.1, -0.2]}, tmp_path / "bad.png")

    def extra(version: Path) -> None:
        model.cv_ = CV_TABLE
        write_assets_for(version, model, X, y)

    save_model(
        tmp_path / "m",
        model.coef_[0],
        float(model.intercept_[0]),
        extra,
        cv=CV_TABLE,
        params={"C": 1.0},
    )
    assert_png(tmp_path / "m" / "cv.png")
    text = report.write_html_report(tmp_path / "m").read_text()
    assert 'id="fig-cv"' in text
    table = text.split('class="cv"')[1].split("</table>")[0]
    shown = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>", table)
    assert [(float(c), float(m), float(s)) for c, m, s in shown] == [
        (c, -m, s)
        for c, m, s in zip(CV_TABLE["Cs"], CV_TABLE["mean"], CV_TABLE["std_err"], strict=True)
    ]
    assert "5-fold cross-validation (C = 1.0)" in text


def hostile_model_dir(directory: Path, *, held_out: str | None, steps: float | None) -> None:
    """A model whose names and data source hold HTML, with a report drawn from the data."""
    X, y = breast_cancer()
    X = X[:, :4]
    model = logloss.LogisticRegression(standardize=True).fit(X, y)
    proba = model.predict_proba(X)[:, 1]
    names = ["<script>alert(1)</script>", "a & b", "<b>bold</b>", "plain"]
    model.feature_names_in_ = np.array(names, dtype=object)
    history = [dict(h, step=steps) if steps is not None else dict(h) for h in model.history_]
    model.history_ = history

    def extra(version: Path) -> None:
        where = {"data": "<i>bc</i>.parquet", "held_out": held_out}
        write_assets_for(version, model, X, y, proba, **where)

    save_model(
        directory,
        model.coef_[0],
        float(model.intercept_[0]),
        extra,
        feature_names=names,
        history=history,
        training={"data": "<i>bc</i>.parquet", "label": "<target>", "n_rows": len(y)},
        params=model.get_params(),
    )


def test_page_order_escaping_source_and_history_columns(tmp_path) -> None:
    hostile_model_dir(tmp_path / "held", held_out="a random 20% of the rows, not used", steps=0.0)
    text = report.write_html_report(tmp_path / "held").read_text()
    # sections in order: where the metrics come from, pictures, model card, details, internals
    where = [text.index(f'<section id="{s}">') for s in report.SECTIONS]
    assert where == sorted(where)
    top = text.split('<section id="pictures">')[0]
    assert "held-out data" in top and "a random 20% of the rows" in top
    assert "&lt;i&gt;bc&lt;/i&gt;.parquet" in top and "<i>bc</i>" not in text
    # every string from the model or the data is escaped
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "a &amp; b" in text and "<b>bold</b>" not in text and "&lt;target&gt;" in text
    # the pictures come before the tables, the file format only among the internals
    assert text.index("<img") < text.index('class="card"') < text.index('class="coefficients"')
    assert "coef_shape" in text.split('<section id="internals">')[1]
    assert "coef_sha256" not in text.split('<section id="internals">')[0]
    # a solver that records no real step (all 0): no step column
    history = text.split('class="history"')[1].split("</table>")[0]
    assert "step" not in history and "log loss" in history and "objective" in history

    hostile_model_dir(tmp_path / "train", held_out=None, steps=None)
    text = report.write_html_report(tmp_path / "train").read_text()
    top = text.split('<section id="pictures">')[0]
    assert "the training data" in top and "not held out" in top
    assert "step ‖Δθ‖" in text.split('class="history"')[1]


def browser() -> str | None:
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter((i) => !i.complete || i.naturalWidth === 0).length;
  const ids = Array.from(document.querySelectorAll("body > section")).map((s) => s.id);
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = `images=${images.length} broken=${broken} sections=${ids.join(",")}`;
  document.body.appendChild(probe);
});
</script>
</body>"""


@pytest.mark.skipif(browser() is None, reason="no headless Chromium installed")
def test_the_page_renders_in_a_real_browser_with_every_image_loaded(tmp_path) -> None:
    X, y = breast_cancer()
    model = logloss.LogisticRegression(standardize=True).fit(X, y)
    model.cv_ = CV_TABLE

    def extra(version: Path) -> None:
        write_assets_for(version, model, X, y)

    save_model(tmp_path / "m", model.coef_[0], float(model.intercept_[0]), extra, cv=CV_TABLE)
    page = report.write_html_report(tmp_path / "m").read_text()
    # self-contained: nothing is fetched (no src or href but data URIs, no scripts)
    assert not re.findall(r'(?:src|href)="(?!data:)', page) and "<script" not in page
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", PROBE), encoding="utf-8")
    profile = tmp_path / "profile"
    done = subprocess.run(
        [
            str(browser()),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r"images=(\d+) broken=(\d+) sections=([\w,-]+)", done.stdout)
    assert found, done.stdout[-2000:] + done.stderr[-2000:]
    assert int(found.group(1)) == len(report.PICTURES)  # every picture, the CV one too
    assert int(found.group(2)) == 0
    assert found.group(3).split(",") == list(report.SECTIONS)


def test_the_template_ships_with_the_package_and_jinja2_is_a_dependency() -> None:
    import importlib.resources

    tomllib = pytest.importorskip("tomllib")
    template = importlib.resources.files("logloss.report").joinpath("templates/report.html.j2")
    assert template.is_file()
    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert "templates/*.j2" in project["tool"]["setuptools"]["package-data"]["logloss.report"]
    assert any(re.fullmatch(r"jinja2>=[\d.]+", d) for d in project["project"]["dependencies"])


def test_page_without_data_lists_only_non_zero_l1_coefficients_and_no_empty_columns(tmp_path):
    save_model(tmp_path, np.array([0.0, 1.5, 0.0, -0.25]), 0.5, params={"C": 0.1, "l1_ratio": 1.0})
    text = report.write_html_report(tmp_path).read_text()
    table = text.split('class="coefficients"')[1].split("</table>")[0]
    assert re.findall(r"<tr><td>(x\d)</td>", table) == ["x1", "x3"]
    assert "only the non-zero coefficients are listed (2 of 4)" in text
    assert "std. error" not in table and "standardised" not in table  # nothing to show there
