"""Crosses with a vocabulary: the pairs of values of two categorical columns as the levels of
one more categorical feature (pyarrow, NumPy).

Conventions
-----------
- A cross ``A:B`` (``interactions``) has a vocabulary when both A and B have one (neither
  hashed) and the product of their numbers of distinct values (kept and infrequent levels)
  is at most ``max_categories``, or :data:`CROSS_VOCABULARY_MAX` without it; otherwise it is
  hashed (:mod:`.hashing`; without ``hash_bits`` that is an error naming the cross).
- Its levels are the pairs of raw values (a null, with ``missing="impute"``, is the value
  None) counted in the same pass as the columns' levels: a pair seen in at least
  ``min_frequency`` rows gets the feature ``A=a^B=b``; the rarer pairs, and pairs with a value
  or a combination unseen in training, share ``A^B=(infrequent)``. This is scikit-learn's
  ``OneHotEncoder(min_frequency=K, handle_unknown="infrequent_if_exist")`` on the explicit
  column ``A=a^B=b``. ``categorical_coding="reference"`` drops nothing from a cross.
- The features follow the categorical columns' (before the hashed block). A block never
  builds the cross's string per row: each side's value becomes its index among the side's
  known values (``pc.index_in``), the pair the int64 ``ia * n_b + ib``, mapped through the
  sorted array of the kept pairs' keys (``np.searchsorted``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrow import as_numpy, int_values
from .errors import DataError
from .frozen import cached_hash, unhashed_state
from .hashing import _distinct, _token_value

#: Without --max-categories, a cross has a vocabulary when the product of its two columns'
#: numbers of distinct values is at most this (else it is hashed).
CROSS_VOCABULARY_MAX = 10_000
INFREQUENT = "(infrequent)"

Pair = tuple[Any, Any]


def _name(v: Any) -> str:
    return "(null)" if v is None else str(v)


def _key(v: Any) -> tuple[int, Any]:
    return (1, 0) if v is None else (0, v)


@dataclass(frozen=True)
class CrossCode:
    """A cross with a vocabulary: its two columns, kept pairs (sorted) and rarer pairs."""

    pair: tuple[str, str]
    levels: tuple[Pair, ...] = ()
    infrequent: tuple[Pair, ...] = ()

    __hash__ = cached_hash  # many pairs: hashed once (see .frozen)
    __getstate__ = unhashed_state

    @property
    def name(self) -> str:
        return f"{self.pair[0]}^{self.pair[1]}"

    @property
    def width(self) -> int:
        return len(self.levels) + (1 if self.infrequent else 0)

    def feature_names(self) -> list[str]:
        a, b = self.pair
        names = [f"{a}={_name(x)}^{b}={_name(y)}" for x, y in self.levels]
        return names + ([f"{self.name}={INFREQUENT}"] if self.infrequent else [])

    def describe(self) -> str:
        """The train summary's line of the cross."""
        rare = f" + (infrequent) for {len(self.infrequent):,} rarer" if self.infrequent else ""
        return (
            f"{self.pair[0]}:{self.pair[1]}: cross, vocabulary of {len(self.levels):,} pairs{rare}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "pair": list(self.pair),
            "levels": [list(p) for p in self.levels],
            "infrequent": [list(p) for p in self.infrequent],
        }

    @classmethod
    def from_json(cls, doc: Any, columns: Sequence[str]) -> CrossCode:
        """ValueError naming what is wrong."""
        if not isinstance(doc, dict) or not isinstance(doc.get("pair"), list):
            raise ValueError(f"a cross must be an object with a pair; got {doc!r}")
        pair = doc["pair"]
        if len(pair) != 2 or not set(pair) <= set(columns):
            raise ValueError(f"a cross's pair must be two of the columns; got {pair!r}")
        out = []
        for field in ("levels", "infrequent"):
            given: Any = doc.get(field)
            ok = isinstance(given, list) and all(
                isinstance(p, list)
                and len(p) == 2
                and all(v is None or type(v) in (str, int, bool) for v in p)
                for p in given
            )
            if not ok:
                raise ValueError(f"cross {pair!r}: {field} must be a list of pairs of levels")
            out.append(tuple((p[0], p[1]) for p in given))
        return cls((pair[0], pair[1]), out[0], out[1])


