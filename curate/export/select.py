"""Which records an export writes, and under which id.

* **Routed pairs** (``routed``): a pair the ensemble sent to humans (``decision == "route"``) that
  has no human answer yet (no ``kind == "human"`` vote with a ``p_chosen``, and ``human_status`` is
  not ``"done"``) has a
  label nobody trusts. ``own_split`` (default) writes it to a split of its own (``routed``), out of
  train and test but not lost; ``exclude`` leaves it out of every split; ``include`` treats it like
  any other pair. The counts reach the
  data card through export.json.
* **Unique ids**: a pair's id hashes its content (prompt, chosen, rejected), so variants of one pair
  that differ only in metadata share an id. The export keeps the first occurrence's id and gives
  the n-th later one ``<id>#n``, in the order the records are read: unique within the export and the
  same every time the same run is exported.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

import numpy as np
import polars as pl

from curate.id_hash import find_sorted
from curate.schema import VoteKind

Routed = Literal["exclude", "include", "own_split"]
ROUTED_SPLIT = "routed"


def unresolved(df: pl.DataFrame) -> pl.Series:
    """Per row: routed to humans and not answered yet (all false when the run routed nothing)."""
    if "decision" not in df.columns:
        return pl.Series("unresolved", [False] * df.height, dtype=pl.Boolean)
    routed = pl.col("decision").cast(pl.Utf8).eq_missing("route")
    vote = pl.element().struct
    answered = (vote.field("kind") == VoteKind.HUMAN) & vote.field("p_chosen").is_not_null()
    human = (pl.col("votes").list.eval(answered).list.any().fill_null(False)
             if "votes" in df.columns else pl.lit(False))
    done = pl.col("human_status").cast(pl.Utf8).eq_missing("done") if "human_status" in df.columns else pl.lit(False)
    return df.select((routed & ~human & ~done).alias("unresolved")).to_series()


class UniqueIds:
    """Renames repeated ids as the export's second pass meets them (state: a count per repeated id).

    Built from the 64-bit hashes of every id the first pass read (curate.id_hash, 8 bytes per id held,
    not the strings): a hash met twice is a repeated id or, vanishingly rarely, two ids colliding.
    The second pass meets the same ids in the same order, so counting, by string, the ids whose hash
    is one of those (a sorted array, binary search) renames exactly the repeated ones: a colliding id
    is met once and keeps its name. A batch costs the same however many ids repeat."""

    def __init__(self, hashes: list[np.ndarray]):
        every = np.sort(np.concatenate(hashes)) if hashes else np.zeros(0, dtype=np.uint64)
        self._hashes = np.unique(every[1:][every[1:] == every[:-1]])
        self._seen: Counter = Counter()
        self.renamed = 0

    def _hits(self, ids: pl.Series) -> np.ndarray:
        """Positions in `ids` whose hash is a repeated one (a superset of the repeated ids)."""
        return np.flatnonzero(find_sorted(self._hashes, ids)[1])

    def apply(self, ids: pl.Series) -> pl.Series:
        if not len(self._hashes):
            return ids
        hits = self._hits(ids)
        if not len(hits):
            return ids
        out = ids.to_list()
        for i in hits.tolist():
            rid = out[i]
            n = self._seen[rid]
            self._seen[rid] += 1
            if n:
                out[i] = f"{rid}#{n}"
                self.renamed += 1
        return pl.Series(ids.name, out, dtype=pl.Utf8)
