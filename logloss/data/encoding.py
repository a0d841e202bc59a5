"""Column encodings: categorical columns as 0/1 indicators, missing numeric values imputed.

Everything here is pyarrow and NumPy (no Dask): :meth:`Encoding.encode` writes a block's
features into one preallocated row-major array (:mod:`.codes`: as int32 codes); an encoding
is learned from the data in one counting pass (:mod:`.counting`).

Conventions
-----------
- The output features are, in this order: the numeric columns (a missing value becomes the
  column's training mean with ``missing="impute"``), one 0/1 "missing" indicator per numeric
  column that had missing values in training (``name__missing``), then each categorical
  column's indicators (``name=level``): its levels sorted by value, the null level (a null is
  its own level with ``missing="impute"``) after them, and one ``name=(infrequent)``
  indicator for the levels seen fewer than ``min_frequency`` times. This is scikit-learn's
  ``ColumnTransformer([("num", SimpleImputer(strategy="mean", add_indicator=True), numeric),
  ("cat", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=K),
  categorical)])``: a level not seen in training goes to "(infrequent)" when the column has
  one, else gives all-zero indicators. Wide encodings are applied as int32 codes instead of
  indicators (:mod:`.codes`, :data:`CODES_ABOVE`): the same features.
- ``categorical_coding="reference"`` (treatment coding, as statsmodels/patsy's default
  ``C(col)``) drops each categorical column's first indicator: the first level as sorted
  (not the most frequent; the "(infrequent)" indicator only when every level is
  infrequent). That level is the column's reference: its rows get all-zero indicators, and
  each remaining coefficient is the difference in log-odds from it. This is
  ``OneHotEncoder(drop=[reference levels])``. With the default "all" every level keeps its
  indicator; with an intercept the coefficients are then identified only by the penalty.
- Means are weighted by the sample weights when there are any; level counts are row counts.
- ±inf is an error in every mode; so is a missing value with ``missing="error"``.
- Hashed columns (``hash_bits`` B; :mod:`.hashing`) have no levels: all of them share one
  block of 2^B features ``hash[i]`` after the vocabulary features, as scikit-learn's
  ``FeatureHasher(n_features=2**B, input_type="string", alternate_sign=True)``.
- Multi-valued columns (``list<string>``: kinds ``bag`` and ``hashed_bag``) are bags of
  tokens (:mod:`.bags`): a bag's vocabulary features ``name=token`` come last, after the
  hashed block; a hashed bag's tokens go into the hashed block.
- An Encoding is plain data: :meth:`Encoding.to_json` / :meth:`Encoding.from_json` (model.json).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrow import (
    Source,
    as_numpy,
    chunk_numpy,
    fill_tiles,
    int_values,
    numpy_dtype,
    string_array,
)
from .bags import BAG, BAG_KINDS, HASHED_BAG, bag_describe
from .crosses import CrossCode
from .frozen import cached_hash, unhashed_state
from .values import TRANSFORMS, _Where, categorical_values, numeric_values

__all__ = ["Encoding", "ColumnCode", "_Where", "categorical_values", "numeric_values"]

MISSING_MODES = ("error", "drop", "impute")
CODINGS = ("all", "reference")
NUMERIC = "numeric"
CATEGORICAL = "categorical"
HASHED = "hashed"

Level = str | int | bool | None

#: Encodings with more categorical features than this are read as codes, not indicators.
CODES_ABOVE = 64
#: Without --max-categories, the most levels one column's vocabulary may hold (counted per
#: block and merged on the client: about 100 bytes a level); more cannot fit memory here.
VOCABULARY_MAX_LEVELS = 5_000_000
#: The most rare levels an encoding lists per column (the most frequent of them): the rest
#: are only counted. Each maps to "(infrequent)" as an unseen value does, so the list serves
#: only the unseen-levels check of retraining and the exports, which read a listed rare
#: level as seen; a click log's id column has tens of millions of rare levels.
INFREQUENT_LISTED = 10_000
#: Parts per merge in the counting pass's tree of merges (each keeps at most the limit).
MERGE_FAN_IN = 4
#: The most parts of the last merges, one task per column: up to this many blocks are
#: merged there at once, more first in the tree. One column's counts of 32 blocks weigh
#: less than those of every column of 4; each level of the tree hashes every level again
#: (a 10 M-row click log of 32 blocks: the load took 15.8 s with the tree, 14.0 s without).
LAST_MERGE_PARTS = 32


def level_key(v: Level) -> tuple[int, Any]:
    """Sort key of levels: values in their natural order, the null level last."""
    return (1, 0) if v is None else (0, v)


def _level_name(v: Level) -> str:
    return "(null)" if v is None else str(v)


@dataclass(frozen=True)
class ColumnCode:
    """How one input column becomes output features."""

    name: str
    kind: str  # NUMERIC, CATEGORICAL or HASHED (a categorical column hashed)
    levels: tuple[Level, ...] = ()  # categorical: one indicator each, sorted, null last
    #: categorical: levels folded into one "(infrequent)" indicator, listed up to
    #: :data:`INFREQUENT_LISTED` (the most frequent of them); ``n_infrequent`` counts them all
    infrequent: tuple[Level, ...] = ()
    mean: float = 0.0  # numeric: what a missing value becomes (impute)
    indicator: bool = False  # numeric: had missing values in training -> name__missing
    transform: str = ""  # numeric: "log1p" (--log1p: x -> log(1 + x) before imputation)
    n_infrequent: int = 0  # categorical: how many levels were folded (at least those listed)

    __hash__ = cached_hash  # millions of levels: hashed once (see .frozen)
    __getstate__ = unhashed_state

    def __post_init__(self) -> None:
        if self.n_infrequent < len(self.infrequent):
            object.__setattr__(self, "n_infrequent", len(self.infrequent))

    @cached_property
    def null_code(self) -> int:
        """The code of a null: its level's when seen in training, else "(infrequent)"'s if
        any, else -1 (no feature). Kept: a scan of the levels, once per block and column,
        had been half a second of a click log's read."""
        if None in self.levels:
            return self.levels.index(None)
        return len(self.levels) if self.infrequent else -1

    @property
    def width(self) -> int:
        if self.kind not in (CATEGORICAL, BAG):
            return 1 if self.kind == NUMERIC else 0  # hashed: the shared block, counted once
        return len(self.levels) + (1 if self.infrequent else 0)


