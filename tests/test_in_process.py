"""The embedded default: without a scheduler, data that fits in memory is trained in the
calling process on Dask's threaded scheduler; worker processes only when asked for or needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import interrupt_train

from logloss.cli import main
from logloss.cluster import dask_client, runs_in_process
from logloss.estimator import load_model
from logloss.generate import generate


def test_the_rule_for_running_in_process(monkeypatch):
    import logloss.cluster as cluster

    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.setattr(cluster, "available_memory", lambda: 1000)
    assert runs_in_process(data_bytes=500)  # half the available memory
    assert not runs_in_process(data_bytes=501)
    assert not runs_in_process(data_bytes=None)  # unknown size: worker processes
    assert not runs_in_process("tcp://127.0.0.1:8786", data_bytes=10)
    assert not runs_in_process(workers=1, data_bytes=10)
    assert not runs_in_process(processes=True, data_bytes=10)
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:8786")
    assert not runs_in_process(data_bytes=10)


def test_in_process_block_has_no_client_no_children_and_restores_dask_config():
    psutil = pytest.importorskip("psutil")
    import dask
    import dask.array as da
    from threadpoolctl import threadpool_info

    from logloss.blockdata import default_client

    before = dask.config.get("scheduler", None)
    blas_before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    children = set(psutil.Process().children(recursive=True))
    with dask_client(data_bytes=1000) as client:
        assert client is None
        assert default_client() is None
        assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == [
            1
        ] * len(blas_before)
        x = da.ones((1000, 3), chunks=(100, 3))
        assert float(x.sum().compute()) == 3000.0
        assert set(psutil.Process().children(recursive=True)) == children
    assert dask.config.get("scheduler", None) == before
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == (blas_before)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "d"
    generate(path, 60_000, 6, 4, seed=3, row_group_size=5000)
    return path


@pytest.mark.cluster
def test_cli_in_process_and_on_worker_processes_give_the_same_model(dataset, tmp_path, capsys):
    common = ["train", str(dataset), "--label", "y", "--tol", "1e-9", "--block-mb", "0.5"]
    assert main([*common, "--out", str(tmp_path / "a")]) == 0
    shown = capsys.readouterr().out
    assert "this process (" in shown and "workers" not in shown
    assert main([*common, "--processes", "--out", str(tmp_path / "b")]) == 0
    assert " workers (tcp://127.0.0.1:" in capsys.readouterr().out
    a, b = load_model(tmp_path / "a"), load_model(tmp_path / "b")
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(a.intercept_, b.intercept_, rtol=0, atol=1e-10)
    assert a.n_iter_[0] == b.n_iter_[0]


def test_ctrl_c_during_an_in_process_train_exits_130_and_leaves_nothing(dataset, tmp_path):
    out = tmp_path / "m"
    rc, lines = interrupt_train(dataset, out)
    err = "".join(lines)
    assert rc == 130, err
    shown = [line for line in lines if not line.startswith(("iteration", "["))]  # progress
    assert shown == ["logloss: interrupted\n"], err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_version_check_drops_a_python_patch_difference_and_names_real_ones():
    from logloss.cluster import real_mismatches

    def node(python, dask="2024.8.0", numpy="2.0.0"):
        return {"packages": {"python": python, "dask": dask, "numpy": numpy, "lz4": None}}

    same_minor = {
        "client": node("3.11.7.final.0"),
        "scheduler": node("3.11.2.final.0"),
        "workers": {"tcp://a": node("3.11.2.final.0"), "tcp://b": node("3.11.2.final.0")},
    }
    assert real_mismatches(same_minor) == []
    real = {
        "client": node("3.11.7.final.0", dask="2024.9.0"),
        "scheduler": node("3.12.1.final.0"),
        "workers": {"tcp://a": {"packages": {**node("3.12.1.final.0")["packages"], "lz4": "4.0"}}},
    }
    assert real_mismatches(real) == [
        "dask: here 2024.9.0, scheduler 2024.8.0, workers 2024.8.0",
        "python: here 3.11.7.final.0, scheduler 3.12.1.final.0, workers 3.12.1.final.0",
    ]


@pytest.mark.cluster
def test_connecting_to_a_scheduler_of_the_same_versions_prints_nothing(local_cluster, capfd):
    with dask_client(local_cluster.scheduler_address) as client:
        assert client is not None and client.scheduler_info()["workers"]
    err = capfd.readouterr().err
    assert "VersionMismatch" not in err and "versions differ" not in err


@pytest.mark.cluster
def test_a_script_without_a_main_guard_gets_one_clear_line(tmp_path):
    """Worker processes re-import the main script; one that starts a local cluster at import
    time used to end in screens of multiprocessing tracebacks."""
    script = tmp_path / "no_guard.py"
    script.write_text(
        "from logloss.cluster import dask_client\n"
        "with dask_client(processes=True) as client:\n"
        "    print(len(client.scheduler_info()['workers']))\n"
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("RuntimeError: starting the local cluster's worker processes")
    assert 'under `if __name__ == "__main__":`' in lines[-1]
    assert "freeze_support" not in proc.stderr and len(lines) < 40
    # refused before any worker process started: none of them printed anything
    assert "logloss: error" not in proc.stderr


def test_a_guarded_script_is_not_mistaken_for_an_unguarded_one(tmp_path):
    """The check reads the main script: a cluster started under the guard is not refused,
    and one started at the top level of a script is, before any process is spawned."""
    script = tmp_path / "guarded.py"
    script.write_text(
        "import sys\n"
        "from logloss import cluster\n"
        "print(cluster._unguarded_main_line())\n"
        "if '__main__' == __name__:\n"
        "    print(cluster._unguarded_main_line())\n"
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["3", "None"]


def test_a_packages_main_module_is_not_mistaken_for_an_unguarded_script(tmp_path):
    """`python -m pkg` runs pkg/__main__.py, which multiprocessing never imports again (as
    `python -m logloss.cli` does): a cluster started at its top level is not refused."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(
        "from logloss import cluster\nprint(cluster._unguarded_main_line())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pkg"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["None"]
