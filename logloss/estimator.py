"""``LogisticRegression``: a scikit-learn compatible estimator trained on Dask or NumPy data.

This module is scikit-learn's API over :class:`logloss.core.LogisticCore` (which fits,
predicts and saves): parameter constraints derived from the settings, input validation,
tags, ``score``; and :func:`load_model`.

Conventions
-----------
- The classes, shapes, units and input kinds are :mod:`logloss.core`'s (its "Conventions").
- Parameter names and meanings follow scikit-learn's LogisticRegression wherever both
  have the parameter; ``penalty`` is "l2" or None, and ``C=np.inf`` also means none.
"""

from __future__ import annotations

import os
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .core import LogisticCore
from .prepare import WARM_MIN_ROWS, is_dask
from .settings import TRAIN_SETTINGS

__all__ = ["LogisticRegression", "load_model"]

_WARM_MIN_ROWS = WARM_MIN_ROWS  # the name tests and benchmarks know


def _parameter_constraints() -> dict[str, list[Any]]:
    """scikit-learn's parameter constraints, derived from :data:`TRAIN_SETTINGS`."""
    out: dict[str, list[Any]] = {"penalty": [StrOptions({"l2", "deprecated"}), None]}
    for s in TRAIN_SETTINGS:
        rule: list[Any]
        if s.kind == "bool":
            rule = ["boolean"]
        elif s.kind == "columns":
            rule = [list, tuple, None]
        elif s.kind == "choice":
            rule = [StrOptions({c for c in s.choices if c is not None})]
            rule += [None] if None in s.choices else []
            rule += [dict] if s.name == "class_weight" else []
        else:
            options = ("neither", "left") if not s.allow_inf else ("right", "both")
            closed = options[0] if s.strict else options[1]  # "right": inf is allowed
            kind = Integral if s.kind == "int" else Real
            if s.maximum is not None:
                closed = "both" if not s.strict else "right"
            rule = [Interval(kind, s.minimum, s.maximum, closed=closed)]
        out[s.name] = rule
    return out


class LogisticRegression(ClassifierMixin, BaseEstimator, LogisticCore):
    """Binary logistic regression minimising the (L2-penalised) mean log loss.

    Parameters
    ----------
    penalty : {"l2", None}, deprecated
        As in scikit-learn >= 1.8: use ``C=np.inf`` for no penalty (L2 is the default).
        ``penalty=None`` still means no penalty and ``"l2"`` the default, with a
        FutureWarning. The intercept is never penalised.
    l1_ratio : float in [0, 1], default=0.0
        Elastic-net mixing, scikit-learn >= 1.8's convention: the objective is
        ``C * Σ sᵢ lossᵢ + l1_ratio ‖w‖₁ + ½ (1 − l1_ratio) ‖w‖²``. 0 is L2; 1 is L1 (the
        lasso: exact zeros in ``coef_``). Needs a finite C; solved by proximal Newton
        ("newton", "auto") or proximal gradient descent ("gd").
    C : float, default=1.0
        Inverse regularisation strength, as in scikit-learn: the objective is
        ``C * Σ sᵢ lossᵢ + ½‖w‖²`` (divided by ``C Σ sᵢ`` internally); ``C=np.inf`` fits
        without a penalty.
    fit_intercept : bool, default=True
    tol : float, default=1e-4
        Stop when max |∇J| ≤ tol.
    max_iter : int, default=100
    solver : {"auto", "lbfgs", "newton", "gd"}, default="auto"
        "auto" takes newton up to 100 features (a handful of passes; its Hessian costs
        about p gradient passes) and lbfgs above; ``solver_`` says which ran.
    class_weight : None, "balanced" or dict label -> weight
    standardize : bool, default=False
        Penalise the coefficients of the standardised features (mean 0, std 1; one extra
        pass for the exact mean and std), as in a StandardScaler → LogisticRegression
        pipeline; the fitted coefficients are reported in the original units. With False
        the penalty applies to the original-unit coefficients and the optimum is
        scikit-learn's. Either way the solvers work in centred, scaled coordinates
        internally (a preconditioner only: it does not change the optimum), and
        convergence is judged on the gradient with respect to the coefficients of the
        problem posed (original units with False, standardised units with True).
    learning_rate : float, default=1.0
        η of the ``gd`` solver.
    line_search : bool, default=False
        Armijo backtracking for ``gd``.
    checkpoint_every : int, default=5
        With ``fit(..., checkpoint=DIR)``, iterations between checkpoints.
    missing : {"error", "drop", "impute"}, default="error"
        For a DataFrame (and the CLI's Parquet data): what a null or NaN does. "impute":
        the column's training mean plus a 0/1 ``COL__missing`` feature (numeric columns),
        its own level (categorical columns). See the README's "Columns and missing values".
    categorical, numeric : list of column names, default=None
        Integer columns to treat as categorical; bool columns to treat as numeric 0/1.
        String, object, category and bool columns of a DataFrame are categorical: one 0/1
        indicator per level seen in ``fit`` (a level unseen later gives all zeros), as
        scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``.
    max_categories : int, default=100
        A categorical column with more distinct values is an error (an identifier?).
    min_frequency : int, default=1
        Levels seen fewer times share one ``COL=(infrequent)`` indicator.

    Attributes
    ----------
    classes_, coef_ (1, p), intercept_ (1,), n_features_in_, feature_names_in_,
    n_iter_ (1,), converged_ (exactly: max |∇J| ≤ tol at the result, whatever the
    solver's own stop test said), stop_reason_ (one sentence: why it stopped, with the
    final max |∇J| and tol), badly_scaled_ (indices of feature columns with max |x| outside
    [1e-3, 1e3], computed only when a fit without standardize did not converge; else []),
    resumed_from_iter_ (the checkpoint's iteration a fit resumed from, or None),
    history_ (list of dicts: iteration, loss, grad_norm, step, seconds; the first row after
    a resume also has ``resumed: 1.0``), n_passes_ (passes over the data).
    encoding_ (with categorical or incomplete columns: the learned
    :class:`~logloss.data.Encoding`), feature_names_out_ (one name per coefficient:
    ``COL``, ``COL__missing``, ``COL=level``).
    """

    _parameter_constraints: dict[str, list[Any]] = _parameter_constraints()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **kwargs: Any) -> LogisticRegression:
        """:meth:`LogisticCore.fit <logloss.core.LogisticCore.fit>` after scikit-learn's
        parameter validation."""
        self._validate_params()
        super().fit(X, y, sample_weight, **kwargs)
        return self

    def _numpy_input(self, X: Any, y: Any) -> tuple[NDArray[np.floating], np.ndarray]:
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], order="C")
        check_classification_targets(y)
        return X, y

    def _numpy_features(self, X: Any) -> NDArray[np.floating]:
        return validate_data(self, X, dtype=[np.float64, np.float32], reset=False)

    def _check_fitted(self) -> None:
        check_is_fitted(self)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy (weighted when ``sample_weight`` is given)."""
        if not (is_dask(X) or is_dask(y)):
            return float(ClassifierMixin.score(self, X, y, sample_weight=sample_weight))
        return LogisticCore.score(self, X, y, sample_weight)


def load_model(path: str | os.PathLike[str]) -> LogisticRegression:
    """Load a model directory written by :meth:`LogisticRegression.save` (no pickle)."""
    return LogisticRegression.load(path)
