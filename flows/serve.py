"""Serve the flows against a Prefect API server: training on a cron schedule, scoring on demand.

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m flows.serve

Deployments: ``train/logloss-train`` (cron ``LOGLOSS_TRAIN_CRON``, nightly by default; more
of its parameters, such as the window and the gate, as a JSON object in
``LOGLOSS_TRAIN_PARAMETERS``) and ``score/logloss-score`` (no schedule). Trigger by hand with
``prefect deployment run 'train/logloss-train'``. Settings: see :mod:`flows.settings`.
Scheduled runs execute in subprocesses of this process; no work pool is needed.
"""

from __future__ import annotations

import argparse
import inspect
from typing import Any

from prefect import serve
from prefect.schedules import Cron

from .score import score
from .settings import FlowSettings
from .train import train


def deployments(settings: FlowSettings | None = None, *, cron: str | None = None) -> list[Any]:
    s = settings or FlowSettings()
    common = {
        "model_dir": s.model_dir,
        "name": s.model_name,
        "scheduler_address": s.scheduler_address,
    }
    known = inspect.signature(train.fn).parameters
    if unknown := sorted(set(s.train_parameters) - set(known)):
        raise ValueError(
            f"LOGLOSS_TRAIN_PARAMETERS: {unknown[0]!r} is not a parameter of the train flow "
            "(docs/flows.md lists them)"
        )
    return [
        train.to_deployment(
            name="logloss-train",
            schedules=[Cron(cron or s.train_cron, timezone=s.timezone)],
            parameters={"data": s.data, "label": s.label, **common, **s.train_parameters},
            description="Train on the configured data; publish <model_dir>/<name>/latest.",
            tags=["logloss"],
        ),
        score.to_deployment(
            name="logloss-score",
            parameters={"data": s.data, "out": s.score_out, **common},
            description="Score a Parquet dataset with the latest published model.",
            tags=["logloss"],
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cron", help="override LOGLOSS_TRAIN_CRON for the training schedule")
    parser.add_argument("--limit", type=int, default=None, help="max concurrent runs")
    args = parser.parse_args(argv)
    try:
        served = deployments(cron=args.cron)
    except ValueError as exc:
        parser.exit(2, f"flows.serve: error: {exc}\n")
    serve(*served, limit=args.limit)


if __name__ == "__main__":
    main()
