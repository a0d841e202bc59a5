"""Coefficient statistics of a fitted model: standard errors, z, p-values, intervals, and
the fit's likelihood summary, from one pass over the data.

Conventions
-----------
- The covariance of the estimates is the inverse of the observed information: the Hessian
  of the model's objective in log-likelihood units at the fitted coefficients,
  I = Σ sᵢ p̂ᵢ(1 − p̂ᵢ) x̃ᵢx̃ᵢᵀ (x̃ = (x, 1)), computed by the same fused block pass as the fit
  (:func:`logloss.loss.block_sums` with the Hessian), in memory or on the cluster.
- Without a penalty (``C=inf``) these are the usual maximum-likelihood statistics
  (statsmodels' ``Logit``: ``bse``, ``pvalues``, ``llf``, ``aic``). With a penalty the
  penalty's curvature is added, I + (1 − l1_ratio)/C · D (D: 1 per coefficient, or the
  squared column std with ``standardize=True``), and the statistics are approximate: a
  penalised estimate is biased towards 0, so its intervals are not exact confidence
  intervals. With an L1 part only the non-zero coefficients get rows (the zeros are not
  estimated with a continuous distribution).
- Sample weights count as frequency weights: ``n`` is their sum.
- p-values are two-sided, from the normal distribution; intervals are 95% (±1.96 s.e.).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.linalg
from numpy.typing import NDArray
from scipy.special import ndtr

from .loss import block_moments, combine_moments, unpack
from .objective import numpy_sums

__all__ = ["Z_95", "coefficient_summary"]

Array = NDArray[np.float64]

#: the 97.5% quantile of the standard normal distribution
Z_95 = 1.959963984540054


def _needs_moments(model: Any) -> bool:
    """The column variances enter only the penalty's curvature with ``standardize``."""
    return bool(model.standardize and model.penalty is not None and math.isfinite(model.C))


def _pass(model: Any, X: Any, y: Any, sample_weight: Any) -> tuple[Any, float, float, int]:
    """((block sums with the Hessian at the model's coefficients, column moments or None),
    Σs·y, Σs, rows): the moments (a second pass) only when the penalty needs them."""
    from .prepare import _dask_weights, _dask_X, _dask_y, is_dask

    classes = list(model.classes_)
    w_full = np.concatenate([model.coef_[0], model.intercept_]).astype(np.float64)
    if is_dask(X) or is_dask(y):
        import dask.array as da

        from .engine import BlockData

        Xd = _dask_X(X)
        yd = _dask_y(y, Xd)
        unknown = [v for v in np.unique(da.unique(yd).compute()).tolist() if v not in classes]
        if unknown:
            raise ValueError(f"y holds labels {unknown} the model was not trained on ({classes})")
        y01 = (yd == model.classes_[1]).astype(np.float64)
        sw = _dask_weights(sample_weight, Xd)
        data = BlockData(Xd, y01, sw, storage="stream")
        packed = data.sums(w_full, hessian=True)
        pos = float((y01 if sw is None else y01 * sw).sum().compute())
        moments = None
        if _needs_moments(model):
            moments = data.map_reduce(block_moments, combine=combine_moments, name="moments")
        return (packed, moments), pos, float(unpack(packed, Xd.shape[1]).weight), int(Xd.shape[0])
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.asarray(y)
    unknown = sorted({v for v in np.unique(y).tolist() if v not in classes}, key=repr)
    if unknown:
        raise ValueError(f"y holds labels {unknown} the model was not trained on ({classes})")
    y01 = (y == model.classes_[1]).astype(np.float64)
    weights: Array | None = None
    if sample_weight is not None:
        weights = np.broadcast_to(np.asarray(sample_weight, dtype=np.float64), y01.shape).copy()
    packed = numpy_sums(X, y01, weights)(w_full, True)
    pos = float(y01.sum() if weights is None else y01 @ weights)
    moments = block_moments(X) if _needs_moments(model) else None
    return (packed, moments), pos, float(unpack(packed, X.shape[1]).weight), len(X)


def coefficient_summary(
    model: Any, X: Any, y: Any, sample_weight: Any = None
) -> tuple[Any, dict[str, Any]]:
    """(table, info): see :meth:`logloss.core.LogisticCore.summary`."""
    import pandas as pd

    p = int(model.n_features_in_)
    (packed, moments), pos, total, n_rows = _pass(model, X, y, sample_weight)
    s = unpack(packed, p)
    assert s.hess is not None
    info_matrix = s.hess.copy()
    C = float(model.C)
    penalised = model.penalty is not None and math.isfinite(C)
    l1 = float(getattr(model, "l1_ratio", 0.0)) if penalised else 0.0
    if penalised:
        curvature = np.ones(p)
        if model.standardize and moments is not None:
            var = moments[p + 1 :] / moments[0]
            curvature = np.where(var > 0, var, 1.0)
            encoding = getattr(model, "encoding_", None)
            if encoding is not None:
                curvature[encoding.raw_features()] = 1.0
        info_matrix[np.arange(p), np.arange(p)] += (1.0 - l1) / C * curvature
    coef = np.concatenate([model.coef_[0], model.intercept_])
    names = [str(c) for c in getattr(model, "feature_names_in_", [f"x{j}" for j in range(p)])]
    names = [*names, "intercept"]
    keep = np.ones(p + 1, dtype=bool)
    if not model.fit_intercept:
        keep[p] = False
    if l1 > 0:
        keep[:p] &= model.coef_[0] != 0.0
    idx = np.flatnonzero(keep)
    sub = info_matrix[np.ix_(idx, idx)]
    try:
        cov = scipy.linalg.inv(sub, check_finite=True)
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        cov = np.linalg.pinv(sub)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    est = coef[idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    table = pd.DataFrame(
        {
            "coef": est,
            "std_err": se,
            "z": z,
            "p_value": 2.0 * ndtr(-np.abs(z)),
            "ci_low": est - Z_95 * se,
            "ci_high": est + Z_95 * se,
        },
        index=pd.Index([names[i] for i in idx], name="feature"),
    )
    llf = -float(s.loss)
    if model.fit_intercept:
        rate = pos / total
        llnull = total * (
            (rate * math.log(rate) if rate > 0 else 0.0)
            + ((1 - rate) * math.log(1 - rate) if rate < 1 else 0.0)
        )
    else:
        llnull = -total * math.log(2.0)
    k = int(len(idx))
    info = {
        "n": total,
        "n_rows": n_rows,
        "n_params": k,
        "log_likelihood": llf,
        "null_log_likelihood": llnull,
        "deviance": -2.0 * llf,
        "aic": -2.0 * llf + 2.0 * k,
        "bic": -2.0 * llf + k * math.log(total),
        "mcfadden_r2": 1.0 - llf / llnull if llnull else float("nan"),
        "penalised": bool(penalised),
        "approximate": bool(penalised),
    }
    return table, info
