"""Distributed metrics against scikit-learn on NumPy and Dask inputs."""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from logloss import metrics

TOL = 1e-9


def make_data(
    seed: int, n: int = 600, *, ties: bool = False, weighted: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Labels correlated with the scores; rounded scores create ties; some zero weights."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    y = (rng.random(n) < expit(2.0 * z)).astype(np.int64)
    p = expit(z)
    if ties:
        p = np.round(p, 1)
        p[:5] = [0.0, 1.0, 0.0, 1.0, 0.5]  # exact 0/1 exercise the clipping
    w = None
    if weighted:
        w = rng.exponential(size=n)
        w[rng.random(n) < 0.05] = 0.0
    return y, p, w


def to_form(arrays: list[np.ndarray | None], form: str, n_chunks: int) -> list[Any]:
    """The same columns as NumPy, Dask with known chunks, or Dask with unknown chunks."""
    if form == "numpy":
        return arrays
    n = arrays[0].shape[0]  # type: ignore[union-attr]
    if form == "dask":
        chunk = -(-n // n_chunks)
        return [None if a is None else da.from_array(a, chunks=chunk) for a in arrays]
    cols = {f"c{i}": a for i, a in enumerate(arrays) if a is not None}
    ddf = dd.from_pandas(pd.DataFrame(cols), npartitions=n_chunks)
    out = [None if a is None else ddf[f"c{i}"].to_dask_array() for i, a in enumerate(arrays)]
    assert all(np.isnan(a.chunks[0][0]) for a in out if a is not None)
    return out


def reference(y: np.ndarray, p: np.ndarray, w: np.ndarray | None) -> dict[str, Any]:
    pred = (p > 0.5).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, sample_weight=w).ravel()
    return {
        "n": y.shape[0],
        "log_loss": skm.log_loss(y, p, sample_weight=w),
        "accuracy": skm.accuracy_score(y, pred, sample_weight=w),
        "roc_auc": skm.roc_auc_score(y, p, sample_weight=w),
        "average_precision": skm.average_precision_score(y, p, sample_weight=w),
        "brier_score": skm.brier_score_loss(y, p, sample_weight=w),
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "tp": tp,
        "roc_auc_max_error": 0.0,  # exact: fewer distinct scores than the table's cap
        "average_precision_max_error": 0.0,
    }


def assert_metrics_close(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=TOL, abs=TOL), key


CASES = [
    ("numpy", 1),
    ("dask", 1),
    ("dask", 3),
    ("dask", 7),
    ("unknown", 1),
    ("unknown", 3),
    ("unknown", 7),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize(("form", "n_chunks"), CASES)
def test_metrics_match_sklearn(form: str, n_chunks: int, ties: bool, weighted: bool) -> None:
    y, p, w = make_data(seed=n_chunks + 10 * ties + 100 * weighted, ties=ties, weighted=weighted)
    yd, pd_, wd = to_form([y, p, w], form, n_chunks)
    want = reference(y, p, w)

    assert metrics.log_loss(yd, pd_, wd) == pytest.approx(want["log_loss"], rel=TOL)
    assert metrics.accuracy(yd, pd_, wd) == pytest.approx(want["accuracy"], rel=TOL)
    assert metrics.roc_auc(yd, pd_, wd) == pytest.approx(want["roc_auc"], rel=TOL)
    assert metrics.brier_score(yd, pd_, wd) == pytest.approx(want["brier_score"], rel=TOL)
    ap = metrics.average_precision(yd, pd_, wd)
    assert ap == pytest.approx(want["average_precision"], rel=TOL)
    conf = metrics.confusion(yd, pd_, wd)
    for key in ("tn", "fp", "fn", "tp"):
        assert conf[key] == pytest.approx(want[key], rel=TOL)
        assert isinstance(conf[key], float if weighted else int)
    assert_metrics_close(metrics.evaluate(yd, pd_, wd), want)

    fpr, tpr, thresholds = metrics.roc_curve_points(yd, pd_, wd)
    sk_fpr, sk_tpr, sk_thr = skm.roc_curve(y, p, sample_weight=w)
    np.testing.assert_allclose(fpr, sk_fpr, rtol=0, atol=TOL)
    np.testing.assert_allclose(tpr, sk_tpr, rtol=0, atol=TOL)
    np.testing.assert_array_equal(thresholds, sk_thr)

    precision, recall, pr_thr = metrics.precision_recall_points(yd, pd_, wd)
    sk_prec, sk_rec, sk_pr_thr = skm.precision_recall_curve(y, p, sample_weight=w)
    np.testing.assert_allclose(precision, sk_prec, rtol=0, atol=TOL)
    np.testing.assert_allclose(recall, sk_rec, rtol=0, atol=TOL)
    np.testing.assert_array_equal(pr_thr, sk_pr_thr)


@pytest.mark.parametrize(("form", "n_chunks"), [("numpy", 1), ("dask", 3), ("unknown", 7)])
@pytest.mark.parametrize("n_bins", [5, 10])
def test_calibration_bins_match_sklearn(form: str, n_chunks: int, n_bins: int) -> None:
    y, p, _ = make_data(seed=7, ties=True)
    yd, pd_ = to_form([y, p], form, n_chunks)
    mean_pred, frac_pos, counts = metrics.calibration_bins(yd, pd_, n_bins=n_bins)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    np.testing.assert_allclose(mean_pred, prob_pred, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(frac_pos, prob_true, rtol=TOL, atol=TOL)
    assert counts.sum() == y.shape[0]
    assert counts.dtype == np.int64


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(("form", "n_chunks"), [("numpy", 1), ("dask", 4), ("unknown", 6)])
def test_report_curves_are_the_metrics_and_curves_of_scikit_learn_in_one_pass(
    form: str, n_chunks: int, weighted: bool
) -> None:
    y, p, w = make_data(seed=3 + n_chunks, ties=True, weighted=weighted)
    yd, pd_, wd = to_form([y, p, w], form, n_chunks)
    computes = []
    with dask.config.set(
        scheduler=lambda dsk, keys, **kw: computes.append(1) or dask.get(dsk, keys)
    ):
        rc = metrics.report_curves(yd, pd_, wd, histogram_bins=20)
    assert len(computes) == (0 if form == "numpy" else 1)  # one pass over the data
    assert_metrics_close(rc.metrics, reference(y, p, w))

    sk_fpr, sk_tpr, _ = skm.roc_curve(y, p, sample_weight=w)
    assert rc.roc is not None and rc.pr is not None and rc.best_f1 is not None
    np.testing.assert_allclose(rc.roc[0], sk_fpr, atol=TOL)
    np.testing.assert_allclose(rc.roc[1], sk_tpr, atol=TOL)
    sk_prec, sk_rec, sk_thr = skm.precision_recall_curve(y, p, sample_weight=w)
    np.testing.assert_allclose(rc.pr[0], sk_prec, atol=TOL)
    np.testing.assert_allclose(rc.pr[1], sk_rec, atol=TOL)

    # confusion at 0.5 (p > 0.5) and at the F1-maximising threshold (p >= t)
    tn, fp, fn, tp = skm.confusion_matrix(y, p > 0.5, sample_weight=w).ravel()
    assert [rc.confusion[k] for k in ("tn", "fp", "fn", "tp")] == pytest.approx([tn, fp, fn, tp])
    best = rc.best_f1
    pred = p >= best["threshold"]
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, sample_weight=w).ravel()
    assert [best[k] for k in ("tn", "fp", "fn", "tp")] == pytest.approx([tn, fp, fn, tp])
    assert best["f1"] == pytest.approx(skm.f1_score(y, pred, sample_weight=w), rel=TOL)
    # no threshold scores a better F1 (scikit-learn's precision and recall at every one)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1s = 2 * sk_prec * sk_rec / (sk_prec + sk_rec)
    assert best["f1"] == pytest.approx(np.nanmax(f1s), rel=TOL)
    assert isinstance(best["tp"], float if weighted else int)

    # per-class histograms of the scores, as np.histogram
    edges, pos, neg = rc.histogram
    keep = np.ones_like(p, dtype=bool) if w is None else w != 0
    ww = np.ones_like(p) if w is None else w
    want_pos, _ = np.histogram(p[keep & (y == 1)], bins=edges, weights=ww[keep & (y == 1)])
    want_neg, _ = np.histogram(p[keep & (y == 0)], bins=edges, weights=ww[keep & (y == 0)])
    np.testing.assert_allclose(pos, want_pos, atol=1e-9)
    np.testing.assert_allclose(neg, want_neg, atol=1e-9)


@pytest.mark.parametrize(("form", "n_chunks"), [("numpy", 1), ("dask", 3), ("unknown", 7)])
@pytest.mark.parametrize(("n", "n_bins"), [(1000, 10), (2000, 8), (600, 5)])
def test_quantile_calibration_bins_match_sklearn(form: str, n_chunks: int, n: int, n_bins: int):
    # distinct scores and a row count that is a multiple of the bins: scikit-learn's cuts
    y, p, _ = make_data(seed=n + n_bins, n=n)
    yd, pd_ = to_form([y, p], form, n_chunks)
    bins = metrics.calibration_quantile_bins(yd, pd_, n_bins=n_bins)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
    np.testing.assert_allclose(bins.mean_pred, prob_pred, atol=TOL)
    np.testing.assert_allclose(bins.frac_pos, prob_true, atol=TOL)
    assert bins.rows.tolist() == [n // n_bins] * n_bins
    # each interval is the Wilson interval of the bin and holds its fraction
    k = bins.frac_pos * bins.rows
    z = 1.959963984540054
    centre = (k + z**2 / 2) / (bins.rows + z**2)
    half = (
        z
        * np.sqrt(bins.rows)
        / (bins.rows + z**2)
        * np.sqrt(bins.frac_pos * (1 - bins.frac_pos) + z**2 / (4 * bins.rows))
    )
    np.testing.assert_allclose(bins.ci_low, np.clip(centre - half, 0, 1), atol=1e-12)
    np.testing.assert_allclose(bins.ci_high, np.clip(centre + half, 0, 1), atol=1e-12)
    assert np.all((bins.ci_low <= bins.frac_pos) & (bins.frac_pos <= bins.ci_high))


def test_quantile_calibration_bins_keep_50_rows_and_ties_together() -> None:
    y, p, w = make_data(seed=5, n=730, ties=True, weighted=True)
    bins = metrics.calibration_quantile_bins(y, p, w, n_bins=10, min_rows=50)
    assert bins.rows.sum() == np.count_nonzero(w)  # rows of weight 0 are left out
    assert bins.rows.min() >= 50 and len(bins.rows) <= 10
    # bins do not overlap: a score (and all rows tied at it) is in one bin
    assert np.all(bins.high[:-1] < bins.low[1:])
    for lo, hi, frac, mean in zip(bins.low, bins.high, bins.frac_pos, bins.mean_pred, strict=True):
        inside = (p >= lo) & (p <= hi) & (w != 0)
        assert frac == pytest.approx(np.average(y[inside], weights=w[inside]), rel=1e-12)
        assert mean == pytest.approx(np.average(p[inside], weights=w[inside]), rel=1e-12)
    # few rows: fewer bins, at least one
    small = metrics.calibration_quantile_bins(y[:120], p[:120], n_bins=10, min_rows=50)
    assert len(small.rows) == 2 and small.rows.sum() == 120
    tiny = metrics.calibration_quantile_bins(y[:20], p[:20])
    assert tiny.rows.tolist() == [20]
    with pytest.raises(ValueError, match="min_rows must be a positive integer"):
        metrics.calibration_quantile_bins(y, p, min_rows=0)


def test_average_precision_and_pr_curve_need_positives() -> None:
    y = np.zeros(20, dtype=int)
    p = np.linspace(0, 1, 20)
    assert metrics.evaluate(y, p)["average_precision"] is None
    with pytest.raises(ValueError, match="positive rows"):
        metrics.average_precision(y, p)
    rc = metrics.report_curves(y, p)
    assert rc.pr is None and rc.best_f1 is None and rc.roc is None


def test_numpy_mixed_with_dask_of_unknown_chunks() -> None:
    y, p, w = make_data(seed=11, weighted=True)
    (pd_,) = to_form([p], "unknown", 5)
    assert_metrics_close(metrics.evaluate(y, pd_, w), reference(y, p, w))


def test_dask_inputs_with_different_known_chunks_are_aligned() -> None:
    y, p, w = make_data(seed=12, weighted=True)
    got = metrics.evaluate(
        da.from_array(y, chunks=100), da.from_array(p, chunks=77), da.from_array(w, chunks=250)
    )
    assert_metrics_close(got, reference(y, p, w))


def test_bool_and_float_labels() -> None:
    y, p, _ = make_data(seed=13)
    want = reference(y, p, None)
    for labels in (y.astype(bool), y.astype(np.float32)):
        assert_metrics_close(metrics.evaluate(da.from_array(labels, chunks=128), p), want)


def test_float32_probabilities_clip_with_float32_eps() -> None:
    y, p, _ = make_data(seed=14, ties=True)
    p32 = p.astype(np.float32)
    got = metrics.log_loss(da.from_array(y, chunks=200), da.from_array(p32, chunks=200))
    # scikit-learn takes logs in float32; we take them in float64 after the same clipping.
    assert got == pytest.approx(skm.log_loss(y, p32), rel=1e-6)
    assert metrics.roc_auc(y, p32) == pytest.approx(skm.roc_auc_score(y, p32), rel=TOL)


def test_log_loss_from_margin() -> None:
    rng = np.random.default_rng(15)
    z = rng.normal(scale=3.0, size=500)
    y = (rng.random(500) < expit(z)).astype(int)
    w = rng.exponential(size=500)
    zd, yd, wd = (da.from_array(a, chunks=90) for a in (z, y, w))
    want = skm.log_loss(y, expit(z), sample_weight=w)
    assert metrics.log_loss_from_margin(yd, zd, wd) == pytest.approx(want, rel=1e-9)
    assert metrics.log_loss_from_margin(y, z) == pytest.approx(skm.log_loss(y, expit(z)), rel=1e-9)
    # Huge margins: finite, and exactly |z| for the confidently wrong rows.
    big = np.array([1e4, -1e4, 1e4, -1e4])
    lab = np.array([1, 0, 0, 1])
    assert metrics.log_loss_from_margin(lab, big) == pytest.approx(0.5e4)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 300),
    cuts=st.lists(st.floats(0.0, 1.0), max_size=9),
    weighted=st.booleans(),
)
def test_chunking_does_not_change_auc(seed: int, n: int, cuts: list[float], weighted: bool) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    y[:2] = [0, 1]
    p = np.round(rng.random(n), int(rng.integers(1, 4)))
    w = rng.exponential(size=n) + 0.01 if weighted else None
    edges = sorted({0, n, *(int(c * n) for c in cuts)})
    chunks = tuple(b - a for a, b in zip(edges[:-1], edges[1:], strict=True))
    yd, pd_ = da.from_array(y, chunks=(chunks,)), da.from_array(p, chunks=(chunks,))
    wd = None if w is None else da.from_array(w, chunks=(chunks,))
    assert metrics.roc_auc(yd, pd_, wd) == pytest.approx(metrics.roc_auc(y, p, w), rel=1e-12)
    assert metrics.roc_auc(y, p, w) == pytest.approx(skm.roc_auc_score(y, p, sample_weight=w))


def test_one_class_auc_is_an_error() -> None:
    y = np.ones(50, dtype=int)
    p = np.linspace(0.01, 0.99, 50)
    with pytest.raises(ValueError, match="both classes"):
        metrics.roc_auc(y, p)
    with pytest.raises(ValueError, match="both classes"):
        metrics.roc_curve_points(da.from_array(y, chunks=7), da.from_array(p, chunks=7))
    result = metrics.evaluate(da.from_array(y, chunks=7), da.from_array(p, chunks=7))
    assert result["roc_auc"] is None
    assert result["accuracy"] == pytest.approx(np.mean(p > 0.5))


def test_invalid_inputs_are_explained() -> None:
    y = np.array([0, 1, 2, 1])
    p = np.array([0.1, 0.9, 0.4, 0.6])
    with pytest.raises(ValueError, match=r"only 0 and 1.*\[2\]"):
        metrics.log_loss(da.from_array(y, chunks=2), da.from_array(p, chunks=2))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.log_loss(np.array([0, 1]), np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="same length"):
        metrics.accuracy(np.array([0, 1, 1]), np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="1-D"):
        metrics.accuracy(np.zeros((3, 2)), np.zeros(3))


def test_distributed_client() -> None:
    distributed = pytest.importorskip("distributed")
    y, p, w = make_data(seed=21, ties=True, weighted=True)
    yd, pd_, wd = to_form([y, p, w], "unknown", 4)
    options = {"processes": False, "n_workers": 1, "threads_per_worker": 2}
    with distributed.Client(dashboard_address=None, **options):
        got = metrics.evaluate(yd, pd_, wd)
    assert_metrics_close(got, reference(y, p, w))
