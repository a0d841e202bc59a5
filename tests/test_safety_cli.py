"""Issue #9 on the command line: outputs never replace what logloss did not write, a fit that
did not converge is never saved as if it had, options and paths fail early and clearly, a
refused scheduler fails fast, and Ctrl-C prints one line and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
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
import pyarrow as pa
import pytest
from conftest import good_table, interrupt_train, write

from logloss import load_model
from logloss.cli import EXIT_NOT_CONVERGED, main
from logloss.publishing import resolve_model
from logloss.storage import PREDICTIONS_MARKER, OutputPathError, check_output
from logloss.storage.files import predictions_path

REPO = Path(__file__).resolve().parents[1]


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root`` with the SHA-256 of its bytes ('dir' for directories)."""
    out = {}
    for p in sorted(root.rglob("*")):
        out[str(p.relative_to(root))] = (
            "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        )
    return out


def refused(argv: list[str], capsys) -> str:
    """Run the CLI in-process; it must exit 2 with exactly one error line; return that line."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    err = [line for line in lines if not line.startswith("[")]  # after train's phase lines
    assert len(err) == 1 and err[0].startswith("logloss: error: "), lines
    return err[0]


# A scheduler address nothing listens on: a command that got past the path checks would fail
# on it with another message, so these tests also show the checks come before any cluster.
def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's directory: a dataset (with notes beside it), a model, predictions, a file."""
    rng = np.random.default_rng(9)
    data = tmp_path / "data"
    write(data / "part-0.parquet", good_table(rng, n=300))
    (data / "notes.txt").write_text("my notes\n")
    # a corrupt input: had it been read before the path check, the error would name it
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1 not parquet PAR1")
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text(json.dumps({"format": "logloss-model"}))
    preds = tmp_path / "preds"
    preds.mkdir()
    (preds / PREDICTIONS_MARKER).write_text(json.dumps({"format": "logloss-predictions"}))
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "thesis.tex").write_text("years of work\n")
    (tmp_path / "file.txt").write_text("a file\n")
    (tmp_path / "page.html").write_text("<!DOCTYPE html><title>mine</title>\n")
    return tmp_path


