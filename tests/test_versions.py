"""Versions you can see and move (issue 21, item 5): records, ``logloss versions``,
``logloss promote`` (the rollback), retention, and rejected or refused versions never served;
the same on a local disk, at ``memory://`` and at an S3 server (moto's)."""

from __future__ import annotations

import csv
import io
import json
import os

import fsspec
import numpy as np
import pytest
from model_atomic_procs import check, model_meta

from logloss.cli import main
from logloss.storage import (
    StoreError,
    describe_versions,
    list_versions,
    promote,
    retain,
    save_model,
    save_refused,
)

KEYS = {"version", "created", "window", "metrics", "verdict", "reason", "latest"}
WINDOW = {"as_of": "2024-03-08T00:00:00Z", "window": "7d", "partitions": ["2024-03-01"]}


@pytest.fixture(scope="module")
def moto():
    pytest.importorskip("s3fs")
    from test_s3 import running_moto

    with running_moto() as server:
        yield server


@pytest.fixture(params=["local", "memory", "s3"])
def where(request, tmp_path):
    """A fresh model location: a local folder, a memory:// one or an s3:// URL."""
    rng = np.random.default_rng()
    if request.param == "local":
        yield str(tmp_path / "m")
    elif request.param == "memory":
        root = f"/v{rng.integers(1 << 40):x}"
        yield f"memory://{root}/m"
        fs = fsspec.filesystem("memory")
        if fs.exists(root):
            fs.rm(root, recursive=True)
    else:
        server = request.getfixturevalue("moto")
        bucket = f"b{rng.integers(1 << 40):x}"
        server.fs().mkdir(bucket)
        yield f"s3://{bucket}/m"


def put(path: str, tag: int, **how) -> str:
    """A version whose model's tag is ``tag``; returns its name."""
    meta, vec = model_meta(tag)
    record = {"window": {**WINDOW, "tag": tag}, "metrics": {"log_loss": 0.1 * tag}}
    return os.path.basename(str(save_model(path, meta, vec, record=record, **how)).rstrip("/"))


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        code = main(argv)
        raise SystemExit(code)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_rejected_and_refused_versions_are_kept_listed_and_never_served(where, capsys):
    v1 = put(where, 1)
    v2 = put(where, 2, promote=False, reason="log loss rose by 0.05 (at most 0.002)")
    v3 = str(save_refused(where, "column 'a' is all null")).rstrip("/").rsplit("/", 1)[-1]
    assert check(where) == 1  # readers of latest get the champion
    rows = describe_versions(where)
    assert [r["version"] for r in rows] == [v1, v2, v3]
    assert all(set(r) == KEYS for r in rows)
    assert [r["verdict"] for r in rows] == ["promoted", "rejected", "refused"]
    assert [r["latest"] for r in rows] == [True, False, False]
    assert rows[1]["reason"].startswith("log loss rose") and rows[1]["metrics"]["log_loss"] == 0.2
    assert rows[0]["window"]["as_of"] == WINDOW["as_of"] and rows[0]["created"].endswith("Z")
    # --json: exactly the documented keys, oldest first
    code, out, _ = cli(["versions", where, "--json"], capsys)
    assert code == 0 and json.loads(out) == rows
    # plain (not a terminal): a title line, then TSV with every value whole
    code, out, _ = cli(["versions", where], capsys)
    lines = list(csv.reader(io.StringIO(out.split("\n", 1)[1]), delimiter="\t"))
    header, body = lines[0], [r for r in lines[1:] if r]
    assert header == [
        "version",
        "created",
        "window",
        "log_loss",
        "roc_auc",
        "verdict",
        "reason",
        "latest",
    ]
    assert [r[0] for r in body] == [v1, v2, v3] and [r[-1] for r in body] == ["latest", "", ""]
    assert body[0][2] == "7d to 2024-03-08T00:00:00Z" and body[2][6] == "column 'a' is all null"
    # promote refuses them: one line, exit 2, latest unchanged
    for v, what in ((v2, "rejected"), (v3, "refused"), ("v000099-00000000", "no complete")):
        code, _, err = cli(["promote", where, v], capsys)
        (line,) = err.strip().splitlines()
        assert code == 2 and what in line and v in line
    assert check(where) == 1


