"""Record ids as 64-bit hashes, and looking them up in a sorted array of such hashes.

Steps that remember millions of ids (the BT voter's rows, the export's split plan, the export's
repeated ids) keep 8 bytes per id instead of a Python string. polars' hash is stable within a
process and the seed is fixed, so every process of one run (Ray workers too) hashes alike; these
hashes are never saved.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def id_hashes(ids: pl.Series) -> np.ndarray:
    """The 64-bit hash of each id (uint64)."""
    return ids.cast(pl.Utf8).hash(seed=0).to_numpy()


def find_sorted(hashes: np.ndarray, ids: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(position in `hashes`, found) for each id of `ids`; `hashes` sorted ascending. A position
    where found is False is in range but meaningless."""
    h = id_hashes(ids)
    if not len(hashes):
        return np.zeros(len(h), dtype=np.int64), np.zeros(len(h), dtype=bool)
    pos = np.minimum(np.searchsorted(hashes, h), len(hashes) - 1)
    return pos, hashes[pos] == h
