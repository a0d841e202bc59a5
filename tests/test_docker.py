"""The container cluster end to end: image, compose stack, a training run through the flows service.

Builds the project image (``Dockerfile``), starts docker-compose.yml with the host-network
override (Prefect server, Dask scheduler, two Dask workers, the flows service, every listener on
127.0.0.1) with the data and model directories bind-mounted from a temporary directory, triggers
the ``train/logloss-train`` deployment through the Prefect API from the host and checks the model
it saved. The stack is always torn down (``down -v``), whatever happens.

Needs a running Docker engine: ``ci/docker-setup.sh`` installs and starts one and prepares a
registry-free build (a local base image and a wheelhouse); ``ci/run-docker-tests.sh`` runs both.
Without an engine the tests skip, unless ``CI`` is set, where they fail.

Settings (environment): LOGLOSS_TEST_BASE_IMAGE (base image; default ``logloss-base:local`` when
it exists, else the Dockerfile's default), LOGLOSS_TEST_WHEELHOUSE (wheelhouse in the build
context; default ``ci/wheelhouse`` when it exists), LOGLOSS_TEST_IMAGE (tag; ``logloss:test``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = [str(ROOT / "ci" / "compose.sh")]
PROJECT = "logloss-test"
DATASET = ROOT / "data" / "breast_cancer.parquet"
N_WORKERS = 2
N_FEATURES = 30  # the Wisconsin diagnostic breast cancer table
MODEL_NAME = "breast_cancer"


def _run(
    args: list[str], *, env: dict[str, str] | None = None, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed with exit code {proc.returncode}: {' '.join(args)}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
        )
    return proc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _require_docker() -> None:
    reason = None
    if shutil.which("docker") is None:
        reason = "the docker client is not installed"
    else:
        try:
            info = subprocess.run(
                ["docker", "info"], capture_output=True, text=True, timeout=60, check=False
            )
        except subprocess.TimeoutExpired:
            reason = "`docker info` timed out"
        else:
            if info.returncode != 0:
                reason = f"no Docker engine: `docker info` says {info.stderr.strip()[-300:]!r}"
    if reason is None:
        return
    reason += " (run ci/docker-setup.sh as root to install and start one)"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}")
    pytest.skip(reason)


@dataclass
class Stack:
    env: dict[str, str]
    compose_file: Path
    data_dir: Path
    models_dir: Path
    prefect_api: str
    scheduler: str
    dashboard_port: int

    def compose(self, *args: str, timeout: float = 300, check: bool = True):
        return _run(
            [*COMPOSE, "-f", str(self.compose_file), "-p", PROJECT, *args],
            env=self.env,
            timeout=timeout,
            check=check,
        )

    def logs(self, *services: str) -> str:
        out = self.compose("logs", "--no-color", "--tail", "80", *services, check=False)
        return out.stdout[-12000:] + out.stderr[-2000:]


def _containers_health(stack: Stack) -> dict[str, str]:
    ids = stack.compose("ps", "-q").stdout.split()
    if not ids:
        return {}
    out = _run(["docker", "inspect", *ids]).stdout
    health = {}
    for c in json.loads(out):
        state = c["State"]
        status = state.get("Health", {}).get("Status") if state.get("Health") else None
        health[c["Name"].lstrip("/")] = status or state["Status"]
    return health


def _wait_healthy(stack: Stack, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    health: dict[str, str] = {}
    while time.monotonic() < deadline:
        health = _containers_health(stack)
        # every service has a health check, the flows service too (flows/health.py)
        if len(health) == 3 + N_WORKERS and all(v == "healthy" for v in health.values()):
            return
        if any(v in {"unhealthy", "exited", "dead"} for v in health.values()):
            break
        time.sleep(2)
    raise AssertionError(f"stack not healthy: {health}\n{stack.logs()}")


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    _require_docker()
    assert DATASET.is_file(), f"the shipped dataset is missing: {DATASET}"

    tmp = tmp_path_factory.mktemp("docker-stack")
    data_dir, models_dir = tmp / "data", tmp / "models"
    data_dir.mkdir()
    models_dir.mkdir()
    shutil.copy(DATASET, data_dir / DATASET.name)
    # The services run as an unprivileged user (uid 1000) inside the containers.
    for d in (tmp, data_dir, models_dir):
        d.chmod(0o777)

    image = os.environ.get("LOGLOSS_TEST_IMAGE", "logloss:test")
    base = os.environ.get("LOGLOSS_TEST_BASE_IMAGE")
    if (
        base is None
        and _run(["docker", "image", "inspect", "logloss-base:local"], check=False).returncode == 0
    ):
        base = "logloss-base:local"
    wheelhouse = os.environ.get("LOGLOSS_TEST_WHEELHOUSE")
    if wheelhouse is None and (ROOT / "ci" / "wheelhouse").is_dir():
        wheelhouse = "ci/wheelhouse"

    prefect_port, scheduler_port, dashboard_port = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "LOGLOSS_IMAGE": image,
        "LOGLOSS_DATA_DIR": str(data_dir),
        # The data are also mounted at their host path, so host-side paths resolve on workers.
        "LOGLOSS_DATA_MIRROR": str(data_dir),
        "LOGLOSS_MODELS_DIR": str(models_dir),
        "LOGLOSS_RESTART": "no",
        "PREFECT_PORT": str(prefect_port),
        "PREFECT_UI_API_URL": f"http://127.0.0.1:{prefect_port}/api",
        "DASK_SCHEDULER_PORT": str(scheduler_port),
        "DASK_DASHBOARD_PORT": str(dashboard_port),
    }
    for key in ("DOCKER_BUILDKIT", "COMPOSE_PROJECT_NAME", "COMPOSE_FILE"):
        env.pop(key, None)

    build = ["docker", "build", "-t", image]
    if base:
        build += ["--build-arg", f"BASE_IMAGE={base}"]
    if wheelhouse:
        build += ["--build-arg", f"WHEELHOUSE={wheelhouse}"]
    started = time.monotonic()
    _run([*build, "."], env=env, timeout=900)
    print(f"image {image} built in {time.monotonic() - started:.0f} s", file=sys.stderr)

    # docker-compose.yml + the host-network override, merged. Compose v1 refuses `ports` on a
    # host-network service (v2 ignores them) and an override cannot remove them, so drop them
    # from the merged file: with host networking nothing is published anyway.
    merged = _run(
        [*COMPOSE, "-f", "docker-compose.yml", "-f", "docker-compose.hostnet.yml", "config"],
        env=env,
    ).stdout
    config = yaml.safe_load(merged)
    for service in config["services"].values():
        service.pop("ports", None)
        assert service.get("network_mode") == "host", service
    compose_file = tmp / "compose.yml"
    compose_file.write_text(yaml.safe_dump(config, sort_keys=False))

    s = Stack(
        env=env,
        compose_file=compose_file,
        data_dir=data_dir,
        models_dir=models_dir,
        prefect_api=f"http://127.0.0.1:{prefect_port}/api",
        scheduler=f"tcp://127.0.0.1:{scheduler_port}",
        dashboard_port=dashboard_port,
    )

    def teardown() -> None:
        if request.session.testsfailed:
            print(s.logs(), file=sys.stderr)
        s.compose("down", "-v", "--remove-orphans", "--timeout", "20", timeout=300, check=False)

    request.addfinalizer(teardown)
    s.compose("down", "-v", "--remove-orphans", timeout=300, check=False)  # leftovers
    started = time.monotonic()
    s.compose("up", "-d", "--no-build", "--scale", f"worker={N_WORKERS}", timeout=600)
    _wait_healthy(s)
    print(f"stack healthy in {time.monotonic() - started:.0f} s", file=sys.stderr)
    yield s


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


def test_default_compose_publishes_on_loopback_only() -> None:
    """Every published port of docker-compose.yml is bound to 127.0.0.1, as compose reads it."""
    if (
        shutil.which("docker-compose") is None
        and _run(["docker", "compose", "version"], check=False).returncode != 0
    ):
        _require_docker()  # fails under CI, skips elsewhere
        pytest.skip("no docker compose")
    config = yaml.safe_load(_run([*COMPOSE, "-f", "docker-compose.yml", "config"]).stdout)
    published = {name: _published_ports(svc) for name, svc in config["services"].items()}
    assert published["prefect-server"] and published["scheduler"], published
    for name, ports in published.items():
        for host_ip, port in ports:
            assert host_ip == "127.0.0.1", f"{name} publishes port {port} on {host_ip or 'all'}"
    assert "ports" not in config["services"]["worker"], "workers scale: they publish nothing"
    assert "container_name" not in config["services"]["worker"]


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


def test_cluster_has_the_workers_and_listens_on_loopback(stack: Stack) -> None:
    from distributed import Client

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # host and image Python differ in the patch version
        with Client(stack.scheduler, timeout=30) as client:
            client.wait_for_workers(N_WORKERS, timeout=60)
            info = client.scheduler_info()
    workers = info["workers"]
    assert len(workers) == N_WORKERS, list(workers)

    ports = {int(stack.scheduler.rsplit(":", 1)[1]), stack.dashboard_port}
    ports.add(int(stack.prefect_api.split(":")[2].split("/")[0]))
    for address, w in workers.items():
        ports.add(int(address.rsplit(":", 1)[1]))
        ports.update(int(p) for p in w.get("services", {}).values())
        if w.get("nanny"):
            ports.add(int(w["nanny"].rsplit(":", 1)[1]))
    seen = [(a, p) for a, p in _listeners() if p in ports]
    assert {p for _, p in seen} == ports, f"not listening: {ports - {p for _, p in seen}}"
    exposed = [(a, p) for a, p in seen if a not in ("127.0.0.1", "::1")]
    assert not exposed, f"listening beyond loopback: {exposed}"

    with urllib.request.urlopen(f"http://127.0.0.1:{stack.dashboard_port}/status", timeout=10) as r:
        assert r.status == 200  # the Dask dashboard (bokeh) is served


RUN_TRAIN = textwrap.dedent(
    """
    import json, sys, time
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    name, timeout = sys.argv[1], float(sys.argv[2])
    deadline = time.monotonic() + 120
    with get_client(sync_client=True) as client:
        while True:  # the flows service registers its deployments when it starts
            try:
                client.read_deployment_by_name(name)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)
    run = run_deployment(name, timeout=timeout, poll_interval=2)
    print(json.dumps({"id": str(run.id), "type": run.state.type.value,
                      "name": run.state.name, "message": run.state.message}))
    """
)


def test_train_deployment_through_the_flows_service(stack: Stack) -> None:
    env = {**stack.env, "PREFECT_API_URL": stack.prefect_api}
    started = time.monotonic()
    proc = _run(
        [sys.executable, "-c", RUN_TRAIN, "train/logloss-train", "600"], env=env, timeout=720
    )
    elapsed = time.monotonic() - started
    state = json.loads(proc.stdout.strip().splitlines()[-1])
    assert state["type"] == "COMPLETED", f"{state}\n{stack.logs('flows')}"
    print(f"train/logloss-train completed in {elapsed:.0f} s", file=sys.stderr)

    latest = stack.models_dir / MODEL_NAME / "latest"
    assert latest.is_symlink(), sorted(p.name for p in stack.models_dir.rglob("*"))
    target = os.readlink(latest)
    assert not os.path.isabs(target), f"latest must be a relative link, got {target!r}"
    model_dir = latest.resolve()
    assert model_dir.parent == (stack.models_dir / MODEL_NAME).resolve()
    _check_model(model_dir)


def _check_model(model_dir: Path) -> None:
    meta = json.loads((model_dir / "model.json").read_text())
    vec = np.load(model_dir / meta.get("coef_file", "coef.npy"), allow_pickle=False)
    # [coef_0 .. coef_29, intercept]
    assert vec.shape == (N_FEATURES + 1,), vec.shape
    assert np.all(np.isfinite(vec)), vec
    assert np.any(vec[:N_FEATURES] != 0)


def test_train_from_the_host_on_the_cluster(stack: Stack, tmp_path: Path) -> None:
    """The CLI on the host, computing on the containers' workers (the docs' first recipe)."""
    out = tmp_path / "bc"
    data = stack.data_dir / DATASET.name  # mounted at this same path in the workers
    # `python -m` from the repository root: the client runs the same code as the image (the
    # workers unpickle tasks that name logloss functions).
    _run(
        [
            sys.executable,
            "-m",
            "logloss.cli",
            "train",
            str(data),
            "--label",
            "target",
            "--scheduler",
            stack.scheduler,
            "--out",
            str(out),
        ],
        env={**stack.env, "PYTHONWARNINGS": "ignore"},
        timeout=600,
    )
    model_dirs = {p.parent for p in out.rglob("model.json")}
    assert model_dirs, f"no model.json under {out}"
    for d in model_dirs:
        _check_model(d)
