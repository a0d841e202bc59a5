"""Benchmark: Criteo-shaped click logs, whole processes, against VW, scikit-learn, Spark.

Data: ``logloss.generate_ctr.generate_ctr`` (13 counts with nulls, 26 string columns with
Criteo's cardinalities scaled to the rows, Zipf levels), in 10 files (20 at 10 M, then one
per million rows); the older 80 % of the files are the training set, the newest 20 % the
held-out set (hard links into ``train/`` and ``test/``). ``--quick``: 200 k rows; full: 2 M
and 10 M rows; ``--rows N``: one size. The page cache is warmed first. Every tool sees the
same features: the 26 string columns as categories (tokens
``Cj=value``) and the counts as ``log1p(count)``, a null count as 0 (logloss: ``--log1p
I1,...,I13 --missing impute``, a null count as the mean of the column's log1p plus a missing
indicator). Each command is a fresh process started from a shell, once (a peer's scratch
files deleted and the disk synced before the next starts):

- Vowpal Wabbit (``python -m vowpalwabbit``, when it imports): its user's script converts the
  Parquet to VW text (pyarrow.compute, vectorised), then ``--loss_function logistic -b 24
  --passes 3 -c``. Timed twice: the whole process with the conversion, and VW's training alone
  from its cache file. Held-out: ``-t -i model -p preds`` on the converted held-out set, the
  logistic link applied to the raw predictions.
- scikit-learn: ``OneHotEncoder(min_frequency=10, handle_unknown="infrequent_if_exist")``
  sparse + ``LogisticRegression(C=0.05)``, and ``FeatureHasher(2**20)`` +
  ``LogisticRegression(C=0.05)``; ``max_iter`` 50 (quick) or 500. The time is the process up
  to the end of the fit (its held-out scoring is timed by the script and subtracted).
- Spark local[2] (when Java and pyspark are present; in quick mode only with ``--spark``):
  ``FeatureHasher(numFeatures=2**20)`` + ``LogisticRegression(regParam=1/(C n),
  standardization=False)``, the same objective; ``maxIter`` 10 (quick) or 100.
- logloss: ``logloss train TRAIN --label label --C 0.05 --missing impute --log1p I1,...,I13
  --max-categories 10000000 --min-frequency 10 --standardize`` (every column a vocabulary),
  and ``--hash-bits 20`` instead of ``--max-categories`` (the columns above 1,000 levels
  hashed), then ``logloss evaluate``, at the default tolerance (1e-4), as users run it.
  ``--standardize`` halves the passes (the penalty then applies to standardised
  coefficients; the held-out loss is the same to 1e-5). In quick mode and up to 2 M rows,
  also the vocabulary run with ``--tol 1e-6`` (the 2 M target's objective within 1e-8: at
  the default, it stops about 1e-7 above), and each run's objective against the optimum of
  the same problem, the same command again with ``--tol 1e-10 --max-iter 1000`` (not timed).
  Run with an address-space limit (``--logloss-memory-gb``, default
  4 in quick mode, 90 % of the memory otherwise: a safety net, as address space runs a few GB
  above the resident memory that the target bounds): a dense one-hot that cannot fit fails
  instead of swamping the machine. When it fails, the table says ``cannot: <its error>``.

Printed: time, ratio against VW's training alone from its cache, passes, training rows/s, peak
RSS of the process tree, held-out log loss (the true model's, from the generator's ground
truth, as the floor); then one pass over the same code arrays against its limit, a NumPy
gather + ``np.bincount`` per column.

Targets (issue "categorical columns of any cardinality", at every size here): logloss's
held-out log loss <= the best peer's; its whole process <= 1.0x VW's training alone from its
cache, <= 0.2x VW's whole process, <= 0.2x Spark's; (2 M rows) <= 0.1x scikit-learn's one-hot
script, at an objective within 1e-8 relative of the optimum; (45 M rows, ``--rows 45840617``,
the Criteo set's size) a peak RSS of the process tree <= 60 % of the machine's memory.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import Table, data_dir, have, header, parser, run_process, verdict

LOGLOSS = (
    [shutil.which("logloss") or ""]
    if shutil.which("logloss")
    else [sys.executable, "-m", "logloss.cli"]
)
C = 0.05
MACHINE_BYTES = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
MEMORY_SAFETY = 0.9  # the logloss processes' address-space limit, of the machine's memory
PEAK_TARGET = 0.6  # their process tree's peak resident memory, of the machine's
TOL = "1e-6"  # the extra vocabulary run (up to 2 M rows): the "tens of passes to 1e-6"
OBJECTIVE_TARGET = 1e-8  # their objective above the optimum's, relative (2 M rows)
OPTIMUM = ["--tol", "1e-10", "--max-iter", "1000", "--allow-unconverged"]  # the reference
LOG1P = ["--log1p", ",".join(f"I{i}" for i in range(1, 14))]  # the counts, as the peers see them
FEATURES = "ints = [f'I{i}' for i in range(1, 14)]\ncats = [f'C{j}' for j in range(1, 27)]\n"

VW_CONVERT = """
import sys
import pyarrow as pa, pyarrow.compute as pc, pyarrow.dataset as pds
FEATURES
with open(sys.argv[2], "w") as out:
    for batch in pds.dataset(sys.argv[1], format="parquet").to_batches(batch_size=65536):
        label = pc.if_else(pc.equal(batch.column("label"), 1), "1", "-1")
        num = [
            pc.binary_join_element_wise(
                f"{c}:", pc.cast(pc.round(pc.log1p(pc.cast(batch.column(c), pa.float64())), 4),
                                 pa.string()), "")
            for c in ints
        ]
        cat = [pc.binary_join_element_wise(f"{c}=", batch.column(c), "") for c in cats]
        line = pc.binary_join_element_wise(label, "|i", *num, "|c", *cat, " ",
                                           null_handling="skip")
        out.write("\\n".join(line.to_pylist()))
        out.write("\\n")
