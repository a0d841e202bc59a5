"""Real ``dask scheduler`` / ``dask worker`` processes on 127.0.0.1, for the cluster tests.

The command lines are those of the compose file's host-network override
(docker-compose.hostnet.yml): a scheduler bound to 127.0.0.1 with its dashboard on
loopback, and workers started as ``dask worker ADDRESS --host 127.0.0.1 --nworkers 1
--nthreads N --memory-limit M --dashboard-address 127.0.0.1:0``, i.e. *with* a nanny (the
compose default): the nanny restarts a worker process that dies, as in a container whose
worker process was killed by the OOM killer.

Every process is started in its own session (process group) so that stopping it also
stops the worker process below its nanny; :meth:`ProcessCluster.close` always runs (use the
class as a context manager or in a fixture's finaliser) and prints the logs of every
process when asked to (on test failure).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

LOOPBACK = "127.0.0.1"

# Environment variables a test process may carry that must not leak into the cluster's.
_SCRUB = ("DASK_SCHEDULER_ADDRESS",)


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def dask_executable() -> list[str]:
    """The ``dask`` command of this Python environment."""
    exe = Path(sys.executable).with_name("dask")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("dask")
    if found:
        return [found]
    return [sys.executable, "-m", "dask"]  # pragma: no cover


def subprocess_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass
class ProcessCluster:
    """A scheduler and workers as OS processes; ``address`` is the scheduler's URL.

    ``protocol`` is ``"tcp"`` or ``"tls"``; ``tls_args`` maps a role ("scheduler",
    "worker") to its ``--tls-*`` command-line flags; ``env`` is added to every process's
    environment (e.g. ``DASK_DISTRIBUTED__COMM__TLS__*``).
    """

    workdir: Path
    protocol: str = "tcp"
    nthreads: int = 1
    memory_limit: str = "2GiB"
    env: Mapping[str, str] = field(default_factory=dict)
    tls_args: Mapping[str, Sequence[str]] = field(default_factory=dict)
    nanny: bool = True
    procs: list[_Proc] = field(default_factory=list)
    port: int = 0
    dashboard_port: int = 0

    @property
    def address(self) -> str:
        return f"{self.protocol}://{LOOPBACK}:{self.port}"

    # ----------------------------------------------------------------- processes
    def _spawn(self, name: str, args: Sequence[str]) -> _Proc:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / f"{name}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                [*dask_executable(), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                env=subprocess_env(self.env),
                start_new_session=True,
            )
        proc = _Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def start_scheduler(self) -> None:
        self.port = free_port()
        self.dashboard_port = free_port()
        self._spawn(
            "scheduler",
            [
                "scheduler",
                "--host",
                LOOPBACK,
                "--port",
                str(self.port),
                "--dashboard-address",
                f"{LOOPBACK}:{self.dashboard_port}",
                *(["--protocol", self.protocol] if self.protocol != "tcp" else []),
                *self.tls_args.get("scheduler", ()),
            ],
        )
        self._wait_listening(self.port, timeout=60)

    def start_worker(self) -> _Proc:
        n = sum(p.name.startswith("worker") for p in self.procs)
        return self._spawn(
            f"worker-{n}",
            [
                "worker",
                self.address,
                "--host",
                LOOPBACK,
                "--nworkers",
                "1",
                "--nthreads",
                str(self.nthreads),
                "--memory-limit",
                self.memory_limit,
                "--dashboard-address",
                f"{LOOPBACK}:0",
                *([] if self.nanny else ["--no-nanny"]),
                *self.tls_args.get("worker", ()),
            ],
        )

    def _wait_listening(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(1.0)
                if s.connect_ex((LOOPBACK, port)) == 0:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"nothing listens on {LOOPBACK}:{port} after {timeout} s\n{self.logs()}")

    def check_alive(self) -> None:
        for p in self.procs:
            rc = p.popen.poll()
            if rc is not None and p.name == "scheduler":
                raise RuntimeError(f"the scheduler exited with status {rc}\n{self.logs()}")

    def wait_for_workers(self, client: Any, n: int, timeout: float = 90) -> None:
        """Block until the scheduler reports exactly ``n`` workers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if len(client.scheduler_info(n_workers=-1)["workers"]) == n:
                return
            time.sleep(0.2)
        have = len(client.scheduler_info(n_workers=-1)["workers"])
        raise TimeoutError(f"{have} worker(s) instead of {n} after {timeout} s\n{self.logs()}")

    def worker_pids(self, client: Any) -> dict[str, int]:
        """Worker address -> pid of the process that runs the worker (below its nanny)."""
        return dict(client.run(os.getpid))

    def pids(self) -> list[int]:
        """Every process of the cluster: the spawned ones and their children."""
        out = []
        for p in self.procs:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(p.popen.pid)
                out.append(proc.pid)
                out.extend(c.pid for c in proc.children(recursive=True))
        return out

    def listening_addresses(self) -> list[tuple[str, int]]:
        """(ip, port) of every listening TCP socket of the cluster's processes."""
        found = []
        for pid in self.pids():
            with contextlib.suppress(psutil.Error):
                for c in psutil.Process(pid).net_connections(kind="inet"):
                    if c.status == psutil.CONN_LISTEN:
                        found.append((c.laddr.ip, c.laddr.port))
        return found

    def logs(self) -> str:
        parts = []
        for p in self.procs:
            try:
                text = p.log.read_text(errors="replace")
            except OSError:
                text = "(no log)"
            parts.append(f"----- {p.name} (pid {p.popen.pid}, rc {p.popen.poll()}) -----\n{text}")
        return "\n".join(parts)

    def close(self, *, show_logs: bool = False) -> None:
        """Stop every process (SIGTERM to its group, SIGKILL after 10 s) and reap it."""
        if show_logs:
            print(self.logs(), file=sys.stderr)
        # Workers first, so they do not spend their shutdown trying to reach the scheduler.
        for p in sorted(self.procs, key=lambda p: p.name == "scheduler"):
            _stop(p.popen)
        self.procs.clear()

    def __enter__(self) -> ProcessCluster:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(show_logs=exc_type is not None)


