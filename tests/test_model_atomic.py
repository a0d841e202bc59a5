"""Model saves survive kill -9 at any moment, concurrent readers always see a whole model,
and leftovers of crashed writers never block or accumulate (issue #9, items 2 and 3).

The layout (docs/model-files.md): version folders and a ``latest`` pointer written last."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from model_atomic_procs import EXTRA_NAMES, check, reader, save, save_01, saver, saves

from logloss.storage import (
    OutputPathError,
    atomic_write_bytes,
    is_logloss_output,
    read_model,
    write_predictions,
)
from logloss.storage.files import predictions_path
from logloss.storage.versions import STAGING_RE, VERSION_RE


def _ctx() -> mp.context.BaseContext:
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["numpy", "logloss.storage.files", "model_atomic_procs"])
    return ctx


def _pointed(path: Path) -> Path:
    return path / json.loads((path / "latest").read_text())["version"]


def _leftovers(path: Path) -> list[str]:
    """Names beside and inside a location that a finished save should not leave: anything
    beside it, staging names, and versions beyond the one in force and the previous one."""
    beside = [p.name for p in path.parent.iterdir() if p.name != path.name]
    inside = sorted(p.name for p in path.iterdir())
    versions = [n for n in inside if VERSION_RE.match(n)]
    others = [n for n in inside if n != "latest" and n not in versions]
    return beside + others + versions[:-2]


def _age(path: Path, seconds: float = 3600.0) -> None:
    """Make everything under ``path`` look untouched for ``seconds`` (as a crash long ago)."""
    then = time.time() - seconds
    for p in [path, *path.rglob("*")]:
        os.utime(p, (then, then), follow_symlinks=False)


def _kill_loop(tmp_path: Path, kills: int, budget: float, n_readers: int = 2) -> None:
    ctx = _ctx()
    root = tmp_path / "models"
    root.mkdir()
    path = root / "m"
    save(path, 0, EXTRA_NAMES)
    stop, out = ctx.Event(), ctx.Queue()
    readers = [ctx.Process(target=reader, args=(str(path), stop, out)) for _ in range(n_readers)]
    for r in readers:
        r.start()
    rng = random.Random(2024)
    deadline = time.monotonic() + budget
    done = 0
    tag = 1
    try:
        while done < kills and time.monotonic() < deadline:
            ready = ctx.Event()
            w = ctx.Process(target=saver, args=(str(path), tag, ready, rng.randrange(10**9)))
            w.start()
            assert ready.wait(30)
            time.sleep(rng.uniform(0.0, 0.03) if done % 10 else 0.5)  # now and then: whole saves
            os.kill(w.pid, signal.SIGKILL)
            w.join()
            assert w.exitcode == -signal.SIGKILL
            done += 1
            tag += 1000
            check(path)  # after every kill: a complete model at PATH
    finally:
        stop.set()
        results = [out.get(timeout=60) for _ in readers]
        for r in readers:
            r.join(30)
    assert done >= min(kills, 20), f"only {done} kills in {budget}s"
    for pid, n, _tags, errors in results:
        assert errors == [], f"reader {pid} saw: {errors[:5]}"
        assert n > 0
    assert len({t for _, _, tags, _ in results for t in tags}) >= 2  # saw old and new models
    # a save now succeeds; it removes what the killed writers left once it is stale
    _age(path)
    save(path, 7, ("metrics.json",))
    assert check(path) == 7
    assert _leftovers(path) == []
    assert sorted(p.name for p in _pointed(path).iterdir()) == [
        "_version.json",
        "coef.npy",
        "metrics.json",
        "model.json",
    ]
    assert (_pointed(path) / "metrics.json").read_text() == "7\n"


def test_kill_9_during_saves_never_loses_the_model_or_shows_a_half_one(tmp_path):
    _kill_loop(tmp_path, kills=100, budget=30.0)


@pytest.mark.slow
def test_kill_9_during_saves_long_form(tmp_path):
    _kill_loop(tmp_path, kills=600, budget=600.0, n_readers=3)


def test_kill_9_while_saving_over_a_0_1_model_directory_keeps_old_or_new(tmp_path):
    ctx = _ctx()
    rng = random.Random(7)
    seen = set()
    for i in range(25):
        path = tmp_path / f"w{i}" / "m"
        save_01(path, 1, EXTRA_NAMES)
        ready = ctx.Event()
        w = ctx.Process(target=saver, args=(str(path), 2, ready, i))
        w.start()
        assert ready.wait(30)
        time.sleep(rng.uniform(0.0, 0.01))
        os.kill(w.pid, signal.SIGKILL)
        w.join()
        seen.add(min(check(path), 2))  # 1 (old) or >= 2 (a new one), never a mix
        _age(path)
        save(path, 99)
        assert check(path) == 99 and _leftovers(path) == []
        assert not (path / ".current").exists() and not (path / "model.json").exists()
    assert seen  # every state loaded


def test_saving_over_a_0_1_model_directory_with_concurrent_readers(tmp_path):
    ctx = _ctx()
    path = tmp_path / "m"
    save_01(path, 1, EXTRA_NAMES)
    assert check(path) == 1  # 0.1's directory loads through its visible files
    stop, out = ctx.Event(), ctx.Queue()
    r = ctx.Process(target=reader, args=(str(path), stop, out))
    r.start()
    time.sleep(0.3)
    for tag in range(2, 30):
        save(path, tag)
    stop.set()
    _pid, n, tags, errors = out.get(timeout=60)
    r.join(30)
    assert errors == [] and n > 0 and tags[-1] <= 29


def test_concurrent_saves_to_one_path_all_succeed_and_leave_one_consistent_model(tmp_path):
    ctx = _ctx()
    path = tmp_path / "m"
    stop, out = ctx.Event(), ctx.Queue()
    r = ctx.Process(target=reader, args=(str(path), stop, out))
    for _round in range(3):  # the first round races to create PATH
        writers = [ctx.Process(target=saves, args=(str(path), 1000 * k, 60, k)) for k in (1, 2)]
        for w in writers:
            w.start()
        if not r.is_alive() and r.exitcode is None:
            while not (path / "latest").exists():
                time.sleep(0.001)
            r.start()
        for w in writers:
            w.join(60)
        assert [w.exitcode for w in writers] == [0, 0]
        assert check(path) in (1059, 2059)  # the last save of either writer
        assert (_pointed(path) / "model.json").is_file()
        assert _leftovers(path) == []
    stop.set()
    _pid, n, _tags, errors = out.get(timeout=60)
    r.join(30)
    assert errors == [] and n > 0


def test_what_a_killed_save_left_is_removed_once_stale_never_while_fresh(tmp_path):
    code = (
        "import os, signal, sys\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from model_atomic_procs import model_meta\n"
        "from logloss.storage import save_model\n"
        "meta, vec = model_meta(5)\n"
        "def extra(d):\n"
        "    (d / 'metrics.json').write_text('half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "save_model(sys.argv[1], meta, vec, extra=extra)\n"
    )
    tests_dir = str(Path(__file__).parent)
    path = tmp_path / "m"
    save(path, 1)
    proc = subprocess.run([sys.executable, "-c", code, str(path), tests_dir])
    assert proc.returncode == -signal.SIGKILL
    assert check(path) == 1  # the kill left the old model in force
    staging = [p.name for p in path.iterdir() if STAGING_RE.match(p.name)]
    assert staging, "the killed save should have left its staging folder behind"
    save(path, 2)  # a fresh staging folder may be a save in progress: kept
    assert check(path) == 2 and all((path / n).exists() for n in staging)
    _age(path / staging[0])
    save(path, 3)
    assert check(path) == 3 and _leftovers(path) == []


def test_atomic_write_bytes_replaces_and_leaves_no_temporary(tmp_path):
    atomic_write_bytes(tmp_path / "metrics.json", b"{}")
    atomic_write_bytes(tmp_path / "metrics.json", b"[]")
    assert (tmp_path / "metrics.json").read_bytes() == b"[]"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def _predictions(out: Path, i: int) -> None:
    def parts(folder: str) -> int:
        Path(folder, "part-00000.parquet").write_text(str(i))
        return 1

    write_predictions(out, parts, lambda n: {"rows": n})


def test_predictions_are_never_missing_while_they_are_replaced(tmp_path):
    out = tmp_path / "preds"
    _predictions(out, 0)
    probe = (
        "import json, os, sys, time\n"
        "root = sys.argv[1]; end = time.monotonic() + 60; missing = 0\n"
        "print('go', flush=True)\n"
        "while not os.path.exists(sys.argv[2]) and time.monotonic() < end:\n"
        "    latest = lambda: json.load(open(os.path.join(root, 'latest')))['version']\n"
        "    v = latest()\n"
        "    try:\n"
        "        open(os.path.join(root, v, 'part-00000.parquet')).read()\n"
        "    except OSError:  # removed by a later save: a reader follows latest again\n"
        "        missing += latest() == v\n"
        "print(missing)\n"
    )
    stop = tmp_path / "stop"
    proc = subprocess.Popen(
        [sys.executable, "-c", probe, str(out), str(stop)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "go"
    for i in range(300):
        _predictions(out, i)
    stop.touch()
    missing = int(proc.stdout.read().strip())
    proc.wait()
    assert missing == 0
    assert Path(predictions_path(out), "part-00000.parquet").read_text() == "299"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds", "stop"]


def test_a_location_copies_and_moves_as_a_whole(tmp_path):
    path = tmp_path / "m"
    save(path, 4, ("report.html",))
    assert path.is_dir() and is_logloss_output(path, "model")
    subprocess.run(["cp", "-r", str(path), str(tmp_path / "copy")], check=True)
    subprocess.run(["cp", "-rL", str(path), str(tmp_path / "plain")], check=True)
    os.rename(path, tmp_path / "moved")
    for name in ("copy", "plain", "moved"):
        assert check(tmp_path / name) == 4
        assert (_pointed(tmp_path / name) / "report.html").read_text() == "4\n"
    save(tmp_path / "plain", 5)  # a copy of a location is a location
    assert check(tmp_path / "plain") == 5
    assert read_model(tmp_path / "copy")[0]["training"] == {"tag": 4}


def test_a_save_never_writes_where_there_is_what_logloss_did_not_write(tmp_path):
    notes = tmp_path / "project"
    notes.mkdir()
    (notes / "notes.txt").write_text("mine")
    with pytest.raises(OutputPathError, match="'notes.txt', which logloss did not write"):
        save(notes, 1)
    assert [p.name for p in notes.iterdir()] == ["notes.txt"]
    f = tmp_path / "file.parquet"
    f.write_bytes(b"PAR1")
    with pytest.raises(OutputPathError, match="is a file"):
        save(f, 1)
    assert f.read_bytes() == b"PAR1"
    assert not is_logloss_output(notes, "model") and not is_logloss_output(f, "model")
    assert not is_logloss_output(tmp_path / "x", "model")
