"""Models that advance in lockstep: many solvers, one pass over the data per step.

Each model runs an ordinary solver in a thread of its own, on an objective whose sums
function is :meth:`Lockstep.sums_for`: a request (w, hessian) waits until every model still
running has asked, then one pass (``run_pass``, e.g. :class:`FoldPasses`) serves them all
and hands each its sums. A model that ends stops costing anything; the optimum of each is
exactly the one its solver reaches alone (the sums are the same). The first error of a
model or of a pass stops every thread and is raised to the caller.

The coordinator knows nothing of folds or grids; :mod:`logloss.cv` builds the models.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .coded_cv import coded_cv_sums, unpack_coded_models
from .loss import Folds, cv_block_sums, unpack_models

if TYPE_CHECKING:
    from .prepare import Prepared

__all__ = ["FoldPasses", "Lockstep"]

Array = NDArray[np.float64]

#: A model's request: (w, hessian, diag)
Request = tuple[Array, bool, bool]


class _Stop(Exception):
    """The coordinator failed: every model thread stops."""


class Lockstep:
    """Runs one pass for all the models waiting on their sums (see the module docstring).

    ``run_pass(requests)`` takes {model: (w, hessian, diag)} and returns {model: (packed
    sums in :func:`~logloss.loss.block_sums`' layout (with ``diag``:
    :func:`~logloss.coded.coded_sums`'), held-out loss sum, held-out rows)}.
    """

    def __init__(
        self,
        run_pass: Callable[[dict[int, Request]], dict[int, Any]],
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self._run_pass = run_pass
        self._progress = progress
        self._cond = threading.Condition()
        self._requests: dict[int, Request] = {}
        self._results: dict[int, Array] = {}
        self._running: set[int] = set()
        self._failed = False
        self.passes = 0
        self.held_out: dict[int, dict[bytes, tuple[float, float]]] = {}

    def sums_for(self, model: int) -> Callable[..., Array]:
        """Model ``model``'s sums function ``(w, hessian, diag=False) -> packed sums``, as
        :class:`~logloss.objective.LogisticObjective` calls it (``diag``: the Hessian's
        diagonal, for lbfgs on coded data)."""

        def sums(w: Array, hessian: bool, diag: bool = False) -> Array:
            with self._cond:
                self._requests[model] = (np.array(w, dtype=np.float64), hessian, diag)
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
class FoldPasses:
    """One pass of many models over prepared data (in-memory arrays or persisted Dask
    blocks), as :class:`Lockstep`'s ``run_pass`` takes it: :func:`~logloss.loss.cv_block_sums`
    for every requested model over dense blocks, :func:`~logloss.coded_cv.coded_cv_sums`
    over coded ones (categorical codes: :mod:`logloss.coded`). ``model_fold[k]``: model k's
    fold."""

    def __init__(self, prep: Prepared, folds: Folds, model_fold: NDArray[np.intp]) -> None:
        self.prep = prep
        self.folds = folds
        self.model_fold = model_fold
        self.p = prep.n_features
        self.coded = bool(getattr(prep.encoding, "coded", False))

    def __call__(self, requests: dict[int, Request]) -> dict[int, tuple[Array, float, float]]:
        models = np.array(sorted(requests), dtype=np.intp)
        hess = np.array([j for j, k in enumerate(models) if requests[int(k)][1]], dtype=np.intp)
        if self.coded:
            per_model = self._coded(requests, models, hess)
        else:
            if any(requests[int(k)][2] for k in models):
                raise TypeError("the Hessian's diagonal is given for coded data only")
            W = np.stack([requests[int(k)][0] for k in models], axis=1)
            args = (W, self.model_fold[models], hess, self.folds)
            packed = self._pass(cv_block_sums, "logloss-cv", args)
            per_model = unpack_models(np.asarray(packed), self.p, len(models), hess)
        return {int(model): sums for model, sums in zip(models, per_model, strict=True)}

    def _coded(
        self, requests: dict[int, Request], models: NDArray[np.intp], hess: NDArray[np.intp]
    ) -> list[tuple[Array, float, float]]:
        diag = np.array(
            [j for j, k in enumerate(models) if requests[int(k)][2] and not requests[int(k)][1]],
            dtype=np.intp,
        )
        W = np.stack([requests[int(k)][0] for k in models], axis=0)  # (models, p + 1)
        args = (W, self.model_fold[models], diag, hess, self.folds)
        packed = self._pass(coded_cv_sums, "logloss-cv-codes", args)
        return unpack_coded_models(np.asarray(packed), self.p, len(models), diag, hess)

    def _pass(self, kernel: Callable[..., Array], name: str, args: tuple[Any, ...]) -> Any:
        if self.prep.data is not None:
            return self.prep.data.map_reduce(kernel, *args, name=name, offsets=True)
        assert self.prep.arrays is not None
        X, y01, sw = self.prep.arrays
        return kernel(X, y01, sw, 0, *args)
