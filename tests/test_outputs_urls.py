"""Outputs at fsspec URLs: models (versions + pointer file), published versions (``latest``
file), predictions and report pages; all-or-nothing writes; readers through the library, the
in-process CLI and the score flow. fsspec's memory:// filesystem is process-local, so
everything runs in this process."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest

from logloss import LogisticRegression, ModelFileError, load_model
from logloss.cli import main
from logloss.publishing import load_published, publish_model, resolve_model
from logloss.storage import PREDICTIONS_MARKER, OutputPathError, check_output
from logloss.storage.files import predictions_path, read_predictions

DATA = str(Path(__file__).resolve().parent.parent / "data" / "breast_cancer.parquet")
TRAIN = ["train", DATA, "--label", "target", "--standardize", "--quiet"]


@pytest.fixture
def mem():
    """A fresh memory:// root, removed afterwards (the memory filesystem is global)."""
    fs = fsspec.filesystem("memory")
    root = f"/t{np.random.default_rng().integers(1 << 40):x}"
    yield fs, f"memory://{root}", root
    if fs.exists(root):
        fs.rm(root, recursive=True)


def fitted(seed: int = 0, C: float = 1.0) -> LogisticRegression:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 3))
    y = (X @ [1.0, -2.0, 0.5] + rng.normal(size=200) > 0).astype(int)
    return LogisticRegression(C=C).fit(X, y)


def versions(fs, root: str) -> list[str]:
    """The version folders under ``root``, oldest first."""
    return sorted(p.split("/")[-2] for p in fs.find(root) if p.endswith("/model.json"))


def in_force(fs, loc: str) -> str:
    return json.loads(fs.cat_file(f"{loc}/latest"))["version"]


# ------------------------------------------------------------------ models
def test_a_model_saved_to_a_url_loads_back_and_a_new_version_replaces_it(mem):
    fs, url, root = mem
    a, b, c = fitted(0), fitted(1, C=0.1), fitted(2, C=10.0)
    first = a.save(f"{url}/m")
    np.testing.assert_array_equal(load_model(f"{url}/m").coef_, a.coef_)
    assert first == f"{url}/m/{in_force(fs, f'{root}/m')}"
    b.save(f"{url}/m")
    np.testing.assert_array_equal(load_model(f"{url}/m").coef_, b.coef_)
    c.save(f"{url}/m")
    # the version in force and the previous one are kept; older ones are removed
    assert len(versions(fs, root)) == 2 and versions(fs, root)[-1] == in_force(fs, f"{root}/m")
    np.testing.assert_array_equal(load_model(f"{url}/m").coef_, c.coef_)


@pytest.mark.parametrize("fresh", [True, False])
def test_a_save_failing_mid_write_leaves_no_visible_version(mem, fresh):
    fs, url, root = mem
    old = fitted(0)
    if not fresh:
        old.save(f"{url}/m")
    before = sorted(fs.find(root)) if fs.exists(root) else []

    def extra(tmp: Path) -> None:
        (tmp / "metrics.json").write_text("{}")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        fitted(1, C=0.1).save(f"{url}/m", extra=extra)
    assert (sorted(fs.find(root)) if fs.exists(root) else []) == before
    if fresh:
        with pytest.raises(ModelFileError, match="does not exist"):
            load_model(f"{url}/m")
    else:
        np.testing.assert_array_equal(load_model(f"{url}/m").coef_, old.coef_)


