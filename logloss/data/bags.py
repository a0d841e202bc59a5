"""Multi-valued columns: Parquet ``list<string>`` (``large_list``, ``list<dictionary>``,
``list<int>``) columns as bags of tokens (pyarrow, NumPy).

Conventions
-----------
- A bag column's row is the set of its list's tokens: a token is an element as ``str`` (an
  integer element ``7`` is the token ``"7"``); a null element, an empty list and a null
  list give nothing (never an error, whatever ``missing``). Lists of floats, bools,
  structs or lists are refused, naming the file and column.
- Vocabulary (the default): a token seen in at least ``min_frequency`` rows (its count is
  the number of rows holding it: a document frequency) gets the feature ``column=token``;
  the rarer ones, and tokens unseen in training, share ``column=(infrequent)``. A row's
  features are binary: 1 for each distinct feature of its tokens (a repeated token, or two
  infrequent ones, count once), as ``MultiLabelBinarizer`` / ``CountVectorizer(binary=True)``.
  The bags' vocabulary features come last in w, after the shared hashed block.
- Hashed (``hash_bits``; named in ``hash_columns``, or by size as a categorical column):
  each element is the token ``column=token`` hashed into the shared block of 2^B exactly as
  ``FeatureHasher(n_features=2**B, input_type="string", alternate_sign=True)`` does for the
  row given as the list of its tokens: repeated tokens add (so do tokens of one bucket),
  one entry per bucket with the sum of the signs. A block hashes its distinct tokens once.
- Each block's entries are a :class:`logloss.bags.Bags` (see there), never strings per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrow import as_numpy, int_values, string_array
from .errors import DataError
from .hashing import cell_tokens, hash_tokens

BAG = "bag"  # a multi-valued column with a vocabulary
HASHED_BAG = "hashed_bag"  # a multi-valued column hashed into the shared block
BAG_KINDS = (BAG, HASHED_BAG)
INFREQUENT = "(infrequent)"


def column_noun(kind: str) -> str:
    """How errors name a column of ``kind``."""
    return "multi-valued column" if kind in BAG_KINDS else "categorical column"


def bag_describe(name: str, kind: str, n_levels: int, n_rare: int, bits: int) -> str:
    """The train summary's line of a bag column."""
    if kind == HASHED_BAG:
        return f"{name}: bag of tokens, hashed into 2^{bits} buckets (shared)"
    rare = f" + (infrequent) for {n_rare:,} rarer" if n_rare else ""
    return f"{name}: bag of tokens, vocabulary of {n_levels:,} tokens{rare}, ragged int32 codes"


def is_list(t: pa.DataType) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t))


def _element_ok(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t))


def is_bag_type(t: pa.DataType) -> bool:
    """Whether a column of type ``t`` is read as a bag (a list of strings or integers)."""
    return is_list(t) and _element_ok(t.value_type)


def bag_type_error(name: str, t: pa.DataType, files: str) -> DataError:
    return DataError(
        f"multi-valued feature column {name!r} must be a list of strings or integers; got "
        f"type {t} in file {files}"
    )


def distinct_tokens(col: pa.ChunkedArray | pa.Array) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A bag column's distinct tokens, and per element (null elements left out) its row and
    its index into them: the distinct values are decoded once, never a string per row."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if isinstance(arr, pa.ChunkedArray):  # pragma: no cover - an empty chunked array
        arr = pa.array([], type=arr.type)
    rows = as_numpy(pc.list_parent_indices(arr)).astype(np.int64)
    values = pc.list_flatten(arr)
    if values.null_count:
        valid = values.is_valid()
        rows = rows[as_numpy(valid)]
        values = values.filter(valid)
    if not pa.types.is_dictionary(values.type):
        values = values.dictionary_encode()
    idx = as_numpy(values.indices).astype(np.int64)
    return [str(v) for v in values.dictionary.to_pylist()], rows, idx


def _distinct_pairs(rows: np.ndarray, idx: np.ndarray, width: int) -> tuple[np.ndarray, ...]:
    key = np.unique(rows * max(width, 1) + idx)
    return key // max(width, 1), key % max(width, 1)


