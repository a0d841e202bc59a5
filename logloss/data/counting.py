"""Learning an :class:`~.encoding.Encoding` in one counting pass (pyarrow and NumPy, no
Dask): :func:`block_stats` summarises one block (level counts, numeric sums), :func:`merge`
adds summaries up (a column at a time, beyond :data:`~.encoding.LAST_MERGE_PARTS` blocks
first in a tree of :data:`~.encoding.MERGE_FAN_IN`, each bounded), and
:func:`learn` turns the merged summaries into the encoding. See :mod:`.encoding` for what
the features are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrow import as_numpy, chunk_numpy, from_numpy, int_values
from .bags import BAG, BAG_KINDS, HASHED_BAG, bag_counts, column_noun
from .crosses import learn_crosses
from .encoding import (
    CATEGORICAL,
    CODINGS,
    HASHED,
    INFREQUENT_LISTED,
    NUMERIC,
    VOCABULARY_MAX_LEVELS,
    ColumnCode,
    Encoding,
    Level,
    _string_dictionary,
    _Where,
)
from .errors import DataError
from .values import categorical_values, numeric_values

__all__ = ["block_stats", "learn", "merge"]


def block_stats(
    table: pa.Table,
    kinds: Sequence[tuple[str, str]],
    weight: np.ndarray | None,
    where: _Where,
    missing: str,
    max_categories: int | None,
    log1p: Sequence[str] = (),
    numeric: dict[str, Any] | None = None,
    entries: dict[str, list[np.ndarray]] | None = None,
) -> dict[str, Any]:
    """One block's summary per column. Categorical and bag: ``("levels", values, counts)``,
    a pyarrow Array of its distinct levels (string, int64 or bool; the null level once, as a
    null; unordered; a bag's tokens) and an int64 array of their row counts (a dictionary
    column's: a bincount of its indices), or ``("many", n_distinct, True)`` over
    ``max_categories``. Numeric: ``("numeric", n_missing, weighted sum, weight sum)`` of the
    present values (of log(1 + x) for ``log1p``'s). ``numeric``: a dict that gets each
    numeric column's (values, missing mask) as read (:func:`.values.numeric_values`);
    ``entries``: a dict that gets each dictionary column's :func:`_dictionary_counts`
    entries (per chunk, the position of each dictionary entry among the column's values)."""
    out: dict[str, Any] = {}
    if max_categories is None:
        max_categories = VOCABULARY_MAX_LEVELS
    for name, kind in kinds:
        if kind in BAG_KINDS:  # multi-valued columns: their own path (.bags)
            out[name] = bag_counts(table, name, max_categories)
            continue
        if kind == CATEGORICAL:
            if _string_dictionary(table.column(name).type):
                if table.column(name).null_count and missing != "impute":
                    categorical_values(table, name, where, missing)  # raises, naming the row
                at = None if entries is None else entries.setdefault(name, [])
                values, counts = _dictionary_counts(table.column(name), at)
            else:
                found = pc.value_counts(categorical_values(table, name, where, missing))
                values = found.field("values")
                counts = as_numpy(found.field("counts"))
            if len(values) > max_categories:
                out[name] = ("many", len(values), True)
            else:
                out[name] = ("levels", values, counts.astype(np.int64, copy=False))
        else:
            values_, mask = numeric_values(
                table, name, where, missing, "log1p" if name in log1p else ""
            )
            if numeric is not None:
                numeric[name] = (values_, mask)
            present = ~mask if mask is not None else None
            v = values_ if present is None else values_[present]
            w = weight if weight is None or present is None else weight[present]
            v = v.astype(np.float64, copy=False)
            total = float(v.sum()) if w is None else float(w @ v)
            wsum = float(len(v)) if w is None else float(w.sum())
            out[name] = ("numeric", int(0 if mask is None else mask.sum()), total, wsum)
    return out


def _dictionary_counts(
    col: pa.ChunkedArray, entries: list[np.ndarray] | None = None
) -> tuple[pa.Array, np.ndarray]:
    """(distinct values, their counts) of a dictionary-encoded string column: a bincount
    of the indices per chunk (no string decoded per row), merged by value. ``entries``: a
    list that gets, per chunk, each dictionary entry's position among the values returned
    (int32; an entry no row uses, any), then the null's last (see :func:`_entry_positions`)."""
    values, counts = [pa.nulls(0, pa.string())], [np.zeros(0, np.int64)]
    local: list[np.ndarray] = []
    at = 0
    for chunk in col.chunks:
        nulls = chunk.null_count
        raw = int_values(chunk.indices, -1)
        if nulls:  # the indices under nulls are undefined: left out
            raw = raw[raw >= 0]
        n = np.bincount(raw, minlength=len(chunk.dictionary))
        used = n > 0
        values.append(chunk.dictionary.cast(pa.string()).filter(from_numpy(used)))
        values += [pa.nulls(1, pa.string())] if nulls else []
        counts += [n[used], np.array([nulls])] if nulls else [n[used]]
        if entries is not None:
            local.append(_entry_positions(used, at, bool(nulls)))
        at += int(used.sum()) + (1 if nulls else 0)
    if len(col.chunks) == 1:  # one dictionary: its values are distinct (see _split_levels)
        if entries is not None:
            entries += local
        return pa.concat_arrays(values), np.concatenate(counts)
    found, total, where = _summed(values, counts)
    if entries is not None:
        entries += [where[p].astype(np.int32) for p in local]
    return found, total


def _entry_positions(used: np.ndarray, at: int, nulls: bool) -> np.ndarray:
    """Per dictionary entry, its position among the values kept (those ``used``, from
    ``at`` on), then the null's (the one after them; ``at`` without nulls, unused)."""
    kept = int(used.sum())
    where = np.cumsum(used, dtype=np.int64) + (at - 1)
    np.maximum(where, at, out=where)  # an unused first entry: any valid position
    return np.append(where, at + kept if nulls else at).astype(np.int32)


def _summed(
    values: Sequence[pa.Array], counts: Sequence[np.ndarray]
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Counts of the same value added up: (distinct values, int64 counts) of the
    concatenated ``values`` (one type, or null arrays beside it) and their ``counts``, and
    each concatenated value's position among the distinct ones."""
    t = next((a.type for a in values if a.type != pa.null()), pa.null())
    arr = pa.concat_arrays([a if a.type == t else a.cast(t) for a in values])
    enc = pc.dictionary_encode(arr, null_encoding="encode")
    n = np.concatenate([np.asarray(c, dtype=np.int64) for c in counts])
    where = as_numpy(enc.indices)
    total = np.bincount(where, weights=n, minlength=len(enc.dictionary))
    return enc.dictionary, total.astype(np.int64), where  # (float64 sums: exact below 2^53)


def merge_positions(
    parts: Sequence[dict[str, Any]], key: Any, *, limit: int | None = None
) -> dict[Any, Any]:
    """:func:`merge` of one column's summaries ``parts`` (a dict each, empty where a part
    has no such column) under ``key``, and under ("positions", key), when every summary is
    levels and so is the merged one: per part, the position of each of its values among
    the merged values (int32; None for a part without the column). A block whose table
    is kept for its read (:class:`~.blocks.Handed`) finds its codes from those, looking
    up no string."""
    found = [p.get(key) for p in parts]
    present = [s for s in found if s is not None]
    if not present or any(s[0] != "levels" or isinstance(s[1], dict) for s in present):
        return merge(parts, limit=limit)
    values, n, where = _summed([s[1] for s in present], [s[2] for s in present])
    if limit is not None and len(values) > limit:
        return {key: ("many", len(values), False)}
    out: list[np.ndarray | None] = []
    at = 0
    for s in found:
        if s is None:
            out.append(None)
            continue
        out.append(where[at : at + len(s[1])].astype(np.int32))
        at += len(s[1])
    return {key: ("levels", values, n), ("positions", key): out}


def merge(parts: Sequence[dict[str, Any]], *, limit: int | None = None) -> dict[str, Any]:
    """The merged summaries of blocks (see :func:`block_stats`), of the same shapes: a
    categorical column's distinct values over all parts with their summed counts. A column
    with too many levels in some part is ("many", count, exact): its count is exact only
    when that part is the only one. ``limit``: a column whose merged values are more than
    this becomes ("many", their number, False) (its levels dropped: the bound of a tree of
    merges, :data:`MERGE_FAN_IN` parts at a time)."""
    total: dict[str, Any] = {}
    levels: dict[str, list[Any]] = {}
    for part in parts:
        for name, s in part.items():
            have = total.get(name)
            if _dict_counted(s, have):  # a cross's pairs: {(a, b): rows} (.crosses)
                total[name] = _merged_dict(s, have, limit)
                continue
            if s[0] == "levels":
                levels.setdefault(name, []).append(s)
                total.setdefault(name, s)
            elif have is None:
                total[name] = s
            elif s[0] == "many" or have[0] == "many":
                counts = [x[1] if x[0] == "many" else len(x[1]) for x in (s, have)]
                total[name] = ("many", max(counts), False)
            else:
                total[name] = ("numeric", have[1] + s[1], have[2] + s[2], have[3] + s[3])
    for name, found in levels.items():
        if total[name][0] == "many":
            many = max(len(s[1]) for s in found)
            total[name] = ("many", max(total[name][1], many), False)
        else:  # one part too: a Parquet dictionary may repeat a value (not Arrow's own)
            values, n, _ = _summed([s[1] for s in found], [s[2] for s in found])
            exceeds = limit is not None and len(values) > limit
            total[name] = ("many", len(values), False) if exceeds else ("levels", values, n)
    return total


def _dict_counted(s: Any, have: Any) -> bool:
    """Whether a summary (or the merged one so far) counts its levels in a dict: a cross's."""
    return any(x is not None and x[0] == "levels" and isinstance(x[1], dict) for x in (s, have))


def _merged_dict(s: Any, have: Any, limit: int | None) -> Any:
    """:func:`merge` of two dict-counted summaries (or "many")."""
    if have is None:
        out = ("levels", dict(s[1])) if s[0] == "levels" else s
    elif s[0] == "many" or have[0] == "many":
        sizes = [x[1] if x[0] == "many" else len(x[1]) for x in (s, have)]
        return ("many", max(sizes), False)
    else:
        for v, n in s[1].items():
            have[1][v] = have[1].get(v, 0) + n
        out = have
    if out[0] == "levels" and limit is not None and len(out[1]) > limit:
        return ("many", len(out[1]), False)
    return out


def learn(
    kinds: Sequence[tuple[str, str]],
    stats: dict[str, Any],
    *,
    missing: str,
    max_categories: int | None,
    min_frequency: int,
    source: str,
    categorical_coding: str = "all",
    hash_bits: int | None = None,
    hash_columns: Sequence[str] | None = None,
    interactions: Sequence[tuple[str, str]] = (),
    log1p: Sequence[str] = (),
) -> Encoding:
    """The encoding of merged statistics; DataError for too many levels or an all-null
    categorical column. ``categorical_coding``: "all" or "reference" (see the module's
    conventions). ``hash_bits``: the columns ``hash_columns`` (default: those over
    :func:`.hashing.hashed_by_default`'s size) are hashed into 2^hash_bits buckets.
    ``log1p``: numeric columns read as log(1 + x) (their statistics are of those)."""
    if categorical_coding not in CODINGS:
        raise ValueError(
            f"categorical_coding must be one of {list(CODINGS)}; got {categorical_coding!r}"
        )
    cols = []
    for name, kind in kinds:
        s: Any = stats.get(name)
        if kind == NUMERIC:
            _, n_missing, total, wsum = s
            if wsum <= 0 and n_missing:
                raise DataError(
                    f"numeric column {name!r} of dataset {source} has no values to impute "
                    f"its missing ones from (every row is missing, or has zero weight)"
                )
            mean = total / wsum if wsum > 0 else 0.0
            transform = "log1p" if name in log1p else ""
            cols.append(
                ColumnCode(name, NUMERIC, mean=mean, indicator=n_missing > 0, transform=transform)
            )
            continue
        limit = VOCABULARY_MAX_LEVELS if max_categories is None else max_categories
        if hash_bits and _hashed(name, s, max_categories, hash_columns):
            cols.append(ColumnCode(name, HASHED_BAG if kind in BAG_KINDS else HASHED))
            continue
        if s[0] == "many" or len(s[1]) > limit:
            count = s[1] if s[0] == "many" else len(s[1])
            at_least = "at least " if s[0] == "many" and not s[2] else ""
            if max_categories is None:
                raise DataError(
                    f"{column_noun(kind)} {name!r} has {at_least}{count:,} distinct values, "
                    f"more than a vocabulary holds in memory ({limit:,} levels): hash it "
                    f"(--hash-bits), or leave it out of the features"
                )
            raise DataError(
                f"{column_noun(kind)} {name!r} has {at_least}{count:,} distinct values, more "
                f"than --max-categories {max_categories} (it may be an identifier): leave it "
                f"out of the features, hash it (--hash-bits), or raise --max-categories"
            )
        values, counts = s[1], s[2]
        if values.null_count == len(values):
            raise DataError(
                f"{column_noun(kind)} {name!r} of dataset {source} holds only nulls: leave "
                f"it out of the features"
            )
        frequent, rare, n_rare = _split_levels(values, counts, min_frequency)
        code_kind = BAG if kind in BAG_KINDS else CATEGORICAL
        cols.append(ColumnCode(name, code_kind, frequent, rare, n_infrequent=n_rare))
    pairs, crosses = learn_crosses(  # crosses: a vocabulary, or hashed (.crosses)
        {c.name: c for c in cols}, stats, interactions, hash_bits=hash_bits,
        max_categories=max_categories, min_frequency=min_frequency,
    )  # fmt: skip
    return Encoding(
        tuple(cols), missing, categorical_coding, hash_bits=hash_bits or 0, interactions=pairs,
        crosses=crosses,
    )  # fmt: skip


def _split_levels(
    values: pa.Array, counts: np.ndarray, min_frequency: int
) -> tuple[tuple[Level, ...], tuple[Level, ...], int]:
    """The levels seen at least ``min_frequency`` times, the rarer ones listed (at most
    :data:`INFREQUENT_LISTED`: the most frequent of them, ties broken by level) and how many
    rarer ones there are; both lists sorted by :func:`level_key` (values in their natural
    order, the null level last: Arrow's sort of strings is by UTF-8 bytes, which is Python's
    order of code points). ``values`` are distinct (:func:`merge`'s).

    A column whose every value is distinct at 45 M rows has tens of millions of rare levels:
    as Python objects they took gigabytes in this process and in every worker the encoding
    was shipped to, and nothing maps them apart (each is "(infrequent)", as an unseen value).
    Only the levels kept are sorted: sorting a million-level column's every value had been
    most of the time from the counts to the encoding."""
    keep = counts >= min_frequency
    rare_at = np.flatnonzero(~keep)
    n_rare = len(rare_at)
    if n_rare > INFREQUENT_LISTED:  # the most frequent: above the cut, and at it by level
        rare_counts = counts[rare_at]
        cut = np.partition(rare_counts, n_rare - INFREQUENT_LISTED)[-INFREQUENT_LISTED]
        above = rare_at[rare_counts > cut]
        tied = rare_at[rare_counts == cut]
        tied = tied[_sort_order(values.take(from_numpy(tied)))[: INFREQUENT_LISTED - len(above)]]
        rare_at = np.concatenate([above, tied])
    return (
        tuple(_sorted_levels(values.filter(from_numpy(keep)))),
        tuple(_sorted_levels(values.take(from_numpy(rare_at)))) if len(rare_at) else (),
        n_rare,
    )


def _sort_order(values: pa.Array) -> np.ndarray:
    return chunk_numpy(pc.array_sort_indices(values, null_placement="at_end"))


def _sorted_levels(values: pa.Array) -> list[Level]:
    return values.take(from_numpy(_sort_order(values))).to_pylist()


def _hashed(name: str, s: Any, max_categories: int | None, named: Sequence[str] | None) -> bool:
    from .hashing import hashed_by_default

    if named is not None:
        return name in named
    return s is None or s[0] == "many" or hashed_by_default(len(s[1]), max_categories)
