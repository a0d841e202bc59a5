"""What the report may claim: a threshold chosen on the rows it is scored on says so, a
calibration picture of too few rows is not drawn, and `evaluate` / `report` stream their
data (bounded state, nothing persisted) with binned metrics within their stated error."""

from __future__ import annotations

import html
import json
import struct
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from logloss import metrics
from logloss.cli import main
from logloss.data import read_parquet
from logloss.loading import split_validation
from logloss.metrics.state import max_state_bytes
from logloss.publishing import load_published, resolve_model, write_report_assets
from logloss.report.assets import _one_pass
from logloss.report.evaluation_plots import (
    CALIBRATION_MIN_BINS,
    CALIBRATION_MIN_ROWS,
    calibration_untrusted,
)

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "data" / "breast_cancer.parquet"


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trust") / "m"
    assert (
        main(
            [
                "train",
                str(SHIPPED),
                "--label",
                "target",
                "--standardize",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    return out


def test_calibration_rule_counts_bins_of_enough_rows() -> None:
    rng = np.random.default_rng(0)
    enough = CALIBRATION_MIN_BINS * CALIBRATION_MIN_ROWS
    for n, trusted in ((enough, True), (enough - 1, False), (123, False)):
        p = rng.random(n)
        y = (rng.random(n) < p).astype(int)
        bins = metrics.calibration_quantile_bins(y, p, min_rows=CALIBRATION_MIN_ROWS)
        why = calibration_untrusted(bins)
        assert (why is None) == trusted, (n, why)
        if not trusted:
            assert f"{n:,} rows make {len(bins.rows)} bin" in why


def test_small_hold_out_says_the_calibration_cannot_be_trusted(model_dir: Path, tmp_path) -> None:
    model = load_published(model_dir)
    ds = read_parquet(str(SHIPPED), "target")
    train, held = split_validation(ds, 0.22, seed=1)
    out = tmp_path / "small"
    model.save(out)
    out = resolve_model(out)  # the saved model's files: the page is drawn beside them
    write_report_assets(model, held, out, train=train, held_out="22% of the rows, held out")
    doc = json.loads((out / "report.json").read_text())
    assert doc["evaluation"]["rows"] < CALIBRATION_MIN_BINS * CALIBRATION_MIN_ROWS
    cal = doc["calibration"]
    assert cal["drawn"] is False and cal["bins"] < CALIBRATION_MIN_BINS
    assert "not drawn" in cal["note"] and str(CALIBRATION_MIN_BINS) in cal["rule"]
    # the picture is the short message, not a reliability diagram of 2 bins
    assert png_size(out / "calibration.png") == (572, 330)
    # the max-F1 threshold was chosen on the held-out rows it is scored on: the page says so
    note = doc["thresholds"]["best_f1_note"]
    assert doc["thresholds"]["best_f1"] is not None
    assert "chosen on the same held-out rows" in note and "optimistic" in note
    # and the page shows both sentences, not only report.json
    from logloss.report import write_html_report

    page = Path(write_html_report(out, out / "report.html")).read_text()
    assert html.escape(cal["note"], quote=False) in page
    assert html.escape(note, quote=False) in page


def test_enough_rows_draw_the_calibration(model_dir: Path) -> None:
    assert main(["report", str(model_dir), "--data", str(SHIPPED), "--quiet"]) == 0
    doc = json.loads((resolve_model(model_dir) / "report.json").read_text())
    assert doc["calibration"]["drawn"] is True and doc["calibration"]["note"] is None
    assert doc["calibration"]["bins"] >= CALIBRATION_MIN_BINS
    assert png_size(resolve_model(model_dir) / "calibration.png") != (572, 330)
    assert "chosen on the same rows" in doc["thresholds"]["best_f1_note"]
    assert doc["curves"]["exact"] is True


def test_report_data_pass_is_one_compute_and_gathers_no_rows() -> None:
    import dask.array as da

    rng = np.random.default_rng(3)
    n = 40_000
    X = da.from_array(rng.normal(size=(n, 3)), chunks=(5_000, 3))
    y = da.from_array((rng.random(n) < 0.4).astype(float), chunks=5_000)
    p = da.from_array(rng.random(n), chunks=5_000)
    computes = []
    with dask.config.set(
        scheduler=lambda dsk, keys, **kw: computes.append(1) or dask.get(dsk, keys)
    ):
        state, X_sample, y_sample, std = _one_pass(y, p, None, X, X, sample_rows=100, seed=0)
    assert len(computes) == 1
    assert X_sample.shape == (100, 3) and y_sample.shape == (100,)
    assert state.nbytes <= max_state_bytes()  # bounded, whatever the rows
    np.testing.assert_allclose(std, X.compute().std(axis=0))


def test_evaluate_streams_and_states_its_error_past_the_exact_cap(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 90_000  # more distinct scores than the exact table keeps
    X = rng.normal(size=(n, 3))
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ [1.0, -0.5, 0.3])))).astype(int)
    data = tmp_path / "d.parquet"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y}).to_parquet(
        data, row_group_size=10_000
    )
    model_dir = tmp_path / "m"
    assert main(["train", str(data), "--label", "y", "--out", str(model_dir), "--quiet"]) == 0
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["evaluate", str(model_dir), str(data), "--json", "--quiet"]) == 0
    got = json.loads(buf.getvalue())
    model = load_published(model_dir)
    p = model.predict_proba(X)[:, 1]
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, p), rel=1e-9)
    assert 0 < got["roc_auc_max_error"] < 1e-3
    assert abs(got["roc_auc"] - skm.roc_auc_score(y, p)) <= got["roc_auc_max_error"] + 1e-12
    ap = skm.average_precision_score(y, p)
    assert abs(got["average_precision"] - ap) <= got["average_precision_max_error"] + 1e-12
