"""A fortnight of nightly training, run as a real deployment.

Fourteen days of date-partitioned data (``logloss generate --days 14``). The ``train``
deployment is served by ``python -m flows.serve`` against Prefect's API server (the gate and
the window come from ``LOGLOSS_TRAIN_PARAMETERS``, as a team would configure it) and run once
per day through the API with that night's ``as_of`` (a backfill is a parameter):

| days  | the data                             | expected                                      |
| ----- | ------------------------------------ | --------------------------------------------- |
| 1-7   | normal                               | each run promotes                             |
| 8     | labels flipped for 30 % of the rows  | rejected; latest unchanged; Failed, with why  |
| 9     | one feature column all null          | refused by the data checks before any fit     |
| 10    | a feature's mean shifted by one sd   | promoted, with the drift flagged              |
| 11-14 | normal                               | each run promotes                             |

Then: warm starts took fewer passes than the cold first night, ``logloss versions`` lists
every night's verdict, retention kept what it must, ``logloss promote`` rolls back, and (with
mlflow installed) the registered model's ``champion`` alias followed the promotions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logloss.storage.files import read_model

REPO = Path(__file__).resolve().parents[1]
FIRST = dt.date(2026, 3, 1)
DAYS, ROWS_PER_DAY, KEEP = 14, 3000, 6
NIGHTLY = {
    "window": "1d",  # the day that ended at as_of
    "holdout": 0.25,  # a random quarter of it
    "keep_versions": KEEP,
    "standardize": True,
    "gate_min_auc": 0.75,  # flipped labels drag the AUC to about 0.65 (0.84 on normal days)
    "gate_max_log_loss_increase": 0.05,  # against the champion, on the same rows
}
HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None

pytestmark = [pytest.mark.slow, pytest.mark.prefect, pytest.mark.timeout(1800)]


def day(i: int) -> dt.date:
    return FIRST + dt.timedelta(days=i - 1)


def rewrite(root: Path, i: int, change) -> None:
    """Day ``i``'s partition rewritten by ``change`` (a table -> table)."""
    files = sorted((root / f"date={day(i).isoformat()}").glob("*.parquet"))
    assert files, f"no partition for day {i}"
    for path in files:
        pq.write_table(change(pq.read_table(path)), path)


def flip_labels(t: pa.Table) -> pa.Table:
    y = t.column("y").to_numpy().copy()
    flip = np.random.default_rng(8).random(len(y)) < 0.3
    y[flip] = 1 - y[flip]
    return t.set_column(t.schema.get_field_index("y"), "y", pa.array(y))


def all_null(t: pa.Table) -> pa.Table:
    return t.set_column(t.schema.get_field_index("x1"), "x1", pa.nulls(len(t), pa.float64()))


def shift_mean(t: pa.Table) -> pa.Table:  # the features are N(0, 1)
    x2 = t.column("x2").to_numpy() + 1.0
    return t.set_column(t.schema.get_field_index("x2"), "x2", pa.array(x2))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "logloss.cli", *args], capture_output=True, text=True, env=env
    )


def latest(models: Path) -> str | None:
    try:
        return json.loads((models / "latest").read_text())["version"]
    except FileNotFoundError:
        return None


