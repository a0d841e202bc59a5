"""Hashed categorical columns: scikit-learn's ``FeatureHasher`` applied to a block's distinct
values, never to each row's string (pyarrow, NumPy, scikit-learn).

Conventions
-----------
- A hashed column's value v becomes the token ``f"{column}={v}"`` (v as ``str``: an integer
  category ``1545`` is ``"flight=1545"``, a bool ``"x=True"``; an integer-valued float
  category is read as an integer), and a null (``missing="impute"``) the token
  ``"column=(null)"``, as the vocabulary names a null level. The token goes where
  ``FeatureHasher(n_features=2**B, input_type="string", alternate_sign=True)`` puts it:
  MurmurHash3_x86_32 of its UTF-8 bytes, seed 0, the index ``abs(h) % 2**B`` and the value
  -1 when h < 0. Bit-exactness by construction: the distinct tokens of a block are hashed by
  ``FeatureHasher.transform`` itself (its CSR gives each token's index and sign).
- Every hashed column of a model shares ONE block of 2^B features after the vocabulary
  features (as ``FeatureHasher`` over all hashed columns); two tokens of a row in one
  bucket add (opposite signs cancel), as in ``FeatureHasher``.
- Crosses (``interactions``, Vowpal Wabbit's ``-q``): the pair of columns (A, B) gives each
  row the token ``f"{A}={a}^{B}={b}"`` of its two raw values (a null as above; a column's
  vocabulary plays no part: an infrequent level keeps its own value), hashed into the same
  shared block. A block never builds a string per row: it pairs the two columns' indices
  into their distinct values (``ia * len(B's values) + ib``), takes the distinct pairs
  (``np.unique``) and hashes only their tokens (:func:`cross_hashes`).
- Which columns are hashed (:func:`hashed_by_default`): the ones named, else every
  categorical column with more distinct values than ``max_categories`` when that is
  given, else more than :data:`HASH_ABOVE`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from .arrow import int_values, prefixed, string_array
from .murmur import feature_hasher_buckets, murmurhash3_strings

#: With hash_bits and neither hash_columns nor max_categories: the categorical columns with
#: more distinct values than this are hashed, the others get a vocabulary.
HASH_ABOVE = 1000
#: The largest --hash-bits (2^24 coefficients: 128 MB a gradient).
MAX_HASH_BITS = 24
NULL_TOKEN = "(null)"


def hashed_by_default(n_levels: int, max_categories: int | None) -> bool:
    """Whether a column of ``n_levels`` distinct values is hashed when no column is named."""
    return n_levels > (HASH_ABOVE if max_categories is None else max_categories)


def tokens(column: str, values: Sequence[Any]) -> list[str]:
    """The tokens ``column=value`` of ``values`` (None: ``column=(null)``)."""
    return [f"{column}={NULL_TOKEN if v is None else v}" for v in values]


def hash_tokens(toks: Sequence[str], bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Each token's bucket (int64, in [0, 2^bits)) and sign (float32 ±1), as scikit-learn's
    ``FeatureHasher(2**bits, input_type="string", alternate_sign=True)`` computes them
    (:mod:`.murmur`, bit for bit its hash)."""
    return feature_hasher_buckets(murmurhash3_strings(string_array(toks)), 2**bits)


