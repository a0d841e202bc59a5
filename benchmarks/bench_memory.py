"""Benchmark 4: worker memory, and training on a dataset 3x the cluster's memory limit.

Part A (in memory): 2 000 000 × 20 float64 from Parquet (``--quick``: 200 000) loaded and fitted
the way ``logloss train`` does it, on 2 workers with 4 GiB each. Each worker's peak resident
memory (``ru_maxrss``) minus its idle resident memory before loading is compared with its
share of the data (X and y01 as float64, divided by the number of workers).
Target: <= 1.5x.

Part B (bigger than memory; skipped with ``--quick`` unless ``--limit`` is given): 2 workers
with ``--limit`` bytes each (default 768 MiB) and a Parquet dataset of 3x their combined
limit. ``LogisticRegression().fit`` on ``read_parquet`` arrays must finish: when X exceeds
the workers' budget the engine reads each block once and keeps those that do not fit on the
workers' disks (``benchmarks/bench_large.py`` measures that at 30 M rows).
Reported: time per pass and throughput (rows per second per pass) against part A's
in-memory passes, and the workers' peak memory.

Part C (``--evaluate``, or alone with ``--evaluate-only``): the peak resident memory of the
whole ``logloss evaluate MODEL DATA --json`` process, in this process's scheduler (no
cluster), at 2 M and 20 M rows × 20 (``--quick``: 1 M and 4 M). ``evaluate`` streams the blocks
into a metrics state of bounded size, so the peak should not follow the rows.
Target: peak at the larger size <= 1.5x the peak at the smaller.
"""

from __future__ import annotations

import resource
import time
import warnings

import numpy as np
from common import Table, data_dir, header, local_cluster, parquet_dataset, parser, verdict

P = 20


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _warm_rss() -> int:
    """Resident memory of a worker that has imported everything a fit uses, holding no data."""
    import gc

    import psutil
    import pyarrow.parquet  # noqa: F401

    import logloss.data  # noqa: F401
    import logloss.estimator  # noqa: F401

    gc.collect()
    return psutil.Process().memory_info().rss


def in_memory(path: str, rows: int) -> tuple[float, float]:
    from logloss import LogisticRegression, read_parquet

    with local_cluster(memory_limit="4GiB") as client:
        idle = client.run(_warm_rss)
        t = time.perf_counter()
        ds = read_parquet(path, "y").persist()
        model = LogisticRegression().fit(ds.X, ds.y)
        fit_seconds = time.perf_counter() - t
        peak = client.run(_maxrss)
        share = rows * (P + 1) * 8 / len(peak)
        ratios = {a: (peak[a] - idle[a]) / share for a in peak}
        # throughput of in-memory passes
        from logloss.blockdata import BlockData

        data = BlockData(ds.X, (ds.y == 1).astype(np.float64), storage="persist")
        w = np.zeros(P + 1)
        data.sums(w)
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            data.sums(w)
            ts.append(time.perf_counter() - t)
        pass_seconds = float(np.median(ts))
    print(
        f"\nIn memory: {rows:,} x {P}, fit {fit_seconds:.2f} s ({model.n_passes_} passes); "
        f"worker share {share / 2**20:.0f} MiB; peak - idle per worker: "
        + ", ".join(f"{(peak[a] - idle[a]) / 2**20:.0f} MiB ({r:.2f}x)" for a, r in ratios.items())
    )
    verdict("peak worker memory / worker's share of the data", max(ratios.values()), 1.5)
    return pass_seconds, rows / pass_seconds


