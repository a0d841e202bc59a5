"""Column encodings: categorical columns as 0/1 indicators, missing numeric values imputed.

Everything here is pyarrow and NumPy (no Dask): :func:`block_stats` summarises one block,
:func:`learn` turns the merged summaries into an :class:`Encoding`, and
:meth:`Encoding.encode` writes a block's features into one preallocated row-major array.

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrow import Source, fill_tiles
from .bags import BAG, BAG_KINDS, HASHED_BAG, bag_counts, bag_describe, column_noun
from .crosses import CrossCode, learn_crosses
from .errors import DataError
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
#: Parts per merge in the counting pass's tree of merges (each keeps at most the limit).
MERGE_FAN_IN = 4


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
    infrequent: tuple[Level, ...] = ()  # categorical: folded into one "(infrequent)" indicator
    mean: float = 0.0  # numeric: what a missing value becomes (impute)
    indicator: bool = False  # numeric: had missing values in training -> name__missing
    transform: str = ""  # numeric: "log1p" (--log1p: x -> log(1 + x) before imputation)

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
        self, table: pa.Table, dtype: str, where: _Where, out: np.ndarray | None = None
    ) -> np.ndarray:
        """The block's ``(n, width)`` features, C-ordered, written into one array: numeric
        columns (imputed), missing indicators, then the categorical indicators. Each column
        is turned into one source array first (values, a mask, or per-row indicator codes);
        then X is filled a tile of rows at a time, all columns of a tile while it is in cache.
        ``out``: the ``(n, width)`` array of ``dtype`` to write into (returned)."""
        n = table.num_rows
        if out is None:
            X = np.zeros((n, self.width), dtype=dtype)  # the indicators' zeros come free
        else:
            X = out
            X.fill(0)
        sources, k = self.dense_sources(table, dtype, where)
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
            rare = f" + (infrequent) for {len(c.infrequent):,} rarer" if c.infrequent else ""
            out.append(f"{c.name}: vocabulary of {len(c.levels):,} levels{rare}, {how}")
        bits = self.hash_bits
        out += [f"{c.name}: hashed into 2^{bits} buckets (shared)" for c in self.hashed]
        out += [x.describe() for x in self.crosses]
        out += [f"{a}:{b}: cross, hashed into 2^{bits} buckets" for a, b in self.interactions]
        return out + [
            bag_describe(c.name, c.kind, len(c.levels), len(c.infrequent), bits) for c in self.bags
        ]

    @property
    def dense_width(self) -> int:
        """The numeric features and missing indicators: the features before the categorical."""
        return len(self.numeric) + len(self.indicators)

    def dense_sources(self, table: pa.Table, dtype: str, where: _Where) -> tuple[list[Source], int]:
        """The fill sources of the numeric columns (imputed) and missing indicators, and
        their count of features."""
        numeric = self.numeric
        sources: list[Source] = []
        indicators: list[Source] = []
        k = len(numeric)
        for j, c in enumerate(numeric):
            values, missing = numeric_values(table, c.name, where, self.missing, c.transform)
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

    def _codes(self, table: pa.Table, c: ColumnCode, where: _Where) -> np.ndarray:
        """Per row: the index of its indicator within the column's, or -1 (unseen level).
        Dictionary-encoded strings are looked up once per dictionary entry."""
        null_code = -1  # a null not seen in training: "(infrequent)" if any, else nothing
        if None in c.levels:
            null_code = c.levels.index(None)
        elif c.infrequent:
            null_code = len(c.levels)
        col = table.column(c.name)
        if _string_dictionary(col.type):
            if col.null_count and self.missing != "impute":
                categorical_values(table, c.name, where, self.missing)  # raises, naming the row
            out = np.empty(len(col), dtype=np.int64)
            offset = 0
            for chunk in col.chunks:
                per_entry = _lookup(c, chunk.dictionary.cast(pa.string()))
                indices = pc.fill_null(chunk.indices, 0).to_numpy(zero_copy_only=False)
                codes = per_entry[indices] if len(per_entry) else np.full(len(chunk), -1)
                if chunk.null_count:
                    codes[~chunk.is_valid().to_numpy(zero_copy_only=False)] = null_code
                out[offset : offset + len(chunk)] = codes
                offset += len(chunk)
            return out
        arr = categorical_values(table, c.name, where, self.missing)
        codes = _lookup(c, arr)
        if arr.null_count:
            codes[~arr.is_valid().to_numpy(zero_copy_only=False)] = null_code
        return codes


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
    codes = _level_codes(c)
    unseen = len(c.levels) if c.infrequent else -1
    get = codes.get
    return np.fromiter((get(v, unseen) for v in values.to_pylist()), np.int64, len(values))


#: The level codes of the columns looked up lately in this process, by id: a column of a
#: million levels builds its table once, not once per block and row group (pyarrow's
#: ``index_in`` hashes its whole value set on every call).
_LEVEL_CODES: dict[int, tuple[ColumnCode, dict[Level, int]]] = {}
_LEVEL_CODES_KEPT = 256


def _level_codes(c: ColumnCode) -> dict[Level, int]:
    """Column ``c``'s levels (no null) -> their indicator's index: the frequent ones in
    order, the infrequent ones that of "(infrequent)"."""
    hit = _LEVEL_CODES.get(id(c))
    if hit is not None and hit[0] is c:
        return hit[1]
    codes: dict[Level, int] = {v: len(c.levels) for v in c.infrequent if v is not None}
    codes.update((v, i) for i, v in enumerate(c.levels) if v is not None)
    if len(_LEVEL_CODES) >= _LEVEL_CODES_KEPT:
        _LEVEL_CODES.pop(next(iter(_LEVEL_CODES)))
    _LEVEL_CODES[id(c)] = (c, codes)
    return codes


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
    return ColumnCode(name, c["kind"], tuple(levels), tuple(rare))


# ---------------------------------------------------------------------- learning it
def block_stats(
    table: pa.Table,
    kinds: Sequence[tuple[str, str]],
    weight: np.ndarray | None,
    where: _Where,
    missing: str,
    max_categories: int | None,
    log1p: Sequence[str] = (),
) -> dict[str, Any]:
    """One block's summary per column. Categorical and bag: ``("levels", values, counts)``,
    a pyarrow Array of its distinct levels (string, int64 or bool; the null level once, as a
    null; unordered; a bag's tokens) and an int64 array of their row counts (a dictionary
    column's: a bincount of its indices), or ``("many", n_distinct, True)`` over
    ``max_categories``. Numeric: ``("numeric", n_missing, weighted sum, weight sum)`` of the
    present values (of log(1 + x) for ``log1p``'s)."""
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
                values, counts = _dictionary_counts(table.column(name))
            else:
                found = pc.value_counts(categorical_values(table, name, where, missing))
                values = found.field("values")
                counts = found.field("counts").to_numpy(zero_copy_only=False)
            if len(values) > max_categories:
                out[name] = ("many", len(values), True)
            else:
                out[name] = ("levels", values, counts.astype(np.int64, copy=False))
        else:
            values_, mask = numeric_values(
                table, name, where, missing, "log1p" if name in log1p else ""
            )
            present = ~mask if mask is not None else None
            v = values_ if present is None else values_[present]
            w = weight if weight is None or present is None else weight[present]
            v = v.astype(np.float64, copy=False)
            total = float(v.sum()) if w is None else float(w @ v)
            wsum = float(len(v)) if w is None else float(w.sum())
            out[name] = ("numeric", int(0 if mask is None else mask.sum()), total, wsum)
    return out


def _dictionary_counts(col: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """(distinct values, their counts) of a dictionary-encoded string column: a bincount
    of the indices per chunk (no string decoded per row), merged by value."""
    values, counts = [pa.array([], pa.string())], [np.zeros(0, np.int64)]
    for chunk in col.chunks:
        ind, nulls = chunk.indices, chunk.null_count
        if nulls:  # the indices under nulls are undefined: masked out unread
            raw = np.frombuffer(ind.buffers()[1], ind.type.to_pandas_dtype())[ind.offset :]
            raw = raw[: len(ind)][chunk.is_valid().to_numpy(False)]
        else:
            raw = ind.to_numpy()
        n = np.bincount(raw, minlength=len(chunk.dictionary))
        values.append(chunk.dictionary.cast(pa.string()).filter(pa.array(n > 0)))
        values += [pa.nulls(1, pa.string())] if nulls else []
        counts += [n[n > 0], np.array([nulls])] if nulls else [n[n > 0]]
    if len(col.chunks) == 1:  # one dictionary: its values are distinct (see _split_levels)
        return pa.concat_arrays(values), np.concatenate(counts)
    return _summed(values, counts)


def _summed(
    values: Sequence[pa.Array], counts: Sequence[np.ndarray]
) -> tuple[pa.Array, np.ndarray]:
    """Counts of the same value added up: (distinct values, int64 counts) of the
    concatenated ``values`` (one type, or null arrays beside it) and their ``counts``."""
    t = next((a.type for a in values if a.type != pa.null()), pa.null())
    arr = pa.concat_arrays([a if a.type == t else a.cast(t) for a in values])
    enc = pc.dictionary_encode(arr, null_encoding="encode")
    n = np.concatenate([np.asarray(c, dtype=np.int64) for c in counts])
    total = np.bincount(enc.indices.to_numpy(), weights=n, minlength=len(enc.dictionary))
    return enc.dictionary, total.astype(np.int64)  # (float64 sums: exact below 2^53)


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
        elif len(found) > 1:
            values, n = _summed([s[1] for s in found], [s[2] for s in found])
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
        frequent, rare = _split_levels(values, counts, min_frequency)
        cols.append(ColumnCode(name, BAG if kind in BAG_KINDS else CATEGORICAL, frequent, rare))
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
) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
    """The levels seen at least ``min_frequency`` times and the rarer ones, each sorted by
    :func:`level_key` (values in their natural order, the null level last: Arrow's sort of
    strings is by UTF-8 bytes, which is Python's order of code points)."""
    order = pc.array_sort_indices(values, null_placement="at_end")
    ranked = values.take(order)
    if len(ranked) > 1 and pc.any(pc.equal(ranked[1:], ranked[:-1])).as_py():
        return _split_levels(*_summed([values], [counts]), min_frequency)  # a repeated value
    keep = counts[order.to_numpy(zero_copy_only=False)] >= min_frequency
    frequent = ranked.filter(pa.array(keep)).to_pylist()
    rare = ranked.filter(pa.array(~keep)).to_pylist() if not keep.all() else []
    return tuple(frequent), tuple(rare)


def _hashed(name: str, s: Any, max_categories: int | None, named: Sequence[str] | None) -> bool:
    from .hashing import hashed_by_default

    if named is not None:
        return name in named
    return s is None or s[0] == "many" or hashed_by_default(len(s[1]), max_categories)
