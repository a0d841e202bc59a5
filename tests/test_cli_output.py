"""What the commands print when stdout is not a terminal: whole values, nothing cut.

Each command runs as a real subprocess with its stdout a file or a pipe (as
``logloss summary ... > file`` and ``| cut`` do); the plain output must hold the same
numbers and names as ``--json``, to the last digit.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

LONG = "smoothness of the cell nucleus boundary, mean over the whole image"
DATA = Path(__file__).resolve().parents[1] / "data" / "breast_cancer.parquet"


def run(*args: str, stdout_file: Path | None = None) -> str:
    """The command's stdout: written to a file (``stdout_file``) or read from a pipe."""
    cmd = [sys.executable, "-m", "logloss.cli", *args]
    if stdout_file is None:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ)
        assert done.returncode == 0, done.stderr
        return done.stdout
    with stdout_file.open("w") as f:
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.PIPE, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return stdout_file.read_text()


def sections(text: str) -> dict[str, list[list[str]]]:
    """``# title`` -> its tab-separated rows."""
    out: dict[str, list[list[str]]] = {}
    title = None
    for line in text.splitlines():
        if line.startswith("# "):
            title = line[2:]
            out[title] = []
        elif title is not None and line:
            out[title].append(next(csv.reader(io.StringIO(line), delimiter="\t")))
    return out


@pytest.fixture(scope="module")
def model_and_data(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("out")
    frame = pd.read_parquet(DATA)
    data = tmp / "cells.parquet"
    rng = np.random.default_rng(0)
    pd.DataFrame(
        {
            "mean radius": frame["mean radius"],
            LONG: frame["mean smoothness"] * 1000 + rng.normal(size=len(frame)),
            "target": frame["target"],
        }
    ).to_parquet(data, index=False)
    model = tmp / "m"
    run("train", str(data), "--label", "target", "--C", "inf", "--out", str(model), "--quiet")
    return model, data


def test_summary_to_a_file_holds_whole_values_and_names(model_and_data, tmp_path):
    model, data = model_and_data
    text = run("summary", str(model), str(data), stdout_file=tmp_path / "summary.txt")
    assert "…" not in text
    doc = json.loads(run("summary", str(model), str(data), "--json"))
    got = sections(text)
    coef_title = next(t for t in got if t.startswith("coefficients of"))
    header, *rows = got[coef_title]
    assert header == ["feature", *[k for k in doc["coefficients"][0] if k != "feature"]]
    assert sorted(r[0] for r in rows) == sorted([LONG, "mean radius", "intercept"])
    for row, want in zip(rows, doc["coefficients"], strict=True):
        assert row[0] == want["feature"]
        for key, cell in zip(header[1:], row[1:], strict=True):
            if isinstance(want[key], float):
                assert float(cell) == want[key], (row[0], key)  # every digit
            else:
                assert cell == str(want[key])
    fit = dict(got["fit"])
    assert float(fit["log_likelihood"]) == doc["log_likelihood"]
    assert float(fit["aic"]) == doc["aic"]


def test_summary_csv_is_the_table_in_full(model_and_data):
    model, data = model_and_data
    text = run("summary", str(model), str(data), "--csv")
    table = pd.read_csv(io.StringIO(text), index_col="feature", float_precision="round_trip")
    doc = json.loads(run("summary", str(model), str(data), "--json"))
    assert list(table.index) == [c["feature"] for c in doc["coefficients"]]
    for c in doc["coefficients"]:
        assert table.loc[c["feature"], "coef"] == c["coef"]
        assert table.loc[c["feature"], "std_err"] == c["std_err"]


def test_train_and_evaluate_through_a_pipe_print_whole_values(model_and_data, tmp_path):
    model, data = model_and_data
    deep = tmp_path / ("a-long-directory-name-" * 4) / "model"
    text = run("train", str(data), "--label", "target", "--out", str(deep))
    rows = dict(sections(text)["logloss train"])
    assert rows["model"] == str(deep) and rows["data"] == str(data)
    doc = json.loads(
        run("train", str(data), "--label", "target", "--out", str(tmp_path / "m2"), "--json")
    )
    assert float(rows["final loss"]) == doc["final_loss"]
    text = run("evaluate", str(model), str(data), stdout_file=tmp_path / "evaluate.txt")
    metrics = dict(next(iter(sections(text).values())))
    want = json.loads(run("evaluate", str(model), str(data), "--json"))
    for key in ("log_loss", "roc_auc", "brier_score"):
        assert float(metrics[key]) == want[key]
