"""Models and predictions at ``s3://`` URLs, against a real S3 API server (moto's).

``moto_server`` runs as a subprocess on 127.0.0.1 at a free port; the CLI processes reach it
as a user's would, through the standard variables ``AWS_ENDPOINT_URL`` and dummy credentials
(botocore honours them, so s3fs needs no extra options). Issue 22's items 2 (a killed
``predict --out s3://...``) and 14 (a missing bucket, a store lost mid-save) are checked here.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from cluster_procs import free_port

pytest.importorskip("s3fs")

DATA = str(Path(__file__).resolve().parent.parent / "data" / "breast_cancer.parquet")
TRAIN = ["train", DATA, "--label", "target", "--standardize"]


class MotoServer:
    """``moto_server`` on 127.0.0.1 at a free port, as a real process; with ``log``, its log
    on a pipe (that a test must read: a full pipe would stop the server)."""

    def __init__(self, log: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE if log else subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        pytest.fail(f"moto_server did not start on port {self.port}")

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.url,
        }

    def fs(self):
        import s3fs

        return s3fs.S3FileSystem(
            key="testing",
            secret="testing",
            client_kwargs={"endpoint_url": self.url},
            skip_instance_cache=True,
            use_listings_cache=False,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        _forget_filesystems()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def _forget_filesystems() -> None:
    """Drop fsspec's cached S3 file systems: one made for an earlier module's server (its
    endpoint read from the environment then) would keep calling that server's port."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@contextlib.contextmanager
def running_moto():
    """A moto server, its endpoint and keys in this process's environment (its readers, and
    the CLI processes) until it stops; fsspec's cached S3 file systems forgotten around it."""
    _forget_filesystems()
    server = MotoServer()
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    try:
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def moto():
    with running_moto() as server:
        yield server


@pytest.fixture
def bucket(moto):
    name = f"b{np.random.default_rng().integers(1 << 40):x}"
    moto.fs().mkdir(name)
    return name


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logloss.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def _ok(*args: str) -> subprocess.CompletedProcess[str]:
    done = _cli(*args)
    assert done.returncode == 0, done.stderr
    return done


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr.strip().splitlines()[-1]


# ------------------------------------------------------------- models at an S3 URL
def test_train_twice_evaluate_load_and_roll_back_at_an_s3_url(moto, bucket):
    import logloss
    from logloss.storage import list_versions, promote

    url = f"s3://{bucket}/m"
    _ok(*TRAIN, "--out", url, "--max-iter", "3", "--allow-unconverged")
    first = logloss.load(url)
    _ok(*TRAIN, "--out", url)
    second = logloss.load(url)
    assert second.n_iter_ > first.n_iter_ == 3
    metrics = json.loads(_ok("evaluate", url, DATA, "--json").stdout)
    table = pq.read_table(DATA).to_pandas()
    X, y = table[list(second.feature_names_in_)], table["target"].to_numpy()
    from sklearn.metrics import log_loss

    ours, theirs = (log_loss(y, m.predict_proba(X)[:, 1]) for m in (second, first))
    assert metrics["n"] == 569 and metrics["log_loss"] == pytest.approx(ours, rel=1e-9)
    assert abs(metrics["log_loss"] - theirs) > 1e-3  # the second model, not the first
    versions = list_versions(url)
    assert [v["current"] for v in versions] == [False, True]
    assert [v["meta"]["n_iter"] for v in versions] == [3, second.n_iter_]
    promote(url, versions[0]["version"])  # roll back, at the S3 URL
    np.testing.assert_array_equal(logloss.load(url).coef_, first.coef_)
    assert {o.split("/")[-1] for o in moto.fs().find(f"{bucket}/m")} >= {"latest", "model.json"}


# ------------------------------------------------------------- 22.2: a killed predict
def _many_parts(tmp_path: Path, parts: int = 16, copies: int = 4) -> tuple[Path, int]:
    """The breast-cancer table repeated ``copies`` times, in ``parts`` files (one block
    each)."""
    table = pq.read_table(DATA)
    import pyarrow as pa

    big = pa.concat_tables([table] * copies)
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(parts):
        pq.write_table(big, folder / f"part-{i:03d}.parquet")
    return folder, parts * big.num_rows


