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
  hands the request to a coordinator (:class:`Lockstep`) that waits until every running
  model has asked, runs one pass for all of them and hands the sums back: the models move
  in lockstep, and the optimum of each is exactly the one a separate fit would reach.
- Folds: an int ``cv`` puts a row in fold ``hash(global row position) mod cv``
  (:func:`hashed_folds`: deterministic, the same whatever the blocks, no shuffle pass);
  or explicit (train, test) index arrays, as scikit-learn's ``cv=`` takes (in-memory data).
- The score (scoring "neg_log_loss") is minus the mean log loss over a model's held-out
  rows, unweighted, as scikit-learn's scorer computes it.
- With standardize, the mean and scale of the features come from all rows (one pass),
  not from each fold's training rows.

Uses Dask only through :class:`~logloss.engine.BlockData` (one ``map_reduce`` per pass).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from .loss import pack_size
from .objective import LogisticObjective, NonFiniteError, numpy_sums
from .prepare import Prepared, sample_step, take_sample
from .solvers import SolverState, choose_solver, solve, solver_options, warm_start

__all__ = [
    "CVResult",
    "Folds",
    "Lockstep",
    "check_grid",
    "cross_validate",
    "fit_cv",
    "cv_block_sums",
    "hashed_folds",
    "make_folds",
]

Array = NDArray[np.float64]

SCORINGS = ("neg_log_loss",)

#: Rows per slice × models: the K-wide buffers of a slice (margins, losses, residuals)
#: stay in cache (2^16 float64 = 512 KiB each; measured: 2^16 beats 2^17 and 2^18).
SLICE_ELEMENTS = 2**16

#: Warm starts from a row sample (every 16th row or sparser) from this many rows: below, the
#: models start from 0 and take exact Newton steps. Lower than a single fit's threshold
#: (WARM_MIN_ROWS): here a Hessian pass costs K Hessians, and the sample solves are shared
#: by all the folds.
CV_WARM_MIN_ROWS = 20_000


# ------------------------------------------------------------------ folds
def hashed_folds(positions: NDArray[np.integer], n_folds: int) -> NDArray[np.intp]:
    """The fold of each row from its global position: splitmix64(position) mod n_folds.

    A fixed mixing function, so a row's fold depends on where it is in the data and on
    nothing else (not on block sizes, files per block or the number of workers)."""
    with np.errstate(over="ignore"):
        x = positions.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x % np.uint64(n_folds)).astype(np.intp)


class Folds:
    """Which rows each fold trains on and holds out.

    ``masks(offset, n)`` gives, for the rows offset .. offset + n − 1 of the data, two
    float64 arrays of shape (n, n_folds): 1 where the row is in the fold's training part
    (resp. its held-out part), else 0.
    """

    def __init__(
        self, n_folds: int, splits: Sequence[tuple[np.ndarray, np.ndarray]] | None = None
    ) -> None:
        self.n_folds = n_folds
        self._train: Array | None = None
        self._test: Array | None = None
        if splits is not None:
            n = max(int(max(np.max(tr, initial=-1), np.max(te, initial=-1))) for tr, te in splits)
            self._train = np.zeros((n + 1, n_folds))
            self._test = np.zeros((n + 1, n_folds))
            for f, (tr, te) in enumerate(splits):
                self._train[tr, f] = 1.0
                self._test[te, f] = 1.0

    @property
    def explicit(self) -> bool:
        return self._train is not None

    def masks(self, offset: int, n: int) -> tuple[Array, Array]:
        if self._train is not None and self._test is not None:
            tr = np.zeros((n, self.n_folds))
            te = np.zeros((n, self.n_folds))
            stop = min(offset + n, len(self._train))
            if stop > offset:
                tr[: stop - offset] = self._train[offset:stop]
                te[: stop - offset] = self._test[offset:stop]
            return tr, te
        fold = hashed_folds(np.arange(offset, offset + n, dtype=np.uint64), self.n_folds)
        te = np.zeros((n, self.n_folds))
        te[np.arange(n), fold] = 1.0
        return 1.0 - te, te


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