# ------------------------------------------------------------------------ item 1: --out
OUT_CASES = {
    # name: (argv with {t} = project dir, substrings of the error line)
    "train over the input dataset": (
        ["train", "{t}/data", "--label", "y", "--out", "{t}/data"],
        ["{t}/data'", "is the input"],
    ),
    "train into the input dataset": (
        ["train", "{t}/data", "--label", "y", "--out", "{t}/data/m"],
        ["is inside the input"],
    ),
    "train over the input file": (
        ["train", "{t}/corrupt.parquet", "--label", "y", "--out", "{t}/corrupt.parquet"],
        ["corrupt.parquet", "is the input"],
    ),
    "train over a project directory": (
        ["train", "{t}/corrupt.parquet", "--label", "y", "--out", "{t}/proj"],
        ["proj'", "not empty", "logloss did not write"],
    ),
    "train over a file": (
        ["train", "{t}/corrupt.parquet", "--label", "y", "--out", "{t}/file.txt"],
        ["file.txt", "is a file"],
    ),
    "train over predictions": (
        ["train", "{t}/corrupt.parquet", "--label", "y", "--out", "{t}/preds"],
        ["preds'", "predictions directory"],
    ),
    "train under a file": (
        ["train", "{t}/corrupt.parquet", "--label", "y", "--out", "{t}/file.txt/m"],
        ["file.txt", "a file, not a directory"],
    ),
    "train with its checkpoint inside --out": (
        ["train", "{t}/corrupt.parquet", "--label", "y", "--out", "{t}/model"]
        + ["--checkpoint", "{t}/model/ck"],
        ["contains the input", "ck"],
    ),
    "train with --out inside its checkpoint": (
        ["train", "{t}/corrupt.parquet", "--label", "y", "--out", "{t}/ck/m"]
        + ["--checkpoint", "{t}/ck"],
        ["is inside the input", "ck"],
    ),
    "train with a checkpoint under a file": (
        ["train", "{t}/corrupt.parquet", "--label", "y", "--out", "{t}/new"]
        + ["--checkpoint", "{t}/file.txt/ck"],
        ["checkpoint directory", "file.txt"],
    ),
    "predict over the input dataset": (
        ["predict", "{t}/model", "{t}/data", "--out", "{t}/data"],
        ["is the input"],
    ),
    "predict over the model": (
        ["predict", "{t}/model", "{t}/corrupt.parquet", "--out", "{t}/model"],
        ["model'", "is the input"],
    ),
    "predict into the model": (
        ["predict", "{t}/model", "{t}/corrupt.parquet", "--out", "{t}/model/p"],
        ["is inside the input"],
    ),
    "predict over another model": (
        ["predict", "{t}/preds", "{t}/corrupt.parquet", "--out", "{t}/model"],
        ["model'", "logloss model directory"],
    ),
    "predict over a project directory": (
        ["predict", "{t}/model", "{t}/corrupt.parquet", "--out", "{t}/proj"],
        ["proj'", "not empty"],
    ),
    "predict over the input file": (
        ["predict", "{t}/model", "{t}/corrupt.parquet", "--out", "{t}/corrupt.parquet"],
        ["is the input"],
    ),
    "predict containing its input": (
        ["predict", "{t}/model", "{t}/preds/in.parquet", "--out", "{t}/preds"],
        ["contains the input"],
    ),
    "report over a foreign page": (
        ["report", "{t}/model", "--out", "{t}/page.html"],
        ["page.html", "not a report page written by logloss"],
    ),
    "report over a directory": (
        ["report", "{t}/model", "--out", "{t}/proj"],
        ["is a directory"],
    ),
    "report over its data": (
        ["report", "{t}/model", "--data", "{t}/corrupt.parquet", "--out", "{t}/corrupt.parquet"],
        ["is the input"],
    ),
    "generate into a project": (
        ["generate", "{t}/proj", "--rows", "10", "--features", "2", "--quiet"],
        ["proj'", "not empty"],
    ),
}


@pytest.mark.parametrize("case", list(OUT_CASES))
def test_out_may_not_replace_what_logloss_did_not_write(case, project, capsys):
    argv, expected = OUT_CASES[case]
    argv = [a.format(t=project) for a in argv]
    if argv[0] in ("train", "predict", "report"):
        argv += ["--scheduler", _closed_port()]
    before = snapshot(project)
    line = refused(argv, capsys)
    for piece in expected:
        assert piece.format(t=project) in line, (piece, line)
    assert "connection refused" not in line
    assert snapshot(project) == before


@pytest.mark.parametrize("out", [".", "..", "~"])
def test_out_may_not_be_the_working_or_home_directory_even_if_empty(out, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(work))
    with pytest.raises(OutputPathError, match="current directory|home directory"):
        check_output(out, "model")
    assert list(work.iterdir()) == []


def test_unwritable_parent_fails_before_anything(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root can write into a read-only directory")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        line = refused(
            ["train", str(tmp_path / "x.parquet"), "--label", "y", "--out", str(ro / "m")], capsys
        )
    finally:
        ro.chmod(0o755)
    assert "cannot be written" in line and str(ro) in line


