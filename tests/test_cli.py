"""The ``logloss`` command line: behaviour, exit codes, messages, and nothing half-written.

Most commands run in-process against the session's real two-worker LocalCluster
(``--scheduler``); a few run as real subprocesses to check exit codes and that no
traceback is printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import good_table, write
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.metrics import log_loss as sk_log_loss

from logloss import load_model
from logloss.cli import main
from logloss.publishing import resolve_model
from logloss.report import PICTURES
from logloss.storage.files import predictions_path

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "data" / "breast_cancer.parquet"

pytestmark = pytest.mark.cluster


@pytest.fixture
def sched(local_cluster) -> str:
    return local_cluster.scheduler_address


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logloss.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


# ------------------------------------------------------------------ happy path
def test_train_predict_evaluate_on_the_shipped_dataset_matches_sklearn(tmp_path, sched, capsys):
    model_dir = tmp_path / "model"
    rc = main(
        [
            "train",
            str(SHIPPED),
            "--label",
            "target",
            "--standardize",
            "--tol",
            "1e-8",
            "--max-iter",
            "500",
            "--out",
            str(model_dir),
            "--scheduler",
            sched,
            "--quiet",
        ]
    )
    assert rc == 0
    assert capsys.readouterr().out == ""  # --quiet: nothing but errors
    model = load_model(model_dir)
    df = pd.read_parquet(SHIPPED)
    X = df.drop(columns="target")
    assert list(model.feature_names_in_) == list(X.columns)
    assert model.training_["label"] == "target"

    preds = tmp_path / "preds"
    assert (
        main(
            [
                "predict",
                str(model_dir),
                str(SHIPPED),
                "--out",
                str(preds),
                "--keep",
                "target",
                "--scheduler",
                sched,
            ]
        )
        == 0
    )
    out = pd.read_parquet(predictions_path(preds))  # the version `latest` names
    assert list(out.columns) == ["target", "probability", "prediction"]
    np.testing.assert_allclose(
        out["probability"], model.predict_proba(X.to_numpy())[:, 1], rtol=1e-12
    )
    np.testing.assert_array_equal(out["target"], df["target"])

    capsys.readouterr()
    assert main(["evaluate", str(model_dir), str(SHIPPED), "--json", "--scheduler", sched]) == 0
    metrics = json.loads(capsys.readouterr().out)
    # scikit-learn's log loss for the same model
    assert metrics["log_loss"] == pytest.approx(
        sk_log_loss(df["target"], out["probability"]), abs=1e-9
    )
    assert metrics["roc_auc"] == pytest.approx(
        roc_auc_score(df["target"], out["probability"]), abs=1e-9
    )
    assert metrics["accuracy"] > 0.95
    assert metrics["tp"] + metrics["tn"] + metrics["fp"] + metrics["fn"] == len(df)
    assert metrics["brier_score"] == pytest.approx(
        brier_score_loss(df["target"], out["probability"]), abs=1e-12
    )
    assert metrics["average_precision"] == pytest.approx(
        average_precision_score(df["target"], out["probability"]), abs=1e-12
    )

    assert main(["report", str(model_dir), "--data", str(SHIPPED), "--scheduler", sched]) == 0
    version = resolve_model(model_dir)  # the folder `latest` names
    html = (version / "report.html").read_text()
    assert f"{metrics['log_loss']:.4f}"[:5] in html
    for png in PICTURES.values():
        if png != "cv.png":  # only for a cross-validated model
            assert (version / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the data given is the training data, and the page says so at its top
    drawn = json.loads((version / "report.json").read_text())
    assert drawn["evaluation"] == {
        "data": str(SHIPPED),
        "rows": len(df),
        "held_out": None,
        "weighted": False,
    }
    assert "the training data" in html.split('<section id="pictures">')[0]


def test_generate_then_train_recovers_the_true_weights(tmp_path, sched):
    data = tmp_path / "synthetic"
    assert (
        main(
            [
                "generate",
                str(data),
                "--rows",
                "60000",
                "--features",
                "4",
                "--files",
                "3",
                "--seed",
                "7",
                "--quiet",
            ]
        )
        == 0
    )
    truth = json.loads((data / "true_weights.json").read_text())
    model_dir = tmp_path / "m"
    assert (
        main(
            [
                "train",
                str(data),
                "--label",
                "y",
                "--penalty",
                "none",
                "--tol",
                "1e-8",
                "--out",
                str(model_dir),
                "--scheduler",
                sched,
                "--quiet",
            ]
        )
        == 0
    )
    model = load_model(model_dir)
    # sampling error of the MLE with 60k rows is ~0.01-0.02 per coefficient
    np.testing.assert_allclose(model.coef_[0], truth["coef"], atol=0.08)
    assert model.intercept_[0] == pytest.approx(truth["intercept"], abs=0.08)


def test_drop_invalid_drops_rows_and_reports_how_many(tmp_path, sched, capsys):
    t = good_table(np.random.default_rng(1), n=200).to_pandas()
    t.loc[[3, 50], "b"] = np.nan
    t.loc[7, "a"] = np.inf
    data = write(tmp_path / "d.parquet", pa.Table.from_pandas(t, preserve_index=False))
    rc = main(
        [
            "train",
            str(data),
            "--label",
            "y",
            "--features",
            "a,b,c",
            "--drop-invalid",
            "--out",
            str(tmp_path / "m"),
            "--scheduler",
            sched,
            "--quiet",
        ]
    )
    assert rc == 0
    assert "dropped 3 invalid row(s)" in capsys.readouterr().err
    assert load_model(tmp_path / "m").training_["n_rows"] == len(t) - 3


def test_checkpoint_flag_resumes(tmp_path, sched):
    ck = tmp_path / "ck"
    common = [
        "train",
        str(SHIPPED),
        "--label",
        "target",
        "--standardize",
        "--solver",
        "lbfgs",  # many iterations: a run stopped at 10 is part way
        "--checkpoint",
        str(ck),
        "--scheduler",
        sched,
        "--quiet",
        "--tol",
        "1e-9",
    ]
    # stopped by max-iter: exit 3 and no model, but the checkpoint is kept for the re-run
    assert main([*common, "--max-iter", "10", "--out", str(tmp_path / "a")]) == 3
    assert not (tmp_path / "a").exists()
    assert (ck / "checkpoint.json").exists()
    assert main([*common, "--max-iter", "500", "--out", str(tmp_path / "b")]) == 0
    resumed = load_model(tmp_path / "b")
    assert resumed.history_[9]["iteration"] == 10 and resumed.converged_


# ---------------------------------------------------------------- bad input
def _bad_cases(tmp: Path) -> dict[str, tuple[list[str], list[str]]]:
    """name -> (extra CLI args incl. DATA, substrings the one-line error must contain)."""
    rng = np.random.default_rng(5)
    good = good_table(rng, n=200)
    cases: dict[str, tuple[list[str], list[str]]] = {}

    f = write(tmp / "nolabel.parquet", good.drop(["y"]))
    cases["missing label column"] = ([str(f), "--label", "y"], ["'y'", "nolabel.parquet"])
    f = write(tmp / "nofeat.parquet", good)
    cases["missing feature column"] = (
        [str(f), "--label", "y", "--features", "a,zzz"],
        ["'zzz'", "nofeat.parquet"],
    )
    # (a string feature is categorical now; a date is neither numeric nor categorical)
    dates = pa.array(np.arange(good.num_rows).astype("datetime64[s]"))
    f = write(tmp / "datefeat.parquet", good.append_column("s", dates))
    cases["unsupported feature type"] = (
        [str(f), "--label", "y", "--features", "a,s"],
        ["'s'", "datefeat.parquet", "timestamp"],
    )
    y3 = good.column("y").to_numpy().copy()
    y3[17] = 2
    f = write(tmp / "three.parquet", good.set_column(4, "y", pa.array(y3)))
    cases["three labels"] = (
        [str(f), "--label", "y"],
        ["two distinct values", "[0, 1, 2]", "'y'", "three.parquet"],
    )
    a = good.column("a").to_numpy().copy()
    a[11] = np.nan
    f = write(tmp / "nan.parquet", good.set_column(1, "a", pa.array(a)))
    cases["NaN in a feature"] = ([str(f), "--label", "y"], ["'a'", "nan", "nan.parquet", "row 11"])
    a = good.column("a").to_numpy().copy()
    a[12] = np.inf
    f = write(tmp / "inf.parquet", good.set_column(1, "a", pa.array(a)))
    cases["inf in a feature"] = ([str(f), "--label", "y"], ["'a'", "inf", "inf.parquet", "row 12"])
    yn = pa.array(
        [None if i == 4 else int(v) for i, v in enumerate(good.column("y").to_pylist())], pa.int64()
    )
    f = write(tmp / "nulllabel.parquet", good.set_column(4, "y", yn))
    cases["null label"] = ([str(f), "--label", "y"], ["'y'", "null", "nulllabel.parquet", "row 4"])
    d = tmp / "schemas"
    write(d / "p0.parquet", good)
    write(
        d / "p1.parquet",
        good.set_column(1, "a", pa.array(good.column("a").to_numpy().astype(np.float32))),
    )
    cases["schemas disagree"] = ([str(d), "--label", "y"], ["'a'", "p0.parquet", "p1.parquet"])
    f = tmp / "corrupt.parquet"
    f.write_bytes(b"PAR1 this is not parquet at all PAR1")
    cases["corrupt file"] = ([str(f), "--label", "y"], ["corrupt.parquet"])
    cases["missing path"] = ([str(tmp / "nowhere"), "--label", "y"], ["nowhere"])
    (tmp / "empty_dir").mkdir()
    (tmp / "empty_dir" / "notes.txt").write_text("no parquet here")
    cases["no parquet files"] = ([str(tmp / "empty_dir"), "--label", "y"], ["empty_dir"])
    f = write(tmp / "norows.parquet", good.slice(0, 0))
    cases["no rows"] = ([str(f), "--label", "y"], ["norows.parquet", "no rows"])
    return cases


CASE_NAMES = [
    "missing label column",
    "missing feature column",
    "unsupported feature type",
    "three labels",
    "NaN in a feature",
    "inf in a feature",
    "null label",
    "schemas disagree",
    "corrupt file",
    "missing path",
    "no parquet files",
    "no rows",
]


@pytest.fixture(scope="module")
def bad_cases(tmp_path_factory):
    return _bad_cases(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("case", CASE_NAMES)
def test_bad_input_gives_one_line_error_exit_2_and_no_output(
    case, bad_cases, tmp_path, sched, capsys
):
    args, expected = bad_cases[case]
    out = tmp_path / "model"
    with pytest.raises(SystemExit) as info:
        main(["train", *args, "--out", str(out), "--scheduler", sched, "--quiet"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("logloss: error: ")
    for piece in expected:
        assert piece.lower() in err[-1].lower(), (piece, err[-1])
    assert "Traceback" not in "\n".join(err)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_bad_input_through_a_real_process_exits_nonzero_without_traceback(bad_cases, tmp_path):
    args, expected = bad_cases["missing feature column"]
    proc = run_cli("train", *args, "--out", str(tmp_path / "m"))
    assert proc.returncode == 2
    # the phase lines ("[  0.0s] reading ...") come first; then exactly one error line
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("[")]
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1 and lines[0].startswith("logloss: error: ")
    assert not (tmp_path / "m").exists()
    debug = run_cli("train", *args, "--out", str(tmp_path / "m"), "--debug")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_predict_and_evaluate_with_a_bad_model_or_data(tmp_path, sched, capsys):
    bogus = tmp_path / "bogus"
    bogus.mkdir()
    (bogus / "model.json").write_text("{broken")
    with pytest.raises(SystemExit) as info:
        main(
            [
                "predict",
                str(bogus),
                str(SHIPPED),
                "--out",
                str(tmp_path / "p"),
                "--scheduler",
                sched,
            ]
        )
    assert info.value.code == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
    # a model trained on other columns
    other = write(tmp_path / "other.parquet", good_table(np.random.default_rng(3), n=200))
    model_dir = tmp_path / "m"
    assert (
        main(
            [
                "train",
                str(other),
                "--label",
                "y",
                "--features",
                "a,b,c",
                "--out",
                str(model_dir),
                "--scheduler",
                sched,
                "--quiet",
            ]
        )
        == 0
    )
    with pytest.raises(SystemExit):
        main(
            [
                "predict",
                str(model_dir),
                str(SHIPPED),
                "--out",
                str(tmp_path / "p"),
                "--scheduler",
                sched,
            ]
        )
    assert "'a'" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
    with pytest.raises(SystemExit):
        main(["evaluate", str(model_dir), str(SHIPPED), "--scheduler", sched])
    assert "logloss: error:" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "predict", "evaluate", "generate", "report"])
def test_help_explains_every_option(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    from logloss.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    for action in sub._actions:
        for flag in action.option_strings:
            assert flag in text
        assert action.help, f"{command}: {action.option_strings or action.dest} has no help"


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", str(SHIPPED), "--out", "x"])  # no --label
    assert info.value.code == 2
    assert "--label" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["train", str(SHIPPED), "--label", "target", "--out", "x", "--C", "-1"])
    assert info.value.code == 2


def test_block_size_option_splits_the_data_into_more_blocks(tmp_path, sched, capsys):
    data = tmp_path / "d"
    assert (
        main(
            [
                "generate",
                str(data),
                "--rows",
                "40000",
                "--features",
                "5",
                "--files",
                "1",
                "--row-group-size",
                "5000",
                "--quiet",
            ]
        )
        == 0
    )
    out = {}
    for mb in ("128", "0.5"):
        model_dir = tmp_path / f"m{mb}"
        assert (
            main(
                [
                    "train",
                    str(data),
                    "--label",
                    "y",
                    "--block-mb",
                    mb,
                    "--tol",
                    "1e-8",
                    "--out",
                    str(model_dir),
                    "--scheduler",
                    sched,
                    "--quiet",
                ]
            )
            == 0
        )
        out[mb] = load_model(model_dir)
    from logloss.data import read_parquet

    assert len(read_parquet(str(data), "y", block_bytes=2**19).blocks) > len(
        read_parquet(str(data), "y").blocks
    )
    np.testing.assert_allclose(out["0.5"].coef_, out["128"].coef_, rtol=1e-6, atol=1e-9)


def test_a_bug_exits_1_with_one_line_not_as_bad_input(monkeypatch, capsys):
    from logloss import cli

    def broken(args):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setitem(cli.COMMANDS, "generate", broken)
    code = cli.main(["generate", "unused-out", "--rows", "10", "--features", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == cli.EXIT_INTERNAL_ERROR == 1
    assert len(err) == 1 and "internal error: TypeError" in err[0] and "--debug" in err[0]
    with pytest.raises(TypeError):
        cli.main(["generate", "unused-out", "--rows", "10", "--features", "2", "--debug"])


# ------------------------------------ predict scores with the model's own methods (issue 10)
from logloss import LogisticRegression  # noqa: E402


class _ShiftedModel(LogisticRegression):
    """The estimator with every margin moved up by 50: predictions written by
    predict_to_parquet must follow the model's own methods, not a copy of their formula."""

    def decision_function(self, X):
        return super().decision_function(X) + 50.0


