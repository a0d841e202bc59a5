"""Cross-validation over a grid of C (and l1_ratio): every (fold, C, l1_ratio) model advances
in the same passes over the data.

Conventions
-----------
- K models, one per (fold, C, l1_ratio). A pass evaluates every model still running: a
  row slice's margins for all of them are one product X·W ((n, p) by (p, K)), and each
  model's sums are masked by its fold (its training rows give the loss, gradient and
  Hessian its solver asks for; its held-out rows give its score). K models cost one read
  of X per pass plus about K·p flops per row; a converged model stops costing anything.
- Each model runs the ordinary solver (Newton, proximal Newton, lbfgs or gd, with the
  in-process warm start on a row sample of large data) on an ordinary
  :class:`~logloss.objective.LogisticObjective`, in a thread of its own. Its sums function
  hands the request to a coordinator (:class:`~logloss.lockstep.Lockstep`) that waits until
  every running model has asked, runs one pass for all of them
  (:func:`~logloss.loss.cv_block_sums`) and hands the sums back: the models move in
  lockstep, and the optimum of each is exactly the one a separate fit would reach.
- Categorical codes (coded blocks, :mod:`logloss.coded`): a pass is
  :func:`~logloss.coded_cv.coded_cv_sums`, each model's gathers and scatter-adds over the
  block (no dense indicator; what the models share is the pass: the tasks, the block
  read, each row's fold). Their solver: lbfgs preconditioned by the Hessian's diagonal
  (``solver="auto"`` with L2; the diagonal comes from the same scatter-adds), started cold;
  newton and proximal Newton (l1_ratio > 0) only where the full Hessian is formed
  (:func:`~logloss.coded.hessian_fits`), else refused in one line.
- Folds: an int ``cv`` puts a row in fold ``hash(global row position) mod cv``
  (:func:`~logloss.loss.hashed_folds`: deterministic, the same whatever the blocks, no
  shuffle pass); or explicit (train, test) index arrays, as scikit-learn's ``cv=`` takes
  (in-memory data).
- The score (scoring "neg_log_loss") is minus the mean log loss over a model's held-out
  rows, unweighted, as scikit-learn's scorer computes it.
- With standardize, the mean and scale of the features come from all rows (one pass),
  not from each fold's training rows.

Uses Dask only through :class:`~logloss.blockdata.BlockData` (one ``map_reduce`` per pass).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .cluster import available_memory
from .coded import FULL_HESSIAN_MAX_FEATURES, hessian_fits
from .fitting import FIT_SETTING_NAMES, FitResult, fit_prepared
from .lockstep import FoldPasses, Lockstep
from .loss import Folds, cv_block_sums, hashed_folds
from .objective import LogisticObjective, NonFiniteError, numpy_sums
from .placement import worker_headroom
from .prepare import Prepared, sample_step, take_sample
from .remedies import Problem, ProblemError, Remedy
from .solvers import SolverState, choose_solver, solve, solver_options, warm_start

if TYPE_CHECKING:
    from .logistic import LogisticCore

__all__ = [
    "CVResult",
    "Folds",
    "check_grid",
    "cross_validate",
    "cv_block_sums",
    "fit_cv",
    "hashed_folds",
    "make_folds",
    "refit_settings",
    "search_cv",
]

Array = NDArray[np.float64]

SCORINGS = ("neg_log_loss",)

#: The settings of one fit (the refit's), without the deprecated ``penalty``.
SETTING_NAMES = FIT_SETTING_NAMES[1:]

#: Warm starts from a row sample (every 16th row or sparser) from this many rows: below, the
#: models start from 0 and take exact Newton steps. Lower than a single fit's threshold
#: (WARM_MIN_ROWS): here a Hessian pass costs K Hessians, and the sample solves are shared
#: by all the folds.
CV_WARM_MIN_ROWS = 20_000

#: Vectors of a model's length (p + 1 float64) that each model of a search holds in this
#: process while the models run: its solver's L-BFGS pairs and working copies, the
#: objective's iterate, gradient and preconditioner, its share of the passes' packed sums.
#: Measured by tracemalloc's peak: 39.7 a model (6 models of 2^18, 2^19 and 2^20 hashed
#: buckets over seattlepets' names, 0.48, 0.97 and 1.9 GB); a full Hessian (Newton,
#: narrow data) counts three (p + 1)² more.
CV_VECTORS_PER_MODEL = 40
#: The share of this machine's available memory a search may plan to take.
CV_MEMORY_FRACTION = 0.8
#: A pass of a search on a worker, per model and worker thread: its coefficients (the
#: task's argument), its gradient and, at most, its Hessian's diagonal and intercept column.
WORKER_CV_VECTORS_PER_THREAD = 4
#: ... and the worker's sum of its threads' partial sums (gradient, diagonal, column).
WORKER_CV_COMBINE_VECTORS = 3


# ------------------------------------------------------------------ folds
def make_folds(cv: Any, n_rows: int, in_memory: bool) -> Folds:
    """:class:`Folds` from an int (hashed) or an iterable of (train, test) index arrays
    (in-memory data only), with the checks of scikit-learn's ``cv=``."""
    if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        if cv < 2:
            raise ValueError(f"cv must be at least 2 folds; got {cv}")
        if cv > n_rows:
            raise ValueError(f"cv={cv} folds need at least {cv} rows; the data have {n_rows}")
        return Folds(int(cv))
    if not isinstance(cv, Iterable) or isinstance(cv, (str, bytes)):
        raise ValueError(
            f"cv must be an int (number of folds) or an iterable of (train, test) index "
            f"arrays; got {cv!r}"
        )
    if not in_memory:
        raise ValueError(
            "cv as (train, test) index arrays needs in-memory (NumPy) data: row indices of "
            "Dask data are not known up front; give cv as a number of folds"
        )
    splits = []
    for i, split in enumerate(cv):
        try:
            tr, te = (np.asarray(a) for a in split)
        except (TypeError, ValueError):
            raise ValueError(
                f"cv split {i} must be a pair (train indices, test indices); got {split!r}"
            ) from None
        for what, idx in (("train", tr), ("test", te)):
            if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
                raise ValueError(
                    f"cv split {i}: the {what} indices must be a non-empty 1-D array of "
                    f"integers; got {idx!r}"
                )
            bad = idx[(idx < 0) | (idx >= n_rows)]
            if bad.size:
                raise ValueError(
                    f"cv split {i}: {what} index {int(bad[0])} is out of range for {n_rows} rows"
                )
        splits.append((tr, te))
    if len(splits) < 1:
        raise ValueError("cv gave no (train, test) splits")
    return Folds(len(splits), splits)


