"""``LogisticRegression``: a scikit-learn compatible estimator trained on Dask or NumPy data.

This module is scikit-learn's API over :class:`logloss.logistic.LogisticCore` (which fits,
predicts and saves): parameter constraints derived from the settings, input validation,
tags, ``score``; and :func:`load_model`.

Conventions
-----------
- The classes, shapes, units and input kinds are :mod:`logloss.logistic`'s (its "Conventions").
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

from .coded import CodedMatrix
from .logistic import LogisticCore
from .prepare import WARM_MIN_ROWS, is_dask
from .settings import TRAIN_SETTINGS

__all__ = ["LogisticRegression", "LogisticRegressionCV", "load_model"]

_WARM_MIN_ROWS = WARM_MIN_ROWS  # the name tests and benchmarks know


def _parameter_constraints() -> dict[str, list[Any]]:
    """scikit-learn's parameter constraints, derived from :data:`TRAIN_SETTINGS`."""
    out: dict[str, list[Any]] = {"penalty": [StrOptions({"l2", "deprecated"}), None]}
    for s in TRAIN_SETTINGS:
        if s.cv_only or s.data_only:
            continue
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
            rule += [None] if s.default is None else []  # None: no limit
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
        ("newton"; "auto" up to 100 features), OWL-QN ("owlqn", orthant-wise L-BFGS for
        wide data; "auto" above 100 features, and what "lbfgs" runs with an L1 part) or
        proximal gradient descent ("gd").
    C : float, default=1.0
        Inverse regularisation strength, as in scikit-learn: the objective is
        ``C * Σ sᵢ lossᵢ + ½‖w‖²`` (divided by ``C Σ sᵢ`` internally); ``C=np.inf`` fits
        without a penalty.
    fit_intercept : bool, default=True
    tol : float, default=1e-4
        Stop when max |∇J| ≤ tol.
    max_iter : int, default=100
    solver : {"auto", "lbfgs", "newton", "owlqn", "gd"}, default="auto"
        "auto" takes newton up to 100 features (a handful of passes; its Hessian costs
        about p gradient passes) and lbfgs above (owlqn with an L1 part); ``solver_`` says
        which ran.
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
    max_categories : int or None, default=None
        A categorical column with more distinct values is an error; None: no limit for
        Parquet data (read as codes), 100 for in-memory DataFrames (one-hot in memory).
    min_frequency : int, default=1
        Levels seen fewer times share one ``COL=(infrequent)`` indicator.
    categorical_coding : {"all", "reference"}, default="all"
        "all": one indicator per level (with an intercept the coefficients of a column are
        then identified only by the penalty: ``summary`` gives a joint Wald test per column
        instead of per-level tests); "reference": the first level as sorted gets none
        (treatment coding, as statsmodels' ``C(col)``), each coefficient is the difference
        from it and ``summary`` equals statsmodels' ``Logit``.
    hash_bits : int or None, default=None
        Hash categorical columns into 2^hash_bits shared buckets as scikit-learn's
        ``FeatureHasher(input_type="string")`` does with the tokens ``column=value`` (see
        :mod:`logloss.data.hashing`); ``to_sklearn()`` then holds that FeatureHasher. For a
        DataFrame given to ``fit``, as for Parquet data (``read_parquet``): wide, hashed and
        crossed columns become the same int32 code blocks, never dense indicators.
    hash_columns : list of column names, default=None
        The columns to hash; None: those with more levels than ``max_categories`` (or 1000).
    interactions : list of "A:B" strings, default=None
        Crosses of two categorical columns (Vowpal Wabbit's ``-q``): the pairs ``A=a^B=b``
        as levels when both columns have vocabularies and few enough pairs, else hashed
        into the same buckets (see :mod:`logloss.data.crosses`).

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
        """:meth:`LogisticCore.fit <logloss.logistic.LogisticCore.fit>` after scikit-learn's
        parameter validation."""
        self._validate_params()
        super().fit(X, y, sample_weight, **kwargs)
        return self

    def _numpy_input(self, X: Any, y: Any) -> tuple[NDArray[np.floating], np.ndarray]:
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], order="C")
        check_classification_targets(y)
        return X, y

    def _numpy_features(self, X: Any) -> NDArray[np.floating]:
        if isinstance(X, CodedMatrix):  # a block of categorical codes (logloss.coded)
            return LogisticCore._numpy_features(self, X)
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