@pytest.mark.parametrize("cls", [LogisticRegression, _ShiftedModel])
def test_predict_writes_what_the_models_own_methods_return(tmp_path, cls):
    from logloss.scoring import predict_to_parquet

    rng = np.random.default_rng(7)
    n = 300
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "id": np.arange(n)})
    frame["y"] = np.where(frame.a - 0.5 * frame.b + rng.normal(size=n) > 0, "yes", "no")
    data = tmp_path / "d"
    data.mkdir()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), data / "p.parquet")
    model = cls().fit(frame[["a", "b"]], frame.y)
    _, written = predict_to_parquet(model, str(data), tmp_path / "preds", keep=["id"])
    out = pd.read_parquet(predictions_path(tmp_path / "preds")).sort_values("id")
    assert written == n
    X = frame[["a", "b"]]
    # to a few ulps: the blocks read from Parquet and the DataFrame reach the
    # BLAS in other memory layouts, whose kernels may round the margins' sums differently
    np.testing.assert_allclose(
        out.probability.to_numpy(), model.predict_proba(X)[:, 1], rtol=1e-15, atol=0
    )
    assert out.prediction.tolist() == model.predict(X).tolist()  # strings stay strings
    assert list(model.feature_names_in_) == ["a", "b"]  # the caller's model is unchanged
    if cls is _ShiftedModel:
        assert set(out.prediction) == {"yes"}


