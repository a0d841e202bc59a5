"""One storage layer for models, published models and predictions (see docs/model-files.md).

A location (a local path or an fsspec URL) holds immutable version folders and a pointer
file ``latest`` written last (:mod:`.versions`); models and predictions are versions
(:mod:`.files`); the model file's schema is :mod:`.modelfile`; the output rule :mod:`.rules`.
The path rule and the pointer need only the standard library: NumPy, pydantic and fsspec
are imported when a model or a store is read or written.
"""

from typing import Any

from .rules import (
    OUTPUT_KINDS,
    REPORT_MARKERS,
    OutputPathError,
    check_output,
    check_work_dir,
    is_logloss_output,
)
from .versions import StoreError, atomic_write_bytes, is_url, list_versions, promote, split_url

_LAZY = {
    "files": (
        "PREDICTIONS_FORMAT PREDICTIONS_MARKER copy_model_to_local model_folder predictions_path"
        " read_model read_predictions save_folder save_model write_bytes_url write_predictions"
    ),
    "modelfile": (
        "FORMAT ModelFileError decode_labels encode_labels estimator_kwargs fitted_attributes"
        " model_meta model_vector"
    ),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names.split()}

__all__ = [
    "OUTPUT_KINDS",
    "REPORT_MARKERS",
    "OutputPathError",
    "StoreError",
    "atomic_write_bytes",
    "check_output",
    "check_work_dir",
    "is_logloss_output",
    "is_url",
    "list_versions",
    "promote",
    "split_url",
    *sorted(_WHERE),
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
