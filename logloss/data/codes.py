"""Categorical columns as int32 codes: an :class:`~logloss.data.encoding.Encoding` applied to
a block as a dense part and one code column per categorical column (pyarrow, NumPy).

See :mod:`logloss.coded` for the layout: code column j holds the absolute index in w of its
row's feature (the column's offset plus the level's index among the column's features); a
row with no feature in that column (a level unseen in training without an "(infrequent)"
feature, or the reference level) points at the column's first index with value 0. The
hashed columns come last: each one's code is its token's bucket in the shared block of
2^B features, its value the sign (:mod:`.hashing`); all but the last have an empty range in
``bounds`` (they share the last one's, see :func:`logloss.coded.ranges`). Multi-valued
(bag) columns are the block's ragged part (:class:`logloss.bags.Bags`, :mod:`.bags`): its
indices lie in [the hashed block's start (or the bags' vocabulary features'), width).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from ..bags import Bags
from ..coded import CodedMatrix
from . import bags
from .arrow import fill_tiles
from .crosses import CrossCode, cross_codes
from .encoding import CATEGORICAL, Encoding, _Where, categorical_values
from .hashing import column_hashes, cross_hashes


def code_columns(enc: Encoding) -> list[tuple[str, int, int]]:
    """(column name, offset in w, width) of each categorical column with features."""
    out = []
    for name, sl in enc.categorical_slices():
        if sl.stop > sl.start:
            out.append((name, sl.start, sl.stop - sl.start))
    k = out[-1][1] + out[-1][2] if out else enc.dense_width
    for x in _vocabulary_crosses(enc):  # crosses with a vocabulary (.crosses)
        out.append((x.name, k, x.width))
        k += x.width
    start = enc.width - enc.bag_width - enc.hash_width  # the hashed block, then the bags
    hashed = [c.name for c in enc.hashed] + [f"{a}^{b}" for a, b in enc.interactions]
    for i, name in enumerate(hashed):
        out.append((name, start, enc.hash_width if i == len(hashed) - 1 else 0))
    return out


def _vocabulary_crosses(enc: Encoding) -> list[CrossCode]:
    return [x for x in enc.crosses if x.width]


def bounds(enc: Encoding) -> tuple[int, ...]:
    """The code columns' ranges in w: [dense width, each column's end...]."""
    return (enc.dense_width, *(o + w for _, o, w in code_columns(enc)))


def bag_range(enc: Encoding) -> tuple[int, int]:
    """[lo, hi) of the bags' indices in w: from the hashed block (when a bag is hashed) or
    the bags' vocabulary features, to the end."""
    hashed = any(c.kind == bags.HASHED_BAG for c in enc.bags)
    start = enc.width - enc.bag_width
    return (start - enc.hash_width if hashed else start), enc.width