def bigger_than_memory(
    root, limit: int, in_memory_throughput: float, in_memory_pass: float, in_rows: int
) -> None:
    from logloss import LogisticRegression, read_parquet
    from logloss.blockdata import BlockData

    rows = int(3 * 2 * limit / (P * 8))
    path = str(parquet_dataset(root, rows, P, files=16, row_group_size=100_000))
    with local_cluster(memory_limit=limit) as client:
        ds = read_parquet(path, "y", block_bytes=16 * 2**20)
        data = BlockData(ds.X, (ds.y == 1).astype(np.float64))
        w = np.zeros(P + 1)
        t = time.perf_counter()
        data.sums(w)
        pass_seconds = time.perf_counter() - t
        t = time.perf_counter()
        model = LogisticRegression(tol=1e-4).fit(ds.X, ds.y)
        fit_seconds = time.perf_counter() - t
        peak = client.run(_maxrss)
    table = Table(
        f"Bigger than memory: {rows:,} x {P} ({ds.X.nbytes / 2**30:.2f} GiB)"
        f" on 2 x {limit / 2**20:.0f} MiB",
        "in memory",
    )
    table.add("in memory", in_memory_pass / in_rows * 1e6, f"{in_memory_throughput:,.0f}")
    table.add(
        f"3x memory ({data.storage})", pass_seconds / rows * 1e6, f"{rows / pass_seconds:,.0f}"
    )
    table.columns = ("rows/s per pass",)
    print("\n(seconds column: seconds per pass per million rows)")
    table.show()
    print(
        f"3x-memory fit: {fit_seconds:.1f} s, {model.n_passes_} passes, "
        f"converged={model.converged_}; "
        f"worker peak RSS {', '.join(f'{v / 2**20:.0f} MiB' for v in peak.values())} "
        f"(limit {limit / 2**20:.0f} MiB)"
    )
    ok = bool(model.converged_) and all(v <= limit for v in peak.values())
    print(
        f"{'PASS' if ok else 'MISS'}  a dataset 3x the cluster's memory limit trains "
        "within the limit"
    )


def _peak_rss_of(cmd: list[str]) -> tuple[int, float]:
    """(peak resident bytes, seconds) of ``cmd`` run alone in a fresh child process (its
    own ``RUSAGE_CHILDREN``, so earlier runs do not count)."""
    import json
    import subprocess
    import sys

    probe = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
        "s = time.perf_counter() - t\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
        "print(json.dumps([r.returncode, peak, s]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *cmd], check=True, capture_output=True, text=True
    )
    code, peak, seconds = json.loads(out.stdout.strip().splitlines()[-1])
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {code}")
    return int(peak), float(seconds)


def evaluate_peaks(root, small: int, large: int) -> None:
    """Part C: peak RSS of ``logloss evaluate`` at ``small`` and ``large`` rows."""
    import subprocess
    import sys

    paths = {n: str(parquet_dataset(root, n, P)) for n in (small, large)}
    model = str(root / f"evaluate-model-{small}")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "logloss.cli",
            "train",
            paths[small],
            "--label",
            "y",
            "--out",
            model,
            "--quiet",
        ],
        check=True,
    )
    peaks = {}
    for n in (small, large):
        peak, seconds = _peak_rss_of(
            [sys.executable, "-m", "logloss.cli", "evaluate", model, paths[n], "--json", "--quiet"]
        )
        peaks[n] = peak
        print(f"logloss evaluate, {n:,} x {P}: peak RSS {peak / 2**20:,.0f} MiB, {seconds:.1f} s")
    verdict(
        f"logloss evaluate peak at {large:,} rows / at {small:,} rows",
        peaks[large] / peaks[small],
        1.5,
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument(
        "--limit", type=int, default=None, help="per-worker memory limit for part B (bytes)"
    )
    p.add_argument("--evaluate", action="store_true", help="also part C (logloss evaluate)")
    p.add_argument("--evaluate-only", action="store_true", help="part C alone")
    args = p.parse_args()
    header("bench_memory: worker memory and bigger-than-memory training", args.quick)
    root = data_dir(args.data_dir)
    if args.evaluate or args.evaluate_only:
        # quick: 1 M and 4 M (at 200 k rows there are fewer blocks than the pass keeps
        # in flight, so that ratio measures the ramp-up, not the growth)
        small, large = (1_000_000, 4_000_000) if args.quick else (2_000_000, 20_000_000)
        evaluate_peaks(root, small, large)
        if args.evaluate_only:
            return
    rows = 200_000 if args.quick else 2_000_000
    path = str(parquet_dataset(root, rows, P))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pass_seconds, throughput = in_memory(path, rows)
        if args.quick and not args.limit:
            print("\nPart B (3x the memory limit) is skipped in quick mode: a worker process alone")
            print("takes ~300 MiB, so the smallest honest case writes several GiB of Parquet.")
            return
        limit = args.limit or 768 * 2**20
        bigger_than_memory(root, limit, throughput, pass_seconds, rows)


if __name__ == "__main__":
    main()
