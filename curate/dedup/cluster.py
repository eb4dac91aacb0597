"""Leader clustering of near-duplicates, the algorithm behind semantic_dedup (numpy only).

Records are visited best-first (the keep rule). A record that is similar (cosine ≥ threshold,
in any of the compared fields) to an earlier *leader* joins that leader's cluster and is removed;
otherwise it becomes a leader and is kept. So every removed record points at a record that is
kept: two members of a duplicate pair are never both dropped, and chains (A~B, B~C, A≁C) keep
A and C rather than collapsing everything into one blob.

* ``assign_chunk``: one chunk of records against the leaders indexed so far plus each other
  (streaming mode: the index holds only leaders).
* ``greedy_graph``: the same rule over a precomputed neighbour graph of all records (global mode).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curate.index.base import VectorIndex


@dataclass
class ChunkResult:
    leader: np.ndarray   # bool per chunk row: kept as a new leader
    match: np.ndarray    # int: index-row of the leader matched (>= 0), or -(1 + chunk row) of an in-chunk leader
    field: np.ndarray    # int: which field matched (index into fields), -1 for leaders
    sim: np.ndarray      # float: similarity to the matched leader


def assign_chunk(vecs: list[np.ndarray], indexes: list[VectorIndex], thresholds: list[float]) -> ChunkResult:
    """Assign each row (already in best-first order) to an existing leader, an earlier row of the
    chunk that became a leader, or make it a leader. Fields are checked in order; the first wins."""
    n = len(vecs[0])
    match = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    field = np.full(n, -1, dtype=np.int64)
    sim = np.zeros(n, dtype=np.float32)
    for f in reversed(range(len(vecs))):  # reversed: earlier fields overwrite, so they win
        s, ids = indexes[f].search(vecs[f], 1, floor=thresholds[f])
        hit = s[:, 0] >= thresholds[f]
        match[hit], field[hit], sim[hit] = ids[hit, 0], f, s[hit, 0]
    rest = np.flatnonzero(field < 0)
    leader = np.zeros(n, dtype=bool)
    if len(rest):
        _within(rest, [v[rest] for v in vecs], thresholds, leader, match, field, sim)
    return ChunkResult(leader, match, field, sim)


def _within(rest: np.ndarray, vecs: list[np.ndarray], thresholds: list[float], leader: np.ndarray,
            match: np.ndarray, field: np.ndarray, sim: np.ndarray) -> None:
    m = len(rest)
    sims = [v @ v.T for v in vecs]
    adj = np.zeros((m, m), dtype=bool)
    for s, t in zip(sims, thresholds):
        adj |= s >= t
    earlier = np.tril(adj, -1)
    # a row with no similar earlier row is a leader outright; only the others need the ordered walk
    is_leader = ~earlier.any(axis=1)
    for a in np.flatnonzero(~is_leader):
        cand = np.flatnonzero(earlier[a, :a] & is_leader[:a])
        if not len(cand):
            is_leader[a] = True
            continue
        b = cand[0]  # the best-ranked leader it resembles
        f = next(i for i, (s, t) in enumerate(zip(sims, thresholds)) if s[a, b] >= t)
        match[rest[a]], field[rest[a]], sim[rest[a]] = -(1 + rest[b]), f, sims[f][a, b]
    leader[rest[is_leader]] = True


def greedy_graph(n: int, order: np.ndarray, edges: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leader clustering over an undirected neighbour graph, one edge list (a, b, sim) per field.

    Returns (rep, field, sim) per record: rep[i] == i for leaders; field -1 for leaders.
    """
    rep = np.full(n, -1, dtype=np.int64)
    fld = np.full(n, -1, dtype=np.int64)
    sim = np.zeros(n, dtype=np.float32)
    csr = [_csr(n, a, b, s) for a, b, s in edges]
    for i in order.tolist():
        if rep[i] >= 0:
            continue
        rep[i] = i
        for f, (ptr, nbr, ns) in enumerate(csr):
            js, ss = nbr[ptr[i]:ptr[i + 1]], ns[ptr[i]:ptr[i + 1]]
            free = rep[js] < 0
            js, ss = js[free], ss[free]
            rep[js], fld[js], sim[js] = i, f, ss
    return rep, fld, sim


def _csr(n: int, a: np.ndarray, b: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    src = np.concatenate([a, b])
    dst = np.concatenate([b, a])
    sims = np.concatenate([s, s])
    keep = src != dst
    src, dst, sims = src[keep], dst[keep], sims[keep]
    order = np.argsort(src, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(ptr, src + 1, 1)
    return np.cumsum(ptr), dst[order], sims[order].astype(np.float32)