def bag_entries(enc: Encoding, table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A table's bag entries: per-row counts, absolute codes and values (see
    :func:`.bags.assemble`)."""
    vocab, hashed = [], []
    offset = enc.width - enc.bag_width
    for c in enc.bags:
        if c.kind == bags.HASHED_BAG:
            start = enc.width - enc.bag_width - enc.hash_width
            hashed.append(bags.hashed_entries(table, c.name, enc.hash_bits, start))
            continue
        vocab.append(bags.vocabulary_entries(table, c.name, c.levels, bool(c.infrequent), offset))  # type: ignore[arg-type]
        offset += c.width
    return bags.assemble(table.num_rows, vocab, hashed, enc.width)


def row_bytes(enc: Encoding, dtype: str) -> int:
    """Bytes per row of ``enc``'s coded blocks: the dense part, an int32 code per code
    column (and a float32 sign beside it when hashed), a row pointer and ~1 entry a bag."""
    per_code = 8 if enc.hashed else 4
    per_bag = 8 + 8 * len(enc.bags) if enc.bags else 0
    return enc.dense_width * np.dtype(dtype).itemsize + per_code * len(code_columns(enc)) + per_bag


def empty(enc: Encoding, n: int, dtype: str) -> CodedMatrix:
    """A coded block of ``n`` rows to fill (dense part zeroed, codes uninitialised)."""
    k = len(code_columns(enc))
    vals = np.ones((n, k), np.float32, order="F") if enc.hash_width else None  # the signs
    return CodedMatrix(
        np.zeros((n, enc.dense_width), dtype=dtype),
        np.empty((n, k), np.int32, order="F"),  # a column per code column, contiguous
        bounds(enc),
        vals,
        Bags.open(n, *bag_range(enc)) if enc.bags else None,
    )


def _values_of(table: pa.Table, where: _Where, missing: str) -> Callable[[str], pa.Array]:
    return lambda name: categorical_values(table, name, where, missing)


def encode_into(
    enc: Encoding,
    table: pa.Table,
    dtype: str,
    where: _Where,
    block: CodedMatrix,
    start: int,
    numeric: dict[str, Any] | None = None,
    known: dict[str, list[np.ndarray]] | None = None,
) -> None:
    """Write ``table``'s rows into rows ``start:`` of ``block`` (a block's :func:`empty`);
    ``block.vals`` is set (ones, then 0 where a row has no feature) once some row has none.
    The bags' entries are added to ``block.bags``, joined when the block's last row is in.
    ``numeric``: the numeric columns already read (see :meth:`Encoding.dense_sources`);
    ``known``: dictionary columns' entries' codes already found (:meth:`Encoding.codes_into`)."""
    stop = start + table.num_rows
    if block.bags is not None:  # multi-valued columns: the ragged part
        block.bags.add(start, *bag_entries(enc, table))
        if stop == len(block):
            block.bags.close()
    sources, _ = enc.dense_sources(table, dtype, where, numeric)
    if sources:
        fill_tiles(block.dense[start:stop], sources)
    by_name = {c.name: c for c in enc.columns if c.kind == CATEGORICAL}
    columns = code_columns(enc)
    first_cross = len(columns) - len(enc.interactions)  # the crosses' code columns come last
    crosses = _vocabulary_crosses(enc)
    first_vc = first_cross - len(enc.hashed) - len(crosses)  # the vocabulary crosses' first
    for j, (name, offset, _) in enumerate(columns):
        if first_vc <= j < first_vc + len(crosses):  # a cross with a vocabulary
            x = crosses[j - first_vc]
            sides = (by_name[x.pair[0]], by_name[x.pair[1]])
            codes = cross_codes(table, x, sides, _values_of(table, where, enc.missing))
        elif name not in by_name:  # hashed, or a cross
            assert block.vals is not None
            values = lambda n=name: categorical_values(table, n, where, enc.missing)  # noqa: E731
            if j >= first_cross:
                pair = enc.interactions[j - first_cross]
                idx, sign = cross_hashes(table, pair, enc.hash_bits, values)
            else:
                idx, sign = column_hashes(table, name, enc.hash_bits, values)
            block.codes[start:stop, j] = idx + offset
            block.vals[start:stop, j] = sign
            continue
        else:
            none_rows = enc.codes_into(
                table,
                by_name[name],
                where,
                block.codes[start:stop, j],
                offset,
                None if known is None else known.get(name),
            )
            if none_rows is not None:
                _no_feature(block, slice(start, stop), j, none_rows)
            continue
        none = codes < 0
        if none.any():
            codes = np.where(none, 0, codes)
            _no_feature(block, slice(start, stop), j, none)
        block.codes[start:stop, j] = codes + offset


def _no_feature(block: CodedMatrix, rows: slice, j: int, none: np.ndarray) -> None:
    """Value 0 at code column ``j``'s ``rows`` where ``none`` (``block.vals`` made, all
    ones, on the first)."""
    if block.vals is None:
        block.vals = np.ones(block.codes.shape, dtype=np.float32, order="F")
    block.vals[rows, j] = np.where(none, 0.0, 1.0)
