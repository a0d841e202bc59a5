"""One training run, as a short list of steps; ``logloss train`` and the ``train`` flow are
faces over it.

The sequence (:func:`run` calls the steps in this order; the flow calls each step from a
Prefect task of its own):

1. :func:`~logloss.training.plan.check_outputs`: the output rule, before any data is read;
2. :func:`open_dataset`: the footers (and categorical levels) of the data;
3. :func:`connect`: this process, a local cluster or a scheduler, sized by :func:`data_bytes`;
4. :func:`persist`: the blocks read once, on the cluster;
5. :func:`hold_out`: a fraction of the rows, a second dataset, or none;
   With a champion (:func:`champion`, the model ``latest`` names): the schema and data
   checks (:func:`checks`, before fitting) and :func:`start` (warm from its coefficients);
6. :func:`fit`: one fit, or the cross-validation search and its refit;
7. :func:`~logloss.training.fit.not_converged`: the verdict;
8. :func:`evaluate` (the challenger and the champion on the same hold-out, one pass), the
   promotion gate (:func:`gate`), and :func:`save` (a model directory) or :func:`publish`
   (a new version; ``latest`` moved only when promoted), with the report assets (both in
   :mod:`.saving`);
9. a :class:`TrainResult`: what the faces render.

What goes wrong is a value (:class:`~logloss.remedies.Problem`: what, why, the setting to
change), never a command-line flag: the faces spell the settings their own way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checkpoint import CHECKPOINT_FILE
from ..cluster import dask_client as _dask_client
from ..cluster import describe, runs_in_process, starting_line
from ..data import Dataset, read_parquet
from ..integrations.mlflow import record_run
from ..loading import persist_dataset, split_validation
from ..logistic import LogisticCore
from ..prepare import remember_moments
from ..progress import RowsReport
from ..remedies import Namer, Problem, Remedy, python_name
from ..solvers import SolverState
from ..storage import is_url
from .champion import Start, started
from .checks import DataChecks
from .fit import not_converged, train_model
from .gate import RejectedError, Verdict
from .plan import TrainPlan, check_outputs
from .promotion import champion, checks, evaluate, footers, gate, refuse, start
from .saving import (  # noqa: F401  (the flow's steps, by their name here)
    Saved,
    Split,
    commit_version,
    publish,
    record,
    save,
    version_fields,
    window_record,
)

__all__ = [
    "Hooks",
    "RejectedError",
    "Saved",
    "Split",
    "TrainResult",
    "champion",
    "check_outputs",
    "checks",
    "chosen",
    "connect",
    "data_bytes",
    "evaluate",
    "fit",
    "fit_phase",
    "gate",
    "hold_out",
    "left_out",
    "open_dataset",
    "persist",
    "publish",
    "run",
    "save",
    "start",
]

#: What a value error in the data should suggest: settings of the run.
MISSING_REMEDIES = (
    Remedy("missing", "pass", "drop", " to drop such rows"),
    Remedy("missing", "pass", "impute", " to impute feature values"),
)


# ------------------------------------------------------------------ 2: open
def open_dataset(plan: TrainPlan, *, name: Namer = python_name, encoding: Any = None) -> Dataset:
    """The plan's dataset, footers read (and, with categorical columns, their levels counted
    on the current scheduler). ``encoding``: levels and means already learned (a second
    dataset, or a retried step). ``name`` spells the remedies of a bad value."""
    columns: dict[str, Any] = plan.settings.columns() if encoding is None else {}
    if encoding is None and (refused := footers(plan, columns)) is not None:
        raise refuse(plan, refused)  # a champion's column gone or retyped, a column all null
    return read_parquet(
        plan.data,
        plan.label,
        features=plan.features,
        weight=plan.weight,
        dtype=plan.dtype,
        block_bytes=int(plan.block_mb * 2**20),
        encoding=encoding,
        invalid_hint=", or ".join(r.render(name) for r in MISSING_REMEDIES),
        window=plan.train_window(),  # less a time hold-out
        **columns,
    )


def left_out(ds: Dataset) -> Problem | None:
    """The columns left out of the automatic features (dates, timestamps ...), or None."""
    if not ds.ignored:
        return None
    shown = ", ".join(f"{n!r} ({kind})" for n, kind in ds.ignored)
    return Problem(
        "columns left out",
        f"left out column(s) {shown}: neither numeric nor categorical",
        (Remedy("features", "name the columns to use with"),),
    )


def data_bytes(plan: TrainPlan, ds: Dataset) -> int:
    """Bytes of the training data (and a second dataset to evaluate on) once read."""
    size = ds.nbytes
    if isinstance(plan.validation, str) or plan.holdout is not None:
        size += _second(plan, ds).nbytes
    return size


def _second(plan: TrainPlan, ds: Dataset) -> Dataset:
    """The second dataset, or the time hold-out: read with the training encoding."""
    held = plan.holdout_window()
    assert isinstance(plan.validation, str) or held is not None
    return read_parquet(
        plan.data if held is not None else str(plan.validation),
        ds.label,
        window=held,
        drop_invalid=held is not None and ds.drop_invalid,  # the hold-out: as the training rows
        features=ds.input_columns,
        weight=ds.weight,
        dtype=plan.dtype,
        block_bytes=int(plan.block_mb * 2**20),
        encoding=ds.encoding,
    )


# --------------------------------------------------------------- 3: connect
@contextlib.contextmanager
def connect(
    plan: TrainPlan, size: int | None, announce: Callable[[str], None] | None = None
) -> Iterator[str]:
    """Where the run's tasks run, for the block (:func:`logloss.cluster.dask_client`):
    yields its description (``this process``, a scheduler's address ...). ``announce`` is
    told first when a cluster is started or connected to (that takes seconds)."""
    local = runs_in_process(
        plan.scheduler, workers=plan.workers, processes=plan.processes, data_bytes=size
    )
    if announce is not None and not local:
        announce(starting_line(plan.scheduler, plan.workers))
    with _dask_client(
        plan.scheduler,
        workers=plan.workers,
        processes=plan.processes,
        data_bytes=size,
        quiet=plan.quiet,
    ) as client:
        yield describe(client)


def remote(plan: TrainPlan) -> bool:
    """Whether the run connects to a scheduler (then the data is opened on its workers)."""
    return bool(plan.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS"))


# --------------------------------------------------------- 4, 5: persist, split
def persist(ds: Dataset, progress: RowsReport | None = None) -> Dataset:
    """The blocks read once and kept on the cluster; DataError for a bad value in them."""
    return persist_dataset(ds, progress=progress)


def hold_out(plan: TrainPlan, ds: Dataset, progress: RowsReport | None = None) -> Split:
    """The plan's hold-out of a persisted dataset: the newest ``holdout`` of the window, a
    random fraction, a second dataset (both read with the training encoding, then
    persisted), or none."""
    v = plan.validation
    if plan.holdout is not None:
        second = persist(_second(plan, ds), progress)
        return Split(ds, second, f"the newest {plan.holdout} of the window, not used in fitting")
    if v is None:
        return Split(ds)
    if isinstance(v, str):
        second = persist(_second(plan, ds), progress)
        return Split(ds, second, f"a separate dataset, {v}, not used in fitting")
    train, valid = split_validation(ds, v)
    return Split(train, valid, f"a random {v:.0%} of the rows, not used in fitting")


# ------------------------------------------------------------------- 6: fit
@dataclass
class Fitted:
    """A fitted model, the warnings its fit raised (not the convergence one: that is the
    verdict) and whether it resumed from a checkpoint."""

    model: LogisticCore
    warnings: list[str] = field(default_factory=list)
    resumed: bool = False


def checkpoint_dir(plan: TrainPlan, ds: Dataset) -> str | None:
    """The plan's checkpoint directory. A published run without one keeps its own, keyed
    by the settings and the exact data (files, sizes, mtimes), under
    ``model_dir/name/.checkpoints/`` (on this machine's temporary disk for an object
    store); a search (cv) is not checkpointed."""
    if plan.checkpoint or not plan.published or plan.settings.cv:
        return plan.checkpoint
    params = {
        "settings": plan.settings.values,
        "validation": plan.validation,
        "features": plan.features,
    }
    blob = json.dumps({"params": params, "data": ds.X.name}, sort_keys=True, default=str)
    key = hashlib.sha256(blob.encode()).hexdigest()[:16]
    assert plan.model_dir is not None and plan.name is not None
    home = Path(tempfile.gettempdir()) / "logloss-checkpoints"
    root = home if is_url(plan.model_dir) else Path(plan.model_dir)
    return str(root / plan.name / ".checkpoints" / key)


def fit(
    plan: TrainPlan,
    ds: Dataset,
    *,
    checkpoint: str | None = None,
    callback: Callable[[SolverState], None] | None = None,
    cv_progress: Callable[[int, int], None] | None = None,
    begin: Start | None = None,
) -> Fitted:
    """Fit the plan's settings on ``ds`` (a search and its refit with ``cv``), recording
    the warnings raised; a ``checkpoint`` of another fit raises
    :class:`~logloss.checkpoint.CheckpointMismatchError` (remedy ``checkpoint_restart``).
    ``begin``: where the fit starts (:func:`start`; None: cold), recorded with the model
    (``training_["start"]``: warm, from, passes, the line)."""
    resumed = checkpoint is not None and (Path(checkpoint) / CHECKPOINT_FILE).exists()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = train_model(
                ds,
                plan.settings,
                callback=callback,
                checkpoint=checkpoint,
                checkpoint_restart=plan.checkpoint_restart,
                cv_progress=cv_progress,
                init=None if begin is None else begin.init,
            )
        finally:
            remember_moments(None, None)  # the data checks' moments, if the fit took none
    model.training_["resumed_from_checkpoint"] = resumed
    model.training_["start"] = started(begin, model)
    return Fitted(model, _shown(caught), resumed)


def _shown(caught: list[Any]) -> list[str]:
    if not caught:
        return []  # (scikit-learn, for its ConvergenceWarning, is imported only if needed)
    from sklearn.exceptions import ConvergenceWarning

    return [  # non-convergence is the verdict's, with its remedies
        str(w.message)
        for w in caught
        if issubclass(w.category, UserWarning) and not issubclass(w.category, ConvergenceWarning)
    ]


def finish(plan: TrainPlan, checkpoint: str | None) -> None:
    """Remove the checkpoint a published run kept of its own (not one the user named)."""
    if checkpoint is None or plan.checkpoint:
        return
    shutil.rmtree(checkpoint, ignore_errors=True)
    with contextlib.suppress(OSError):
        Path(checkpoint).parent.rmdir()  # only when no other run's checkpoint is left


# --------------------------------------------------------------- 9: the result
@dataclass
class TrainResult:
    """What a run did: the model, where it went (``saved`` None: not written), the verdict
    (``problem``: not converged), the notes to show (columns left out, deprecations,
    warnings of the fit) and the timings."""

    model: LogisticCore
    data: Dataset
    split: Split
    ran_on: str
    saved: Saved | None = None
    problem: Problem | None = None
    metrics: dict[str, Any] | None = None
    notes: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    verdict: Verdict | None = None
    checks: DataChecks | None = None
    champion_passes: int | None = None

    @property
    def rejected(self) -> bool:  # by the promotion gate: latest was not moved
        return self.verdict is not None and not self.verdict.promoted

    def summary(self, plan: TrainPlan) -> dict[str, Any]:
        """The result as plain values (the CLI's table and ``--json``, the flow's log)."""
        m, ds = self.model, self.split.train
        last = m.history_[-1] if m.history_ else {}
        loss, norm = last.get("loss", math.nan), last.get("grad_norm", math.nan)
        return {
            "data": self.data.source,
            "rows": int(ds.X.shape[0]),
            "rows_dropped": int(self.data.n_dropped),
            "features": int(ds.n_features),
            "input_columns": len(ds.input_columns),
            "categorical": [] if ds.encoding is None else ds.encoding.describe_categorical(),
            "ran_on": self.ran_on,
            "solver": m.solver_,
            "solver_setting": plan.settings.solver,
            "iterations": int(m.n_iter_[0]),
            "passes": int(m.n_passes_),
            "converged": bool(m.converged_),
            "final_loss": float(loss) if math.isfinite(loss) else None,
            "gradient_norm": float(norm) if math.isfinite(norm) else None,
            "model": None if self.saved is None else self.saved.path,
            "report": bool(plan.report and self.saved is not None),
            "cv": getattr(m, "cv_", None),
            "data_storage": getattr(m, "data_storage_", None),
            "metrics": self.metrics,
            "start": {**m.training_.get("start", {}), "champion_passes": self.champion_passes},
            "verdict": None if self.verdict is None else self.verdict.to_json(),
            "data_checks": None if self.checks is None else self.checks.to_json()["checks"],
            **{f"{k}_seconds": round(v, 3) for k, v in self.seconds.items()},
        }


# ------------------------------------------------------------------ the run
@dataclass
class Hooks:
    """How a face follows a run: ``phase(message)`` at each step, ``rows(what, total)`` a
    rows-read progress (or None), ``callback`` after each solver iteration,
    ``cv_progress(pass, running)`` after each pass of a search; ``name`` spells settings;
    ``end_rows(message)`` closes a rows-read progress; ``note(problem)`` is told of a note
    (columns left out, rows dropped, a deprecated setting) when it is found."""

    phase: Callable[[str], None] = lambda message: None
    rows: Callable[[str, int], RowsReport | None] = lambda what, total: None
    callback: Callable[[SolverState], None] | None = None
    cv_progress: Callable[[int, int], None] | None = None
    name: Namer = python_name
    end_rows: Callable[[str], None] | None = None
    note: Callable[[Problem], None] | None = None  # told of each note as it is found


def fit_phase(settings: Any) -> str:
    """What the fit step does, in one line (the size of a search's grid)."""
    if not settings.cv:
        return "fitting"
    from ..cv import check_grid

    Cs, ratios = check_grid(settings.Cs, settings.l1_ratios)
    grid = f"{settings.cv} folds x {len(Cs)} C" + (
        f" x {len(ratios)} l1_ratio" if settings.l1_ratios is not None else ""
    )
    models = settings.cv * len(Cs) * len(ratios)
    return f"cross-validating {models} models ({grid}) in the same passes, then the refit"


def chosen(table: dict[str, Any]) -> str:
    """One line: the (C, l1_ratio) a search chose and its held-out log loss."""
    i = table["Cs"].index(table["C"])
    if table["l1_ratios"] is None:
        mean, choice = table["mean"][i], f"C={table['C']:.4g}"
    else:
        mean = table["mean"][table["l1_ratios"].index(table["l1_ratio"])][i]
        choice = f"C={table['C']:.4g}, l1_ratio={table['l1_ratio']:g}"
    return (
        f"chose {choice} by {table['folds']}-fold cross-validation (held-out log loss "
        f"{-mean:.6g}, {table['passes']} passes for the search); refitted on all rows"
    )


def notes_of(plan: TrainPlan, ds: Dataset) -> list[Problem]:
    """What to tell the user about the opened data and the plan: a deprecated setting,
    columns left out, rows dropped."""
    notes = [n for n in (*plan.notices, left_out(ds)) if n is not None]
    if ds.n_dropped:
        notes.append(
            Problem("rows dropped", f"dropped {ds.n_dropped} invalid row(s) of {ds.source}")
        )
    return notes


def run(plan: TrainPlan, hooks: Hooks | None = None) -> TrainResult:
    """The whole run (the outputs already checked: :func:`check_outputs`). A fit that did
    not converge is written only with ``allow_unconverged``: ``result.problem`` says why."""
    h = hooks or Hooks()
    t0 = time.perf_counter()
    h.phase(f"reading {plan.data}")
    with contextlib.ExitStack() as stack:
        # With a scheduler, the levels of categorical columns are counted on its workers;
        # without one, footer-level problems fail before a local cluster starts, and the
        # data's size decides whether one starts at all.
        ran_on = stack.enter_context(connect(plan, None, h.phase)) if remote(plan) else ""
        ds = open_dataset(plan, name=h.name)
        if not ran_on:
            ran_on = stack.enter_context(connect(plan, data_bytes(plan, ds), h.phase))
        h.phase(
            f"loading {ds.n_rows:,} rows x {ds.n_features:,} features from {len(ds.files)} "
            f"file(s) in {len(ds.blocks)} block(s) on {ran_on}"
        )
        ds = persist(ds, h.rows("loading", ds.n_rows))
        (h.end_rows or h.phase)(f"loaded {ds.n_rows:,} rows")
        notes = notes_of(plan, ds)
        tell = h.note or (lambda note: None)
        for note in notes:
            tell(note)
        old = champion(plan)
        found = checks(plan, ds, old)  # the schema first: before any fit
        split = hold_out(plan, ds)
        loaded = time.perf_counter()
        if (begin := start(plan, split.train, old)).version:  # a champion: how the fit starts
            h.phase(begin.line)
        h.phase(fit_phase(plan.settings))
        checkpoint = checkpoint_dir(plan, split.train)
        fitted = fit(
            plan,
            split.train,
            checkpoint=checkpoint,
            callback=h.callback,
            cv_progress=h.cv_progress,
            begin=begin,
        )
        done = time.perf_counter()
        if getattr(fitted.model, "cv_", None):
            h.phase(chosen(fitted.model.cv_))
        problem = not_converged(fitted.model, split.train.feature_names)
        result = TrainResult(
            fitted.model, ds, split, ran_on, problem=problem, notes=notes, warnings=fitted.warnings
        )
        result.checks, result.champion_passes = found, None if old is None else old.passes
        if problem is None or plan.allow_unconverged:
            h.phase(f"writing the model{' and its report' if plan.report else ''}")
            rival = None
            if split.valid is not None or plan.published or old is not None or plan.gate.any:
                result.metrics, rival = evaluate(fitted.model, split.evaluation, old)
            result.verdict = gate(plan, result.metrics or {}, rival, old, found)
            if plan.published:
                result.saved = publish(
                    plan, fitted.model, split, result.metrics or {}, result.verdict, found
                )
            else:
                result.saved = save(
                    plan, fitted.model, split, result.metrics, result.verdict, found
                )
            finish(plan, checkpoint)
    result.seconds = {"load": loaded - t0, "fit": done - loaded, "save": time.perf_counter() - done}
    if (saved := result.saved) is not None:  # MLflow, with a tracking URI; down: only a note
        status = "promoted" if result.verdict is None else result.verdict.status
        where = {"location": saved.path, "version": saved.version}
        record_run(plan, result.model, result.metrics, **where, verdict=status, note=h.note)
    return result
