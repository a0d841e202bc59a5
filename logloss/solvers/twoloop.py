"""L-BFGS by the two-loop recursion (Nocedal & Wright, Algorithm 7.4) with a strong-Wolfe line
search, for wide problems: the search :mod:`.lbfgs` runs instead of scipy's L-BFGS-B above
:data:`MIN_PARAMS` parameters.

scipy's L-BFGS-B spends about 0.4 s of its own per iteration at 2^20 parameters (its
bound-constrained machinery: the generalised Cauchy point and the subspace minimisation run
even without bounds), more than a pass over a million rows of click logs. Unconstrained, the
two-loop recursion is 4·m·p flops over a ring buffer of m pairs (s, y): O(p · m) memory, as
L-BFGS-B's, and no work beyond it. One evaluation is one pass over the data; the line search
(scipy's ``scalar_search_wolfe2``, the Moré–Thuente conditions c1 = 1e-4, c2 = 0.9) asks for
the value and the slope at the same points, so each trial step costs one pass.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np
from scipy.optimize._linesearch import scalar_search_wolfe2

from .base import Array

#: Parameters above which :mod:`.lbfgs` runs this search instead of scipy's L-BFGS-B.
MIN_PARAMS = 32768

_C1, _C2 = 1e-4, 0.9
_MAX_LINE_SEARCH = 50


class Memory:
    """The last m correction pairs (s, y) of the L-BFGS recursion, oldest first (the arrays
    themselves: no copies), and the initial inverse Hessian: γ·``inv_diag`` (γ = sᵀy / yᵀDy
    of the newest pair), the identity without ``inv_diag``. Also :mod:`.owlqn`'s."""

    def __init__(self, m: int, inv_diag: Array | None = None) -> None:
        self.pairs: deque[tuple[Array, Array, float]] = deque(maxlen=max(m, 1))
        self.inv_diag = inv_diag

    @property
    def count(self) -> int:
        return len(self.pairs)

    def push(self, s: Array, y: Array, sy: float) -> None:
        """Keep (s, y), whose curvature sᵀy the caller found safely positive."""
        self.pairs.append((s, y, 1.0 / sy))

    def clear(self) -> None:
        self.pairs.clear()

    def direction(self, g: Array) -> Array:
        """−H·g by the two-loop recursion."""
        q = g.copy()
        alpha = []
        for s, y, rho in reversed(self.pairs):
            a = rho * float(s @ q)
            q -= a * y
            alpha.append(a)
        if self.pairs:
            s, y, rho = self.pairs[-1]
            dy = y if self.inv_diag is None else self.inv_diag * y
            q *= 1.0 / (rho * float(y @ dy))
        if self.inv_diag is not None:
            q *= self.inv_diag
        for (s, y, rho), a in zip(self.pairs, reversed(alpha), strict=True):
            q += (a - rho * float(y @ q)) * s
        q *= -1.0
        return q


def minimize(
    fun: Callable[[Array], tuple[float, Array]],
    x0: Array,
    *,
    callback: Callable[[Array], None],
    max_iter: int,
    memory: int,
    ftol: float,
) -> tuple[Array, str]:
    """Minimise ``fun`` (x -> (value, gradient)) from ``x0`` for at most ``max_iter``
    iterations; ``callback(x)`` after each, which may raise StopIteration to stop there.
    Also stops when an iteration's decrease is at most ``ftol`` · max(|f|, |f_new|, 1)
    (scipy's ftol test) or the line search fails. Returns (x, why it stopped)."""
    x = np.array(x0, dtype=np.float64)
    f, g = fun(x)
    mem = Memory(memory)
    for _ in range(max_iter):
        d = mem.direction(g)
        slope = float(g @ d)
        if not slope < 0:  # not a descent direction (rounding): start the memory afresh
            mem.clear()
            d = -g
            slope = -float(g @ g)
        first = 1.0 if mem.count else min(1.0, 1.0 / max(float(np.linalg.norm(g)), 1e-300))
        step, f_new, g_new = _line_search(fun, x, d, f, slope, first)
        if step is None or g_new is None:
            return x, "line search failed"
        s = step * d
        x_new = x + s
        y = g_new - g
        sy = float(s @ y)
        if sy > 1e-10 * float(y @ y):
            mem.push(s, y, sy)
        decrease = f - f_new
        x, f, g = x_new, f_new, g_new
        try:
            callback(x)
        except StopIteration:
            return x, "gradient norm below tol"
        if decrease <= ftol * max(abs(f), abs(f + decrease), 1.0):
            return x, "relative decrease of the objective below ftol"
    return x, "max_iter reached"


def _line_search(
    fun: Callable[[Array], tuple[float, Array]],
    x: Array,
    d: Array,
    f0: float,
    slope0: float,
    first: float,
) -> tuple[float | None, float, Array | None]:
    """A step along ``d`` meeting the strong Wolfe conditions (scipy's search, one
    evaluation of ``fun`` per trial step); (None, f0, None) when there is none."""
    seen: dict[float, tuple[float, Array]] = {}

    def at(a: float) -> tuple[float, Array]:
        if a not in seen:
            seen[a] = fun(x + a * d)
        return seen[a]

    def phi(a: float) -> float:
        return at(a)[0]

    def derphi(a: float) -> float:
        return float(at(a)[1] @ d)

    # scipy's first trial is 1.0 without old_phi0; scale d so that the first trial is `first`
    if first != 1.0:
        d = d * first
        slope0 = slope0 * first
    step, f_new, _, _ = scalar_search_wolfe2(
        phi, derphi, f0, None, slope0, c1=_C1, c2=_C2, maxiter=_MAX_LINE_SEARCH
    )
    if step is None or f_new is None or not np.isfinite(f_new):
        return None, f0, None
    return float(step) * first, float(f_new), at(float(step))[1]
