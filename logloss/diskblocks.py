"""Row blocks kept on a worker's local disk: written once, read in every later pass.

NumPy and the standard library only (the engine decides which blocks go here and runs these
functions in the workers). A block is three raw ``.npy`` files in a directory of its own fit
(``<root>/logloss-blocks/<token>/``): ``<i>.X.npy`` (the block's dtype, C order),
``<i>.y.npy`` and, with weights, ``<i>.s.npy`` (float64). ``np.save`` puts the data 128
bytes into the file, so a memory map of it is aligned for BLAS.

- A file is written under a temporary name and renamed once complete: a file with a
  block's name is always whole, and a crash leaves only temporary names behind.
- A full disk is an :class:`DiskSpaceError` naming the directory, the bytes needed and
  free, checked before writing (and on ENOSPC while writing).
- The files live as long as their fit: :func:`remove_token` deletes a fit's directory (the
  engine calls it on every worker when its blocks are released), and :func:`remove_stale`
  deletes the directories of fits that no longer exist (a client that died, a cancelled
  fit), called before a worker writes new blocks. A worker's local directory itself is
  removed by Dask when the worker closes, and purged at the next start when it died.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .bags import Bags
from .coded import CodedMatrix

__all__ = ["DiskBlock", "DiskSpaceError", "remove_stale", "remove_token", "write_block"]

SUBDIR = "logloss-blocks"

#: Free space kept on the disk besides the blocks.
MARGIN_BYTES = 64 * 2**20


class DiskSpaceError(OSError):
    """Not enough disk space for the blocks that do not fit in memory."""

    def __reduce__(self) -> Any:
        return (DiskSpaceError, (str(self),))


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


class DiskBlock:
    """One row block on this host's disk: the paths of its arrays and their shapes.

    ``X``, ``y`` and ``s`` are read-only memory maps opened on access (the pages come from
    the page cache or the disk as the pass walks the block; nothing stays in the process
    once the pass drops them). Pickled to another process it names the same files, which
    exist only on the host that wrote them.
    """

    __slots__ = (
        "directory",
        "index",
        "rows",
        "n_features",
        "dtype",
        "weighted",
        "nbytes",
        "coded",
    )

    def __init__(
        self,
        directory: str,
        index: int,
        rows: int,
        n_features: int,
        dtype: str,
        weighted: bool,
        nbytes: int,
        coded: tuple[Any, ...] | None = None,
    ) -> None:
        # a CodedMatrix's (bounds, has vals[, its bags' (lo, hi, has vals)]), or None: dense
        self.coded = coded
        self.directory = directory
        self.index = index
        self.rows = rows
        self.n_features = n_features
        self.dtype = dtype
        self.weighted = weighted
        self.nbytes = nbytes

    def __reduce__(self) -> Any:
        return (
            DiskBlock,
            (
                self.directory,
                self.index,
                self.rows,
                self.n_features,
                self.dtype,
                self.weighted,
                self.nbytes,
                self.coded,
            ),
        )

    def _path(self, part: str) -> str:
        return os.path.join(self.directory, f"{self.index}.{part}.npy")

    def _load(self, part: str) -> NDArray[Any]:
        path = self._path(part)
        try:
            return _map(path)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"block file {path} is gone (removed, or written on another host)"
            ) from None

    @property
    def X(self) -> Any:
        if self.coded is not None:
            bounds, has_vals, *bag = self.coded
            vals = self._load("Xv") if has_vals else None
            bags = None
            if bag:  # the ragged part of multi-valued columns (logloss.bags)
                lo, hi, bag_vals = bag[0]
                bv = self._load("Xbv") if bag_vals else None
                bags = Bags(self._load("Xbc"), self._load("Xbp"), lo, hi, bv)
            return CodedMatrix(self._load("Xd"), self._load("Xc"), bounds, vals, bags)
        return self._load("X")

    @property
    def y(self) -> NDArray[np.float64]:
        return self._load("y")

    @property
    def s(self) -> NDArray[np.float64] | None:
        return self._load("s") if self.weighted else None


def _map(path: str) -> NDArray[Any]:
    """A read-only array over a ``.npy`` file's memory map, its pages mapped at once
    (``MAP_POPULATE``: one bulk read-ahead instead of a page fault per 4 KiB)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        offset = f.tell()
        count = int(np.prod(shape))
        if count == 0:
            return np.empty(shape, dtype=dtype)
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        mapped = mmap.mmap(f.fileno(), 0, flags=flags, prot=mmap.PROT_READ)
    array = np.frombuffer(mapped, dtype=dtype, count=count, offset=offset)
    return array.reshape(shape, order="F" if fortran else "C")