class LogisticRegressionCV(LogisticRegression):
    """Logistic regression with C (and l1_ratio) chosen by cross-validation, scikit-learn's
    ``LogisticRegressionCV`` interface, every (fold, C, l1_ratio) model fitted in the same
    passes over the data (:mod:`logloss.cv`).

    Parameters
    ----------
    Cs : int or list of float, default=10
        An int n: n values log-spaced over [1e-4, 1e4] (scikit-learn's rule); or the values.
    l1_ratios : list of float in [0, 1], default=None
        Elastic-net mixings to try as well (None: L2 only).
    cv : int or iterable of (train, test) index arrays, default=5
        An int k: a row's fold is a hash of its position in the data (deterministic, the
        same whatever the blocks; no shuffle). Index arrays (as ``list(KFold(5).split(X))``)
        for in-memory data.
    scoring : {"neg_log_loss"}, default="neg_log_loss"
        Minus the mean log loss over the held-out rows (unweighted, as scikit-learn's
        scorer; exact, where scikit-learn's ``log_loss`` clips probabilities at machine
        epsilon, which differs only for held-out rows with margins beyond about ±36).
    refit : bool, default=True
        Fit the best (C, l1_ratio) on all rows (the data prepared for the search serve the
        refit). Without it no model is fitted: only the search's attributes are set.
    The other parameters are :class:`LogisticRegression`'s (one fit's settings), and
    apply to every model of the search and to the refit. With ``standardize`` the
    features' mean and std come from all rows, not from each fold's training rows.

    Attributes
    ----------
    Cs_ (n_Cs,), l1_ratios_ (n_l1,), C_ (1,), l1_ratio_ (1,),
    scores_ {classes_[1]: (n_folds, n_Cs) or (n_folds, n_Cs, n_l1)},
    coefs_paths_ {classes_[1]: (n_folds, n_Cs[, n_l1], n_features + fit_intercept)},
    n_iter_ (1, n_folds, n_Cs[, n_l1]), cv_ (the table saved in model.json: mean score
    and standard error per C), n_cv_passes_ (passes over the data the search took);
    with refit, those of :class:`LogisticRegression` (``coef_``, ``intercept_`` ...).
    """

    def __init__(
        self,
        *,
        Cs: Any = 10,
        l1_ratios: Any = None,
        cv: Any = 5,
        scoring: str = "neg_log_loss",
        refit: bool = True,
        fit_intercept: bool = True,
        tol: float = 1e-4,
        max_iter: int = 100,
        solver: str = "auto",
        class_weight: dict[Any, float] | str | None = None,
        standardize: bool = False,
        learning_rate: float = 1.0,
        line_search: bool = False,
        checkpoint_every: int = 5,
        missing: str = "error",
        categorical: list[str] | None = None,
        numeric: list[str] | None = None,
        max_categories: int | None = None,
        min_frequency: int = 1,
        categorical_coding: str = "all",
        hash_bits: int | None = None,
        hash_columns: list[str] | None = None,
        interactions: list[str] | None = None,
    ) -> None:
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.solver = solver
        self.class_weight = class_weight
        self.standardize = standardize
        self.learning_rate = learning_rate
        self.line_search = line_search
        self.checkpoint_every = checkpoint_every
        self.missing = missing
        self.categorical = categorical
        self.numeric = numeric
        self.max_categories = max_categories
        self.min_frequency = min_frequency
        self.categorical_coding = categorical_coding
        self.hash_bits = hash_bits
        self.hash_columns = hash_columns
        self.interactions = interactions

    _parameter_constraints: dict[str, list[Any]] = {
        **{
            k: v
            for k, v in _parameter_constraints().items()
            if k not in ("C", "l1_ratio", "penalty")
        },
        "Cs": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "l1_ratios": ["array-like", None],
        "cv": ["cv_object"],
        "scoring": [StrOptions({"neg_log_loss"})],
        "refit": ["boolean"],
    }

    # one fit's settings the search does not have: C and l1_ratio come from the grid
    penalty = "deprecated"
    C = 1.0
    l1_ratio = 0.0

    def _alpha(self) -> float:
        # the solvers' coordinates are scaled for the weakest penalty of the grid (a
        # preconditioner only: the optimum of every model is unchanged)
        Cs = np.logspace(-4, 4, self.Cs) if isinstance(self.Cs, Integral) else self.Cs
        return 1.0 / float(np.max(Cs))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return BaseEstimator.get_params(self, deep)

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **kwargs: Any) -> LogisticRegressionCV:
        """Search the grid with cross-validation, then (``refit``) fit the best model on all
        rows. ``kwargs``: ``callback`` (the refit's iterations), ``encoding``."""
        from .cv import search_cv

        self._validate_params()
        self._check_settings()
        cv = 5 if self.cv is None else self.cv
        if hasattr(cv, "split"):  # a scikit-learn splitter
            if is_dask(X):
                raise ValueError("a cv splitter needs in-memory data; give cv as a number")
            cv = list(cv.split(X, y))
        result, fit = search_cv(
            self,
            X,
            y,
            sample_weight,
            Cs=self.Cs,
            l1_ratios=self.l1_ratios,
            cv=cv,
            scoring=self.scoring,
            refit=self.refit,
            **kwargs,
        )
        self._refit_result = fit
        if fit is not None:
            self.set_fitted(fit)
            self.refit_n_iter_ = self.n_iter_
        positive = self.classes_[1]
        squeeze = self.l1_ratios is None
        self.Cs_ = result.Cs
        self.l1_ratios_ = result.l1_ratios
        self.C_ = np.array([result.C])
        self.l1_ratio_ = np.array([result.l1_ratio])
        scores = result.scores[:, :, 0] if squeeze else result.scores
        coefs = result.coefs[:, :, 0] if squeeze else result.coefs
        n_iter = result.n_iter[:, :, 0] if squeeze else result.n_iter
        self.scores_ = {positive: scores}
        self.coefs_paths_ = {positive: coefs}
        self.n_iter_ = n_iter[None]
        self.cv_ = result.table(self.scoring)
        self.n_cv_passes_ = result.passes
        return self

    def _check_fitted(self) -> None:
        check_is_fitted(self, "coef_")

    def save(self, path: str | os.PathLike[str], **kwargs: Any) -> Any:
        """The refitted model, as :meth:`LogisticRegression.save` writes it (with C = ``C_``
        and l1_ratio = ``l1_ratio_``) plus the search's table under "cv" in model.json;
        it loads as a :class:`LogisticRegression`."""
        return self.best_estimator().save(path, **kwargs)

    def best_estimator(self) -> LogisticRegression:
        """The refitted model as a :class:`LogisticRegression` (C = ``C_``, l1_ratio =
        ``l1_ratio_``): the refit's result set on it, with the search's ``cv_`` (and the
        ``training_`` record when one was set)."""
        self._check_fitted()
        if self._refit_result is None:  # fitted with refit=False after a refit
            raise ValueError("best_estimator needs the search's refit: fit with refit=True")
        own = LogisticRegression().get_params()
        params = {k: v for k, v in self.get_params().items() if k in own}
        est = LogisticRegression(**params, C=float(self.C_[0]), l1_ratio=float(self.l1_ratio_[0]))
        est.set_fitted(self._refit_result)
        est.cv_ = self.cv_
        if hasattr(self, "training_"):
            est.training_ = self.training_
        return est