def _signal_group(popen: subprocess.Popen[bytes], sig: int) -> None:
    # The process was started in a new session: its group id is its own pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, sig)


def _stop(popen: subprocess.Popen[bytes]) -> None:
    if popen.poll() is None:
        _signal_group(popen, signal.SIGTERM)
        try:
            popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _signal_group(popen, signal.SIGKILL)
            popen.wait(timeout=10)
    # The leader may be gone while a child of its group still runs.
    _signal_group(popen, signal.SIGKILL)


@contextlib.contextmanager
def process_cluster(
    workdir: Path, n_workers: int = 2, *, client_kwargs: Mapping[str, Any] | None = None, **kw: Any
) -> Iterator[tuple[ProcessCluster, Any]]:
    """Start a scheduler and ``n_workers`` workers, wait for them; yield (cluster, client).

    Everything is stopped on exit, also when the body raises (then the logs are printed).
    """
    from distributed import Client

    cluster = ProcessCluster(workdir, **kw)
    failed = True
    try:
        cluster.start_scheduler()
        for _ in range(n_workers):
            cluster.start_worker()
        with Client(cluster.address, timeout="30s", **(client_kwargs or {})) as client:
            cluster.wait_for_workers(client, n_workers)
            yield cluster, client
        failed = False
    finally:
        cluster.close(show_logs=failed)


def assert_loopback_only(cluster: ProcessCluster) -> None:
    listening = cluster.listening_addresses()
    assert listening, "no listening sockets found for the cluster's processes"
    outside = [(ip, port) for ip, port in listening if ip != LOOPBACK]
    assert not outside, f"listening beyond loopback: {outside}"
