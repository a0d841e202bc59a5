"""logloss: distributed batch training of binary logistic regression on Dask.

Public API: :class:`LogisticRegression` (scikit-learn compatible), :func:`load_model`,
:func:`read_parquet` (Parquet -> Dask arrays with known chunks).
"""

__version__ = "0.1.0"

from .estimator import LogisticRegression, load_model  # noqa: E402
from .model import ModelFileError  # noqa: E402

__all__ = ["LogisticRegression", "ModelFileError", "__version__", "load_model", "read_parquet"]


def __getattr__(name: str):  # lazy: the data layer pulls in pyarrow
    if name in ("read_parquet", "DataError", "Dataset"):
        from . import data

        return getattr(data, name)
    raise AttributeError(name)
