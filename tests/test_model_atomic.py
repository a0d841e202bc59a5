"""Model saves survive kill -9 at any moment, concurrent readers always see a whole model,
and leftovers of crashed writers never block or accumulate (issue #9, items 2 and 3)."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from model_atomic_procs import EXTRA_NAMES, check, reader, save, saver, saves

from logloss.model import atomic_dir, atomic_write_bytes, is_model_dir, read_model_files


def _ctx() -> mp.context.BaseContext:
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["numpy", "logloss.model", "model_atomic_procs"])
    return ctx


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _leftovers(path: Path) -> list[str]:
    """Names beside and inside a model directory that a finished save should not leave."""
    beside = [p.name for p in path.parent.iterdir() if p.name != path.name]
    inside = [p.name for p in path.iterdir() if p.name.startswith(".")]
    versions = [n for n in inside if n.startswith(".v-") and not n.endswith((".tmp", ".old"))]
    others = [n for n in inside if n != ".current" and n not in versions]
    return beside + others + versions[1:]


def _plain_copy(src: Path, dst: Path) -> None:
    """The layout older logloss releases wrote: real files only."""
    dst.mkdir()
    for name in ("model.json", "coef.npy", *EXTRA_NAMES):
        if (src / name).exists():
            shutil.copyfile(src / name, dst / name)


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
            time.sleep(rng.uniform(0.0, 0.03))
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
    # a normal save afterwards succeeds and removes every leftover of the killed writers
    save(path, 7, ("metrics.json",))
    assert check(path) == 7
    assert _leftovers(path) == []
    assert sorted(p.name for p in path.iterdir() if not p.name.startswith(".")) == [
        "coef.npy",
        "metrics.json",
        "model.json",
    ]
    assert (path / "metrics.json").read_text() == "7\n"


def test_kill_9_during_saves_never_loses_the_model_or_shows_a_half_one(tmp_path):
    _kill_loop(tmp_path, kills=100, budget=30.0)


@pytest.mark.slow
def test_kill_9_during_saves_long_form(tmp_path):
    _kill_loop(tmp_path, kills=600, budget=600.0, n_readers=3)


def test_kill_9_while_converting_a_plain_layout_model_keeps_old_or_new(tmp_path):
    ctx = _ctx()
    save(tmp_path / "src", 1, EXTRA_NAMES)
    rng = random.Random(7)
    seen = set()
    for i in range(25):
        (tmp_path / f"w{i}").mkdir()
        path = tmp_path / f"w{i}" / "m"
        _plain_copy(tmp_path / "src", path)
        ready = ctx.Event()
        w = ctx.Process(target=saver, args=(str(path), 2, ready, i))
        w.start()
        assert ready.wait(30)
        time.sleep(rng.uniform(0.0, 0.01))
        os.kill(w.pid, signal.SIGKILL)
        w.join()
        seen.add(min(check(path), 2))  # 1 (old) or >= 2 (a new one), never a mix
        save(path, 99)
        assert check(path) == 99 and _leftovers(path) == []
        assert (path / "model.json").is_symlink() and not (path / "metrics.json").exists()
    assert seen  # every state loaded


def test_saving_over_a_plain_layout_model_with_concurrent_readers(tmp_path):
    ctx = _ctx()
    save(tmp_path / "src", 1, EXTRA_NAMES)
    path = tmp_path / "m"
    _plain_copy(tmp_path / "src", path)
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
            while not path.exists():
                time.sleep(0.001)
            r.start()
        for w in writers:
            w.join(60)
        assert [w.exitcode for w in writers] == [0, 0]
        assert check(path) in (1059, 2059)  # the last save of either writer
        current = path / os.readlink(path / ".current")
        visible = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
        assert visible == sorted(p.name for p in current.iterdir())  # no dangling names
        assert _leftovers(path) == []
    stop.set()
    _pid, n, _tags, errors = out.get(timeout=60)
    r.join(30)
    assert errors == [] and n > 0


def test_a_stale_hidden_old_directory_of_this_process_does_not_block_a_save(tmp_path):
    path = tmp_path / "m"
    save(path, 1)
    stale = tmp_path / f".m.old-{os.getpid()}"  # what an interrupted earlier release left
    stale.mkdir()
    (stale / "model.json").write_text("{}")
    save(path, 2)
    assert check(path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_temporaries_of_a_killed_save_are_removed_by_the_next_save(tmp_path):
    code = (
        "import os, signal, sys\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from model_atomic_procs import save, model_meta\n"
        "from logloss.model import write_model_files\n"
        "meta, vec = model_meta(5)\n"
        "def extra(d):\n"
        "    (d / 'metrics.json').write_text('half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "write_model_files(sys.argv[1], meta, vec, extra=extra)\n"
    )
    tests_dir = str(Path(__file__).parent)
    path = tmp_path / "m"
    for existing in (False, True):
        if existing:
            save(path, 1)
        proc = subprocess.run([sys.executable, "-c", code, str(path), tests_dir])
        assert proc.returncode == -signal.SIGKILL
        if existing:
            assert check(path) == 1  # the kill left the old model in force
        leftovers = [p.name for p in tmp_path.rglob(".*") if ".tmp" in p.name]
        assert leftovers, "the killed save should have left a temporary behind"
        save(path, 3)
        assert check(path) == 3
        assert _leftovers(path) == []
        assert not [p for p in tmp_path.rglob("*") if p.name.endswith((".tmp", ".old"))]
        shutil.rmtree(path)


def test_atomic_write_bytes_removes_temporaries_of_dead_writers(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f".metrics.json.{dead}-0123abcd.tmp"
    stale.write_bytes(b"half")
    other = tmp_path / f".other.json.{dead}-0123abcd.tmp"  # another file's: not ours to judge
    other.write_bytes(b"x")
    atomic_write_bytes(tmp_path / "metrics.json", b"{}")
    assert (tmp_path / "metrics.json").read_bytes() == b"{}"
    assert not stale.exists() and other.exists()


def test_atomic_dir_restores_an_old_directory_a_crash_left_aside(tmp_path):
    out = tmp_path / "preds"
    aside = tmp_path / f".preds.old-{_dead_pid()}"  # crash between the two renames
    aside.mkdir()
    (aside / "part-00000.parquet").write_bytes(b"old data")
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "part-00000.parquet").write_bytes(b"new")
        raise RuntimeError("fails half way")
    assert (out / "part-00000.parquet").read_bytes() == b"old data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds"]


def test_atomic_dir_replaces_without_a_moment_where_the_directory_is_missing(tmp_path):
    out = tmp_path / "preds"
    with atomic_dir(out) as tmp:
        (tmp / "_SUCCESS").write_text("0")
    probe = (
        "import os, sys, time\n"
        "p = os.path.join(sys.argv[1], '_SUCCESS'); end = time.monotonic() + 60; missing = 0\n"
        "print('go', flush=True)\n"
        "while not os.path.exists(sys.argv[2]) and time.monotonic() < end:\n"
        "    missing += not os.path.exists(p)\n"
        "print(missing)\n"
    )
    stop = tmp_path / "stop"
    proc = subprocess.Popen(
        [sys.executable, "-c", probe, str(out), str(stop)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "go"
    for i in range(300):
        with atomic_dir(out) as tmp:
            (tmp / "_SUCCESS").write_text(str(i))
    stop.touch()
    missing = int(proc.stdout.read().strip())
    proc.wait()
    assert missing == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds", "stop"]


def test_a_model_directory_copies_and_moves_as_a_whole(tmp_path):
    path = tmp_path / "m"
    save(path, 4, ("report.html",))
    assert path.is_dir() and not path.is_symlink() and is_model_dir(path)
    subprocess.run(["cp", "-r", str(path), str(tmp_path / "copy")], check=True)
    subprocess.run(["cp", "-rL", str(path), str(tmp_path / "plain")], check=True)
    os.rename(path, tmp_path / "moved")
    for name in ("copy", "plain", "moved"):
        assert check(tmp_path / name) == 4
        assert (tmp_path / name / "report.html").read_text() == "4\n"
    save(tmp_path / "plain", 5)  # a plain copy is replaced like any model directory
    assert check(tmp_path / "plain") == 5
    assert read_model_files(tmp_path / "copy")[0]["training"] == {"tag": 4}


def test_a_save_never_replaces_what_is_not_a_model(tmp_path):
    notes = tmp_path / "project"
    notes.mkdir()
    (notes / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a logloss model"):
        save(notes, 1)
    assert [p.name for p in notes.iterdir()] == ["notes.txt"]
    f = tmp_path / "file.parquet"
    f.write_bytes(b"PAR1")
    with pytest.raises(FileExistsError, match="not a directory"):
        save(f, 1)
    assert f.read_bytes() == b"PAR1"
    assert not is_model_dir(notes) and not is_model_dir(f) and not is_model_dir(tmp_path / "x")
