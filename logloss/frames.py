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
  ``numeric``, ``max_categories``, ``min_frequency``, ``categorical_coding`` (see
  :mod:`logloss.settings`).
- ``missing="drop"`` drops rows of a pandas DataFrame (with their labels and weights); on a
  Dask DataFrame it is refused (read Parquet with ``read_parquet(missing="drop")``).
- Uses Dask: for Dask DataFrames only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from .data.counting import block_stats, learn, merge
from .data.encoding import Encoding, _Where
from .data.errors import DataError
from .data.schema import _feature_type, column_kind

#: max_categories of an in-memory DataFrame when none is given: its indicators are dense.
FRAME_MAX_CATEGORIES = 100

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


def _stats(part: Any, weight: Any, kinds: Kinds, missing: str, limit: int) -> dict[str, Any]:
    w = None if weight is None else np.asarray(weight, dtype=np.float64)
    return block_stats(_table(part), kinds, w, _where(), missing, limit)


def learn_frame(X: Any, sample_weight: Any, options: dict[str, Any]) -> Encoding:
    """The encoding of DataFrame ``X`` (levels and means; weighted means with weights)."""
    if options.get("hash_bits"):
        raise ValueError(
            "hash_bits hashes Parquet data (logloss.read_parquet(..., hash_bits=B)); the "
            "categorical columns of an in-memory DataFrame are one-hot encoded"
        )
    missing = options["missing"]
    categorical = options.get("categorical") or ()
    numeric = options.get("numeric") or ()
    limit = options["max_categories"]
    if limit is None:  # in memory the indicators are dense: the old bound stays
        limit = FRAME_MAX_CATEGORIES
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
                dask.delayed(_stats)(p, w, kinds, missing, limit)
                for p, w in zip(parts, weights, strict=True)
            ]
        )
    else:
        table = _table(X)
        kinds = _kinds(table, categorical, numeric)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        mode = "impute" if missing == "drop" else missing  # dropped rows: see drop_rows
        found = [block_stats(table, kinds, w, _where(), mode, limit)]
    for name in [*categorical, *numeric]:
        if name not in [k for k, _ in kinds]:
            raise DataError(f"column {name!r} named in categorical/numeric is not in X")
    return learn(
        kinds,
        merge(found),
        missing=missing,
        max_categories=limit,
        min_frequency=options["min_frequency"],
        source="X",
        categorical_coding=options.get("categorical_coding", "all"),
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


#: A DataFrame whose encoding has hashed columns, crosses or bags is encoded through the
#: codes and densified, up to this many bytes per partition (its width is 2^B and more).
DENSE_CODED_MAX_BYTES = 2**30


def _encode_part(part: Any, encoding: Encoding, dtype: str) -> np.ndarray:
    table = _table(part[encoding.input_columns])
    if not (encoding.hash_width or encoding.crosses or encoding.bags):
        return encoding.encode(table, dtype, _where())
    # what Encoding.encode does not make: the coded block's features, densified
    from .data import codes

    size = table.num_rows * encoding.width * np.dtype(dtype).itemsize
    if size > DENSE_CODED_MAX_BYTES:
        raise ValueError(
            f"a DataFrame of {table.num_rows:,} rows would be {size / 2**30:.1f} GiB as this "
            f"model's {encoding.width:,} features (hashed, crossed or bag columns): predict "
            f"Parquet files (logloss predict, or read_parquet with the model's encoding), "
            f"fewer rows at a time, or model.to_sklearn()"
        )
    block = codes.empty(encoding, table.num_rows, dtype)
    codes.encode_into(encoding, table, dtype, _where(), block, 0)
    return block.toarray(dtype)


def encode_frame(X: Any, encoding: Encoding, dtype: str = "float64") -> Any:
    """DataFrame ``X`` encoded: a pandas DataFrame named by the encoded features, or a Dask
    array (partition by partition, row chunks computed)."""
    missing_cols = [c for c in encoding.input_columns if c not in [str(c) for c in X.columns]]
    if missing_cols:
        raise DataError(f"X lacks the column(s) {missing_cols} the model was trained on")
    if _is_dask(X):
        import dask
        import dask.array as da

        parts = X.rename(columns=str).to_delayed()
        lengths = dask.compute(*[dask.delayed(len)(p) for p in parts])
        blocks = [
            da.from_delayed(
                dask.delayed(_encode_part)(p, encoding, dtype),
                shape=(n, encoding.width),
                dtype=np.dtype(dtype),
            )
            for p, n in zip(parts, lengths, strict=True)
        ]
        return da.concatenate(blocks, axis=0)
    import pandas as pd

    values = _encode_part(X.rename(columns=str), encoding, dtype)
    return pd.DataFrame(values, columns=encoding.feature_names, index=X.index)