"""

SKLEARN = """
import time
T0 = time.perf_counter()
import json, sys
import numpy as np
import pyarrow.dataset as pds
from scipy import sparse
from sklearn.feature_extraction import FeatureHasher
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder
FEATURES
train, test, encoding = sys.argv[1:4]
C, max_iter = float(sys.argv[4]), int(sys.argv[5])

def load(path):
    df = pds.dataset(path, format="parquet").to_table().to_pandas()
    y = df.pop("label").to_numpy()
    nums = sparse.csr_matrix(np.nan_to_num(np.log1p(df[ints].to_numpy(dtype=float))))
    return df[cats], nums, y

def features(strings, nums, enc):
    if encoding == "onehot":
        strings = strings.fillna("")
        codes = enc.fit_transform(strings) if fit else enc.transform(strings)
    else:
        tokens = np.column_stack([(c + "=" + strings[c].fillna("")).to_numpy() for c in cats])
        codes = enc.transform(tokens)
    return sparse.hstack([codes, nums]).tocsr()

if encoding == "onehot":
    enc = OneHotEncoder(min_frequency=10, handle_unknown="infrequent_if_exist")
else:
    enc = FeatureHasher(n_features=2**20, input_type="string")
fit = True
strings, nums, y = load(train)
m = LogisticRegression(C=C, max_iter=max_iter).fit(features(strings, nums, enc), y)
t = time.perf_counter()
fit = False
strings, nums, yt = load(test)
p = np.clip(m.predict_proba(features(strings, nums, enc))[:, 1], 1e-15, 1 - 1e-15)
ll = float(-np.mean(yt * np.log(p) + (1 - yt) * np.log1p(-p)))
print(json.dumps({"log_loss": ll, "passes": int(m.n_iter_[0]), "rows": len(y),
                  "score_seconds": time.perf_counter() - t}))
"""

SPARK = """
import time
T0 = time.perf_counter()
import json, sys
from pyspark.sql import SparkSession, functions as F
from pyspark.ml.feature import FeatureHasher
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.functions import vector_to_array
FEATURES
train, test, C, max_iter = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.driver.memory", "4g").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")

def load(path):
    df = spark.read.parquet(path).withColumn("label", F.col("label").cast("double"))
    for c in ints:
        df = df.withColumn(c, F.log1p(F.col(c).cast("double")))
    return hasher.transform(df)

hasher = FeatureHasher(inputCols=ints + cats, outputCol="features", numFeatures=2**20)
data = load(train).select("label", "features").cache()
n = data.count()
lr = LogisticRegression(maxIter=max_iter, regParam=1.0 / (C * n), standardization=False)
model = lr.fit(data)
t = time.perf_counter()
p = F.least(F.greatest(vector_to_array("probability")[1], F.lit(1e-15)), F.lit(1 - 1e-15))
scored = model.transform(load(test)).select("label", p.alias("p"))
loss = -(F.col("label") * F.log("p") + (1 - F.col("label")) * F.log(1 - F.col("p")))
ll = scored.select(F.avg(loss)).first()[0]
print(json.dumps({"log_loss": ll, "passes": model.summary.totalIterations, "rows": n,
                  "score_seconds": time.perf_counter() - t}))
