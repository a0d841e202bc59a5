"""The Prefect flows, run for real against Prefect's API server and a real Dask cluster."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from logloss import load_model
from logloss.loading import load_dataset
from logloss.publishing import resolve_model
from logloss.report import PICTURES
from logloss.settings import TrainSettings
from logloss.storage.files import predictions_path
from logloss.training.fit import train_model

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "data" / "breast_cancer.parquet"
PNG = b"\x89PNG\r\n\x1a\n"

pytestmark = [pytest.mark.prefect, pytest.mark.cluster]


def _artifacts(flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def read():
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
                )
            )

    return asyncio.run(read())


def _flow_run(flow_run_id):
    from prefect.client.orchestration import get_client

    async def read():
        async with get_client() as client:
            return await client.read_flow_run(flow_run_id)

    return asyncio.run(read())


def test_train_flow_publishes_a_model_with_report_and_artifacts(
    prefect_api, local_cluster, tmp_path
):
    from flows.train import train

    state = train(
        data=str(SHIPPED),
        label="target",
        model_dir=str(tmp_path),
        name="bc",
        validation=0.25,
        tol=1e-6,
        max_iter=300,
        scheduler_address=local_cluster.scheduler_address,
        return_state=True,
    )
    assert state.is_completed(), state
    version = Path(state.result())
    latest = tmp_path / "bc" / "latest"
    assert latest.is_file() and resolve_model(tmp_path / "bc") == version.resolve()
    assert not (tmp_path / "bc" / ".checkpoints").exists()
    model = load_model(latest)
    assert model.n_features_in_ == 30 and model.converged_
    metrics = json.loads((version / "metrics.json").read_text())
    assert 0 < metrics["log_loss"] < 0.3 and metrics["roc_auc"] > 0.95
    # held out about a quarter of the rows, trained on the rest
    assert 0.15 * 569 < metrics["n"] < 0.35 * 569
    assert model.training_["n_rows"] + metrics["n"] == 569
    for png in PICTURES.values():
        if png == "cv.png":
            continue  # only for a cross-validated model
        data = (version / png).read_bytes()
        assert data[:8] == PNG and len(data) > 5000
    html = (version / "report.html").read_text()
    assert version.name in html and ".tmp" not in html
    # the page says at its top that the metrics come from the held-out quarter
    drawn = json.loads((version / "report.json").read_text())
    assert drawn["evaluation"]["rows"] == metrics["n"]
    assert drawn["evaluation"]["held_out"] == "a random 25% of the rows, not used in fitting"
    top = html.split('<section id="pictures">')[0]
    assert "held-out data" in top and "a random 25% of the rows" in top
    assert f"{metrics['log_loss']:.4f}" in html or f"{metrics['log_loss']:.6g}" in html

    run_id = state.state_details.flow_run_id
    arts = {a.key: a for a in _artifacts(run_id)}
    assert {"training-progress", "training-report", "iteration-history"} <= set(arts)
    assert float(arts["training-progress"].data) == 100.0
    report = arts["training-report"].data
    assert "log_loss" in report and "roc.png" in report
    history = json.loads(arts["iteration-history"].data)
    assert len(history) == int(model.n_iter_[0]) and history[-1]["loss"] == pytest.approx(
        model.history_[-1]["loss"]
    )


def test_a_second_run_moves_latest_and_keeps_the_old_version(prefect_api, local_cluster, tmp_path):
    from flows.train import train

    kw = dict(
        data=str(SHIPPED),
        label="target",
        model_dir=str(tmp_path),
        name="bc",
        validation=None,
        scheduler_address=local_cluster.scheduler_address,
    )
    first = Path(train(**kw, C=0.1))
    second = Path(train(**kw, C=10.0))
    assert first != second and first.exists() and second.exists()
    assert resolve_model(tmp_path / "bc") == second.resolve()
    assert load_model(first).C == 0.1 and load_model(tmp_path / "bc" / "latest").C == 10.0


def test_bad_data_fails_the_flow_without_touching_latest(prefect_api, local_cluster, tmp_path):
    from flows.train import train

    good = Path(
        train(
            data=str(SHIPPED),
            label="target",
            model_dir=str(tmp_path),
            name="bc",
            validation=None,
            scheduler_address=local_cluster.scheduler_address,
        )
    )
    state = train(
        data=str(SHIPPED),
        label="no_such_column",
        model_dir=str(tmp_path),
        name="bc",
        scheduler_address=local_cluster.scheduler_address,
        return_state=True,
    )
    assert state.is_failed()
    with pytest.raises(Exception, match="no_such_column"):
        state.result()
    assert resolve_model(tmp_path / "bc") == good.resolve()
    assert sorted(
        p.name for p in (tmp_path / "bc").iterdir() if not p.name.startswith(".")
    ) == sorted([good.name, "latest"])


def test_served_train_deployment_takes_more_parameters_from_the_environment(monkeypatch):
    from flows.serve import deployments, main

    rules = {"warm_start": False, "gate_max_log_loss_increase": 0.002}
    monkeypatch.setenv("LOGLOSS_TRAIN_PARAMETERS", json.dumps(rules))
    train_dep, score_dep = deployments(cron="0 3 * * *")
    assert rules.items() <= train_dep.parameters.items()
    assert "warm_start" not in score_dep.parameters
    monkeypatch.setenv("LOGLOSS_TRAIN_PARAMETERS", '{"windw": "30d"}')
    with pytest.raises(SystemExit) as stop:
        main([])
    assert stop.value.code == 2
    monkeypatch.setenv("LOGLOSS_TRAIN_PARAMETERS", "[1, 2]")
    with pytest.raises(ValueError, match="LOGLOSS_TRAIN_PARAMETERS must be a JSON object"):
        deployments()


def test_flow_parameters_are_validated(prefect_api):
    from flows.train import train

    state = train(data=str(SHIPPED), label="target", C=-1.0, return_state=True)
    assert state.is_failed()
    state = train(data=str(SHIPPED), label="target", solver="sgd", return_state=True)
    assert state.is_failed()


def test_score_flow_uses_latest_and_writes_parquet(prefect_api, local_cluster, tmp_path):
    from flows.score import score
    from flows.train import train

    train(
        data=str(SHIPPED),
        label="target",
        model_dir=str(tmp_path),
        name="bc",
        validation=None,
        scheduler_address=local_cluster.scheduler_address,
    )
    out = tmp_path / "preds"
    state = score(
        data=str(SHIPPED),
        out=str(out),
        model="latest",
        keep=["target"],
        model_dir=str(tmp_path),
        name="bc",
        scheduler_address=local_cluster.scheduler_address,
        return_state=True,
    )
    assert state.is_completed()
    preds = pd.read_parquet(predictions_path(out))
    model = load_model(tmp_path / "bc" / "latest")
    X = pd.read_parquet(SHIPPED).drop(columns="target").to_numpy()
    np.testing.assert_allclose(preds["probability"], model.predict_proba(X)[:, 1], rtol=1e-12)
    assert "scoring-summary" in {a.key for a in _artifacts(state.state_details.flow_run_id)}


@pytest.mark.prefect
def test_flows_learn_and_apply_categorical_levels_and_imputation(prefect_api, tmp_path):
    """The train flow (in this process: no scheduler) learns levels and means on data with
    strings and nulls; the published model carries them and the score flow applies them."""
    from flows.score import score
    from flows.train import train
    from logloss.data import read_parquet
    from logloss.evaluation import model_columns

    rng = np.random.default_rng(12)
    n = 2000
    s = rng.choice(["red", "green", "blue"], size=n).astype(object)
    s[::31] = None
    x = rng.normal(size=n)
    x[::23] = np.nan
    z = np.nan_to_num(x) + (s == "red") * 1.5
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    data = tmp_path / "d.parquet"
    pd.DataFrame({"x": x, "s": pd.Series(s, dtype=object), "y": y}).to_parquet(data)
    train(data=str(data), label="y", model_dir=str(tmp_path), name="c", missing="impute")
    model = load_model(tmp_path / "c" / "latest")
    assert list(model.feature_names_out_) == [
        "x",
        "x__missing",
        "s=blue",
        "s=green",
        "s=red",
        "s=(null)",
    ]
    out = tmp_path / "preds"
    state = score(
        data=str(data),
        out=str(out),
        model="latest",
        model_dir=str(tmp_path),
        name="c",
        return_state=True,
    )
    assert state.is_completed()
    X = read_parquet(data, None, **model_columns(model)).X.compute()
    expected = 1 / (1 + np.exp(-(X @ model.coef_[0] + model.intercept_[0])))
    probability = pd.read_parquet(predictions_path(out))["probability"]
    np.testing.assert_allclose(probability, expected, rtol=1e-12)


def _env(prefect_api: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PYTHONPATH": str(REPO)}
    env.update(extra)
    return env


def test_served_deployments_run_when_triggered_through_the_api(
    prefect_api, local_cluster, tmp_path
):
    from prefect.deployments import run_deployment

    serve = subprocess.Popen(
        [sys.executable, "-m", "flows.serve"],
        cwd=SHIPPED.parents[1],  # the project directory, as in the image (older Prefect needs it)
        env=_env(
            prefect_api,
            LOGLOSS_MODEL_DIR=str(tmp_path / "models"),
            LOGLOSS_DATA=str(SHIPPED),
            DASK_SCHEDULER_ADDRESS=local_cluster.scheduler_address,
            LOGLOSS_TRAIN_CRON="30 3 * * *",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        from prefect.client.orchestration import get_client

        async def deployment():
            async with get_client() as client:
                return await client.read_deployment_by_name("train/logloss-train")

        deadline = time.monotonic() + 120
        dep = None
        while time.monotonic() < deadline:
            try:
                dep = asyncio.run(deployment())
                break
            except Exception:
                assert serve.poll() is None, serve.stdout.read() if serve.stdout else ""
                time.sleep(1)
        assert dep is not None, "deployment never registered"
        assert [s.schedule.cron for s in dep.schedules] == ["30 3 * * *"]
        run = run_deployment(
            "train/logloss-train", parameters={"validation": 0.2}, timeout=300, poll_interval=1
        )
        assert run.state is not None and run.state.is_completed(), run.state
        latest = tmp_path / "models" / "breast_cancer" / "latest"
        assert (resolve_model(latest) / "model.json").exists()
        scored = run_deployment(
            "score/logloss-score",
            parameters={"out": str(tmp_path / "preds")},
            timeout=300,
            poll_interval=1,
        )
        assert scored.state.is_completed(), scored.state
        assert len(pd.read_parquet(predictions_path(tmp_path / "preds"))) == 569
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()


KILL_SCRIPT = """
import sys
from flows.train import train
train(data=sys.argv[1], label="target", model_dir=sys.argv[2], name="bc", solver="gd",
      standardize=True, learning_rate=1.0, max_iter=4000, tol=1e-5, validation=None,
      checkpoint_every=10, scheduler_address=sys.argv[3])
