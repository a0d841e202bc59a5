"""A test run leaves nothing in the system's temporary directory.

Prefect's home (its database), the flows' checkpoint directories of models saved to URLs and
any temporary file of the code under test go into one directory of the run (conftest.py),
removed when the run ends. They used to stay: a ``logloss-prefect-home-*`` directory per run
and empty ``logloss-checkpoints/NAME`` directories.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_this_run_keeps_its_temporary_files_in_its_own_directory() -> None:
    run = Path(tempfile.gettempdir())
    assert run.name.startswith("logloss-tests-") and os.environ["TMPDIR"] == str(run)
    assert Path(os.environ["PREFECT_HOME"]).parent == run


@pytest.mark.slow
@pytest.mark.prefect
def test_a_prefect_test_run_leaves_nothing_in_the_temporary_directory(tmp_path: Path) -> None:
    system = tmp_path / "system-tmp"
    system.mkdir()
    env = {
        k: v for k, v in os.environ.items() if k not in ("PREFECT_HOME", "PYTEST_DEBUG_TEMPROOT")
    }
    env.update(TMPDIR=str(system), PYTHONPATH=str(REPO))
    test = "tests/test_flows.py::test_flow_parameters_are_validated"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", test, "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    left = sorted(p.name for p in system.iterdir())
    # pytest's own tmp_path directories (it prunes them itself), nothing else
    assert all(name.startswith("pytest-of-") for name in left), left
