"""Training data made ready for an objective: labels → 0/1, sample and class weights, and
the moments that define the solver's coordinates (the mean and scale of every feature).

Conventions
-----------
- One set of rules for NumPy and Dask data: the same label checks (:func:`check_classes`),
  class weights (:func:`class_weights`), weight checks (:func:`block_weight_check`, a
  block function) and coordinates (:func:`mean_scale` from :func:`logloss.loss.block_moments`).
  In-memory data is a single block; Dask data is many, reduced by :mod:`logloss.blockdata`.
- Uses Dask: yes, for Dask input only (validating the collections' shapes, reading the
  distinct labels, building the 0/1 label and weight columns lazily before
  :class:`~logloss.blockdata.BlockData` persists them). NumPy input never touches Dask.
- Error messages are part of the interface (tests check them word for word).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dask
import dask.array as da
import numpy as np
from numpy.typing import NDArray

from .blockdata import BlockData
from .coded import CodedMatrix, any_moments, block_row_bytes, coded_max_abs
from .loss import block_moments, combine_moments
from .objective import numpy_sums

__all__ = [
    "WARM_MIN_ROWS",
    "CheckInput",
    "Prepared",
    "Scaling",
    "block_weight_check",
    "check_classes",
    "check_weight_values",
    "class_weights",
    "dask_array",
    "exact_moments",
    "is_dask",
    "mean_scale",
    "prepare",
    "prepare_dask",
    "prepare_numpy",
    "remember_moments",
    "sample_step",
    "take_sample",
    "zero_sum_segments",
]

Array = NDArray[np.float64]
Sample = tuple[NDArray[np.floating], NDArray[np.float64], NDArray[np.float64] | None]
#: In-memory input checks: (X, y) -> (X as a 2-D C-ordered float array, y as a 1-D array).
CheckInput = Callable[[Any, Any], tuple[NDArray[np.floating], np.ndarray]]

# Warm start on a 1/WARM_STEP sample of the rows for Dask data of at least this many rows.
WARM_MIN_ROWS = 400_000
WARM_STEP = 16  # at least every 16th row ...
WARM_MAX_BYTES = 32 * 2**20  # ... and at most this much data brought to the client

_ZERO_SUM = (
    "sample weights must not all be zero: the sum of sample weights (times "
    "class_weight) must be positive; "
)


@dataclass(frozen=True)
class Scaling:
    """The settings that decide the solver's coordinates."""

    standardize: bool
    fit_intercept: bool
    alpha: float
    # 0/1 indicator features (an encoding's): standardize leaves them in their units
    raw: np.ndarray | None = field(default=None, compare=False)


@dataclass
class Prepared:
    """Data ready for :class:`~logloss.objective.LogisticObjective` (:func:`prepare`).

    ``sums(w, hessian)``: the packed :func:`~logloss.loss.block_sums` of all rows;
    ``classes``: the two labels (the second is the positive class); ``mean`` and ``scale``:
    the solver's coordinates x' = (x − mean) / scale. ``feature_names``: the names of the
    features (a DataFrame's string columns, or the encoding's ``name=level`` names), or
    None; ``encoding``: the :class:`~logloss.data.Encoding` that made X's columns, or None.
    Call :meth:`release` when done with Dask data (frees the persisted blocks now).
    """

    sums: Callable[[Array, bool], Array]
    n_rows: int
    n_features: int
    classes: np.ndarray
    mean: Array | None
    scale: Array
    data: BlockData | None = None  # Dask input: the persisted blocks
    sample: Sample | None = None  # Dask input: the row sample the scaling came from
    arrays: tuple[Any, Any, Any] | None = None  # NumPy input: X, y01, weights
    feature_names: np.ndarray | None = None
    encoding: Any = None
    #: the objective's zero-sum level segments (:func:`zero_sum_segments`)
    segments: tuple[tuple[int, int], ...] = ()
    #: the exact moments of all rows (:func:`~logloss.loss.block_moments`) when every row
    #: weighs 1, else None: the objective's Hessian diagonal at a cold start comes from them
    column_moments: Array | None = None

    def release(self) -> None:
        """Free the persisted blocks (and their disk files) now, not when garbage collected;
        nothing to do for in-memory data."""
        if self.data is not None:
            self.data.release()

    def column_max_abs(self) -> Array:
        """max |x_j| per feature column (one cheap pass; only asked after a failed fit)."""
        if self.data is not None:
            return np.asarray(
                self.data.map_reduce(_block_max_abs, combine=_maximum, name="logloss-maxabs"),
                dtype=np.float64,
            )
        assert self.arrays is not None
        return _block_max_abs(self.arrays[0])


