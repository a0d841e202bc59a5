"""DataFrames with categorical or incomplete columns, for the Python API.

A pandas or Dask DataFrame given to ``fit`` or ``predict_proba`` is encoded by the same code
as Parquet data (:mod:`logloss.data.encoding`): it is converted to Arrow (each Dask partition
on its own), the levels and means are learned from per-partition summaries, and each
partition becomes a block of the encoded, row-major X.

Conventions
-----------
- A DataFrame is encoded when one of its columns is string, object, category or bool, or
  when ``missing`` is not "error". Otherwise it is numeric data, handled as before.
- The column options are the estimator's settings: ``missing``, ``categorical``,
  ``numeric``, ``max_categories``, ``min_frequency``, ``categorical_coding``, ``hash_bits``,
  ``hash_columns``, ``interactions`` (see :mod:`logloss.settings`), with Parquet's defaults.
- An encoding of codes (wide vocabularies, hashed columns, crosses, bags: see
  :attr:`~logloss.data.Encoding.coded`) makes the same coded blocks as Parquet data (a dense
  part and int32 codes, never dense indicators): a Dask array of them, of about
  :data:`FRAME_BLOCK_BYTES` each (a pandas DataFrame) or one per partition (a Dask one).
  Otherwise the encoded DataFrame is dense, named by the features.
- ``missing="drop"`` drops rows of a pandas DataFrame (with their labels and weights); on a
  Dask DataFrame it is refused (read Parquet with ``read_parquet(missing="drop")``).
- Uses Dask: for Dask DataFrames only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from .data.counting import block_stats, learn, merge
from .data.crosses import CROSS_VOCABULARY_MAX, cross_counts
from .data.dataset import _check_hashing
from .data.encoding import Encoding, _Where
from .data.errors import DataError
from .data.hashing import HASH_ABOVE
from .data.schema import _feature_type, column_kind
from .data.values import categorical_values

#: The rows of a pandas DataFrame's coded blocks: about this many bytes each (Parquet's
#: default block size).
FRAME_BLOCK_BYTES = 128 * 2**20

__all__ = ["encode_frame", "is_frame", "learn_frame", "needs_encoding"]


def is_frame(X: Any) -> bool:
    """A pandas or Dask DataFrame."""
    return hasattr(X, "columns") and hasattr(X, "dtypes")


def _is_dask(X: Any) -> bool:
    import dask

    return bool(dask.is_dask_collection(X))


def needs_encoding(X: Any, missing: str) -> bool:
    """Whether DataFrame ``X`` goes through the encoding (see the module's conventions)."""
    if not is_frame(X):
        return False
    if missing != "error":
        return True
    for dtype in X.dtypes:
        kind = getattr(dtype, "kind", "O")
        if kind not in "iuf" or str(dtype) == "category":
            return True
    return False


def _table(part: Any) -> pa.Table:
    """A pandas DataFrame as an Arrow table (column names as strings; no index)."""
    part = part.rename(columns=str)
    try:
        return pa.Table.from_pandas(part, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise DataError(f"cannot read the DataFrame's columns: {exc}") from None


Kinds = list[tuple[str, str]]


def _kinds(table: pa.Table, categorical: Sequence[str], numeric: Sequence[str]) -> Kinds:
    """Each column's kind, by the rule Parquet columns follow
    (:func:`logloss.data.schema.column_kind`)."""
    out = []
    for field in table.schema:
        if not _feature_type(field.type):
            raise DataError(
                f"column {field.name!r} of the DataFrame has type {field.type}: features must "
                "be numeric or categorical (string, category, bool)"
            )
        out.append((field.name, column_kind(field.name, field.type, categorical, numeric)))
    return out


def _where() -> _Where:
    """Rows named in errors: the DataFrame's own row positions."""
    return _Where("X", int, "", noun="DataFrame")


def _stats(
    part: Any,
    weight: Any,
    kinds: Kinds,
    missing: str,
    limit: int | None,
    crosses: Sequence[tuple[str, str]] = (),
    cross_limit: int = 0,
) -> dict[Any, Any]:
    """A partition's summary (:func:`~logloss.data.counting.block_stats`), and the pairs of
    ``crosses`` under ("cross", A, B), as a Parquet block's."""
    w = None if weight is None else np.asarray(weight, dtype=np.float64)
    table = _table(part)
    out: dict[Any, Any] = block_stats(table, kinds, w, _where(), missing, limit)
    for a, b in crosses:
        values = lambda n: categorical_values(table, n, _where(), missing)  # noqa: E731
        out["cross", a, b] = cross_counts(table, (a, b), values, cross_limit)
    return out


def learn_frame(X: Any, sample_weight: Any, options: dict[str, Any]) -> Encoding:
    """The encoding of DataFrame ``X`` (levels and means; weighted means with weights), by
    the rules of Parquet data (:func:`logloss.read_parquet`): every column a vocabulary
    unless ``max_categories`` bounds it, ``hash_bits`` hashes ``hash_columns`` (default: the
    columns of more than ``max_categories`` or 1,000 levels), ``interactions`` crosses."""
    missing = options["missing"]
    categorical = options.get("categorical") or ()
    numeric = options.get("numeric") or ()
    max_categories = options["max_categories"]
    hash_bits, hash_columns = options.get("hash_bits"), options.get("hash_columns")
    pairs = _check_hashing(hash_bits, hash_columns, options.get("interactions") or ())
    # hashed and crossed columns are categorical (integer ids too), as Parquet's
    named = [*(hash_columns or ()), *(c for p in pairs for c in p)]
    categorical = (*categorical, *(c for c in named if c not in categorical))
    limit = max_categories
    if hash_bits and hash_columns is None:  # a column over it is hashed: not counted further
        limit = limit or HASH_ABOVE
    crosses = [p for p in pairs if not set(p) & set(hash_columns or ())]
    bound = max_categories or CROSS_VOCABULARY_MAX
    if _is_dask(X):
        import dask

        if missing == "drop":
            raise DataError(
                "missing='drop' is not supported for a Dask DataFrame: read Parquet with "
                "logloss.read_parquet(..., missing='drop'), or use missing='impute'"
            )
        kinds = _kinds(_table(X._meta), categorical, numeric)
        parts = X.to_delayed()
        weights: list[Any] = [None] * len(parts)
        if sample_weight is not None and _is_dask(sample_weight):
            weights = sample_weight.to_delayed()
            if len(weights) != len(parts):
                raise ValueError("sample_weight must have X's partitions")
        elif sample_weight is not None:
            raise ValueError("a Dask DataFrame needs Dask sample weights (or none)")
        found = dask.compute(
            *[
                dask.delayed(_stats)(p, w, kinds, missing, limit, crosses, bound)
                for p, w in zip(parts, weights, strict=True)
            ]
        )
    else:
        table = _table(X)
        kinds = _kinds(table, categorical, numeric)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        mode = "impute" if missing == "drop" else missing  # dropped rows: see drop_rows
        found = [_stats(X, w, kinds, mode, limit, crosses, bound)]
    names = [k for k, _ in kinds]
    for name in [*categorical, *numeric]:
        if name not in names:
            raise DataError(f"column {name!r} named in the column options is not in X")
    return learn(
        kinds,
        merge(found),
        missing=missing,
        max_categories=max_categories,
        min_frequency=options["min_frequency"],
        source="X",
        categorical_coding=options.get("categorical_coding", "all"),
        hash_bits=hash_bits,
        hash_columns=hash_columns,
        interactions=pairs,
    )


def drop_rows(X: Any, y: Any, sample_weight: Any) -> tuple[Any, Any, Any]:
    """pandas ``X`` (and ``y``, ``sample_weight``) without the rows that hold a null/NaN."""
    keep = ~np.asarray(X.isna().any(axis=1))
    if not keep.any():
        raise DataError("every row of X holds a missing value: nothing is left to fit")
    y = None if y is None else np.asarray(y)[keep]
    if sample_weight is not None and np.ndim(sample_weight):
        sample_weight = np.asarray(sample_weight)[keep]
    return X[keep], y, sample_weight


def _encode_part(part: Any, encoding: Encoding, dtype: str) -> Any:
    """A partition encoded: a coded block (:attr:`Encoding.coded`) or a dense array."""
    table = _table(part[encoding.input_columns])
    if not encoding.coded:
        return encoding.encode(table, dtype, _where())
    from .data import codes

    block = codes.empty(encoding, table.num_rows, dtype)
    codes.encode_into(encoding, table, dtype, _where(), block, 0)
    return block


def encode_frame(X: Any, encoding: Encoding, dtype: str = "float64") -> Any:
    """DataFrame ``X`` encoded: coded blocks as a Dask array (an encoding of codes), else a
    pandas DataFrame named by the encoded features, or a Dask array for a Dask DataFrame
    (partition by partition, row chunks computed)."""
    import dask
    import dask.array as da

    from .coded import note_coded
    from .data import codes

    missing_cols = [c for c in encoding.input_columns if c not in [str(c) for c in X.columns]]
    if missing_cols:
        raise DataError(f"X lacks the column(s) {missing_cols} the model was trained on")
    X = X.rename(columns=str)
    if _is_dask(X):
        parts = X.to_delayed()
        lengths = dask.compute(*[dask.delayed(len)(p) for p in parts])
        blocks = [
            da.from_delayed(
                dask.delayed(_encode_part)(p, encoding, dtype),
                shape=(n, encoding.width),
                dtype=np.dtype(dtype),
            )
            for p, n in zip(parts, lengths, strict=True)
        ]
        out = da.concatenate(blocks, axis=0)
    elif encoding.coded:
        step = max(1, FRAME_BLOCK_BYTES // max(1, codes.row_bytes(encoding, dtype)))
        starts = range(0, max(len(X), 1), step)
        name = f"frame-codes-{dask.base.tokenize(id(X), len(X), encoding.width, uuid.uuid4())}"
        graph = {
            (name, i, 0): _encode_part(X.iloc[a : a + step], encoding, dtype)
            for i, a in enumerate(starts)
        }
        rows = tuple(min(step, len(X) - a) for a in starts)
        out = da.Array(graph, name, chunks=(rows, (encoding.width,)), dtype=np.dtype(dtype))
    else:
        import pandas as pd

        values = _encode_part(X, encoding, dtype)
        return pd.DataFrame(values, columns=encoding.feature_names, index=X.index)
    if encoding.coded:
        note_coded(out.name, codes.row_bytes(encoding, dtype))
    return out
