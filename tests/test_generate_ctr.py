"""Tests for the Criteo-shaped click logs of logloss.generate_ctr and the --days partitions."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pds
import pyarrow.parquet as pq
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder

from logloss.generate import generate, partition_layout
from logloss.generate_ctr import (
    CAT_COLUMNS,
    CAT_NULL_RATES,
    CRITEO_CARDINALITIES,
    CRITEO_ROWS,
    INT_COLUMNS,
    INT_NULL_RATES,
    LABEL,
    ctr_cardinalities,
    ctr_truth,
    generate_ctr,
    level_codes,
    level_strings,
    true_margin,
)

ROWS = 100_000


def read(out: Path) -> pa.Table:
    return pds.dataset(str(out), format="parquet", exclude_invalid_files=True).to_table()


@pytest.fixture(scope="module")
def ctr(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    out = generate_ctr(tmp_path_factory.mktemp("ctr") / "d", ROWS, files=2, seed=5)
    return out, read(out)


def test_schema_and_files(ctr: tuple[Path, pa.Table]) -> None:
    out, table = ctr
    assert sorted(p.name for p in out.iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
        "true_weights.json",
    ]
    assert table.column_names == [LABEL, *INT_COLUMNS, *CAT_COLUMNS]
    assert len(INT_COLUMNS) == 13 and len(CAT_COLUMNS) == 26 and table.num_rows == ROWS
    assert table.schema.field(LABEL).type == pa.int8()
    assert {table.schema.field(c).type for c in INT_COLUMNS} == {pa.int32()}
    assert {table.schema.field(c).type for c in CAT_COLUMNS} == {pa.string()}  # not dictionary
    assert set(np.unique(table.column(LABEL).to_numpy())) == {0, 1}
    meta = json.loads((out / "true_weights.json").read_text())
    assert meta["kind"] == "ctr" and meta["rows"] == ROWS and meta["seed"] == 5
    assert meta["cardinalities"] == list(ctr_cardinalities(ROWS))


def test_strings_are_dictionary_encoded(ctr: tuple[Path, pa.Table]) -> None:
    out, _ = ctr
    meta = pq.ParquetFile(out / "part-00000.parquet").metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    for i, name in enumerate(names):
        chunk = meta.row_group(0).column(i)
        if name in CAT_COLUMNS:
            assert chunk.has_dictionary_page and "PLAIN" not in _data_encodings(chunk), name


def _data_encodings(chunk: pq.ColumnChunkMetaData) -> set[str]:
    """Encodings of the data pages (the dictionary page itself is PLAIN)."""
    stats = getattr(chunk, "encoding_stats", None)
    if stats is None:  # older pyarrow: no per-page statistics
        return {e for e in chunk.encodings if e != "PLAIN"}
    return {s.encoding for s in stats if s.page_type != "DICTIONARY_PAGE"}


def test_cardinalities_follow_criteo_scaled() -> None:
    assert ctr_cardinalities(CRITEO_ROWS) == CRITEO_CARDINALITIES
    assert max(CRITEO_CARDINALITIES) == 10_131_227 and min(CRITEO_CARDINALITIES) == 3
    small = ctr_cardinalities(10)
    assert small == tuple(min(k, 10) for k in CRITEO_CARDINALITIES)  # at least a few levels
    at = ctr_cardinalities(4_584_062)  # a tenth of Criteo
    for k, levels in zip(CRITEO_CARDINALITIES, at, strict=True):
        assert levels == max(min(k, 10), round(k * 4_584_062 / CRITEO_ROWS))
    assert at[2] == 1_013_123 and at[8] == 3


def test_observed_levels_and_zipf_frequencies(ctr: tuple[Path, pa.Table]) -> None:
    _, table = ctr
    vocab = ctr_cardinalities(ROWS)
    for j, name in enumerate(CAT_COLUMNS):
        codes = level_codes(j, table.column(name).combine_chunks())
        seen = np.unique(codes[codes >= 0])
        assert seen.size and seen.max() < vocab[j], name  # every value is a level of the column
        if vocab[j] <= 1_000:
            assert seen.size == vocab[j], name  # every level of a small column occurs
        else:
            assert seen.size > 0.5 * vocab[j], (name, seen.size, vocab[j])
        valid = codes[codes >= 0]
        top = np.mean(valid == 0)  # Zipf(1): P(level 0) = log 2 / log(L + 1)
        expected = math.log(2) / math.log(vocab[j] + 1)
        assert abs(top - expected) < 5 * math.sqrt(expected / valid.size) + 1e-3, name
    c3 = np.bincount(level_codes(2, table.column("C3").combine_chunks()).clip(0))
    assert c3[:10].sum() > 20 * c3[-1000:].sum() / 100  # a head far above the tail


def test_null_rates(ctr: tuple[Path, pa.Table]) -> None:
    _, table = ctr
    for names, rates in ((INT_COLUMNS, INT_NULL_RATES), (CAT_COLUMNS, CAT_NULL_RATES)):
        for name, rate in zip(names, rates, strict=True):
            got = table.column(name).null_count / ROWS
            assert abs(got - rate) < 5 * math.sqrt(rate * (1 - rate) / ROWS) + 1e-4, name
    assert table.column(LABEL).null_count == 0
    assert any(r > 0.4 for r in INT_NULL_RATES) and any(r > 0.4 for r in CAT_NULL_RATES)


def test_counts_are_non_negative_with_heavy_tails(ctr: tuple[Path, pa.Table]) -> None:
    _, table = ctr
    for name in INT_COLUMNS:
        x = table.column(name).drop_null().to_numpy()
        assert x.min() >= 0, name
    assert table.column("I5").drop_null().to_numpy().max() > 1e5


@pytest.mark.parametrize("seed", [0, 1])
def test_positive_rate_is_about_a_quarter(tmp_path: Path, seed: int) -> None:
    table = read(generate_ctr(tmp_path / "d", 60_000, seed=seed))
    assert abs(table.column(LABEL).to_numpy().mean() - 0.25) < 0.012


def test_labels_follow_the_true_margin(ctr: tuple[Path, pa.Table]) -> None:
    """A logistic regression of the labels on the true margin: slope 1, intercept 0."""
    _, table = ctr
    z = true_margin(table, ctr_truth(ROWS, seed=5))
    y = table.column(LABEL).to_numpy()
    fit = LogisticRegression(C=np.inf, tol=1e-10).fit(z[:, None], y)
    assert abs(fit.coef_[0, 0] - 1.0) < 0.05 and abs(fit.intercept_[0]) < 0.05
    assert abs(expit(z).mean() - y.mean()) < 0.01
    assert 0.8 < z.std() < 2.0  # a signal of the size of Criteo's, neither trivial nor hopeless


def test_a_one_hot_model_learns_the_truth(ctr: tuple[Path, pa.Table]) -> None:
    _, table = ctr
    df = table.to_pandas()
    y = df.pop(LABEL).to_numpy()
    cats = df[list(CAT_COLUMNS)].fillna("(null)")
    counts = np.log1p(df[list(INT_COLUMNS)].to_numpy(dtype=float))
    counts = np.nan_to_num((counts - np.nanmean(counts, 0)) / np.nanstd(counts, 0))
    enc = OneHotEncoder(min_frequency=10, handle_unknown="infrequent_if_exist")
    split = int(0.8 * ROWS)
    from scipy.sparse import csr_matrix, hstack

    Xtr = hstack([enc.fit_transform(cats[:split]), csr_matrix(counts[:split])]).tocsr()
    Xte = hstack([enc.transform(cats[split:]), csr_matrix(counts[split:])]).tocsr()
    p = LogisticRegression(C=0.1, max_iter=100).fit(Xtr, y[:split]).predict_proba(Xte)[:, 1]
    yt = y[split:]

    def loss(q: np.ndarray) -> float:
        return float(-np.mean(yt * np.log(q) + (1 - yt) * np.log1p(-q)))

    base = loss(np.full(yt.size, y[:split].mean()))
    best = loss(expit(true_margin(table.slice(split), ctr_truth(ROWS, seed=5))))
    learnt = loss(p)
    assert best < learnt < base - 0.03, (best, learnt, base)


def test_level_strings_and_codes_invert_each_other() -> None:
    rng = np.random.default_rng(0)
    for j in (0, 2, 25):
        codes = rng.integers(0, 10_131_227, size=5_000)
        values = level_strings(j, codes)
        assert all(len(v) == 8 for v in values.to_pylist()[:50])
        assert len(set(values.to_pylist())) == len(set(codes.tolist()))
        np.testing.assert_array_equal(level_codes(j, values), codes)
    other = level_strings(1, np.arange(5))
    assert (level_codes(0, other) == -1).all()  # another column's values
    got = level_codes(0, pa.array([None, "xyz", "0123456789", "ghijklmn", "ABCDEF12"]))
    assert (got == -1).all()


def test_rows_depend_only_on_rows_and_seed(tmp_path: Path, ctr: tuple[Path, pa.Table]) -> None:
    _, table = ctr
    split = read(
        generate_ctr(
            tmp_path / "a",
            ROWS,
            files=3,
            seed=5,
            row_group_size=7_001,
            days=2,
            end_date=dt.date(2024, 2, 29),
        )
    )
    assert split.equals(table.cast(split.schema))
    other = read(generate_ctr(tmp_path / "b", ROWS, seed=6))
    assert not other.column("C1").equals(table.column("C1"))
    assert not other.column(LABEL).equals(table.column(LABEL))


def test_row_groups_bound_the_memory(tmp_path: Path) -> None:
    out = generate_ctr(tmp_path / "rg", 50_001, files=2, row_group_size=10_000)
    groups = [pq.ParquetFile(p).metadata.num_row_groups for p in sorted(out.glob("*.parquet"))]
    assert groups == [3, 3]  # 25,000 and 25,001 rows

    def peak(rows: int) -> int:
        tracemalloc.start()
        try:
            generate_ctr(tmp_path / f"m{rows}", rows, row_group_size=20_000)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(100_000), peak(400_000)
    assert large < 1.3 * small, (small, large)  # one chunk and one row group, whatever the rows
    assert large < 400_000 * 39 * 8 / 2  # far below all the rows at once


def test_days_write_date_partitions(tmp_path: Path) -> None:
    out = generate_ctr(tmp_path / "d", 30_001, files=2, days=3, end_date=dt.date(2024, 3, 1))
    days = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert days == ["date=2024-02-28", "date=2024-02-29", "date=2024-03-01"]
    for d in days:
        assert sorted(p.name for p in (out / d).iterdir()) == [
            "part-00000.parquet",
            "part-00001.parquet",
        ]
    per_day = [
        sum(pq.ParquetFile(p).metadata.num_rows for p in (out / d).glob("*.parquet")) for d in days
    ]
    assert per_day == [10_000, 10_000, 10_001]
    table = pds.dataset(str(out / days[0]), format="parquet").to_table()
    assert table.num_rows == 10_000 and "date" not in table.column_names
    hive = pds.dataset(str(out), format="parquet", partitioning="hive", exclude_invalid_files=True)
    assert "date" in hive.schema.names
    assert json.loads((out / "true_weights.json").read_text())["days"] == 3


def test_days_default_to_ending_today_utc() -> None:
    today = dt.datetime.now(dt.UTC).date()
    parts = partition_layout(10, 1, days=2)
    assert [p.path for p in parts] == [
        f"date={today - dt.timedelta(days=1)}/part-00000.parquet",
        f"date={today}/part-00000.parquet",
    ]
    assert [(p.start, p.stop) for p in parts] == [(0, 5), (5, 10)]
    assert [p.path for p in partition_layout(10, 2)] == ["part-00000.parquet", "part-00001.parquet"]


def test_dense_data_with_days_has_the_same_rows(tmp_path: Path) -> None:
    flat = read(generate(tmp_path / "a", 9_000, 3, 1, seed=2))
    out = generate(tmp_path / "b", 9_000, 3, 2, seed=2, days=4, end_date=dt.date(2025, 1, 2))
    assert len([p for p in out.iterdir() if p.name.startswith("date=2025-01-0")]) == 2
    assert len(list(out.glob("date=*/part-*.parquet"))) == 8
    assert read(out).equals(flat)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rows": 0},
        {"rows": 10, "files": 0},
        {"rows": 10, "days": 0},
        {"rows": 10, "files": 2, "days": 6},
        {"rows": 10, "row_group_size": 0},
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate_ctr(tmp_path / "d", **kwargs)
    assert list(tmp_path.iterdir()) == []


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "logloss.cli", "generate", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_cli_writes_ctr_data(tmp_path: Path) -> None:
    proc = run_cli("ctr", "--rows", "5000", "--days", "2", "--end-date", "2024-01-01", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "--label label" in proc.stderr
    assert sorted(p.name for p in (tmp_path / "ctr").iterdir()) == [
        "date=2023-12-31",
        "date=2024-01-01",
        "true_weights.json",
    ]
    proc = run_cli("ctr", "--rows", "100", "--out", "x", "--seed", "3", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr.startswith("wrote 100 rows")
    assert read(tmp_path / "x").num_rows == 100


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["ctr", "--rows", "0"], "--rows"),
        (["ctr", "--rows", "10", "--days", "0"], "--days"),
        (["ctr", "o", "--rows", "10", "--days", "-1"], "--days"),
        (["ctr", "o", "--rows", "10", "--end-date", "2024-13-01", "--days", "1"], "2024-13-01"),
        (["ctr", "o", "--rows", "10", "--end-date", "2024-01-01"], "--end-date needs --days"),
        (["ctr", "o", "--rows", "10", "--features", "3"], "--features"),
        (["o", "--rows", "10"], "--features is required"),
        (["ctr", "o", "p", "--rows", "10"], "[KIND] OUT"),
        (["ctr", "o", "--out", "p", "--rows", "10"], "given twice"),
        (["ctr", "o", "--rows", "5", "--days", "6"], "files must not exceed rows"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert needle in line and "error" in line
    assert list(tmp_path.iterdir()) == []  # nothing written
