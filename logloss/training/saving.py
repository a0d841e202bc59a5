"""The last steps of a training run: what it writes (step 8 of :mod:`.run`).

:class:`Split` (the rows fitted and the rows evaluated on) is what they write from;
:func:`commit_version` is the one place a run writes a model version, :func:`save` (to
``--out``) and :func:`publish` (a version of ``model_dir/name``) call it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data import Dataset
from ..logistic import LogisticCore
from ..publishing import publish_model, save_version, write_report_assets
from .checks import DataChecks
from .gate import Verdict
from .plan import TrainPlan


@dataclass(frozen=True)
class Split:
    """The rows to fit and the rows to evaluate on (``valid`` None: the training rows);
    ``note``: how ``valid`` was held out, for the report (None: it was not)."""

    train: Dataset
    valid: Dataset | None = None
    note: str | None = None

    @property
    def evaluation(self) -> Dataset:
        return self.train if self.valid is None else self.valid


# ------------------------------------------------------------ 8: save, publish
def window_record(plan: TrainPlan, split: Split) -> dict[str, Any] | None:
    """The data window a version records: as_of, the window, its range and the partitions
    (days) or the time column it took; with a time hold-out, that too."""
    from ..windows import days_of

    window = plan.data_window()
    if window is None:
        return None
    doc = window.to_json()
    if plan.holdout is not None:
        doc["holdout"] = plan.holdout
    if window.column is None:
        doc["partitions"] = days_of((b.path for b in split.train.blocks), window.key)
        if plan.holdout is not None and split.valid is not None:
            doc["holdout_partitions"] = days_of((b.path for b in split.valid.blocks), window.key)
    return doc


def version_fields(plan: TrainPlan, split: Split, metrics: dict[str, Any] | None) -> dict[str, Any]:
    """What a version of this run records besides its model (its ``_version.json``: the
    window and the metrics) and the retention it asks for: keywords of
    :func:`~logloss.publishing.publish_model` (a gate adds ``promote``, ``verdict``,
    ``reason`` and its numbers to ``record``)."""
    record = {"window": window_record(plan, split), "metrics": metrics or {}}
    return {"record": record, "keep": plan.keep_versions}


@dataclass(frozen=True)
class Saved:
    """Where the model went: ``path`` (the model directory, or the published version),
    ``version`` (a published one's name) and ``links`` (the report and its pictures)."""

    path: str
    version: str | None = None
    links: dict[str, str] = field(default_factory=dict)


def save(
    plan: TrainPlan,
    model: LogisticCore,
    split: Split,
    metrics: dict[str, Any] | None = None,
    verdict: Verdict | None = None,
    found: DataChecks | None = None,
) -> Saved:
    """Write the model (and with ``report`` its report) to ``plan.out`` as a new version,
    recording its window and ``metrics``, with the gate's ``verdict`` and the data checks in
    its metadata (see :func:`publish`)."""
    assert plan.out is not None
    record(model, verdict, found)
    extra = None
    if plan.report:

        def extra(tmp: Path) -> None:
            from ..report import write_html_report

            write_report_assets(
                model, split.evaluation, tmp, train=split.train, held_out=split.note
            )
            _drift(tmp, found)
            write_html_report(tmp, tmp / "report.html", name=Path(plan.out or "").name)

    commit_version(plan, model, extra, verdict, version_fields(plan, split, metrics))
    return Saved(str(plan.out))


def record(model: LogisticCore, verdict: Verdict | None, found: DataChecks | None) -> None:
    """The verdict (``verdict``: promoted | rejected, ``reason``, ``gate``), the data checks
    and ``profile`` (what the next run compares with) in the model's training metadata."""
    if verdict is not None:
        model.training_.update(
            verdict=verdict.status, reason=verdict.reason, gate=verdict.to_json()
        )
    if found is not None:
        model.training_.update(profile=found.profile, data_checks=found.to_json())


def _drift(tmp: Path, found: DataChecks | None) -> None:
    if found is not None and found.checks:
        from ..report.drift import drift_figure

        drift_figure(found.to_json()["checks"], tmp / "drift.png")


def publish(
    plan: TrainPlan,
    model: LogisticCore,
    split: Split,
    metrics: dict[str, Any],
    verdict: Verdict | None = None,
    found: DataChecks | None = None,
) -> Saved:
    """A new version of ``model_dir/name`` with its metrics, the gate's ``verdict`` and the
    data checks ``found`` in its metadata (and with ``report`` the pictures and the page
    titled with the model's name and version); ``latest`` moves to it only when promoted
    (no verdict: promoted)."""
    from ..report import write_html_report
    from ..storage.files import version_of

    assert plan.model_dir is not None and plan.name is not None
    model.training_["metrics"] = metrics
    record(model, verdict, found)
    assets: dict[str, Any] = {}

    def extra(tmp: Path) -> None:
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        if not plan.report:
            return
        found_assets = write_report_assets(
            model, split.evaluation, tmp, metrics=metrics, train=split.train, held_out=split.note
        )
        assets.update(found_assets)
        _drift(tmp, found)
        title = f"{plan.name} version {version_of(tmp)}"
        write_html_report(tmp, tmp / "report.html", name=title)  # inside the version

    published = commit_version(plan, model, extra, verdict, version_fields(plan, split, metrics))
    version = os.path.basename(os.fspath(published).rstrip("/"))
    if isinstance(published, str):
        links = {"report": f"{published}/report.html"} if plan.report else {}
        return Saved(published, version, links)
    version_dir = Path(published).resolve()
    links = {}
    if plan.report:
        links = {k: (version_dir / v).as_uri() for k, v in assets["pictures"].items()}
        links["report"] = (version_dir / "report.html").as_uri()
    return Saved(str(version_dir), version, links)


def commit_version(
    plan: TrainPlan,
    model: LogisticCore,
    extra: Callable[[Path], None] | None,
    verdict: Verdict | None,
    how: dict[str, Any],
) -> Path | str:
    """The one place a run writes a model version (``model_dir/name``, or ``out``) with
    what it records (``how``: :func:`version_fields`): promoted (or no verdict), a new
    version then ``latest``; rejected, a new version marked so, with its reason, and
    ``latest`` left where it was (the storage layer never serves it)."""
    promoted = verdict is None or verdict.promoted
    how = {**how, "promote": promoted, "verdict": "promoted" if promoted else "rejected"}
    if verdict is not None:
        how["reason"] = verdict.reason
        how["record"] = {**how["record"], "gate": verdict.to_json()}
    if plan.out is not None:
        return save_version(model, plan.out, extra=extra, **how)
    assert plan.model_dir is not None and plan.name is not None
    return publish_model(model, plan.model_dir, plan.name, extra=extra, **how)
