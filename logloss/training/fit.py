"""The fit step of a run, and its verdict: did the fit converge, and if not, what to change.

No Prefect, no output here: the fit returns the model, :func:`not_converged` a
:class:`~logloss.remedies.Problem` (or None) whose remedies name settings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

import numpy as np

from ..data import DataError, Dataset
from ..logistic import LogisticCore
from ..remedies import Problem, ProblemError
from ..settings import TrainSettings
from ..solvers import SolverState, remedies

__all__ = ["NotConvergedError", "not_converged", "train_model"]


def train_model(
    ds: Dataset,
    settings: TrainSettings,
    *,
    callback: Callable[[SolverState], None] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_restart: bool = False,
    cv_progress: Callable[[int, int], None] | None = None,
    init: np.ndarray | None = None,
) -> LogisticCore:
    """Fit on a (persisted) dataset; the model remembers its features, label and source.

    With ``settings.cv``: C (and l1_ratio) chosen by cross-validation (:mod:`logloss.cv`,
    ``cv_progress(pass, models running)`` after each of its passes), then the refit on all
    rows; the model's ``cv_`` holds the search's table. A search is not checkpointed.

    A ``checkpoint`` records the data's fingerprint (files, sizes, modification times,
    row counts): resuming it on other data or settings raises
    :class:`~logloss.checkpoint.CheckpointError`, or with ``checkpoint_restart`` starts
    afresh. The fit may end unconverged: see :func:`not_converged`. ``init``: the
    coefficients (then the intercept) to start from, e.g. the champion's
    (:func:`logloss.training.champion.start_from`); not with ``cv``.
    """
    if ds.y is None:
        raise DataError(f"dataset {ds.source} was read without a label column")
    ds.check_labels()
    model = LogisticCore(**settings.fit())
    if settings.cv:  # choose C (and l1_ratio) by cross-validation, then refit (no checkpoint)
        from ..cv import fit_cv

        _, model = fit_cv(
            model,
            ds.X,
            ds.y,
            ds.sample_weight,
            Cs=settings.Cs,
            l1_ratios=settings.l1_ratios,
            cv=settings.cv,
            encoding=ds.encoding,
            callback=callback,
            progress=cv_progress,
        )
    elif init is not None:
        _fit_from(model, ds, init, callback, checkpoint, checkpoint_restart)
    else:
        model.fit(
            ds.X,
            ds.y,
            sample_weight=ds.sample_weight,
            encoding=ds.encoding,
            callback=callback,
            checkpoint=checkpoint,
            data_fingerprint=ds.fingerprint(),
            checkpoint_restart=checkpoint_restart,
        )
    model.feature_names_in_ = np.asarray(ds.feature_names, dtype=object)
    model.training_ = {
        "data": ds.source,
        "label": ds.label,
        "weight": ds.weight,
        "dtype": str(ds.X.dtype),
        "n_rows": int(ds.X.shape[0]),
        "n_dropped": int(ds.n_dropped),
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return model


def _fit_from(
    model: LogisticCore,
    ds: Dataset,
    init: np.ndarray,
    callback: Callable[[SolverState], None] | None,
    checkpoint: str | os.PathLike[str] | None,
    checkpoint_restart: bool,
) -> None:
    """:meth:`LogisticCore.fit` started from ``init`` (:func:`logloss.fitting.fit_prepared`)."""
    from ..fitting import fit_prepared

    model._check_settings()
    prepared = model.prepare_data(ds.X, ds.y, ds.sample_weight, encoding=ds.encoding)
    try:
        result = fit_prepared(
            prepared,
            model.get_params(),
            init=init,
            callback=callback,
            checkpoint=checkpoint,
            data_fingerprint=ds.fingerprint(),
            checkpoint_restart=checkpoint_restart,
        )
    finally:
        prepared.release()
    model.set_fitted(result)


class NotConvergedError(ProblemError):
    """A fit that stopped with max|gradient| above tol (its problem says why, and what to
    change); ``reason`` and ``hint`` in the Python spelling."""

    @property
    def reason(self) -> str:
        return self.problem.reason()

    @property
    def hint(self) -> str:
        return "hint: " + self.problem.hint()


def not_converged(model: LogisticCore, feature_names: Sequence[str] = ()) -> Problem | None:
    """None when ``model`` converged (max|gradient| <= tol), else why it stopped and the
    settings to change (:func:`logloss.solvers.remedies`, the one list of them)."""
    if bool(getattr(model, "converged_", True)):
        return None
    n_iter = int(np.ravel(getattr(model, "n_iter_", [0]))[0])
    history = getattr(model, "history_", None) or []
    grad = float(history[-1]["grad_norm"]) if history else float("nan")
    why = str(getattr(model, "stop_reason_", "") or "")
    solver = str(getattr(model, "solver_", model.solver))
    reason = (
        f"not converged: max|gradient| {grad:.3e} > tol {model.tol:g} after {n_iter} "
        f"iteration(s) of {solver}" + (f"; stopped because: {why.rstrip('.')}" if why else "")
    )
    names = [str(c) for c in feature_names]
    bad = [int(j) for j in getattr(model, "badly_scaled_", None) or []]
    badly = [repr(names[j]) if j < len(names) else f"#{j}" for j in bad]
    return Problem("not converged", reason, remedies(solver, n_iter, model.get_params(), badly))