def _check_space(directory: str, needed: int, total: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed + MARGIN_BYTES:
        raise DiskSpaceError(
            f"not enough disk space for the data blocks that do not fit in the workers' "
            f"memory: {directory} has {_mib(free)} free, a block needs {_mib(needed)} "
            f"(+{_mib(MARGIN_BYTES)} kept free) and all blocks on disk need {_mib(total)}; "
            f"free space there, give the workers another --local-directory, or more memory"
        )


def _save(path: str, array: NDArray[Any], directory: str, total: int) -> None:
    """``array`` to ``path`` via a temporary name, renamed once complete."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(array), allow_pickle=False)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskSpaceError(
                f"the disk filled up while writing data blocks to {directory} "
                f"({_mib(array.nbytes)} at a time; all blocks on disk need {_mib(total)}); "
                f"free space there, give the workers another --local-directory, or more memory"
            ) from None
        raise


def write_block(
    root: str,
    token: str,
    index: int,
    X: Any,
    y: NDArray[np.floating],
    s: NDArray[np.floating] | None,
    total: int,
) -> DiskBlock:
    """Write one block's arrays under ``root/logloss-blocks/token`` (``total``: the bytes of
    all the fit's disk blocks, for the error message); returns its :class:`DiskBlock`."""
    directory = os.path.join(root, SUBDIR, token)
    os.makedirs(directory, exist_ok=True)
    y = np.asarray(y, dtype=np.float64)
    s = None if s is None else np.asarray(s, dtype=np.float64)
    nbytes = int(X.nbytes + y.nbytes + (0 if s is None else s.nbytes))
    _check_space(directory, nbytes, total)
    coded: tuple[Any, ...] | None = None
    parts: list[tuple[str, Any]] = [("X", X)]
    if isinstance(X, CodedMatrix):
        coded = (X.bounds, X.vals is not None)
        parts = [("Xd", X.dense), ("Xc", X.codes), ("Xv", X.vals)]
        if X.bags is not None:
            b = X.bags
            coded = (*coded, (b.lo, b.hi, b.vals is not None))
            parts += [("Xbc", b.codes), ("Xbp", b.indptr), ("Xbv", b.vals)]
    block = DiskBlock(
        directory,
        index,
        int(X.shape[0]),
        int(X.shape[1]),
        str(X.dtype),
        s is not None,
        nbytes,
        coded,
    )
    for part, array in (*parts, ("y", y), ("s", s)):
        if array is not None:
            _save(block._path(part), array, directory, total)
    return block


def remove_token(root: str, token: str) -> bool:
    """Delete the directory of one fit's blocks; whether it existed."""
    directory = os.path.join(root, SUBDIR, token)
    existed = os.path.isdir(directory)
    shutil.rmtree(directory, ignore_errors=True)
    return existed


def remove_stale(root: str, alive: Callable[[str], bool]) -> list[str]:
    """Delete the block directories under ``root`` whose fit is not ``alive(token)``;
    returns their tokens."""
    base = Path(root) / SUBDIR
    if not base.is_dir():
        return []
    removed = []
    for entry in base.iterdir():
        if entry.is_dir() and not alive(entry.name):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed
