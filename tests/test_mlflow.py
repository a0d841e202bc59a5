"""Training runs in MLflow (logloss.integrations.mlflow), against a real ``mlflow server``.

The server runs as a subprocess on 127.0.0.1 at a free port for the session (a SQLite backend
and a proxied artifact store in a temporary directory), started by the ``mlflow_server``
fixture and stopped after. The runs reach it as a user's would: the tracking URI as an option,
a flow parameter or the standard ``MLFLOW_TRACKING_URI``. What is checked against references:
the logged parameters are the run's settings, the metrics its evaluation, the logged
scikit-learn model predicts logloss's probabilities (1e-10), the plain files load back with
``logloss.load``. Without mlflow installed only the tests of logloss without the extra run.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cluster_procs import free_port

from logloss.cli import main
from logloss.integrations import mlflow as tracking
from logloss.training import TrainPlan
from logloss.training.run import run

ROOT = Path(__file__).resolve().parent.parent
CANCER = str(ROOT / "data" / "breast_cancer.parquet")
PENGUINS = str(ROOT / "data" / "penguins.parquet")
EXTRA = "pip install 'logloss[mlflow]'"

needs_mlflow = pytest.mark.skipif(
    importlib.util.find_spec("mlflow") is None,
    reason=f"mlflow is not installed ({EXTRA})",
)
#: The tests against the server: its start (a fresh SQLite store's migrations, uvicorn, its
#: job runner) takes 10 s on an idle 2-core machine and over 40 s on a busy one.
slow = pytest.mark.slow


class MlflowServer:
    """``mlflow server`` on 127.0.0.1 at a free port, as a real process group (it starts
    uvicorn and a job runner), with its SQLite database and artifacts under ``root``."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "server.log"
        cmd = [
            *(sys.executable, "-m", "mlflow", "server"),
            *("--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"),
            *("--serve-artifacts", "--artifacts-destination", str(root / "artifacts")),
            *("--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"),
        ]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        pytest.fail(f"mlflow server did not start on port {self.port}: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    yield server
    server.stop()


@pytest.fixture
def client(mlflow_server, monkeypatch):
    """A client of the session's server, and the server as MLflow's default (the loaders'
    ``models:/`` URIs), as a user's environment would set it."""
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    return MlflowClient(tracking_uri=mlflow_server.url)


def _plan(tmp_path: Path, uri: str | None, name: str, **kw) -> TrainPlan:
    fields = {"data": CANCER, "label": "target", "validation": 0.25}
    settings = kw.pop("settings", {"standardize": True, "tol": 1e-8})
    return TrainPlan.create(
        settings, **{**fields, **kw}, model_dir=str(tmp_path), name=name, mlflow_tracking_uri=uri
    )


def _champion(client, name: str) -> str | None:
    return client.get_registered_model(name).aliases.get("champion")


def _penguin_rows() -> pd.DataFrame:
    """The penguins' input columns as scikit-learn's imputer and encoder take them (None,
    not pandas' NA, in the categorical columns)."""
    df = pd.read_parquet(PENGUINS).drop(columns="adelie")
    for c in ("island", "sex"):
        df[c] = pd.Series([None if pd.isna(v) else v for v in df[c]], dtype=object)
    return df


# ------------------------------------------------------------------ one run, recorded
@needs_mlflow
@slow
def test_a_run_logs_its_settings_metrics_and_a_model_that_predicts_the_same(
    mlflow_server, client, tmp_path
):
    import mlflow.models
    import mlflow.pyfunc
    import mlflow.sklearn

    import logloss

    plan = _plan(
        tmp_path,
        mlflow_server.url,
        "penguins",
        data=PENGUINS,
        label="adelie",
        settings={"missing": "impute", "min_frequency": 3, "C": 0.5, "tol": 1e-8},
    )
    result = run(plan)
    assert result.saved is not None and result.metrics is not None
    (version,) = client.search_model_versions("name='penguins'")
    assert version.tags["verdict"] == "promoted"
    assert version.tags["logloss_version"] == result.saved.version
    assert version.tags["logloss_location"] == result.saved.path
    assert _champion(client, "penguins") == version.version

    logged = client.get_run(version.run_id)
    assert logged.info.status == "FINISHED" and logged.info.run_name == result.saved.version
    settings = {k: str(v) for k, v in plan.settings.values.items()}
    assert {k: logged.data.params[k] for k in settings} == settings
    assert logged.data.params["data"] == PENGUINS and logged.data.params["validation"] == "0.25"
    m, model = logged.data.metrics, result.model
    for k in ("log_loss", "roc_auc", "accuracy", "brier_score", "n"):
        assert m[k] == pytest.approx(result.metrics[k], rel=1e-12)
    assert m["passes"] == model.n_passes_ and m["iterations"] == model.n_iter_[0]
    assert m["train_loss"] == pytest.approx(model.history_[-1]["loss"], rel=1e-12)

    rows = _penguin_rows()
    expected = model.predict_proba(pd.read_parquet(PENGUINS).drop(columns="adelie"))
    uri = "models:/penguins@champion"
    sk = mlflow.sklearn.load_model(uri)  # the scikit-learn export: a Pipeline
    np.testing.assert_allclose(sk.predict_proba(rows), expected, rtol=0, atol=1e-10)
    flavours = mlflow.models.get_model_info(uri).flavors
    assert flavours["sklearn"].get("serialization_format", "skops") == "skops"  # no pickle
    pyfunc = mlflow.pyfunc.load_model(uri)  # predict: labels, as scikit-learn's
    np.testing.assert_array_equal(np.asarray(pyfunc.predict(rows)), sk.predict(rows))

    # logloss's own files, read back by logloss (no pickle)
    folder = mlflow.artifacts.download_artifacts(
        run_id=version.run_id, artifact_path="logloss", dst_path=str(tmp_path / "dl"),
        tracking_uri=mlflow_server.url,
    )  # fmt: skip
    assert sorted(p.name for p in Path(folder).iterdir()) == [
        "_version.json",
        "coef.npy",
        "model.json",
    ]
    back = logloss.load(folder)
    np.testing.assert_array_equal(back.coef_, model.coef_)
    np.testing.assert_array_equal(back.intercept_, model.intercept_)


@needs_mlflow
@slow
def test_the_champion_alias_follows_promotions_and_a_rejected_version_leaves_it(
    mlflow_server, client, tmp_path, monkeypatch
):
    first = run(_plan(tmp_path, mlflow_server.url, "bc"))
    # the second through the standard variable alone (set by the client fixture)
    assert os.environ["MLFLOW_TRACKING_URI"] == mlflow_server.url
    plan = _plan(tmp_path, None, "bc", settings={"standardize": True, "C": 0.5})
    second = run(plan)
    versions = {v.tags["logloss_version"]: v for v in client.search_model_versions("name='bc'")}
    assert set(versions) == {first.saved.version, second.saved.version}
    assert _champion(client, "bc") == versions[second.saved.version].version
    assert client.get_run(versions[second.saved.version].run_id).data.params["C"] == "0.5"

    # a run the promotion gate rejected: a version of its own, tagged, the alias unmoved
    champion = versions[second.saved.version].version
    rejected = tracking.record(
        second.model,
        plan.settings,
        tracking_uri=mlflow_server.url,
        model_name="bc",
        metrics=second.metrics,
        verdict="rejected",
    )
    assert rejected.verdict == "rejected" and rejected.champion == champion
    assert client.get_model_version("bc", rejected.version).tags["verdict"] == "rejected"
    assert int(rejected.version) == 3 and _champion(client, "bc") == champion

    with pytest.raises(ValueError, match="verdict must be one of"):
        tracking.record(
            second.model,
            plan.settings,
            tracking_uri=mlflow_server.url,
            model_name="bc",
            verdict="maybe",  # type: ignore[arg-type]
        )


@needs_mlflow
@slow
def test_logloss_train_records_a_model_directory_under_its_name(
    mlflow_server, client, tmp_path, capsys
):
    out = tmp_path / "cancer-model"
    args = ["train", CANCER, "--label", "target", "--standardize", "--validation", "0.2"]
    rc = main([*args, "--out", str(out), "--mlflow-tracking-uri", mlflow_server.url, "--json"])
    assert rc == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # stdout holds only the JSON object (no MLflow run links)
    assert "warning" not in captured.err
    (version,) = client.search_model_versions("name='cancer-model'")
    assert _champion(client, "cancer-model") == version.version
    rc = main(
        [*args, "--out", str(out), "--mlflow-tracking-uri", mlflow_server.url,
         "--mlflow-model-name", "cancer", "--quiet"]
    )  # fmt: skip
    assert rc == 0 and len(client.search_model_versions("name='cancer'")) == 1


@needs_mlflow
@slow  # a fresh SQLite store's migrations, in this process
def test_a_store_without_a_server_records_an_estimator_too(tmp_path, monkeypatch):
    """A SQLite tracking URI (no server, artifacts under the working directory's mlruns/)
    and a logloss.LogisticRegression fitted in memory."""
    import mlflow.sklearn
    from sklearn.datasets import load_breast_cancer

    from logloss import LogisticRegression
    from logloss.settings import TrainSettings

    monkeypatch.chdir(tmp_path)
    X, y = load_breast_cancer(return_X_y=True)
    model = LogisticRegression(C=0.5, tol=1e-8, max_iter=500).fit(X, y)
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    settings, _ = TrainSettings.from_values({"C": 0.5, "tol": 1e-8, "max_iter": 500})
    first = tracking.record(model, settings, tracking_uri=uri, model_name="mem")
    second = tracking.record(model, settings, tracking_uri=uri, model_name="mem")
    assert (first.version, second.version, second.champion) == ("1", "2", "2")
    assert first.line().endswith("mem version 1 (promoted; champion -> version 1)")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # the loader's store
    loaded = mlflow.sklearn.load_model(f"runs:/{second.run_id}/model")
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=0, atol=1e-10)
    assert (tmp_path / "mlruns").is_dir()


# ------------------------------------------------------------------ the server down
@needs_mlflow
def test_a_server_that_does_not_answer_is_one_warning_and_the_model_is_written(tmp_path, capsys):
    import logloss

    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    out = tmp_path / "m"
    args = ["train", CANCER, "--label", "target", "--standardize", "--out", str(out)]
    assert main([*args, "--mlflow-tracking-uri", down, "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"logloss: warning: MLflow at {down} did not answer (")
    assert "the model is published all the same" in err[0]
    assert "check --mlflow-tracking-uri" in err[0]
    assert "Connection refused" in err[0]  # found by the probe, not after MLflow's retries
    assert logloss.load(out).n_features_in_ == 30

    plan = _plan(tmp_path, down, "bc")
    with pytest.warns(RuntimeWarning, match="did not answer"):
        result = run(plan)  # the library without a note hook: a Python warning
    assert result.saved is not None and Path(result.saved.path).is_dir()
    with pytest.raises(tracking.TrackingError, match="did not answer") as info:
        tracking.record(result.model, plan.settings, tracking_uri=down, model_name="bc")
    assert info.value.problem.what == "not tracked"


# ------------------------------------------------------------------ the flow
@needs_mlflow
@slow
@pytest.mark.prefect
def test_the_train_flow_records_each_run_and_warns_when_the_server_is_down(
    prefect_api, mlflow_server, client, tmp_path, caplog
):
    from flows.train import train

    common = {"data": CANCER, "label": "target", "model_dir": str(tmp_path), "name": "flowbc"}
    versions = []
    for C in (1.0, 0.5):
        state = train(**common, C=C, mlflow_tracking_uri=mlflow_server.url, return_state=True)
        assert state.is_completed(), state
        versions.append(Path(state.result()).name)
    found = {v.tags["logloss_version"]: v.version for v in client.search_model_versions(
        "name='flowbc'")}  # fmt: skip
    assert set(found) == set(versions)
    assert _champion(client, "flowbc") == found[versions[1]]

    down = f"http://127.0.0.1:{free_port()}"
    task_runs = logging.getLogger("prefect.task_runs")  # the tasks' run logger (no propagation)
    task_runs.addHandler(caplog.handler)
    try:
        state = train(**common, mlflow_tracking_uri=down, return_state=True)
    finally:
        task_runs.removeHandler(caplog.handler)
    assert state.is_completed(), state  # published all the same
    from logloss.publishing import resolve_model

    assert Path(resolve_model(tmp_path / "flowbc")).name == Path(state.result()).name
    assert any(f"MLflow at {down} did not answer" in r.getMessage() for r in caplog.records)
    assert _champion(client, "flowbc") == found[versions[1]]


# ------------------------------------------------------------------ without the extra
def test_without_a_tracking_uri_mlflow_is_never_imported(tmp_path):
    code = (
        "import sys\n"
        "from logloss.cli import main\n"
        f"rc = main(['train', {CANCER!r}, '--label', 'target', '--standardize', "
        f"'--out', {str(tmp_path / 'm')!r}, '--quiet'])\n"
        "assert rc == 0, rc\n"
        "print('mlflow' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("how", ["option", "env"])
def test_a_tracking_uri_without_mlflow_is_one_line_naming_the_extra(
    how, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if mlflow were not installed
    out = tmp_path / "m"
    args = ["train", CANCER, "--label", "target", "--out", str(out)]
    if how == "option":
        args += ["--mlflow-tracking-uri", "http://127.0.0.1:5000"]
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert EXTRA in err[0] and "--mlflow-tracking-uri" in err[0]
    assert not out.exists()  # refused before any data was read


def test_the_flow_refuses_a_tracking_uri_without_mlflow(tmp_path, monkeypatch):
    from flows.settings import plan_of

    monkeypatch.setitem(sys.modules, "mlflow", None)
    from logloss.remedies import ProblemError

    with pytest.raises(ProblemError, match=r"pip install 'logloss\[mlflow\]'"):
        plan_of({"model_dir": str(tmp_path), "mlflow_tracking_uri": "sqlite:///x.db"})


def test_messages_show_a_tracking_uri_without_its_password():
    assert tracking.shown("https://me:secret@mlflow.example:8443/x") == (
        "https://me:***@mlflow.example:8443/x"
    )
    assert tracking.shown("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


def test_the_registered_model_is_named_after_the_output():
    assert tracking.default_model_name("models/bc") == "bc"
    assert tracking.default_model_name("s3://bucket/models/clicks/") == "clicks"
    assert tracking.default_model_name("/") == "logloss"