# ------------------------------------------------------------------ the search
@dataclass
class CVResult:
    """Every model of the grid. Arrays are indexed (fold, C, l1_ratio[, parameter])."""

    Cs: Array
    l1_ratios: Array
    scores: Array  # (F, nC, nL): minus the held-out mean log loss
    coefs: Array  # (F, nC, nL, p + fit_intercept): coefficients (original units), intercept
    n_iter: NDArray[np.int32]  # (F, nC, nL)
    converged: NDArray[np.bool_]  # (F, nC, nL)
    passes: int
    best: tuple[int, int]  # (index of C, index of l1_ratio)

    @property
    def C(self) -> float:
        return float(self.Cs[self.best[0]])

    @property
    def l1_ratio(self) -> float:
        return float(self.l1_ratios[self.best[1]])

    def table(self, scoring: str = "neg_log_loss") -> dict[str, Any]:
        """The JSON form kept in model.json ("cv") and drawn by the report: the mean score
        and its standard error over folds for every (C, l1_ratio)."""
        F = self.scores.shape[0]
        mean = self.scores.mean(axis=0)
        se = self.scores.std(axis=0, ddof=1) / np.sqrt(F) if F > 1 else np.zeros_like(mean)
        multi = len(self.l1_ratios) > 1 or self.l1_ratios[0] != 0.0

        def rows(a: Array) -> list[Any]:
            return [a[:, j].tolist() for j in range(a.shape[1])] if multi else a[:, 0].tolist()

        return {
            "folds": int(F),
            "scoring": scoring,
            "Cs": [float(c) for c in self.Cs],
            "l1_ratios": [float(r) for r in self.l1_ratios] if multi else None,
            "mean": rows(mean),
            "std_err": rows(se),
            "C": self.C,
            "l1_ratio": self.l1_ratio,
            "passes": int(self.passes),
            "converged": bool(self.converged.all()),
        }