def test_a_version_without_the_pointer_is_invisible_and_cleaned_up_once_stale(mem, monkeypatch):
    """A save killed after its upload, before its pointer: readers keep the old model."""
    from fsspec.implementations.memory import MemoryFileSystem

    import logloss.storage.versions as versions_module

    fs, url, root = mem
    old = fitted(0)
    old.save(f"{url}/m")
    real_pipe = MemoryFileSystem.pipe_file

    def killed(self, path, *args, **kwargs):
        if str(path).endswith("/latest"):
            raise KeyboardInterrupt  # no cleanup runs after a kill -9 either
        return real_pipe(self, path, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(MemoryFileSystem, "pipe_file", killed)
        m.setattr(versions_module, "_remove", lambda loc, path: None)
        with pytest.raises(KeyboardInterrupt):
            fitted(1, C=0.1).save(f"{url}/m")
    assert len(versions(fs, root)) == 2
    np.testing.assert_array_equal(load_model(f"{url}/m").coef_, old.coef_)
    for _ in range(2):
        newest = fitted(2, C=10.0)
        newest.save(f"{url}/m")
    np.testing.assert_array_equal(load_model(f"{url}/m").coef_, newest.coef_)
    assert len(versions(fs, root)) == 2  # the killed one is older than the previous: gone


def test_a_corrupt_pointer_or_coefficients_name_the_url(mem):
    fs, url, root = mem
    fitted(0).save(f"{url}/m")
    (coef,) = [p for p in fs.find(root) if p.endswith("coef.npy")]
    fs.pipe_file(coef, fs.cat_file(coef)[:-8])
    with pytest.raises(ModelFileError, match=r"coef\.npy' is corrupt: 24 bytes of data"):
        load_model(f"{url}/m")
    fs.pipe_file(f"{root}/m/latest", b"not json")
    with pytest.raises(ModelFileError, match="latest' is not a logloss model pointer"):
        load_model(f"{url}/m")


def test_a_local_copy_of_a_url_model_and_file_urls_load(mem, tmp_path):
    fs, url, root = mem
    a = fitted(0)
    a.save(f"{url}/m")
    fs.get(f"{root}/m", str(tmp_path / "copy"), recursive=True)  # e.g. gsutil cp -r
    np.testing.assert_array_equal(load_model(tmp_path / "copy").coef_, a.coef_)
    version = a.save(f"file://{tmp_path}/plain")  # a file:// URL is a local path
    assert version.parent == tmp_path / "plain" and (tmp_path / "plain" / "latest").is_file()
    np.testing.assert_array_equal(load_model(f"file://{tmp_path}/plain").coef_, a.coef_)


# ------------------------------------------------------------------ published versions
def test_published_versions_at_a_url_have_a_latest_pointer_file(mem, tmp_path):
    fs, url, root = mem
    first = publish_model(fitted(0), url, "bc")
    assert first == f"{url}/bc/{in_force(fs, f'{root}/bc')}"
    second = fitted(1, C=0.1)
    published = publish_model(second, url, "bc")
    latest = json.loads(fs.cat_file(f"{root}/bc/latest"))
    assert latest == {"format": "logloss-latest", "kind": "model", "version": latest["version"]}
    assert published == f"{url}/bc/{latest['version']}" and published != first
    assert resolve_model(f"{url}/bc") == published
    np.testing.assert_array_equal(load_published(f"{url}/bc").coef_, second.coef_)
    import logloss

    loaded = logloss.load(f"{url}/bc")
    assert isinstance(loaded, LogisticRegression)
    np.testing.assert_array_equal(loaded.coef_, second.coef_)
    np.testing.assert_array_equal(logloss.load(first).coef_, fitted(0).coef_)
    assert check_output(f"{url}/bc", "published") == f"{url}/bc"
    # a local directory with a `latest` pointer file (a copy of it) is read the same way
    fs.get(f"{root}/bc", str(tmp_path / "bc"), recursive=True)
    np.testing.assert_array_equal(load_published(tmp_path / "bc").coef_, second.coef_)
    assert check_output(tmp_path / "bc", "published") == tmp_path / "bc"


def test_a_publish_failing_mid_write_does_not_move_latest(mem):
    fs, url, root = mem
    first = publish_model(fitted(0), url, "bc")

    def extra(tmp: Path) -> None:
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        publish_model(fitted(1), url, "bc", extra=extra)
    assert resolve_model(f"{url}/bc") == first
    assert versions(fs, root) == [first.rsplit("/", 1)[-1]]
    assert check_output(f"{url}/bc", "published") == f"{url}/bc"


# ------------------------------------------------------------------ the rule for --out
@pytest.mark.parametrize("kind", ["model", "predictions", "published", "report"])
def test_foreign_contents_at_a_url_are_refused_and_left_alone(mem, kind):
    fs, url, root = mem
    target = f"{root}/x.html" if kind == "report" else f"{root}/x/notes.txt"
    fs.pipe_file(target, b"mine")
    out = f"{url}/x.html" if kind == "report" else f"{url}/x"
    with pytest.raises(OutputPathError, match=f"output path '{out}'"):
        check_output(out, kind)  # type: ignore[arg-type]
    assert fs.cat_file(target) == b"mine"


def test_a_url_output_may_not_overlap_a_url_input(mem):
    fs, url, root = mem
    with pytest.raises(OutputPathError, match="is inside the input"):
        check_output(f"{url}/data/preds", "predictions", inputs=[f"{url}/data"])
    with pytest.raises(OutputPathError, match="contains the input"):
        check_output(url, "predictions", inputs=[f"{url}/data/x.parquet"])


def test_generate_and_checkpoints_take_local_paths_only(capsys):
    for argv in (
        ["generate", "memory://g", "--rows", "10", "--features", "2", "--quiet"],
        [*TRAIN, "--out", "memory://m", "--checkpoint", "memory://c"],
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert "must be a local path" in line


# ------------------------------------------------------------------ the command line
def test_cli_train_evaluate_predict_report_at_memory_urls(mem, capsys):
    fs, url, root = mem
    assert main([*TRAIN, "--report", "--out", f"{url}/bc"]) == 0
    (version,) = versions(fs, root)
    assert sorted(fs.ls(f"{root}/bc", detail=False)) == [
        f"{root}/bc/latest",
        f"{root}/bc/{version}",
    ]
    assert fs.exists(f"{root}/bc/{version}/report.html")
    model = load_model(f"{url}/bc")
    capsys.readouterr()
    assert main(["evaluate", f"{url}/bc", DATA, "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["log_loss"] > 0 and out.err == ""
    assert main(["predict", f"{url}/bc", DATA, "--out", f"{url}/p", "--keep", "target"]) == 0
    preds = read_predictions(f"{url}/p").to_pandas()
    X = pd.read_parquet(DATA).drop(columns="target").to_numpy()
    np.testing.assert_allclose(preds["probability"], model.predict_proba(X)[:, 1], rtol=1e-12)
    where = predictions_path(f"{url}/p")
    assert where == f"{url}/p/{in_force(fs, f'{root}/p')}"
    assert len(pd.read_parquet(where)) == 569  # a plain Parquet reader of the version
    marker = json.loads(fs.cat_file(f"{where}/{PREDICTIONS_MARKER}"))
    assert marker["complete"] is True and marker["rows"] == 569
    assert marker["model"] == resolve_model(f"{url}/bc")  # the version that scored
    # replaced by a second run: no part of the first is left beside the new ones
    assert main(["predict", f"{url}/bc", DATA, "--out", f"{url}/p"]) == 0
    assert list(read_predictions(f"{url}/p").column_names) == ["probability", "prediction"]
    assert main(["report", f"{url}/bc", "--data", DATA, "--quiet"]) == 0
    page = fs.cat_file(f"{resolve_model(f'{url}/bc')}/report.html").decode()
    assert "<title>logloss report: bc</title>" in page
    assert main(["report", f"{url}/bc", "--out", f"{url}/page.html", "--quiet"]) == 0
    assert fs.cat_file(f"{root}/page.html").decode().startswith("<!DOCTYPE html")
    # nothing beside what was asked for
    assert sorted({p[len(root) + 1 :].split("/")[0] for p in fs.find(root)}) == [
        "bc",
        "p",
        "page.html",
    ]


def test_cli_refuses_foreign_url_contents_with_one_line(mem, capsys):
    fs, url, root = mem
    fs.pipe_file(f"{root}/x/data.csv", b"a,b\n")
    for argv in (
        [*TRAIN, "--out", f"{url}/x"],
        ["predict", DATA, DATA, "--out", f"{url}/x"],
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith(f"logloss: error: output path '{url}/x' is not empty")
    assert fs.find(root) == [f"{root}/x/data.csv"]


def test_predictions_failing_mid_write_leave_the_old_ones(mem, monkeypatch, capsys):
    import logloss.scoring as pipeline  # predict_to_parquet and its _write_part live there

    fs, url, root = mem
    assert main([*TRAIN, "--out", f"{url}/bc"]) == 0
    assert main(["predict", f"{url}/bc", DATA, "--out", f"{url}/p", "--quiet"]) == 0
    before = {p: fs.cat_file(p) for p in fs.find(f"{root}/p")}

    def broken(*args, **kwargs):
        raise OSError("connection reset")

    monkeypatch.setattr(pipeline, "_write_part", broken)
    with pytest.raises(SystemExit) as info:
        main(["predict", f"{url}/bc", DATA, "--out", f"{url}/p", "--quiet"])
    assert info.value.code == 2 and "connection reset" in capsys.readouterr().err
    assert {p: fs.cat_file(p) for p in fs.find(f"{root}/p")} == before  # no partial version
    assert "kept" in capsys.readouterr().err or True


def test_cli_file_url_round_trip(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a wrongly kept "file:" prefix would land here
    assert main([*TRAIN, "--out", f"file://{tmp_path}/m"]) == 0
    assert (tmp_path / "m" / "latest").exists() and not (tmp_path / "file:").exists()
    assert main(["predict", f"file://{tmp_path}/m", DATA, "--out", f"file://{tmp_path}/p"]) == 0
    assert (predictions_path(tmp_path / "p") / PREDICTIONS_MARKER).exists()
    assert len(pd.read_parquet(predictions_path(f"file://{tmp_path}/p"))) == 569
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "p"]


# ------------------------------------------------------------------ the flows
@pytest.mark.prefect
def test_train_and_score_flows_at_memory_urls(prefect_api, mem):
    from flows.score import score
    from flows.train import train

    fs, url, root = mem
    published = train(data=DATA, label="target", model_dir=url, name="bc", standardize=True)
    assert published.startswith(f"{url}/bc/")
    assert resolve_model(f"{url}/bc") == published
    assert fs.cat_file(f"{root}/bc/{published.rsplit('/', 1)[1]}/report.html")
    written = score(data=DATA, out=f"{url}/preds", model="latest", model_dir=url, name="bc")
    assert written == f"{url}/preds"
    assert len(read_predictions(f"{url}/preds")) == 569


# ------------------------------------------------------------------ what a user sees
def phase_words(err: str) -> list[str]:
    """The first word of every phase line ("[  0.4s] reading ..." -> "reading")."""
    return [line.split("] ", 1)[1].split(" ")[0] for line in err.splitlines() if line[:1] == "["]


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("predict", ["reading", "scoring", "scored", "done"]),
        # evaluate and report stream the data block by block: no loading phase
        ("evaluate", ["reading", "scoring", "done"]),
        ("report", ["reading", "scoring", "writing", "done"]),
    ],
)
def test_phases_of_predict_evaluate_report_quiet_and_json(command, words, tmp_path, capsys):
    assert main([*TRAIN, "--out", str(tmp_path / "m")]) == 0
    argv = {
        "predict": ["predict", str(tmp_path / "m"), DATA, "--out", str(tmp_path / "p")],
        "evaluate": ["evaluate", str(tmp_path / "m"), DATA],
        "report": ["report", str(tmp_path / "m"), "--data", DATA],
    }[command]
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert phase_words(err) == words
    seconds = [float(line[1:].split("s]")[0]) for line in err.splitlines() if line[:1] == "["]
    assert seconds == sorted(seconds)
    assert main([*argv, "--quiet"]) == 0
    out = capsys.readouterr()
    assert out.err == "" and (command == "evaluate" or out.out == "")
    if command != "report":
        assert main([*argv, "--json"]) == 0
        out = capsys.readouterr()
        assert isinstance(json.loads(out.out), dict) and "[" not in out.err


def test_row_progress_plain_lines_and_in_place_on_a_terminal(monkeypatch, capsys):
    from logloss.cli.display import Phases

    phase = Phases(True)
    phase.PLAIN_EVERY = 0.0
    progress = phase.rows("loading", 1000)
    for done in (250, 500, 1000):
        progress(done)
    phase.end_rows("loaded 1,000 rows")
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("] ", 1)[1] for line in lines[:-1]] == [
        "loading 250 / 1,000 rows (25%)",
        "loading 500 / 1,000 rows (50%)",
    ]
    assert lines[-1].split("] ", 1)[1].startswith("loaded 1,000 rows in ")
    # a terminal: one line rewritten in place, then replaced by the closing line
    tty = Phases(True)
    tty._tty, tty.TTY_EVERY = True, 0.0
    progress = tty.rows("loading", 1000)
    progress(500)
    tty.end_rows()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.count("\r\x1b[K") == 3
    assert "loading 500 / 1,000 rows (50%)" in err and "loading 1,000 rows in" in err
    quiet = Phases(False)
    quiet.rows("loading", 10)(5)
    quiet.end_rows()
    assert capsys.readouterr().err == ""


def test_persist_reports_rows_as_blocks_are_read():
    from logloss.data import read_parquet
    from logloss.loading import persist_dataset

    ds = read_parquet(DATA, "target", block_bytes=20_000)
    seen: list[int] = []
    persist_dataset(ds, progress=seen.append)
    assert len(ds.blocks) > 2 and seen == sorted(seen) and seen[-1] == 569


def test_a_store_that_cannot_be_opened_is_one_line(capsys):
    for argv, words in (
        ([*TRAIN, "--out", "nosuchproto://x/m"], "output URL 'nosuchproto://x/m' cannot be used"),
        (["evaluate", "nosuchproto://x/m", DATA, "--quiet"], "cannot open 'nosuchproto://x/m'"),
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith(f"logloss: error: {words}") and "Protocol not known" in line


def test_train_says_when_it_connects_to_a_cluster(local_cluster, tmp_path, capsys):
    address = local_cluster.scheduler_address
    argv = ["train", DATA, "--label", "target", "--standardize", "--scheduler", address]
    assert main([*argv, "--out", str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err
    assert phase_words(err) == [
        "reading",
        "connecting",
        "loading",
        "loaded",
        "fitting",
        "writing",
        "done",
    ]
    assert f"connecting to the scheduler at {address}" in err


def test_export_writes_onnx_to_a_url_once(mem, capsys):
    pytest.importorskip("skl2onnx")
    fs, url, root = mem
    assert main([*TRAIN, "--out", f"{url}/bc"]) == 0
    assert main(["export", f"{url}/bc", f"{url}/bc.onnx"]) == 0
    assert len(fs.cat_file(f"{root}/bc.onnx")) > 100
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["export", f"{url}/bc", f"{url}/bc.onnx"])
    assert info.value.code == 2
    assert "exists; export writes a new file only" in capsys.readouterr().err


def test_readers_during_saves_at_a_url_get_one_whole_model(mem):
    """Superseded versions are removed while readers may be reading them: a reader reads
    the pointer again and gets the old or the new model, never an error or a mix."""
    import threading

    fs, url, root = mem
    models = [fitted(seed) for seed in range(4)]
    known = {m.coef_.tobytes() for m in models}
    models[0].save(f"{url}/m")
    errors: list[BaseException] = []
    seen: set[bytes] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                seen.add(load_model(f"{url}/m").coef_.tobytes())
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(20):
            models[i % 4].save(f"{url}/m")
    finally:
        done.set()
        reader.join()
    assert not errors, errors[0]
    assert seen and seen <= known
