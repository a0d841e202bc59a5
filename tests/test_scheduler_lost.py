"""A scheduler lost mid-command: one line naming its address, exit status 4, nothing written.

Real ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1 (tests/cluster_procs.py);
the scheduler is SIGKILLed while ``logloss train`` iterates, or as ``logloss predict``
starts scoring. It used to end in a 40-line traceback and ``internal error:
FutureCancelledError ... scheduler-connection-lost`` (status 1).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cluster_procs import ProcessCluster, subprocess_env

from logloss.cli import EXIT_SCHEDULER_LOST
from logloss.cluster import SchedulerLostError
from logloss.generate import LABEL, generate

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "synthetic"
    generate(out, rows=200_000, features=10, files=2, seed=22_011, row_group_size=20_000)
    return out


def _kill_scheduler_when(
    cluster: ProcessCluster, cmd: list[str], says: str, exists: Path | None = None
) -> tuple[int, str]:
    """Run ``cmd``; SIGKILL the scheduler once a stderr line holds ``says`` (and the file
    ``exists`` exists); return the command's exit status and stderr."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env()
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any(says in line for line in lines) or (exists and not exists.exists()):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        (scheduler,) = [p for p in cluster.procs if p.name == "scheduler"]
        os.killpg(scheduler.popen.pid, signal.SIGKILL)
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    return rc, "".join(lines)


def _cluster(tmp_path: Path) -> ProcessCluster:
    cluster = ProcessCluster(tmp_path / "procs")
    cluster.start_scheduler()
    cluster.start_worker()
    cluster.start_worker()
    return cluster


def _assert_one_line(rc: int, err: str, address: str, then: str = "") -> None:
    assert rc == EXIT_SCHEDULER_LOST == 4, err
    expected = (
        f"logloss: error: lost the connection to the scheduler at {address}; nothing was written"
    )
    assert err.splitlines()[-1] == expected + then, err
    assert "Traceback" not in err and "internal error" not in err, err


def test_a_scheduler_killed_mid_fit_ends_train_with_one_line(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    cmd = [sys.executable, "-m", "logloss.cli", "train", str(data), "--label", LABEL]
    cmd += ["--solver", "gd", "--learning-rate", "1e-6", "--max-iter", "1000000"]
    cmd += ["--tol", "1e-12", "--out", str(out)]
    cluster = _cluster(tmp_path)
    try:
        rc, err = _kill_scheduler_when(
            cluster, [*cmd, "--scheduler", cluster.address], "iteration 1/"
        )
        _assert_one_line(rc, err, cluster.address)
    finally:
        cluster.close()
    assert not out.exists()


def test_with_a_checkpoint_the_line_says_the_command_resumes(data: Path, tmp_path: Path) -> None:
    out, checkpoint = tmp_path / "model", tmp_path / "ckpt"
    cmd = [sys.executable, "-m", "logloss.cli", "train", str(data), "--label", LABEL]
    cmd += ["--solver", "gd", "--learning-rate", "1e-6", "--max-iter", "1000000"]
    cmd += ["--tol", "1e-12", "--out", str(out), "--checkpoint", str(checkpoint)]
    cmd += ["--checkpoint-every", "1"]
    cluster = _cluster(tmp_path)
    try:
        rc, err = _kill_scheduler_when(
            cluster,
            [*cmd, "--scheduler", cluster.address],
            "iteration 1/",
            checkpoint / "checkpoint.json",
        )
        then = f" (the checkpoint in {checkpoint} resumes the fit: run the command again)"
        _assert_one_line(rc, err, cluster.address, then)
    finally:
        cluster.close()
    assert not out.exists() and (checkpoint / "checkpoint.json").exists()


def test_a_scheduler_killed_as_predict_scores_ends_with_one_line(
    data: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    train = [sys.executable, "-m", "logloss.cli", "train", str(data), "--label", LABEL]
    done = subprocess.run(
        [*train, "--out", str(model), "--quiet"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    out = tmp_path / "predictions"
    cmd = [sys.executable, "-m", "logloss.cli", "predict", str(model), str(data), "--out", str(out)]
    cluster = _cluster(tmp_path)
    try:
        rc, err = _kill_scheduler_when(cluster, [*cmd, "--scheduler", cluster.address], "] scoring")
        _assert_one_line(rc, err, cluster.address)
    finally:
        cluster.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "procs"]  # no staging left


def test_the_error_is_a_connection_error_naming_the_address() -> None:
    exc = SchedulerLostError("tcp://127.0.0.1:8786")
    assert isinstance(exc, ConnectionError) and exc.address == "tcp://127.0.0.1:8786"
    assert str(exc) == (
        "lost the connection to the scheduler at tcp://127.0.0.1:8786; nothing was written"
    )
