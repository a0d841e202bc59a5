"""Solvers for the log-loss objective; they know nothing of Dask.

Each solver takes an :class:`~logloss.objective.Objective` (θ -> loss, gradient[, Hessian];
the protocol lists every member a solver may use, and the solvers use no other) and a
starting :class:`SolverState`, and returns a :class:`SolverResult`. Convergence is
max |∇J| ≤ ``tol`` at the returned θ and nothing else: ``SolverResult.converged`` is computed
from the gradient there (never from a solver's own stop test), and ``grad_norm`` holds it.
``max |∇J|`` is ``objective.convergence_norm(∇_θ J)`` (the gradient with respect to the
parameters of the problem posed, whatever coordinates θ the solver works in; with an L1
part, of the pseudo-gradient). History rows record that norm, ``loss`` (the objective J,
L1 part included), ``log_loss`` (J minus ``objective.penalty_value``: the mean training log
loss) and ``step`` = ‖Δθ‖, the length of the iteration's move in θ. A solver stops when it
has converged, after ``max_iter`` iterations, or when it can make no further progress;
``message`` says which.

After every iteration the solver calls ``callback(state)`` with the new state: the fit
uses it for progress displays and checkpoints (a state is enough to resume from).

Each solver is one module of this package (``gd``, ``lbfgs``, ``newton``, ``owlqn``) and one line of
:data:`SOLVERS`; adding a solver is a new module and a registry line.

- ``gd``: the lecture's rule θ ← θ − η ∇J with a fixed learning rate η; with
  ``line_search=True``, Armijo backtracking from η.
- ``lbfgs``: scipy's L-BFGS-B; each evaluation is one pass over the data. When scipy stops
  above ``tol`` (its relative-decrease test, or a failed line search), L-BFGS is restarted
  from that point with a fresh memory, and if that makes no progress (and θ is small enough
  for a Hessian) Newton steps finish the fit, all within ``max_iter``.
- ``owlqn``: orthant-wise L-BFGS (:mod:`.owlqn`, Andrew & Gao 2007), for an L1 part on wide
  data: O(p · memory) state, one pass per iteration when the full step is taken; without an
  L1 part it is plain L-BFGS.
- With an L1 part (``l1_ratio > 0``): ``newton`` is proximal Newton (:mod:`.prox`), ``gd``
  takes proximal steps, and ``lbfgs`` resolves to ``owlqn`` (:func:`choose_solver`), the
  L-BFGS that handles one. "auto" takes proximal Newton up to
  :data:`L1_NEWTON_MAX_FEATURES` features (its Hessian and its coordinate-descent model
  cost O(p²)), owlqn above.
- ``newton``: Newton/IRLS with the reduced Hessian and a backtracking line search; one
  pass per iteration (value, gradient and Hessian together) when full steps are taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..objective import Objective
from ..remedies import Remedy
from .base import Callback, SolverResult, SolverState
from .gd import gd
from .lbfgs import lbfgs
from .newton import newton
from .owlqn import owlqn
from .prox import prox_newton

__all__ = [
    "SOLVERS",
    "SolverResult",
    "SolverState",
    "choose_solver",
    "gd",
    "lbfgs",
    "newton",
    "owlqn",
    "prox_newton",
    "convergence_message",
    "remedies",
    "non_finite_remedy",
    "solve",
    "solver_options",
    "stop_reason",
    "warm_start",
]

SOLVERS: dict[str, Callable[..., SolverResult]] = {
    "gd": gd,
    "lbfgs": lbfgs,
    "newton": newton,
    "owlqn": owlqn,
}

#: The solver that runs for an objective with an L1 part (elastic net, l1_ratio > 0); a
#: solver missing here cannot handle one ("lbfgs" is resolved to "owlqn" by
#: :func:`choose_solver`).
L1_SOLVERS: dict[str, Callable[..., SolverResult]] = {
    "gd": gd,
    "newton": prox_newton,
    "owlqn": owlqn,
}

#: The L1 solver that "lbfgs" names: the L-BFGS that handles an L1 part.
L1_ALIASES = {"lbfgs": "owlqn"}

#: ``solver="auto"`` takes Newton up to this many features: its Hessian pass costs about p
#: times a gradient pass, paid back by needing a handful of passes; lbfgs above.
NEWTON_MAX_FEATURES = 100


#: ``solver="auto"`` with an L1 part takes proximal Newton up to this many features (a
#: handful of passes, but a (p + 1)² Hessian per pass and an O(p²) coordinate-descent
#: model), owlqn above.
L1_NEWTON_MAX_FEATURES = NEWTON_MAX_FEATURES

#: The warm start passes the sample's Hessian (a dense (p + 1)² matrix, and a Cholesky
#: factorisation in lbfgs) only up to this many parameters.
WARM_HESSIAN_MAX_PARAMS = 2000


def choose_solver(solver: str, n_features: int, l1_ratio: float = 0.0) -> str:
    """The solver that ``solver`` names; "auto": newton for narrow data, else lbfgs; with an
    L1 part (l1_ratio > 0) proximal Newton for narrow data, else owlqn. "lbfgs" with an L1
    part is owlqn."""
    if solver != "auto":
        if l1_ratio > 0:
            solver = L1_ALIASES.get(solver, solver)
            if solver not in L1_SOLVERS:
                raise ValueError(
                    f"solver {solver!r} does not support l1_ratio > 0 (got {l1_ratio}); use "
                    f"{' or '.join(repr(k) for k in L1_SOLVERS)}, or solver='auto'"
                )
        return solver
    if l1_ratio > 0:
        return "newton" if n_features <= L1_NEWTON_MAX_FEATURES else "owlqn"
    return "newton" if n_features <= NEWTON_MAX_FEATURES else "lbfgs"


def solve(
    solver: str,
    objective: Objective,
    start: SolverState,
    *,
    max_iter: int,
    tol: float,
    callback: Callback | None = None,
    **options: Any,
) -> SolverResult:
    """Run the solver named ``solver`` ("gd", "lbfgs", "newton" or "owlqn")."""
    table = L1_SOLVERS if objective.has_l1 else SOLVERS
    try:
        fn = table[solver]
    except KeyError:
        raise ValueError(f"solver must be one of {sorted(table)}; got {solver!r}") from None
    return fn(objective, start, max_iter=max_iter, tol=tol, callback=callback, **options)


def solver_options(name: str, *, learning_rate: float, line_search: bool) -> dict[str, Any]:
    """The estimator's settings that solver ``name`` takes (beyond max_iter and tol)."""
    if name == "gd":
        return {"learning_rate": learning_rate, "line_search": line_search}
    return {}