spark.stop()
"""


def script(work: Path, name: str, text: str) -> Path:
    path = work / name
    path.write_text(textwrap.dedent(text).replace("FEATURES\n", FEATURES))
    return path


def split_files(data: Path, work: Path) -> tuple[Path, Path]:
    """Hard links of the older 80 % of the part files in train/, the newest 20 % in test/."""
    files = sorted(data.glob("part-*.parquet"))
    cut = round(0.8 * len(files))
    dirs = work / "train", work / "test"
    for d, chosen in zip(dirs, (files[:cut], files[cut:]), strict=True):
        d.mkdir()
        for f in chosen:
            os.link(f, d / f.name)
    return dirs


def ctr_dataset(root: Path, rows: int, files: int) -> Path:
    from logloss.generate_ctr import generate_ctr

    path = root / f"ctr-{rows}-{files}f"
    if not (path / "true_weights.json").exists():
        generate_ctr(path, rows, files=files, seed=0, row_group_size=250_000)
    return path


def true_log_loss(test: Path, rows: int) -> float:
    """Held-out log loss of the generator's ground truth: the floor no model beats on average."""
    import pyarrow.dataset as pds
    from scipy.special import log_expit

    from logloss.generate_ctr import ctr_truth, true_margin

    table = pds.dataset(str(test), format="parquet").to_table()
    z = true_margin(table, ctr_truth(rows, seed=0))
    y = table.column("label").to_numpy()
    return float(-np.mean(y * log_expit(z) + (1 - y) * log_expit(-z)))


def one_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["(no message)"])[-1][:200]


class Row(dict):
    """One tool's figures: seconds, passes, rows, peak bytes, log loss, or why it cannot."""


def vowpal_wabbit(work: Path, train: Path, test: Path, rows: int) -> list[Row]:
    convert = script(work, "vw_convert.py", VW_CONVERT)
    vw = [sys.executable, "-m", "vowpalwabbit"]
    learn = ["--loss_function", "logistic", "-b", "24", "--passes", "3"]
    whole = run_process(
        [
            "sh",
            "-c",
            f"{sys.executable} {convert} {train} train.vw && "
            + " ".join([*vw, "-d", "train.vw", *learn, "-c", "-k", "-f", "model.vw"]),
        ],
        cwd=work,
    )
    if whole.returncode:
        return [Row(name="Vowpal Wabbit", cannot=one_line(whole.stderr))]
    passes = _vw_passes(whole.stderr)
    cached = run_process(
        [*vw, "--cache_file", "train.vw.cache", *learn, "-f", "model2.vw"], cwd=work
    )
    conv = run_process([sys.executable, str(convert), str(test), "test.vw"], cwd=work)
    pred = run_process(
        [*vw, "-d", "test.vw", "-t", "-i", "model.vw", "-p", "preds.txt", "--quiet"], cwd=work
    )
    loss = None
    if not (conv.returncode or pred.returncode):
        from scipy.special import log_expit

        z = np.loadtxt(work / "preds.txt", usecols=0)
        y = _labels(test)
        loss = float(-np.mean(y * log_expit(z) + (1 - y) * log_expit(-z)))
    _let_go(work, ["train.vw", "train.vw.cache", "test.vw", "preds.txt"])
    out = [
        Row(name="Vowpal Wabbit, whole process", proc=whole, passes=passes, rows=rows, loss=loss)
    ]
    if cached.returncode:
        out.append(Row(name="Vowpal Wabbit, from its cache", cannot=one_line(cached.stderr)))
    else:
        out.append(Row(name="Vowpal Wabbit, from its cache", proc=cached, passes=passes, rows=rows))
    return out


def _let_go(work: Path, names: list[str]) -> None:
    """Delete a peer's scratch files (VW's text and cache: gigabytes at 10 M rows) and
    flush what is left to disk, so that the next process does not start on the dirty page
    cache they leave: reclaiming it had made the first touch of logloss's memory after VW
    cost twice the system time (11.4 against 5.3 s after 6 GB written, the same command)."""
    for name in names:
        (work / name).unlink(missing_ok=True)
    os.sync()


def _vw_passes(stderr: str) -> int | None:
    for line in stderr.splitlines():
        if line.startswith("passes used"):
            return int(line.split("=")[-1])
    return None