def test_a_killed_predict_to_s3_leaves_the_old_complete_dataset(moto, bucket, tmp_path):
    from logloss.storage import predictions_path, read_predictions
    from logloss.storage import versions as v

    model, preds = f"s3://{bucket}/m", f"s3://{bucket}/p"
    _ok(*TRAIN, "--out", model)
    _ok("predict", model, DATA, "--out", preds)
    old = predictions_path(preds)
    assert read_predictions(preds).num_rows == 569
    many, rows = _many_parts(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "logloss.cli", "predict", model, str(many), "--out", preds],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    fs, killed = moto.fs(), []
    try:
        while proc.poll() is None and not killed:
            new = [
                o
                for o in fs.find(f"{bucket}/p")
                if o.endswith(".parquet") and not f"s3://{o}".startswith(f"{old}/")
            ]
            if new:  # its first part objects are there: kill it mid-write
                proc.send_signal(signal.SIGKILL)
                killed = new
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()
    assert killed, "predict finished before its first part was seen"
    partial = killed[0].split("/")[-2]
    assert not fs.exists(f"{bucket}/p/{partial}/_logloss_predictions.json")
    # readers of the URL get the old complete dataset, all its rows
    assert predictions_path(preds) == old
    table = read_predictions(preds)
    assert table.num_rows == 569 and table.column_names == ["probability", "prediction"]
    # the next complete predict replaces it; the unfinished version is fresh: kept for now
    _ok("predict", model, str(many), "--out", preds)
    assert predictions_path(preds) != old and read_predictions(preds).num_rows == rows
    assert fs.exists(f"{bucket}/p/{partial}")
    # ... and removed by a later write once untouched for STALE_AFTER (by the store's clock,
    # the modification time of `latest`; S3 keeps whole seconds: the rule made short here)
    time.sleep(2.5)
    code = (
        "import sys; from logloss.storage import versions; versions.STALE_AFTER = 1.0; "
        "from logloss.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "predict", model, DATA, "--out", preds],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr
    assert not fs.exists(f"{bucket}/p/{partial}")
    left = sorted({o.split("/")[2] for o in fs.find(f"{bucket}/p") if o.count("/") >= 3})
    assert len(left) == 2 and all(v.VERSION_RE.match(n) for n in left)  # in force + previous
    assert read_predictions(preds).num_rows == 569


# ------------------------------------------------------------- 22.14: a missing bucket
@pytest.mark.parametrize("command", ["train", "predict"])
def test_a_bucket_that_does_not_exist_is_named_with_exit_status_2(moto, bucket, command):
    url = f"s3://no-such-{bucket}/out"
    if command == "train":
        done = _cli(*TRAIN, "--out", url)
    else:
        _ok(*TRAIN, "--out", f"s3://{bucket}/m")
        done = _cli("predict", f"s3://{bucket}/m", DATA, "--out", url)
    line = _one_line(done)
    assert line.startswith(f"logloss: error: output URL {url!r} cannot be used")
    assert f"bucket 'no-such-{bucket}' does not exist" in line


# ------------------------------------------------------------- 22.14: the server lost mid-save
@pytest.fixture
def own_moto(monkeypatch):
    """A server of the test's own, which it kills."""
    server = MotoServer(log=True)  # read by _kill_at
    for k, v in server.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # once lost, it fails at once, not after retries
    server.fs().mkdir("bucket")
    yield server
    server.stop()


def _kill_at(server: MotoServer, proc: subprocess.Popen, request: str) -> str:
    """Kill the server once its log shows ``request`` (a request it has answered)."""
    assert server.proc.stderr is not None
    for line in server.proc.stderr:
        if request in line:
            server.proc.send_signal(signal.SIGKILL)
            return line
    raise AssertionError(f"the server never saw {request!r}; {proc.poll()=}")


def test_the_server_lost_mid_train_save_names_the_url_and_the_model_kept(own_moto):
    url = "s3://bucket/m"
    _cli(*TRAIN, "--out", url, env=own_moto.env).check_returncode()
    kept = f"{url}/{json.loads(own_moto.fs().cat_file('bucket/m/latest'))['version']}"
    cmd = [sys.executable, "-m", "logloss.cli", *TRAIN, "--report", "--out", url]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **own_moto.env, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    _kill_at(own_moto, proc, "PUT /bucket/m/v000002-")  # its first file of the new version
    _, err = proc.communicate(timeout=300)
    done = subprocess.CompletedProcess(cmd, proc.returncode, "", err)
    line = _one_line(done)
    assert line.startswith(f"logloss: error: cannot write the model to {url!r}: ")
    assert "EndpointConnectionError" in line and own_moto.url in line
    assert line.endswith(f"kept {kept!r}, the model in force")


def test_the_server_lost_mid_predict_names_the_url_and_the_predictions_kept(own_moto, tmp_path):
    model, preds = "s3://bucket/m", "s3://bucket/p"
    for args in ([*TRAIN, "--out", model], ["predict", model, DATA, "--out", preds]):
        _cli(*args, env=own_moto.env).check_returncode()
    kept = f"{preds}/{json.loads(own_moto.fs().cat_file('bucket/p/latest'))['version']}"
    many, _ = _many_parts(tmp_path)
    cmd = [sys.executable, "-m", "logloss.cli", "predict", model, str(many), "--out", preds]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **own_moto.env, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    _kill_at(own_moto, proc, "PUT /bucket/p/v000002-")  # its first part
    _, err = proc.communicate(timeout=300)
    line = _one_line(subprocess.CompletedProcess(cmd, proc.returncode, "", err))
    assert line.startswith(f"logloss: error: cannot write the predictions to {preds!r}: ")
    assert own_moto.url in line
    assert line.endswith(f"kept {kept!r}, the predictions in force")