def check_grid(Cs: Any, l1_ratios: Any) -> tuple[Array, Array]:
    """The C grid (an int n: n values log-spaced over [1e-4, 1e4], scikit-learn's rule; or
    the values) and the l1_ratio grid (None: L2 only), with clear errors."""
    if isinstance(Cs, (int, np.integer)) and not isinstance(Cs, bool):
        if Cs < 1:
            raise ValueError(f"Cs must be a positive number of values or a list of C; got {Cs}")
        grid = np.logspace(-4, 4, int(Cs))
    else:
        grid = _values(Cs, "Cs", "every C in Cs must be a finite number > 0", "one C", _positive)
    if l1_ratios is None:
        return grid, np.array([0.0])
    rule = "every l1_ratio must be between 0 and 1"
    return grid, _values(l1_ratios, "l1_ratios", rule, "one value, or None for L2", _unit)


def _positive(a: Array) -> NDArray[np.bool_]:
    return np.isfinite(a) & (a > 0)


def _unit(a: Array) -> NDArray[np.bool_]:
    return (a >= 0) & (a <= 1)


def _values(
    values: Any,
    name: str,
    rule: str,
    least: str,
    ok: Callable[[Array], NDArray[np.bool_]] = lambda a: np.ones(a.shape, dtype=bool),
) -> Array:
    """``values`` as a 1-D float array: non-empty, every value passing ``ok`` (else the
    ValueError "``rule``; got <the first bad value>")."""
    try:
        out = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of numbers; got {values!r}") from None
    if out.size == 0:
        raise ValueError(f"{name} is empty: give at least {least}")
    bad = out[~ok(out)]
    if bad.size:
        raise ValueError(f"{rule}; got {float(bad[0])!r}")
    return out


def _class_counts(prep: Prepared) -> tuple[float, float]:
    """Rows of class 0 and class 1."""
    if prep.data is not None:
        counts = prep.data.map_reduce(_block_class_counts, name="logloss-classcount")
    else:
        assert prep.arrays is not None
        counts = _block_class_counts(None, prep.arrays[1], None)
    return float(counts[0]), float(counts[1])


def _block_class_counts(X: Any, y: Any, s: Any = None) -> Array:
    n1 = float(np.sum(y))
    return np.array([len(y) - n1, n1])


