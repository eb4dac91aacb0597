"""semantic_dedup, ``mode: global``: embed every record in a full pass, build the neighbour graph,
cluster best-first by the keep rule, then let each batch through with its representatives kept.

Memory: one index of every record per compared field, plus the edges at or above the threshold
(``neighbours`` per record at most) and a few integers per record. Positions tie the full pass to
the later batches: the runner replays the stage's batches in the same order, and a mismatch is an
error rather than a silent mis-assignment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from curate.dedup.cluster import greedy_graph
from curate.dedup.rule import rank_order
from curate.errors import CurateError
from curate.step import Batches

if TYPE_CHECKING:  # pragma: no cover
    from curate.dedup.semantic import SemanticDedup


@dataclass
class GlobalClusters:
    ids: np.ndarray      # record id per position
    rep: np.ndarray      # position of each record's representative (itself when kept)
    field: np.ndarray    # field that matched, -1 for representatives
    sim: np.ndarray      # similarity to the representative
    size: np.ndarray     # duplicates removed per representative position


def fit_global(step: "SemanticDedup", batches: Batches) -> GlobalClusters:
    step._ensure_indexes()
    o = step.options
    step.indexes = [o.index.build(step.embedder.dim) for _ in o.fields]  # every record, not only leaders
    edges: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in o.fields]
    ids, keys, base = [], [], 0
    for batch in batches():
        if not batch.height:
            continue
        rows = np.arange(base, base + batch.height)
        for f, (index, vecs) in enumerate(zip(step.indexes, step.vectors(batch))):
            index.add(vecs)  # added first, so pairs inside the batch are found too
            s, j = index.search(vecs, o.neighbours + 1)
            src = np.repeat(rows, j.shape[1]).reshape(j.shape)
            hit = (j >= 0) & (j != src) & (s >= step.thresholds[f])
            edges[f].append((src[hit], j[hit], s[hit]))
        ids.append(batch["id"])
        keys.append(batch.select("id", *[c for c in o.keep_by if c in batch.columns]))
        base += batch.height
    if not base:
        return GlobalClusters(*(np.zeros(0, dtype=t) for t in (object, np.int64, np.int64, np.float32, np.int64)))
    order = rank_order(pl.concat(keys, how="diagonal_relaxed"), o.keep_by)
    merged = [tuple(np.concatenate(parts) for parts in zip(*e)) if e else
              (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)) for e in edges]
    rep, field, sim = greedy_graph(base, order, merged)
    removed = rep != np.arange(base)
    size = np.bincount(rep[removed], minlength=base)
    step.stats.count("fit_records", base)
    return GlobalClusters(pl.concat(ids).to_numpy(), rep, field, sim, size)


def process_global(step: "SemanticDedup", batch: pl.DataFrame) -> pl.DataFrame:
    g = step._global
    if g is None:
        raise CurateError(f"{step.label}: mode 'global' needs fit() over all batches before process(); "
                          f"run it in a pipeline (the runner calls fit) or call step.fit(batches) first")
    lo, hi = step._offset, step._offset + batch.height
    if hi > len(g.ids) or not np.array_equal(g.ids[lo:hi], batch["id"].to_numpy()):
        raise CurateError(f"{step.label}: batch rows {lo}..{hi} differ from the full pass; the batches must "
                          f"be replayed in the order fit() saw them")
    rep = g.rep[lo:hi]
    own = np.arange(lo, hi)
    kept_id = np.where(rep != own, g.ids[rep], None)
    step._offset = hi
    return step.finish(batch, kept_id, g.field[lo:hi], g.sim[lo:hi], dup_total=g.size[lo:hi])