@pytest.mark.cluster
def test_out_accepts_its_own_kind_and_replaces_it(tmp_path, local_cluster, capsys):
    sched = local_cluster.scheduler_address
    rng = np.random.default_rng(11)
    data = write(tmp_path / "d.parquet", good_table(rng, n=300))
    model = tmp_path / "m"
    train = ["train", str(data), "--label", "y", "--features", "a,b,c", "--quiet"]
    assert main([*train, "--out", str(model), "--scheduler", sched]) == 0
    first = (resolve_model(model) / "coef.npy").read_bytes()
    # an existing logloss model is replaced; an empty directory is accepted
    assert main([*train, "--C", "0.01", "--out", str(model), "--scheduler", sched]) == 0
    assert (resolve_model(model) / "coef.npy").read_bytes() != first
    (tmp_path / "empty").mkdir()
    preds = tmp_path / "empty"
    for _ in range(2):  # the second run replaces the first one's predictions
        assert (
            main(["predict", str(model), str(data), "--out", str(preds), "--scheduler", sched]) == 0
        )
    marker = json.loads((predictions_path(preds) / PREDICTIONS_MARKER).read_text())
    assert marker["format"] == "logloss-predictions" and marker["rows"] == 300
    assert marker["model"] == str(resolve_model(model))  # the version that scored
    # Parquet readers skip the marker
    assert list(pd.read_parquet(predictions_path(preds)).columns) == ["probability", "prediction"]
    assert main(["report", str(model), "--out", str(tmp_path / "r.html")]) == 0
    assert main(["report", str(model), "--out", str(tmp_path / "r.html")]) == 0  # its own page


def test_predict_to_parquet_checks_its_output_for_the_score_flow(tmp_path):
    from logloss.scoring import predict_to_parquet

    data = write(tmp_path / "d" / "p.parquet", good_table(np.random.default_rng(2), n=300))
    before = snapshot(tmp_path)
    with pytest.raises(OutputPathError, match="is the input"):
        predict_to_parquet(object(), str(tmp_path / "d"), tmp_path / "d")  # type: ignore[arg-type]
    assert snapshot(tmp_path) == before
    assert data.exists()


def test_publish_model_refuses_a_foreign_directory(tmp_path):
    from logloss import LogisticRegression
    from logloss.publishing import publish_model

    rng = np.random.default_rng(3)
    X = rng.normal(size=(100, 2))
    y = (X[:, 0] > 0).astype(int)
    m = LogisticRegression().fit(X, y)
    (tmp_path / "models" / "clicks").mkdir(parents=True)
    (tmp_path / "models" / "clicks" / "latest").write_text("my own notes")
    with pytest.raises(OutputPathError, match="clicks"):
        publish_model(m, tmp_path / "models", "clicks")
    assert (tmp_path / "models" / "clicks" / "latest").read_text() == "my own notes"
    good = publish_model(m, tmp_path / "models", "ok")
    second = publish_model(m, tmp_path / "models", "ok")  # a published directory: accepted
    assert good != second and resolve_model(tmp_path / "models" / "ok") == second.resolve()


# -------------------------------------------------------------- item 12: option values
@pytest.mark.parametrize(
    "option",
    [
        ["--tol", "inf"],
        ["--tol", "nan"],
        ["--learning-rate", "inf"],
        ["--C", "nan"],
        ["--C", "0"],
        ["--block-mb", "inf"],
    ],
)
def test_non_finite_options_are_refused_at_once(option, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "nowhere.parquet", "--label", "y", "--out", str(tmp_path / "m"), *option])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert option[0] in err and ("must be" in err or "finite" in err) and option[1] in err
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------- item 13: a dead scheduler
def test_refused_scheduler_address_fails_fast_with_one_line(tmp_path, capsys):
    address = _closed_port()
    data = write(tmp_path / "d.parquet", good_table(np.random.default_rng(4), n=300))
    t0 = time.monotonic()
    argv = ["train", str(data), "--label", "y", "--out", str(tmp_path / "m")]
    line = refused([*argv, "--scheduler", address], capsys)
    elapsed = time.monotonic() - t0
    assert address in line and "connection refused" in line
    assert elapsed < 10, elapsed  # was 30 s: the Client's connect timeout
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------- item 6: not converged is not saved
def scaled_table(rng: np.random.Generator, n: int = 2000) -> pa.Table:
    """Column 'big' (int64 up to 2**62) makes an unstandardised fit hopeless."""
    X = rng.normal(size=(n, 2))
    y = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))).astype(np.int64)
    big = rng.integers(0, 2**62, size=n)
    return pa.table({"a": X[:, 0], "big": big, "c": X[:, 1], "y": y})


