"""The data layer's error type and the helpers that format values and file lists in messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["DEFAULT_INVALID_HINT", "DataError"]

DEFAULT_INVALID_HINT = (
    "pass missing='drop' to drop such rows, or missing='impute' to impute feature values"
)
_MAX_LISTED = 10


class DataError(ValueError):
    """Bad input data.

    The message states the rule, and names the file, the column and the offending value.
    Raised eagerly by :func:`read_parquet` and lazily inside Dask block tasks (then re-raised on
    the client by Dask); it holds a single string argument so that it pickles.
    """


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def some_items(items: Sequence[str], limit: int = 3) -> str:
    """A few names (``limit``), then how many more: a message never lists thousands."""
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit:,} more" if len(items) > limit else "")


def _some_files(paths: Sequence[str], limit: int = 3) -> str:
    """A few file names, then how many more."""
    return some_items(paths, limit)
