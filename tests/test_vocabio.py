"""Vocabularies: the counting pass (Arrow / NumPy counts, merged in a bounded tree), the
vocabularies stored binary in the model folder, and ONNX export of coded models.

References: the counting pass against ``collections.Counter`` over the rows and Python's
``sorted`` (the rule the encoding's levels follow: values in their natural order, the null
level last; levels seen fewer than ``min_frequency`` times folded into "(infrequent)");
the stored models against the models they were saved from; the ONNX graphs against the
models' ``predict_proba`` through onnxruntime.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logloss.data import read_parquet
from logloss.data.encoding import (
    CATEGORICAL,
    NUMERIC,
    _Where,
    block_stats,
    learn,
    level_key,
    merge,
)
from logloss.data.errors import DataError


# ------------------------------------------------------------------ the counting pass
def _reference(rows: list, min_frequency: int) -> tuple[tuple, tuple]:
    counts = Counter(rows)
    levels = sorted(counts, key=level_key)
    return (
        tuple(v for v in levels if counts[v] >= min_frequency),
        tuple(v for v in levels if counts[v] < min_frequency),
    )


def _learned(tables: list[pa.Table], min_frequency: int, limit: int | None = None) -> dict:
    kinds = [(n, CATEGORICAL) for n in tables[0].column_names]
    where = _Where("t", int)
    parts = [block_stats(t, kinds, None, where, "impute", None) for t in tables]
    merged = merge(parts, limit=limit)
    enc = learn(
        kinds,
        merged,
        missing="impute",
        max_categories=None,
        min_frequency=min_frequency,
        source="t",
    )
    return {c.name: (c.levels, c.infrequent) for c in enc.columns}


def _words(rng: np.random.Generator, n: int, k: int) -> list:
    pool = [f"w{i}" for i in range(k)] + ["é", "ß", "Z", "a b", "", "日本", "\U0001f600"]
    p = 1.0 / np.arange(1, len(pool) + 1)
    picks = rng.choice(len(pool), size=n, p=p / p.sum())
    out: list = [pool[i] for i in picks]
    for i in rng.choice(n, size=n // 17, replace=False):
        out[i] = None
    return out


@pytest.mark.parametrize("min_frequency", [1, 3, 40])
def test_levels_and_infrequent_equal_a_counter_over_the_rows(min_frequency):
    """Strings (unicode, the empty string, nulls), integers and bools, split into blocks
    of which some are dictionary-encoded with dictionaries that differ between chunks."""
    rng = np.random.default_rng(0)
    n = 3000
    s, i = _words(rng, n, 300), rng.zipf(1.6, size=n).astype(np.int64) % 500 - 250
    b = rng.random(n) < 0.3
    tables = []
    for lo in range(0, n, 700):
        part = pa.table(
            {"s": pa.array(s[lo : lo + 700]), "i": i[lo : lo + 700], "b": b[lo : lo + 700]}
        )
        if lo % 1400 == 0:  # dictionary-encoded, two chunks of their own dictionaries
            half = part.num_rows // 2
            col = pa.chunked_array(
                [
                    part.column("s").chunk(0)[:half].dictionary_encode(),
                    part.column("s").chunk(0)[half:].dictionary_encode(),
                ]
            )
            part = part.set_column(0, "s", col)
        tables.append(part)
    got = _learned(tables, min_frequency)
    assert got["s"] == _reference(s, min_frequency)
    assert got["i"] == _reference(i.tolist(), min_frequency)
    assert got["b"] == _reference(b.tolist(), min_frequency)


def test_counts_flow_as_arrow_values_and_int64_counts():
    t = pa.table({"s": ["b", "a", None, "b"], "x": [1.0, None, 3.0, 4.0]})
    kinds = [("s", CATEGORICAL), ("x", NUMERIC)]
    part = block_stats(t, kinds, None, _Where("t", int), "impute", None)
    kind, values, counts = part["s"]
    assert kind == "levels" and isinstance(values, pa.Array) and counts.dtype == np.int64
    assert dict(zip(values.to_pylist(), counts.tolist(), strict=True)) == {"a": 1, "b": 2, None: 1}
    assert part["x"] == ("numeric", 1, 8.0, 3.0)
    kind, values, counts = merge([part, part])["s"]
    assert dict(zip(values.to_pylist(), counts.tolist(), strict=True)) == {"a": 2, "b": 4, None: 2}
    assert merge([part, part])["x"] == ("numeric", 2, 16.0, 6.0)


def test_a_merge_over_its_limit_keeps_a_count_not_the_levels():
    """The tree of merges holds at most ``limit`` levels a column: more become ("many",
    count, inexact), and learn refuses them naming an "at least" count."""
    kinds = [("id", CATEGORICAL)]
    where = _Where("t", int)
    parts = [
        block_stats(
            pa.table({"id": [f"u{k}" for k in range(j, j + 50)]}),
            kinds,
            None,
            where,
            "impute",
            None,
        )
        for j in range(0, 200, 50)
    ]
    assert merge(parts, limit=200)["id"][0] == "levels"
    assert merge(parts, limit=199)["id"] == ("many", 200, False)
    with pytest.raises(
        DataError, match="'id' has at least 200 distinct values, more than --max-categories 199"
    ):
        learn(
            kinds,
            merge(parts, limit=199),
            missing="impute",
            max_categories=199,
            min_frequency=1,
            source="t",
        )


def test_an_all_distinct_column_over_many_files_is_refused_by_the_tree(tmp_path):
    """37 files (10 merges of at most 4 parts, then 3, then the client's) of ids all
    distinct: the count passes --max-categories in the tree and is refused; under it the
    levels are all there, sorted."""
    for j in range(37):
        ids = [f"id{j:02d}-{k:03d}" for k in range(30)]
        pq.write_table(pa.table({"id": ids, "y": [0, 1] * 15}), tmp_path / f"p{j:02d}.parquet")
    with pytest.raises(DataError, match="'id' has at least"):
        read_parquet(tmp_path, "y", max_categories=500)
    ds = read_parquet(tmp_path, "y", max_categories=37 * 30)
    want = sorted(
        f"id={j:02d}-{k:03d}".replace("=", "=id", 1) for j in range(37) for k in range(30)
    )
    assert ds.feature_names == want


def test_parquet_dictionary_pages_are_counted_as_plain_strings_are(tmp_path):
    """The same rows written with and without dictionary pages learn the same levels."""
    rng = np.random.default_rng(3)
    s = _words(rng, 2000, 60)
    y = (rng.random(2000) < 0.4).astype(np.int8)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    pq.write_table(pa.table({"s": s, "y": y}), a / "1.parquet", row_group_size=300)
    pq.write_table(pa.table({"s": s, "y": y}), b / "1.parquet", use_dictionary=False)
    got = [read_parquet(p, "y", missing="impute", min_frequency=5).encoding for p in (a, b)]
    assert got[0] == got[1]
    assert (got[0].columns[0].levels, got[0].columns[0].infrequent) == _reference(s, 5)


def test_a_dictionary_that_repeats_a_value_counts_it_once():
    """Arrow dictionaries may repeat a value (Parquet's never do): its counts are summed."""
    col = pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 0, 2], pa.int8()), ["q", "q", "a"])
    assert _learned([pa.table({"s": col})], 2) == {"s": (("q",), ("a", None))}