def _labels(test: Path) -> np.ndarray:
    import pyarrow.dataset as pds

    return pds.dataset(str(test), format="parquet").to_table(["label"]).column(0).to_numpy()


def scripted(name: str, cmd: list[str], work: Path) -> Row:
    proc = run_process(cmd, cwd=work)
    if proc.returncode:
        return Row(name=name, cannot=one_line(proc.stderr))
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    return Row(
        name=name,
        proc=proc,
        seconds=proc.seconds - doc["score_seconds"],
        passes=doc["passes"],
        rows=doc["rows"],
        loss=doc["log_loss"],
    )


def spark_reason() -> str | None:
    if not shutil.which("java"):
        return "no Java runtime (java is not on PATH)"
    if not have("pyspark"):
        return "pyspark is not installed (pip install pyspark)"
    return None


def logloss_rows(
    work: Path, train: Path, test: Path, rows: int, limit: int, optimum: bool = False
) -> list[Row]:
    """The logloss variants' rows; with ``optimum``, each also with its objective's gap to
    the optimum of the same problem (the same command to tol 1e-10, not timed)."""
    help_text = run_process([*LOGLOSS, "train", "--help"]).stdout
    variants = {
        "logloss train (vocabulary)": [
            "--max-categories",
            "10000000",
            "--min-frequency",
            "10",
            "--standardize",
            *LOG1P,
        ]
    }
    if "--hash-bits" in help_text:  # the columns above 1,000 levels hashed, the others not
        variants["logloss train (--hash-bits 20)"] = [
            "--hash-bits",
            "20",
            "--min-frequency",
            "10",
            "--standardize",
            *LOG1P,
        ]
    if optimum:  # at the default tol 1e-4 the vocabulary run stops ~1e-7 above its optimum
        vocabulary = variants["logloss train (vocabulary)"]
        variants[f"logloss train (vocabulary, --tol {TOL})"] = [*vocabulary, "--tol", TOL]
    out = []
    optima: dict[tuple[str, ...], dict[str, Any]] = {}
    for i, (name, extra) in enumerate(variants.items()):
        model = work / f"logloss-model-{i}"
        cmd = [*LOGLOSS, "train", str(train), "--label", "label", "--C", str(C)]
        cmd += ["--missing", "impute", *extra, "--quiet", "--json"]
        proc = run_process([*cmd, "--out", str(model)], cwd=work, address_space=limit)
        if proc.returncode:
            out.append(Row(name=name, cannot=one_line(proc.stderr)))
            continue
        doc = json.loads(proc.stdout)
        evaluate = [*LOGLOSS, "evaluate", str(model), str(test), "--json", "--quiet"]
        ev = run_process(evaluate, cwd=work, address_space=limit)
        loss = json.loads(ev.stdout)["log_loss"] if ev.returncode == 0 else None
        pass_seconds = (doc.get("data_storage") or {}).get("pass_seconds")
        row = Row(name=name, proc=proc, passes=doc.get("passes"), rows=rows, loss=loss)
        row = Row(row, pass_seconds=pass_seconds, objective=doc.get("final_loss"))
        problem = tuple(a for a in cmd if a not in ("--tol", TOL))  # one optimum a problem
        if optimum and problem not in optima:
            best = run_process([*problem, *OPTIMUM, "--out", str(model) + "-optimum"], cwd=work)
            optima[problem] = json.loads(best.stdout) if best.returncode == 0 else {}
        if optimum:
            ref = optima[problem]
            row = Row(row, optimum=ref.get("final_loss"), optimum_passes=ref.get("passes"))
        out.append(row)
    return out


def objectives(rows: int, results: list[Row]) -> None:
    """Each logloss run's objective against the optimum of its problem (its gap, relative)."""
    for r in results:
        f, best = r.get("objective"), r.get("optimum")
        if f is None or best is None:
            continue
        print(
            f"  .. {r['name']}: objective {f:.12g}, the optimum {best:.12g} "
            f"(tol 1e-10, {r.get('optimum_passes')} passes)"
        )
        verdict(
            f"{r['name']} objective above the optimum, relative, at {rows:,} rows",
            (f - best) / abs(best),
            OBJECTIVE_TARGET,
            unit="",
            note=f"{(f - best) / abs(best):.2e}, target {OBJECTIVE_TARGET:.0e}",
        )