# ------------------------------------------------------------------ one pass, K models
def cv_block_sums(
    X: NDArray[np.floating],
    y: NDArray[np.floating],
    s: NDArray[np.floating] | None,
    offset: int,
    W: Array,
    model_fold: NDArray[np.intp],
    hess_models: NDArray[np.intp],
    folds: Folds,
) -> Array:
    """The sums of K models over one block (rows offset .. offset + n − 1 of the data).

    ``W`` is (p + 1, K): each model's coefficients then intercept; ``model_fold`` (K,) its
    fold; ``hess_models`` the models that also need their Hessian. Returns one packed
    float64 vector (blocks add with ``+``): for each model its training [loss, weight,
    gradient (p + 1)], then its held-out [loss, rows] (unweighted), then the Hessians of
    ``hess_models`` ((p + 1)² each), as :func:`logloss.loss.block_sums` lays them out.

    The block is walked in row slices that stay in cache. With hashed folds (a partition
    of the rows) each slice's rows are sorted by fold, so a model's training and held-out
    rows are contiguous ranges and the K-wide work per row is the margins, the log loss and
    σ; explicit index splits (which may overlap or leave rows out) are masked instead.
    """
    n, p = X.shape
    K = W.shape[1]
    q = p + 1
    train_part = K * (2 + q)
    out = np.zeros(train_part + 2 * K + len(hess_models) * q * q)
    if n == 0:
        return out
    acc = _Sums(
        out[:train_part].reshape(K, 2 + q),
        out[train_part : train_part + 2 * K].reshape(K, 2),
        out[train_part + 2 * K :].reshape(len(hess_models), q, q),
    )
    # models are in fold order (the grid's outer loop): fold f's models are the columns
    # bounds[f] .. bounds[f + 1] of W
    bounds = np.searchsorted(model_fold, np.arange(folds.n_folds + 1))
    m = int(min(n, 8192, max(256, SLICE_ELEMENTS // K)))
    buf = _Buffers(m, q, K, len(hess_models))
    for a in range(0, n, m):
        k = min(m, n - a)
        Xt, ys, ss, cuts = buf.rows(X, y, s, a, k, offset, folds)
        Z, E, L, R = buf.Z[:k], buf.E[:k], buf.L[:k], buf.R[:k]
        np.matmul(Xt, W, out=Z)  # margins; the last column of Xt is 1 (the intercept)
        _softplus_and_sigma(Z, E, L, R)
        if len(hess_models):
            _hessians(acc, Xt, ss, R, folds, offset + a, model_fold, hess_models, cuts, buf)
        Z *= ys[:, None]
        L -= Z  # the row losses log(1 + e^z) − y·z
        R -= ys[:, None]  # the residuals σ(z) − y
        if cuts is None:
            tr, te = folds.masks(offset + a, k)
            _masked_sums(acc, Xt, ss, L, R, tr[:, model_fold], te[:, model_fold])
        else:
            _partition_sums(acc, Xt, ss, L, R, cuts, bounds)
    return out


class _Sums(NamedTuple):
    train: Array  # (K, 2 + q): loss, weight, gradient
    held: Array  # (K, 2): loss, rows
    H: Array  # (len(hess_models), q, q)


class _Buffers:
    """The scratch arrays of one block's slices, allocated once (a fresh array of a few
    hundred KiB per operation would be mapped and zeroed by the OS every time: 3x slower)."""

    def __init__(self, m: int, q: int, K: int, n_hess: int) -> None:
        self.Xt = np.empty((m, q))
        self.Xt[:, q - 1] = 1.0
        self.Z, self.E, self.L, self.R = (np.empty((m, K)) for _ in range(4))
        self.pairs = np.empty((m, q * (q + 1) // 2)) if n_hess else None
        self.D = np.empty((m, n_hess)) if n_hess else None

    def rows(
        self,
        X: NDArray[np.floating],
        y: NDArray[np.floating],
        s: NDArray[np.floating] | None,
        a: int,
        k: int,
        offset: int,
        folds: Folds,
    ) -> tuple[Array, Array, Array | None, NDArray[np.intp] | None]:
        """Rows a .. a + k of the block as float64 (x̃ = x, 1), labels, weights; with
        hashed folds sorted by fold, and the fold boundaries ``cuts``."""
        p = X.shape[1]
        Xt = self.Xt[:k]
        ys = np.asarray(y[a : a + k], dtype=np.float64)
        ss = None if s is None else np.asarray(s[a : a + k], dtype=np.float64)
        if folds.explicit:
            Xt[:, :p] = X[a : a + k]
            return Xt, ys, ss, None
        fold = hashed_folds(np.arange(offset + a, offset + a + k, dtype=np.uint64), folds.n_folds)
        order = np.argsort(fold, kind="stable")
        Xt[:, :p] = X[a : a + k][order]
        cuts = np.concatenate([[0], np.cumsum(np.bincount(fold, minlength=folds.n_folds))])
        return Xt, ys[order], None if ss is None else ss[order], cuts


def _softplus_and_sigma(Z: Array, E: Array, L: Array, R: Array) -> None:
    """L = log(1 + e^z) (from e^−|z|: never overflows) and R = σ(z) = 1/(1 + e^−z) (e^−z
    may overflow to inf for z < −709, which gives σ = 0 exactly), elementwise, into the
    given buffers (E is scratch)."""
    np.abs(Z, out=E)
    np.negative(E, out=E)
    np.exp(E, out=E)
    np.log1p(E, out=L)
    np.maximum(Z, 0.0, out=E)
    L += E
    np.negative(Z, out=R)
    with np.errstate(over="ignore"):
        np.exp(R, out=R)
    R += 1.0
    np.reciprocal(R, out=R)


def _partition_sums(
    acc: _Sums,
    Xs: Array,
    ss: Array | None,
    L: Array,
    R: Array,
    cuts: NDArray[np.intp],
    bounds: NDArray[np.intp],
) -> None:
    """Training sums over the rows outside each model's fold, held-out sums (unweighted)
    over the rows inside it. Rows ``cuts[f]:cuts[f + 1]`` are fold f's, models
    ``bounds[f]:bounds[f + 1]`` hold it out, so a model's training rows are two contiguous
    ranges: each sum is taken over the rows it covers (no "all rows minus the fold", whose
    cancellation would blur the objective near the optimum). ``Xs`` is x̃ = (x, 1)."""
    k = len(Xs)
    sw = np.ones(k) if ss is None else ss
    Xw = Xs if ss is None else Xs * ss[:, None]
    for f in range(len(bounds) - 1):
        r0, r1, m0, m1 = cuts[f], cuts[f + 1], bounds[f], bounds[f + 1]
        if m1 == m0:
            continue
        acc.held[m0:m1, 0] += L[r0:r1, m0:m1].sum(axis=0)
        acc.held[m0:m1, 1] += r1 - r0
        for a, b in ((0, r0), (r1, k)):
            if b > a:
                acc.train[m0:m1, 0] += sw[a:b] @ L[a:b, m0:m1]
                acc.train[m0:m1, 1] += sw[a:b].sum()
                acc.train[m0:m1, 2:] += (Xw[a:b].T @ R[a:b, m0:m1]).T


def _masked_sums(
    acc: _Sums, Xs: Array, ss: Array | None, L: Array, R: Array, Tr: Array, Te: Array
) -> None:
    """Training and held-out sums of explicit splits: each row weighted by its masks
    (``Xs`` is x̃ = (x, 1))."""
    if ss is not None:
        Tr = Tr * ss[:, None]
    acc.train[:, 0] += np.einsum("ij,ij->j", L, Tr)
    acc.train[:, 1] += Tr.sum(axis=0)
    acc.held[:, 0] += np.einsum("ij,ij->j", L, Te)
    acc.held[:, 1] += Te.sum(axis=0)
    R *= Tr
    acc.train[:, 2:] += (Xs.T @ R).T


def _hessians(
    acc: _Sums,
    Xt: Array,
    ss: Array | None,
    P: Array,
    folds: Folds,
    start: int,
    model_fold: NDArray[np.intp],
    hess_models: NDArray[np.intp],
    cuts: NDArray[np.intp] | None,
    buf: _Buffers,
) -> None:
    """Σ over each model's training rows of s·σ(1 − σ)·x̃x̃ᵀ, for the models that asked
    (rows sorted by fold when ``cuts`` is given: fold f's rows are cuts[f]:cuts[f + 1]).

    All models in one matrix product: entry (a, b) of every Hessian is Σ_i x̃_ia x̃_ib d_ik,
    so the products x̃_a·x̃_b of each row (the upper triangle, q(q + 1)/2 columns) times
    the (rows × models) curvature weights D give every Hessian at once."""
    assert buf.pairs is not None and buf.D is not None
    k, q = Xt.shape
    D = buf.D[:k]
    np.take(P, hess_models, axis=1, out=D)
    D *= 1.0 - D
    if cuts is None:
        D *= folds.masks(start, k)[0][:, model_fold[hess_models]]
    else:
        for j, model in enumerate(hess_models):
            f = model_fold[model]
            D[cuts[f] : cuts[f + 1], j] = 0.0
    if ss is not None:
        D *= ss[:, None]
    a, b = np.triu_indices(q)
    pairs = buf.pairs[:k]
    np.multiply(Xt[:, a], Xt[:, b], out=pairs)
    upper = pairs.T @ D  # (q(q + 1)/2, models)
    acc.H[:, a, b] += upper.T
    off = a != b
    acc.H[:, b[off], a[off]] += upper[off].T


# ------------------------------------------------------------------ the coordinator
class _Stop(Exception):
    """The coordinator failed: every model thread stops."""


class Lockstep:
    """Runs one pass for all the models waiting on their sums (see the module docstring).

    ``run_pass(requests)`` takes {model: (w, hessian)} and returns {model: (packed sums in
    :func:`~logloss.loss.block_sums`' layout, held-out loss sum, held-out rows)}.
    """

    def __init__(
        self,
        run_pass: Callable[[dict[int, tuple[Array, bool]]], dict[int, Any]],
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self._run_pass = run_pass
        self._progress = progress
        self._cond = threading.Condition()
        self._requests: dict[int, tuple[Array, bool]] = {}
        self._results: dict[int, Array] = {}
        self._running: set[int] = set()
        self._failed = False
        self.passes = 0
        self.held_out: dict[int, dict[bytes, tuple[float, float]]] = {}

    def sums_for(self, model: int) -> Callable[[Array, bool], Array]:
        def sums(w: Array, hessian: bool) -> Array:
            with self._cond:
                self._requests[model] = (np.array(w, dtype=np.float64), hessian)
                self._cond.notify_all()
                while model not in self._results:
                    if self._failed:
                        raise _Stop()
                    self._cond.wait()
                return self._results.pop(model)

        return sums

    def run(self, models: Sequence[int], work: Callable[[int], None]) -> None:
        """``work(model)`` for every model in its own thread, driving passes until all end.
        Re-raises the first exception of a model (or of a pass)."""
        errors: list[BaseException] = []

        def target(model: int) -> None:
            try:
                work(model)
            except _Stop:
                pass
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                errors.append(exc)
                with self._cond:
                    self._failed = True
            finally:
                with self._cond:
                    self._running.discard(model)
                    self._requests.pop(model, None)
                    self._cond.notify_all()

        self._running = set(models)
        threads = [
            threading.Thread(target=target, args=(m,), daemon=True, name=f"logloss-cv-{m}")
            for m in models
        ]
        for t in threads:
            t.start()
        try:
            self._drive()
        except BaseException:
            with self._cond:
                self._failed = True
                self._cond.notify_all()
            raise
        finally:
            for t in threads:
                t.join(timeout=60)
        if errors:
            raise errors[0]

    def _drive(self) -> None:
        while True:
            with self._cond:
                while (
                    self._running and not self._failed and len(self._requests) < len(self._running)
                ):
                    self._cond.wait()
                if not self._running or self._failed:
                    return
                batch, self._requests = self._requests, {}
            out = self._run_pass(batch)
            self.passes += 1
            if self._progress is not None:
                self._progress(self.passes, len(batch))
            with self._cond:
                for model, (packed, held_loss, held_n) in out.items():
                    w = batch[model][0]
                    seen = self.held_out.setdefault(model, {})
                    if len(seen) > 8:
                        seen.pop(next(iter(seen)))
                    seen[w.tobytes()] = (held_loss, held_n)
                    self._results[model] = packed
                self._cond.notify_all()


# ------------------------------------------------------------------ the data side
class _Passes:
    """One multi-model pass over in-memory arrays or persisted Dask blocks."""

    def __init__(self, prep: Prepared, folds: Folds, model_fold: NDArray[np.intp]) -> None:
        self.prep = prep
        self.folds = folds
        self.model_fold = model_fold
        self.p = prep.n_features

    def __call__(self, requests: dict[int, tuple[Array, bool]]) -> dict[int, Any]:
        models = np.array(sorted(requests), dtype=np.intp)
        W = np.stack([requests[int(k)][0] for k in models], axis=1)
        hess = np.array([j for j, k in enumerate(models) if requests[int(k)][1]], dtype=np.intp)
        args = (W, self.model_fold[models], hess, self.folds)
        if self.prep.data is not None:
            packed = self.prep.data.map_reduce(
                cv_block_sums, *args, name="logloss-cv", offsets=True
            )
        else:
            assert self.prep.arrays is not None
            X, y01, sw = self.prep.arrays
            packed = cv_block_sums(X, y01, sw, 0, *args)
        return self._unpack(np.asarray(packed), models, hess)

    def _unpack(self, packed: Array, models: NDArray[np.intp], hess: NDArray[np.intp]) -> Any:
        K, q = len(models), self.p + 1
        train = packed[: K * (2 + q)].reshape(K, 2 + q)
        held = packed[K * (2 + q) : K * (2 + q) + 2 * K].reshape(K, 2)
        H = packed[K * (2 + q) + 2 * K :].reshape(len(hess), q, q)
        where = {int(j): i for i, j in enumerate(hess)}
        out = {}
        for j, model in enumerate(models):
            with_h = j in where
            vec = np.zeros(pack_size(self.p, with_h))
            vec[: 2 + q] = train[j]
            if with_h:
                vec[2 + q :] = H[where[j]].ravel()
            out[int(model)] = (vec, float(held[j, 0]), float(held[j, 1]))
        return out


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
    fit_intercept = bool(settings["fit_intercept"])
    penalize = "theta" if settings["standardize"] else "w"
    passes = _Passes(prep, folds, model_fold)
    lock = Lockstep(passes, progress=callback)
    starts = _path_starts(settings, prep, Cs, l1_ratios, penalize)
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
        )
        objectives[model] = objective
        solver = choose_solver(settings["solver"], p, float(l1_ratios[j]))
        start = SolverState(np.zeros(objective.n_params), 0, ())
        options = solver_options(
            solver, learning_rate=settings["learning_rate"], line_search=settings["line_search"]
        )
        if solver != "gd" and (i, j) in starts:
            start, options = starts[i, j]
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


def _held_out_scores(
    lock: Lockstep,
    passes: _Passes,
    results: dict[int, Any],
    objectives: dict[int, LogisticObjective],
) -> dict[int, tuple[float, float]]:
    """Each model's held-out [loss sum, rows] at its result: from the pass that evaluated
    it (almost always), else from one more pass for the few that need it."""
    out: dict[int, tuple[float, float]] = {}
    missing: dict[int, tuple[Array, bool]] = {}
    for model, result in results.items():
        w = objectives[model].to_w(result.theta)
        seen = lock.held_out.get(model, {}).get(np.asarray(w, dtype=np.float64).tobytes())
        if seen is not None:
            out[model] = seen
        else:
            missing[model] = (w, False)
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
            )
            start = SolverState(np.zeros(objective.n_params) if theta is None else theta, 0, ())
            state, options = warm_start(objective, start, tol=settings["tol"])
            theta = state.theta
            out[int(i), j] = (state, options)
    return out


# ------------------------------------------------------------------ search, then refit
def fit_cv(
    core: Any,
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
    """Cross-validate the grid on ``X``, ``y`` with the settings of ``core`` (a
    :class:`~logloss.core.LogisticCore`; its ``C`` and ``l1_ratio`` are replaced by the
    grid's) and, with ``refit``, fit the chosen (C, l1_ratio) on all rows.

    The data are prepared once (``core`` gets ``classes_``, ``n_features_in_``, the feature
    names and the encoding) and serve the search and the refit. Returns the
    :class:`CVResult` and the refitted ``LogisticCore`` (with ``cv_``, the table kept in
    model.json), or None without ``refit``. ``callback``: the refit's iterations;
    ``progress(pass, models running)``: the search's passes.
    """
    from .core import SETTING_NAMES, LogisticCore
    from .settings import fit_settings

    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {list(SCORINGS)}; got {scoring!r}")
    grid_C, grid_r = check_grid(Cs, l1_ratios)
    if np.any(grid_r > 0):
        choose_solver(core.solver, 1, float(grid_r.max()))  # lbfgs: a clear error, up front
    prep = core._prepare_input(X, y, sample_weight, encoding)
    try:
        folds = make_folds(cv, prep.n_rows, prep.data is None)
        settings = core.get_params()
        result = cross_validate(
            settings, prep, Cs=grid_C, l1_ratios=grid_r, folds=folds, callback=progress
        )
        if not refit:
            return result, None
        values = {k: v for k, v in fit_settings(settings).items() if k in SETTING_NAMES}
        values.update(C=result.C, l1_ratio=result.l1_ratio)
        model = LogisticCore(**values)
        for name in ("classes_", "n_features_in_", "feature_names_in_", "encoding_"):
            if hasattr(core, name):
                setattr(model, name, getattr(core, name))
        model._fit_prepared(prep, callback=callback)
    finally:
        if prep.data is not None:  # the blocks (and their disk files) now, not at gc
            prep.data.release()
    model.cv_ = result.table(scoring)
    model.n_passes_ += result.passes
    return result, model
