"""The fitting and prediction of :class:`~logloss.LogisticRegression`, without scikit-learn.

:class:`LogisticCore` validates the settings, prepares the data
(:func:`logloss.prepare.prepare`), fits them (:func:`logloss.fitting.fit_prepared`: the
objective, a solver, checkpoints) and sets the fitted attributes from the
:class:`~logloss.fitting.FitResult` (:meth:`LogisticCore.set_fitted`); it predicts and
saves. The three steps are public: the cross-validation search prepares once and fits
many times. :class:`~logloss.estimator.LogisticRegression`
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

from .coded import CodedMatrix
from .fitting import FIT_SETTING_NAMES, FitResult, fit_prepared
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
from .prepare import Prepared, dask_array, is_dask, numpy_input, penalty_alpha, prepare
from .settings import DEPRECATED_ALIASES, TRAIN_SETTINGS, check_setting
from .solvers import SolverState
from .storage.modelfile import (
    ModelFileError,
    estimator_kwargs,
    fitted_attributes,
    model_meta,
    model_vector,
)

__all__ = ["FitResult", "LogisticCore", "NotFittedError", "Prepared", "fit_prepared", "prepare"]

Array = NDArray[np.float64]

_Model = TypeVar("_Model", bound="LogisticCore")

#: The settings of one fit (the constructor's arguments but the deprecated ``penalty``).
SETTING_NAMES = FIT_SETTING_NAMES[1:]


class NotFittedError(ValueError, AttributeError):
    """A model used before ``fit`` (scikit-learn's NotFittedError derives from the same)."""


class LogisticCore:
    """Binary logistic regression minimising the (L2-penalised) mean log loss: the
    settings, ``fit``, predictions and ``save`` of :class:`~logloss.LogisticRegression`
    (see there for the parameters and attributes), with no scikit-learn import."""

    # fitted attributes (set by fit, i.e. set_fitted, or by load)
    classes_: np.ndarray
    coef_: Array
    intercept_: Array
    n_features_in_: int
    feature_names_in_: np.ndarray
    n_iter_: NDArray[np.int32]
    converged_: bool
    history_: list[dict[str, float]]
    n_passes_: int
    n_sample_passes_: int
    n_rows_: int
    solver_: str
    stop_reason_: str
    data_storage_: dict[str, Any] | None
    badly_scaled_: list[int]
    resumed_from_iter_: int | None
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
        max_categories: int | None = None,
        min_frequency: int = 1,
        categorical_coding: str = "all",
        hash_bits: int | None = None,
        hash_columns: list[str] | None = None,
        interactions: list[str] | None = None,
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
        self.categorical_coding = categorical_coding
        self.hash_bits = hash_bits
        self.hash_columns = hash_columns
        self.interactions = interactions

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
        """Fit on NumPy/pandas (in memory) or Dask arrays/DataFrames (distributed):
        :meth:`prepare_data`, :func:`~logloss.fitting.fit_prepared`, :meth:`set_fitted`.

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
        prepared = self.prepare_data(X, y, sample_weight, encoding=encoding)
        try:
            result = fit_prepared(
                prepared,
                self.get_params(),
                callback=callback,
                checkpoint=checkpoint,
                data_fingerprint=data_fingerprint,
                checkpoint_restart=checkpoint_restart,
            )
        finally:
            prepared.release()  # the fit's blocks (and their disk files) now, not at gc
        return self.set_fitted(result)

    def prepare_data(
        self, X: Any, y: Any, sample_weight: Any = None, *, encoding: Any = None
    ) -> Prepared:
        """:func:`~logloss.prepare.prepare` with this model's settings and input checks (the
        estimator's are scikit-learn's): the training data ready for
        :func:`~logloss.fitting.fit_prepared`. Sets no attribute but those scikit-learn's
        input validation sets; release the result (``Prepared.release``) when done."""
        return prepare(
            X,
            y,
            sample_weight,
            settings=self.get_params(),
            encoding=encoding,
            alpha=self._alpha(),
            check_input=self._numpy_input,
        )

    def set_fitted(self: _Model, result: FitResult) -> _Model:
        """Set the fitted attributes from a fit's result: those of the data (``classes_``,
        ``n_features_in_``, ``feature_names_in_``, ``encoding_``: see
        :meth:`set_features`) and of the fit (``coef_``, ``intercept_``, ``n_iter_``,
        ``converged_``, ``stop_reason_``, ``history_``, ``n_passes_``, ``n_sample_passes_``,
        ``solver_``, ``data_storage_``, ``badly_scaled_``, ``resumed_from_iter_``,
        ``n_rows_``). Returns the model."""
        self.set_features(result.classes, result.n_features, result.feature_names, result.encoding)
        self.coef_ = np.array(result.coef, dtype=np.float64).reshape(1, result.n_features)
        self.intercept_ = np.array(result.intercept, dtype=np.float64).reshape(1)
        self.n_iter_ = np.array([result.n_iter], dtype=np.int32)
        self.converged_ = bool(result.converged)
        self.stop_reason_ = result.stop_reason
        self.history_ = [dict(h) for h in result.history]
        self.n_passes_ = int(result.n_passes)
        self.n_sample_passes_ = int(result.n_sample_passes)
        self.solver_ = result.solver
        self.data_storage_ = result.data_storage
        self.badly_scaled_ = list(result.badly_scaled)
        self.resumed_from_iter_ = result.resumed_from_iter
        self.n_rows_ = int(result.n_rows)
        return self

    def set_features(
        self, classes: np.ndarray, n_features: int, feature_names: Any, encoding: Any
    ) -> None:
        """The attributes of the training data: ``classes_``, ``n_features_in_``,
        ``feature_names_in_`` and ``encoding_`` (the last two removed when None)."""
        self.classes_ = classes
        self.n_features_in_ = int(n_features)
        for name, value in (("feature_names_in_", feature_names), ("encoding_", encoding)):
            if value is not None:
                setattr(self, name, value)
            elif hasattr(self, name):
                delattr(self, name)

    def _numpy_input(self, X: Any, y: Any) -> tuple[NDArray[np.floating], np.ndarray]:
        """In-memory training data as C-ordered float arrays (the estimator adds
        scikit-learn's input validation)."""
        return numpy_input(X, y)

    def _numpy_features(self, X: Any) -> NDArray[np.floating]:
        """In-memory features to predict on (the estimator adds scikit-learn's validation)."""
        if isinstance(X, CodedMatrix):  # a coded block (logloss.coded): its shape is (n, p)
            if X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but the model is fitted for "
                    f"{self.n_features_in_}"
                )
            return X  # type: ignore[return-value]
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

    def _alpha(self) -> float:
        """The penalty 1/C the solver's coordinates are scaled for (0: none)."""
        return penalty_alpha({"C": self.C, "penalty": self.penalty})

    # --------------------------------------------------------------- prediction
    def decision_function(self, X: Any) -> Any:
        """Margins z = X·coef + intercept, shape (n,); lazy for Dask input."""
        self._check_fitted()
        b = float(self.intercept_[0])
        encoding = getattr(self, "encoding_", None)
        if encoding is not None:
            from .frames import encode_frame, is_frame

            if is_frame(X):  # a DataFrame of the columns the model was trained on
                lazy = is_dask(X)
                X = encode_frame(X, encoding)
                if is_dask(X):  # a Dask DataFrame's, or a pandas one's coded blocks
                    z = lazy_margin(X, self.coef_[0], b, self.n_features_in_, None)
                    return z if lazy else np.asarray(z.compute())
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
        ``std_err``, ``z``, ``p_value`` (two-sided), ``ci_low``/``ci_high`` (95%) and
        ``identified_by`` ("data"; "penalty" or "none" for the levels of an all-level
        coded categorical column and the intercept: no test), from the observed
        information at the fitted coefficients (one pass over the data, distributed for
        Dask input). Also sets ``summary_info_``: n, log_likelihood, null_log_likelihood,
        deviance, aic, bic, mcfadden_r2, categorical_coding, identified_by_penalty,
        not_identified and categorical_tests (a joint Wald test per categorical column:
        column, chi2, df, p_value).

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