def pass_limit(train: Path) -> tuple[float, int, int]:
    """Best time of one pass (gather the margins, bincount the gradient) over the training
    set's 26 code arrays, as (seconds, rows, codes)."""
    import pyarrow.parquet as pq
    from scipy.special import expit

    names = [f"C{j}" for j in range(1, 27)]
    # read as dictionaries (4-byte indices, no string per row), unified across the files
    table = pq.read_table(train, columns=["label", *names], read_dictionary=names)
    table = table.unify_dictionaries()
    y = table.column("label").to_numpy().astype(np.float64)
    columns = []  # (codes, offset into w, levels)
    p = 0
    for name in names:
        chunks = table.column(name).chunks
        levels = (len(chunks[0].dictionary) if chunks else 0) + 1  # and one for null
        codes = np.concatenate(
            [c.indices.fill_null(levels - 1).to_numpy().astype(np.int32) for c in chunks]
        )
        columns.append((codes, p, levels))
        p += levels
        table = table.drop_columns([name])
    del table
    w = np.random.default_rng(0).normal(0, 0.01, size=p)
    g = np.empty(p)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        z = np.zeros(len(y))
        for codes, o, levels in columns:
            z += w[o : o + levels][codes]
        r = expit(z) - y
        for codes, o, levels in columns:
            g[o : o + levels] = np.bincount(codes, weights=r, minlength=levels)
        best = min(best, time.perf_counter() - t)
    return best, len(y), len(y) * len(columns)


def show(rows: int, results: list[Row], truth: float) -> dict[str, Row]:
    """The table of whole processes and the lines of the tools that cannot."""
    done = {r["name"]: r for r in results if "cannot" not in r}
    baseline = next((n for n in ("Vowpal Wabbit, from its cache", *done) if n in done), None)
    if baseline:
        t = Table(
            f"whole processes, {rows:,} Criteo-shaped rows (train 80 %, held out 20 %)",
            baseline,
            ("passes", "rows/s", "peak MB", "held-out loss"),
        )
        for r in done.values():
            seconds = r.get("seconds", r["proc"].seconds)
            loss = r.get("loss")
            t.add(
                r["name"],
                seconds,
                r.get("passes") if r.get("passes") is not None else "?",
                f"{r['rows'] * (r.get('passes') or 1) / seconds:,.0f}",
                f"{r['proc'].peak / 2**20:,.0f}",
                f"{loss:.4f}" if loss is not None else "-",
            )
        t.show()
    for r in results:
        if "cannot" in r:
            print(f"{r['name']}: cannot: {r['cannot']}")
    print(f"the true model's held-out log loss (the floor): {truth:.4f}")
    print("rows/s: training rows x passes / seconds (the whole process)")
    return done


def verdicts(rows: int, done: dict[str, Row], results: list[Row], quick: bool) -> None:
    ours = [r for r in results if r["name"].startswith("logloss")]
    peers = {n: r for n, r in done.items() if not n.startswith("logloss")}
    losses = [r["loss"] for r in peers.values() if r.get("loss") is not None]
    for r in ours:
        if "cannot" in r:
            print(f"MISS  {r['name']} at {rows:,} rows: cannot ({r['cannot']})")
            continue
        seconds = r["proc"].seconds
        verdict(
            f"{r['name']} peak RSS / the machine's memory at {rows:,} rows",
            r["proc"].peak / MACHINE_BYTES,
            PEAK_TARGET,
            unit="",
            note=f"{r['proc'].peak / 2**30:.1f} of {MACHINE_BYTES / 2**30:.1f} GiB",
        )
        if losses and r.get("loss") is not None:
            verdict(
                f"{r['name']} held-out log loss - the best peer's at {rows:,} rows",
                r["loss"] - min(losses),
                0.0,
                unit="",
            )
        targets = [
            ("Vowpal Wabbit, from its cache", 1.0),
            ("Vowpal Wabbit, whole process", 0.2),
            ("Spark local[2] FeatureHasher", 0.2),
        ]
        if quick or rows <= 2_000_000:
            targets.append(("scikit-learn OneHotEncoder", 0.1))
        for peer, target in targets:
            if peer in peers:
                other = peers[peer].get("seconds", peers[peer]["proc"].seconds)
                verdict(f"{r['name']} / {peer} at {rows:,} rows", seconds / other, target)


