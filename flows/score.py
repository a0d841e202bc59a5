"""The scoring flow: a model (a path, or the published ``latest``) and Parquet in, Parquet out.

Scoring runs block by block on the Dask cluster (see :func:`logloss.scoring.predict_to_parquet`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from logloss.cluster import dask_client
from logloss.logistic import LogisticCore
from logloss.publishing import load_published, resolve_model
from logloss.scoring import predict_to_parquet
from logloss.storage import check_output, is_url

from .settings import FlowSettings, retry_transient


def model_path(model: str, model_dir: str, name: str) -> Path | str:
    """``latest`` means the published latest version of ``model_dir/name`` (an fsspec URL
    stays a string)."""
    if model == "latest":
        if is_url(model_dir):
            return resolve_model(f"{model_dir.rstrip('/')}/{name}")
        return resolve_model(Path(model_dir) / name)
    return resolve_model(model)


@task(cache_policy=NO_CACHE)
def load(path: str) -> LogisticCore:
    return load_published(path)


@task(retries=1, retry_delay_seconds=5, retry_condition_fn=retry_transient, cache_policy=NO_CACHE)
def write_predictions(
    model: LogisticCore, data: str, out: str, keep: list[str], model_path: str
) -> tuple[str, int]:
    path, n = predict_to_parquet(model, data, out, keep=keep, model_path=model_path)
    return str(path), n


@flow(name="score")
def score(
    data: str | None = None,
    out: str | None = None,
    model: str = "latest",
    keep: list[str] | None = None,
    model_dir: str | None = None,
    name: str | None = None,
    scheduler_address: str | None = None,
) -> str:
    """Write predictions (kept columns, probability, prediction) for ``data`` into ``out``.

    ``model`` is a model directory, or ``latest`` for ``model_dir/name/latest``.
    ``out`` must be absent, empty, or earlier predictions (replaced); anything else fails
    the run before the cluster starts (see :func:`logloss.storage.check_output`).
    ``data``, ``out``, ``model_dir`` and ``name`` default to the environment's settings
    (read when the run starts; see ``flows/settings.py``). Returns the output directory.
    ``model``, ``model_dir``, ``data`` and ``out`` may be fsspec URLs (``s3://`` ...): a
    published ``latest`` there is a pointer file (docs/model-files.md).
    """
    env = FlowSettings()
    data = data or env.data
    out = out or env.score_out
    model_dir = model_dir or env.model_dir
    name = name or env.model_name
    logger = get_run_logger()
    path = model_path(model, model_dir, name)
    check_output(out, "predictions", inputs=[data, path])
    logger.info("scoring %s with model %s", data, path)
    est = cast(LogisticCore, load(str(path)))
    # predictions stream block by block: any size runs in this process without a scheduler
    with dask_client(scheduler_address or env.scheduler_address, data_bytes=0):
        written, n = write_predictions(est, data, out, list(keep or []), str(path))
    logger.info("wrote %d predictions to %s", n, written)
    shown = written if is_url(written) else os.path.abspath(written)
    create_markdown_artifact(
        f"# Scoring\n\n| | |\n|---|---|\n| model | `{path}` |\n| data | `{data}` |\n"
        f"| rows | {n} |\n| output | `{shown}` |\n",
        key="scoring-summary",
    )
    return written
