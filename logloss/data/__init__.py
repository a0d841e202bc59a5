"""Parquet data layer: files -> Dask arrays with known row chunks, validated block by block.

Modules
-------
- ``errors``: :class:`DataError` and the helpers that format values and file lists in messages.
- ``discovery``: sources (paths, directories, globs, fsspec URLs) -> files, hive partitions.
- ``footers``: each file's schema, row-group sizes and :class:`FileIdentity`, from its footer;
  :func:`footer_stats`, a source's columns and null counts by the footers' statistics.
- ``schema``: the column plan (features, label, weight, their kinds) decided from all footers;
  type rules.
- ``encoding``: categorical columns as 0/1 indicators, missing values imputed: learned from
  per-block summaries, applied block by block (pyarrow, NumPy).
- ``codes``: the same encoding applied as int32 codes (wide categorical columns).
- ``frozen``: the encoding's frozen dataclasses hashed once (Dask hashes task arguments).
- ``spec``: :class:`BlockSpec`; planning blocks of at most a size from the footers.
- ``blocks``: reading and validating blocks (pyarrow, NumPy).
- ``dataset``: :func:`read_parquet`, the Dask arrays, :class:`Dataset`; the only Dask module.

Conventions
-----------
- ``X`` is an ``(n, p)`` Dask array of ``float64`` or ``float32``, C-contiguous blocks, chunked
  by rows only: ``X.chunks == ((r1, r2, ...), (p,))``. Row chunk sizes come from the Parquet
  footers (row-group metadata), so they are known without reading any data. With categorical
  columns (or ``missing="impute"``) ``p`` is the width of the encoding, learned in one pass
  over the features when the dataset is opened; ``feature_names`` are then the encoded names.
  An encoding of more than ``encoding.CODES_ABOVE`` indicator features is read as codes: each
  block of ``X`` is then a :class:`logloss.coded.CodedMatrix` (the numeric part dense, one
  int32 code column per categorical column), never a dense one-hot matrix; ``X`` keeps the
  shape (n, p) and its blocks are computed with ``to_delayed()`` (Dask cannot concatenate them).
- ``y`` holds the raw label values, ``(n,)``, same row chunks as ``X``: the column's own numeric
  dtype, ``bool``, or ``object`` for strings. Mapping labels to 0/1 is the caller's business
  (:meth:`Dataset.check_labels` returns the two distinct values, sorted).
- ``sample_weight`` is ``(n,)`` ``float64`` or ``None``.
- Block ``i`` of ``X``/``y``/``sample_weight`` is made of the row groups ``blocks[i].row_groups``
  of the file ``blocks[i].path`` (or, for a row group larger than a block, the row range
  ``blocks[i].row_range`` of it). The three arrays share one read task per block, so computing
  or persisting them *together* (``dask.persist(X, y, w)`` or :meth:`Dataset.persist`) reads
  each file once.
- Cheap checks (paths, footers, schemas, column names and types) run eagerly in
  :func:`read_parquet`; value checks (null / NaN / inf, negative weights) run inside each block
  task and raise :class:`DataError` when the block is computed. Row numbers in messages are
  0-based indices within the file.
- Hive partition directories (``key=value/``) become columns; they are used only when named
  explicitly (as ``label``, ``weight`` or in ``features``) and only if every value is numeric.
"""

from .blocks import BlockSpec, read_block_columns
from .dataset import Dataset, read_parquet
from .encoding import MISSING_MODES, Encoding
from .errors import DEFAULT_INVALID_HINT, DataError
from .footers import FileIdentity, FooterStats, footer_stats

__all__ = [
    "DEFAULT_INVALID_HINT",
    "BlockSpec",
    "DataError",
    "Dataset",
    "Encoding",
    "MISSING_MODES",
    "FileIdentity",
    "FooterStats",
    "footer_stats",
    "read_block_columns",
    "read_parquet",
]