# ------------------------------------------------------------------ shared rules
def is_dask(obj: Any) -> bool:
    return dask.is_dask_collection(obj)


def _label_error(classes: np.ndarray) -> ValueError:
    shown = classes[:10].tolist()
    more = "" if len(classes) <= 10 else ", ..."
    if len(classes) < 2:
        return ValueError(
            "This solver needs samples of at least 2 classes in the data, but the data "
            f"contains only one class: {shown[0] if shown else None!r}"
        )
    return ValueError(
        "Only binary classification is supported. "
        f"labels must be two distinct values; got {len(classes)}: {str(shown)[:-1]}{more}]"
    )


def check_classes(classes: np.ndarray) -> np.ndarray:
    """The two sorted labels, or the error saying why there are not two."""
    if len(classes) != 2:
        raise _label_error(classes)
    return classes


def class_weights(
    class_weight: dict[Any, float] | str | None, classes: np.ndarray, counts: tuple[float, float]
) -> tuple[float, float] | None:
    """The weights of classes[0] and classes[1] (``counts``: their total weights)."""
    cw = class_weight
    if cw is None:
        return None
    if cw == "balanced":
        n = counts[0] + counts[1]
        return (n / (2.0 * counts[0]), n / (2.0 * counts[1]))
    assert isinstance(cw, dict)
    unknown = [k for k in cw if k not in classes.tolist()]
    if unknown:
        raise ValueError(
            f"class_weight names labels not in the data: {unknown!r}; "
            f"classes are {classes.tolist()!r}"
        )
    for label, value in cw.items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = float("nan")
        if not (np.isfinite(v) and v >= 0):
            raise ValueError(
                "class_weight values must be finite and non-negative; "
                f"got {value!r} for label {label!r}"
            )
    return (float(cw.get(classes[0], 1.0)), float(cw.get(classes[1], 1.0)))


def check_weight_values(sample_weight: Any) -> None:
    """Every weight finite and non-negative (first bad index named), not all zero."""
    try:
        sw = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        return  # not numeric: scikit-learn's own check reports it
    flat = sw.reshape(-1)
    bad = ~np.isfinite(flat) | (flat < 0)
    if np.any(bad):
        i = int(np.argmax(bad))
        where = "" if sw.ndim == 0 else f" at index {i}"
        raise ValueError(
            f"sample_weight values must be finite and non-negative; got {float(flat[i])!r}{where}"
        )
    if flat.size and not float(np.sum(flat)) > 0:
        raise ValueError(_ZERO_SUM + f"got {0.0!r}")


def block_weight_check(X: Any, y: Any, s: Any) -> Array:
    """[count of non-finite or negative weights, sum of the finite ones] of one block."""
    if s is None:
        return np.array([0.0, float(len(y))])
    s = np.asarray(s, dtype=np.float64)
    finite = np.isfinite(s)
    return np.array([float(np.count_nonzero(~finite | (s < 0))), float(np.sum(s, where=finite))])


def _check_total(total: float) -> None:
    if not total > 0:
        raise ValueError(_ZERO_SUM + f"got {float(total)}")