def hash_values(column: str, values: pa.Array, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`hash_tokens` of the tokens ``column=value`` of ``values`` (an Arrow array; a
    null's token is ``column=(null)``): a string array's tokens laid out in NumPy, others'
    through their Python values."""
    if values.null_count or not (
        pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    ):
        return hash_tokens(tokens(column, values.to_pylist()), bits)
    toks = prefixed(f"{column}=", values)
    return feature_hasher_buckets(murmurhash3_strings(toks), 2**bits)


def _per_entry(
    column: str, dictionary: pa.Array, bits: int, null: tuple[int, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Bucket and sign of each dictionary entry, then of the null (last)."""
    idx, sign = hash_values(column, dictionary, bits)
    return np.append(idx, null[0]), np.append(sign, np.float32(null[1]))


def column_hashes(
    table: pa.Table, column: str, bits: int, values: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``table``: the bucket (int64) and sign (float32) of column ``column``'s
    token. Each distinct value is hashed once: a dictionary column's dictionaries (per
    chunk), any other column's ``dictionary_encode()``; the codes are then taken.
    ``values()`` gives the column as one Arrow array of its level values, raising on a null
    where nulls are errors (:func:`logloss.data.encoding.categorical_values`)."""
    (nidx,), (nsign,) = hash_tokens(tokens(column, [None]), bits)
    null = (int(nidx), float(nsign))
    col = table.column(column)
    if pa.types.is_dictionary(col.type) and pa.types.is_string(col.type.value_type):
        if col.null_count:
            values()  # raises when a null is an error
        chunks = list(col.chunks)
    else:
        chunks = [values().dictionary_encode()]
    idx_out = np.empty(len(col), np.int64)
    sign_out = np.empty(len(col), np.float32)
    at = 0
    for chunk in chunks:
        idx, sign = _per_entry(column, chunk.dictionary, bits, null)
        codes = int_values(chunk.indices, len(idx) - 1)
        k = len(codes)
        np.take(idx, codes, out=idx_out[at : at + k])
        np.take(sign, codes, out=sign_out[at : at + k])
        at += k
    return idx_out, sign_out


def _distinct(column: str, table: pa.Table, values: Any) -> tuple[list[Any], np.ndarray]:
    """A column's distinct values (None for a null, last) and each row's index into them."""
    col = table.column(column)
    if pa.types.is_dictionary(col.type) and pa.types.is_string(col.type.value_type):
        if col.null_count:
            values()  # raises when a null is an error
        chunks = list(col.chunks)  # each chunk's dictionary: an entry may repeat, harmless
    else:
        chunks = [values().dictionary_encode()]
    distinct: list[Any] = []
    parts = []
    for chunk in chunks:
        parts.append(int_values(chunk.indices, -1))
        parts[-1] = np.where(parts[-1] < 0, -1, parts[-1] + len(distinct))
        distinct += chunk.dictionary.to_pylist()
    codes = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
    codes[codes < 0] = len(distinct)
    return [*distinct, None], codes


def cross_hashes(
    table: pa.Table, pair: tuple[str, str], bits: int, values: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the bucket and sign of the cross token ``A=a^B=b`` of ``pair`` = (A, B),
    hashing each distinct pair of the block once. ``values(name)``: as in
    :func:`column_hashes`, for either column."""
    a, b = pair
    va, ia = _distinct(a, table, lambda: values(a))
    vb, ib = _distinct(b, table, lambda: values(b))
    pairs, inverse = np.unique(ia * len(vb) + ib, return_inverse=True)
    ta = tokens(a, [va[i] for i in (pairs // len(vb)).tolist()])
    tb = tokens(b, [vb[i] for i in (pairs % len(vb)).tolist()])
    idx, sign = hash_tokens([f"{x}^{y}" for x, y in zip(ta, tb, strict=True)], bits)
    return idx[inverse.ravel()], sign[inverse.ravel()]


def parse_interactions(given: Sequence[Any]) -> tuple[tuple[str, str], ...]:
    """Crosses as pairs of column names: "A:B" strings or (A, B) pairs; ValueError else."""
    if isinstance(given, str):
        given = given.split(",")
    out = []
    for item in given or ():
        pair = tuple(item.split(":")) if isinstance(item, str) else tuple(item)
        if len(pair) != 2 or not all(isinstance(c, str) and c for c in pair) or pair[0] == pair[1]:
            raise ValueError(f"an interaction is two different columns A:B; got {item!r}")
        out.append((pair[0], pair[1]))
    return tuple(out)


def _token_value(v: Any) -> str:
    """A DataFrame cell as a token's value, as logloss reads it from Parquet: a null (None,
    NaN, pandas' NA) is "(null)", an integer-valued float an integer."""
    if v is None or (isinstance(v, float) and v != v):
        return NULL_TOKEN
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, np.generic):
        v = v.item()
    try:
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return NULL_TOKEN
    except ImportError:  # pragma: no cover - pandas is a dependency of the export
        pass
    return str(v)


def cell_tokens(v: Any) -> list[str]:
    """A DataFrame cell of a multi-valued (bag) column as its tokens, as logloss reads the
    Parquet list (:mod:`.bags`): None or NaN give none, null elements are left out."""
    if v is None or (isinstance(v, float) and v != v):
        return []
    out = []
    for x in list(v):
        if x is None or (isinstance(x, float) and x != x):
            continue
        out.append(str(x.item() if isinstance(x, np.generic) else x))
    return out


def row_tokens(
    X: Any,
    columns: Sequence[str],
    interactions: Sequence[Sequence[str]] = (),
    bags: Sequence[str] = (),
) -> list[list[str]]:
    """The token lists of a pandas DataFrame's rows (``columns``: the hashed columns, in
    the model's order; ``interactions``: the crosses' pairs of columns, whose tokens
    ``A=a^B=b`` follow; ``bags``: the hashed multi-valued columns, each element's token
    ``column=token`` last, repeats kept): the input of ``FeatureHasher(input_type="string")``
    in :func:`logloss.export.to_sklearn`'s pipeline."""
    own = {
        c: [f"{c}={_token_value(v)}" for v in X[c].tolist()]
        for c in {*columns, *(c for pair in interactions for c in pair)}
    }
    cols = [own[c] for c in columns]
    cols += [[f"{x}^{y}" for x, y in zip(own[a], own[b], strict=True)] for a, b in interactions]
    out = [list(row) for row in zip(*cols, strict=True)] if cols else [[] for _ in range(len(X))]
    for c in bags:
        for row, v in zip(out, X[c].tolist(), strict=True):
            row += [f"{c}={t}" for t in cell_tokens(v)]
    return out