def bag_counts(table: pa.Table, name: str, limit: int) -> tuple[Any, ...]:
    """One block's summary of bag column ``name``: ("levels", tokens, rows holding each), or
    ("many", distinct tokens, True) when there are more than ``limit``."""
    toks, rows, idx = distinct_tokens(table.column(name))
    if len(toks) > limit:
        return ("many", len(toks), True)
    _, idx = _distinct_pairs(rows, idx, len(toks))
    counts = np.bincount(idx, minlength=len(toks)).tolist()
    out: dict[str, int] = {}
    for t, k in zip(toks, counts, strict=True):
        if k:  # the dictionary of list<dictionary> may repeat a value, or hold unused ones
            out[t] = out.get(t, 0) + k
    # the shape of a categorical column's counts (logloss.data.counting.block_stats)
    return ("levels", pa.array(list(out), pa.string()), np.fromiter(out.values(), np.int64))


def vocabulary_entries(
    table: pa.Table, name: str, levels: Sequence[str], infrequent: bool, offset: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and absolute codes of a vocabulary bag's entries (distinct per row): a kept
    token's feature, else "(infrequent)" when the column has it, else nothing."""
    toks, rows, idx = distinct_tokens(table.column(name))
    other = len(levels) if infrequent else -1
    found = pc.index_in(string_array(toks), value_set=string_array(levels))
    lut = int_values(found, other)
    codes = lut[idx] if len(lut) else np.zeros(0, np.int64)
    keep = codes >= 0
    rows, codes = _distinct_pairs(rows[keep], codes[keep], len(levels) + 1)
    return rows, codes + offset


def hashed_entries(
    table: pa.Table, name: str, bits: int, offset: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, absolute codes and signs of a hashed bag's elements (one per element: repeats
    add up when the block is assembled)."""
    toks, rows, idx = distinct_tokens(table.column(name))
    bucket, sign = hash_tokens([f"{name}={t}" for t in toks], bits)
    return rows, bucket[idx] + offset, sign[idx]


def assemble(
    n: int,
    vocab: Sequence[tuple[np.ndarray, np.ndarray]],
    hashed: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    p: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The entries of ``n`` rows sorted by row then index: per-row counts (int64), codes
    (int32), and values (float32; None when every value is 1). Hashed entries of one row
    and bucket are summed into one (those summing to 0 dropped), as in ``FeatureHasher``."""
    keys, vals = [], []
    for rows, codes in vocab:
        keys.append(rows * p + codes)
        vals.append(np.ones(len(rows)))
    if hashed:
        hk = np.concatenate([rows * p + codes for rows, codes, _ in hashed])
        hv = np.concatenate([sign.astype(np.float64) for _, _, sign in hashed])
        hk, inverse = np.unique(hk, return_inverse=True)
        hv = np.bincount(inverse.ravel(), weights=hv, minlength=len(hk))
        keys.append(hk[hv != 0])
        vals.append(hv[hv != 0])
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    val = np.concatenate(vals) if vals else np.zeros(0)
    order = np.argsort(key, kind="stable")
    key, val = key[order], val[order]
    counts = np.bincount(key // p, minlength=n).astype(np.int64)
    codes = (key % p).astype(np.int32)
    return counts, codes, None if not hashed else val.astype(np.float32)


def _cells(X: Any, column: str) -> list[Any]:
    return list(X[column] if hasattr(X, "columns") else X)


def bag_documents(X: Any, column: str, levels: Sequence[str], infrequent: bool) -> list[list[str]]:
    """Each row of a vocabulary bag column as its feature names ``column=token`` (a token
    outside ``levels`` is ``column=(infrequent)`` when ``infrequent``, else left out): the
    documents of :func:`logloss.export.to_sklearn`'s ``CountVectorizer``."""
    kept = set(levels)
    rare = [f"{column}={INFREQUENT}"] if infrequent else []
    return [
        [f"{column}={t}" if t in kept else rare[0] for t in cell_tokens(v) if t in kept or rare]
        for v in _cells(X, column)
    ]


def as_tokens(doc: list[str]) -> list[str]:
    """The analyzer of that ``CountVectorizer``: a document is already its tokens."""
    return doc
