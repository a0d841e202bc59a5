"""The container cluster as the README starts it: image, compose stack, training runs on it.

``ci/run-docker-tests.sh`` runs the README's compose recipe verbatim (Docker setup,
``docker-compose up -d --build --scale worker=3``, ``logloss train ... --scheduler`` from the
host, ``prefect deployment run 'train/logloss-train' --watch``), then these tests check the
stack it left running and what the recipe produced, then takes the stack down. Besides: a
dataset put in ``./data`` is trained on through the scheduler (host command) and through the
flows service (``/data/...``), and the image holds no data files.

The stack is the compose project of this checkout (run from its root, default ports; override
with PREFECT_PORT, DASK_SCHEDULER_PORT, DASK_DASHBOARD_PORT, LOGLOSS_IMAGE as for compose).
Without a Docker engine or without the stack running the tests skip, unless ``CI`` is set,
where they fail. The tests of the compose files' configuration need only Compose.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = [str(ROOT / "ci" / "compose.sh")]
PREFECT_PORT = int(os.environ.get("PREFECT_PORT", "4200"))
SCHEDULER_PORT = int(os.environ.get("DASK_SCHEDULER_PORT", "8786"))
DASHBOARD_PORT = int(os.environ.get("DASK_DASHBOARD_PORT", "8787"))
PREFECT_API = f"http://127.0.0.1:{PREFECT_PORT}/api"
SCHEDULER = f"tcp://127.0.0.1:{SCHEDULER_PORT}"
IMAGE = os.environ.get("LOGLOSS_IMAGE", "logloss:latest")
SERVICES = ("prefect-server", "scheduler", "worker", "flows")
N_FEATURES = 30  # the Wisconsin diagnostic breast cancer table
README_MODEL = ROOT / "models" / "bc"  # the README's `logloss train ... --out models/bc`
DATA_PREFIX = "ci-docker-"  # the data-directory test's dataset (put in ./data, then removed)


def _env(**extra: str) -> dict[str, str]:
    # Compose reads ${PWD} (where ./data is mounted): that of a shell in the repository root.
    env = {**os.environ, "PWD": str(ROOT), **extra}
    for key in ("COMPOSE_PROJECT_NAME", "COMPOSE_FILE"):
        env.pop(key, None)
    return env


def _run(
    args: list[str], *, env: dict[str, str] | None = None, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args,
        cwd=ROOT,
        env=env if env is not None else _env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed with exit code {proc.returncode}: {' '.join(args)}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
        )
    return proc


def _compose(*args: str, env: dict[str, str] | None = None, timeout: float = 300, check=True):
    return _run([*COMPOSE, *args], env=env, timeout=timeout, check=check)


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}")
    pytest.skip(reason)


def _require_compose() -> None:
    if (
        shutil.which("docker-compose") is None
        and _run(["docker", "compose", "version"], check=False).returncode != 0
    ):
        _skip_or_fail("Compose is not installed (ci/docker-setup.sh installs it)")


def _require_docker() -> None:
    if shutil.which("docker") is None:
        _skip_or_fail("the docker client is not installed (ci/docker-setup.sh installs it)")
    try:
        info = subprocess.run(
            ["docker", "info"], capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired:
        _skip_or_fail("`docker info` timed out")
    else:
        if info.returncode != 0:
            _skip_or_fail(f"no Docker engine: `docker info` says {info.stderr.strip()[-300:]!r}")


def _containers() -> dict[str, dict[str, Any]]:
    """The compose project's containers by name: service, state, health, exit code."""
    ids = _compose("ps", "-a", "-q").stdout.split()
    if not ids:
        return {}
    out = {}
    for c in json.loads(_run(["docker", "inspect", *ids]).stdout):
        state = c["State"]
        out[c["Name"].lstrip("/")] = {
            "service": c["Config"]["Labels"].get("com.docker.compose.service"),
            "status": state["Status"],
            "health": (state.get("Health") or {}).get("Status"),
            "exit_code": state.get("ExitCode"),
        }
    return out


def _logs(*services: str) -> str:
    out = _compose("logs", "--no-color", "--tail", "60", *services, check=False)
    return out.stdout[-10000:] + out.stderr[-2000:]


@pytest.fixture(scope="session")
def stack() -> Iterator[dict[str, dict[str, Any]]]:
    """The README's stack, running (ci/run-docker-tests.sh starts it with the README's lines)."""
    _require_docker()
    _require_compose()
    containers = _containers()
    if not any(c["service"] == "scheduler" for c in containers.values()):
        _skip_or_fail(
            "the README's compose stack is not running here "
            "(bash ci/run-docker-tests.sh starts it with the README's commands, then runs these)"
        )
    yield containers