def weighted_moments(X: NDArray[np.floating], sw: Array) -> Array:
    """Packed [Σs, weighted column means (p), Σ s·(x − mean)² (p)], as block_moments."""
    total = float(np.sum(sw))
    Xf = np.asarray(X, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        mean = (sw @ Xf) / total if total > 0 else np.zeros(X.shape[1])
        m2 = sw @ (Xf - mean) ** 2
    return np.concatenate([[total], mean, m2])


def mean_scale(moments: Array, p: int, n_rows: float, how: Scaling) -> tuple[Array | None, Array]:
    """The solver's coordinates x' = (x − mean) / scale from :func:`block_moments`.

    standardize=True: the column std (the problem's definition). Otherwise only a
    preconditioner, chosen so that the diagonal of the Hessian in θ at θ = 0 is at most 1
    for every coefficient: with the penalty on w, the curvature of coefficient j is
    ¼·E[x'_j²] + α/N in w (N ≈ n_rows, the total weight), hence
    scale_j = √(E[(x_j − mean_j)²] + 4α/N); without an intercept nothing is centred.
    """
    n = moments[0]
    mean = moments[1 : p + 1]
    var = moments[p + 1 :] / n
    kept_mean = mean if how.fit_intercept else None
    if how.standardize:
        std = np.sqrt(var)
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        if how.raw is not None:
            std[how.raw] = 1.0  # indicators: the penalty applies to their own coefficients
        return kept_mean, std
    with np.errstate(over="ignore", invalid="ignore"):
        second = var if how.fit_intercept else var + mean**2
        scale = np.sqrt(second + 4.0 * how.alpha / max(n_rows, 1.0))
    return kept_mean, np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


def sample_step(n_rows: int, n_features: int) -> int:
    """Every how many rows a warm start's sample takes one: 16 or more (at most 32 MiB)."""
    row_bytes = 8 * (n_features + 2)
    return int(max(WARM_STEP, -(-n_rows * row_bytes // WARM_MAX_BYTES)))


def take_sample(data: BlockData) -> Sample | None:
    """Every 16th row or sparser (at most 32 MiB) of the blocks, brought here; None when
    the blocks are streamed from source."""
    return data.sample(sample_step(data.n_rows, block_row_bytes(data.X) // 8))


def _block_max_abs(X: Any, y: Any = None, s: Any = None) -> Array:
    if isinstance(X, CodedMatrix):
        return coded_max_abs(X)
    if len(X) == 0:
        return np.zeros(X.shape[1])
    return np.asarray(np.max(np.abs(X), axis=0), dtype=np.float64)


def _maximum(*parts: Array) -> Array:
    return np.asarray(np.maximum.reduce(parts), dtype=np.float64)


# ------------------------------------------------------------------ NumPy: one block
def prepare_numpy(
    X: NDArray[np.floating],
    y: np.ndarray,
    sample_weight: Any,
    class_weight: dict[Any, float] | str | None,
    how: Scaling,
) -> Prepared:
    """In-memory ``X`` and ``y`` (validated by scikit-learn's ``validate_data``) and the
    user's weights, as one block."""
    classes = check_classes(np.unique(y))
    sw = None
    if sample_weight is not None:
        from sklearn.utils.validation import _check_sample_weight

        check_weight_values(sample_weight)
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64)
    y01 = (y == classes[1]).astype(np.float64)
    cw = class_weights(class_weight, classes, (float(np.sum(y01 == 0)), float(np.sum(y01 == 1))))
    if cw is not None:
        factor = np.where(y01 == 1, cw[1], cw[0])
        sw = factor if sw is None else sw * factor
    if sw is not None:
        _check_total(float(np.sum(sw)))
    # Always scaled coordinates (exact moments: in memory they cost one cheap pass).
    # Without standardize they are weighted, so that integer weights and repeated rows
    # give the same coordinates and so the same iterates.
    if how.standardize or sw is None:
        moments = block_moments(X)
    else:
        moments = weighted_moments(X, sw)
    n, p = X.shape
    mean, scale = mean_scale(moments, p, float(moments[0]), how)
    exact = moments if sw is None else None
    return Prepared(
        numpy_sums(X, y01, sw),
        n,
        p,
        classes,
        mean,
        scale,
        arrays=(X, y01, sw),
        column_moments=exact,
    )


# ------------------------------------------------------------------ Dask: many blocks
def dask_array(obj: Any) -> da.Array:
    """A Dask array with known chunk sizes from a Dask array, DataFrame or Series."""
    if hasattr(obj, "to_dask_array"):
        return obj.to_dask_array(lengths=True)
    arr = da.asarray(obj)
    if any(np.isnan(c) for c in arr.chunks[0]):
        arr = arr.persist()
        arr.compute_chunk_sizes()
    return arr


def _column(obj: Any, name: str) -> da.Array:
    arr = dask_array(obj)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    return arr


def _dask_X(X: Any) -> da.Array:
    Xd = dask_array(X)
    if Xd.ndim != 2:
        raise ValueError(f"X must be 2-D; got shape {Xd.shape}")
    if Xd.dtype.kind not in "fiub":
        raise ValueError(f"X must be numeric; got dtype {Xd.dtype}")
    if Xd.dtype not in (np.float32, np.float64):
        Xd = Xd.astype(np.float64)
    return Xd


def _dask_y(y: Any, Xd: da.Array) -> da.Array:
    yd = _column(y, "y")
    n_rows = int(sum(Xd.chunks[0]))
    if int(sum(yd.chunks[0])) != n_rows:
        raise ValueError(f"X has {n_rows} rows but y has {int(sum(yd.chunks[0]))}")
    if n_rows == 0:
        raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
    return yd.rechunk((Xd.chunks[0],)).persist()


def _dask_classes(yd: da.Array) -> np.ndarray:
    classes = np.unique(da.unique(yd).compute())
    if classes.dtype.kind in "fc" and np.any(np.isnan(classes)):
        i = int(da.argmax(da.isnan(yd)).compute())
        raise ValueError(f"labels must not be NaN; got NaN in y at index {i}")
    return check_classes(classes)


def _dask_weights(sample_weight: Any, Xd: da.Array) -> da.Array | None:
    """The user's weights as a column chunked like X (a scalar is checked here)."""
    if sample_weight is None:
        return None
    n_rows = int(sum(Xd.chunks[0]))
    if np.ndim(sample_weight) == 0:
        check_weight_values(np.asarray(sample_weight))
        return da.full(n_rows, float(sample_weight), chunks=(Xd.chunks[0],))
    sw = _column(sample_weight, "sample_weight")
    n_sw = int(sum(sw.chunks[0]))
    if n_sw != n_rows:
        raise ValueError(
            f"sample_weight must have one value per row: sample_weight has "
            f"{n_sw} rows, X has {n_rows}"
        )
    if sw.dtype.kind not in "fiub":
        raise ValueError(f"sample_weight must be numeric; got dtype {sw.dtype}")
    return sw.astype(np.float64).rechunk((Xd.chunks[0],))


def _check_dask_weights(data: BlockData, user_sw: da.Array | None) -> None:
    """Weights finite, non-negative, positive sum: one pass over the persisted blocks'
    weight column; the index of the first bad value is looked up only on error."""
    n_bad, total = data.map_reduce(block_weight_check, name="logloss-weights")
    if n_bad > 0 and user_sw is not None:
        bad = ~da.isfinite(user_sw) | (user_sw < 0)
        i = int(da.argmax(bad).compute())
        value = float(user_sw[i].compute())
        raise ValueError(
            f"sample_weight values must be finite and non-negative; got {value!r} at index {i}"
        )
    _check_total(float(total))


#: The moments of one Dask array, by its name (a token of its graph: the same name, the
#: same blocks), found by a pass that read its blocks anyway: the data checks' profile
#: (:func:`logloss.metrics.profile.profile_pass`). The fit's moments pass takes them instead
#: of a pass of its own. At most one entry, taken once.
_KNOWN_MOMENTS: dict[str, Array] = {}


def remember_moments(X: Any, moments: Array | None) -> None:
    """Keep ``moments`` (:func:`~logloss.coded.any_moments` of every block of the Dask array
    ``X``, combined as the moments pass combines them) for the next fit on ``X``; None
    forgets any kept."""
    _KNOWN_MOMENTS.clear()
    if moments is not None and isinstance(X, da.Array):
        _KNOWN_MOMENTS[X.name] = moments


def exact_moments(standardize: bool, n_rows: int) -> bool:
    """Whether a fit on Dask blocks takes its moments from all ``n_rows`` rows (they define
    a standardized problem; on less data than a warm start needs there is no row sample),
    rather than from the warm start's row sample."""
    return standardize or n_rows < WARM_MIN_ROWS


def _dask_moments(data: BlockData, how: Scaling, name: str) -> tuple[Array, Sample | None]:
    """The moments, from the warm start's row sample when there will be one and they only
    precondition; else those remembered for these blocks, or one exact pass over all rows."""
    sample = None
    if not exact_moments(how.standardize, data.n_rows):
        sample = take_sample(data)
    if sample is not None:
        return any_moments(sample[0]), sample
    known = _KNOWN_MOMENTS.pop(name, None)
    if known is not None:
        return known, None
    moments = data.map_reduce(any_moments, combine=combine_moments, name="logloss-moments")
    return moments, None


def prepare_dask(
    X: Any,
    y: Any,
    sample_weight: Any,
    class_weight: dict[Any, float] | str | None,
    how: Scaling,
) -> Prepared:
    """The persisted blocks, the mean and scale of the solver's coordinates, and the
    row sample they came from (None when they came from a pass over all rows).

    With standardize=True the mean and scale define the problem: exact, one pass. Else
    they only precondition: on data large enough for a warm start they come from its
    row sample (no pass over all rows); on smaller data from one cheap moments pass.
    """
    names = None
    if is_dask(X) and hasattr(X, "columns") and hasattr(X, "to_dask_array"):
        names = np.asarray([str(c) for c in X.columns], dtype=object)
    Xd = _dask_X(X)
    yd = _dask_y(y, Xd)
    classes = _dask_classes(yd)
    y01 = (yd == classes[1]).astype(np.float64)
    sw = user_sw = _dask_weights(sample_weight, Xd)
    if np.ndim(sample_weight) == 0:
        user_sw = None
    if class_weight is not None:
        n_pos = float(y01.sum().compute())
        n_rows = int(sum(Xd.chunks[0]))
        cw = class_weights(class_weight, classes, (n_rows - n_pos, n_pos))
        assert cw is not None
        factor = da.where(y01 == 1, cw[1], cw[0])
        sw = factor if sw is None else sw * factor
    data = BlockData(Xd, y01, sw)
    if sw is not None:
        _check_dask_weights(data, user_sw)
    moments, sample = _dask_moments(data, how, Xd.name)
    mean, scale = mean_scale(moments, data.n_features, data.n_rows, how)
    return Prepared(
        data.sums,
        data.n_rows,
        data.n_features,
        classes,
        mean,
        scale,
        data=data,
        sample=sample,
        feature_names=names,
        column_moments=moments if sw is None and sample is None else None,
    )


# ------------------------------------------------------------------ the entry point
_COLUMN_OPTIONS = (
    "missing",
    "categorical",
    "numeric",
    "max_categories",
    "min_frequency",
    "categorical_coding",
    "hash_bits",
    "hash_columns",
    "interactions",
)


def prepare(
    X: Any,
    y: Any,
    sample_weight: Any = None,
    *,
    settings: Mapping[str, Any] | None = None,
    encoding: Any = None,
    alpha: float | None = None,
    check_input: CheckInput | None = None,
) -> Prepared:
    """The training data made ready for :func:`logloss.fitting.fit_prepared`.

    ``X``, ``y``, ``sample_weight``: NumPy arrays or pandas objects (prepared in memory) or
    Dask arrays / DataFrames (persisted as blocks). A DataFrame with categorical or
    incomplete columns is encoded first (its learned encoding is ``Prepared.encoding``).
    ``settings``: training settings by name (:data:`logloss.settings.TRAIN_SETTINGS`,
    e.g. ``LogisticCore.get_params()``; missing ones take their defaults, other keys are
    ignored); used here: ``standardize``, ``fit_intercept``, ``C`` (and the deprecated
    ``penalty``), ``class_weight`` and the column options (``missing``, ``categorical``,
    ``numeric``, ``max_categories``, ``min_frequency``). ``encoding``: an
    :class:`~logloss.data.Encoding` that already made X's columns (``Dataset.encoding``).
    ``alpha``: the penalty 1/C the solver's coordinates are scaled for (a preconditioner
    only; default: the settings' C). ``check_input(X, y)``: the checks of in-memory input
    (default: 2-D X and 1-D y of one length, as float arrays).
    """
    values = _settings(settings)
    X, y, sample_weight, encoding, framed = _encode_frame(X, y, sample_weight, encoding, values)
    names = _frame_names(X)
    if alpha is None:
        alpha = penalty_alpha(values)
    raw = None if encoding is None else encoding.raw_features()
    how = Scaling(bool(values["standardize"]), bool(values["fit_intercept"]), alpha, raw)
    cw = values["class_weight"]
    if is_dask(X) or is_dask(y) or is_dask(sample_weight):
        prep = prepare_dask(X, y, sample_weight, cw, how)
    else:
        X, y = (check_input or numpy_input)(X, y)
        prep = prepare_numpy(X, y, sample_weight, cw, how)
        prep.feature_names = names
    if framed:  # the features are the encoded DataFrame's
        prep.feature_names = np.asarray(encoding.feature_names, dtype=object)
    prep.encoding = encoding
    prep.segments = zero_sum_segments(encoding, prep.mean)
    return prep


def zero_sum_segments(encoding: Any, mean: Array | None) -> tuple[tuple[int, int], ...]:
    """The feature ranges [lo, hi) of the categorical columns whose every row has exactly
    one level among its features (their means sum to 1: every level kept, nulls and rare
    levels included), which :class:`~logloss.objective.LogisticObjective` projects onto a
    zero sum. None with reference coding (a reference level's rows have no feature) or
    without an intercept (``mean`` None)."""
    if encoding is None or mean is None or encoding.reference:
        return ()
    out = []
    for _, cols in encoding.categorical_slices():
        if cols.stop - cols.start > 1 and abs(float(np.sum(mean[cols])) - 1.0) <= 1e-9:
            out.append((cols.start, cols.stop))
    return tuple(out)


def penalty_alpha(settings: Mapping[str, Any]) -> float:
    """α = 1/C of ``settings``: 0 without a penalty (C = inf, or the deprecated
    ``penalty=None``)."""
    C = float(settings.get("C", 1.0))
    return 0.0 if settings.get("penalty", "deprecated") is None or np.isinf(C) else 1.0 / C


def _settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    from .settings import defaults

    return {**defaults(), "penalty": "deprecated", **(settings or {})}


def numpy_input(X: Any, y: Any) -> tuple[NDArray[np.floating], np.ndarray]:
    """In-memory training data as C-ordered float arrays (float32 kept), checked for shape."""
    X = np.asarray(X)
    X = np.ascontiguousarray(X, dtype=X.dtype if X.dtype == np.float32 else np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"X must be 2-D and y 1-D of the same length; got {X.shape}, {y.shape}")
    return X, y


def _frame_names(X: Any) -> np.ndarray | None:
    """A pandas DataFrame's column names when they are all strings (scikit-learn's rule
    for ``feature_names_in_``), else None; Dask input: None (:func:`prepare_dask` reads
    a Dask DataFrame's)."""
    columns = getattr(X, "columns", None)
    if columns is None or is_dask(X) or len(columns) == 0:
        return None
    if not all(isinstance(c, str) for c in columns):
        return None
    return np.asarray(columns, dtype=object)


def _encode_frame(
    X: Any, y: Any, sample_weight: Any, encoding: Any, values: Mapping[str, Any]
) -> tuple[Any, Any, Any, Any, bool]:
    """A DataFrame with categorical or incomplete columns (:mod:`logloss.frames`): learn
    its encoding and encode it; anything else passes through."""
    from .frames import drop_rows, encode_frame, is_frame, learn_frame, needs_encoding

    if encoding is not None or not needs_encoding(X, values["missing"]):
        return X, y, sample_weight, encoding, False
    if values["missing"] == "drop" and not is_dask(X) and is_frame(X):
        X, y, sample_weight = drop_rows(X, y, sample_weight)
    encoding = learn_frame(X, sample_weight, {k: values[k] for k in _COLUMN_OPTIONS})
    lazy = is_dask(X)
    X = encode_frame(X, encoding)
    if is_dask(X) and not lazy:  # a pandas DataFrame's coded blocks: y and weights beside
        import dask.array as da

        rows = X.chunks[0]
        y = None if y is None else da.from_array(np.asarray(y), chunks=rows)
        if sample_weight is not None and np.ndim(sample_weight):
            sample_weight = da.from_array(np.asarray(sample_weight, np.float64), chunks=rows)
    return X, y, sample_weight, encoding, True
