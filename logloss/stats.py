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
- Identification: a row's ``identified_by`` says where its statistics come from. "data":
  the coefficient is identified by the likelihood alone. With all-level coding of a
  categorical column (``categorical_coding="all"``) and an intercept, the column's
  indicators sum to the intercept's column, so the information matrix without the penalty
  is singular: the per-level coefficients (and the intercept) are identified only by the
  penalty ("penalty": their intervals are the penalty's width, not a test), and without a
  penalty not at all ("none": no statistics; ``n_params`` is the rank). The null space is
  found from the eigenvalues of the unpenalised information scaled to unit diagonal; a
  coefficient (or contrast) is identified when orthogonal to it.
- Per categorical column, a joint Wald test of "the column has no effect" (all its levels
  have the same coefficient): with reference coding its coefficients are 0; with all-level
  coding the differences from its first level are 0 (identified by the data either way).
  χ² = (Rβ)ᵀ(R V Rᵀ)⁻¹(Rβ) on df = rows of R, p from the χ² distribution. Without a
  penalty it is statsmodels' ``wald_test_terms`` on the reference-coded model, whichever
  coding was fitted; with a penalty it is approximate. Not computed with an L1 part.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.linalg
from numpy.typing import NDArray
from scipy.special import ndtr
from scipy.stats import chi2

from .coded import FULL_HESSIAN_MAX_FEATURES, any_moments, coded_row_bytes, hessian_fits
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

        from .blockdata import BlockData

        Xd = _dask_X(X)
        if coded_row_bytes(Xd) is not None and not hessian_fits(int(Xd.shape[1])):
            raise ValueError(
                f"summary covers models of up to {FULL_HESSIAN_MAX_FEATURES:,} features (the "
                f"numeric and vocabulary ones: their (p + 1)² information matrix); this one "
                f"has {int(Xd.shape[1]):,}: raise --min-frequency to fold rare levels into "
                f"'(infrequent)', hash fewer columns or into fewer --hash-bits, or leave the "
                f"widest columns out"
            )
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
            moments = data.map_reduce(any_moments, combine=combine_moments, name="moments")
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


#: eigenvalues of the unit-diagonal information below this times the largest are zero
NULL_RTOL = 1e-10
#: a unit-norm row whose projection on the null space is below this is identified
IDENTIFIED_TOL = 1e-6


class _Identification:
    """The null space of an information matrix, scaled to unit diagonal, and its
    pseudo-inverse: which linear functions of the coefficients the data identify."""

    def __init__(self, info_matrix: Array) -> None:
        d = np.diag(info_matrix).copy()
        self.scale = 1.0 / np.sqrt(np.where(d > 0, d, 1.0))
        scaled = info_matrix * self.scale[:, None] * self.scale[None, :]
        vals, vecs = np.linalg.eigh(scaled)
        top = max(float(vals[-1]), np.finfo(float).tiny) if len(vals) else 1.0
        null = vals <= NULL_RTOL * top
        self.null = vecs[:, null]
        self.rank = int((~null).sum())
        self._vals, self._vecs = vals[~null], vecs[:, ~null]

    def identified(self, rows: Array) -> NDArray[np.bool_]:
        """Per row of ``rows`` (linear functions cᵀβ): whether the data identify it."""
        if not self.null.shape[1]:
            return np.ones(len(rows), dtype=bool)
        c = rows * self.scale[None, :]  # cᵀβ = (D^{-1/2} c)ᵀ (D^{1/2} β)
        norm = np.linalg.norm(c, axis=1)
        proj = np.linalg.norm(c @ self.null, axis=1)
        return proj <= IDENTIFIED_TOL * np.where(norm > 0, norm, 1.0)

    def pinv(self) -> Array:
        """The pseudo-inverse (exact for identified functions: any generalised inverse
        gives their variance)."""
        inner = (self._vecs / self._vals) @ self._vecs.T
        return inner * self.scale[:, None] * self.scale[None, :]


def _inverse(sub: Array) -> Array:
    try:
        return np.asarray(scipy.linalg.inv(sub, check_finite=True))
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        return np.asarray(np.linalg.pinv(sub))


def _penalty_curvature(model: Any, moments: Any, p: int) -> Array:
    """The penalty's curvature per coefficient: 1, or the column variance (standardize;
    indicators keep 1)."""
    curvature = np.ones(p)
    if model.standardize and moments is not None:
        var = moments[p + 1 :] / moments[0]
        curvature = np.where(var > 0, var, 1.0)
        encoding = getattr(model, "encoding_", None)
        if encoding is not None:
            curvature[encoding.raw_features()] = 1.0
    return curvature


def _contrasts(model: Any, idx: NDArray[np.intp]) -> list[tuple[str, Array]]:
    """(column, R) per categorical column: the rows of "the column has no effect", over
    the kept coefficients ``idx``."""
    encoding = getattr(model, "encoding_", None)
    if encoding is None:
        return []
    where = {int(j): i for i, j in enumerate(idx)}
    out = []
    for name, cols in encoding.categorical_slices():
        mine = [where[j] for j in range(cols.start, cols.stop) if j in where]
        first, rest = (None, mine) if encoding.reference else (mine[:1], mine[1:])
        R = np.zeros((len(rest), len(idx)))
        for r, k in enumerate(rest):
            R[r, k] = 1.0
            if first:
                R[r, first[0]] = -1.0
        out.append((name, R))
    return out


def _wald_tests(
    contrasts: list[tuple[str, Array]], est: Array, cov: Array, ident: _Identification
) -> list[dict[str, Any]]:
    """One joint Wald test per categorical column (its identified contrasts only)."""
    tests = []
    for name, R in contrasts:
        R = R[ident.identified(R)] if len(R) else R
        if not len(R):
            continue
        d = R @ est
        V = R @ cov @ R.T
        stat = float(d @ np.linalg.lstsq(V, d, rcond=None)[0])
        df = len(R)
        tests.append({"column": name, "chi2": stat, "df": df, "p_value": float(chi2.sf(stat, df))})
    return tests


def _null_log_likelihood(model: Any, pos: float, total: float) -> float:
    if not model.fit_intercept:
        return -total * math.log(2.0)
    rate = pos / total
    return total * (
        (rate * math.log(rate) if rate > 0 else 0.0)
        + ((1 - rate) * math.log(1 - rate) if rate < 1 else 0.0)
    )


def coefficient_summary(
    model: Any, X: Any, y: Any, sample_weight: Any = None
) -> tuple[Any, dict[str, Any]]:
    """(table, info): see :meth:`logloss.logistic.LogisticCore.summary`."""
    import pandas as pd

    p = int(model.n_features_in_)
    (packed, moments), pos, total, n_rows = _pass(model, X, y, sample_weight)
    s = unpack(packed, p)
    assert s.hess is not None
    C = float(model.C)
    penalised = model.penalty is not None and math.isfinite(C)
    l1 = float(getattr(model, "l1_ratio", 0.0)) if penalised else 0.0
    coef = np.concatenate([model.coef_[0], model.intercept_])
    names = [str(c) for c in getattr(model, "feature_names_in_", [f"x{j}" for j in range(p)])]
    names = [*names, "intercept"]
    keep = np.ones(p + 1, dtype=bool)
    keep[p] = bool(model.fit_intercept)
    if l1 > 0:
        keep[:p] &= model.coef_[0] != 0.0
    idx = np.flatnonzero(keep)
    ident = _Identification(s.hess[np.ix_(idx, idx)])
    by_data = ident.identified(np.eye(len(idx)))
    if penalised:
        info_matrix = s.hess.copy()
        curvature = _penalty_curvature(model, moments, p)
        info_matrix[np.arange(p), np.arange(p)] += (1.0 - l1) / C * curvature
        cov = _inverse(info_matrix[np.ix_(idx, idx)])
    elif ident.rank == len(idx):
        cov = _inverse(s.hess[np.ix_(idx, idx)])
    else:
        cov = ident.pinv()
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    if not penalised:
        se = np.where(by_data, se, np.nan)
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
            "identified_by": np.where(by_data, "data", "penalty" if penalised else "none"),
        },
        index=pd.Index([names[i] for i in idx], name="feature"),
    )
    llf = -float(s.loss)
    llnull = _null_log_likelihood(model, pos, total)
    k = int(len(idx)) if penalised else ident.rank
    encoding = getattr(model, "encoding_", None)
    tests = [] if l1 > 0 else _wald_tests(_contrasts(model, idx), est, cov, ident)
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
        "categorical_coding": None if encoding is None else encoding.categorical_coding,
        "identified_by_penalty": [names[i] for i, ok in zip(idx, by_data, strict=True) if not ok]
        if penalised
        else [],
        "not_identified": [names[i] for i, ok in zip(idx, by_data, strict=True) if not ok]
        if not penalised
        else [],
        "categorical_tests": tests,
    }
    return table, info