@pytest.mark.cluster
def test_unconverged_train_writes_no_model_and_exits_3_with_a_hint(tmp_path, local_cluster, capsys):
    sched = local_cluster.scheduler_address
    rng = np.random.default_rng(6)
    good = write(tmp_path / "good.parquet", good_table(rng, n=300))
    bad = write(tmp_path / "scaled.parquet", scaled_table(rng))
    model = tmp_path / "model"
    common = ["--label", "y", "--out", str(model), "--scheduler", sched, "--quiet"]
    assert main(["train", str(good), "--features", "a,b,c", *common]) == 0
    before = snapshot(model)

    rc = main(["train", str(bad), *common])
    assert rc == EXIT_NOT_CONVERGED == 3
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert err[0].startswith("logloss: error: not converged: max|gradient|")
    assert "no model written" in err[0] and str(model) in err[0]
    assert "'big'" in err[1] and "--standardize" in err[1]
    assert "Traceback" not in captured.err
    assert snapshot(model) == before  # the good model is untouched

    rc = main(["train", str(bad), *common, "--allow-unconverged"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "warning: not converged" in err and "--allow-unconverged" in err
    saved = load_model(model)
    assert saved.converged_ is False and saved.feature_names_in_.tolist() == ["a", "big", "c"]


# ------------------------------------------------------------ item 14: remedies that exist
@pytest.mark.cluster
def test_invalid_value_messages_name_the_flag_that_exists(tmp_path, local_cluster, capsys):
    sched = local_cluster.scheduler_address
    t = good_table(np.random.default_rng(7), n=300).to_pandas()
    good = write(tmp_path / "good.parquet", pa.Table.from_pandas(t, preserve_index=False))
    t.loc[5, "a"] = np.nan
    nan = write(tmp_path / "nan.parquet", pa.Table.from_pandas(t, preserve_index=False))
    model = tmp_path / "m"
    base = ["--scheduler", sched]
    line = refused(["train", str(nan), "--label", "y", "--out", str(model), *base], capsys)
    assert "--missing drop" in line and "missing='drop'" not in line
    assert main(["train", str(good), "--label", "y", "--out", str(model), "--quiet", *base]) == 0
    capsys.readouterr()
    for argv in (
        ["predict", str(model), str(nan), "--out", str(tmp_path / "p")],
        ["evaluate", str(model), str(nan)],
        ["report", str(model), "--data", str(nan)],
    ):
        line = refused([*argv, *base], capsys)
        assert "nan.parquet" in line and "drop" not in line.lower(), line
    assert not (tmp_path / "p").exists()


# ------------------------------------------------- item 14: a checkpoint of other data
@pytest.mark.cluster
def test_checkpoint_of_other_data_is_refused_or_restarted(tmp_path, local_cluster, capsys):
    sched = local_cluster.scheduler_address
    a = write(tmp_path / "a.parquet", good_table(np.random.default_rng(21), n=300))
    b = write(tmp_path / "b.parquet", good_table(np.random.default_rng(22), n=300))  # same shape
    ck = tmp_path / "ck"
    common = ["--label", "y", "--checkpoint", str(ck), "--scheduler", sched, "--quiet"]
    assert main(["train", str(a), *common, "--out", str(tmp_path / "ma")]) == 0
    line = refused(["train", str(b), *common, "--out", str(tmp_path / "mb")], capsys)
    assert "checkpoint" in line and not (tmp_path / "mb").exists()
    assert (
        main(["train", str(b), *common, "--checkpoint-restart", "--out", str(tmp_path / "mb")]) == 0
    )
    fresh = load_model(tmp_path / "mb")
    assert fresh.history_[0]["iteration"] == 1
    assert not np.allclose(fresh.coef_, load_model(tmp_path / "ma").coef_)


# ----------------------------------------------------------------- item 11: Ctrl-C
@pytest.mark.cluster
# slow: it runs in CI's slow stage, on an otherwise idle machine. Twice, with a second test
# run sharing the 2 cores, the interrupted process did not end within 60 s (not reproduced
# alone: 5 of 5 passed); see the closing note of issue 9.
@pytest.mark.slow
def test_ctrl_c_during_train_prints_one_line_exits_130_and_leaves_nothing(tmp_path):
    psutil = pytest.importorskip("psutil")
    rng = np.random.default_rng(8)
    data = write(tmp_path / "d.parquet", good_table(rng, n=20_000))
    out = tmp_path / "m"
    children: list = []

    def workers_started(pid: int) -> None:
        children.extend(psutil.Process(pid).children(recursive=True))
        assert len(children) >= 2  # the worker processes

    rc, lines = interrupt_train(
        data, out, "--workers", "2", started=120, wait=60, on_start=workers_started
    )
    err = "".join(lines)
    assert rc == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "Task exception" not in err, err
    shown = [line for line in lines if not line.startswith(("iteration", "["))]  # progress
    assert shown == ["logloss: interrupted\n"]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.parquet"]
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], alive


@pytest.mark.cluster
def test_interrupt_inside_dask_client_stops_the_cluster_and_leaves_the_process_running():
    """A Ctrl-C in a library caller (a notebook, a flow) stops the local cluster, restores the
    SIGINT handler and cancels the stuck-shutdown watchdog: the caller's process lives on."""
    psutil = pytest.importorskip("psutil")
    from logloss.cluster import dask_client

    handler = signal.getsignal(signal.SIGINT)
    before = set(psutil.Process().children(recursive=True))  # e.g. a session cluster's
    with pytest.raises(KeyboardInterrupt):
        with dask_client(workers=1):
            children = [  # this cluster's processes (not multiprocessing's resource tracker)
                c
                for c in psutil.Process().children(recursive=True)
                if c not in before and "resource_tracker" not in " ".join(c.cmdline())
            ]
            assert children
            raise KeyboardInterrupt
    assert signal.getsignal(signal.SIGINT) is handler
    timers = [t for t in threading.enumerate() if isinstance(t, threading.Timer)]
    for timer in timers:
        timer.join(timeout=2)  # a cancelled timer ends at once; a live watchdog waits 20 s
    assert [t for t in timers if t.is_alive()] == []
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], alive