def _worker_transitions() -> dict[str, int]:
    """Each worker's count of task state transitions: grows when a worker computes."""
    from distributed import Client

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # host and image Python may differ in the patch version
        with Client(SCHEDULER, timeout=30) as client:
            return client.run(lambda dask_worker: dask_worker.state.transition_counter)


def _check_model(meta: dict[str, Any], vec: np.ndarray, n_features: int) -> None:
    assert vec.shape == (n_features + 1,), vec.shape  # [coef..., intercept]
    assert np.all(np.isfinite(vec)), vec
    assert np.any(vec[:n_features] != 0)
    assert len(meta["feature_names"]) == n_features, meta["feature_names"]
    assert meta["converged"] is True


def _version(path: Path) -> Path:
    """The version folder a model location's ``latest`` names (docs/model-files.md)."""
    return path / json.loads((path / "latest").read_text())["version"]


def _read_model(path: Path) -> tuple[dict[str, Any], np.ndarray]:
    path = _version(path)
    meta = json.loads((path / "model.json").read_text())
    return meta, np.load(path / meta.get("coef_file", "coef.npy"), allow_pickle=False)


READ_MODEL = """
import json, os, sys, numpy as np
d = sys.argv[1]
d = os.path.join(d, json.load(open(os.path.join(d, "latest")))["version"])  # plain tools
meta = json.load(open(f"{d}/model.json"))
vec = np.load(f"{d}/{meta.get('coef_file', 'coef.npy')}", allow_pickle=False)
print(json.dumps({"meta": meta, "vec": vec.tolist()}))
"""


def _read_model_in_flows(path: str) -> tuple[dict[str, Any], np.ndarray]:
    """A model the flows service saved in the models volume (not on the host)."""
    out = _compose("exec", "-T", "flows", "python", "-c", READ_MODEL, path).stdout
    got = json.loads(out.strip().splitlines()[-1])
    return got["meta"], np.asarray(got["vec"])


