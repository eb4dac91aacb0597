"""Groups ranked by their smallest record id, without holding the id strings in memory.

The split assignment orders a stratum's groups by their smallest id before the seeded shuffle
(curate.export.split.assign_keys), so the same records always give the same splits. Holding every
id string for that costs 30–40 bytes per record; instead pass 1 appends the ids to a temporary Arrow
file (`IdSpill`, in read order) and `group_ranks` reads that file back a few times: a
most-significant-first radix sort of the groups' minima, 7 bytes of the ids per round. A round
reads only the ids that may still be their group's minimum ("candidates"), keeps the candidates
equal to their group's minimum and stops looking at a group once no other group of its stratum
ties with it; 16-character hex ids (curate's own) take 3 rounds, an id like ``<hash>-<n>`` 4.

A round's key is one uint64: 7 bytes of the id from byte 7·round on (zero-padded) above a byte
``min(bytes left, 8)``. Comparing such keys round by round is comparing the ids' UTF-8 bytes, which
is polars' (and Python's) string order: the padding alone cannot tell ``"ab"`` from ``"ab\\0"``, the
length byte does, and a length byte below 8 means the string ends in this round.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

_NONE = np.uint64(2**64 - 1)  # no candidate (above every key: a key's low byte is at most 8)


class IdSpill:
    """Record ids in read order, in a temporary Arrow IPC file (or in memory for a frame already there).

    ``add`` one batch's ids at a time; ``chunks()`` yields them back as LargeBinary arrays, one read
    of the file per call, each chunk freed before the next is read."""

    def __init__(self, in_memory: bool = False):
        self._mem: list[pa.Array] | None = [] if in_memory else None
        self._dir: tempfile.TemporaryDirectory | None = None
        self._writer = None
        self.n = 0

    def add(self, ids: pl.Series) -> None:
        arr = ids.cast(pl.Utf8).to_arrow()
        arr = (arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr).cast(pa.large_binary())
        self.n += len(arr)
        if self._mem is not None:
            self._mem.append(arr)
            return
        if self._writer is None:
            self._dir = tempfile.TemporaryDirectory(prefix="curate-split-ids-")
            self._writer = pa.ipc.new_stream(str(self._path), pa.schema([("id", pa.large_binary())]))
        self._writer.write_batch(pa.record_batch([arr], names=["id"]))

    @property
    def _path(self) -> Path:
        return Path(self._dir.name) / "ids.arrow"

    def chunks(self) -> Iterator[pa.Array]:
        if self._mem is not None:
            yield from self._mem
            return
        if self._dir is None:
            return
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        with pa.OSFile(str(self._path)) as f:  # read, not memory-mapped: pages do not pile up in RSS
            for batch in pa.ipc.open_stream(f):
                yield batch.column(0)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        self._mem = [] if self._mem is not None else None


def _round_keys(arr: pa.Array, rows: np.ndarray, level: int) -> np.ndarray:
    """The round-`level` key (see the module docstring) of ids ``arr[rows]``."""
    _, offsets, data = arr.buffers()
    off = np.frombuffer(offsets, dtype=np.int64, count=len(arr) + 1, offset=arr.offset * 8)
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None and data.size else np.zeros(1, np.uint8)
    start = off[rows] + 7 * level
    left = off[rows + 1] - start
    key = np.zeros(len(rows), dtype=np.uint64)
    for j in range(7):
        byte = np.where(left > j, raw[np.minimum(start + j, len(raw) - 1)], 0)
        key = (key << np.uint64(8)) | byte.astype(np.uint64)
    return (key << np.uint64(8)) | np.clip(left, 0, 8).astype(np.uint64)


def _dense_rank(*keys: np.ndarray) -> np.ndarray:
    """Dense rank (0, 1, ...) of the tuples (keys[0][i], keys[1][i], ...), the first key most significant."""
    order = np.lexsort(keys[::-1])
    step = np.zeros(len(order), dtype=bool)
    for k in keys:
        s = k[order]
        step[1:] |= s[1:] != s[:-1]
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.cumsum(step)
    return rank


def _tied(rank: np.ndarray) -> np.ndarray:
    counts = np.bincount(rank)
    return counts[rank] > 1


def group_ranks(groups: np.ndarray, first: np.ndarray, chunks: Callable[[], Iterable[pa.Array]]) -> np.ndarray:
    """Per group (0 .. len(first) - 1), a dense rank ordering the groups by (``first[g]``, smallest id of g).

    `groups` is each record's group in read order; `chunks()` yields the records' ids in that order
    (IdSpill.chunks). Null ids are ignored; a group with none sorts before the others of its `first`,
    as polars sorts a null minimum. Groups whose smallest ids are equal strings keep one rank."""
    n_groups = len(first)
    rank = _dense_rank(first)
    active = _tied(rank) if n_groups else np.zeros(0, dtype=bool)
    cand = active[groups]  # records that may still hold their group's smallest id
    level = 0
    while active.any():
        parts, row = [], 0
        for arr in chunks():
            m = len(arr)
            if level == 0 and arr.null_count:
                cand[row:row + m] &= ~arr.is_null().to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(cand[row:row + m])
            parts.append(_round_keys(arr, rows, level))
            row += m
        where = np.flatnonzero(cand)
        keys = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)
        del parts
        of = groups[where]
        low = np.full(n_groups, _NONE, dtype=np.uint64)
        np.minimum.at(low, of, keys)
        cand[where] = keys == low[of]
        del where, keys, of
        has = low != _NONE
        low[~active] = 0  # settled groups keep their place: their rank is already unique
        # the group's smallest id ends in this round (or it has none): its candidates are equal strings
        ended = ~has | ((low & np.uint64(0xFF)) < 8)
        rank = _dense_rank(rank, has | ~active, low)
        active &= ~ended & _tied(rank)
        cand &= active[groups]
        level += 1
    return rank
