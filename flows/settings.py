"""Settings of the flows, read from the environment in one typed place.

| variable                 | default                                   |
|--------------------------|-------------------------------------------|
| LOGLOSS_DATA             | the bundled data/breast_cancer.parquet    |
| LOGLOSS_LABEL            | target                                    |
| LOGLOSS_MODEL_DIR        | models                                    |
| LOGLOSS_MODEL_NAME       | breast_cancer                             |
| LOGLOSS_TRAIN_CRON       | 0 2 * * *   (nightly at 02:00)            |
| LOGLOSS_TIMEZONE         | UTC                                       |
| LOGLOSS_SCORE_OUT        | predictions                               |
| DASK_SCHEDULER_ADDRESS   | (unset: this process, or a local cluster) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

BUNDLED_DATA = Path(__file__).resolve().parents[1] / "data" / "breast_cancer.parquet"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class FlowSettings:
    data: str = field(default_factory=lambda: _env("LOGLOSS_DATA", str(BUNDLED_DATA)))
    label: str = field(default_factory=lambda: _env("LOGLOSS_LABEL", "target"))
    model_dir: str = field(default_factory=lambda: _env("LOGLOSS_MODEL_DIR", "models"))
    model_name: str = field(default_factory=lambda: _env("LOGLOSS_MODEL_NAME", "breast_cancer"))
    train_cron: str = field(default_factory=lambda: _env("LOGLOSS_TRAIN_CRON", "0 2 * * *"))
    timezone: str = field(default_factory=lambda: _env("LOGLOSS_TIMEZONE", "UTC"))
    score_out: str = field(default_factory=lambda: _env("LOGLOSS_SCORE_OUT", "predictions"))
    scheduler_address: str | None = field(
        default_factory=lambda: os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    )
