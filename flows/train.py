"""The training flow: load and validate -> fit on the cluster -> evaluate -> publish.

Every step calls a function of :mod:`logloss.pipeline`; no math lives here. Run it
directly (``python -m flows.train --help``), from ``flows/serve.py`` on a schedule, or as
``from flows.train import train; train(data=..., label=...)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Literal, cast
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from logloss.checkpoint import CHECKPOINT_FILE, CheckpointError
from logloss.core import LogisticCore
from logloss.data import Dataset, read_parquet
from logloss.pipeline import (
    TrainSettings,
    dask_client,
    evaluate_model,
    load_dataset,
    non_convergence,
    publish_model,
    split_validation,
    train_model,
    write_report_assets,
)
from logloss.report import markdown_report, write_html_report
from logloss.solvers import SolverState
from logloss.storage import check_output, is_url

from .settings import FlowSettings


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry hiccups (I/O, lost workers), never bad input: that fails the same way again."""
    try:
        state.result()
    except (ValueError, TypeError, CheckpointError):  # DataError is a ValueError
        return False
    except Exception:
        return True
    return False


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=retry_transient, cache_policy=NO_CACHE)
def load_and_validate(
    data: str,
    label: str,
    features: list[str] | None,
    weight: str | None,
    columns: dict[str, Any] | None = None,
) -> Dataset:
    """Read the Parquet dataset, persist its blocks on the cluster, check the labels.
    ``columns``: the column options of ``read_parquet`` (or the encoding already learned)."""
    logger = get_run_logger()
    ds = load_dataset(data, label, features=features, weight=weight, **(columns or {}))
    classes = ds.check_labels()
    logger.info(
        "loaded %s: %d rows x %d features in %d blocks; labels %s",
        ds.source,
        ds.n_rows,
        ds.n_features,
        len(ds.blocks),
        classes,
    )
    return ds


@task(cache_policy=NO_CACHE)
def hold_out(
    ds: Dataset, validation: float | str | None, features: list[str] | None, weight: str | None
) -> tuple[Dataset, Dataset]:
    """The training and evaluation sets: a random fraction, a second dataset, or none."""
    if validation is None:
        return ds, ds
    if isinstance(validation, float):
        return split_validation(ds, validation)
    valid = load_dataset(
        validation,
        ds.label,
        features=ds.input_columns,
        weight=weight,
        encoding=ds.encoding,
    )
    return ds, valid


