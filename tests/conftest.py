"""Shared fixtures: seeded data, and real Dask clusters started (and stopped) here."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

# Everything the code under test puts in the system's temporary directory (Prefect's home,
# the flows' checkpoints of models saved to URLs, temporary files) goes into one directory
# of this run, in this process and in the processes it starts (TMPDIR), removed when the
# run ends: a test run leaves nothing there. pytest's own tmp_path directories stay where
# pytest keeps them (it prunes them itself).
_SYSTEM_TMP = tempfile.gettempdir()
_RUN_TMP = tempfile.mkdtemp(prefix="logloss-tests-")
os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", _SYSTEM_TMP)
os.environ["TMPDIR"] = tempfile.tempdir = _RUN_TMP
# Prefect keeps its database and settings under PREFECT_HOME: never the user's own.
os.environ["PREFECT_HOME"] = os.path.join(_RUN_TMP, "prefect-home")
os.makedirs(os.environ["PREFECT_HOME"])
atexit.register(shutil.rmtree, _RUN_TMP, ignore_errors=True)


def make_logistic(
    n: int = 2000,
    p: int = 5,
    *,
    seed: int = 0,
    intercept: float = 0.3,
    scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X ~ N(0, scale²), y ~ Bernoulli(σ(Xw + b)); returns X, y (int 0/1), w."""
    rng = np.random.default_rng(seed)
    X = rng.normal(scale=scale, size=(n, p))
    w = rng.normal(size=p) / scale
    z = X @ w + intercept
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(np.int64)
    return X, y, w


def good_table(rng: np.random.Generator, n: int) -> pa.Table:
    """A small labelled table: id, features a, b, c (logistic in them) and an int label y."""
    X = rng.normal(size=(n, 3))
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ np.array([1.0, -2.0, 0.5])))).astype(np.int64)
    return pa.table({"id": np.arange(n), "a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y})


def write(path: Path, table: pa.Table) -> Path:
    """Write ``table`` as one Parquet file at ``path`` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def interrupt_train(
    data: Path, out: Path, *extra: str, started: float = 60, wait: float = 30, on_start=None
) -> tuple[int, list[str]]:
    """Run ``logloss train`` (gd with a tiny learning rate: it iterates until stopped) in
    its own process group, send it SIGINT as a terminal's Ctrl-C does once it iterates,
    and return (exit status, its stderr lines). ``on_start(pid)`` runs before the signal."""
    cmd = [sys.executable, "-m", "logloss.cli", "train", str(data), "--label", "y"]
    cmd += ["--solver", "gd", "--learning-rate", "1e-6", "--max-iter", "1000000", "--tol", "1e-12"]
    cmd += ["--out", str(out), *extra]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + started
        while not any(line.startswith("iteration") for line in lines):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.05)
        time.sleep(0.3)  # mid-fit
        if on_start is not None:
            on_start(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=wait)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(timeout=10)
    return rc, lines


@pytest.fixture
def logistic_data() -> tuple[np.ndarray, np.ndarray]:
    X, y, _ = make_logistic()
    return X, y


@pytest.fixture(scope="session")
def local_cluster():
    """A LocalCluster with 2 worker processes (1 thread each), shared by the session."""
    from distributed import LocalCluster

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
    yield cluster
    cluster.close()


@pytest.fixture
def client(local_cluster):
    """A Client to the session's LocalCluster, the default client while the test runs."""
    from distributed import Client

    with Client(local_cluster) as c:
        yield c


@pytest.fixture(scope="session")
def prefect_api():
    """Prefect's real API server (a temporary database), for the whole session.

    Yields the API URL; subprocesses need it exported as PREFECT_API_URL.
    """
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()
