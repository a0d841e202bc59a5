"""Benchmark 8: data larger than the workers' memory (disk blocks), and 100 M rows vs Spark.

Not in CI and not in ``run_all.py``: it writes tens of GB. Two parts, each one command:

``pass`` (default part): a Parquet dataset of 3x the workers' combined memory limit
(``--limit`` per worker, default 768 MiB, 2 workers: 30 M x 20, 4.5 GiB of float64 X; ~5 GB of
Parquet, ~5 GB of disk blocks in the workers' local directories while it runs). The same fit
(``LogisticRegression(C=inf, tol=1e-8)`` on ``read_parquet`` arrays) on 2 workers with that
limit (blocks beyond the budget go to the workers' disks) and on 2 workers with enough memory
for all of it. Reported: pass throughput (GB of X per second, the median loss+gradient pass of
each fit) disk / memory (target >= 0.5x), the mean log loss difference (target <= 1e-9) and the
workers' peak memory against their limit.

``e2e`` (``--part e2e``): ``--rows`` x 20 (default 100 M: 17 GB of Parquet, 16 GB of float64
X), whole processes from a shell, one after the other: ``logloss train DIR --label y --C inf
--tol 1e-6 --scheduler ADDR`` against a ``dask scheduler`` and 2 ``dask worker --nthreads 1
--memory-limit LIMIT`` processes (default 4 GiB each: the data do not fit), and Spark
``local[2]`` (driver memory = the workers' total, at least 8 GiB) running ``spark.read.parquet ->
VectorAssembler -> persist(MEMORY_AND_DISK) -> LogisticRegression(tol=1e-6)``. Reported: wall
times (logloss / Spark, target <= 0.2x), the peak resident memory of all logloss processes
(scheduler, workers, command) against the workers' limits + 1 GB. Disk needed: the Parquet
(~170 bytes a row) plus the larger of logloss's disk blocks (~170 bytes a row beyond the
workers' budget, removed at the end of the run) and Spark's spill (over 29 GB at 100 M rows:
have well over 50 GB free for a 100 M run with Spark).

    python benchmarks/bench_large.py --data-dir /big/disk            # part pass
    python benchmarks/bench_large.py --part e2e --data-dir /big/disk # 100 M vs Spark
    python benchmarks/bench_large.py --part e2e --rows 30000000 ...  # a smaller e2e run

Generated datasets are kept in ``--data-dir`` (reused by the next run); delete them after.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import Table, data_dir, header, local_cluster, parquet_dataset, parser, verdict

P = 20
FILES = 16
ROW_GROUP = 250_000


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _fit(path: str, limit: int | str) -> dict[str, Any]:
    from logloss import LogisticRegression, read_parquet

    with local_cluster(memory_limit=limit) as client:
        t = time.perf_counter()
        ds = read_parquet(path, "y").persist()  # left lazy when it does not fit
        model = LogisticRegression(C=np.inf, tol=1e-8, max_iter=200).fit(ds.X, ds.y)
        seconds = time.perf_counter() - t
        peak = client.run(_maxrss)
        limits = {a: w["memory_limit"] for a, w in client.scheduler_info()["workers"].items()}
    return {
        "seconds": seconds,
        "passes": model.n_passes_,
        "loss": model.history_[-1]["loss"],
        "storage": model.data_storage_,
        "peak_over_limit": max(peak[a] / limits[a] for a in peak),
        "converged": model.converged_,
    }


def _alternated(path: str, limit: int, repeats: int = 5) -> tuple[float, float]:
    """Median seconds of a pass over disk blocks and over the same blocks in memory,
    alternated on one cluster (the machine's load drifts; alternating cancels most of it)."""
    from logloss import read_parquet
    from logloss.blockdata import BlockData

    with local_cluster(memory_limit=limit) as client:  # noqa: F841
        ds = read_parquet(path, "y")
        y01 = (ds.y == 1).astype(np.float64)
        disk = BlockData(ds.X, y01, storage="disk", memory_bytes=0)
        memory = BlockData(ds.X, y01, storage="persist")
        w = np.zeros(P + 1)
        times: dict[str, list[float]] = {"disk": [], "memory": []}
        for _ in range(repeats):
            for name, data in (("memory", memory), ("disk", disk)):
                t = time.perf_counter()
                data.sums(w)
                times[name].append(time.perf_counter() - t)
        disk.release()
    return float(np.median(times["disk"])), float(np.median(times["memory"]))


def part_pass(root: Path, limit: int, rows: int | None = None) -> None:
    rows = rows or int(3 * 2 * limit / (P * 8)) // 1_000_000 * 1_000_000
    path = str(parquet_dataset(root, rows, P, files=FILES, row_group_size=ROW_GROUP))
    gib = rows * P * 8 / 2**30
    print(f"\n{rows:,} x {P}: {gib:.2f} GiB of X on 2 workers of {limit / 2**20:.0f} MiB")
    disk = _fit(path, limit)
    memory = _fit(path, max(8 * 2**30, int(2 * rows * (P + 2) * 8)))
    table = Table(
        "one loss+gradient pass (median of the fit's)",
        "in memory",
        ("GB/s", "blocks mem/disk", "fit seconds", "passes"),
    )
    for name, r in (("in memory", memory), ("3x memory, disk blocks", disk)):
        s = r["storage"]
        table.add(
            name,
            s["pass_seconds"],
            s["pass_gb_per_s"],
            f"{s['blocks_in_memory']}/{s['blocks_on_disk']}",
            r["seconds"],
            r["passes"],
        )
    table.show()
    ratio = disk["storage"]["pass_gb_per_s"] / memory["storage"]["pass_gb_per_s"]
    print(f"pass throughput, disk blocks / in memory: {ratio:.3f}x (target >= 0.5x)")
    verdict("pass seconds, disk blocks / in memory", 1 / ratio, 2.0)
    d, m = _alternated(path, max(8 * 2**30, int(2 * rows * (P + 2) * 8)))
    print(
        f"alternated on one cluster (5 passes each, medians): disk blocks {d:.3f} s, "
        f"in memory {m:.3f} s: throughput {m / d:.3f}x"
    )
    verdict("alternated pass seconds, disk blocks / in memory", d / m, 2.0)
    diff = abs(disk["loss"] - memory["loss"])
    print(f"mean log loss: disk {disk['loss']:.15f}, memory {memory['loss']:.15f}")
    verdict("mean log loss difference", diff, 1e-9, unit="")
    print(f"worker peak RSS / limit with disk blocks: {disk['peak_over_limit']:.2f}")


# ------------------------------------------------------------------------------ e2e


class _PeakRSS:
    """Peak of the summed resident memory of some process trees, sampled every 0.2 s."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for pid in self.pids:
                try:
                    proc = psutil.Process(pid)
                    procs = [proc, *proc.children(recursive=True)]
                except psutil.Error:
                    continue
                for q in procs:
                    try:
                        total += q.memory_info().rss
                    except psutil.Error:
                        pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.2)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _dask_cluster(workdir: Path, limit: int) -> tuple[str, list[subprocess.Popen[bytes]]]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from cluster_procs import dask_executable, free_port

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = dask_executable()
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = [
        subprocess.Popen(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port)]
            + ["--dashboard-address", "127.0.0.1:0"],
            stdout=open(logs / "scheduler.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
    ]
    time.sleep(2)
    for i in range(2):
        procs.append(
            subprocess.Popen(
                [*dask, "worker", address, "--host", "127.0.0.1", "--nworkers", "1"]
                + ["--nthreads", "1", "--memory-limit", str(limit)]
                + ["--local-directory", str(workdir / f"w{i}")]
                + ["--dashboard-address", "127.0.0.1:0"],
                stdout=open(logs / f"worker{i}.log", "wb"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
            )
        )
    from distributed import Client

    with Client(address, timeout="60s") as client:
        client.wait_for_workers(2, timeout=120)
    return address, procs


def _logloss_train(path: str, limit: int, workdir: Path) -> dict[str, Any]:
    address, procs = _dask_cluster(workdir, limit)
    try:
        out = workdir / "model"
        cmd = ["logloss", "train", path, "--label", "y", "--C", "inf", "--tol", "1e-6"]
        cmd += ["--scheduler", address, "--out", str(out), "--json", "--quiet"]
        t = time.perf_counter()
        cli = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        monitor = _PeakRSS([p.pid for p in procs] + [cli.pid])
        stdout, _ = cli.communicate()
        seconds = time.perf_counter() - t
        peak = monitor.stop()
        if cli.returncode != 0:
            raise RuntimeError(f"logloss train failed ({cli.returncode})")
        summary = json.loads(stdout)
        left = [str(f) for f in workdir.glob("w*/**/logloss-blocks/*/*")]
        return {"seconds": seconds, "peak": peak, "summary": summary, "files_left": left}
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=60)


SPARK_SCRIPT = """
import sys, time
t = time.perf_counter()
from pyspark import StorageLevel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import SparkSession
path, memory = sys.argv[1], sys.argv[2]
spark = (SparkSession.builder.master("local[2]").config("spark.driver.memory", memory)
    .config("spark.ui.enabled", "false").config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.driver.host", "127.0.0.1").config("spark.local.dir", sys.argv[3])
    .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
df = spark.read.parquet(path + "/*.parquet")
cols = [c for c in df.columns if c != "y"]
data = VectorAssembler(inputCols=cols, outputCol="features").transform(df)
data = data.select("features", data["y"].cast("double").alias("label"))
data = data.persist(StorageLevel.MEMORY_AND_DISK)
model = LogisticRegression(maxIter=100, regParam=0.0, tol=1e-6).fit(data)
print("SPARK", model.summary.totalIterations, time.perf_counter() - t, flush=True)
spark.stop()
"""


def _spark_train(path: str, memory_bytes: int, workdir: Path) -> dict[str, Any]:
    local = workdir / "spark-local"
    local.mkdir(parents=True, exist_ok=True)
    memory = f"{memory_bytes // 2**20}m"
    t = time.perf_counter()
    log = workdir / "spark.log"
    with open(log, "w") as err:
        proc = subprocess.run(
            [sys.executable, "-c", SPARK_SCRIPT, path, memory, str(local)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        lines = log.read_text().splitlines()
        shown = [ln for ln in lines if "Exception" in ln or "Error" in ln][:5] or lines[-20:]
        raise RuntimeError(f"Spark failed after {seconds:.0f} s: " + "\n".join(shown))
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("SPARK")][-1]
    return {"seconds": seconds, "iterations": int(line.split()[1])}


def part_e2e(
    root: Path, rows: int, limit: int, spark: bool, spark_memory: int, only: str | None = None
) -> None:
    files = max(FILES, rows // 5_000_000)
    path = str(parquet_dataset(root, rows, P, files=files, row_group_size=ROW_GROUP))
    workdir = Path(tempfile.mkdtemp(prefix="logloss-large-", dir=root))
    gib = rows * P * 8 / 2**30
    print(f"\n{rows:,} x {P}: {gib:.1f} GiB of X; 2 workers of {limit / 2**30:.1f} GiB")
    try:
        if only == "spark":
            theirs = _spark_train(path, spark_memory, workdir / "spark")
            print(f"Spark local[2]: {theirs['seconds']:.1f} s, {theirs['iterations']} iterations")
            return
        ours = _logloss_train(path, limit, workdir / "logloss")
        shutil.rmtree(workdir / "logloss", ignore_errors=True)
        s = ours["summary"]
        storage = s.get("data_storage") or {}
        print(
            f"logloss train: {ours['seconds']:.1f} s (load {s.get('load_seconds')} s, fit "
            f"{s.get('fit_seconds')} s, {s['passes']} passes, converged {s['converged']}, "
            f"blocks {storage.get('blocks_in_memory')} in memory / "
            f"{storage.get('blocks_on_disk')} on disk, "
            f"pass {storage.get('pass_gb_per_s') or 0:.2f} GB/s); "
            f"peak RSS of all processes {ours['peak'] / 2**30:.2f} GiB; "
            f"block files left: {len(ours['files_left'])}"
        )
        verdict(
            "peak memory of logloss processes / (worker limits + 1 GiB)",
            ours["peak"] / (2 * limit + 2**30),
            1.0,
        )
        if spark:
            theirs = _spark_train(path, spark_memory, workdir / "spark")
            table = Table("end to end, whole processes", "Spark local[2]", ("passes/iters",))
            table.add("Spark local[2]", theirs["seconds"], theirs["iterations"])
            table.add("logloss train", ours["seconds"], s["passes"])
            table.show()
            verdict("logloss train / Spark local[2]", table.ratio("logloss train"), 0.2)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--part", choices=("pass", "e2e"), default="pass")
    p.add_argument("--limit", type=int, default=None, help="bytes per worker")
    p.add_argument("--rows", type=int, default=None, help="rows (default: 3x memory; e2e: 100 M)")
    p.add_argument("--no-spark", action="store_true")
    p.add_argument("--only-spark", action="store_true", help="e2e: time Spark alone")
    p.add_argument(
        "--spark-memory",
        type=int,
        default=None,
        help="Spark driver memory, bytes (default: the workers' total, at least 8 GiB)",
    )
    args = p.parse_args()
    header("bench_large", args.quick)
    root = data_dir(args.data_dir)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    if args.part == "pass":
        part_pass(root, args.limit or 768 * 2**20, args.rows)
    else:
        limit = args.limit or 4 * 2**30
        spark_memory = args.spark_memory or max(2 * limit, 8 * 2**30)
        only = "spark" if args.only_spark else None
        part_e2e(root, args.rows or 100_000_000, limit, not args.no_spark, spark_memory, only)


if __name__ == "__main__":
    main()