@pytest.mark.cluster
def test_dask_client_restores_the_distributed_logger_level():
    import logging

    from logloss.cluster import dask_client

    logger = logging.getLogger("distributed")
    before = logger.level
    logger.setLevel(logging.INFO)
    try:
        with dask_client(workers=1, quiet=True):
            assert logger.level == logging.WARNING  # the in-process scheduler is quiet
        assert logger.level == logging.INFO
    finally:
        logger.setLevel(before)


# ------------------------------------------------- what a user sees: phases, --json, --report
def test_train_json_prints_one_object_on_stdout_and_phases_go_to_stderr(tmp_path):
    out = tmp_path / "m"
    args = ["train", "data/breast_cancer.parquet", "--label", "target", "--standardize"]
    proc = run_cli(*args, "--json", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # the whole of stdout is one JSON object
    assert doc["rows"] == 569 and doc["features"] == 30 and doc["converged"] is True
    assert doc["model"] == str(out) and doc["passes"] >= doc["iterations"] >= 1
    assert doc["ran_on"].startswith("this process")
    assert "[" not in proc.stderr  # --json: no phases, no progress
    shown = run_cli(*args, "--report", "--out", str(tmp_path / "m2"))
    phases = [line for line in shown.stderr.splitlines() if line.startswith("[")]
    assert [p.split("] ", 1)[1].split(" ")[0] for p in phases] == [
        "reading",
        "loading",
        "loaded",
        "fitting",
        "writing",
        "done",
    ]
    seconds = [float(p[1:].split("s]")[0]) for p in phases]
    assert seconds == sorted(seconds)
    # --report writes the whole report: the page too, next to its pictures
    page = (resolve_model(tmp_path / "m2") / "report.html").read_text()
    assert "<img" in page and (resolve_model(tmp_path / "m2") / "roc.png").exists()
    # titled by the model directory, not the temporary name its new version was written under
    assert "<title>logloss report: m2</title>" in page and ".tmp" not in page.split("</h1>")[0]
    quiet = run_cli(*args, "--quiet", "--out", str(tmp_path / "m3"))
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""


def test_generate_names_the_label_column(tmp_path):
    proc = run_cli("generate", str(tmp_path / "g"), "--rows", "100", "--features", "2", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "label column 'y'" in proc.stderr
    assert "the label column is 'y'" in run_cli("generate", "--help").stdout.replace("\n", " ")


@pytest.mark.parametrize(
    "command", [None, "train", "predict", "evaluate", "summary", "export", "generate", "report"]
)
def test_every_help_page_prints(command):
    """A help text is %-formatted by argparse: a bare '%' in one breaks `logloss --help`."""
    proc = run_cli(*([command] if command else []), "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: logloss") and proc.stderr == ""


def test_predict_json_prints_one_object(tmp_path):
    data = str(Path(__file__).resolve().parent.parent / "data" / "breast_cancer.parquet")
    model = tmp_path / "m"
    assert (
        run_cli(
            "train", data, "--label", "target", "--standardize", "--quiet", "--out", str(model)
        ).returncode
        == 0
    )
    proc = run_cli(
        "predict", str(model), data, "--out", str(tmp_path / "p"), "--keep", "target", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["rows"] == 569 and doc["predictions"] == str(tmp_path / "p")
    assert doc["columns"] == ["target", "probability", "prediction"] and proc.stderr == ""