def serve(prefect_api: str, tmp: Path, data: Path, extra: dict) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api,
        "PYTHONPATH": str(REPO),
        "LOGLOSS_DATA": str(data),
        "LOGLOSS_LABEL": "y",
        "LOGLOSS_MODEL_DIR": str(tmp / "models"),
        "LOGLOSS_MODEL_NAME": "events",
        "LOGLOSS_TRAIN_CRON": "0 2 * * *",
        "LOGLOSS_TRAIN_PARAMETERS": json.dumps({**NIGHTLY, **extra}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flows.serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_deployment(proc: subprocess.Popen[str]) -> None:
    from prefect.client.orchestration import get_client

    async def read():
        async with get_client() as client:
            return await client.read_deployment_by_name("train/logloss-train")

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            asyncio.run(read())
            return
        except Exception:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(1)
    raise AssertionError("the train deployment never registered")


def nights(prefect_api: str, tmp: Path, data: Path, extra: dict) -> dict[int, tuple]:
    """Each night's (final state, the version latest names after it, the listing of
    ``logloss versions --json`` after it)."""
    from prefect.deployments import run_deployment

    proc = serve(prefect_api, tmp, data, extra)
    out = {}
    try:
        wait_for_deployment(proc)
        for i in range(1, DAYS + 1):
            as_of = f"{(day(i) + dt.timedelta(days=1)).isoformat()}T02:00:00Z"
            run = run_deployment(
                "train/logloss-train", parameters={"as_of": as_of}, timeout=600, poll_interval=1
            )
            models = tmp / "models" / "events"
            listed = json.loads(cli("versions", str(models), "--json").stdout)
            out[i] = (run.state, latest(models), listed)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return out


def test_a_fortnight_of_nightly_runs(prefect_api, tmp_path):
    data = tmp_path / "events"
    made = cli(
        "generate", str(data), "--rows", str(DAYS * ROWS_PER_DAY), "--features", "6",
        "--days", str(DAYS), "--end-date", day(DAYS).isoformat(), "--quiet",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    rewrite(data, 8, flip_labels)
    rewrite(data, 9, all_null)
    rewrite(data, 10, shift_mean)
    server, extra = None, {}
    if HAS_MLFLOW:
        from test_mlflow import MlflowServer

        (tmp_path / "mlflow").mkdir()
        server = MlflowServer(tmp_path / "mlflow")
        extra = {"mlflow_tracking_uri": server.url, "mlflow_model_name": "events"}
    try:
        ran = nights(prefect_api, tmp_path, data, extra)
        models = tmp_path / "models" / "events"
        served: list[str] = []
        for i, (state, now, listed) in ran.items():
            before = served[-1] if served else None
            message = state.message or ""
            if i == 8:
                assert state.is_failed(), state
                assert "rejected" in message and "ROC AUC" in message, message
                assert now == before, "a rejected model moved latest"
                newest = listed[-1]
                assert newest["verdict"] == "rejected" and not newest["latest"], newest
                assert "gate_min_auc" in newest["reason"], newest
                assert newest["metrics"]["roc_auc"] < NIGHTLY["gate_min_auc"]
            elif i == 9:
                assert state.is_failed(), state
                assert "'x1' arrives all null" in message, message
                assert now == before
                newest = listed[-1]
                assert newest["verdict"] == "refused" and "'x1'" in newest["reason"], newest
            else:
                assert state.is_completed(), (i, state, message)
                assert now is not None and now != before, f"night {i} did not promote"
                served.append(now)

        listed = ran[DAYS][2]
        verdicts = {v["version"]: v for v in listed}
        assert [v["version"] for v in listed if v["latest"]] == [served[-1]]
        assert all(v["verdict"] == "promoted" for n, v in verdicts.items() if n in served)
        assert [v["window"]["partitions"] for v in listed[-2:]] == [
            [day(DAYS - 1).isoformat()],
            [day(DAYS).isoformat()],
        ]

        # retention: the last KEEP versions, and never latest or the previous champion
        assert len(listed) == KEEP
        assert served[-1] in verdicts and served[-2] in verdicts

        # night 10: promoted, its shifted column's drift flagged (the others not)
        night10 = read_model(models / served[7])[0]["training"]  # served: nights 1-7, 10, ...
        assert night10["verdict"] == "promoted"
        checks = night10["data_checks"]["checks"]
        psi = {c["column"]: c["value"] for c in checks if c["name"] == "psi"}
        assert psi["x2"] > 0.2 > max(v for c, v in psi.items() if c != "x2"), psi
        assert any("x2" in f for f in night10["gate"]["flagged"]), night10["gate"]

        # warm starts: the nights kept started from their champion; the last night's fit,
        # cold on the same rows, takes more passes to the same optimum
        starts = [read_model(models / v)[0]["training"]["start"] for v in served[-4:]]
        assert all(s["warm"] for s in starts), starts
        as_of = f"{(day(DAYS) + dt.timedelta(days=1)).isoformat()}T02:00:00Z"
        cold = cli(
            "train", str(data), "--label", "y", "--window", "1d", "--as-of", as_of,
            "--holdout", "0.25", "--standardize", "--out", str(tmp_path / "cold"), "--json",
        )  # fmt: skip
        assert cold.returncode == 0, cold.stderr
        cold_fit = json.loads(cold.stdout)
        warm_meta, warm_vec = read_model(models / served[-1])
        _, cold_vec = read_model(tmp_path / "cold")
        print(f"night {DAYS}: warm {starts[-1]['passes']} passes, cold {cold_fit['passes']}")
        assert starts[-1]["passes"] < cold_fit["passes"]
        np.testing.assert_allclose(warm_vec, cold_vec, rtol=1e-3, atol=2e-3)

        # rollback, and forward again
        back = cli("promote", str(models), served[-2])
        assert back.returncode == 0, back.stderr
        assert latest(models) == served[-2]
        assert cli("promote", str(models), served[-1]).returncode == 0
        assert latest(models) == served[-1]

        if server is not None:  # the alias followed the promotions, a rejected one left it
            from mlflow import MlflowClient

            client = MlflowClient(tracking_uri=server.url)
            registered = client.search_model_versions("name='events'")
            by_run = {v.tags["logloss_version"]: v for v in registered}
            champion = client.get_registered_model("events").aliases["champion"]
            assert by_run[served[-1]].version == champion
            assert [v.tags["verdict"] for v in registered].count("rejected") == 1
    finally:
        if server is not None:
            server.stop()