# ------------------------------------------- item 6 in the train flow: latest is not moved
@pytest.mark.prefect
@pytest.mark.cluster
def test_train_flow_does_not_publish_an_unconverged_model(prefect_api, local_cluster, tmp_path):
    from flows.train import train
    from logloss.training.fit import NotConvergedError

    data = write(tmp_path / "scaled.parquet", scaled_table(np.random.default_rng(12)))
    args = dict(
        data=str(data),
        label="y",
        standardize=False,
        validation=None,
        model_dir=str(tmp_path / "models"),
        name="m",
        scheduler_address=local_cluster.scheduler_address,
    )
    with pytest.raises(NotConvergedError, match="standardize=True"):
        train(**args)
    assert not (tmp_path / "models" / "m" / "latest").exists()
    version = train(**args, allow_unconverged=True)
    assert resolve_model(tmp_path / "models" / "m") == Path(version)
    assert load_model(version).converged_ is False


@pytest.mark.parametrize(
    "address,words",
    [
        ("tcp://127.0.0.1:1", "connection refused"),
        ("tcp://no-such-host.invalid:8786", "unknown host"),
    ],
)
def test_a_dead_scheduler_is_refused_before_dask_is_even_imported(tmp_path, address, words):
    data, out = str(REPO / "data" / "breast_cancer.parquet"), str(tmp_path / "m")
    code = (
        "import sys\n"
        "from logloss.cli import main\n"
        "try:\n"
        f"    main(['train', {data!r}, '--label', 'target', '--out', {out!r},"
        f" '--scheduler', {address!r}])\n"
        "except SystemExit as exc:\n"
        "    print('rc', exc.code, 'distributed' in sys.modules, 'dask' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["rc", "2", "False", "False"], proc.stdout + proc.stderr
    assert words in proc.stderr and address in proc.stderr
    assert not (tmp_path / "m").exists()
