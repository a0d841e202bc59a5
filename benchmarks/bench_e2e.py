"""Benchmark 6: whole processes, as users run them, against the scripts they would write.

Data: ``logloss.generate.generate`` at 2 M x 20 (8 files) and 10 M x 20 (16 files), row
groups of 125 000 rows (``--quick``: 200 k x 20 only). Page cache warm (each dataset is read
once before timing). Every figure is a median of ``--repeats`` (default 3) runs, the
commands of one size alternated, each a fresh process started from a shell:

- ``logloss train DIR --label y --C inf --tol 1e-8 --out M --quiet`` (no ``--scheduler``:
  the embedded default, i.e. this process's threads when the data fits in memory);
- the scikit-learn script: pyarrow.dataset -> NumPy -> ``LogisticRegression(C=inf,
  tol=1e-8)`` (lbfgs, its default solver);
- the dask-ml script (2 M only; when dask-ml imports): LocalCluster(2 worker processes) +
  ``dd.read_parquet`` -> ``to_dask_array(lengths=True)`` -> dask-ml newton.

Also measured: the mean log loss each reaches (within 1e-7 of scikit-learn's is the target),
peak memory of the whole process tree (RSS summed over the processes, sampled every 10 ms),
Parquet -> data ready to fit inside one warm process against pyarrow reading the same columns
into a row-major NumPy array, the fixed cost (``logloss train`` of the 569-row sample
data; ``logloss --help``), and the first fit in a fresh process against the second.

Targets (issue "fast as a whole process"): logloss <= 0.5x the scikit-learn script at 2 M and
<= 0.35x at 10 M, <= 0.25x the dask-ml script at 2 M; load <= 1.5x pyarrow; peak memory <=
1.5x X's float64 size + 300 MB at 10 M; fixed cost <= 1.5 s and --help < 0.2 s (absolute);
first fit <= second + 0.1 s.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    Table,
    data_dir,
    have,
    header,
    parquet_dataset,
    parser,
    run_process,
    verdict,
)

ROOT = Path(__file__).resolve().parent.parent
# the console script users run (as installed by pip), else the module
LOGLOSS = (
    [shutil.which("logloss") or ""]
    if shutil.which("logloss")
    else [sys.executable, "-m", "logloss.cli"]
)

SKLEARN_SCRIPT = """
import json, sys
import numpy as np
import pyarrow.dataset as pds
from sklearn.linear_model import LogisticRegression

table = pds.dataset(sys.argv[1], format="parquet", exclude_invalid_files=True).to_table()
y = table.column("y").to_numpy()
X = np.column_stack([table.column(c).to_numpy() for c in table.column_names if c != "y"])
m = LogisticRegression(C=np.inf, tol=1e-8, max_iter=1000).fit(X, y)
print(json.dumps({"coef": m.coef_[0].tolist(), "intercept": float(m.intercept_[0])}))
"""

DASK_ML_SCRIPT = """
import json, sys
import dask.dataframe as dd
from dask_ml.linear_model import LogisticRegression
from distributed import Client, LocalCluster

if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        df = dd.read_parquet(sys.argv[1])
        cols = [c for c in df.columns if c != "y"]
        arr = df[[*cols, "y"]].to_dask_array(lengths=True)
        X, y = arr[:, :-1].persist(), arr[:, -1].persist()
        m = LogisticRegression(solver="newton", tol=1e-8, max_iter=100).fit(X, y)
        print(json.dumps({"coef": [float(c) for c in m.coef_], "intercept": float(m.intercept_)}))
"""

FIRST_FIT_SCRIPT = """
import json, sys, time
from logloss.cluster import dask_client
from logloss.data import read_parquet
from logloss.loading import persist_dataset
from logloss.settings import TrainSettings
from logloss.training.fit import train_model

ds = read_parquet(sys.argv[1], "y")
out = {}
with dask_client(processes=sys.argv[2] == "processes", data_bytes=ds.nbytes) as client:
    ds = persist_dataset(ds)
    for name in ("first", "second"):
        t = time.perf_counter()
        train_model(ds, TrainSettings(C=float("inf"), tol=1e-8))
        out[name] = time.perf_counter() - t
