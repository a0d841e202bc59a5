"""Shared helpers for the benchmarks: clusters, data, timing and the ratio tables.

Every benchmark measures its baseline in the same run and prints ratios against it:
absolute timings drift from run to run on a shared machine, ratios hold.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

HERE = Path(__file__).resolve().parent


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run for CI")
    p.add_argument("--repeats", type=int, default=None, help="timed repetitions (best is kept)")
    p.add_argument(
        "--data-dir",
        default=None,
        help="where generated Parquet datasets are kept between runs (default: a temp dir)",
    )
    return p


def data_dir(arg: str | None) -> Path:
    if arg:
        path = Path(arg)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(tempfile.mkdtemp(prefix="logloss-bench-"))


def parquet_dataset(
    root: Path,
    rows: int,
    features: int,
    *,
    files: int = 8,
    dtype: str = "float64",
    row_group_size: int = 125_000,
) -> Path:
    """A dataset made by :func:`logloss.generate.generate`, reused when it already exists."""
    from logloss.generate import generate

    path = root / f"synth-{rows}x{features}-{dtype}-{files}f-{row_group_size}rg"
    if not (path / "true_weights.json").exists():
        generate(path, rows, features, files, seed=0, dtype=dtype, row_group_size=row_group_size)
    return path


def make_data(
    n: int, p: int, *, seed: int = 0, dtype: Any = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """X ~ N(0, I), y ~ Bernoulli(σ(X·coef + 0.3)), margins with std 2 (as ``generate``)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    coef = rng.normal(size=p)
    coef *= 2.0 / np.linalg.norm(coef)
    z = X @ coef + 0.3
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(np.float64)
    return X.astype(dtype, copy=False), y


@contextlib.contextmanager
def local_cluster(
    n_workers: int = 2, threads_per_worker: int = 1, memory_limit: str | int = "auto"
) -> Iterator[Any]:
    """A LocalCluster of worker processes on 127.0.0.1 and a Client, closed afterwards."""
    from distributed import Client, LocalCluster

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit=memory_limit,
        )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def timed(fn: Callable[[], Any], repeats: int = 1) -> tuple[float, Any]:
    """Best wall time of ``repeats`` calls of ``fn`` and the last result."""
    best = float("inf")
    result = None
    for _ in range(max(1, repeats)):
        gc.collect()
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


class Proc(NamedTuple):
    """One whole process: wall seconds, peak RSS of its process tree (bytes), its output."""

    seconds: float
    peak: int
    stdout: str
    stderr: str
    returncode: int


def tree_rss(pid: int) -> int:
    """RSS summed over a process and its descendants (0 once it is gone)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_process(
    cmd: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    address_space: int | None = None,
) -> Proc:
    """Run ``cmd`` as a whole process; its wall time and the peak RSS of its process tree
    (sampled every 10 ms). ``address_space``: a limit in bytes (RLIMIT_AS) for the process and
    its children, so a run that would swamp the machine fails with a MemoryError instead.
    Never raises on a non-zero exit: the caller reads ``returncode``."""

    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    t = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit if address_space else None,
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(proc.pid))
            done.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - t
    done.set()
    sampler.join()
    return Proc(seconds, peak[0], out, err, proc.returncode)


def mean_log_loss(X: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: float) -> float:
    """Mean log loss of (coef, intercept) on in-memory data, in float64 and in slices."""
    total = 0.0
    for a in range(0, len(X), 65536):
        z = np.asarray(X[a : a + 65536], dtype=np.float64) @ coef + intercept
        total += float(np.sum(np.logaddexp(0.0, z)) - y[a : a + 65536] @ z)
    return total / len(X)


@dataclass
class Table:
    """Rows of (name, seconds, extra columns); ratios are against the row named ``baseline``."""

    title: str
    baseline: str
    columns: tuple[str, ...] = ()
    rows: list[tuple[str, float, tuple[Any, ...]]] = field(default_factory=list)

    def add(self, name: str, seconds: float, *extra: Any) -> None:
        self.rows.append((name, seconds, extra))
        print(
            f"  .. {name}: {seconds:.4f} s {' '.join(str(e) for e in extra)}",
            file=sys.stderr,
            flush=True,
        )

    def seconds(self, name: str) -> float:
        for n, s, _ in self.rows:
            if n == name:
                return s
        raise KeyError(name)

    def ratio(self, name: str) -> float:
        return self.seconds(name) / self.seconds(self.baseline)

    def show(self) -> None:
        base = self.seconds(self.baseline)
        width = max(len(r[0]) for r in self.rows) + 2
        head = f"{'':{width}}{'seconds':>10}{'ratio':>9}" + "".join(
            f"{c:>16}" for c in self.columns
        )
        print(f"\n{self.title}  (ratio = seconds / '{self.baseline}')")
        print(head)
        print("-" * len(head))
        for name, s, extra in self.rows:
            cells = "".join(f"{_fmt(e):>16}" for e in extra)
            print(f"{name:{width}}{s:>10.4f}{s / base:>8.3f}x{cells}")
        sys.stdout.flush()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def verdict(label: str, value: float, target: float, *, unit: str = "x", note: str = "") -> bool:
    """Print a PASS/MISS line (never fails the run)."""
    ok = value <= target
    extra = f"  ({note})" if note else ""
    print(
        f"{'PASS' if ok else 'MISS'}  {label}: {value:.3f}{unit} (target <= {target}{unit}){extra}"
    )
    sys.stdout.flush()
    return ok


def blas_note() -> str:
    """Which BLAS runs and with how many threads (OPENBLAS_CORETYPE changes the kernel)."""
    try:
        from threadpoolctl import threadpool_info

        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        kinds = {
            f"{i.get('internal_api')}/{i.get('architecture')}x{i.get('num_threads')}" for i in info
        }
        core = os.environ.get("OPENBLAS_CORETYPE")
        return ", ".join(sorted(kinds)) + (f" (OPENBLAS_CORETYPE={core})" if core else "")
    except ImportError:
        return "unknown BLAS"


def header(name: str, quick: bool) -> None:
    import dask
    import distributed

    print(f"== {name} ({'quick' if quick else 'full'}) ==")
    print(
        f"numpy {np.__version__}, dask {dask.__version__}, distributed {distributed.__version__}, "
        f"{os.cpu_count()} cores, BLAS {blas_note()}"
    )
    sys.stdout.flush()


def have(module: str) -> bool:
    try:
        __import__(module)
    except Exception:
        return False
    return True
