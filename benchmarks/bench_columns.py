"""Benchmark 7: what categorical columns cost, whole processes from a shell.

Data: 10 M rows (``--quick``: 200 k) of 15 numeric columns and 5 categorical columns of 3, 5,
8, 12 and 50 levels (dictionary-encoded strings), 2% nulls in every feature column, and a
label drawn from a logistic model of them; 8 files. The baseline is the same data with the
categorical columns pre-encoded as numeric 0/1 columns (one per level and one for a null),
as a user would prepare them. Both runs: ``logloss train DIR --label y --missing impute
--dtype float32 --tol 1e-6 --out M --quiet`` (float32: the 10 M × 113 features take 4.5 GB),
median of ``--repeats`` (default 3) alternated runs, page cache warm. The numeric imputation
(a pass over the numeric columns for their means) is in both; what differs is finding the
levels (a pass over the 5 categorical columns) and building the indicators in each block.

Target (issue "real tabular data"): categorical run <= 1.3x the pre-encoded run.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import Table, data_dir, header, parser, verdict

LEVELS = (3, 5, 8, 12, 50)
N_NUMERIC = 15
NULLS = 0.02
FILES = 8
_SCRIPT = shutil.which("logloss")
LOGLOSS = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "logloss.cli"]


def make(root: Path, rows: int) -> tuple[Path, Path]:
    """(categorical dataset, pre-encoded dataset), reused when they exist."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cat = root / f"columns-{rows}-categorical"
    enc = root / f"columns-{rows}-encoded"
    if (cat / "_done").exists() and (enc / "_done").exists():
        return cat, enc
    for d in (cat, enc):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    coef = rng.normal(size=N_NUMERIC) * 0.5
    effects = [rng.normal(size=k) for k in LEVELS]
    per_file = -(-rows // FILES)
    for f in range(FILES):
        n = min(per_file, rows - f * per_file)
        X = rng.normal(size=(n, N_NUMERIC)).astype(np.float32)
        z = X @ coef
        codes = [rng.integers(0, k, size=n) for k in LEVELS]
        for c, e in zip(codes, effects, strict=True):
            z += e[c]
        y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int8)
        cat_cols: dict[str, pa.Array] = {}
        enc_cols: dict[str, pa.Array] = {}
        for j in range(N_NUMERIC):
            null = rng.random(n) < NULLS
            col = pa.array(X[:, j], mask=null)
            cat_cols[f"x{j}"] = enc_cols[f"x{j}"] = col
        for i, (c, k) in enumerate(zip(codes, LEVELS, strict=True)):
            null = rng.random(n) < NULLS
            names = pa.array([f"level{v:02d}" for v in range(k)])
            indices = pa.array(c.astype(np.int32), mask=null)
            cat_cols[f"c{i}"] = pa.DictionaryArray.from_arrays(indices, names)
            for v in range(k):
                enc_cols[f"c{i}=level{v:02d}"] = pa.array(((c == v) & ~null).astype(np.int8))
            enc_cols[f"c{i}=(null)"] = pa.array(null.astype(np.int8))
        cat_cols["y"] = enc_cols["y"] = pa.array(y)
        pq.write_table(pa.table(cat_cols), cat / f"part-{f:03d}.parquet", row_group_size=250_000)
        pq.write_table(pa.table(enc_cols), enc / f"part-{f:03d}.parquet", row_group_size=250_000)
    for d in (cat, enc):
        (d / "_done").write_text("")
    return cat, enc


def train(path: Path, out: Path) -> float:
    cmd = [*LOGLOSS, "train", str(path), "--label", "y", "--missing", "impute"]
    cmd += ["--dtype", "float32", "--tol", "1e-6", "--quiet", "--out", str(out)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    shutil.rmtree(out, ignore_errors=True)
    return seconds


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    args = p.parse_args()
    header("bench_columns: categorical columns, whole processes", args.quick)
    rows = 200_000 if args.quick else 10_000_000
    repeats = args.repeats or 3
    root = data_dir(args.data_dir)
    cat, enc = make(root, rows)
    for d in (cat, enc):  # warm the page cache
        for f in d.glob("*.parquet"):
            f.read_bytes()
    times: dict[str, list[float]] = {"categorical": [], "pre-encoded 0/1": []}
    for r in range(repeats):
        times["categorical"].append(train(cat, root / f"m-cat-{r}"))
        times["pre-encoded 0/1"].append(train(enc, root / f"m-enc-{r}"))
    t = Table(
        f"logloss train --missing impute, {rows:,} rows: 15 numeric + 5 categorical "
        f"({'+'.join(map(str, LEVELS))} levels), 2% nulls; median of {repeats}",
        "pre-encoded 0/1",
    )
    for name, values in times.items():
        t.add(name, statistics.median(values))
    t.show()
    verdict(f"categorical / pre-encoded at {rows:,} rows", t.ratio("categorical"), 1.3)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
