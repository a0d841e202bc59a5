"""Where the pipeline's steps used to live; kept so that older imports keep working.

New code imports from the modules named by step: :mod:`logloss.loading` (open, persist,
hold out), :mod:`logloss.training` (the run, the fit and its verdict),
:mod:`logloss.evaluation`, :mod:`logloss.scoring` (predictions to Parquet) and
:mod:`logloss.publishing` (published models and report assets).
"""

from __future__ import annotations

from .cluster import SchedulerUnreachableError, dask_client
from .evaluation import evaluate_model, model_columns
from .loading import load_dataset, persist_dataset, split_validation
from .publishing import load_published, publish_model, resolve_model, write_report_assets
from .scoring import predict_to_parquet
from .settings import TrainSettings
from .training.fit import NotConvergedError, not_converged, train_model

__all__ = [
    "NotConvergedError",
    "SchedulerUnreachableError",
    "TrainSettings",
    "dask_client",
    "evaluate_model",
    "load_dataset",
    "load_published",
    "model_columns",
    "not_converged",
    "persist_dataset",
    "predict_to_parquet",
    "publish_model",
    "resolve_model",
    "split_validation",
    "train_model",
    "write_report_assets",
]