class _Reporter:
    """Progress artifact + run-logger lines while the solver iterates."""

    def __init__(self, max_iter: int) -> None:
        self.logger = get_run_logger()
        self.max_iter = max_iter
        self.artifact = cast(
            UUID,
            create_progress_artifact(
                0.0, key="training-progress", description="training iterations (% of max_iter)"
            ),
        )
        self.every = max(1, max_iter // 100)
        self._last_update = 0.0

    def __call__(self, state: SolverState) -> None:
        row = state.history[-1]
        it = row["iteration"]
        if it <= 10 or it % self.every == 0:
            self.logger.info(
                "iteration %d: loss %.10g, gradient norm %.3e, step %.3e",
                it,
                row["loss"],
                row["grad_norm"],
                row["step"],
            )
        now = time.monotonic()
        if now - self._last_update >= 1.0:
            self._last_update = now
            update_progress_artifact(self.artifact, min(100.0, 100.0 * it / self.max_iter))

    def done(self) -> None:
        update_progress_artifact(self.artifact, 100.0)


@task(retries=1, retry_delay_seconds=5, retry_condition_fn=retry_transient, cache_policy=NO_CACHE)
def fit(ds: Dataset, settings: TrainSettings, checkpoint: str) -> LogisticCore:
    """Fit on the cluster, checkpointing the optimiser state; a retry resumes from it."""
    logger = get_run_logger()
    reporter = _Reporter(settings.max_iter)
    resumed = (Path(checkpoint) / CHECKPOINT_FILE).exists()
    if resumed:
        logger.info("resuming from checkpoint %s", checkpoint)
    model = train_model(ds, settings, callback=reporter, checkpoint=checkpoint)
    reporter.done()
    logger.info(
        "fit %s: %d iterations, %d passes, loss %.10g, converged=%s",
        model.solver_,
        int(model.n_iter_[0]),
        model.n_passes_,
        model.history_[-1]["loss"] if model.history_ else math.nan,
        model.converged_,
    )
    model.training_["resumed_from_checkpoint"] = resumed
    return model


@task(cache_policy=NO_CACHE)
def evaluate(model: LogisticCore, ds: Dataset) -> dict[str, Any]:
    metrics = evaluate_model(model, ds)
    get_run_logger().info("evaluation: %s", json.dumps(metrics))
    return metrics


@task(retries=1, retry_delay_seconds=5, retry_condition_fn=retry_transient, cache_policy=NO_CACHE)
def publish(
    model: LogisticCore,
    valid: Dataset,
    metrics: dict[str, Any],
    model_dir: str,
    name: str,
    train: Dataset | None = None,
    held_out: str | None = None,
) -> str:
    """Save a new version with its metrics, pictures and report; then move ``latest``.

    ``valid`` is the data the metrics come from, ``train`` the training data (for the
    coefficient statistics), ``held_out`` a sentence saying how ``valid`` was held out
    (None: ``valid`` is the training data), shown at the top of the report."""
    model.training_["metrics"] = metrics
    assets: dict[str, Any] = {}

    remote = is_url(model_dir)  # an object store: the page goes into the version itself

    def extra(tmp: Path) -> None:
        found = write_report_assets(
            model, valid, tmp, metrics=metrics, train=train, held_out=held_out
        )
        assets.update(found)
        if remote:
            write_html_report(tmp, tmp / "report.html", name=name)

    published = publish_model(model, model_dir, name, extra=extra)
    if isinstance(published, str):
        version_name = published.rsplit("/", 1)[-1]
        links = {"report": f"{published}/report.html"}
    else:
        version_dir = published.resolve()
        version_name = version_dir.name
        write_html_report(version_dir)  # after the rename: the page is titled with the version
        links = {k: (version_dir / v).as_uri() for k, v in assets["pictures"].items()}
        links["report"] = (version_dir / "report.html").as_uri()
        published = str(version_dir)
    create_markdown_artifact(
        markdown_report(metrics, model.get_params(), links),
        key="training-report",
        description=f"model {name} version {version_name}",
    )
    create_table_artifact(
        [dict(h) for h in model.history_], key="iteration-history", description="per iteration"
    )
    get_run_logger().info("published %s; latest -> %s", published, version_name)
    return published


def hold_out_note(validation: float | str | None) -> str | None:
    """How the evaluation rows were held out, for the top of the report (None: they are the
    training rows)."""
    if validation is None:
        return None
    if isinstance(validation, str):
        return f"a separate dataset, {validation}, not used in fitting"
    return f"a random {validation:.0%} of the rows, not used in fitting"


def run_key(parameters: dict[str, Any], ds: Dataset) -> str:
    """Identifies a training run: its settings and the exact data (files, sizes, mtimes)."""
    blob = json.dumps({"params": parameters, "data": ds.X.name}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@flow(name="train", log_prints=True)
def train(  # noqa: PLR0913 - one parameter per training setting (logloss.settings)
    data: str | None = None,
    label: str | None = None,
    features: list[str] | None = None,
    weight: str | None = None,
    # the training settings: the same names and defaults as logloss.settings.TRAIN_SETTINGS
    solver: Literal["auto", "lbfgs", "newton", "gd"] = "auto",
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
    # the run
    validation: float | str | None = 0.2,
    scheduler_address: str | None = None,
    model_dir: str | None = None,
    name: str | None = None,
    allow_unconverged: bool = False,
    penalty: Literal["l2", "none"] | None = None,
    # columns and missing values (training settings too: logloss.settings)
    missing: Literal["error", "drop", "impute"] = "error",
    categorical: list[str] | None = None,
    numeric: list[str] | None = None,
    exclude: list[str] | None = None,
    max_categories: int = 100,
    min_frequency: int = 1,
    categorical_coding: Literal["all", "reference"] = "all",
    # cross-validation (training settings too): choose C (and l1_ratio), then refit
    cv: int = 0,
    Cs: int | list[float] = 10,
    l1_ratios: list[float] | None = None,
) -> str:
    """Train a model on a Parquet dataset and publish it as ``model_dir/name/latest``.

    ``data``, ``label``, ``model_dir``, ``name`` default to the environment's settings
    (``LOGLOSS_DATA`` ..., read when the run starts; see ``flows/settings.py``).
    The training settings mean what they mean in ``logloss.LogisticRegression`` and
    ``logloss train`` (``C=inf``: no penalty; ``penalty`` is its deprecated alias).
    ``validation``: a fraction of rows to hold out (0 < f < 1), a path to a second
    dataset, or None to evaluate on the training data. ``scheduler_address``: a Dask
    scheduler (else env DASK_SCHEDULER_ADDRESS, else this process when the data fits in
    memory, a local cluster for this run when it does not).
    A run killed part-way resumes from its checkpoint when run again with the same
    parameters on the same data. Returns the published version's directory.

    ``model_dir/name`` must be absent or hold only published versions (it is checked before
    the cluster starts). A fit that does not converge (max|gradient| > tol) fails the run
    with the reason and a hint, and ``latest`` is not moved, unless ``allow_unconverged``.

    ``exclude``: columns left out of the features (default: every usable column is one).
    ``missing``, ``categorical``, ``numeric``, ``max_categories``, ``min_frequency``,
    ``categorical_coding``: how string, bool and incomplete columns become features (see
    ``logloss train --help`` and the README's "Columns and missing values"); the levels
    and means are learned on the whole dataset before the hold-out split, and travel with
    the published model.

    ``cv`` (>= 2), ``Cs``, ``l1_ratios``: choose C (and l1_ratio) by cv-fold
    cross-validation on the training rows (the hold-out stays out of it), refit at the
    chosen values; the search's table is kept in model.json ("cv") and drawn in the report.
    A search is not checkpointed: a retried run searches again.
    """
    env = FlowSettings()
    data = data or env.data
    label = label or env.label
    model_dir = model_dir or env.model_dir
    name = name or env.model_name
    if penalty is not None:
        get_run_logger().warning("penalty is deprecated: use C=inf for no penalty")
    settings = TrainSettings(
        solver=solver,
        C=C,
        l1_ratio=l1_ratio,
        max_iter=max_iter,
        tol=tol,
        standardize=standardize,
        fit_intercept=fit_intercept,
        class_weight=class_weight,
        learning_rate=learning_rate,
        line_search=line_search,
        checkpoint_every=checkpoint_every,
        missing=missing,
        categorical=categorical,
        numeric=numeric,
        exclude=exclude,
        max_categories=max_categories,
        min_frequency=min_frequency,
        categorical_coding=categorical_coding,
        cv=cv,
        Cs=Cs,
        l1_ratios=l1_ratios,
        penalty=penalty,
    )
    check_output(
        f"{model_dir.rstrip('/')}/{name}" if is_url(model_dir) else Path(model_dir) / name,
        "published",
        inputs=[data, validation if isinstance(validation, str) else None],
    )
    if isinstance(validation, int | float) and not isinstance(validation, bool):
        validation = float(validation)
        if validation == 0.0:
            validation = None
    address = scheduler_address or env.scheduler_address
    columns: dict[str, Any] = {  # as checked by the settings
        "missing": settings.missing,
        "categorical": settings.categorical or (),
        "numeric": settings.numeric or (),
        "exclude": settings.exclude or (),
        "max_categories": settings.max_categories,
        "min_frequency": settings.min_frequency,
        "categorical_coding": settings.categorical_coding,
    }
    size = None
    if not address:
        # The same rule as the CLI: data that fits in memory is trained in this process.
        # Opening the dataset here (footers; with categorical columns the levels pass) sizes
        # it; the encoding learned is reused below, not learned twice.
        opened = read_parquet(data, label, features=features, weight=weight, **columns)
        size = data_size(opened, validation)
        columns = {"encoding": opened.encoding} if opened.encoding is not None else columns
    with dask_client(address, data_bytes=size):
        ds = load_and_validate(data, label, features, weight, columns)
        train_ds, valid_ds = hold_out(ds, validation, features, weight)
        key = run_key(
            {"settings": settings.values, "validation": validation, "features": features},
            ds,
        )
        # (an object store holds no checkpoint: it stays on this machine's temporary disk)
        home = Path(tempfile.gettempdir()) / "logloss-checkpoints" if is_url(model_dir) else None
        checkpoint = (home or Path(model_dir)) / name / ".checkpoints" / key
        model = cast(LogisticCore, fit(train_ds, settings, str(checkpoint)))
        problem = non_convergence(model, train_ds.feature_names, style="flow")
        if problem is not None:
            if not allow_unconverged:
                raise problem  # latest stays on the last good version
            get_run_logger().warning(
                "%s; publishing anyway (allow_unconverged=True); %s", problem.reason, problem.hint
            )
        metrics = evaluate(model, valid_ds)
        version = publish(
            model, valid_ds, metrics, model_dir, name, train_ds, hold_out_note(validation)
        )
    shutil.rmtree(checkpoint, ignore_errors=True)
    with contextlib.suppress(OSError):
        checkpoint.parent.rmdir()  # only when no other run's checkpoint is left
    return version


def data_size(opened: Dataset, validation: float | str | None) -> int:
    """Bytes of the training (and validation) data once read; the validation dataset is
    sized from its footers with the training encoding."""
    size = opened.nbytes
    if isinstance(validation, str):
        size += read_parquet(
            validation,
            opened.label,
            features=opened.input_columns,
            weight=opened.weight,
            encoding=opened.encoding,
        ).nbytes
    return size


def main(argv: list[str] | None = None) -> str:
    """``python -m flows.train``: run the training flow once; options as ``logloss train``."""
    import argparse

    from logloss.settings import add_cli_options, from_cli

    parser = argparse.ArgumentParser(
        prog="python -m flows.train",
        description="Run the training flow once (defaults: the environment's settings, "
        "else the bundled sample data).",
    )
    parser.add_argument("--data", help="Parquet dataset (default: env LOGLOSS_DATA)")
    parser.add_argument("--label", help="label column (default: env LOGLOSS_LABEL)")
    parser.add_argument("--model-dir", help="(default: env LOGLOSS_MODEL_DIR)")
    parser.add_argument("--name", help="model name (default: env LOGLOSS_MODEL_NAME)")
    parser.add_argument("--validation", type=float, default=0.2, help="hold-out fraction (0: none)")
    parser.add_argument("--scheduler-address", help="(default: env DASK_SCHEDULER_ADDRESS)")
    parser.add_argument("--allow-unconverged", action="store_true")
    add_cli_options(parser)
    a = parser.parse_args(argv)
    return str(
        train(
            data=a.data,
            label=a.label,
            model_dir=a.model_dir,
            name=a.name,
            validation=a.validation or None,
            scheduler_address=a.scheduler_address,
            allow_unconverged=a.allow_unconverged,
            **from_cli(a),
        )
    )


if __name__ == "__main__":  # pragma: no cover
    print(main())