print(json.dumps(out))
"""


def run(cmd: list[str], *, cwd: Path | None = None) -> tuple[float, int, str]:
    """(wall seconds, peak RSS of the process tree, stdout) of one whole process."""
    proc = run_process(cmd, cwd=cwd)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc.seconds, proc.peak, proc.stdout


def mean_log_loss(path: Path, coef: np.ndarray, intercept: float) -> float:
    import pyarrow.dataset as pds

    table = pds.dataset(str(path), format="parquet", exclude_invalid_files=True).to_table()
    y = table.column("y").to_numpy()
    names = [c for c in table.column_names if c != "y"]
    z = np.full(len(y), intercept)
    for name, c in zip(names, coef, strict=True):
        z += c * table.column(name).to_numpy()
    total = float(np.sum(np.logaddexp(0.0, z)) - y @ z)
    return total / len(y)


def model_coef(model_dir: Path) -> tuple[np.ndarray, float]:
    from logloss.storage.files import read_model  # follows the location's 'latest' pointer

    _, vec = read_model(model_dir)
    return vec[:-1], float(vec[-1])


def whole_process(path: Path, work: Path, repeats: int, with_dask_ml: bool) -> dict[str, Any]:
    """Alternated runs of the commands on one dataset; medians, peaks and losses."""
    sk = work / "sklearn_script.py"
    sk.write_text(textwrap.dedent(SKLEARN_SCRIPT))
    dml = work / "dask_ml_script.py"
    dml.write_text(textwrap.dedent(DASK_ML_SCRIPT))
    commands = {
        "logloss train": [*LOGLOSS, "train", str(path), "--label", "y", "--C", "inf"]
        + ["--tol", "1e-8", "--quiet", "--out"],
        "scikit-learn script": [sys.executable, str(sk), str(path)],
    }
    if with_dask_ml:
        commands["dask-ml script"] = [sys.executable, str(dml), str(path)]
    times: dict[str, list[float]] = {k: [] for k in commands}
    peaks: dict[str, int] = dict.fromkeys(commands, 0)
    losses: dict[str, float] = {}
    for r in range(repeats):
        for name, cmd in commands.items():
            if name == "logloss train":
                out_dir = work / f"model-{r}"
                seconds, peak, _ = run([*cmd, str(out_dir)], cwd=work)
                coef, b = model_coef(out_dir)
            else:
                seconds, peak, out = run(cmd, cwd=work)
                fitted = json.loads(out.strip().splitlines()[-1])
                coef, b = np.asarray(fitted["coef"]), fitted["intercept"]
            times[name].append(seconds)
            peaks[name] = max(peaks[name], peak)
            if r == 0:
                losses[name] = mean_log_loss(path, coef, b)
    return {
        "median": {k: statistics.median(v) for k, v in times.items()},
        "peak": peaks,
        "loss": losses,
    }


def load_in_process(path: Path, repeats: int) -> tuple[float, float]:
    """Medians (logloss read + persist, pyarrow -> row-major NumPy), alternated, warm."""
    import pyarrow.dataset as pds

    from logloss.cluster import dask_client
    from logloss.data import read_parquet
    from logloss.loading import persist_dataset

    def ours() -> None:
        ds = read_parquet(str(path), "y")
        with dask_client(data_bytes=ds.nbytes):
            ds = persist_dataset(ds)
        del ds

    def arrow() -> None:
        table = pds.dataset(str(path), format="parquet", exclude_invalid_files=True).to_table()
        names = [c for c in table.column_names if c != "y"]
        X = np.empty((table.num_rows, len(names)))
        for j, name in enumerate(names):
            X[:, j] = table.column(name).to_numpy()
        y = table.column("y").to_numpy()
        del X, y, table

    a: list[float] = []
    b: list[float] = []
    for _ in range(repeats):
        for fn, acc in ((ours, a), (arrow, b)):
            t = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--no-dask-ml", action="store_true", help="leave out the dask-ml script")
    args = p.parse_args()
    header("bench_e2e: whole processes", args.quick)
    repeats = args.repeats or 3
    root = data_dir(args.data_dir)
    sizes = [(200_000, 4)] if args.quick else [(2_000_000, 8), (10_000_000, 16)]
    with_dask_ml = have("dask_ml") and not args.no_dask_ml
    with tempfile.TemporaryDirectory(prefix="logloss-e2e-") as tmp:
        work = Path(tmp)
        for rows, files in sizes:
            path = parquet_dataset(root, rows, 20, files=files)
            mean_log_loss(path, np.zeros(20), 0.0)  # warm the page cache
            res = whole_process(path, work, repeats, with_dask_ml and rows <= 2_000_000)
            t = Table(
                f"whole process, {rows:,} x 20 ({files} files), median of {repeats}",
                "scikit-learn script",
                ("peak MB", "mean log loss"),
            )
            for name, seconds in res["median"].items():
                t.add(name, seconds, res["peak"][name] / 2**20, res["loss"][name])
            t.show()
            gap = abs(res["loss"]["logloss train"] - res["loss"]["scikit-learn script"])
            verdict(f"log loss gap to scikit-learn at {rows:,} rows", gap, 1e-7, unit="")
            target = 0.5 if rows <= 2_000_000 else 0.35
            verdict(
                f"logloss train / scikit-learn script at {rows:,} x 20",
                t.ratio("logloss train"),
                target,
            )
            if "dask-ml script" in res["median"]:
                verdict(
                    f"logloss train / dask-ml script at {rows:,} x 20",
                    res["median"]["logloss train"] / res["median"]["dask-ml script"],
                    0.25,
                )
            x_bytes = rows * 20 * 8
            peak = res["peak"]["logloss train"]
            print(
                f"peak memory of logloss train: {peak / 2**20:.0f} MB; X float64 "
                f"{x_bytes / 2**20:.0f} MB; (peak - 300 MB) / X = "
                f"{(peak - 300 * 2**20) / x_bytes:.2f}"
            )
            if rows >= 10_000_000 or args.quick:
                verdict(
                    f"peak memory (minus 300 MB) / X's float64 size at {rows:,} rows",
                    (peak - 300 * 2**20) / x_bytes,
                    1.5,
                )
            ours, arrow = load_in_process(path, repeats)
            t = Table(f"Parquet -> ready to fit, {rows:,} x 20, in one warm process", "pyarrow")
            t.add("pyarrow", arrow)
            t.add("logloss read_parquet + persist", ours)
            t.show()
            verdict(f"load / pyarrow at {rows:,} rows", ours / arrow, 1.5)
            for where in ("in", "processes") if rows <= 2_000_000 else ("in",):
                cmd = [sys.executable, "-c", FIRST_FIT_SCRIPT, str(path), where]
                first = json.loads(run(cmd)[2].strip().splitlines()[-1])
                name = "this process's threads" if where == "in" else "a fresh local cluster"
                print(f"first fit {first['first']:.3f} s, second {first['second']:.3f} s ({name})")
                verdict(
                    f"first fit - second fit at {rows:,} rows, {name}",
                    first["first"] - first["second"],
                    0.1,
                    unit=" s",
                )
        # fixed cost: the sample data and --help, absolute seconds
        sample = ROOT / "data" / "breast_cancer.parquet"
        small: list[float] = []
        helps: list[float] = []
        for r in range(repeats):
            cmd = [*LOGLOSS, "train", str(sample), "--label", "target", "--standardize"]
            small.append(run([*cmd, "--quiet", "--out", str(work / f"bc-{r}")], cwd=work)[0])
            helps.append(run([*LOGLOSS, "--help"], cwd=work)[0])
        fixed, helped = statistics.median(small), statistics.median(helps)
        print(f"\nfixed cost: train on the 569-row sample {fixed:.2f} s; --help {helped:.3f} s")
        verdict("logloss train of the sample data (seconds)", fixed, 1.5, unit=" s")
        verdict("logloss --help (seconds)", helped, 0.2, unit=" s")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
