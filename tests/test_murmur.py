"""The NumPy MurmurHash3 equals scikit-learn's, and the hashed buckets FeatureHasher's."""

from __future__ import annotations

import random
import string

import numpy as np
import pyarrow as pa
import pytest
from sklearn.feature_extraction import FeatureHasher
from sklearn.utils import murmurhash3_32

from logloss.data.hashing import hash_tokens, hash_values, tokens
from logloss.data.murmur import MAX_VECTOR_BYTES, murmurhash3_strings

ALPHABET = string.ascii_letters + string.digits + "é漢字🙂=^ \t"
LENGTHS = [
    0,
    1,
    2,
    3,
    4,
    5,
    7,
    8,
    9,
    15,
    16,
    17,
    31,
    63,
    MAX_VECTOR_BYTES,
    MAX_VECTOR_BYTES + 1,
    999,
]


def _strings(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.choice(LENGTHS))) for _ in range(n)]


def test_hash_equals_scikit_learns_on_random_and_unicode_strings() -> None:
    strs = _strings(5000)
    want = np.array([murmurhash3_32(s, seed=0) for s in strs], dtype=np.int32)
    np.testing.assert_array_equal(murmurhash3_strings(pa.array(strs)), want)
    # a slice of an array (its offsets start inside the buffers) and a large_string array
    np.testing.assert_array_equal(
        murmurhash3_strings(pa.array(strs).slice(123, 777)), want[123:900]
    )
    large = pa.array(strs, type=pa.large_string())
    np.testing.assert_array_equal(murmurhash3_strings(large), want)


@pytest.mark.parametrize("bits", [1, 4, 18, 24])
def test_buckets_and_signs_equal_feature_hashers(bits: int) -> None:
    values = _strings(3000, seed=bits)
    values[7] = None  # type: ignore[call-overload]
    got_idx, got_sign = hash_values("col", pa.array(values), bits)
    X = FeatureHasher(2**bits, input_type="string", alternate_sign=True).transform(
        [[t] for t in tokens("col", values)]
    )
    X = X.tocsr()
    # one token per row: a row's one entry is the token's bucket and sign
    assert np.array_equal(np.diff(X.indptr), np.ones(len(values)))
    np.testing.assert_array_equal(X.indices, got_idx)
    np.testing.assert_array_equal(X.data, got_sign)
    ref_idx, ref_sign = hash_tokens(tokens("col", values), bits)
    np.testing.assert_array_equal(got_idx, ref_idx)
    np.testing.assert_array_equal(got_sign, ref_sign)


@pytest.mark.parametrize("kind", ["string", "large_string", "slice", "empty"])
def test_the_tokens_of_a_string_array_hash_as_feature_hashers(kind: str) -> None:
    """Without nulls, a string array's tokens ``col=value`` are laid out in NumPy from its
    buffers (any offset, either string type) and hash as FeatureHasher's of the tokens."""
    values = _strings(2000, seed=5)
    arr = pa.array(values, type=pa.large_string() if kind == "large_string" else pa.string())
    if kind == "slice":
        arr, values = arr.slice(311, 1000), values[311:1311]
    if kind == "empty":
        arr, values = arr.slice(0, 0), []
    got_idx, got_sign = hash_values("col=é", arr, 20)
    if not values:
        assert len(got_idx) == len(got_sign) == 0
        return
    X = FeatureHasher(2**20, input_type="string", alternate_sign=True)
    X = X.transform([[f"col=é={v}"] for v in values]).tocsr()
    np.testing.assert_array_equal(X.indices, got_idx)
    np.testing.assert_array_equal(X.data, got_sign)
