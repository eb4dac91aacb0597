"""MurmurHash3 (x86, 32-bit) over many strings at once, in numpy: the hash scikit-learn's
FeatureHasher uses, so vectors match `HashingVectorizer`'s bit for bit.

The hashing embedder hashes hundreds of thousands of distinct word n-grams per batch; calling
`sklearn.utils.murmurhash3_32` once per string is a Python loop. Here every string is a slice of
one Arrow byte buffer, and the 4-byte blocks are mixed column-wise: iteration b mixes block b of
every string that has one, so the loop runs (longest string / 4) times, not once per string.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _mix(k: np.ndarray) -> np.ndarray:
    return _rotl(k * _C1, 15) * _C2


def _bytes_at(data: np.ndarray, at: np.ndarray, n: int) -> np.ndarray:
    """Little-endian uint32 of the `n` (1..4) bytes starting at each offset in `at`."""
    out = np.zeros(len(at), dtype=np.uint32)
    for i in range(n):
        out |= data[at + i].astype(np.uint32) << np.uint32(8 * i)
    return out


def murmur3_32(strings: pa.Array, seed: int = 0) -> np.ndarray:
    """Signed 32-bit MurmurHash3 of each string's UTF-8 bytes (no nulls), as `murmurhash3_32(s, seed)`."""
    arr = strings.cast(pa.large_string())
    if arr.null_count:
        raise ValueError("murmur3_32: null strings have no hash")
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    data = np.concatenate([data, np.zeros(4, np.uint8)])  # reads past a string's end stay in bounds
    start, length = offsets[:-1], (offsets[1:] - offsets[:-1])
    blocks = length // 4
    h = np.full(len(arr), np.uint32(seed & 0xFFFFFFFF), dtype=np.uint32)
    with np.errstate(over="ignore"):  # uint32 arithmetic wraps, as the C code's does
        for b in range(int(blocks.max(initial=0))):
            live = np.flatnonzero(blocks > b)
            x = h[live] ^ _mix(_bytes_at(data, start[live] + 4 * b, 4))
            h[live] = _rotl(x, 13) * np.uint32(5) + np.uint32(0xE6546B64)
        tail = (length & 3).astype(np.int64)
        for n in (1, 2, 3):
            live = np.flatnonzero(tail == n)
            h[live] ^= _mix(_bytes_at(data, start[live] + 4 * blocks[live], n))
        h ^= length.astype(np.uint32)
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x85EBCA6B)
        h ^= h >> np.uint32(13)
        h *= np.uint32(0xC2B2AE35)
        h ^= h >> np.uint32(16)
    return h.view(np.int32)
