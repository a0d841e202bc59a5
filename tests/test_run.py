"""One training run behind two faces: ``logloss train`` and the ``train`` flow call the same
steps (logloss.training), and each renders the run's problems in its own spelling."""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import flows.train  # noqa: F401 - Prefect's console logging bound to pytest's own stderr,
from logloss import load_model  # not to a test's capsys stream closed after it
from logloss.cli import main
from logloss.remedies import Problem, Remedy
from logloss.settings import TRAIN_SETTINGS, TrainSettings, defaults, option_name

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "data" / "breast_cancer.parquet"


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env.update(extra)
    return env


def _small(tmp_path: Path, seed: int, *, when: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    n = 400
    X = rng.normal(size=(n, 3))
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ [1.0, -0.5, 0.25])))).astype(int)
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y})
    if when:
        frame["when"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(n), unit="h")
    path = tmp_path / f"d{seed}.parquet"
    frame.to_parquet(path)
    return path


# ------------------------------------------------------------------ settings
def test_train_settings_is_a_frozen_dataclass_with_one_field_per_registered_setting():
    fields = dataclasses.fields(TrainSettings)
    assert [f.name for f in fields] == [s.name for s in TRAIN_SETTINGS]
    assert {f.name: f.default for f in fields} == defaults()
    settings = TrainSettings(tol="1e-6", C="inf")
    assert settings.tol == 1e-6 and settings.C == math.inf  # checked and normalised
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.tol = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="^max_iter must be"):
        TrainSettings(max_iter=-1)


def test_the_deprecated_penalty_is_translated_in_one_place():
    settings, notice = TrainSettings.from_values({"penalty": "none", "tol": 1e-3})
    assert settings.C == math.inf and settings.tol == 1e-3
    assert notice is not None
    assert "use --C inf" in notice.render(option_name) and "use C=inf" in notice.render()
    assert TrainSettings.from_values({"penalty": "l2"})[0].C == 1.0
    assert TrainSettings.from_values({})[1] is None


def test_remedies_are_spelt_as_options_by_the_cli_and_as_names_by_the_flow():
    problem = Problem(
        "not converged",
        "{0} reached",
        (
            Remedy("max_iter", "increase", detail=" (now 5)"),
            Remedy("standardize", "fit with", True),
            Remedy("fit_intercept", "try", False),
            Remedy("checkpoint_restart", "pass", True),
        ),
        names=("max_iter",),
    )
    assert problem.render(option_name) == (
        "--max-iter reached; increase --max-iter (now 5); or fit with --standardize; or try "
        "--no-intercept; or pass --checkpoint-restart"
    )
    assert problem.render() == (
        "max_iter reached; increase max_iter (now 5); or fit with standardize=True; or try "
        "fit_intercept=False; or pass checkpoint_restart=True"
    )


def test_help_says_what_features_are_and_what_no_intercept_does(capsys):
    from flows.command import build_parser

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    cli = capsys.readouterr().out
    flow = build_parser().format_help()
    for text in (cli, flow):
        flat = " ".join(text.split())
        assert "fit an intercept (default)" not in flat
        assert "--no-intercept fit without an intercept" in flat
        assert "a string, a dictionary or a bool" in flat  # not only numeric columns
    assert "--validation" in cli and "--no-report" in flow and "--block-mb" in flow


# ---------------------------------------------------------- the CLI's problems
def test_a_checkpoint_of_another_fit_names_the_cli_option(tmp_path, capsys):
    a, b = _small(tmp_path, 1), _small(tmp_path, 2)
    ck = tmp_path / "ck"
    args = ["--label", "y", "--checkpoint", str(ck), "--quiet", "--max-iter", "3"]
    assert main(["train", str(a), *args, "--allow-unconverged", "--out", str(tmp_path / "m1")]) in (
        0,
        3,
    )
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:  # as every bad input of the CLI
        main(["train", str(b), *args, "--out", str(tmp_path / "m2")])
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert "--checkpoint-restart" in err and "checkpoint_restart=True" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "m2").exists()

    # the library spells it as the keyword argument (the flow and the estimator take it)
    from logloss.checkpoint import CheckpointMismatchError
    from logloss.loading import load_dataset
    from logloss.training.fit import train_model

    with pytest.raises(CheckpointMismatchError, match="checkpoint_restart=True") as caught:
        train_model(load_dataset(str(b), "y"), TrainSettings(max_iter=3), checkpoint=str(ck))
    assert caught.value.problem.remedies[0].setting == "checkpoint_restart"


