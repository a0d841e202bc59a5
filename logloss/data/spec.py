"""Blocks: which rows of which file make each block, planned on the client from the footers.

:class:`BlockSpec` says where a block's rows come from (consecutive row groups of one file, or
a row range of one large row group); :func:`_plan_blocks` cuts the footers' row groups into
blocks of at most a given size. No data is read here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np

from .footers import _Footer

PartitionValue = int | float


@dataclass(frozen=True)
class BlockSpec:
    """Where the rows of one block come from.

    ``path`` is a local path or an fsspec URL; ``row_groups`` are consecutive row groups of that
    file; ``n_rows`` is the number of rows in the block (after dropping invalid rows);
    ``row_offset`` is the file row index of the first row of ``row_groups[0]``; ``n_source_rows``
    counts the rows of those row groups before dropping; ``partition`` holds the file's numeric
    hive partition values; ``keep`` is a packed bit mask (``np.packbits``) over the source rows
    when rows were dropped, else ``None``. ``row_range`` is ``(start, stop)``, the rows of
    its one row group a block holds when that row group was larger than a block (split into
    row ranges), else ``None`` (whole row groups).
    """

    path: str
    row_groups: tuple[int, ...]
    n_rows: int
    row_offset: int = 0
    n_source_rows: int = -1
    partition: tuple[tuple[str, PartitionValue], ...] = ()
    keep: bytes | None = field(default=None, repr=False)
    row_range: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.n_source_rows < 0:
            object.__setattr__(self, "n_source_rows", self.n_rows)

    def keep_mask(self) -> np.ndarray | None:
        """Boolean mask over the block's source rows (``None`` when no row was dropped)."""
        if self.keep is None:
            return None
        bits = np.unpackbits(np.frombuffer(self.keep, dtype=np.uint8), count=self.n_source_rows)
        return bits.astype(bool)

    def file_row(self, i: int) -> int:
        """File row index (0-based) of row ``i`` of the block."""
        mask = self.keep_mask()
        if mask is None:
            return self.row_offset + i
        return self.row_offset + int(np.flatnonzero(mask)[i])


# --------------------------------------------------------------------------------------------
# Planning (on the client, from the footers)


#: A row group larger than a block is split into row ranges of at most a block each, but
#: never into ranges under this many bytes (tiny tasks cost more than they save).
MIN_SPLIT_BYTES = 2**20


def _plan_blocks(
    footers: list[_Footer],
    partition_kinds: dict[str, type],
    row_bytes: int,
    block_bytes: int,
    only: Mapping[str, Collection[int]] | None = None,
) -> list[BlockSpec]:
    """Blocks of at most ``block_bytes`` (``row_bytes`` per row): consecutive row groups of a
    file together while they fit, and a row group larger than a block (and than
    :data:`MIN_SPLIT_BYTES`) as row ranges of it. Lengths come from the footers only.
    ``only``: per file path, the row groups to read (a window's); the others never are."""
    per_block = max(1, max(block_bytes, MIN_SPLIT_BYTES) // row_bytes)
    blocks = []
    for footer in footers:
        part = tuple(
            (k, partition_kinds[k](v)) for k, v in footer.file.partition if k in partition_kinds
        )
        path = footer.file.path
        groups: list[int] = []
        rows = offset = start = 0
        wanted = None if only is None else set(only.get(path, ()))
        for i, n in enumerate(footer.row_group_rows):
            if wanted is not None and i not in wanted:  # a block holds consecutive groups
                if groups:
                    blocks.append(BlockSpec(path, tuple(groups), rows, start, rows, part))
                    groups, rows = [], 0
                offset += n
                continue
            if groups and (n > per_block or (rows + n) * row_bytes > block_bytes):
                blocks.append(BlockSpec(path, tuple(groups), rows, start, rows, part))
                groups, rows = [], 0
            if n > per_block:
                blocks += _split_row_group(path, i, n, offset, per_block, part)
            elif n:
                if not groups:
                    start = offset
                groups.append(i)
                rows += n
            offset += n
        if groups:
            blocks.append(BlockSpec(path, tuple(groups), rows, start, rows, part))
    return blocks


def _split_row_group(
    path: str,
    group: int,
    n: int,
    offset: int,
    per_block: int,
    part: tuple[tuple[str, PartitionValue], ...],
) -> list[BlockSpec]:
    """Row group ``group`` (``n`` rows, the first at file row ``offset``) as the fewest
    row ranges of at most ``per_block`` rows, of sizes differing by one at most."""
    k = -(-n // per_block)
    bounds = [j * n // k for j in range(k + 1)]
    return [
        BlockSpec(path, (group,), hi - lo, offset + lo, hi - lo, part, row_range=(lo, hi))
        for lo, hi in zip(bounds, bounds[1:], strict=False)
    ]
