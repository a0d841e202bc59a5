"""The streaming metrics state: bounded size, exact or binned with a stated error, and
independent of how the rows are cut into blocks."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from dask.delayed import Delayed
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit
from sklearn import metrics as skm

from logloss import metrics
from logloss.metrics import state as state_mod


def make_scores(seed: int, n: int, *, weighted: bool = False, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.0, size=n)
    y = (rng.random(n) < expit(z)).astype(np.int64)
    p = expit(0.8 * z + rng.normal(scale=0.5, size=n))
    if decimals is not None:
        p = np.round(p, decimals)
    w = rng.exponential(size=n) if weighted else None
    return y, p, w


def computed(root):
    return dask.compute(root)[0] if isinstance(root, Delayed) else root


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_binned_metrics_are_within_their_stated_error_of_scikit_learn(weighted: bool) -> None:
    y, p, w = make_scores(1, 20_000, weighted=weighted)
    yd, pd_ = da.from_array(y, chunks=3_000), da.from_array(p, chunks=3_000)
    wd = None if w is None else da.from_array(w, chunks=3_000)
    st_ = computed(metrics.metrics_state(yd, pd_, wd, cap=500))
    assert st_.table.binned
    got = metrics.metrics_from_state(st_, weighted=weighted)
    # the sums stay exact
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, p, sample_weight=w), rel=1e-12)
    assert got["brier_score"] == pytest.approx(
        skm.brier_score_loss(y, p, sample_weight=w), rel=1e-12
    )
    assert got["accuracy"] == pytest.approx(
        skm.accuracy_score(y, p > 0.5, sample_weight=w), rel=1e-12
    )
    # AUC and AP within the bound the state states, and the bound is small
    auc = skm.roc_auc_score(y, p, sample_weight=w)
    ap = skm.average_precision_score(y, p, sample_weight=w)
    assert 0 < got["roc_auc_max_error"] < 1e-3
    assert 0 < got["average_precision_max_error"] < 1e-2
    assert abs(got["roc_auc"] - auc) <= got["roc_auc_max_error"] + 1e-12
    assert abs(got["average_precision"] - ap) <= got["average_precision_max_error"] + 1e-12
    # every ROC point drawn is a point of the exact curve: counts of p >= grid edge
    fpr, tpr, thr = metrics.curves_from_state(st_, weighted=weighted).roc
    ww = np.ones_like(p) if w is None else w
    for i in range(1, len(thr), max(1, len(thr) // 25)):
        above = p >= thr[i]
        assert tpr[i] == pytest.approx(ww[above & (y == 1)].sum() / ww[y == 1].sum(), abs=1e-12)
        assert fpr[i] == pytest.approx(ww[above & (y == 0)].sum() / ww[y == 0].sum(), abs=1e-12)
    # the calibration bins' mean prediction is exact: Σw·p per cell is kept
    bins = metrics.curves_from_state(st_, weighted=weighted).calibration
    assert np.average(bins.mean_pred, weights=None) > 0
    assert bins.rows.sum() == y.size


def test_few_distinct_scores_stay_exact_at_many_rows() -> None:
    y, p, _ = make_scores(2, 300_000, decimals=3)  # at most 1,001 distinct scores
    st_ = computed(
        metrics.metrics_state(da.from_array(y, chunks=40_000), da.from_array(p, chunks=40_000))
    )
    assert not st_.table.binned
    got = metrics.metrics_from_state(st_, weighted=False)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), rel=1e-12)
    assert got["average_precision"] == pytest.approx(skm.average_precision_score(y, p), rel=1e-12)
    assert got["roc_auc_max_error"] == 0.0 and got["average_precision_max_error"] == 0.0


def test_the_state_does_not_grow_with_the_rows() -> None:
    sizes = {}
    for n in (200_000, 2_000_000):
        y, p, _ = make_scores(3, n)
        yd, pd_ = da.from_array(y, chunks=250_000), da.from_array(p, chunks=250_000)
        st_ = computed(metrics.metrics_state(yd, pd_))
        assert st_.table.binned  # continuous scores: more distinct than the cap
        sizes[n] = st_.nbytes
        assert sizes[n] <= state_mod.max_state_bytes()
        assert sizes[n] < (y.nbytes + p.nbytes) / 2
    # ten times the rows, about the same state (a few more grid cells reached in the tails)
    assert sizes[2_000_000] <= 1.25 * sizes[200_000]
    assert state_mod.max_state_bytes() < 3 * 2**20


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 400),
    cuts=st.lists(st.floats(0.0, 1.0), max_size=9),
    weighted=st.booleans(),
    cap=st.integers(1, 400),
    decimals=st.sampled_from([1, 2, 3, None]),
)
def test_chunking_does_not_change_the_state(seed, n, cuts, weighted, cap, decimals) -> None:
    y, p, w = make_scores(seed, n, weighted=weighted, decimals=decimals)
    y[:2] = [0, 1]
    edges = sorted({0, n, *(int(c * n) for c in cuts)})
    chunks = (tuple(b - a for a, b in zip(edges[:-1], edges[1:], strict=True)),)
    whole = metrics.metrics_state(y, p, w, cap=cap)
    wd = None if w is None else da.from_array(w, chunks=chunks)
    cut = computed(
        metrics.metrics_state(
            da.from_array(y, chunks=chunks),
            da.from_array(p, chunks=chunks),
            wd,
            cap=cap,
            split_every=2,
        )
    )
    # exact or binned does not depend on the blocks: the number of distinct scores decides
    assert cut.table.binned == whole.table.binned == (np.unique(p).size > cap)
    np.testing.assert_array_equal(cut.table.scores, whole.table.scores)
    for a, b in zip(cut.table[1:5], whole.table[1:5], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9)
    got = metrics.metrics_from_state(cut, weighted=weighted)
    want = metrics.metrics_from_state(whole, weighted=weighted)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    # exact: scikit-learn's values; binned: within the stated bounds of them
    auc = skm.roc_auc_score(y, p, sample_weight=w)
    ap = skm.average_precision_score(y, p, sample_weight=w)
    if not whole.table.binned:
        assert want["roc_auc_max_error"] == 0.0 == want["average_precision_max_error"]
    assert abs(want["roc_auc"] - auc) <= want["roc_auc_max_error"] + 1e-9
    assert abs(want["average_precision"] - ap) <= want["average_precision_max_error"] + 1e-9