def _prefect(path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"{PREFECT_API}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


# --- the compose files, as Compose reads them ---------------------------------------------------


def _published_ports(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host address, published port) of each ``ports`` entry, short or long syntax."""
    out = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            out.append((str(entry.get("host_ip", "")), str(entry.get("published", ""))))
        else:
            parts = str(entry).split(":")
            out.append((parts[0] if len(parts) == 3 else "", parts[-2] if len(parts) > 1 else ""))
    return out


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Container path -> (source, read-only) of each volume, short or long syntax."""
    out = {}
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            out[entry["target"]] = (str(entry["source"]), bool(entry.get("read_only")))
        else:
            parts = str(entry).split(":")
            out[parts[1]] = (parts[0], len(parts) > 2 and "ro" in parts[2].split(","))
    return out


def _config(*files: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    args = [a for f in files for a in ("-f", f)]
    return yaml.safe_load(_compose(*args, "config", env=env).stdout)


def test_default_compose_publishes_on_loopback_only() -> None:
    """Every published port of docker-compose.yml is bound to 127.0.0.1, as compose reads it."""
    _require_compose()
    config = _config("docker-compose.yml")
    published = {name: _published_ports(svc) for name, svc in config["services"].items()}
    assert published["prefect-server"] and published["scheduler"], published
    for name, ports in published.items():
        for host_ip, port in ports:
            assert host_ip == "127.0.0.1", f"{name} publishes port {port} on {host_ip or 'all'}"
    assert "ports" not in config["services"]["worker"], "workers scale: they publish nothing"
    assert "container_name" not in config["services"]["worker"]


@pytest.mark.parametrize("data_dir", [None, "elsewhere"])
def test_data_is_mounted_read_only_where_host_commands_name_it(
    data_dir: str | None, tmp_path: Path
) -> None:
    """./data at its host path; LOGLOSS_DATA_DIR at /data and at its own path; all read-only."""
    _require_compose()
    env = _env(LOGLOSS_DATA_DIR=str(tmp_path))
    if data_dir is None:
        del env["LOGLOSS_DATA_DIR"]
    here = str(ROOT / "data")
    chosen = here if data_dir is None else str(tmp_path)
    for files in (["docker-compose.yml"], ["docker-compose.yml", "docker-compose.hostnet.yml"]):
        services = _config(*files, env=env)["services"]
        for name in ("worker", "flows"):
            mounts = _mounts(services[name])
            assert mounts[here] == (here, True), (files, name, mounts)
            assert mounts["/data"] == (chosen, True), (files, name, mounts)
            own_path = "/app/data" if data_dir is None else str(tmp_path)
            assert mounts[own_path] == (chosen, True), (files, name, mounts)
            assert mounts["/models"][1] is False, (files, name, mounts)
        for name in ("prefect-server", "scheduler"):
            sources = {src for src, _ in _mounts(services[name]).values()}
            assert not sources & {here, chosen}, (files, name, sources)


def test_image_build_context_excludes_data() -> None:
    patterns = (ROOT / ".dockerignore").read_text().split()
    assert "data" in patterns, patterns
    assert "COPY data" not in (ROOT / "Dockerfile").read_text()


# --- the running stack ------------------------------------------------------------------------


def test_stack_is_healthy_with_its_workers_registered(stack: dict[str, dict[str, Any]]) -> None:
    by_service: dict[str, list[dict[str, Any]]] = {}
    for c in stack.values():
        by_service.setdefault(c["service"], []).append(c)
    for service in SERVICES:
        assert by_service.get(service), f"no {service} container: {stack}"
        for c in by_service[service]:
            assert (c["status"], c["health"]) == ("running", "healthy"), (service, c)
    # `ready` ran once everything was healthy, and exited 0
    assert [(c["status"], c["exit_code"]) for c in by_service["ready"]] == [("exited", 0)]

    from distributed import Client

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Client(SCHEDULER, timeout=30) as client:
            workers = client.scheduler_info()["workers"]
    assert len(workers) == len(by_service["worker"]), list(workers)


def _listeners() -> list[tuple[str, int]]:
    """(address, port) of every listening TCP socket in this network namespace."""
    out = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        if not os.path.exists(table):
            continue
        with open(table) as f:
            for line in f.readlines()[1:]:
                col = line.split()
                if col[3] != "0A":
                    continue
                addr_hex, port_hex = col[1].split(":")
                raw = bytes.fromhex(addr_hex)
                if width == 8:
                    addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
                else:
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    addr = socket.inet_ntop(socket.AF_INET6, words)
                out.append((addr, int(port_hex, 16)))
    return out


def test_published_ports_listen_on_loopback_only(stack: dict[str, dict[str, Any]]) -> None:
    ports = {PREFECT_PORT, SCHEDULER_PORT, DASHBOARD_PORT}
    seen = [(a, p) for a, p in _listeners() if p in ports]
    assert {p for _, p in seen} == ports, f"not listening: {ports - {p for _, p in seen}}"
    exposed = [(a, p) for a, p in seen if a not in ("127.0.0.1", "::1")]
    assert not exposed, f"listening beyond loopback: {exposed}"
    url = f"http://127.0.0.1:{DASHBOARD_PORT}/status"
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200  # the Dask dashboard (bokeh) is served


def test_readme_training_from_the_host_wrote_its_model(stack: dict[str, dict[str, Any]]) -> None:
    """`logloss train data/breast_cancer.parquet ... --out models/bc` of the README's recipe."""
    assert (README_MODEL / "latest").is_file(), "the README's recipe wrote no models/bc"
    _check_model(*_read_model(README_MODEL), N_FEATURES)


def _runs_of(deployment: str) -> list[dict[str, Any]]:
    """The runs of a deployment that were started (not the schedule's future ones), newest first."""
    dep = _prefect(f"/deployments/name/{deployment}")
    runs = _prefect(
        "/flow_runs/filter",
        {"deployments": {"id": {"any_": [dep["id"]]}}, "sort": "START_TIME_DESC", "limit": 50},
    )
    return [r for r in runs if r["state"]["type"] != "SCHEDULED"]


def test_readme_deployment_run_completed_and_published(stack: dict[str, dict[str, Any]]) -> None:
    """`prefect deployment run 'train/logloss-train' --watch` of the README's recipe."""
    # the recipe's run, not the data-directory test's
    runs = [r for r in _runs_of("train/logloss-train") if DATA_PREFIX not in str(r["parameters"])]
    assert runs, "no run of train/logloss-train but the data-directory test's"
    assert runs[0]["state"]["type"] == "COMPLETED", runs[0]["state"]
    meta, vec = _read_model_in_flows("/models/breast_cancer")
    _check_model(meta, vec, N_FEATURES)


def test_a_dataset_put_in_data_is_trained_on_through_the_scheduler(
    stack: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """A new file in ./data: `logloss train data/NEW --scheduler` from the host, and the flow."""
    rng = np.random.default_rng(7)
    n, coef = 3000, np.array([1.5, -2.0, 0.5])
    X = rng.normal(size=(n, coef.size))
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ coef - 0.3)))).astype(np.int64)
    name = f"{DATA_PREFIX}{uuid.uuid4().hex[:8]}.parquet"
    path = ROOT / "data" / name
    table = pa.table({**{f"x{i}": X[:, i] for i in range(coef.size)}, "y": y})
    pq.write_table(table, path, row_group_size=1000)
    path.chmod(0o644)  # the containers run as uid 1000
    try:
        before = _worker_transitions()
        cli = [sys.executable, "-m", "logloss.cli", "train", f"data/{name}", "--label", "y"]
        env = _env(PYTHONWARNINGS="ignore")
        _run([*cli, "--scheduler", SCHEDULER, "--out", str(tmp_path / "m")], env=env)
        after = _worker_transitions()
        grew = [w for w in after if after[w] > before.get(w, 0)]
        assert grew, f"no worker computed anything: {before} -> {after}"
        meta, vec = _read_model(tmp_path / "m")
        _check_model(meta, vec, coef.size)
        # the same fit in this process (threads): the same coefficients
        _run([*cli, "--out", str(tmp_path / "local")], env=env)
        np.testing.assert_allclose(vec, _read_model(tmp_path / "local")[1], rtol=1e-8, atol=1e-10)

        # The flows service names the same file /data/NAME.
        model_name = name.removesuffix(".parquet")
        started = time.monotonic()
        _run(
            [
                *(sys.executable, "-m", "prefect", "deployment", "run", "train/logloss-train"),
                "--watch",
                *("--param", f"data=/data/{name}", "--param", "label=y"),
                *("--param", f"name={model_name}"),
            ],
            env=_env(PREFECT_API_URL=PREFECT_API),
            timeout=900,
        )
        elapsed = time.monotonic() - started
        print(f"the train flow on /data/{name}: {elapsed:.0f} s", file=sys.stderr)
        meta, vec = _read_model_in_flows(f"/models/{model_name}")
        _check_model(meta, vec, coef.size)
        assert meta["feature_names"] == ["x0", "x1", "x2"], meta["feature_names"]
    finally:
        path.unlink(missing_ok=True)


