"""MurmurHash3 (x86, 32-bit) of many strings at once, in NumPy: what scikit-learn's
``FeatureHasher`` computes token by token (``murmurhash3_bytes_s32``, seed 0), bit for bit.

The strings are the UTF-8 bytes of an Arrow string array, laid out as the rows of a
zero-padded matrix of little-endian 32-bit words; each round mixes one word of every row
still that long (uint32 arithmetic wraps, as the C code's does). The tail word needs no mask:
its padding is zero, and a zero tail mixes to zero. Strings longer than
:data:`MAX_VECTOR_BYTES` are hashed one by one by scikit-learn's own function, so that one
long value never makes the matrix large.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

#: Strings up to this many bytes are hashed in the padded matrix, longer ones one by one.
MAX_VECTOR_BYTES = 256
#: Rows of the padded matrix per slice (bounds its memory: at most 16 MiB at 256 bytes).
_SLICE_ROWS = 1 << 16

_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _mix(k: np.ndarray) -> np.ndarray:
    k = k * _C1
    k = _rotl(k, 15)
    return k * _C2


def _fmix(h: np.ndarray) -> np.ndarray:
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def _words(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The strings data[starts[i] : starts[i] + lengths[i]] as rows of zero-padded uint32
    little-endian words (one spare zero word at the end of every row, for the tail)."""
    n = len(lengths)
    width = (int(lengths.max(initial=0)) // 4 + 1) * 4
    out = np.zeros((n, width), dtype=np.uint8)
    total = int(lengths.sum())
    if total:
        rows = np.repeat(np.arange(n), lengths)
        first = np.repeat(np.cumsum(lengths) - lengths, lengths)
        cols = np.arange(total) - first
        src = np.repeat(starts, lengths) + cols
        out[rows, cols] = data[src]
    return out.view("<u4")


def _hash_slice(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    words = _words(data, starts, lengths)
    nblocks = lengths // 4
    h = np.zeros(len(lengths), dtype=np.uint32)
    with np.errstate(over="ignore"):
        for i in range(int(nblocks.max(initial=0))):
            live = nblocks > i
            k = _mix(words[:, i].astype(np.uint32))
            hh = _rotl(h ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64)
            np.copyto(h, hh, where=live)
        tail = words[np.arange(len(lengths)), nblocks].astype(np.uint32)
        h ^= _mix(tail)
        h ^= lengths.astype(np.uint32)
        h = _fmix(h)
    return h.view(np.int32)


def murmurhash3_strings(strings: pa.Array) -> np.ndarray:
    """The signed 32-bit MurmurHash3 (seed 0) of each entry's UTF-8 bytes (int32), as
    ``sklearn.utils.murmurhash3_32(s, seed=0)``; a string array without nulls."""
    if not pa.types.is_large_string(strings.type):
        strings = strings.cast(pa.large_string())
    n = len(strings)
    out = np.empty(n, dtype=np.int32)
    if not n:
        return out
    offsets_buf, data_buf = strings.buffers()[1], strings.buffers()[2]
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[strings.offset : strings.offset + n + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    )
    starts = offsets[:-1]
    lengths = np.diff(offsets)
    long = lengths > MAX_VECTOR_BYTES
    short = np.flatnonzero(~long)
    for a in range(0, len(short), _SLICE_ROWS):
        rows = short[a : a + _SLICE_ROWS]
        out[rows] = _hash_slice(data, starts[rows], lengths[rows])
    if long.any():
        from sklearn.utils import murmurhash3_32

        for i in np.flatnonzero(long).tolist():
            out[i] = murmurhash3_32(bytes(data[starts[i] : starts[i] + lengths[i]]), seed=0)
    return out


def feature_hasher_buckets(hashes: np.ndarray, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """FeatureHasher's bucket (int64) and sign (float32 ±1, ``alternate_sign``) of each hash,
    as its ``transform`` computes them (the hash -2^31 has its own rule there)."""
    h = hashes.astype(np.int64)
    idx = np.abs(h) % n_features
    idx[h == -(2**31)] = (2147483647 - (n_features - 1)) % n_features
    sign = np.where(h >= 0, 1.0, -1.0).astype(np.float32)
    return idx, sign
