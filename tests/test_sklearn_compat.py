"""scikit-learn's own estimator checks."""

from __future__ import annotations

import warnings

from sklearn.utils.estimator_checks import check_estimator

from logloss import LogisticRegression


def test_check_estimator_runs_clean():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(LogisticRegression(), on_fail=None)
    failed = [r for r in results if r["status"] == "failed"]
    assert not failed, "\n".join(f"{r['check_name']}: {r['exception']!r}" for r in failed)
    assert sum(r["status"] == "passed" for r in results) > 30