@dataclass(frozen=True)
class Encoding:
    """The learned transformation of the input columns into the model's features."""

    columns: tuple[ColumnCode, ...]
    missing: str = "error"
    #: "all": one indicator per level; "reference": the first one of each column dropped
    categorical_coding: str = "all"
    #: blocks as dense part + int32 codes (:mod:`logloss.coded`): True, False, or None for
    #: :data:`CODES_ABOVE` (a choice of representation, not of the model: not saved)
    codes: bool | None = None
    #: B of the hashed columns' shared block of 2^B features (0: no hashed columns)
    hash_bits: int = 0
    #: crosses (A, B) of categorical columns, hashed into the shared block (:mod:`.hashing`)
    interactions: tuple[tuple[str, str], ...] = ()
    #: crosses with a vocabulary (:mod:`.crosses`): their features follow the categorical ones
    crosses: tuple[CrossCode, ...] = ()

    __hash__ = cached_hash  # see .frozen
    __getstate__ = unhashed_state

    @property
    def hashed(self) -> list[ColumnCode]:
        return [c for c in self.columns if c.kind == HASHED]

    @property
    def hash_width(self) -> int:
        """The features of the hashed columns' shared block: 2^hash_bits, or 0 without."""
        hashed_bags = any(c.kind == HASHED_BAG for c in self.columns)
        return 2**self.hash_bits if self.hashed or self.interactions or hashed_bags else 0

    @property
    def bags(self) -> list[ColumnCode]:
        """The multi-valued columns (vocabulary and hashed bags), in order."""
        return [c for c in self.columns if c.kind in BAG_KINDS]

    @property
    def bag_width(self) -> int:
        """The bags' vocabulary features: the last ones of X."""
        return sum(c.width for c in self.bags)

    @property
    def coded(self) -> bool:
        """Whether blocks of this encoding are coded (a dense part and int32 codes)."""
        if self.hash_width or self.bags or self.crosses:  # applied as codes only
            return True
        if not self.categorical:
            return False
        if self.codes is not None:
            return self.codes
        return self.width - self.dense_width > CODES_ABOVE

    @property
    def reference(self) -> bool:
        """Whether each categorical column's first indicator is dropped (its reference)."""
        return self.categorical_coding == "reference"

    def column_width(self, c: ColumnCode) -> int:
        """The number of features column ``c`` becomes under this encoding's coding."""
        if c.kind == CATEGORICAL and self.reference and c.width:
            return c.width - 1
        return c.width

    def _indicator_names(self, c: ColumnCode, drop: bool = True) -> list[str]:
        names = [f"{c.name}={'(null)' if v is None else v}" for v in c.levels]  # _level_name
        names += [f"{c.name}=(infrequent)"] if c.infrequent else []
        return names[1:] if self.reference and drop else names

    def reference_level(self, c: ColumnCode) -> str | None:
        """The name of categorical column ``c``'s reference indicator (``name=level``), or
        None with ``categorical_coding="all"``."""
        if not self.reference or c.kind != CATEGORICAL or not c.width:
            return None
        return f"{c.name}={_level_name(c.levels[0])}" if c.levels else f"{c.name}=(infrequent)"

    def categorical_slices(self) -> list[tuple[str, slice]]:
        """(column name, its features' slice of X) for each categorical column, in order."""
        k = len(self.numeric) + len(self.indicators)
        out = []
        for c in self.categorical:
            w = self.column_width(c)
            out.append((c.name, slice(k, k + w)))
            k += w
        return out

    @property
    def input_columns(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def numeric(self) -> list[ColumnCode]:
        return [c for c in self.columns if c.kind == NUMERIC]

    @property
    def categorical(self) -> list[ColumnCode]:
        return [c for c in self.columns if c.kind == CATEGORICAL]

    @property
    def indicators(self) -> list[ColumnCode]:
        return [c for c in self.numeric if c.indicator]

    @property
    def feature_names(self) -> list[str]:
        """The output features' names, in the order of X's columns."""
        names = [f"{c.transform}({c.name})" if c.transform else c.name for c in self.numeric]
        names += [f"{c.name}__missing" for c in self.indicators]
        for c in self.categorical:
            names += self._indicator_names(c)
        names += [n for x in self.crosses for n in x.feature_names()]
        names += [f"hash[{i}]" for i in range(self.hash_width)]
        return names + [n for c in self.bags for n in self._indicator_names(c, drop=False)]

    @property
    def width(self) -> int:
        cat = sum(self.column_width(c) for c in self.categorical) + sum(
            x.width for x in self.crosses
        )
        return len(self.numeric) + len(self.indicators) + cat + self.hash_width + self.bag_width

    def raw_features(self) -> np.ndarray:
        """True for the 0/1 indicator features (kept in their units by ``standardize``)."""
        mask = np.ones(self.width, dtype=bool)
        mask[: len(self.numeric)] = False
        return mask

    # ------------------------------------------------------------------ model.json
    def to_json(self) -> dict[str, Any]:
        hashing: dict[str, Any] = {"bits": self.hash_bits, "alternate_sign": True}
        hashing["interactions"] = [list(p) for p in self.interactions]
        return {
            "missing": self.missing,
            "categorical_coding": self.categorical_coding,
            **({"hashing": hashing} if self.hash_width else {}),
            **({"crosses": [x.to_json() for x in self.crosses]} if self.crosses else {}),
            "columns": [
                {
                    "name": c.name,
                    "kind": c.kind,
                    "mean": c.mean,
                    "indicator": c.indicator,
                    **({"transform": c.transform} if c.transform else {}),
                }
                if c.kind == NUMERIC
                else {"name": c.name, "kind": c.kind}
                if c.kind in (HASHED, HASHED_BAG)
                else {
                    "name": c.name,
                    "kind": c.kind,
                    "levels": list(c.levels),
                    "infrequent": list(c.infrequent),
                    **(
                        {"n_infrequent": c.n_infrequent}
                        if c.n_infrequent > len(c.infrequent)
                        else {}
                    ),
                }
                for c in self.columns
            ],
        }

    @classmethod
    def from_json(cls, doc: Any) -> Encoding:
        """The encoding of model.json's "encoding" field; ValueError naming what is wrong."""
        if not isinstance(doc, dict) or doc.get("missing") not in MISSING_MODES:
            raise ValueError(f"must be an object with missing in {list(MISSING_MODES)}")
        coding = doc.get("categorical_coding", "all")  # absent in files before the option
        if coding not in CODINGS:
            raise ValueError(f"categorical_coding must be one of {list(CODINGS)}; got {coding!r}")
        cols = doc.get("columns")
        if not isinstance(cols, list) or not cols:
            raise ValueError("must list at least one column")
        out = [_column_from_json(c) for c in cols]
        names = [c.name for c in out]
        if len(set(names)) != len(names):
            raise ValueError("column names must be distinct")
        bits: Any = 0
        pairs: tuple[tuple[str, str], ...] = ()
        h = doc.get("hashing")
        if h is not None or any(c.kind in (HASHED, HASHED_BAG) for c in out):
            if not isinstance(h, dict) or h.get("alternate_sign") is not True:
                raise ValueError("hashed columns need hashing: {bits, alternate_sign: true}")
            bits = h.get("bits")
            if type(bits) is not int or not 1 <= bits <= 30:
                raise ValueError(f"hashing bits must be an integer in [1, 30]; got {bits!r}")
            given = h.get("interactions", [])
            if not isinstance(given, list) or any(
                not isinstance(p, list) or len(p) != 2 or not set(p) <= set(names) for p in given
            ):
                raise ValueError(f"interactions must be pairs of columns; got {given!r}")
            pairs = tuple((p[0], p[1]) for p in given)
        crosses = tuple(CrossCode.from_json(x, names) for x in doc.get("crosses", []))
        return cls(
            tuple(out), doc["missing"], coding, hash_bits=bits, interactions=pairs, crosses=crosses
        )

    # ------------------------------------------------------------------ applying it
    def encode(
        self,
        table: pa.Table,
        dtype: str,
        where: _Where,
        out: np.ndarray | None = None,
        numeric: dict[str, Any] | None = None,
    ) -> np.ndarray:
        """The block's ``(n, width)`` features, C-ordered, written into one array: numeric
        columns (imputed), missing indicators, then the categorical indicators. Each column
        is turned into one source array first (values, a mask, or per-row indicator codes);
        then X is filled a tile of rows at a time, all columns of a tile while it is in cache.
        ``out``: the ``(n, width)`` array of ``dtype`` to write into (returned); ``numeric``:
        as :meth:`dense_sources`' ``known``."""
        n = table.num_rows
        if out is None:
            X = np.zeros((n, self.width), dtype=dtype)  # the indicators' zeros come free
        else:
            X = out
            X.fill(0)
        sources, k = self.dense_sources(table, dtype, where, numeric)
        for c in self.categorical:
            codes = self._codes(table, c, where)
            if self.reference:
                codes = codes - 1  # the reference level (code 0) -> -1: all-zero indicators
                codes[codes < -1] = -1
            sources.append(("code", k, codes))
            k += self.column_width(c)
        fill_tiles(X, sources)
        return X

    def describe_categorical(self) -> list[str]:
        """What each categorical column became, one line each (the train summary):
        "dest: vocabulary of 104 levels + (infrequent) for 3 rarer ones, int32 codes"."""
        how = "int32 codes" if self.coded else "0/1 indicators"
        out = []
        for c in self.categorical:
            rare = f" + (infrequent) for {c.n_infrequent:,} rarer" if c.infrequent else ""
            out.append(f"{c.name}: vocabulary of {len(c.levels):,} levels{rare}, {how}")
        bits = self.hash_bits
        out += [f"{c.name}: hashed into 2^{bits} buckets (shared)" for c in self.hashed]
        out += [x.describe() for x in self.crosses]
        out += [f"{a}:{b}: cross, hashed into 2^{bits} buckets" for a, b in self.interactions]
        return out + [
            bag_describe(c.name, c.kind, len(c.levels), c.n_infrequent, bits) for c in self.bags
        ]

    @property
    def dense_width(self) -> int:
        """The numeric features and missing indicators: the features before the categorical."""
        return len(self.numeric) + len(self.indicators)

    def dense_sources(
        self, table: pa.Table, dtype: str, where: _Where, known: dict[str, Any] | None = None
    ) -> tuple[list[Source], int]:
        """The fill sources of the numeric columns (imputed) and missing indicators, and
        their count of features. ``known``: columns already read (name -> (values,
        missing mask), :func:`.values.numeric_values`' of the counting pass), not read
        again."""
        numeric = self.numeric
        sources: list[Source] = []
        indicators: list[Source] = []
        k = len(numeric)
        for j, c in enumerate(numeric):
            found = None if known is None else known.get(c.name)
            if found is None:
                found = numeric_values(table, c.name, where, self.missing, c.transform)
            values, missing = found
            if missing is not None:
                values = np.where(missing, c.mean, values)
            if dtype == "float32":
                _check_float32(values, c.name, where)
            sources.append(("value", j, values))
            if c.indicator:
                if missing is not None:
                    indicators.append(("flag", k, missing))
                k += 1
        return sources + indicators, k

    def codes_into(
        self,
        table: pa.Table,
        c: ColumnCode,
        where: _Where,
        out: np.ndarray,
        offset: int,
        known: Sequence[np.ndarray] | None = None,
    ) -> np.ndarray | None:
        """Write column ``c``'s code column into ``out`` (int32, a row per table row): each
        row's indicator index plus ``offset`` (the column's offset in w), or ``offset`` for a
        row with no feature (an unseen level without "(infrequent)", the reference level),
        whose mask is returned (None when no row has none). A dictionary chunk's codes are
        found per entry, then gathered straight into ``out``: one pass over the rows, not an
        int64 array and three more passes as :meth:`_codes` and its caller had made.
        ``known``: per chunk, its entries' codes as :func:`_entry_codes` finds them (the
        counting pass's, :func:`.counting.merge_positions`): no string is looked up."""
        col = table.column(c.name)
        if not _string_dictionary(col.type):
            codes = self._codes(table, c, where)
            if self.reference:
                codes = codes - 1
            below = codes < 0
            found = bool(below.any())
            np.add(np.where(below, 0, codes) if found else codes, offset, out=out, casting="unsafe")
            return below if found else None
        if col.null_count and self.missing != "impute":
            categorical_values(table, c.name, where, self.missing)  # raises, naming the row
        null_code = c.null_code
        none: np.ndarray | None = None
        at = 0
        sizes = [len(ch.dictionary) + 1 for ch in col.chunks] if known is not None else []
        if known is not None and [len(k) for k in known] != sizes:
            known = None  # (not this table's: looked up)
        for k, chunk in enumerate(col.chunks):
            m = len(chunk)
            if known is not None:
                per_entry = known[k]
            else:
                per_entry = _entry_codes(c, chunk.dictionary, null_code)  # the null's code last
            if self.reference:
                per_entry = per_entry - 1
            no_feature = per_entry < 0
            table32 = (np.where(no_feature, 0, per_entry) + offset).astype(np.int32)
            idx = _dictionary_indices(chunk, len(per_entry) - 1)
            np.take(table32, idx, out=out[at : at + m])
            used = no_feature if chunk.null_count else no_feature[:-1]  # the null's last
            rows = no_feature[idx] if used.any() else None  # (an entry no row may use)
            if rows is not None and rows.any():
                if none is None:
                    none = np.zeros(len(col), bool)
                none[at : at + m] = rows
            at += m
        return none

    def _codes(self, table: pa.Table, c: ColumnCode, where: _Where) -> np.ndarray:
        """Per row: the index of its indicator within the column's, or -1 (unseen level).
        Dictionary-encoded strings are looked up once per dictionary entry."""
        null_code = c.null_code
        col = table.column(c.name)
        if _string_dictionary(col.type):
            if col.null_count and self.missing != "impute":
                categorical_values(table, c.name, where, self.missing)  # raises, naming the row
            out = np.empty(len(col), dtype=np.int64)
            offset = 0
            for chunk in col.chunks:
                per_entry = _entry_codes(c, chunk.dictionary, null_code)
                out[offset : offset + len(chunk)] = per_entry[
                    int_values(chunk.indices, len(per_entry) - 1)
                ]
                offset += len(chunk)
            return out
        arr = categorical_values(table, c.name, where, self.missing)
        codes = _lookup(c, arr)
        if arr.null_count:
            codes[~as_numpy(arr.is_valid())] = null_code
        return codes


#: Per thread: the last dictionary looked up for each column and its codes. A row group
#: read in batches (a block that is a row range, or read in parts within its memory budget)
#: repeats its whole dictionary in every batch: 90 k values looked up against 250 k levels
#: three times over in a streamed evaluation of a click log, where once does.
_LAST_ENTRIES = threading.local()


def _entry_codes(c: ColumnCode, dictionary: pa.Array, null_code: int) -> np.ndarray:
    """Per entry of a chunk's dictionary: its code (:func:`_lookup`), then the nulls'."""
    last: dict[int, tuple[ColumnCode, pa.Array, np.ndarray]] | None
    last = getattr(_LAST_ENTRIES, "by_column", None)
    if last is None:
        last = _LAST_ENTRIES.by_column = {}
    hit = last.get(id(c))
    if hit is not None and hit[0] is c and _same_array(dictionary, hit[1]):
        return hit[2]
    per_entry = np.append(_lookup(c, dictionary.cast(pa.string())), null_code)
    if len(last) >= _LEVEL_CODES_KEPT:
        last.pop(next(iter(last)))
    last[id(c)] = (c, dictionary, per_entry)
    return per_entry


def value_codes(c: ColumnCode, values: pa.Array) -> np.ndarray:
    """Per value of ``values`` (strings, nulls among them): the code :func:`_entry_codes`
    gives a dictionary entry of that value (a null's: ``c.null_code``)."""
    values = values.cast(pa.string())
    if not values.null_count:
        return _lookup(c, values)
    out = np.full(len(values), c.null_code, dtype=np.int64)
    valid = values.is_valid()
    out[chunk_numpy(valid)] = _lookup(c, values.filter(valid))
    return out


def _dictionary_indices(chunk: pa.DictionaryArray, null_at: int) -> np.ndarray:
    """A dictionary chunk's indices over its buffer (their own integer type), ``null_at``
    under its nulls (whose indices are undefined)."""
    indices = chunk.indices
    if indices.null_count:
        return int_values(indices, null_at)
    dtype = numpy_dtype(indices.type)
    return np.frombuffer(
        indices.buffers()[1], dtype, count=len(indices), offset=indices.offset * dtype.itemsize
    )


def _same_array(a: pa.Array, b: pa.Array) -> bool:
    """Whether two Arrow arrays hold the same values: the same buffers (a batch's copy of its
    row group's dictionary), else compared."""
    if len(a) != len(b) or a.type != b.type:
        return False
    if a.offset == b.offset and all(
        x is y or (x is not None and y is not None and x.address == y.address)
        for x, y in zip(a.buffers(), b.buffers(), strict=True)
    ):
        return True
    return bool(a.equals(b))


def _string_dictionary(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_dictionary(t)
        and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type))
    )


