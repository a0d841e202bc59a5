"""Large vocabularies of a model as binary side files of its folder (Arrow IPC), not as
JSON lists in model.json.

A categorical column of the encoding with more than :data:`INLINE_LEVELS` levels (its
``levels`` and ``infrequent`` together) is written to ``levels-<j>.arrow`` (j: the column's
index in the encoding): an Arrow IPC file of one column ``level`` (string, int64 or bool;
the null level a null), the frequent levels then the infrequent ones. Its entry in
model.json holds, instead of the two lists::

    {"name": ..., "kind": "categorical", "levels_file": "levels-3.arrow",
     "levels_count": 1000000, "infrequent_count": 12, "bytes": 17000514, "sha256": "..."}

The file is written in the version folder beside model.json (so the folder's atomic commit
covers it); a reader checks its size, SHA-256, Arrow schema and length before use, and
refuses a missing or corrupt one in one line naming it. Smaller vocabularies stay inline,
readable; folders written before side files (lists only) load as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from .modelfile import ModelFileError

#: A categorical column with more levels (frequent + infrequent) than this is a side file.
INLINE_LEVELS = 10_000
#: The most bytes a side file may have (checked against model.json before it is read).
MAX_LEVELS_BYTES = 1 << 34
_TYPES = {str: pa.string(), int: pa.int64(), bool: pa.bool_()}


def split(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """model.json's document with each large vocabulary replaced by its side file's entry,
    and the side files' bytes by name. A column whose levels Arrow cannot hold in one type
    (mixed kinds; an integer beyond int64) stays inline."""
    enc = doc.get("encoding")
    if not isinstance(enc, dict) or not isinstance(enc.get("columns"), list):
        return doc, {}
    files: dict[str, bytes] = {}
    columns = []
    for j, c in enumerate(enc["columns"]):
        levels, rare = c.get("levels"), c.get("infrequent")
        if c.get("kind") != "categorical" or len(levels) + len(rare) <= INLINE_LEVELS:
            columns.append(c)
            continue
        data = _ipc(levels + rare)
        if data is None:
            columns.append(c)
            continue
        name = f"levels-{j}.arrow"
        files[name] = data
        entry = {k: v for k, v in c.items() if k not in ("levels", "infrequent")}
        entry.update(
            levels_file=name,
            levels_count=len(levels),
            infrequent_count=len(rare),
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        columns.append(entry)
    if not files:
        return doc, {}
    return {**doc, "encoding": {**enc, "columns": columns}}, files


def _ipc(values: list[Any]) -> bytes | None:
    """``values`` as an Arrow IPC file of one column ``level``, or None when they are not
    of one kind (str, int or bool; None beside them)."""
    kinds = set(map(type, values)) - {type(None)}
    if len(kinds) != 1 or (kind := kinds.pop()) not in _TYPES:
        return None
    try:
        arr = pa.array(values, type=_TYPES[kind])
    except (pa.ArrowException, OverflowError, TypeError):
        return None
    sink = pa.BufferOutputStream()
    table = pa.table({"level": arr})
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def has_side_files(doc: Any) -> bool:
    """Whether model.json's document refers to vocabulary side files."""
    enc = doc.get("encoding") if isinstance(doc, dict) else None
    cols = enc.get("columns") if isinstance(enc, dict) else None
    return isinstance(cols, list) and any(isinstance(c, dict) and "levels_file" in c for c in cols)


def join(
    doc: dict[str, Any], read: Callable[[str, int], bytes], shown: Callable[[str], str]
) -> None:
    """Put the side files' levels back into model.json's document (in place): each
    ``levels_file`` entry becomes ``levels`` and ``infrequent`` lists again. ``read(name,
    limit)``: the file's bytes (at most ``limit`` + 1 read; FileNotFoundError when absent);
    ``shown(name)``: the file as errors name it. ModelFileError naming the file on any
    defect: missing, of another size or checksum, not Arrow, of another length."""
    for j, c in enumerate(doc["encoding"]["columns"]):
        if not isinstance(c, dict) or "levels_file" not in c:
            continue
        name = c.get("levels_file")
        counts: list[Any] = [c.get(k) for k in ("levels_count", "infrequent_count", "bytes")]
        if (
            name != f"levels-{j}.arrow"
            or not all(type(n) is int and 0 <= n for n in counts)
            or counts[2] > MAX_LEVELS_BYTES
            or not isinstance(c.get("sha256"), str)
        ):
            raise ModelFileError(
                f"{shown('model.json')!r}: column {c.get('name')!r}: levels_file must be "
                "'levels-<its index>.arrow' with levels_count, infrequent_count, bytes and sha256"
            )
        values = _read_levels(name, counts, c["sha256"], read, shown(name))
        c["levels"], c["infrequent"] = values[: counts[0]], values[counts[0] :]
        for k in ("levels_file", "levels_count", "infrequent_count", "bytes", "sha256"):
            del c[k]


def _read_levels(
    name: str, counts: list[int], sha: str, read: Callable[[str, int], bytes], shown: str
) -> list[Any]:
    n_levels, n_rare, size = counts
    try:
        data = read(name, size)
    except FileNotFoundError:
        raise ModelFileError(f"vocabulary file {shown!r} of the model is missing") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read vocabulary file {shown!r}: {exc}") from None
    if len(data) != size:
        raise ModelFileError(
            f"vocabulary file {shown!r} is corrupt: {len(data)} bytes, model.json says {size}"
        )
    if hashlib.sha256(data).hexdigest() != sha:
        raise ModelFileError(
            f"vocabulary file {shown!r} is corrupt: its SHA-256 differs from model.json's"
        )
    try:
        table = pa.ipc.open_file(pa.py_buffer(data)).read_all()
        table.validate(full=True)
    except (pa.ArrowException, OSError) as exc:
        raise ModelFileError(f"vocabulary file {shown!r} is corrupt: {exc}") from None
    col = table.schema.field(0) if table.num_columns == 1 else None
    if col is None or col.name != "level" or col.type not in _TYPES.values():
        raise ModelFileError(
            f"vocabulary file {shown!r} is corrupt: it must hold one column 'level' of "
            f"strings, integers or bools; it holds {table.schema}"
        )
    if table.num_rows != n_levels + n_rare:
        raise ModelFileError(
            f"vocabulary file {shown!r} is corrupt: {table.num_rows} levels, model.json says "
            f"{n_levels + n_rare}"
        )
    return table.column(0).to_pylist()
