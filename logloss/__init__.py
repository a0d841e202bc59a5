"""logloss: distributed batch training of binary logistic regression on Dask.

Public API: :class:`LogisticRegression` (scikit-learn compatible),
:class:`LogisticRegressionCV` (C chosen by cross-validation), :func:`load_model`,
:func:`load` (also a published directory's ``latest``),
:func:`read_parquet` (Parquet -> Dask arrays with known chunks).

Imports are lazy: Dask workers unpickle functions of ``logloss.loss`` and
``logloss.blockdata`` and should not pay for scikit-learn and the estimator on start-up.
"""

from typing import Any

from .version import __version__

__all__ = [
    "DataError",
    "Dataset",
    "LogisticRegression",
    "LogisticRegressionCV",
    "ModelFileError",
    "__version__",
    "load",
    "load_model",
    "read_parquet",
]

_LAZY = {
    "LogisticRegression": "estimator",
    "LogisticRegressionCV": "estimator",
    "load_model": "estimator",
    "ModelFileError": "storage",
    "read_parquet": "data",
    "DataError": "data",
    "Dataset": "data",
}


def load(path: Any) -> Any:
    """A saved model as a :class:`LogisticRegression`: a model directory, or a directory of
    published versions (its ``latest``), at a local path or an fsspec URL (``s3://`` ...)."""
    from .estimator import LogisticRegression
    from .publishing import resolve_model

    return LogisticRegression.load(resolve_model(path))


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
