"""A fitted model made without data: random coefficients given to ``set_fitted`` (for tests
of what a model does once it exists: save, load, serve, export)."""

from __future__ import annotations

from typing import Any

import numpy as np

from logloss import LogisticRegression
from logloss.fitting import FitResult


def fitted_model(p: int, *, seed: int = 0, encoding: Any = None) -> LogisticRegression:
    """A model of ``p`` coefficients ~ N(0, 0.1²) and intercept −0.25, "fitted" on 1,000 rows
    (``encoding``: the columns it was given, its feature names then the encoding's)."""
    rng = np.random.default_rng(seed)
    names = None if encoding is None else np.asarray(encoding.feature_names, dtype=object)
    result = FitResult(
        coef=rng.normal(0.0, 0.1, size=(1, p)),
        intercept=np.array([-0.25]),
        n_iter=3,
        converged=True,
        stop_reason="synthetic",
        history=(),
        n_passes=4,
        n_sample_passes=0,
        solver="lbfgs",
        data_storage=None,
        badly_scaled=(),
        resumed_from_iter=None,
        n_rows=1000,
        classes=np.array([0, 1]),
        n_features=p,
        feature_names=names,
        encoding=encoding,
    )
    return LogisticRegression(C=0.5).set_fitted(result)
