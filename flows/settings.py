"""Settings of the flows, read from the environment in one typed place; the train
flow's parameters as a run's plan (:func:`plan_of`); the flows' retry rule.

| variable                 | default                                   |
|--------------------------|-------------------------------------------|
| LOGLOSS_DATA             | the bundled data/breast_cancer.parquet    |
| LOGLOSS_LABEL            | target                                    |
| LOGLOSS_MODEL_DIR        | models                                    |
| LOGLOSS_MODEL_NAME       | breast_cancer                             |
| LOGLOSS_TRAIN_CRON       | 0 2 * * *   (nightly at 02:00)            |
| LOGLOSS_TIMEZONE         | UTC                                       |
| LOGLOSS_SCORE_OUT        | predictions                               |
| LOGLOSS_TRAIN_PARAMETERS | {}  (more parameters of the train deployment, JSON) |
| DASK_SCHEDULER_ADDRESS   | (unset: this process, or a local cluster) |
| MLFLOW_TRACKING_URI      | (unset: no MLflow, see mlflow_tracking_uri) |
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logloss.settings import TRAIN_SETTINGS
from logloss.training import TrainPlan, check_outputs
from logloss.training.plan import RULE_NAMES

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
    train_parameters: dict[str, Any] = field(default_factory=lambda: _json_env(TRAIN_PARAMETERS))


#: The variable holding more parameters of the served train deployment, as a JSON object:
#: e.g. '{"window": "30d", "holdout": "1d", "gate_max_log_loss_increase": 0.002}'.
TRAIN_PARAMETERS = "LOGLOSS_TRAIN_PARAMETERS"


def _json_env(name: str) -> dict[str, Any]:
    text = os.environ.get(name, "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{name} is not JSON ({exc.msg} at character {exc.pos}): {text!r}"
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object of train parameters; got {text!r}")
    return value


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """The flows' retry rule: retry hiccups (I/O, lost workers), never bad input (that
    fails the same way again)."""
    from logloss.checkpoint import CheckpointError

    try:
        state.result()
    except (ValueError, TypeError, CheckpointError):  # DataError is a ValueError
        return False
    except Exception:
        return True
    return False


#: The flow's parameters that are training settings (and the deprecated alias), and those
#: that are the run's plan (:class:`~logloss.training.TrainPlan`) by the same names.
SETTING_NAMES = frozenset([*(s.name for s in TRAIN_SETTINGS), "penalty"])
RUN_NAMES = (
    *("features", "weight", "dtype", "block_mb", "drop_invalid", "validation", "report"),
    *("allow_unconverged", "checkpoint", "checkpoint_restart", "workers", "processes"),
    *("mlflow_tracking_uri", "mlflow_model_name"),
    *("warm_start", *RULE_NAMES),  # the warm start, the promotion gate, the data checks
    *("window", "as_of", "time_column", "holdout", "keep_versions"),
)


def scheduled_start() -> str | None:
    """The flow run's scheduled start time (ISO, UTC), the default ``as_of`` of a window:
    a scheduled run trains on the window before its slot, and a backfill is a parameter.
    None outside a flow run."""
    try:
        from prefect.runtime import flow_run

        if flow_run.get_id() is None:
            return None
        start = flow_run.scheduled_start_time
    except Exception:  # no run context: the plan takes now
        return None
    return None if start is None else start.isoformat()


def plan_of(params: dict[str, Any]) -> TrainPlan:
    """The run the flow's parameters ask for, its outputs checked (before any data is read);
    ``data``, ``label``, ``model_dir``, ``name`` and the scheduler default to the env's."""
    env = FlowSettings()
    settings = {k: v for k, v in params.items() if k in SETTING_NAMES}
    data = params.get("data") or env.data
    if params.get("window") and not params.get("as_of"):
        params = {**params, "as_of": scheduled_start()}
    if Path(data).resolve() == BUNDLED_DATA:  # the bundled sample is always standardized:
        settings["standardize"] = True  # its features differ in scale by 1e4
    return check_outputs(
        TrainPlan.create(
            settings,
            **{k: params[k] for k in RUN_NAMES if k in params},  # the plan's names
            data=data,
            label=params.get("label") or env.label,
            model_dir=params.get("model_dir") or env.model_dir,
            name=params.get("name") or env.model_name,
            scheduler=params.get("scheduler_address") or env.scheduler_address,
        )
    )
