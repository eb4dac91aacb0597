"""SeenKeys: 64-bit content hash → the id of the first record seen with it, for millions of records.

exact_dedup remembers every pair it kept. As a ``dict[int, str]`` that cost 169 bytes per entry
(measured: the dict slot, the int object, the str object), 1.7 GB at 10M pairs. Here the keys
are sorted runs of int64 with an int32 row number each (12 bytes) and the ids are Arrow strings
by row (``IdColumn``, ~37 bytes): 48 bytes per entry, measured at 1M.

Runs merge as in a log-structured merge tree: a new batch's keys form a run, and the last run
merges into the one before while it is at least half that one's size, so a key is copied
O(log N) times and a lookup searches O(log N) runs. Runs stop merging at ``MAX_RUN`` keys, so a
merge never holds more than a few hundred MB of temporaries.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

from curate.dedup.bookkeeping import IdColumn


class SeenKeys:
    MAX_RUN = 1 << 22  # ~4M keys: a merge's temporaries stay under ~150 MB

    def __init__(self) -> None:
        self._keys: list[np.ndarray] = []  # sorted int64 per run
        self._rows: list[np.ndarray] = []  # int32: each key's row in self.ids
        self.ids = IdColumn()

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, keys: np.ndarray) -> np.ndarray:
        """The row (in ``ids``) of each key, -1 where it was never added."""
        keys = np.asarray(keys, dtype=np.int64)
        out = np.full(len(keys), -1, dtype=np.int64)
        for run, rows in zip(self._keys, self._rows):
            at = np.minimum(np.searchsorted(run, keys), len(run) - 1)
            hit = run[at] == keys
            out[hit] = rows[at[hit]]
        return out

    def get(self, keys: np.ndarray) -> list[str | None]:
        """The id stored for each key (None where there is none)."""
        rows = self.rows(keys)
        found = rows >= 0
        out: list[str | None] = [None] * len(rows)
        for i, rid in zip(np.flatnonzero(found), self.ids.take(rows[found])):
            out[i] = rid
        return out

    def add(self, keys: Iterable[int], ids: Iterable[str]) -> None:
        """Add keys not held yet (distinct among themselves) with their records' ids."""
        keys = np.fromiter(keys, dtype=np.int64)
        if not len(keys):
            return
        start = len(self.ids)
        if start + len(keys) > np.iinfo(np.int32).max:
            raise ValueError("SeenKeys holds at most 2**31 - 1 entries; split the input into several runs")
        self.ids.extend(ids)
        if len(self.ids) - start != len(keys):
            raise ValueError(f"SeenKeys.add: {len(keys)} keys but {len(self.ids) - start} ids")
        order = np.argsort(keys, kind="stable")
        self._keys.append(keys[order])
        self._rows.append((start + order).astype(np.int32))
        self._merge()

    def _merge(self) -> None:
        while (len(self._keys) > 1 and 2 * len(self._keys[-1]) >= len(self._keys[-2])
               and len(self._keys[-2]) < self.MAX_RUN):
            keys = np.concatenate([self._keys.pop(-2), self._keys.pop()])
            rows = np.concatenate([self._rows.pop(-2), self._rows.pop()])
            order = np.argsort(keys, kind="stable")  # two sorted runs: timsort merges them in one pass
            self._keys.append(keys[order])
            self._rows.append(rows[order])

    def frame(self) -> pl.DataFrame:
        """Every entry in the order added: ``key`` (Int64), ``id`` (Utf8), for a saved state."""
        keys = np.empty(len(self.ids), dtype=np.int64)
        for run, rows in zip(self._keys, self._rows):
            keys[rows] = run
        return pl.DataFrame({"key": keys, "id": self.ids.series}, schema={"key": pl.Int64, "id": pl.Utf8})

    @classmethod
    def from_frame(cls, df: pl.DataFrame) -> SeenKeys:
        out = cls()
        if df.height:
            out.ids = IdColumn(df["id"])
            keys = df["key"].to_numpy().astype(np.int64, copy=False)
            order = np.argsort(keys, kind="stable")
            out._keys, out._rows = [keys[order]], [order.astype(np.int32)]
        return out