def passes_table(rows: int, limit: tuple[float, int, int], done: dict[str, Row]) -> None:
    seconds, n, codes = limit
    t = Table(
        f"one pass over the training set's 26 code arrays ({n:,} rows)",
        "NumPy gather + bincount (limit)",
        ("rows/s", "codes/s"),
    )
    t.add(
        "NumPy gather + bincount (limit)", seconds, f"{n / seconds:,.0f}", f"{codes / seconds:,.0f}"
    )
    vw = done.get("Vowpal Wabbit, from its cache")
    if vw and vw.get("passes"):
        s = vw["proc"].seconds / vw["passes"]
        t.add("Vowpal Wabbit, process from cache / passes", s, f"{n / s:,.0f}", f"{codes / s:,.0f}")
    for name, r in done.items():
        if name.startswith("logloss"):
            s = r.get("pass_seconds")
            if s:
                t.add(f"{name}: a pass", s, f"{n / s:,.0f}", f"{codes / s:,.0f}")
    t.show()


def bench_size(rows: int, files: int, root: Path, args: Any) -> None:

    data = ctr_dataset(root, rows, files)
    with tempfile.TemporaryDirectory(prefix="logloss-ctr-") as tmp:
        work = Path(tmp)
        train, test = split_files(data, work)
        n_train = _rows(train)
        for f in (*train.glob("*.parquet"), *test.glob("*.parquet")):  # warm the page cache
            with open(f, "rb") as fh:
                while fh.read(1 << 24):
                    pass
        max_iter = 50 if args.quick else 500
        spark_iter = 10 if args.quick else 100  # each Spark iteration costs seconds here
        results: list[Row] = []
        only = set(args.only.split(",")) if args.only else {"vw", "sklearn", "spark", "logloss"}
        if "vw" not in only:
            pass
        elif have("vowpalwabbit"):
            results += vowpal_wabbit(work, train, test, n_train)
        else:
            print(
                "Vowpal Wabbit: skipped: vowpalwabbit is not installed (pip install vowpalwabbit)"
            )
        sk = script(work, "sklearn_script.py", SKLEARN)
        for name, encoding in (
            (
                ("scikit-learn OneHotEncoder", "onehot"),
                ("scikit-learn FeatureHasher", "hasher"),
            )
            if "sklearn" in only
            else ()
        ):
            cmd = [sys.executable, str(sk), str(train), str(test), encoding, str(C), str(max_iter)]
            results.append(scripted(name, cmd, work))
        reason = spark_reason()
        if args.quick and not args.spark:
            reason = "not in quick mode (pass --spark): its JVM start and iterations take minutes"
        if "spark" not in only:
            reason = "not in --only"
        if reason:
            print(f"Spark local[2]: skipped: {reason}")
        else:
            sp = script(work, "spark_script.py", SPARK)
            cmd = [sys.executable, str(sp), str(train), str(test), str(C), str(spark_iter)]
            results.append(scripted("Spark local[2] FeatureHasher", cmd, work))
        limit = int(args.logloss_memory_gb * 2**30)
        if "logloss" in only:
            optimum = args.quick or rows <= 2_000_000
            results += logloss_rows(work, train, test, n_train, limit, optimum)
        done = show(rows, results, true_log_loss(test, rows))
        verdicts(rows, done, results, args.quick)
        objectives(rows, results)
        passes_table(rows, pass_limit(train), done)


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in path.glob("*.parquet"))


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument(
        "--logloss-memory-gb",
        type=float,
        default=None,
        help="address-space limit of the logloss processes (default: 4 with --quick, else "
        "90 %% of the memory; the peak-memory target is 60 %% of it, resident)",
    )
    p.add_argument("--spark", action="store_true", help="run the Spark peer in quick mode too")
    p.add_argument(
        "--rows",
        type=int,
        default=None,
        help="one size of this many rows (10 files to 2 M, 20 to 10 M, then 1 M rows a file)",
    )
    p.add_argument(
        "--only", default=None, help="the tools to run, of vw,sklearn,spark,logloss (default all)"
    )
    args = p.parse_args()
    if args.logloss_memory_gb is None:
        args.logloss_memory_gb = 4.0 if args.quick else MEMORY_SAFETY * MACHINE_BYTES / 2**30
    header("bench_ctr: click logs, whole processes", args.quick)
    root = data_dir(args.data_dir)
    sizes = [(200_000, 10)] if args.quick else [(2_000_000, 10), (10_000_000, 20)]
    if args.rows:  # 10 files up to 2 M rows, 20 up to 10 M, then about a million rows a file
        files = 10 if args.rows <= 2_000_000 else max(20, round(args.rows / 1e6))
        sizes = [(args.rows, files)]
    for rows, files in sizes:
        bench_size(rows, files, root, args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
