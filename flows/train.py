"""The training flow, a face of the training run (:mod:`logloss.training.run`): each task
is one step of the run, with its retries; artifacts are best-effort (:mod:`flows.reporting`).
Run it as ``python -m flows.train --help``, from ``flows/serve.py``, or ``train(...)``."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from logloss.integrations.mlflow import record_run, tracking_uri
from logloss.remedies import Problem
from logloss.training import TrainPlan
from logloss.training import run as steps
from logloss.training.fit import NotConvergedError, not_converged
from logloss.training.gate import RejectedError

from . import reporting
from .command import EXIT_FAILED, EXIT_INTERRUPTED, bail
from .settings import plan_of, retry_transient


def _note(problem: Problem) -> None:
    get_run_logger().warning("%s", problem.render())


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=retry_transient, cache_policy=NO_CACHE)
def open_data(plan: TrainPlan) -> steps.Dataset:
    """The dataset's footers (and categorical levels); the columns left out are named."""
    ds = steps.open_dataset(plan)
    for note in steps.notes_of(plan, ds):
        _note(note)
    return ds


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=retry_transient, cache_policy=NO_CACHE)
def load(ds: steps.Dataset) -> steps.Dataset:
    """Persist the blocks on the cluster and check the labels."""
    ds = steps.persist(ds)
    reporting.log_loaded(get_run_logger(), ds)
    return ds


@task(cache_policy=NO_CACHE)
def hold_out(plan: TrainPlan, ds: steps.Dataset) -> steps.Split:
    """The training and evaluation rows: a random fraction, a second dataset, or none."""
    return steps.hold_out(plan, ds)


@task(cache_policy=NO_CACHE)
def check_data(plan: TrainPlan, ds: steps.Dataset) -> tuple[Any, Any]:
    """The champion (the model ``latest`` names) and the data checks against it: a schema
    change fails here, before any fit."""
    old = steps.champion(plan)
    found = steps.checks(plan, ds, old)
    for check in found.checks:
        if check.flagged:
            get_run_logger().warning("data check: %s", check.line())
    return old, found


@task(retries=1, retry_delay_seconds=5, retry_condition_fn=retry_transient, cache_policy=NO_CACHE)
def fit(plan: TrainPlan, ds: steps.Dataset, checkpoint: str | None, old: Any) -> steps.Fitted:
    """Fit on the cluster (from the champion's coefficients when it fits the data),
    checkpointing the optimiser state; a retry resumes from it."""
    logger = get_run_logger()
    begin = steps.start(plan, ds, old)
    logger.info(begin.line)
    if steps.fit_phase(plan.settings) != "fitting":
        logger.info(steps.fit_phase(plan.settings))
    with reporting.Reporter(plan.settings.max_iter, logger) as reporter:
        fitted = steps.fit(plan, ds, checkpoint=checkpoint, callback=reporter, begin=begin)
    reporting.log_fitted(logger, fitted, checkpoint)
    return fitted


@task(cache_policy=NO_CACHE)
def evaluate(model: Any, ds: steps.Dataset, old: Any) -> tuple[dict[str, Any], Any]:
    """The model's metrics on the hold-out, and the champion's on the same rows."""
    metrics, rival = steps.evaluate(model, ds, old)
    get_run_logger().info("evaluation: %s", json.dumps(metrics))
    if rival is not None:
        get_run_logger().info("the champion on the same rows: %s", json.dumps(rival))
    return metrics, rival


@task(retries=1, retry_delay_seconds=5, retry_condition_fn=retry_transient, cache_policy=NO_CACHE)
def publish(
    plan: TrainPlan,
    model: Any,
    split: steps.Split,
    metrics: dict[str, Any],
    decision: Any = None,
    found: Any = None,
) -> steps.Saved:
    """A new version with its metrics, verdict, data checks, pictures and report; then
    ``latest`` is moved, when the gate promoted it."""
    saved = steps.publish(plan, model, split, metrics, decision, found)
    reporting.publish_artifacts(plan, model, metrics, saved, decision, found)
    if decision is None or decision.promoted:
        get_run_logger().info("published %s; latest -> %s", saved.path, saved.version)
    else:
        get_run_logger().error("kept %s as rejected; latest unchanged", saved.path)
    return saved