def warm_start(
    sample_objective: Objective, start: SolverState, *, tol: float
) -> tuple[SolverState, dict[str, Any]]:
    """θ (and the Hessian there) of an in-process lbfgs solve of ``sample_objective``, the
    objective on a row sample of the data (with the same penalty per unit of weight); with
    an L1 part, proximal Newton (narrow) or owlqn (wide).

    The sample's optimum lies within sampling error of the full optimum, so on large data
    the full solve needs fewer expensive passes; Newton can take its first steps with the
    sample's Hessian and gradient-only passes. The result is the same optimum: the full
    objective alone decides convergence. Returns the start state and the extra solver
    options (``hessian``, up to :data:`WARM_HESSIAN_MAX_PARAMS` parameters) for the full
    solve.
    """
    name = "lbfgs"
    if sample_objective.has_l1:
        narrow = sample_objective.n_params <= L1_NEWTON_MAX_FEATURES + 1
        name = "newton" if narrow else "owlqn"
    result = solve(name, sample_objective, start, max_iter=100, tol=max(tol, 1e-6))
    state = SolverState(result.theta, 0, ())
    if sample_objective.n_params > WARM_HESSIAN_MAX_PARAMS or name == "owlqn":
        return state, {}  # wide data: no (p + 1)² matrix, lbfgs runs unpreconditioned
    hessian = sample_objective.hessian(result.theta)[2]
    return state, {"hessian": hessian}


# ------------------------------------------------------------ why a solve stopped
def stop_reason(solver: str, result: SolverResult, tol: float) -> str:
    """One sentence: why ``solver`` stopped, with the final max |∇J| and tol."""
    verdict = "converged" if result.converged else "did not converge"
    return (
        f"{solver} {verdict} after {result.n_iter} iterations: {result.message}; "
        f"final max|gradient| {result.grad_norm:.3g}, tol {tol:.3g}."
    )


def remedies(
    solver: str, n_iter: int, params: dict[str, Any], badly: list[str]
) -> tuple[Remedy, ...]:
    """What may make a fit that did not converge converge, by setting name (the one list of
    these remedies: the estimator's warning and the CLI's and the flows' messages render
    it). ``params``: the estimator's ``get_params()``; ``badly``: the names of the feature
    columns far from unit scale."""
    out: list[Remedy] = []
    if badly:
        more = "" if len(badly) <= 10 else f" (and {len(badly) - 10} more)"
        out.append(
            Remedy(
                "standardize",
                "fit with",
                True,
                f" (features with values far from unit scale, {', '.join(badly[:10])}{more}, "
                "are the likely cause)",
            )
        )
    if n_iter >= params["max_iter"]:
        out.append(Remedy("max_iter", "increase", detail=f" (now {params['max_iter']})"))
    if solver == "gd" and not params["line_search"]:
        out.append(Remedy("line_search", "set", True))
        out.append(Remedy("learning_rate", "tune", detail=f" (now {params['learning_rate']:g})"))
    if params.get("penalty", "l2") is None or np.isinf(params["C"]):
        out.append(
            Remedy(
                "C",
                "use a finite",
                detail=" (without a penalty the data may be linearly separable, in which "
                "case the coefficients keep growing)",
            )
        )
    if not out:
        out.append(Remedy("tol", "loosen", detail=f" (now {params['tol']:g})"))
        if not params["standardize"]:
            out.append(Remedy("standardize", "fit with", True))
    return tuple(out)


def convergence_message(
    solver: str, result: SolverResult, params: dict[str, Any], badly_scaled: list[str]
) -> str:
    """The ConvergenceWarning of a fit with the estimator's ``params`` (``get_params()``)
    that did not converge, with the likely :func:`remedies`; ``badly_scaled``: the names
    of the feature columns far from unit scale."""
    found = remedies(solver, result.n_iter, params, badly_scaled)
    return (
        f"{solver} did not converge: max|gradient| {result.grad_norm:.3g} > tol "
        f"{params['tol']:.3g} after {result.n_iter} iterations ({result.message}). "
        + "; or ".join(r.render() for r in found)
        + "."
    )


def non_finite_remedy(solver: str, diverged: bool, params: dict[str, Any]) -> str:
    """What to do about a non-finite loss: ``diverged`` when θ itself ran away."""
    if solver == "gd" and not params["line_search"]:
        gd_fix = f"lower learning_rate (now {params['learning_rate']:g}) or set line_search=True"
        return gd_fix if diverged else f"check X for NaN or infinity; if X is finite, {gd_fix}"
    if not diverged:
        return "check X for NaN or infinity, or fit with standardize=True"
    return "fit with standardize=True (features of very different scales)"
