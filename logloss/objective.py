"""The training objective seen by the solvers: θ -> (loss, gradient[, Hessian]).

Conventions
-----------
- A *sums function* ``sums(w, hessian) -> packed`` returns the float64 vector of
  :func:`logloss.loss.block_sums` added over every row of the data, for the full
  parameter vector ``w`` of length p + 1 (coefficients, then the intercept). It is where
  the data live: in memory (:func:`numpy_sums`) or on a Dask cluster (``logloss.blockdata``).
- The solvers optimise θ, which is ``w`` in the optimiser's own coordinates: without an
  intercept θ has length p; with standardisation θ holds the coefficients of the
  standardised features. The map is linear, w = A θ, so the gradient is Aᵀ∇ and the
  Hessian AᵀHA, and no block is ever copied to standardise it. A is a diagonal scaling
  plus the intercept's centring shift: it is applied in O(p) (and AᵀHA by scaling H's rows
  and columns), never formed, so wide data cost O(p) here, not (p + 1)².
- The solvers always work in scaled coordinates (features centred and divided by a column
  scale): that is only a preconditioner. Which coefficients the penalty applies to is
  ``penalize``: "w" (the original-unit coefficients, w_coef = Dθ_coef with D = diag(1/scale):
  penalty ½α‖Dθ‖², gradient αD²θ, Hessian αD²; the problem scikit-learn solves) or
  "theta" (the standardised coefficients: the problem of a StandardScaler pipeline).
- The value is scikit-learn's objective divided by C·Σs:
  J = Σ sᵢ lossᵢ / Σ sᵢ + (r‖coef‖₁ + ½(1 − r)‖coef‖²) / (C Σ sᵢ), r = ``l1_ratio``; the
  intercept is never penalised. Dividing by a constant leaves the minimiser where
  scikit-learn's is. The objective's value, gradient and Hessian are those of the smooth
  part; the L1 part Σ λ_j|θ_j| (:meth:`LogisticObjective.l1_weights`) is the solvers' to
  handle (proximal steps), and they report the total.
- Convergence is judged on the gradient with respect to the parameters of the problem
  posed (:meth:`LogisticObjective.convergence_norm`): max |∇_w J| when the penalty is on w,
  max |∇_θ J| when it is on θ.
- Zero-sum level segments (``segments``: feature ranges [lo, hi), one per categorical column
  whose every row has exactly one of its levels): the loss does not change when c is added
  to every level coefficient of such a column and taken from the intercept, so only the
  uniform L2 penalty fixes that direction, with a curvature ~α/N that the data never see:
  it is what makes L-BFGS slow on many categorical columns (nycflights13: ~1,400
  iterations). The penalty's minimum along it has the column's level coefficients summing
  to 0, so A also projects them onto that subspace: w_seg = P(θ_seg/scale_seg), P removing
  each segment's mean. The optimum does not move (it lies in the subspace; an L1 part would
  move it, so segments are ignored with one). The penalty is on the projected coefficients,
  so the direction A ignores is flat for the value and absent from every gradient: a
  gradient method never moves along it, and :meth:`LogisticObjective.hessian` gives it a
  curvature of its own so that Newton's systems stay regular.

No Dask and no Prefect here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from .coded import ArrowSpec, any_sums, diag_pack_size
from .loss import unpack

__all__ = ["LogisticObjective", "NonFiniteError", "Objective", "SumsFn", "numpy_sums"]

Array = NDArray[np.float64]
Index = NDArray[np.intp]
SumsFn = Callable[..., Array]  # (w, hessian[, diag]) -> packed sums


class NonFiniteError(ValueError):
    """The loss or gradient is not finite. ``diverged``: the parameters themselves are not
    finite (the solver ran away); otherwise the data are (NaN/inf, or X·w overflows)."""

    def __init__(self, message: str, *, diverged: bool) -> None:
        super().__init__(message)
        self.diverged = diverged


@runtime_checkable
class Objective(Protocol):
    """The solver contract: everything a solver (:mod:`logloss.solvers`) may ask of an
    objective, and nothing else. θ is a float64 vector of length ``n_params``; the
    objective is F(θ) = f(θ) + Σ_j λ_j |θ_j|, f smooth (the loss and any L2 part), λ ≥ 0.

    - ``n_params``: the length of θ.
    - ``__call__(θ)``: f(θ) and ∇f(θ), one pass over the data.
    - ``hessian(θ)``: f, ∇f and the dense Hessian of f, (n_params)²; asked only by Newton,
      proximal Newton, lbfgs's Newton finish (≤ 1,000 parameters) and the warm start
      (≤ :data:`logloss.solvers.WARM_HESSIAN_MAX_PARAMS`). A wide objective may raise
      NotImplementedError here.
    - ``convergence_norm(g)``: the norm convergence is judged on (max |g| in the
      parameters of the problem posed) given a gradient (or pseudo-gradient) in θ; a
      solver has converged exactly when it is ≤ tol.
    - ``penalty_value(θ)``: what the penalty adds to the value at θ (L2 and L1 parts,
      0 without one), so that the history can record the loss itself beside F.
    - ``has_l1``: whether λ has a nonzero entry; then only the proximal solvers apply.
    - ``l1_weights()``: λ (length ``n_params``, zeros without an L1 part); valid after
      one evaluation.
    """

    @property
    def n_params(self) -> int: ...

    @property
    def has_l1(self) -> bool: ...

    def __call__(self, theta: Array) -> tuple[float, Array]: ...

    def hessian(self, theta: Array) -> tuple[float, Array, Array]: ...

    def convergence_norm(self, grad: Array) -> float: ...

    def penalty_value(self, theta: Array) -> float: ...

    def l1_weights(self) -> Array: ...


def numpy_sums(
    X: NDArray[np.floating],
    y01: NDArray[np.floating],
    sample_weight: NDArray[np.floating] | None = None,
    *,
    rows_per_block: int = 65536,
) -> SumsFn:
    """A sums function over in-memory arrays, walking them in cache-sized row blocks."""
    n = X.shape[0]
    starts = range(0, max(n, 1), rows_per_block)

    def sums(w: Array, hessian: bool, diag: bool | ArrowSpec = False) -> Array:
        total: Array | None = None
        for a in starts:
            b = min(a + rows_per_block, n)
            part = any_sums(
                X[a:b],
                y01[a:b],
                w,
                None if sample_weight is None else sample_weight[a:b],
                hessian=hessian,
                diag=diag,
            )
            total = part if total is None else total + part
        assert total is not None
        return total

    return sums


class LogisticObjective:
    """Penalised mean log loss over the data behind a sums function.

    ``alpha`` is 1/C (0 for no penalty). ``mean`` and ``scale`` (length p) describe the
    standardisation x' = (x − mean) / scale in which θ lives; None means identity.
    ``penalize``: "theta" puts the penalty on the coefficients in θ (standardised units),
    "w" on the coefficients in original units (then mean and scale change only the
    conditioning, never the optimum in w). ``evaluations`` counts passes over the data.
    """

    def __init__(
        self,
        sums: SumsFn,
        n_features: int,
        *,
        alpha: float,
        fit_intercept: bool = True,
        mean: Array | None = None,
        scale: Array | None = None,
        penalize: str = "theta",
        l1_ratio: float = 0.0,
        segments: Sequence[tuple[int, int]] = (),
        arrow: ArrowSpec | None = None,
        moments: Array | None = None,
    ) -> None:
        if penalize not in ("theta", "w"):
            raise ValueError(f"penalize must be 'theta' or 'w'; got {penalize!r}")
        if not 0.0 <= l1_ratio <= 1.0:
            raise ValueError(f"l1_ratio must be between 0 and 1; got {l1_ratio!r}")
        self.l1_ratio = float(l1_ratio) if alpha else 0.0
        self._sums = sums
        self.p = n_features
        self.alpha = float(alpha)
        self.fit_intercept = fit_intercept
        self.n_params = n_features + int(fit_intercept)
        p = n_features
        # w = A θ, (p + 1) × n_params, never formed: A = [[diag(inv), 0], [shift, 1]]
        # (the intercept row only with an intercept; no intercept: w's last entry is 0).
        inv = np.ones(p) if scale is None else 1.0 / np.asarray(scale, dtype=np.float64)
        self._inv = inv
        # the zero-sum projection P of the level segments (module conventions): only with an
        # intercept to take the segment's mean and no L1 part
        self.segments: tuple[tuple[int, int], ...] = (
            tuple((int(a), int(b)) for a, b in segments if b - a > 1)
            if fit_intercept and not self.l1_ratio
            else ()
        )
        mean_w = None if mean is None else self._project(np.asarray(mean, dtype=np.float64))
        # the intercept row of A: w_b = θ_b − mean·w_coef = θ_b + shift·θ, shift = −inv·P(mean)
        self._shift: Array | None = -mean_w * inv if fit_intercept and mean_w is not None else None
        self.penalize = penalize
        # Penalty ½α Σ_j d_j θ_j² over the coefficients: d = 1 on θ, D² = 1/scale² on w.
        self._pen_diag = inv**2 if penalize == "w" else np.ones(p)
        # ∇_θ = Aᵀ∇_w, so ∇_w = (scale·∇θ_coef + mean·∇θ_b, ∇θ_b): kept for penalize="w".
        self._w_scale = 1.0 / inv if penalize == "w" else None
        self._w_mean = mean_w if penalize == "w" and fit_intercept else None
        #: the small features of :meth:`arrow_blocks` (coded data), or None
        self.arrow = arrow
        #: the unweighted moments of all rows (:func:`~logloss.loss.block_moments`), given
        #: only when every row weighs 1: :meth:`hessian_diag` at a constant margin from them
        self._moments = None if moments is None else np.asarray(moments, dtype=np.float64)
        self.evaluations = 0
        self.total_weight: float | None = None  # Σ s, known after the first evaluation

    # -- the L1 part (elastic net) ---------------------------------------------------
    @property
    def has_l1(self) -> bool:
        return self.l1_ratio > 0.0

    def l1_weights(self) -> Array:
        """λ per parameter: the non-smooth part of J is Σ λ_j |θ_j| (0 for the intercept),
        i.e. r‖coef‖₁ / (C Σs) in the coefficients the penalty applies to. Needs one
        evaluation first (for Σ s)."""
        lam = np.zeros(self.n_params)
        if self.has_l1:
            if self.total_weight is None:
                raise RuntimeError("evaluate the objective once before asking for l1_weights")
            lam[: self.p] = self.alpha * self.l1_ratio * np.sqrt(self._pen_diag) / self.total_weight
        return lam

    def l1_value(self, theta: Array) -> float:
        """Σ λ_j |θ_j|: what the non-smooth part adds to the value at θ."""
        return float(self.l1_weights() @ np.abs(theta)) if self.has_l1 else 0.0

    def penalty_value(self, theta: Array) -> float:
        """What the penalty (L2 and L1 parts) adds to the value at θ: the value minus the
        mean log loss. Needs one evaluation first (for Σ s); 0 without a penalty."""
        if not self.alpha or self.total_weight is None:
            return 0.0
        value = self._l2_value_grad(np.asarray(theta, dtype=np.float64))[0] / self.total_weight
        return value + self.l1_value(theta)

    # -- the L2 part -------------------------------------------------------------------
    @property
    def _l2(self) -> float:
        """The smooth (L2) share of the penalty's α."""
        return self.alpha * (1.0 - self.l1_ratio)

    def _penalised(self, coef: Array) -> Array:
        """Mθ: the coefficients the L2 penalty applies to, θ with each zero-sum segment
        projected in w's units (M = diag(1/inv)·P·diag(inv) there, the identity elsewhere)."""
        if not self.segments:
            return coef
        inv = self._inv
        return self._project(inv * coef) / inv

    def _penalised_t(self, v: Array) -> Array:
        """Mᵀv (the penalty's gradient from its value's)."""
        if not self.segments:
            return v
        inv = self._inv
        return inv * self._project(v / inv)

    def _l2_value_grad(self, theta: Array) -> tuple[float, Array]:
        """½α₂ (Mθ)ᵀD(Mθ) and its gradient in θ's coefficients (not divided by Σ s)."""
        l2 = self._l2
        if not l2:
            return 0.0, np.zeros(self.p)
        coef = self._penalised(theta[: self.p])
        dc = self._pen_diag * coef
        return 0.5 * l2 * float(coef @ dc), l2 * self._penalised_t(dc)

    def _l2_hessian_into(self, H: Array, factor: float, rows: Index | None = None) -> None:
        """Add factor·α₂·MᵀDM to H's coefficient block, and a curvature along each
        segment's direction that A ignores (n = 1/inv there, 0 elsewhere: Hn = 0 and every
        gradient is orthogonal to n, so Newton's steps do not change; its systems become
        regular): the mean of the segment's diagonal. ``rows``: the parameters H's rows
        are (increasing; default all of them), its columns being all of them."""
        p, l2 = self.p, self._l2
        d = self._pen_diag
        at_rows: Index = np.arange(H.shape[0]) if rows is None else np.asarray(rows, np.intp)
        at = np.flatnonzero(at_rows < p)
        if l2:
            H[at, at_rows[at]] += factor * l2 * d[at_rows[at]]
        inv = self._inv
        for lo, hi in self.segments:
            size = hi - lo
            i0 = int(np.searchsorted(at_rows, lo))
            if i0 >= len(at_rows) or at_rows[i0] != lo:
                continue  # a segment whose rows are not among H's
            a, b, ds = 1.0 / inv[lo:hi], inv[lo:hi], d[lo:hi]
            block = H[i0 : i0 + size, lo:hi]
            if l2:  # MᵀDM − D = −(Da)bᵀ/L − b(Da)ᵀ/L + (aᵀDa) bbᵀ/L² on the block
                da = ds * a
                block -= factor * l2 * (np.outer(da, b) + np.outer(b, da)) / size
                block += factor * l2 * float(a @ da) * np.outer(b, b) / size**2
            n = a / np.linalg.norm(a)
            curvature = float(np.mean(np.diag(block)))
            block += (curvature if curvature > 0 else 1.0) * np.outer(n, n)

    def _l2_diag(self) -> Array:
        """The diagonal of α₂·MᵀDM (the penalty's part of the Hessian's diagonal)."""
        d = self._l2 * self._pen_diag
        if not self.segments:
            return d
        out = d.copy()
        inv = self._inv
        for lo, hi in self.segments:
            size = hi - lo
            a, b, ds = 1.0 / inv[lo:hi], inv[lo:hi], d[lo:hi]
            out[lo:hi] += -2.0 * ds / size + float(a @ (ds * a)) * b**2 / size**2
        return out

    # -- coordinates ---------------------------------------------------------------
    def _project(self, v: Array, axis: int = 0) -> Array:
        """P v: each zero-sum segment's mean removed from its entries (a copy; ``v``
        itself without segments). Along ``axis`` for a matrix."""
        if not self.segments:
            return v
        v = np.array(v, dtype=np.float64)
        moved = np.moveaxis(v, axis, 0)
        for a, b in self.segments:
            moved[a:b] -= moved[a:b].mean(axis=0)
        return v

    def from_w(self, w: Array) -> Array:
        """θ with Aθ = w, for coefficients ``w`` (p + 1 entries, the intercept last) whose
        segments may not sum to 0: each segment's mean is first moved into the intercept,
        which changes no prediction (the segments are those of columns with exactly one
        level per row). Without an intercept w's last entry is ignored."""
        w = np.array(w, dtype=np.float64)
        p = self.p
        coef = w[:p]
        b = float(w[p])
        for a, c in self.segments:
            m = float(coef[a:c].mean())
            coef[a:c] -= m
            b += m
        theta = coef / self._inv
        if not self.fit_intercept:
            return theta
        if self._shift is not None:
            b -= float(self._shift @ theta)
        return np.r_[theta, b]

    def to_w(self, theta: Array) -> Array:
        """Full parameter vector w = Aθ (coefficients in original units, then the
        intercept; 0 without one). O(p): A is a diagonal scaling, the segments' zero-sum
        projection and the intercept's centring shift, and is never formed."""
        theta = np.asarray(theta, dtype=np.float64)
        p = self.p
        w = np.zeros(p + 1)
        w[:p] = self._project(self._inv * theta[:p])
        if self.fit_intercept:
            w[p] = theta[p]
            if self._shift is not None:
                w[p] += float(self._shift @ theta[:p])
        return w

    def grad_to_theta(self, grad_w: Array) -> Array:
        """Aᵀg: a gradient with respect to w (length p + 1) as one with respect to θ. O(p)."""
        g = np.asarray(grad_w, dtype=np.float64)
        p = self.p
        out = np.empty(self.n_params)
        out[:p] = self._inv * self._project(g[:p])
        if self.fit_intercept:
            out[p] = g[p]
            if self._shift is not None:
                out[:p] += self._shift * g[p]
        return out

    def hessian_to_theta(self, hess_w: Array) -> Array:
        """AᵀHA: a Hessian with respect to w ((p + 1)²) as one with respect to θ, by scaling
        its rows and columns and one rank-one update per side; A is never formed."""
        H = np.asarray(hess_w, dtype=np.float64)
        p = self.p
        if not self.fit_intercept:
            H = self._project_rows(H, np.arange(p + 1))
            return H[:p, :p] * self._inv[:, None] * self._inv[None, :]
        return self._rows_to_theta(H.copy(), np.arange(p + 1))

    def _project_rows(self, H: Array, rows: Index) -> Array:
        """QᵀHQ restricted to H's rows (Q = [[P, 0], [0, 1]]: A = Q·A0, A0 the scaling and
        the shift): H's rows are the parameters ``rows`` (increasing), its columns all
        p + 1; every segment is projected along the columns, and along the rows those whose
        rows H holds. A copy; H itself without segments."""
        if not self.segments:
            return H
        H = self._project(H, axis=1)
        for lo, hi in self.segments:
            i0 = int(np.searchsorted(rows, lo))
            if i0 < len(rows) and rows[i0] == lo:
                H[i0 : i0 + hi - lo] -= H[i0 : i0 + hi - lo].mean(axis=0)
        return H

    def _rows_to_theta(self, H: Array, rows: Index) -> Array:
        """The rows ``rows`` of AᵀHA from the same rows of H (in w, all p + 1 columns; the
        last row the intercept's), with an intercept. H may be overwritten."""
        p = self.p
        H = self._project_rows(H, rows)
        inv, shift = self._inv, self._shift
        # columns: (HA0)[:, j] = H[:, j]·inv_j + H[:, p]·shift_j for j < p; column p unchanged
        H[:, :p] *= inv
        if shift is not None:
            H[:, :p] += np.outer(H[:, p], shift)
        # rows: A0ᵀ(HA0), the same on the other side (the intercept's row is unchanged)
        coef = rows[:-1]
        H[:-1] *= inv[coef][:, None]
        if shift is not None:
            H[:-1] += np.outer(shift[coef], H[-1])
        return H

    def convergence_norm(self, grad: Array) -> float:
        """max |∇J| over the parameters of the problem posed, given ∇_θ J: the gradient in
        w (original units) when the penalty is on w, in θ when it is on θ."""
        g = np.asarray(grad, dtype=np.float64)
        if self._w_scale is not None:
            g = g.copy()
            g[: self.p] *= self._w_scale
            if self._w_mean is not None:
                g[: self.p] += self._w_mean * g[self.p]
        return float(np.max(np.abs(g))) if g.size else 0.0

    # -- value, gradient, Hessian ----------------------------------------------------
    def _evaluate(self, theta: Array, hessian: bool) -> tuple[float, Array, Array | None]:
        theta = np.asarray(theta, dtype=np.float64)
        packed = self._sums(self.to_w(theta), hessian)
        self.evaluations += 1
        s = unpack(packed, self.p)
        if not s.weight > 0:
            raise ValueError(f"the sum of sample weights must be positive; got {s.weight}")
        if not (np.isfinite(s.loss) and np.all(np.isfinite(s.grad))):
            # No remedy here: only the caller knows the solver and its settings.
            if np.all(np.isfinite(theta)):
                raise NonFiniteError(
                    "the loss is not finite at finite parameters: the input contains NaN or "
                    "infinity, or values so large that X·w overflows",
                    diverged=False,
                )
            raise NonFiniteError(f"the parameters diverged to {theta.tolist()[:10]}", diverged=True)
        self.total_weight = float(s.weight)
        grad = self.grad_to_theta(s.grad) / s.weight
        pen_value, pen_grad = self._l2_value_grad(theta)
        value = (s.loss + pen_value) / s.weight
        grad[: self.p] += pen_grad / s.weight
        H = None
        if hessian:
            assert s.hess is not None
            H = self.hessian_to_theta(s.hess)
            H /= s.weight
            self._l2_hessian_into(H, 1.0 / s.weight)
            if not np.all(np.isfinite(H)):
                raise NonFiniteError(
                    "the Hessian is not finite: feature values so large that their squares "
                    "overflow",
                    diverged=False,
                )
        return float(value), grad, H

    def __call__(self, theta: Array) -> tuple[float, Array]:
        value, grad, _ = self._evaluate(theta, False)
        return value, grad

    def hessian_diag(self, theta: Array) -> Array:
        """The diagonal of the Hessian in θ (length ``n_params``), from one pass of the
        same scatter-adds as the gradient (none where every coefficient is 0 and the
        moments are given: :meth:`_constant_margin_sums`): O(p) memory, whatever p (a
        preconditioner for wide data). With zero-sum segments it is that of A without their
        projection (the projection's O(1/L) terms would need the Hessian's off-diagonal
        entries).
        Raises TypeError when the sums function cannot give it."""
        theta = np.asarray(theta, dtype=np.float64)
        constant = self._constant_margin_sums(theta)
        if constant is not None:
            return self._diagonal(*constant)
        packed = self._sums(self.to_w(theta), False, True)  # type: ignore[call-arg]
        self.evaluations += 1
        return self._diagonal(*self._diag_sums(packed))

    def _diag_sums(self, packed: Array) -> tuple[float, Array, Array]:
        """(Σ s, hd, hc) of a ``diag`` pass's packed sums (see :meth:`_diagonal`)."""
        p = self.p
        return float(packed[1]), packed[p + 3 : 2 * p + 4], packed[2 * p + 4 : 3 * p + 5]

    def _constant_margin_sums(self, theta: Array) -> tuple[float, Array, Array] | None:
        """The ``diag`` pass's (Σ s, Σ s·ŷ(1−ŷ)·x², Σ s·ŷ(1−ŷ)·x) without a pass, where every
        row has the same margin (every coefficient 0, as a cold start has: ŷ(1−ŷ) is then one
        number c, and the sums are c times the columns' Σx² and Σx, from the moments); None
        elsewhere, or without the moments (weighted rows)."""
        m = self._moments
        p = self.p
        if m is None or m.size != 2 * p + 1 or np.any(theta[:p]):
            return None
        n = float(m[0])
        mean, ssd = m[1 : p + 1], m[p + 1 :]
        b = float(theta[p]) if self.fit_intercept else 0.0
        c = float(np.exp(-np.logaddexp(0.0, -b) - np.logaddexp(0.0, b)))  # ŷ(1 − ŷ) at b
        hd, hc = np.empty(p + 1), np.empty(p + 1)
        with np.errstate(over="ignore", invalid="ignore"):
            hd[:p] = c * (ssd + n * mean * mean)
            hc[:p] = c * n * mean
        hd[p] = hc[p] = c * n
        return n, hd, hc

    def _diagonal(self, weight: float, hd: Array, hc: Array) -> Array:
        """:meth:`hessian_diag` from a ``diag`` pass's Σ s and its sums hd (Σ s·ŷ(1−ŷ)·x²
        per column, then Σ s·ŷ(1−ŷ)) and hc (Σ s·ŷ(1−ŷ)·x per column)."""
        p = self.p
        inv = self._inv
        out = np.empty(self.n_params)
        out[:p] = inv**2 * hd[:p]
        if self._shift is not None:
            out[:p] += 2.0 * inv * self._shift * hc[:p] + self._shift**2 * hd[p]
        if self.fit_intercept:
            out[p] = hd[p]
        out /= max(weight, 1e-300)
        if self._l2 and weight > 0:
            out[:p] += self._l2_diag() / weight
        return out

    def arrow_blocks(self, theta: Array) -> tuple[Index, Array, Array, int] | None:
        """The arrow preconditioner's blocks at θ (:mod:`logloss.solvers.arrow`), from one
        pass: (S, the rows S of the Hessian in θ (|S| × ``n_params``), the diagonal of the
        Hessian in θ as :meth:`hessian_diag`, the number of big code columns), S being the
        small parameters (:class:`~logloss.coded.ArrowSpec`). None without an arrow spec
        (or an intercept)."""
        spec = self.arrow
        if spec is None or not self.fit_intercept:
            return None
        theta = np.asarray(theta, dtype=np.float64)
        packed = self._sums(self.to_w(theta), False, spec)  # type: ignore[call-arg]
        self.evaluations += 1
        p = self.p
        weight = max(float(packed[1]), 1e-300)
        rows = spec.rows(p)
        H = packed[diag_pack_size(p) :].reshape(len(rows), p + 1) / weight
        H = self._rows_to_theta(H, rows)
        self._l2_hessian_into(H, 1.0 / weight, rows)
        return rows, H, self._diagonal(*self._diag_sums(packed)), spec.n_big

    def hessian(self, theta: Array) -> tuple[float, Array, Array]:
        value, grad, H = self._evaluate(theta, True)
        assert H is not None
        return value, grad, H
