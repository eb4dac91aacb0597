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

from curate.id_hash import find_sorted, id_hashes
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

    Each batch is matched against the repeated ids by 64-bit hash (sorted array, binary search), so a
    batch costs the same however many ids repeat; only the rows that hit are checked by their string."""

    def __init__(self, ids: list[pl.Series]):
        every = pl.concat(ids) if ids else pl.Series([], dtype=pl.Utf8)
        repeated = every.filter(every.is_duplicated()).unique()
        self.repeated = set(repeated.to_list())
        self._hashes = np.sort(id_hashes(repeated))
        self._seen: Counter = Counter()
        self.renamed = 0

    def _hits(self, ids: pl.Series) -> np.ndarray:
        """Positions in `ids` whose hash is a repeated id's (a superset of the repeated ones)."""
        return np.flatnonzero(find_sorted(self._hashes, ids)[1])

    def apply(self, ids: pl.Series) -> pl.Series:
        if not self.repeated:
            return ids
        hits = self._hits(ids)
        if not len(hits):
            return ids
        out = ids.to_list()
        for i in hits.tolist():
            rid = out[i]
            if rid not in self.repeated:  # a hash collision, not a repeat
                continue
            n = self._seen[rid]
            self._seen[rid] += 1
            if n:
                out[i] = f"{rid}#{n}"
                self.renamed += 1
        return pl.Series(ids.name, out, dtype=pl.Utf8)
