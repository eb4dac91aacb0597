"""semantic_dedup, ``mode: global``: embed every record in a full pass, build the neighbour graph,
cluster best-first by the keep rule, then let each batch through with its representatives kept.

A pure algorithm over what the step hands it (a vector function, an index factory, thresholds):
it never reads the step's state, so ``semantic.py`` imports this module and not the reverse.

Memory: one index of every record per compared field, plus the edges at or above the threshold
(``neighbours`` per record at most) and a few integers per record. Positions tie the full pass to
the later batches: the runner replays the stage's batches in the same order, and
``GlobalClusters.take`` (its own cursor) turns a mismatch into an error rather than a silent
mis-assignment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from curate.dedup.bookkeeping import removed_weight
from curate.dedup.cluster import greedy_graph
from curate.dedup.rule import rank_order
from curate.errors import CurateError
from curate.index.base import VectorIndex
from curate.step import Batches


@dataclass
class BatchAssignment:
    kept_id: np.ndarray  # the representative's id, None for representatives
    field: np.ndarray    # field that matched, -1 for representatives
    sim: np.ndarray      # similarity to the representative
    size: np.ndarray     # duplicates removed per row (non-zero only on representatives)


@dataclass
class GlobalClusters:
    ids: np.ndarray      # record id per position
    rep: np.ndarray      # position of each record's representative (itself when kept)
    field: np.ndarray    # field that matched, -1 for representatives
    sim: np.ndarray      # similarity to the representative
    size: np.ndarray     # duplicates removed per representative position
    offset: int = 0      # the cursor: rows already handed out by take()

    def take(self, ids: pl.Series, label: str) -> BatchAssignment:
        """The assignment of the next ``len(ids)`` rows; they must be the rows fit saw at this position."""
        lo, hi = self.offset, self.offset + len(ids)
        if hi > len(self.ids) or not np.array_equal(self.ids[lo:hi], ids.to_numpy()):
            raise CurateError(f"{label}: batch rows {lo}..{hi} differ from the full pass; the batches must "
                              f"be replayed in the order fit() saw them")
        rep = self.rep[lo:hi]
        kept_id = np.where(rep != np.arange(lo, hi), self.ids[rep], None)
        self.offset = hi
        return BatchAssignment(kept_id, self.field[lo:hi], self.sim[lo:hi], self.size[lo:hi])


def _empty() -> GlobalClusters:
    return GlobalClusters(*(np.zeros(0, dtype=t) for t in (object, np.int64, np.int64, np.float32, np.int64)))


def fit_global(batches: Batches, vectors: Callable[[pl.DataFrame], list[np.ndarray]],
               indexes: list[VectorIndex], thresholds: list[float], neighbours: int,
               keep_by: list[str]) -> GlobalClusters:
    """Cluster every record `batches()` yields. `indexes` (empty, one per field) receive every vector;
    `vectors(batch)` gives one normalised (n, dim) matrix per field."""
    edges: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in indexes]
    ids, keys, base = [], [], 0
    for batch in batches():
        if not batch.height:
            continue
        rows = np.arange(base, base + batch.height)
        for f, (index, vecs) in enumerate(zip(indexes, vectors(batch))):
            index.add(vecs)  # added first, so pairs inside the batch are found too
            s, j = index.search(vecs, neighbours + 1, floor=thresholds[f])
            src = np.repeat(rows, j.shape[1]).reshape(j.shape)
            hit = (j >= 0) & (j != src) & (s >= thresholds[f])
            edges[f].append((src[hit], j[hit], s[hit]))
        ids.append(batch["id"])
        weight = removed_weight() if "dup_count" in batch.columns else pl.repeat(1, batch.height, dtype=pl.Int64)
        keys.append(batch.select("id", *[c for c in keep_by if c in batch.columns], weight.alias("_weight_")))
        base += batch.height
    if not base:
        return _empty()
    keyed = pl.concat(keys, how="diagonal_relaxed")
    order = rank_order(keyed.drop("_weight_"), keep_by)
    merged = [tuple(np.concatenate(parts) for parts in zip(*e)) if e else
              (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)) for e in edges]
    rep, field, sim = greedy_graph(base, order, merged)
    removed = rep != np.arange(base)
    # a removed record brings the duplicates an earlier dedup step folded into it (its dup_count)
    size = np.bincount(rep[removed], weights=keyed["_weight_"].to_numpy()[removed], minlength=base).astype(np.int64)
    return GlobalClusters(pl.concat(ids).to_numpy(), rep, field, sim, size)
