"""``LogisticRegression``: a scikit-learn compatible estimator trained on Dask or NumPy data.

Conventions
-----------
- Binary classification only. ``classes_`` holds the two labels sorted as ``np.unique``
  sorts them; the second is the positive class (ŷ = P(y = classes_[1])).
- ``coef_`` has shape (1, p) and ``intercept_`` shape (1,), in the units of the input
  features even when ``standardize=True``.
- NumPy / pandas input is fitted in memory; Dask arrays and Dask DataFrames are
  persisted on the current Dask client (or the threaded scheduler) and every objective
  evaluation is one distributed pass. Predictions on Dask input stay lazy.
- Parameter names and meanings follow scikit-learn's LogisticRegression wherever both
  have the parameter; ``penalty`` is "l2" or None, and ``C=np.inf`` also means none.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_is_fitted,
    validate_data,
)

from .checkpoint import Evaluations, content_hash, fit_fingerprint, run_checkpointed
from .engine import BlockData
from .model import (
    ModelFileError,
    encode_labels,
    estimator_kwargs,
    fitted_attributes,
    model_meta,
    model_vector,
    read_model_files,
    write_model_files,
)
from .objective import LogisticObjective, NonFiniteError, numpy_sums
from .predict import (
    lazy_accuracy,
    lazy_labels,
    lazy_log_proba2,
    lazy_margin,
    lazy_proba2,
    log_proba2,
    margin,
    proba2,
)
from .prepare import (
    WARM_MIN_ROWS,
    Prepared,
    Scaling,
    dask_array,
    is_dask,
    prepare_dask,
    prepare_numpy,
    take_sample,
)
from .settings import DEPRECATED_ALIASES, TRAIN_SETTINGS, check_setting
from .solvers import (
    SolverResult,
    SolverState,
    choose_solver,
    convergence_message,
    non_finite_remedy,
    solve,
    solver_options,
    stop_reason,
    warm_start,
)

__all__ = ["LogisticRegression", "load_model"]

Array = NDArray[np.float64]

_WARM_MIN_ROWS = WARM_MIN_ROWS  # the name tests and benchmarks know


def _parameter_constraints() -> dict[str, list[Any]]:
    """scikit-learn's parameter constraints, derived from :data:`TRAIN_SETTINGS`."""
    out: dict[str, list[Any]] = {"penalty": [StrOptions({"l2", "deprecated"}), None]}
    for s in TRAIN_SETTINGS:
        rule: list[Any]
        if s.kind == "bool":
            rule = ["boolean"]
        elif s.kind == "choice":
            rule = [StrOptions({c for c in s.choices if c is not None})]
            rule += [None] if None in s.choices else []
            rule += [dict] if s.name == "class_weight" else []
        else:
            options = ("neither", "left") if not s.allow_inf else ("right", "both")
            closed = options[0] if s.strict else options[1]  # "right": inf is allowed
            rule = [Interval(Integral if s.kind == "int" else Real, s.minimum, None, closed=closed)]
        out[s.name] = rule
    return out


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """Binary logistic regression minimising the (L2-penalised) mean log loss.

    Parameters
    ----------
    penalty : {"l2", None}, deprecated
        As in scikit-learn >= 1.8: use ``C=np.inf`` for no penalty (L2 is the default).
        ``penalty=None`` still means no penalty and ``"l2"`` the default, with a
        FutureWarning. The intercept is never penalised.
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
    """

    _parameter_constraints: dict[str, list[Any]] = _parameter_constraints()

    # One __init__ argument per entry of logloss.settings.TRAIN_SETTINGS (a test checks the
    # names and defaults), plus the deprecated ``penalty`` alias.
    def __init__(
        self,
        penalty: str | None = "deprecated",
        *,
        C: float = 1.0,
        fit_intercept: bool = True,
        tol: float = 1e-4,
        max_iter: int = 100,
        solver: str = "auto",
        class_weight: dict[Any, float] | str | None = None,
        standardize: bool = False,
        learning_rate: float = 1.0,
        line_search: bool = False,
        checkpoint_every: int = 5,
    ) -> None:
        self.penalty = penalty
        self.C = C
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.solver = solver
        self.class_weight = class_weight
        self.standardize = standardize
        self.learning_rate = learning_rate
        self.line_search = line_search
        self.checkpoint_every = checkpoint_every

    def _check_settings(self) -> None:
        """The rules scikit-learn's constraints cannot state (finite numbers), and the
        deprecated ``penalty``."""
        for s in TRAIN_SETTINGS:
            value = getattr(self, s.name)
            if s.kind in ("int", "float"):
                check_setting(s.name, value)
        if self.penalty != "deprecated":
            warnings.warn(
                "'penalty' is deprecated, as in scikit-learn 1.8: " + DEPRECATED_ALIASES["penalty"],
                FutureWarning,
                stacklevel=3,
            )

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        callback: Callable[[SolverState], None] | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        data_fingerprint: str | None = None,
        checkpoint_restart: bool = False,
    ) -> LogisticRegression:
        """Fit on NumPy/pandas (in memory) or Dask arrays/DataFrames (distributed).

        ``callback(state)`` is called after every iteration with a
        :class:`~logloss.solvers.SolverState` (iteration, θ, history so far).
        ``checkpoint``: a directory where the optimiser state is saved every
        ``checkpoint_every`` iterations; a fit given a directory holding a checkpoint of
        the same problem resumes from it. The same problem means the same settings, shape,
        classes, ``data_fingerprint`` (the caller's description of the data source, e.g. a
        hash of file paths, sizes and modification times), the same content hash of
        in-memory data, and the same objective value and gradient at the saved θ (checked
        on the resumed fit's first pass). A checkpoint of another problem raises
        :class:`~logloss.checkpoint.CheckpointError` naming what differs; with
        ``checkpoint_restart=True`` the fit starts afresh instead and overwrites it.

        Sample weights (and class_weight values) must be finite and non-negative, with a
        positive sum.
        """
        self._validate_params()
        self._check_settings()
        prep = self._prepare(X, y, sample_weight)
        content = {} if checkpoint is None or prep.arrays is None else content_hash(*prep.arrays)
        n_rows, p = prep.n_rows, prep.n_features
        self.solver_ = choose_solver(self.solver, p)
        objective = self._objective(prep, prep.sums, self._alpha())
        classes = encode_labels(self.classes_)["values"]
        fingerprint = fit_fingerprint(
            self.get_params(), classes, n_rows, p, data_fingerprint, content
        )
        self.resumed_from_iter_: int | None = None
        try:
            result, self.resumed_from_iter_ = run_checkpointed(
                objective,
                lambda seen, start, on_iteration: self._run(prep, seen, start, on_iteration),
                directory=checkpoint,
                fingerprint=fingerprint,
                every=self.checkpoint_every,
                restart=checkpoint_restart,
                callback=callback,
            )
        except NonFiniteError as exc:
            raise ValueError(
                f"{exc}; {non_finite_remedy(self.solver_, exc.diverged, self.get_params())}"
            ) from None
        w = objective.to_w(result.theta)
        if not np.all(np.isfinite(w)):
            raise ValueError("the fit produced non-finite coefficients: check X for NaN or inf")
        self.coef_ = w[:p].reshape(1, p)
        self.intercept_ = np.array([w[p] if self.fit_intercept else 0.0])
        self.n_iter_ = np.array([result.n_iter], dtype=np.int32)
        self.converged_ = bool(result.converged)  # exactly: max |∇J| <= tol
        self.history_ = [dict(h) for h in result.history]
        self.n_passes_ = objective.evaluations
        self.n_rows_ = n_rows
        self.badly_scaled_: list[int] = []
        if not result.converged and not self.standardize:
            self.badly_scaled_ = _badly_scaled(prep.column_max_abs())
        self.stop_reason_ = stop_reason(self.solver_, result, self.tol)
        if not result.converged:
            warnings.warn(
                convergence_message(
                    self.solver_,
                    result,
                    self.get_params(),
                    [self._column_name(j) for j in self.badly_scaled_],
                ),
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _objective(
        self, prep: Prepared, sums: Callable[[Array, bool], Array], alpha: float
    ) -> LogisticObjective:
        """The objective of ``sums`` in the solver's coordinates of ``prep``."""
        return LogisticObjective(
            sums,
            prep.n_features,
            alpha=alpha,
            fit_intercept=self.fit_intercept,
            mean=prep.mean,
            scale=prep.scale,
            penalize=self._penalize,
        )

    def _run(
        self,
        prep: Prepared,
        objective: Evaluations,
        start: SolverState,
        on_iteration: Callable[[SolverState], None],
    ) -> SolverResult:
        """The solver from ``start``; from a warm start on large Dask data (fresh fits)."""
        self.n_sample_passes_ = 0
        options = solver_options(
            self.solver_, learning_rate=self.learning_rate, line_search=self.line_search
        )
        if self.solver_ != "gd" and prep.data is not None and start.n_iter == 0:
            start, options = self._warm_start(prep, prep.data, start)
        return solve(
            self.solver_,
            objective,
            start,
            max_iter=self.max_iter,
            tol=self.tol,
            callback=on_iteration,
            **options,
        )

    def _warm_start(
        self, prep: Prepared, data: BlockData, start: SolverState
    ) -> tuple[SolverState, dict[str, Any]]:
        """:func:`~logloss.solvers.warm_start` on a row sample of large Dask data (every 16th
        row or sparser, at most 32 MiB; the one taken for the scaling if there was one)."""
        if data.n_rows < WARM_MIN_ROWS:
            return start, {}
        sample = prep.sample if prep.sample is not None else take_sample(data)
        if sample is None:
            return start, {}
        Xs, ys, ss = sample
        # the same penalty per unit of weight as the full data
        alpha = self._alpha() * len(ys) / data.n_rows
        sample_objective = self._objective(prep, numpy_sums(Xs, ys, ss), alpha)
        out = warm_start(sample_objective, start, tol=self.tol)
        self.n_sample_passes_ = sample_objective.evaluations
        return out

    # ------------------------------------------------------- reporting a stop
    def _column_name(self, j: int) -> str:
        names = getattr(self, "feature_names_in_", None)
        return repr(str(names[j])) if names is not None else f"column {j}"

    def _prepare(self, X: Any, y: Any, sample_weight: Any) -> Prepared:
        """Labels, weights and the solver's coordinates (:mod:`logloss.prepare`); sets
        ``classes_``, ``n_features_in_`` and ``feature_names_in_``."""
        how = Scaling(self.standardize, self.fit_intercept, self._alpha())
        if is_dask(X) or is_dask(y) or is_dask(sample_weight):
            prep = prepare_dask(X, y, sample_weight, self.class_weight, how)
            self.n_features_in_ = prep.n_features
            if prep.feature_names is not None:
                self.feature_names_in_ = prep.feature_names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        else:
            X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], order="C")
            check_classification_targets(y)
            prep = prepare_numpy(X, y, sample_weight, self.class_weight, how)
        self.classes_ = prep.classes
        return prep

    @property
    def _penalize(self) -> str:
        """Which coefficients the penalty applies to: standardised (θ) or original (w)."""
        return "theta" if self.standardize else "w"

    def _alpha(self) -> float:
        return 0.0 if self.penalty is None or np.isinf(self.C) else 1.0 / self.C

    # --------------------------------------------------------------- prediction
    def decision_function(self, X: Any) -> Any:
        """Margins z = X·coef + intercept, shape (n,); lazy for Dask input."""
        check_is_fitted(self)
        b = float(self.intercept_[0])
        if is_dask(X):
            names = getattr(self, "feature_names_in_", None)
            return lazy_margin(X, self.coef_[0], b, self.n_features_in_, names)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return margin(X, self.coef_[0], b)

    def predict_proba(self, X: Any) -> Any:
        """Probabilities of classes_[0] and classes_[1], shape (n, 2); lazy for Dask input."""
        z = self.decision_function(X)
        return lazy_proba2(z) if isinstance(z, da.Array) else proba2(z)

    def predict_log_proba(self, X: Any) -> Any:
        z = self.decision_function(X)
        return lazy_log_proba2(z) if isinstance(z, da.Array) else log_proba2(z)

    def predict(self, X: Any) -> Any:
        """Predicted labels (classes_[1] where the margin is positive); lazy for Dask input."""
        z = self.decision_function(X)
        if isinstance(z, da.Array):
            return lazy_labels(z, self.classes_)
        return self.classes_[(z > 0).astype(np.intp)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy (weighted when ``sample_weight`` is given)."""
        if not (is_dask(X) or is_dask(y)):
            return float(super().score(X, y, sample_weight=sample_weight))
        pred = self.predict(X)
        chunks = (pred.chunks[0],)
        sw = None if sample_weight is None else dask_array(sample_weight).rechunk(chunks)
        return lazy_accuracy(pred, dask_array(y).rechunk(chunks), sw)

    # ------------------------------------------------------------- persistence
    def save(
        self,
        path: str | os.PathLike[str],
        *,
        metadata: dict[str, Any] | None = None,
        extra: Callable[[Path], None] | None = None,
    ) -> Path:
        """Write the fitted model as plain files (JSON + .npy) into directory ``path``.

        ``metadata`` (JSON-serialisable: data source, label column, metrics ...) is stored
        under "training" in model.json; ``extra(tmpdir)`` may add files. The directory is
        written under a temporary name and renamed into place.
        """
        check_is_fitted(self)
        return write_model_files(path, model_meta(self, metadata), model_vector(self), extra=extra)


# A feature column is called badly scaled when its largest |value| lies outside this range
# (the intercept's column is 1): the hint given when a fit without standardize fails.
_SCALE_RANGE = (1e-3, 1e3)


def _badly_scaled(max_abs: Array) -> list[int]:
    lo, hi = _SCALE_RANGE
    bad = (max_abs > hi) | ((max_abs > 0) & (max_abs < lo))
    return [int(j) for j in np.flatnonzero(bad)]


def load_model(path: str | os.PathLike[str]) -> LogisticRegression:
    """Load a model directory written by :meth:`LogisticRegression.save` (no pickle)."""
    meta, vec = read_model_files(path)
    try:
        est = LogisticRegression(**estimator_kwargs(meta))
        for name, value in fitted_attributes(meta, vec).items():
            setattr(est, name, value)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"model in {str(path)!r} is malformed: {exc!r}") from None
    return est
