"""Frozen dataclasses that hold many levels, hashed once.

A learned encoding (its columns' levels, a cross's pairs) rides in the Dask graphs that read
blocks (one key the reads depend on), and Dask's graph walks hash it: the dataclass-generated
``__hash__`` hashed every level of every column again each time (2.5 s at 8 M click-log rows,
millions of levels). :func:`cached_hash` computes it once per object; :func:`unhashed_state`
leaves the cached value out of a pickle (string hashes differ between processes).

Use both in the class body, so that ``@dataclass`` keeps them::

    __hash__ = cached_hash
    __getstate__ = unhashed_state
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

__all__ = ["cached_hash", "unhashed_state"]


def cached_hash(self: Any) -> int:
    """The hash of the dataclass's fields, computed at the first call and kept."""
    found = self.__dict__.get("_hash")
    if found is None:
        found = hash(tuple(getattr(self, f.name) for f in fields(self)))
        object.__setattr__(self, "_hash", found)
    return int(found)


def unhashed_state(self: Any) -> dict[str, Any]:
    """The instance's state for pickling, without the cached hash."""
    return {k: v for k, v in self.__dict__.items() if k != "_hash"}
