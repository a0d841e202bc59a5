"""Store outages and full disks name the URL or path, and say what was kept.

- A store that cannot be reached (here an FTP URL at a port nothing listens on: fsspec's
  FTP filesystem connects when it is made) used to surface as a bare
  ``ConnectionRefusedError``; a store path that does not exist names the URL.
- A full disk while ``predict`` writes its part files (a real 256 KiB tmpfs) used to print
  ``OSError: [Errno 28] Error writing bytes to file`` without a path: the part's path is now
  named, and the earlier predictions in the output directory are kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cluster_procs import free_port

import logloss
from logloss.generate import LABEL, generate
from logloss.storage import PREDICTIONS_MARKER
from logloss.storage.files import predictions_path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logloss.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )


def test_a_store_that_cannot_be_reached_is_named(tmp_path: Path) -> None:
    url = f"ftp://127.0.0.1:{free_port()}/data/part-0.parquet"
    with pytest.raises(logloss.DataError, match=rf"cannot open {url}: ConnectionRefusedError"):
        logloss.read_parquet(url, "y")
    done = _cli("train", url, "--label", "y", "--out", str(tmp_path / "model"))
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith(f"logloss: error: cannot open {url}:")
    assert "Traceback" not in done.stderr and not (tmp_path / "model").exists()


def test_a_bucket_that_does_not_exist_is_named() -> None:
    with pytest.raises(logloss.DataError, match="path does not exist: memory://no-such-bucket/d"):
        logloss.read_parquet("memory://no-such-bucket/d", "y")


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 256 KiB filesystem (tmpfs), unmounted afterwards; skipped where mounting is
    not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _files(top: Path) -> dict[str, bytes]:
    """Every file under ``top`` (its versions and ``latest``) with its bytes."""
    return {str(p.relative_to(top)): p.read_bytes() for p in top.rglob("*") if p.is_file()}


def test_a_full_disk_while_writing_predictions_names_the_path_and_keeps_the_old_ones(
    tmp_path: Path, small_disk: Path
) -> None:
    small = generate(tmp_path / "small-data", rows=1_000, features=4, files=1, seed=3)
    big = generate(tmp_path / "big-data", rows=100_000, features=4, files=2, seed=4)
    model = tmp_path / "model"
    assert _cli("train", str(small), "--label", LABEL, "--out", str(model)).returncode == 0
    out = small_disk / "preds"
    first = _cli("predict", str(model), str(small), "--out", str(out))
    assert first.returncode == 0, first.stderr
    before = _files(out)

    done = _cli("predict", str(model), str(big), "--out", str(out))
    assert done.returncode == 2, done.stderr
    line = done.stderr.splitlines()[-1]
    assert line.startswith(
        f"logloss: error: the disk filled up writing predictions part {small_disk}/"
    )
    assert "part-0000" in line and "earlier predictions there are kept" in line
    assert "Traceback" not in done.stderr
    # the earlier predictions are whole, and nothing else is left on the disk
    assert _files(out) == before
    assert json.loads((predictions_path(out) / PREDICTIONS_MARKER).read_text())["rows"] == 1_000
    assert sorted(p.name for p in small_disk.iterdir()) == ["preds"]