def cross_validate(
    settings: dict[str, Any],
    prep: Prepared,
    *,
    Cs: Array,
    l1_ratios: Array,
    folds: Folds,
    callback: Callable[[int, int], None] | None = None,
) -> CVResult:
    """Fit every (fold, C, l1_ratio) model of the grid on ``prep`` in lockstep.

    ``settings``: the training settings (``tol``, ``max_iter``, ``solver``, ``standardize``,
    ``fit_intercept`` ...; ``C`` and ``l1_ratio`` come from the grid). ``callback(pass,
    running)`` after every pass (progress displays).
    """
    F, nC, nL = folds.n_folds, len(Cs), len(l1_ratios)
    coded = bool(getattr(prep.encoding, "coded", False))
    solvers = [
        _grid_solver(settings["solver"], prep.n_features, float(r), coded) for r in l1_ratios
    ]
    if not folds.explicit:
        smallest = min(_class_counts(prep))
        if F > smallest:
            raise ValueError(
                f"cv={F} folds is more than the {int(smallest)} rows of the smallest class: "
                "each fold needs rows of both classes; use fewer folds"
            )
    grid = [(f, i, j) for f in range(F) for i in range(nC) for j in range(nL)]
    model_fold = np.array([f for f, _, _ in grid], dtype=np.intp)
    p = prep.n_features
    newton = sum(F * nC for s in solvers if s == "newton")
    hash_width = getattr(prep.encoding, "hash_width", 0)
    hash_bits = int(hash_width).bit_length() - 1 if hash_width else 0
    client = prep.data.client if prep.data is not None else None
    check_search_memory(len(grid), p, (F, nC, nL), newton, hash_bits, client=client)
    fit_intercept = bool(settings["fit_intercept"])
    penalize = "theta" if settings["standardize"] else "w"
    passes = FoldPasses(prep, folds, model_fold)
    lock = Lockstep(passes, progress=callback)
    # coded data start cold: on seattlepets' names a row sample's start took twice the
    # passes of a cold start preconditioned by the diagonal (the levels the sample misses)
    starts = {} if coded else _path_starts(settings, prep, Cs, l1_ratios, penalize)
    results: dict[int, Any] = {}
    objectives: dict[int, LogisticObjective] = {}

    def work(model: int) -> None:
        f, i, j = grid[model]
        objective = LogisticObjective(
            lock.sums_for(model),
            p,
            alpha=1.0 / float(Cs[i]),
            fit_intercept=fit_intercept,
            mean=prep.mean,
            scale=prep.scale,
            penalize=penalize,
            l1_ratio=float(l1_ratios[j]),
            segments=prep.segments,
        )
        objectives[model] = objective
        solver = solvers[j]
        start = SolverState(np.zeros(objective.n_params), 0, ())
        options = solver_options(
            solver, learning_rate=settings["learning_rate"], line_search=settings["line_search"]
        )
        if solver != "gd" and (i, j) in starts:
            start, options = starts[i, j]
        if coded and solver == "lbfgs":
            options = {**options, "diagonal": True}  # preconditioned by the Hessian's diagonal
        results[model] = solve(
            solver,
            objective,
            start,
            max_iter=settings["max_iter"],
            tol=settings["tol"],
            **options,
        )

    try:
        lock.run(range(len(grid)), work)
    except NonFiniteError as exc:
        raise ValueError(f"cross-validation: {exc}") from None
    held = _held_out_scores(lock, passes, results, objectives)
    scores = np.empty((F, nC, nL))
    q = p + int(fit_intercept)
    coefs = np.empty((F, nC, nL, q))
    n_iter = np.empty((F, nC, nL), dtype=np.int32)
    converged = np.empty((F, nC, nL), dtype=bool)
    for model, (f, i, j) in enumerate(grid):
        w = objectives[model].to_w(results[model].theta)
        loss, rows = held[model]
        if rows <= 0:
            raise ValueError(f"cv fold {f} holds out no rows: every fold needs held-out rows")
        scores[f, i, j] = -loss / rows
        coefs[f, i, j] = w[:q] if fit_intercept else w[:p]
        n_iter[f, i, j] = results[model].n_iter
        converged[f, i, j] = results[model].converged
    # scikit-learn's choice: the best mean score, l1_ratio the outer and C the inner loop
    mean = scores.mean(axis=0)  # (nC, nL)
    flat = int(np.argmax(mean.T.ravel()))
    best = (flat % nC, flat // nC)
    return CVResult(Cs, l1_ratios, scores, coefs, n_iter, converged, lock.passes, best)


def worker_search_bytes(n_models: int, n_features: int, threads: int, n_newton: int = 0) -> int:
    """The memory a pass of a search takes on a worker of ``threads`` threads: per thread
    (one task each) the models' coefficients and their sums
    (:data:`WORKER_CV_VECTORS_PER_THREAD` vectors a model), and the sum of the threads'
    (:data:`WORKER_CV_COMBINE_VECTORS`); ``n_newton`` models' full Hessians likewise."""
    q = n_features + 1
    per = n_models * q + n_newton * q * q
    return 8 * per * (threads * WORKER_CV_VECTORS_PER_THREAD + WORKER_CV_COMBINE_VECTORS)


def search_bytes(n_models: int, n_features: int, n_newton: int = 0) -> int:
    """The memory a search of ``n_models`` models of ``n_features`` features holds in this
    process (:data:`CV_VECTORS_PER_MODEL`; ``n_newton`` of them with a full Hessian)."""
    q = n_features + 1
    return 8 * (n_models * CV_VECTORS_PER_MODEL * q + n_newton * 3 * q * q)


def check_search_memory(
    n_models: int,
    n_features: int,
    grid: tuple[int, int, int],
    n_newton: int = 0,
    hash_bits: int = 0,
    available: int | None = None,
    client: Any | None = None,
) -> None:
    """Refuses up front (:class:`~logloss.remedies.ProblemError`, one line) a search whose
    models would hold more than :data:`CV_MEMORY_FRACTION` of the available memory: K
    models of 2^24 hashed buckets take K x 4.8 GB, and a grid of 50 had been the kernel's
    out-of-memory kill after the whole read. ``grid``: (folds, Cs, l1_ratios);
    ``hash_bits``: the hashed columns' (a remedy), 0 without. ``client``: the distributed
    client whose workers hold the blocks; a worker whose passes' sums
    (:func:`worker_search_bytes`) would not fit its headroom
    (:func:`~logloss.placement.worker_headroom`) is refused too, before a KilledWorker."""
    need = search_bytes(n_models, n_features, n_newton)
    have = available_memory() if available is None else available
    if need > CV_MEMORY_FRACTION * have:
        why = (
            f"needs about {need / 2**30:,.1f} GiB in this process ({CV_VECTORS_PER_MODEL} "
            f"vectors of that length a model: the solver's history, gradients and the passes' "
            f"sums), more than {CV_MEMORY_FRACTION:.0%} of the {have / 2**30:,.1f} GiB available"
        )
        _refuse_search(n_models, n_features, grid, hash_bits, why)
    for addr, threads, room in worker_headroom(client) or ():
        need = worker_search_bytes(n_models, n_features, threads, n_newton)
        if need > room:
            why = (
                f"needs about {need / 2**30:,.2f} GiB on worker {addr} ({threads} thread(s): "
                f"{WORKER_CV_VECTORS_PER_THREAD} vectors of that length a model a thread, "
                f"{WORKER_CV_COMBINE_VECTORS} more to add them up), more than the "
                f"{room / 2**30:,.2f} GiB it has left below 60 % of its memory limit"
            )
            _refuse_search(n_models, n_features, grid, hash_bits, why, workers=True)


def _refuse_search(
    n_models: int,
    n_features: int,
    grid: tuple[int, int, int],
    hash_bits: int,
    why: str,
    workers: bool = False,
) -> None:
    folds, n_C, n_l1 = grid
    shape = f"{folds} folds x {n_C} C" + (f" x {n_l1} l1_ratio" if n_l1 > 1 else "")
    remedies = [
        Remedy("cv", "fewer folds:", detail=f" (now {folds})"),
        Remedy("Cs", "fewer values of C:", detail=f" (now {n_C})"),
    ]
    if n_l1 > 1:
        remedies.append(Remedy("l1_ratios", "fewer l1 ratios:", detail=f" (now {n_l1})"))
    if hash_bits:
        remedies.append(Remedy("hash_bits", "fewer buckets:", detail=f" (now {hash_bits})"))
    if workers:
        remedies.append(Remedy("memory_limit", "workers with a larger", detail=""))
    head = f"cross-validation of {n_models} models ({shape}) of {n_features + 1:,} coefficients"
    raise ProblemError(Problem("out of memory", f"{head} {why}", tuple(remedies)))


def _grid_solver(solver: str, p: int, l1_ratio: float, coded: bool) -> str:
    """The solver of the grid's models of ``l1_ratio``: :func:`~logloss.solvers.choose_solver`'s,
    except that coded data (categorical codes) take lbfgs preconditioned by the Hessian's
    diagonal for an L2 penalty under "auto" (as a wide fit does; a Newton pass would cost K
    full Hessians). A solver that needs the full Hessian of wide coded data is refused."""
    if coded and solver == "auto" and l1_ratio == 0:
        return "lbfgs"
    chosen = choose_solver(solver, p, l1_ratio)
    if coded and chosen == "newton" and not hessian_fits(p):
        size = f"{p:,} features of categorical codes"
        limit = f"at most {FULL_HESSIAN_MAX_FEATURES:,}"
        if l1_ratio > 0:
            raise ValueError(
                f"solver 'newton' (proximal Newton, for l1_ratio {l1_ratio:g} > 0) needs the "
                f"full Hessian of {size}, which is formed for {limit} features: use "
                f"solver='owlqn' (or 'auto', which takes it for wide data)"
            )
        raise ValueError(
            f"solver 'newton' needs the full Hessian of {size}, which is formed for {limit} "
            f"features: use solver='lbfgs' (--solver lbfgs, the default for wide data)"
        )
    return chosen


def _held_out_scores(
    lock: Lockstep,
    passes: FoldPasses,
    results: dict[int, Any],
    objectives: dict[int, LogisticObjective],
) -> dict[int, tuple[float, float]]:
    """Each model's held-out [loss sum, rows] at its result: from the pass that evaluated
    it (almost always), else from one more pass for the few that need it."""
    out: dict[int, tuple[float, float]] = {}
    missing: dict[int, tuple[Array, bool, bool]] = {}
    for model, result in results.items():
        w = objectives[model].to_w(result.theta)
        seen = lock.held_out.get(model, {}).get(np.asarray(w, dtype=np.float64).tobytes())
        if seen is not None:
            out[model] = seen
        else:
            missing[model] = (w, False, False)
    if missing:
        for model, (_, loss, rows) in passes(missing).items():
            out[model] = (loss, rows)
        lock.passes += 1
    return out


def _path_starts(
    settings: dict[str, Any], prep: Prepared, Cs: Array, l1_ratios: Array, penalize: str
) -> dict[tuple[int, int], tuple[SolverState, dict[str, Any]]]:
    """Warm starts for large Dask data: for every (C, l1_ratio), θ and the Hessian of the
    in-process solve on a row sample of all rows (as a single fit's warm start), solved
    along the path from the strongest penalty, each from the previous solution. Every fold
    starts from its C's: a fold's optimum differs from the sample's by about the sampling
    error itself. Empty for data under :data:`CV_WARM_MIN_ROWS` rows (they start from 0,
    and their Hessians are cheap)."""
    if prep.n_rows < CV_WARM_MIN_ROWS:
        return {}
    data = prep.data
    if data is not None:
        sample = prep.sample if prep.sample is not None else take_sample(data)
    else:
        assert prep.arrays is not None
        X, y01, sw = prep.arrays
        step = sample_step(len(y01), X.shape[1])
        sample = (X[::step], y01[::step], None if sw is None else sw[::step])
    if sample is None:
        return {}
    Xs, ys, ss = sample
    sums = numpy_sums(Xs, ys, ss)
    out: dict[tuple[int, int], tuple[SolverState, dict[str, Any]]] = {}
    for j, ratio in enumerate(l1_ratios):
        theta: Array | None = None
        for i in np.argsort(Cs):
            objective = LogisticObjective(
                sums,
                prep.n_features,
                alpha=len(ys) / (float(Cs[i]) * prep.n_rows),  # the same penalty per row
                fit_intercept=bool(settings["fit_intercept"]),
                mean=prep.mean,
                scale=prep.scale,
                penalize=penalize,
                l1_ratio=float(ratio),
                segments=prep.segments,
            )
            start = SolverState(np.zeros(objective.n_params) if theta is None else theta, 0, ())
            state, options = warm_start(objective, start, tol=settings["tol"])
            theta = state.theta
            out[int(i), j] = (state, options)
    return out


# ------------------------------------------------------------------ search, then refit
def search_cv(
    core: LogisticCore,
    X: Any,
    y: Any,
    sample_weight: Any = None,
    *,
    Cs: Any = 10,
    l1_ratios: Any = None,
    cv: Any = 5,
    scoring: str = "neg_log_loss",
    refit: bool = True,
    encoding: Any = None,
    callback: Callable[[SolverState], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[CVResult, FitResult | None]:
    """Cross-validate the grid on ``X``, ``y`` with the settings of ``core`` (a
    :class:`~logloss.logistic.LogisticCore`; its ``C`` and ``l1_ratio`` are replaced by the
    grid's) and, with ``refit``, fit the chosen (C, l1_ratio) on all rows.

    The data are prepared once (:meth:`~logloss.logistic.LogisticCore.prepare_data`) and serve
    the search and the refit (:func:`~logloss.fitting.fit_prepared`); ``core`` gets the
    data's attributes (``classes_``, ``n_features_in_``, the feature names, the encoding).
    Returns the :class:`CVResult` and the refit's :class:`~logloss.fitting.FitResult`
    (its ``n_passes`` counts the search's passes too), or None without ``refit``.
    ``callback``: the refit's iterations; ``progress(pass, models running)``: the
    search's passes.
    """
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {list(SCORINGS)}; got {scoring!r}")
    grid_C, grid_r = check_grid(Cs, l1_ratios)
    if np.any(grid_r > 0):
        choose_solver(
            core.solver, 1, float(grid_r.max())
        )  # an unknown solver: a clear error, up front
    prepared = core.prepare_data(X, y, sample_weight, encoding=encoding)
    try:
        core.set_features(
            prepared.classes, prepared.n_features, prepared.feature_names, prepared.encoding
        )
        folds = make_folds(cv, prepared.n_rows, prepared.data is None)
        settings = core.get_params()
        result = cross_validate(
            settings, prepared, Cs=grid_C, l1_ratios=grid_r, folds=folds, callback=progress
        )
        if not refit:
            return result, None
        fit = fit_prepared(prepared, refit_settings(settings, result), callback=callback)
    finally:
        prepared.release()  # the blocks (and their disk files) now, not at gc
    return result, fit._replace(n_passes=fit.n_passes + result.passes)


def refit_settings(settings: Mapping[str, Any], result: CVResult) -> dict[str, Any]:
    """The settings of the refit: one fit's settings of ``settings`` (not the deprecated
    ``penalty``) with the chosen C and l1_ratio."""
    values = {k: settings[k] for k in SETTING_NAMES if k in settings}
    values.update(C=result.C, l1_ratio=result.l1_ratio)
    return values


def fit_cv(
    core: LogisticCore,
    X: Any,
    y: Any,
    sample_weight: Any = None,
    *,
    Cs: Any = 10,
    l1_ratios: Any = None,
    cv: Any = 5,
    scoring: str = "neg_log_loss",
    refit: bool = True,
    encoding: Any = None,
    callback: Callable[[SolverState], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[CVResult, Any]:
    """:func:`search_cv`, then the refitted model as a :class:`~logloss.logistic.LogisticCore`
    with the chosen C and l1_ratio and ``cv_`` (the search's table, kept in model.json);
    None without ``refit``."""
    from .logistic import LogisticCore

    result, fit = search_cv(
        core,
        X,
        y,
        sample_weight,
        Cs=Cs,
        l1_ratios=l1_ratios,
        cv=cv,
        scoring=scoring,
        refit=refit,
        encoding=encoding,
        callback=callback,
        progress=progress,
    )
    if fit is None:
        return result, None
    model = LogisticCore(**refit_settings(core.get_params(), result)).set_fitted(fit)
    model.cv_ = result.table(scoring)
    return result, model