def _lookup(c: ColumnCode, values: pa.Array) -> np.ndarray:
    """Per value: its indicator's index within column ``c``'s (infrequent levels share the
    last, and so do the levels not seen in training when there is one: scikit-learn's
    ``handle_unknown="infrequent_if_exist"``), else -1 for an unseen level (and a null)."""
    if not any(v is not None for v in c.levels) and not any(v is not None for v in c.infrequent):
        return np.full(len(values), len(c.levels) if c.infrequent else -1, dtype=np.int64)
    unseen = len(c.levels) if c.infrequent else -1
    strings = pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    if strings and not values.null_count:
        level_set = _cached(_LEVEL_ARRAYS, c, _level_array)
        if level_set is not None and len(level_set) <= INDEX_IN_RATIO * len(values):
            found = pc.index_in(values.cast(pa.large_string()), value_set=level_set)
            return int_values(found, unseen)
    get = _cached(_LEVEL_CODES, c, _level_codes).get
    return np.fromiter((get(v, unseen) for v in values.to_pylist()), np.int64, len(values))


#: A row group's values are looked up with Arrow's ``index_in`` (in C++, the GIL released)
#: when the column's frequent levels are at most this many times as many: it hashes the
#: whole level set on every call. Else in the column's Python table, built once.
INDEX_IN_RATIO = 4