def test_a_location_whose_first_version_was_rejected_serves_nothing(where, capsys):
    put(where, 1, promote=False, reason="AUC 0.51 under 0.6")
    from logloss import ModelFileError, load_model

    with pytest.raises(ModelFileError):
        load_model(where)
    assert [r["latest"] for r in describe_versions(where)] == [False]
    put(where, 2)
    assert check(where) == 2


def test_a_lost_champion_heals_to_the_newest_servable_version_never_a_rejected_one(where):
    v1 = put(where, 1)
    v2 = put(where, 2)
    fs, root = fsspec.core.url_to_fs(where)
    fs.rm(f"{root.rstrip('/')}/{v2}", recursive=True)  # what latest names is gone
    put(where, 3, promote=False)
    assert check(where) == 1
    assert [r["version"] for r in describe_versions(where) if r["latest"]] == [v1]


def test_promote_rolls_back_and_forward_atomically(where, capsys):
    v1, v2, v3 = put(where, 1), put(where, 2), put(where, 3)
    assert [r["version"] for r in describe_versions(where)] == [v2, v3]  # default: keep 2
    code, out, _ = cli(["promote", where, v2], capsys)
    assert code == 0 and out.strip() == f"latest -> {v2}" and check(where) == 2
    promote(where, v3)
    assert check(where) == 3
    assert v1 not in {r["version"] for r in describe_versions(where)}


def test_retention_keeps_the_last_n_and_never_latest_or_the_previous_champion(where):
    names = [put(where, t, keep=3) for t in range(1, 6)]
    assert [v["version"] for v in list_versions(where)] == names[-3:]
    # the champion (4 after a rollback) and the one before it survive a keep of 1; so does
    # the promoted version after it (rolled back from: to roll forward to)
    promote(where, names[3])
    rejected = [put(where, t, promote=False, keep=1) for t in (6, 7)]
    kept = [v["version"] for v in list_versions(where)]
    assert kept == [*names[2:], rejected[-1]]  # the older rejected one is gone
    assert check(where) == 4
    assert retain(where, 1) == []  # nothing more to remove
    with pytest.raises(ValueError, match="at least 1"):
        retain(where, 0)


def test_promote_refuses_an_incomplete_version(tmp_path, capsys):
    path = tmp_path / "m"
    put(str(path), 1)
    (path / "v000009-0123abcd").mkdir()  # a save in progress (or killed)
    with pytest.raises(StoreError, match="not a complete version"):
        promote(path, "v000009-0123abcd")
    code, _, err = cli(["versions", str(tmp_path / "absent")], capsys)
    assert code == 2 and "does not exist" in err


def test_train_records_its_window_and_keeps_the_versions_asked_for(tmp_path, capsys):
    from test_windows import write_days

    write_days(tmp_path / "data", 6)
    out = str(tmp_path / "m")
    for day in ("2024-03-04", "2024-03-05", "2024-03-06"):
        argv = ["train", str(tmp_path / "data"), "--label", "y", "--out", out, "--quiet"]
        argv += ["--window", "3d", "--as-of", day, "--holdout", "1d", "--keep-versions", "1"]
        assert main(argv) == 0
    code, text, _ = cli(["versions", out, "--json"], capsys)
    rows = json.loads(text)
    assert code == 0 and [r["latest"] for r in rows] == [False, True]  # latest + the champion
    assert [r["window"]["as_of"] for r in rows] == ["2024-03-05T00:00:00Z", "2024-03-06T00:00:00Z"]
    assert rows[-1]["window"]["partitions"] == ["2024-03-03", "2024-03-04"]
    assert rows[-1]["window"]["holdout_partitions"] == ["2024-03-05"]
    assert 0 < rows[-1]["metrics"]["log_loss"] < 1 and rows[-1]["metrics"]["n"] == 200
