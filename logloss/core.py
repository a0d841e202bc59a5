"""The fitting and prediction of :class:`~logloss.LogisticRegression`, without scikit-learn.

:class:`LogisticCore` validates the settings, prepares the data (:mod:`logloss.prepare`),
builds the objective, runs a solver (:mod:`logloss.solvers`, with checkpoints) and sets the
fitted attributes; it predicts and saves. :class:`~logloss.estimator.LogisticRegression`
adds scikit-learn's API on top (parameter constraints, input validation, tags). The
pipeline trains a ``LogisticCore``, so ``logloss train`` never imports scikit-learn (its
import costs about a second), except to raise scikit-learn's ``ConvergenceWarning``.

Conventions
-----------
- Binary classification only. ``classes_`` holds the two labels sorted as ``np.unique``
  sorts them; the second is the positive class (ŷ = P(y = classes_[1])).
- ``coef_`` has shape (1, p) and ``intercept_`` shape (1,), in the units of the input
  features even when ``standardize=True``.
- NumPy input is fitted in memory; Dask arrays and Dask DataFrames are persisted on the
  current Dask client (or the threaded scheduler) and every objective evaluation is one
  distributed pass. Predictions on Dask input stay lazy.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import dask.array as da
import numpy as np
from numpy.typing import NDArray

from .checkpoint import Evaluations, content_hash, fit_fingerprint, run_checkpointed
from .engine import BlockData
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
from .storage.modelfile import (
    ModelFileError,
    encode_labels,
    estimator_kwargs,
    fitted_attributes,
    model_meta,
    model_vector,
)

__all__ = ["LogisticCore", "NotFittedError"]

Array = NDArray[np.float64]

_Model = TypeVar("_Model", bound="LogisticCore")

SETTING_NAMES = tuple(s.name for s in TRAIN_SETTINGS if not s.cv_only)


class NotFittedError(ValueError, AttributeError):
    """A model used before ``fit`` (scikit-learn's NotFittedError derives from the same)."""


def _convergence_warning() -> type[Warning]:
    """scikit-learn's ConvergenceWarning, imported only when a fit did not converge."""
    from sklearn.exceptions import ConvergenceWarning

    return ConvergenceWarning


class LogisticCore:
    """Binary logistic regression minimising the (L2-penalised) mean log loss: the
    settings, ``fit``, predictions and ``save`` of :class:`~logloss.LogisticRegression`
    (see there for the parameters and attributes), with no scikit-learn import."""

    # fitted attributes (set by fit or load)
    classes_: np.ndarray
    coef_: Array
    intercept_: Array
    n_features_in_: int
    feature_names_in_: np.ndarray
    n_iter_: NDArray[np.int32]
    converged_: bool
    history_: list[dict[str, float]]
    n_passes_: int
    n_rows_: int
    training_: dict[str, Any]  # set by the pipeline: data source, label, rows, time
    encoding_: Any  # logloss.data.Encoding, when X's columns were encoded (categoricals)
    cv_: dict[str, Any]  # a cross-validated model's search (logloss.cv.CVResult.table)

    @property
    def feature_names_out_(self) -> np.ndarray:
        """The names of the model's features, one per coefficient (with an encoding:
        ``name=level``, ``name__missing``); ``feature_names_in_`` holds the same."""
        self._check_fitted()
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            return np.asarray([f"x{j}" for j in range(self.n_features_in_)], dtype=object)
        return np.asarray(names, dtype=object)

    # One __init__ argument per entry of logloss.settings.TRAIN_SETTINGS but the
    # cross-validation ones (a test checks the names and defaults), plus the deprecated
    # ``penalty`` alias.
    def __init__(
        self,
        penalty: str | None = "deprecated",
        *,
        C: float = 1.0,
        fit_intercept: bool = True,
        tol: float = 1e-4,
        max_iter: int = 100,
        l1_ratio: float = 0.0,
        solver: str = "auto",
        class_weight: dict[Any, float] | str | None = None,
        standardize: bool = False,
        learning_rate: float = 1.0,
        line_search: bool = False,
        checkpoint_every: int = 5,
        missing: str = "error",
        categorical: list[str] | None = None,
        numeric: list[str] | None = None,
        max_categories: int = 100,
        min_frequency: int = 1,
    ) -> None:
        self.penalty = penalty
        self.C = C
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.l1_ratio = l1_ratio
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

    def _check_settings(self) -> None:
        """The rules scikit-learn's constraints cannot state (finite numbers), and the
        deprecated ``penalty``."""
        for s in TRAIN_SETTINGS:
            if s.kind in ("int", "float") and not s.cv_only:
                check_setting(s.name, getattr(self, s.name))
        if self.l1_ratio and not self._alpha():
            raise ValueError(
                f"l1_ratio={self.l1_ratio} needs a finite C: with C=inf (no penalty) there is "
                "no L1 part to mix; set C, or l1_ratio=0"
            )
        if self.penalty != "deprecated":
            warnings.warn(
                "'penalty' is deprecated, as in scikit-learn 1.8: " + DEPRECATED_ALIASES["penalty"],
                FutureWarning,
                stacklevel=3,
            )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The settings (the constructor's arguments), as scikit-learn's ``get_params``."""
        return {name: getattr(self, name) for name in ("penalty", *SETTING_NAMES)}

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
        encoding: Any = None,
    ) -> LogisticCore:
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
        positive sum. ``encoding``: the :class:`~logloss.data.Encoding` that made X's columns
        from categorical and incomplete ones (``Dataset.encoding``); kept as ``encoding_``
        and saved with the model, and with ``standardize=True`` its 0/1 indicators keep
        their units (only numeric columns are standardised).
        """
        self._check_settings()
        prep = self._prepare_input(X, y, sample_weight, encoding)
        try:
            return self._fit_prepared(
                prep,
                callback=callback,
                checkpoint=checkpoint,
                data_fingerprint=data_fingerprint,
                checkpoint_restart=checkpoint_restart,
            )
        finally:
            if prep.data is not None:  # the fit's blocks (and their disk files) now, not at gc
                prep.data.release()

    def _prepare_input(self, X: Any, y: Any, sample_weight: Any, encoding: Any) -> Prepared:
        """The training data made ready for an objective: a DataFrame's columns encoded (its
        learned encoding kept as ``encoding_``), then :meth:`_prepare`. Used by ``fit`` and by
        the cross-validation search (:func:`logloss.cv.fit_cv`)."""
        X, y, sample_weight, encoding, framed = self._encode_frame(X, y, sample_weight, encoding)
        if encoding is not None:
            self.encoding_ = encoding
        elif hasattr(self, "encoding_"):
            del self.encoding_
        raw = None if encoding is None else encoding.raw_features()
        prep = self._prepare(X, y, sample_weight, raw)
        if framed:  # the features are the encoded DataFrame's
            self.feature_names_in_ = np.asarray(encoding.feature_names, dtype=object)
        return prep

    def _fit_prepared(
        self,
        prep: Prepared,
        *,
        callback: Callable[[SolverState], None] | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        data_fingerprint: str | None = None,
        checkpoint_restart: bool = False,
    ) -> LogisticCore:
        """The fit on prepared data (``classes_`` and the feature attributes already set):
        the objective, the solver (with checkpoints), the fitted attributes. Cross-validation
        refits the chosen model through here, on the data it already prepared."""
        content = {} if checkpoint is None or prep.arrays is None else content_hash(*prep.arrays)
        n_rows, p = prep.n_rows, prep.n_features
        self.solver_ = choose_solver(self.solver, p, self.l1_ratio if self._alpha() else 0.0)
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
        # Dask data: blocks in memory / on disk and the pass throughput (engine.BlockData)
        self.data_storage_ = None if prep.data is None else prep.data.storage_info()
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
                _convergence_warning(),
                stacklevel=3,
            )
        return self

    def _column_options(self) -> dict[str, Any]:
        names = ("missing", "categorical", "numeric", "max_categories", "min_frequency")
        return {name: getattr(self, name) for name in names}

    def _encode_frame(
        self, X: Any, y: Any, sample_weight: Any, encoding: Any
    ) -> tuple[Any, Any, Any, Any, bool]:
        """A DataFrame with categorical or incomplete columns (:mod:`logloss.frames`):
        learn its encoding and encode it; anything else passes through."""
        from .frames import drop_rows, encode_frame, is_frame, learn_frame, needs_encoding

        if encoding is not None or not needs_encoding(X, self.missing):
            return X, y, sample_weight, encoding, False
        if self.missing == "drop" and not is_dask(X) and is_frame(X):
            X, y, sample_weight = drop_rows(X, y, sample_weight)
        encoding = learn_frame(X, sample_weight, self._column_options())
        return encode_frame(X, encoding), y, sample_weight, encoding, True

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
            l1_ratio=self.l1_ratio,
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

    def _prepare(
        self, X: Any, y: Any, sample_weight: Any, raw: np.ndarray | None = None
    ) -> Prepared:
        """Labels, weights and the solver's coordinates (:mod:`logloss.prepare`); sets
        ``classes_``, ``n_features_in_`` and ``feature_names_in_``."""
        how = Scaling(self.standardize, self.fit_intercept, self._alpha(), raw)
        if is_dask(X) or is_dask(y) or is_dask(sample_weight):
            prep = prepare_dask(X, y, sample_weight, self.class_weight, how)
            self.n_features_in_ = prep.n_features
            if prep.feature_names is not None:
                self.feature_names_in_ = prep.feature_names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        else:
            X, y = self._numpy_input(X, y)
            prep = prepare_numpy(X, y, sample_weight, self.class_weight, how)
        self.classes_ = prep.classes
        return prep

    def _numpy_input(self, X: Any, y: Any) -> tuple[NDArray[np.floating], np.ndarray]:
        """In-memory training data as C-ordered float arrays (the estimator adds
        scikit-learn's input validation)."""
        X = np.asarray(X)
        X = np.ascontiguousarray(X, dtype=X.dtype if X.dtype == np.float32 else np.float64)
        y = np.asarray(y)
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
            raise ValueError(
                f"X must be 2-D and y 1-D of the same length; got {X.shape}, {y.shape}"
            )
        self.n_features_in_ = X.shape[1]
        return X, y

    def _numpy_features(self, X: Any) -> NDArray[np.floating]:
        """In-memory features to predict on (the estimator adds scikit-learn's validation)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[-1] if X.ndim else 0} features, but the model is fitted "
                f"for {self.n_features_in_}"
            )
        return X

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet: call 'fit' first."
            )

    @property
    def _penalize(self) -> str:
        """Which coefficients the penalty applies to: standardised (θ) or original (w)."""
        return "theta" if self.standardize else "w"

    def _alpha(self) -> float:
        return 0.0 if self.penalty is None or np.isinf(self.C) else 1.0 / self.C

    # --------------------------------------------------------------- prediction
    def decision_function(self, X: Any) -> Any:
        """Margins z = X·coef + intercept, shape (n,); lazy for Dask input."""
        self._check_fitted()
        b = float(self.intercept_[0])
        encoding = getattr(self, "encoding_", None)
        if encoding is not None:
            from .frames import encode_frame, is_frame

            if is_frame(X):  # a DataFrame of the columns the model was trained on
                X = encode_frame(X, encoding)
                if is_dask(X):
                    return lazy_margin(X, self.coef_[0], b, self.n_features_in_, None)
        if is_dask(X):
            names = getattr(self, "feature_names_in_", None)
            return lazy_margin(X, self.coef_[0], b, self.n_features_in_, names)
        return margin(self._numpy_features(X), self.coef_[0], b)

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
            right = (np.asarray(self.predict(X)) == np.asarray(y)).astype(np.float64)
            return float(np.average(right, weights=sample_weight))
        pred = self.predict(X)
        chunks = (pred.chunks[0],)
        sw = None if sample_weight is None else dask_array(sample_weight).rechunk(chunks)
        return lazy_accuracy(pred, dask_array(y).rechunk(chunks), sw)

    # ------------------------------------------------------------- persistence
    def to_sklearn(self) -> Any:
        """A fitted scikit-learn estimator whose ``predict_proba`` equals this model's: a
        ``LogisticRegression``, or with categorical/imputed columns a ``Pipeline`` of the
        column transformation and one (it takes a DataFrame of the input columns). For
        skops, skl2onnx, ``mlflow.sklearn`` and the like; see :mod:`logloss.export`."""
        from .export import to_sklearn

        self._check_fitted()
        return to_sklearn(self)

    def summary(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Coefficient statistics on data ``X``, ``y`` (usually the training data): a pandas
        DataFrame indexed by feature name and "intercept", with columns ``coef``,
        ``std_err``, ``z``, ``p_value`` (two-sided) and ``ci_low``/``ci_high`` (95%), from
        the observed information at the fitted coefficients (one pass over the data,
        distributed for Dask input). Also sets ``summary_info_``: n, log_likelihood,
        null_log_likelihood, deviance, aic, bic, mcfadden_r2.

        Without a penalty (``C=inf``) these are the maximum-likelihood statistics
        (statsmodels' ``Logit``). With a penalty they come from the penalised Hessian and
        are **approximate** (penalised estimates are biased towards 0); with an L1 part only
        the non-zero coefficients are listed. See :mod:`logloss.stats`.
        """
        from .stats import coefficient_summary

        self._check_fitted()
        encoding = getattr(self, "encoding_", None)
        if encoding is not None:
            from .frames import encode_frame, is_frame

            if is_frame(X):
                X = encode_frame(X, encoding)
        table, info = coefficient_summary(self, X, y, sample_weight)
        self.summary_info_ = info
        return table

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        metadata: dict[str, Any] | None = None,
        extra: Callable[[Path], None] | None = None,
    ) -> Path | str:
        """Write the fitted model as a new version at location ``path`` (model.json +
        coef.npy, see docs/model-files.md); returns the version folder.

        ``metadata`` (JSON-serialisable: data source, label column, metrics ...) is stored
        under "training" in model.json; ``extra(tmpdir)`` may add files. ``latest`` is
        moved to the version once it is complete.
        """
        from .storage.files import save_model

        self._check_fitted()
        return save_model(path, model_meta(self, metadata), model_vector(self), extra=extra)

    @classmethod
    def load(cls: type[_Model], path: str | os.PathLike[str]) -> _Model:
        """A model written by :meth:`save` (a location, a version folder or a plain folder
        with model.json + coef.npy), as an instance of this class (no pickle, validated)."""
        from .storage.files import read_model

        meta, vec = read_model(path)
        try:
            est = cls(**estimator_kwargs(meta))
            for name, value in fitted_attributes(meta, vec).items():
                setattr(est, name, value)
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"model in {str(path)!r} is malformed: {exc!r}") from None
        return est


# A feature column is called badly scaled when its largest |value| lies outside this range
# (the intercept's column is 1): the hint given when a fit without standardize fails.
_SCALE_RANGE = (1e-3, 1e3)


def _badly_scaled(max_abs: Array) -> list[int]:
    lo, hi = _SCALE_RANGE
    bad = (max_abs > hi) | ((max_abs > 0) & (max_abs < lo))
    return [int(j) for j in np.flatnonzero(bad)]
