"""One storage layer for models, published models and predictions (docs/model-files.md).

:mod:`.versions`: locations (version folders and ``latest``, written last); :mod:`.files`:
models and predictions as versions; :mod:`.modelfile`: model.json's schema; :mod:`.rules`:
what an output may be. Imports are lazy: the path rule needs only the standard library.
"""

import importlib
from typing import Any

_LAZY = {
    "files": "PREDICTIONS_FORMAT PREDICTIONS_MARKER copy_model_to_local model_folder "
    "predictions_path read_model read_predictions save_folder save_model save_refused "
    "write_bytes_url "
    "write_predictions",
    "modelfile": "FORMAT ModelFileError decode_labels encode_labels estimator_kwargs "
    "fitted_attributes model_meta model_vector",
    "rules": "OUTPUT_KINDS REPORT_MARKERS OutputPathError check_output check_work_dir "
    "is_logloss_output",
    "versions": "KEEP_VERSIONS VERDICTS StoreError atomic_write_bytes describe_versions is_url "
    "list_versions promote "
    "retain split_url",
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names.split()}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
