"""Criteo-shaped click logs with a known logistic ground truth, streamed row group by row group.

The shape of the Criteo Kaggle display-advertising set (45,840,617 rows): a 0/1 ``label``
(about 25 % positives), 13 integer count columns ``I1 .. I13`` with nulls and 26 string
columns ``C1 .. C26`` (8 hex digits, as Criteo's hashed values) with nulls in some.

Conventions
-----------
- Column ``Cj`` has a vocabulary of ``L_j = max(min(K_j, MIN_LEVELS), round(K_j * rows /
  CRITEO_ROWS))`` levels, ``K_j`` its published cardinality (:data:`CRITEO_CARDINALITIES`), and
  its values follow a Zipf law of exponent 1 over them: level ``k`` (0 the most frequent) has
  probability ``log((k + 2) / (k + 1)) / log(L_j + 1)``. The long-tailed columns therefore show
  fewer distinct values than ``L_j`` in the data (about 60 % of ``L_j`` for C3 at 200 k rows).
- Level ``k`` of column ``Cj`` is the string of 8 hex digits of a bijective 32-bit mix of
  ``(j, k)``: :func:`level_codes` inverts it, so the truth is computable from the strings alone.
- The integer columns are counts ``floor(expm1(loc_i + scale_i * t))``, ``t ~ N(0, 1)``.
- The ground truth: ``z = intercept + sum_i coef_i * (log1p(I_i) - loc_i) / scale_i + sum_j
  effect_j(level)``, null values contributing 0; ``label ~ Bernoulli(sigmoid(z))``. A level's
  effect is ``N(0, CAT_EFFECT_SCALE**2)``, computed from a hash of ``(seed, j, k)`` (no table of
  millions of effects is kept); ``coef_i ~ N(0, INT_EFFECT_SCALE**2)``. The intercept is solved
  on a pilot sample so that the positive rate is ``POSITIVE_RATE``.
- Rows are generated in chunks of :data:`CHUNK_ROWS`, chunk ``k`` from its own seeded stream:
  the rows depend only on ``rows`` and ``seed``, not on the files, days or row groups.
- Strings are written as Parquet dictionary-encoded columns, one dictionary (the levels present)
  per row group; they read back as plain strings. The truth goes into ``out/true_weights.json``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy.optimize import brentq
from scipy.special import expit, ndtri

from .generate import partition_layout, staged

__all__ = [
    "CAT_COLUMNS",
    "CRITEO_CARDINALITIES",
    "CRITEO_ROWS",
    "INT_COLUMNS",
    "LABEL",
    "CtrTruth",
    "ctr_cardinalities",
    "ctr_truth",
    "generate_ctr",
    "level_codes",
    "level_strings",
    "true_margin",
]

CRITEO_ROWS = 45_840_617
#: Distinct values of C1 .. C26 in the Criteo Kaggle training set, as published with Facebook's
#: DLRM (its Criteo Kaggle embedding sizes, ``ln_emb`` of ``bench/dlrm_s_criteo_kaggle.sh``, also
#: quoted by TorchRec and by PyTorch's data-sparsifier benchmark).
CRITEO_CARDINALITIES = (
    1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
    27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572,
)  # fmt: skip
#: Null rates of I1 .. I13 and C1 .. C26, rounded from the commonly reported ones of that set.
INT_NULL_RATES = (0.45, 0.0, 0.21, 0.22, 0.03, 0.22, 0.04, 0.0005, 0.04, 0.45, 0.04, 0.77, 0.22)
CAT_NULL_RATES = (0.0,) * 2 + (0.034, 0.034) + (0.0,) * 7 + (0.034, 0.0, 0.0, 0.0, 0.034) + (
    0.0, 0.0, 0.44, 0.44, 0.034, 0.76, 0.0, 0.034, 0.44, 0.44
)  # fmt: skip
#: (loc, scale) of log1p of each count column: small counts, large counts and heavy tails.
INT_SHAPES = (
    (0.8, 0.9), (2.5, 1.5), (1.8, 1.2), (1.6, 1.0), (7.5, 2.0), (3.5, 1.6), (1.3, 1.2),
    (2.3, 1.0), (3.5, 1.2), (0.4, 0.5), (1.0, 0.8), (0.3, 0.8), (1.6, 1.0),
)  # fmt: skip
INT_COLUMNS = tuple(f"I{i}" for i in range(1, 14))
CAT_COLUMNS = tuple(f"C{j}" for j in range(1, 27))
LABEL = "label"
MIN_LEVELS = 10
POSITIVE_RATE = 0.25
CAT_EFFECT_SCALE = 0.25
INT_EFFECT_SCALE = 0.25
CHUNK_ROWS = 65_536
TABLE_LEVELS = 1 << 20  # effects of columns up to this size are tabulated
PILOT_ROWS = 65_536

_M32 = np.uint64(0xFFFFFFFF)
_MIX = (0x7FEB352D, 0x846CA68B)  # the two multipliers of a 32-bit "lowbias" integer hash
_UNMIX = tuple(pow(c, -1, 2**32) for c in _MIX)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@dataclass(frozen=True)
class CtrTruth:
    """The ground truth of a generated click log (see the module's conventions)."""

    seed: int
    rows: int
    intercept: float
    int_coef: tuple[float, ...]
    cardinalities: tuple[int, ...]
    int_shapes: tuple[tuple[float, float], ...] = INT_SHAPES
    int_null_rates: tuple[float, ...] = INT_NULL_RATES
    cat_null_rates: tuple[float, ...] = CAT_NULL_RATES
    cat_effect_scale: float = CAT_EFFECT_SCALE

    def effects(self, j: int, codes: np.ndarray) -> np.ndarray:
        """The effects on the margin of levels ``codes`` of column ``C{j+1}`` (float64)."""
        if self.cardinalities[j] <= TABLE_LEVELS:
            return _effect_table(self, j)[codes]
        return self.hashed_effects(j, codes)

    def hashed_effects(self, j: int, codes: np.ndarray) -> np.ndarray:
        """:meth:`effects` from the hash of (seed, j, level), without a table."""
        key = (np.uint64(self.seed & 0xFFFFFFFF) << np.uint64(32)) ^ np.uint64(j << 27)
        x = _splitmix64(key ^ codes.astype(np.uint64))
        u = ((x >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
        return self.cat_effect_scale * ndtri(u)


@functools.lru_cache(maxsize=64)
def _effect_table(truth: CtrTruth, j: int) -> np.ndarray:
    """The effects of every level of column ``C{j+1}``: a table of at most TABLE_LEVELS."""
    return truth.hashed_effects(j, np.arange(truth.cardinalities[j]))


def ctr_cardinalities(rows: int) -> tuple[int, ...]:
    """The vocabulary sizes of C1 .. C26 at ``rows`` rows: Criteo's scaled, at least a few."""
    return tuple(
        max(min(k, MIN_LEVELS), round(k * rows / CRITEO_ROWS)) for k in CRITEO_CARDINALITIES
    )


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _mix32(x: np.ndarray, constants: tuple[int, int], shifts: tuple[int, int, int]) -> np.ndarray:
    """x ^= x >> s0; x *= c0; x ^= x >> s1; x *= c1; x ^= x >> s2 (mod 2**32, in uint64)."""
    for i, s in enumerate(shifts):
        x = x ^ (x >> np.uint64(s))
        if i < 2:
            x = (x * np.uint64(constants[i])) & _M32
    return x


def _unshift(x: np.ndarray, s: int) -> np.ndarray:
    """The inverse of x ^= x >> s on 32 bits."""
    y = x
    for _ in range(32 // s):
        y = x ^ (y >> np.uint64(s))
    return y


def level_strings(j: int, codes: np.ndarray) -> pa.StringArray:
    """The values (8 lower-case hex digits) of levels ``codes`` of column ``C{j+1}``."""
    x = _mix32((codes.astype(np.uint64) | np.uint64(j << 27)), _MIX, (16, 15, 16))
    shifts = np.arange(28, -4, -4, dtype=np.uint64)
    digits = _HEX[((x[:, None] >> shifts) & np.uint64(15)).astype(np.intp)]
    offsets = np.arange(0, 8 * (len(codes) + 1), 8, dtype=np.int32)
    return pa.StringArray.from_buffers(len(codes), pa.py_buffer(offsets), pa.py_buffer(digits))


def level_codes(j: int, values: Any) -> np.ndarray:
    """The levels (int64) of the strings ``values`` of column ``C{j+1}``; -1 for a null or a
    string this generator does not write for that column."""
    arr = pa.array(values, type=pa.string()) if not isinstance(values, pa.Array) else values
    arr = arr.cast(pa.string())
    ok = np.asarray(pc.fill_null(pc.equal(pc.binary_length(arr), 8), False))
    filled = pc.if_else(ok, arr, "zzzzzzzz").to_numpy(zero_copy_only=False).astype("S8")
    raw = np.frombuffer(np.ascontiguousarray(filled).tobytes(), dtype=np.uint8).reshape(-1, 8)
    nib = np.where(raw >= ord("a"), raw - ord("a") + 10, raw - ord("0")).astype(np.uint64)
    ok &= ((raw >= ord("0")) & (raw <= ord("9")) | (raw >= ord("a")) & (raw <= ord("f"))).all(1)
    x = (nib << np.arange(28, -4, -4, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)
    x = _unshift(x, 16)
    x = (x * np.uint64(_UNMIX[1])) & _M32
    x = _unshift(x, 15)
    x = (x * np.uint64(_UNMIX[0])) & _M32
    x = _unshift(x, 16)
    ok &= (x >> np.uint64(27)) == j
    return np.where(ok, (x & np.uint64((1 << 27) - 1)).astype(np.int64), -1)


# ------------------------------------------------------------------ rows
def _draw(rng: np.random.Generator, n: int, truth: CtrTruth) -> tuple[list, list, np.ndarray]:
    """n rows: count columns (values, null masks), level codes (-1: null), margins z - b."""
    z = np.zeros(n)
    ints = []
    for (loc, scale), rate, c in zip(
        truth.int_shapes, truth.int_null_rates, truth.int_coef, strict=True
    ):
        t = rng.standard_normal(n, dtype=np.float32)
        counts = np.floor(np.expm1(np.maximum(loc + scale * t.astype(np.float64), 0.0)))
        null = rng.random(n, dtype=np.float32) < rate if rate else np.zeros(n, dtype=bool)
        z += np.where(null, 0.0, c * (np.log1p(counts) - loc) / scale)
        ints.append((counts.astype(np.int32), null))
    cats = []
    for j, (levels, rate) in enumerate(zip(truth.cardinalities, truth.cat_null_rates, strict=True)):
        u = rng.random(n)
        codes = np.minimum(np.exp(u * np.log1p(levels)).astype(np.int64) - 1, levels - 1)
        effect = truth.effects(j, codes)
        if rate:
            null = rng.random(n, dtype=np.float32) < rate
            codes[null] = -1
            effect[null] = 0.0
        z += effect
        cats.append(codes)
    return ints, cats, z


def _chunk(k: int, truth: CtrTruth) -> tuple[list, list, np.ndarray]:
    """Chunk ``k`` of the rows: as :func:`_draw`, with the labels in place of the margins."""
    rng = np.random.default_rng(np.random.SeedSequence(truth.seed, spawn_key=(3, k)))
    ints, cats, z = _draw(rng, CHUNK_ROWS, truth)
    y = (rng.random(CHUNK_ROWS) < expit(z + truth.intercept)).astype(np.int8)
    return ints, cats, y


def ctr_truth(rows: int, seed: int = 0) -> CtrTruth:
    """The ground truth :func:`generate_ctr` uses for ``rows`` and ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,)))
    coef = tuple(float(c) for c in rng.normal(0.0, INT_EFFECT_SCALE, size=len(INT_COLUMNS)))
    truth = CtrTruth(seed, rows, 0.0, coef, ctr_cardinalities(rows))
    pilot = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(4,)))
    z = _draw(pilot, PILOT_ROWS, truth)[2]
    b = brentq(lambda b: float(expit(z + b).mean()) - POSITIVE_RATE, -20.0, 20.0, xtol=1e-10)
    return CtrTruth(seed, rows, float(b), coef, truth.cardinalities)


def true_margin(table: pa.Table, truth: CtrTruth) -> np.ndarray:
    """The true margin z of each row of ``table`` (columns as written, strings or dictionaries)."""
    z = np.full(table.num_rows, truth.intercept)
    for name, (loc, scale), c in zip(INT_COLUMNS, truth.int_shapes, truth.int_coef, strict=True):
        col = table.column(name)
        x = col.to_numpy(zero_copy_only=False).astype(np.float64)  # nulls: NaN
        z += np.nan_to_num(c * (np.log1p(x) - loc) / scale, nan=0.0)
    for j, name in enumerate(CAT_COLUMNS):
        codes = level_codes(j, table.column(name).combine_chunks())
        z += np.where(codes >= 0, truth.effects(j, np.maximum(codes, 0)), 0.0)
    return z


# ------------------------------------------------------------------ writing
def _schema() -> pa.Schema:
    return pa.schema(
        [pa.field(LABEL, pa.int8(), nullable=False)]
        + [pa.field(n, pa.int32()) for n in INT_COLUMNS]
        + [pa.field(n, pa.dictionary(pa.int32(), pa.string())) for n in CAT_COLUMNS]
    )


def _dictionary(j: int, codes: np.ndarray, levels: int) -> pa.DictionaryArray:
    """Codes (-1: null) as a dictionary array of the levels present, in level order."""
    null = codes < 0
    valid = codes[~null]
    if levels <= 8 * len(codes):  # a presence table: O(rows + levels), no sort
        present = np.zeros(levels, dtype=bool)
        present[valid] = True
        used = np.flatnonzero(present)
        remap = np.cumsum(present, dtype=np.int32) - 1
        index = remap[np.maximum(codes, 0)]
    else:
        used, inverse = np.unique(valid, return_inverse=True)
        index = np.zeros(len(codes), dtype=np.int32)
        index[~null] = inverse
    indices = pa.array(index.astype(np.int32), mask=null)
    return pa.DictionaryArray.from_arrays(indices, level_strings(j, used))


class _Chunks:
    """Chunks by number, the last one kept: row groups smaller than a chunk draw it once."""

    def __init__(self, truth: CtrTruth) -> None:
        self.truth = truth
        self.last: tuple[int, Any] = (-1, None)

    def __call__(self, k: int) -> tuple[list, list, np.ndarray]:
        if self.last[0] != k:
            self.last = (-1, None)  # free the old chunk before drawing the next
            self.last = (k, _chunk(k, self.truth))
        return self.last[1]


def _row_group(lo: int, hi: int, chunks: _Chunks, schema: pa.Schema) -> pa.Table:
    truth = chunks.truth
    pieces = []
    k = lo // CHUNK_ROWS
    while lo < hi:
        ints, cats, y = chunks(k)
        a, b = lo - k * CHUNK_ROWS, min(hi - k * CHUNK_ROWS, CHUNK_ROWS)
        pieces.append(([(v[a:b], m[a:b]) for v, m in ints], [c[a:b] for c in cats], y[a:b]))
        lo, k = k * CHUNK_ROWS + b, k + 1
    columns: list[pa.Array] = [pa.array(np.concatenate([p[2] for p in pieces]))]
    for i in range(len(INT_COLUMNS)):
        values = np.concatenate([p[0][i][0] for p in pieces])
        columns.append(pa.array(values, mask=np.concatenate([p[0][i][1] for p in pieces])))
    for j, levels in enumerate(truth.cardinalities):
        columns.append(_dictionary(j, np.concatenate([p[1][j] for p in pieces]), levels))
    return pa.Table.from_arrays(columns, schema=schema)


def generate_ctr(
    out: str | Path,
    rows: int,
    *,
    files: int = 1,
    seed: int = 0,
    row_group_size: int = 250_000,
    days: int | None = None,
    end_date: dt.date | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write a Criteo-shaped click log of ``rows`` rows under ``out``; return ``out``.

    ``files`` part files (a day with ``days``: ``date=YYYY-MM-DD`` partitions ending at
    ``end_date``, see :func:`logloss.generate.partition_layout`), row groups of at most
    ``row_group_size`` rows; memory stays around one row group. ``progress`` is called with the
    rows written so far after each row group. Raises ``FileExistsError`` if ``out`` exists and
    is not an empty directory, ``ValueError`` for a count that is not positive.
    """
    if rows < 1 or files < 1 or row_group_size < 1:
        raise ValueError(
            f"rows, files and row_group_size must be positive; got {rows}, {files}, "
            f"{row_group_size}"
        )
    layout = partition_layout(rows, files, days, end_date)
    truth = ctr_truth(rows, seed)
    schema = _schema()
    chunks = _Chunks(truth)
    with staged(out) as tmp:
        written = 0
        for part in layout:
            (tmp / part.path).parent.mkdir(parents=True, exist_ok=True)
            with pq.ParquetWriter(
                tmp / part.path,
                schema,
                store_schema=False,  # the strings read back as strings, not dictionaries
                write_statistics=[LABEL, *INT_COLUMNS],  # min/max of hashed ids: costly, useless
                dictionary_pagesize_limit=64 << 20,  # one dictionary even for 10 M levels
            ) as writer:
                for lo in range(part.start, part.stop, row_group_size):
                    hi = min(lo + row_group_size, part.stop)
                    table = _row_group(lo, hi, chunks, schema)
                    writer.write_table(table, row_group_size=hi - lo)
                    written += hi - lo
                    if progress is not None:
                        progress(written)
        meta = {"kind": "ctr", "label": LABEL, **asdict(truth), "files": files, "days": days}
        meta.update(int_columns=INT_COLUMNS, cat_columns=CAT_COLUMNS, zipf_exponent=1.0)
        (tmp / "true_weights.json").write_text(json.dumps(meta, indent=2) + "\n")
    return Path(out)