#: The level tables of the columns looked up lately in this process, by id: a column of a
#: million levels builds its table once, not once per block and row group.
_LEVEL_CODES: dict[int, tuple[ColumnCode, Any]] = {}
_LEVEL_ARRAYS: dict[int, tuple[ColumnCode, Any]] = {}
_LEVEL_CODES_KEPT = 256


def _cached(cache: dict[int, tuple[ColumnCode, Any]], c: ColumnCode, build: Any) -> Any:
    """``build(c)``, kept in ``cache`` for the latest :data:`_LEVEL_CODES_KEPT` columns."""
    hit = cache.get(id(c))
    if hit is not None and hit[0] is c:
        return hit[1]
    value = build(c)
    if len(cache) >= _LEVEL_CODES_KEPT:
        cache.pop(next(iter(cache)))
    cache[id(c)] = (c, value)
    return value


def _level_codes(c: ColumnCode) -> dict[Level, int]:
    """Column ``c``'s frequent levels (no null) -> their indicator's index, in order. The
    infrequent ones are not in it: they share "(infrequent)" with the levels never seen,
    the lookup's default (a table of every level seen, rare ones included, had been
    millions of entries at a click log's scale, a cache miss per lookup)."""
    return {v: i for i, v in enumerate(c.levels) if v is not None}