def test_a_click_log_trains_as_categorical_codes_through_the_scheduler(
    stack: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """A Criteo-shaped click log put in ./data (`logloss generate ctr`): string columns as
    int32 codes, the large ones hashed (--hash-bits 16), trained on the compose cluster's
    workers: the same model as an in-process fit, and it predicts."""
    name = f"{DATA_PREFIX}ctr-{uuid.uuid4().hex[:8]}"
    path = ROOT / "data" / name
    env = _env(PYTHONWARNINGS="ignore")
    logloss = [sys.executable, "-m", "logloss.cli"]
    try:
        _run(
            [*logloss, "generate", "ctr", f"data/{name}", "--rows", "20000", "--files", "2"],
            env=env,
        )
        path.chmod(0o755)  # the containers run as uid 1000
        for f in path.iterdir():
            f.chmod(0o644)
        before = _worker_transitions()
        train = [*logloss, "train", f"data/{name}", "--label", "label", "--missing", "impute"]
        train += ["--hash-bits", "16", "--standardize"]
        _run([*train, "--scheduler", SCHEDULER, "--out", str(tmp_path / "m")], env=env)
        after = _worker_transitions()
        assert [w for w in after if after[w] > before.get(w, 0)], f"{before} -> {after}"
        meta, vec = _read_model(tmp_path / "m")
        assert meta["converged"] is True
        enc = meta["encoding"]
        assert enc["hashing"]["bits"] == 16, enc["hashing"]
        kinds = {c["name"]: c["kind"] for c in enc["columns"]}
        assert "hashed" in kinds.values() and "categorical" in kinds.values(), kinds
        assert vec.shape[0] > 2**16 and np.all(np.isfinite(vec))
        _run([*train, "--out", str(tmp_path / "local")], env=env)
        np.testing.assert_allclose(vec, _read_model(tmp_path / "local")[1], rtol=1e-6, atol=1e-8)
        preds = tmp_path / "preds"
        _run(
            [*logloss, "predict", str(tmp_path / "m"), f"data/{name}", "--out", str(preds)], env=env
        )
        from logloss.storage.files import predictions_path

        assert pq.read_table(predictions_path(preds)).num_rows == 20000
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_image_holds_no_data(stack: dict[str, dict[str, Any]]) -> None:
    """No Parquet file or sample dataset outside the virtual environment, no /app/data."""
    script = (
        "find / -xdev -path /opt/venv -prune -o -path /proc -prune -o "
        "\\( -name '*.parquet' -o -name 'breast_cancer*' -o -name 'penguins*' \\) -print; "
        "test ! -e /app/data || echo /app/data"
    )
    out = _run(["docker", "run", "--rm", "--network", "none", IMAGE, "sh", "-c", script]).stdout
    assert out.split() == [], f"data files in the image {IMAGE}: {out.split()}"