@task(cache_policy=NO_CACHE)
def track(
    plan: TrainPlan, model: Any, metrics: dict[str, Any], location: str, verdict: str
) -> None:
    """The run in MLflow when a tracking URI is given (:mod:`logloss.integrations.mlflow`);
    a server that does not answer is a warning: the model is published all the same."""
    version = os.path.basename(location.rstrip("/"))
    recorded = record_run(
        plan, model, metrics, location=location, version=version, verdict=verdict, note=_note
    )
    if recorded is not None:
        get_run_logger().info("%s", recorded.line())


@flow(name="train", log_prints=True)
def train(  # noqa: PLR0913 - one parameter per option of logloss train
    data: str | None = None,
    label: str | None = None,
    features: list[str] | None = None,
    weight: str | None = None,
    # the training settings: the same names and defaults as logloss.settings.TRAIN_SETTINGS
    solver: Literal["auto", "lbfgs", "newton", "owlqn", "gd"] = "auto",
    C: float = 1.0,
    l1_ratio: float = 0.0,
    max_iter: int = 100,
    tol: float = 1e-4,
    standardize: bool = False,
    fit_intercept: bool = True,
    class_weight: Literal["balanced"] | None = None,
    learning_rate: float = 1.0,
    line_search: bool = False,
    checkpoint_every: int = 5,
    missing: Literal["error", "drop", "impute"] = "error",
    categorical: list[str] | None = None,
    numeric: list[str] | None = None,
    exclude: list[str] | None = None,
    max_categories: int | None = None,
    min_frequency: int = 1,
    categorical_coding: Literal["all", "reference"] = "all",
    hash_bits: int | None = None,
    hash_columns: list[str] | None = None,
    interactions: list[str] | None = None,
    log1p: list[str] | None = None,
    cv: int = 0,
    Cs: int | list[float] = 10,
    l1_ratios: list[float] | None = None,
    penalty: Literal["l2", "none"] | None = None,
    # the run: data handling, hold-out, output, checkpoint, cluster
    dtype: Literal["float64", "float32"] = "float64",
    block_mb: float = 128.0,
    drop_invalid: bool = False,
    validation: float | str | None = 0.2,
    window: str | None = None,
    as_of: str | None = None,
    time_column: str | None = None,
    holdout: float | str | None = None,
    keep_versions: int | None = None,
    model_dir: str | None = None,
    name: str | None = None,
    report: bool = True,
    allow_unconverged: bool = False,
    checkpoint: str | None = None,
    checkpoint_restart: bool = False,
    scheduler_address: str | None = None,
    workers: int | None = None,
    processes: bool = False,
    # MLflow (logloss.integrations.mlflow): None is env MLFLOW_TRACKING_URI, else no MLflow
    mlflow_tracking_uri: str | None = None,
    mlflow_model_name: str | None = None,
    # warm start, promotion gate and data checks (each rule off when None)
    warm_start: bool = True,
    gate_max_log_loss: float | None = None,
    gate_min_auc: float | None = None,
    gate_max_log_loss_increase: float | None = None,
    gate_max_auc_drop: float | None = None,
    drift_max_psi: float | None = None,
    check_max_null_rate: float | None = None,
    check_label_rate_change: float | None = None,
    check_max_unseen_rate: float | None = None,
) -> str:
    """Train a model on a Parquet dataset and publish it as ``model_dir/name/latest``.

    The parameters are ``logloss train``'s options by their setting names (see its
    ``--help``): the training settings mean what they mean in ``logloss.LogisticRegression``
    (``C=inf``: no penalty; ``penalty`` is its deprecated alias). ``data``, ``label``,
    ``model_dir``, ``name`` default to the environment's settings (``LOGLOSS_DATA`` ...,
    read when the run starts; see ``flows/settings.py``; the bundled sample is fitted with
    ``standardize=True``). ``validation``: a fraction of
    rows to hold out, a second dataset, or None (evaluate on the training rows).
    ``window`` (``"30d"``) trains on ``[as_of - window, as_of)`` of ``date=`` partitions (or
    of ``time_column``); ``as_of`` defaults to the run's scheduled start time (a backfill is
    a parameter); ``holdout``: the newest part of the window (``"1d"``) held out, or a
    fraction (a random split). ``keep_versions``: retention (default 2; ``latest`` and the
    previous champion are never removed).
    ``scheduler_address``: a Dask scheduler (else env DASK_SCHEDULER_ADDRESS, else this
    process when the data fits in memory, a local cluster for this run when it does not).

    ``model_dir/name`` must be absent or hold only published versions. A killed run resumes
    from its checkpoint when run again with the same parameters on the same data. A fit that
    does not converge fails the run (the reason and the settings to change) without moving
    ``latest``, unless ``allow_unconverged``. Returns the version's directory.

    ``mlflow_tracking_uri`` (else env ``MLFLOW_TRACKING_URI``): the run is also recorded in
    MLflow, its model registered as a version of ``mlflow_model_name`` (default ``name``)
    with the alias ``champion`` (``pip install 'logloss[mlflow]'``); a server that does not
    answer is a warning, the run completes (docs/flows.md, "MLflow").
    ``warm_start``: the fit starts from the champion's coefficients (the model ``latest``
    names) when it fits the data. The promotion gate (``gate_*``: absolute, and relative to
    the champion scored on the same hold-out) and the data checks' thresholds
    (``drift_max_psi``, ``check_*``) are off unless given; a rejected model is published as
    a version marked rejected, ``latest`` stays, and the run ends Failed with the reason.
    A champion's column gone or of another type fails the run before fitting.
    """
    plan = plan_of(dict(locals()))
    for notice in plan.notices:
        _note(notice)
    try:
        with contextlib.ExitStack() as stack:
            opened = None
            if not steps.remote(plan):  # opened here, the data's size decides where it runs
                opened = open_data(plan)
            size = None if opened is None else steps.data_bytes(plan, opened)
            stack.enter_context(steps.connect(plan, size))
            ds = load(opened if opened is not None else open_data(plan))
            old, found = check_data(plan, ds)
            split = hold_out(plan, ds)
            checkpoint = steps.checkpoint_dir(plan, split.train)
            fitted = fit(plan, split.train, checkpoint, old)
            verdict(plan, fitted, split)
            metrics, rival = evaluate(fitted.model, split.evaluation, old)
            decision = steps.gate(plan, metrics, rival, old, found)
            saved = publish(plan, fitted.model, split, metrics, decision, found)
    except KeyboardInterrupt:
        bail(EXIT_INTERRUPTED, "interrupted")  # as a command: the cluster is stopped, exit
        raise
    except reporting.ServerLostError as exc:
        bail(EXIT_FAILED, f"error: {exc}")
        raise
    steps.finish(plan, checkpoint)
    if tracking_uri(plan.mlflow_tracking_uri):  # MLflow (logloss.integrations.mlflow)
        track(plan, fitted.model, metrics, saved.path, decision.status)
    if not decision.promoted:  # after the version and the artifact: a Failed run says why
        raise RejectedError(decision, saved.version)
    return saved.path


def precheck(params: dict[str, Any]) -> None:
    """Bad input found before the flow starts (outputs, settings, the data's columns)."""
    plan = plan_of(params)
    if not steps.remote(plan):
        steps.open_dataset(plan)


def verdict(plan: TrainPlan, fitted: steps.Fitted, split: steps.Split) -> None:
    """Whether the model may be published: it converged (or ``allow_unconverged``), and the
    Prefect server that records the run still answers (else nothing is published; the fit's
    checkpoint is kept, so a run again resumes from it)."""
    problem = not_converged(fitted.model, split.train.feature_names)
    if problem is not None:
        if not plan.allow_unconverged:
            raise NotConvergedError(problem)  # latest stays on the last good version
        get_run_logger().warning("%s; publishing anyway (allow_unconverged=True)", problem.render())
    reporting.check_api()


def main(argv: list[str] | None = None) -> str:
    """``python -m flows.train``: run the training flow once; options as ``logloss train``."""
    from .command import main as command

    return command(argv, lambda **kwargs: train(**kwargs), precheck)


if __name__ == "__main__":  # pragma: no cover
    from .command import exit_with

    exit_with(main)