def cross_counts(
    table: pa.Table, pair: tuple[str, str], values: Callable[[str], pa.Array], limit: int
) -> tuple[Any, ...]:
    """One block's summary of cross ``pair``: ("levels", {(a, b): rows}), or ("many",
    distinct pairs, True) past ``limit``. ``values(name)``: the column's level values (as
    :func:`logloss.data.encoding.categorical_values`, raising on a null that is an error)."""
    a, b = pair
    va, ia = _distinct(a, table, lambda: values(a))
    vb, ib = _distinct(b, table, lambda: values(b))
    keys, counts = np.unique(ia * len(vb) + ib, return_counts=True)
    if len(keys) > limit:
        return ("many", len(keys), True)
    out: dict[Pair, int] = {}
    for k, n in zip(keys.tolist(), counts.tolist(), strict=True):
        p = (va[k // len(vb)], vb[k % len(vb)])  # a dictionary's value may repeat: add up
        out[p] = out.get(p, 0) + n
    return ("levels", out)


def learn_crosses(
    sides: dict[str, Any],
    stats: dict[Any, Any],
    interactions: Sequence[tuple[str, str]],
    *,
    hash_bits: int | None,
    max_categories: int | None,
    min_frequency: int,
) -> tuple[tuple[tuple[str, str], ...], tuple[CrossCode, ...]]:
    """The hashed crosses and the crosses with a vocabulary (see the module's conventions).
    ``sides``: the learned columns by name; ``stats``: the merged summaries (a cross's
    under ``("cross", A, B)``)."""
    bound = CROSS_VOCABULARY_MAX if max_categories is None else max_categories
    hashed, vocab = [], []
    for a, b in interactions:
        ca, cb = sides.get(a), sides.get(b)
        s = stats.get(("cross", a, b))
        why = _no_vocabulary(ca, cb, s, bound)
        if why is None:
            counts: dict[Pair, int] = s[1]  # type: ignore[index]
            pairs = sorted(counts, key=lambda p: (_key(p[0]), _key(p[1])))
            kept = tuple(p for p in pairs if counts[p] >= min_frequency)
            rare = tuple(p for p in pairs if counts[p] < min_frequency)
            vocab.append(CrossCode((a, b), kept, rare))
        elif hash_bits:
            hashed.append((a, b))
        else:
            raise DataError(
                f"the cross {a}:{b} cannot have a vocabulary ({why}): hash it (--hash-bits)"
                f"{'' if max_categories is None else ', or raise --max-categories'}"
            )
    return tuple(hashed), tuple(vocab)


def _no_vocabulary(ca: Any, cb: Any, s: Any, bound: int) -> str | None:
    """Why a cross of columns ``ca``, ``cb`` (their codes) gets no vocabulary, or None."""
    for c in (ca, cb):
        if c is None or c.kind != "categorical":
            return f"column {getattr(c, 'name', '?')!r} is hashed"
    product = (len(ca.levels) + ca.n_infrequent) * (len(cb.levels) + cb.n_infrequent)
    if product > bound or s is None or s[0] != "levels":
        return f"{product:,} pairs of values, more than {bound:,}"
    return None


def _side_index(values: pa.Array, known: Sequence[Any]) -> np.ndarray:
    """Per row: the index of its value among ``known`` (None: the null), else -1."""
    present = [v for v in known if v is not None]
    if present:
        index = pc.index_in(values, value_set=pa.array(present, type=values.type))
        idx = int_values(index, -1)
        lut = np.asarray([known.index(v) for v in present] + [-1], dtype=np.int64)
        out = lut[idx]
    else:
        out = np.full(len(values), -1, np.int64)
    if values.null_count:
        out[~as_numpy(values.is_valid())] = known.index(None) if None in known else -1
    return out


def cross_codes(
    table: pa.Table, cross: CrossCode, sides: tuple[Any, Any], values: Callable[[str], pa.Array]
) -> np.ndarray:
    """Per row: the index of its pair's feature within the cross's, or -1 (no feature)."""
    ka, kb = ([*c.levels, *c.infrequent] for c in sides)
    ia = _side_index(values(cross.pair[0]), ka)
    ib = _side_index(values(cross.pair[1]), kb)
    kept = np.asarray([ka.index(x) * len(kb) + kb.index(y) for x, y in cross.levels], np.int64)
    order = np.argsort(kept)
    keys = kept[order]
    row = ia * len(kb) + ib
    at = np.minimum(np.searchsorted(keys, row), max(len(keys) - 1, 0))
    hit = (ia >= 0) & (ib >= 0) & (len(keys) > 0)
    if len(keys):
        hit &= keys[at] == row
    other = len(cross.levels) if cross.infrequent else -1
    return np.where(hit, order[at] if len(keys) else -1, other).astype(np.int64)


def cross_documents(
    X: Any, pair: Sequence[str], levels: Sequence[str], infrequent: bool
) -> list[list[str]]:
    """Each row of a pandas DataFrame as its cross feature's name ``A=a^B=b`` (a pair outside
    ``levels``, the kept names, is ``A^B=(infrequent)`` when ``infrequent``, else none):
    the documents of :func:`logloss.export.to_sklearn`'s ``CountVectorizer`` for a cross."""
    a, b = pair
    kept = set(levels)
    rare = [f"{a}^{b}={INFREQUENT}"] if infrequent else []
    out = []
    for x, y in zip(X[a].tolist(), X[b].tolist(), strict=True):
        name = f"{a}={_token_value(x)}^{b}={_token_value(y)}"
        out.append([name] if name in kept else list(rare))
    return out