"""


def test_a_killed_training_run_resumes_from_its_checkpoint(prefect_api, local_cluster, tmp_path):
    from flows.train import train

    sched = local_cluster.scheduler_address
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(SHIPPED), str(tmp_path), sched],
        env=_env(prefect_api),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ck_root = tmp_path / "bc" / ".checkpoints"
    killed_at = None
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            files = list(ck_root.glob("*/checkpoint.json"))
            if files:
                try:
                    n = json.loads(files[0].read_text())["n_iter"]
                except (ValueError, OSError):
                    n = 0
                if n >= 100:
                    proc.send_signal(signal.SIGKILL)  # the process, not a Python exception
                    proc.wait()
                    killed_at = n
                    break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed_at is not None, "the run finished or never checkpointed before it could be killed"
    assert not (tmp_path / "bc" / "latest").exists()  # nothing published by the killed run
    saved = json.loads(next(ck_root.glob("*/checkpoint.json")).read_text())["n_iter"]
    assert saved >= 100

    version = Path(
        train(
            data=str(SHIPPED),
            label="target",
            model_dir=str(tmp_path),
            name="bc",
            solver="gd",
            standardize=True,
            learning_rate=1.0,
            max_iter=4000,
            tol=1e-5,
            validation=None,
            checkpoint_every=10,
            scheduler_address=sched,
        )
    )
    resumed = load_model(version)
    assert resumed.training_["resumed_from_checkpoint"] is True

    # the same fit, undisturbed, through the same library function
    ds = load_dataset(str(SHIPPED), "target")
    settings = TrainSettings(
        solver="gd", learning_rate=1.0, max_iter=4000, tol=1e-5, standardize=True
    )
    reference = train_model(ds, settings)
    total = int(reference.n_iter_[0])
    assert int(resumed.n_iter_[0]) == total
    new_iterations = total - saved
    assert new_iterations < total  # fewer iterations than from zero
    assert resumed.history_[-1]["loss"] == pytest.approx(reference.history_[-1]["loss"], abs=1e-9)
    np.testing.assert_allclose(resumed.coef_, reference.coef_, rtol=1e-9)


def test_flows_health_check_reports_what_is_missing(tmp_path):
    """The compose health check of the flows service (flows/health.py), without Docker."""
    closed = subprocess.run(
        [sys.executable, "-m", "flows.health"],
        capture_output=True,
        text=True,
        env={**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api", "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert closed.returncode == 1 and "does not answer" in closed.stderr
    unset = subprocess.run(
        [sys.executable, "-m", "flows.health"],
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"},
            "PYTHONPATH": str(REPO),
        },
        timeout=60,
    )
    assert unset.returncode == 1 and "PREFECT_API_URL is not set" in unset.stderr


@pytest.mark.prefect
def test_flows_health_check_against_the_api(prefect_api):
    from prefect.client.orchestration import get_client

    async def names() -> set[str]:
        async with get_client() as client:
            return {d.name for d in await client.read_deployments()}

    served = {"logloss-train", "logloss-score"} <= asyncio.run(names())
    proc = subprocess.run(
        [sys.executable, "-m", "flows.health"],
        capture_output=True,
        text=True,
        env=_env(prefect_api),
        timeout=60,
    )
    assert proc.returncode == (0 if served else 1), proc.stderr
    if not served:
        assert "not serving yet" in proc.stderr


def test_train_flow_chooses_c_by_cross_validation(prefect_api, local_cluster, tmp_path):
    """cv/Cs are flow parameters (the same settings as the CLI's): the search runs on the
    training rows on the cluster, and the published model carries its table."""
    from flows.train import train

    state = train(
        data=str(SHIPPED),
        label="target",
        model_dir=str(tmp_path),
        name="bc",
        standardize=True,
        cv=3,
        Cs=[0.01, 0.1, 1.0],
        tol=1e-6,
        scheduler_address=local_cluster.scheduler_address,
        return_state=True,
    )
    assert state.is_completed(), state
    model = load_model(tmp_path / "bc" / "latest")
    table = model.cv_
    assert table["folds"] == 3 and table["Cs"] == [0.01, 0.1, 1.0]
    best = int(np.argmax(table["mean"]))
    assert model.C == table["C"] == table["Cs"][best] and table["converged"]
    # trained on the 80 % the flow keeps for training, before the hold-out evaluation
    assert model.training_["n_rows"] < 569