def _level_array(c: ColumnCode) -> pa.Array | None:
    """Column ``c``'s frequent string levels as Arrow, in order (the null level, last, left
    out: a position is the level's index), or None when a level is not a string."""
    levels = [v for v in c.levels if v is not None]
    strings = [v for v in levels if isinstance(v, str)]
    return string_array(strings) if len(strings) == len(levels) else None


def _check_float32(values: np.ndarray, name: str, where: _Where) -> None:
    with np.errstate(over="ignore"):
        finite = np.isfinite(values.astype(np.float32))
    if not finite.all():
        i = int(np.argmax(~finite))
        where.fail(name, f"feature values must fit in float32; got {values[i]}", i)


def _column_from_json(c: Any) -> ColumnCode:
    if not isinstance(c, dict) or not isinstance(c.get("name"), str):
        raise ValueError(f"column entries must be objects with a name; got {c!r}")
    name = c["name"]
    if c.get("kind") == NUMERIC:
        mean: Any = c.get("mean")
        if type(mean) not in (int, float) or not math.isfinite(mean):
            raise ValueError(f"column {name!r}: mean must be a finite number")
        if type(c.get("indicator")) is not bool:
            raise ValueError(f"column {name!r}: indicator must be true or false")
        transform = c.get("transform", "")
        if transform not in ("", *TRANSFORMS):
            raise ValueError(f"column {name!r}: transform must be one of {list(TRANSFORMS)}")
        return ColumnCode(
            name, NUMERIC, mean=float(mean), indicator=c["indicator"], transform=transform
        )
    if c.get("kind") in (HASHED, HASHED_BAG):
        return ColumnCode(name, c["kind"])
    if c.get("kind") not in (CATEGORICAL, BAG):
        raise ValueError(f"column {name!r}: kind must be numeric, categorical, hashed or a bag")
    levels, rare = c.get("levels"), c.get("infrequent")
    if not isinstance(levels, list) or not isinstance(rare, list):
        raise ValueError(f"column {name!r}: levels must be lists")
    if not set(map(type, levels)) | set(map(type, rare)) <= {str, int, bool, type(None)}:
        bad = next(v for v in [*levels, *rare] if type(v) not in (str, int, bool, type(None)))
        raise ValueError(f"column {name!r}: bad level {bad!r}")
    if c["kind"] == BAG and not all(isinstance(v, str) for v in [*levels, *rare]):
        raise ValueError(f"column {name!r}: a bag's levels are strings")
    n_rare = c.get("n_infrequent", len(rare))
    if type(n_rare) is not int or n_rare < len(rare):
        raise ValueError(
            f"column {name!r}: n_infrequent must be an integer of at least {len(rare)}"
        )
    return ColumnCode(name, c["kind"], tuple(levels), tuple(rare), n_infrequent=n_rare)