def test_the_cli_and_the_run_module_fit_the_same_model(tmp_path, capsys):
    from logloss.training import TrainPlan, check_outputs
    from logloss.training.run import run

    data = _small(tmp_path, 3)
    out = tmp_path / "cli"
    assert main(["train", str(data), "--label", "y", "--tol", "1e-9", "--out", str(out)]) == 0
    plan = check_outputs(
        TrainPlan.create({"tol": 1e-9}, data=str(data), label="y", out=str(tmp_path / "lib"))
    )
    result = run(plan)
    assert result.problem is None and result.saved is not None
    cli, lib = load_model(out), load_model(result.saved.path)
    np.testing.assert_array_equal(cli.coef_, lib.coef_)
    np.testing.assert_array_equal(cli.intercept_, lib.intercept_)


def test_client_usage_data_is_off_where_server_analytics_are():
    env = {k: v for k, v in _env().items() if k not in ("DO_NOT_TRACK", "CI")}
    code = (  # Prefect's own answer where it has one (3.6 and later), else the variable it reads
        "import os, flows\n"
        "try:\n"
        "    from prefect._internal.analytics.enabled import is_telemetry_enabled\n"
        "except ImportError:\n"
        "    print(os.environ.get('DO_NOT_TRACK') != '1')\n"
        "else:\n"
        "    print(is_telemetry_enabled())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == "False", out.stderr


# ----------------------------------------------------------- with Prefect's API
@pytest.mark.prefect
def test_the_cli_and_the_flow_fit_the_same_model_and_spell_remedies_their_own_way(
    prefect_api, tmp_path, capsys
):
    from flows.train import train
    from logloss.training.fit import NotConvergedError

    out = tmp_path / "cli"
    common = ["--label", "target", "--standardize", "--tol", "1e-8"]
    assert main(["train", str(SHIPPED), *common, "--quiet", "--out", str(out)]) == 0
    version = Path(
        train(
            data=str(SHIPPED),
            label="target",
            standardize=True,
            tol=1e-8,
            validation=None,
            model_dir=str(tmp_path / "models"),
            name="bc",
        )
    )
    cli, flow = load_model(out), load_model(version)
    np.testing.assert_allclose(flow.coef_, cli.coef_, rtol=1e-12)
    np.testing.assert_allclose(flow.intercept_, cli.intercept_, rtol=1e-12)
    # the flow's report is titled with the model's name and version
    html = (version / "report.html").read_text()
    assert f"<title>logloss report: bc version {version.name}</title>" in html

    capsys.readouterr()
    assert (
        main(
            [
                "train",
                str(SHIPPED),
                "--label",
                "target",
                "--max-iter",
                "2",
                "--out",
                str(tmp_path / "m"),
            ]
        )
        == 3
    )
    err = capsys.readouterr().err
    assert "--max-iter" in err and "--standardize" in err and "max_iter (" not in err
    with pytest.raises(NotConvergedError) as caught:
        train(data=str(SHIPPED), label="target", max_iter=2, model_dir=str(tmp_path), name="x")
    text = str(caught.value)  # (the bundled sample is fitted standardized by the flow)
    assert "increase max_iter (now 2)" in text and "--max-iter" not in text


@pytest.mark.prefect
def test_the_bundled_example_fits_standardized_features(prefect_api, tmp_path, monkeypatch):
    from flows.train import train

    monkeypatch.delenv("LOGLOSS_DATA", raising=False)
    version = train(model_dir=str(tmp_path), name="bc")
    model = load_model(version)
    assert model.standardize is True and model.converged_  # was: raw scales 1e-3 .. 4e3
    assert model.training_["metrics"]["roc_auc"] > 0.98


@pytest.mark.prefect
def test_the_flow_command_shows_bad_input_as_one_line_and_names_dropped_dates(
    prefect_api, tmp_path, capsys
):
    data = _small(tmp_path, 4, when=True)
    env = _env(PREFECT_API_URL=prefect_api)
    bad = subprocess.run(
        [sys.executable, "-m", "flows.train", "--data", str(data), "--label", "nope"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2, bad.stderr
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()]
    assert bad.stderr.startswith("error: ") and "'nope'" in bad.stderr
    assert "Traceback" not in bad.stderr

    assert main(["train", str(data), "--label", "y", "--quiet", "--out", str(tmp_path / "m")]) == 0
    assert "left out column(s) 'when'" in capsys.readouterr().err
    good = subprocess.run(
        [sys.executable, "-m", "flows.train", "--data", str(data), "--label", "y"]
        + ["--model-dir", str(tmp_path / "models"), "--name", "d", "--no-report"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert good.returncode == 0, good.stderr
    assert "left out column(s) 'when'" in good.stderr


# ----------------------------------------------- issue 22, items 12 and 13 (slow)
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _follow(proc: subprocess.Popen) -> list[str]:
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    return lines


def _wait_for(lines: list[str], text: str, proc: subprocess.Popen, limit: float) -> None:
    deadline = time.monotonic() + limit
    while not any(text in line for line in lines):
        assert proc.poll() is None, "".join(lines)
        assert time.monotonic() < deadline, "".join(lines)
        time.sleep(0.1)


LONG_FIT = ["--solver", "gd", "--standardize", "--learning-rate", "0.01", "--max-iter", "2000"]
LONG_FIT += ["--tol", "1e-12", "--allow-unconverged", "--validation", "0"]


@pytest.mark.prefect
@pytest.mark.slow
def test_a_prefect_server_lost_mid_fit_ends_the_run_without_moving_latest(tmp_path):
    port = _free_port()
    home = tmp_path / "home"
    server_env = _env(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
        + ["--port", str(port)],
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    models = tmp_path / "models"
    try:
        api = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + 240
        while subprocess.run(["curl", "-sf", f"{api}/health"], capture_output=True).returncode:
            assert server.poll() is None and time.monotonic() < deadline, "no server"
            time.sleep(1)
        proc = subprocess.Popen(
            [sys.executable, "-m", "flows.train", "--data", str(SHIPPED), "--label", "target"]
            + ["--model-dir", str(models), "--name", "bc", *LONG_FIT],
            env=_env(PREFECT_API_URL=api, PREFECT_HOME=str(home)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines = _follow(proc)
        _wait_for(lines, "iteration 10:", proc, 240)
        os.killpg(server.pid, signal.SIGKILL)  # the server, mid-fit
        server.wait()
        rc = proc.wait(timeout=240)  # was: 5 minutes of retries, then a traceback
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    err = "".join(lines)
    assert rc == 1, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: lost the Prefect server at")
    assert "iteration 2000:" in err  # the fit was not stopped
    assert not (models / "bc" / "latest").exists()
    assert list((models / "bc" / ".checkpoints").glob("*/checkpoint.json"))  # kept, to resume


@pytest.mark.prefect
@pytest.mark.slow
def test_ctrl_c_in_the_flow_command_prints_one_line_and_exits_130(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.train", "--data", str(SHIPPED), "--label", "target"]
        + ["--model-dir", str(tmp_path / "models"), "--name", "bc", *LONG_FIT]
        + ["--max-iter", "1000000"],
        env={
            **{k: v for k, v in _env().items() if k != "PREFECT_API_URL"},
            "PREFECT_HOME": str(tmp_path / "home"),  # a temporary server of its own
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",  # a busy machine
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    lines = _follow(proc)
    try:
        _wait_for(lines, "iteration 10:", proc, 300)
        seen = len(lines)
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=60)  # was: 2 min 40 s of retries against the stopped server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(0.5)
    after = [line for line in lines[seen:] if "iteration" not in line]
    assert rc == 130, "".join(lines)
    assert after == ["interrupted\n"], after
    assert "Traceback" not in "".join(lines)
    assert not (tmp_path / "models" / "bc" / "latest").exists()
