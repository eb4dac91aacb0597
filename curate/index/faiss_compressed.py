"""The compressed faiss index (``kind: compressed``): flat cost per query, ~170 bytes of RAM per 256-d vector.

Three parts, each for one of the scale goals (benchmarks/README.md, "Vector index kinds"):

* **IVF with lists of bounded size.** A query looks at ``nprobe`` lists of about ``LIST_SIZE``
  vectors each, so the list scan does not grow with N. The list count follows N: each time the index
  has doubled (``REGROW``) since its last training it is retrained on a sample (``TRAIN_PER_LIST``
  vectors per list) and every vector is re-added from disk, which costs at most N extra adds in all
  (a geometric series). The lists are found by a flat (exact) scan of the centroids, batched through
  BLAS, up to ``FLAT_COARSE_UPTO`` lists (~12M vectors), and through an HNSW graph over them past
  that: measured, the flat scan was the faster of the two at every size up to ~10M vectors
  (benchmarks/README.md, "semantic_dedup's index"), but it grows with the list count where the
  graph's walk grows like its log. Past ``REUSE_LISTS_FROM`` lists the rows a search has just seen
  are added to the nearest lists that search found (``_add_to``), not looked up again.
* **4-bit fast-scan PQ codes** (``pq_m`` sub-quantizers, dim/4 by default: 32 bytes + an 8-byte id
  per 256-d vector) instead of the vectors; with the scalar codes below, 10M vectors take ~1.7 GB of
  RAM, not the ~13 GB of an HNSW graph over float32 vectors.
* **Re-ranking in two steps.** PQ similarities are rough (sd ~0.1 on hashing vectors), too rough
  for a 0.95 threshold, so the ``CANDIDATES`` best by PQ code are re-scored with 4-bit scalar codes
  kept in memory (dim/2 bytes per vector, of the vectors rotated, sd ~0.007; scored on the codes,
  ``scalar_codes.py``), and the ``refine`` best of those exactly, against
  the float16 vectors of a ``VectorFile`` on disk; those exact scores are what ``search`` returns.
  The middle step is there because a row read from disk costs a page fault (~1.5 µs) once the file
  outgrows what the process has touched, so reading all 64 candidates made the query cost grow
  with N (benchmarks/README.md: 55 → 169 µs per query from 100k to 1M).
  A caller that acts on a similarity floor (semantic_dedup's threshold) passes it, and a query with
  no exact score at the floor yet also gets its other candidates near the floor scored exactly, and
  if still undecided, those of a wider PQ candidate list, and then those of the PQ ranks down to
  ``WIDEST`` (``_near_floor``): in crowds of near-copies the code rankings alone lost the row above
  the floor (recall 0.93 at 3M rows, 0.95 at 10M).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from curate.errors import ConfigError
from curate.index.base import faiss_module as _faiss
from curate.index.kmeans import two_level
from curate.index.scalar_codes import ScalarCodes
from curate.index.vector_file import VectorFile


def default_pq_m(dim: int) -> int:
    """dim/4 sub-quantizers (4 dimensions each) when that divides, else the nearest divisor below."""
    return next(m for m in range(max(1, dim // 4), 0, -1) if dim % m == 0)


class CompressedIVF:
    LIST_SIZE = 1024     # vectors per list the retraining aims at (nprobe of them are scanned per query)
    REGROW = 2           # retrain once N has doubled since the last training: lists hold 1-2x LIST_SIZE
    KMEANS_ITER = 10     # k-means passes per training (faiss' default 25 costs 2.5x, for centroids no better here)
    TWO_LEVEL_FROM = 2048  # lists from which k-means is two-level (kmeans.py): 15x faster at 8,000 lists
    #                        with as close a fit; below it plain k-means costs a few seconds, and two-level's
    #                        centroids found ~1 point fewer duplicates at 1M pairs (benchmarks/README.md)
    TRAIN_PER_LIST = 40  # faiss wants >= 39 training points per centroid
    MIN_LISTS = 16
    NPROBE = 8           # lists scanned per query: 16 found the same duplicates at 1M scale pairs, 10% slower
    CANDIDATES = 64      # best by PQ code, re-scored with the scalar codes
    SECOND_LOOK_SD = 3   # a search with a floor scores exactly the candidates whose code similarity is within
    #                      this many error sds below it (_near_floor): a row truly at the floor is missed ~0.1%
    WIDE_REACH = 0.14    # a search with a floor looks at its `wide` PQ candidates for queries still undecided
    #                      whose worst of the CANDIDATES scores >= floor - WIDE_REACH by scalar code (_near_floor)
    LOOK = 24            # rows a further look scores exactly per round, best by scalar code first
    LOOK_ROUNDS = 4      # rounds a look takes at most, each for the queries still undecided whose last round
    #                      ended within reach of the floor (a crowd)
    WIDEST = 2048        # PQ ranks a search with a floor reaches, past the wide list, for queries still undecided
    #                      in a crowd: at 3M and 10M rows nearly every miss of the final index lay at PQ rank
    #                      256-2047, in crowds of 500+ rows within 0.05 below the floor (dedup_parts.py)
    DEEP_CROWD = 8       # ...a crowd: this many rows of the wide list within reach of the floor by scalar code
    FLAT_COARSE_UPTO = 12_288  # lists up to which the coarse search is exact (a flat scan of the centroids,
    #                            batched through BLAS): faster than the HNSW graph at every size measured
    #                            up to ~10M rows, and it finds every nearest list (benchmarks/README.md)
    REUSE_LISTS_FROM = 2048  # lists from which an add reuses the search's coarse results (_add_to): at 7,000
    #                          lists 35.7 -> 16.7 µs a row, at 900 10.2 -> 13.3 (dedup_parts.py --adds)
    COARSE_EF = 32       # HNSW efSearch over the centroids, past FLAT_COARSE_UPTO lists (searches, and adds'
    #                      list assignment): 64 found the same lists at 1M scale pairs, adds 1.2x slower
    SLICE = 128          # queries re-ranked at a time
    SEED = 0

    def __init__(self, dim: int, store: VectorFile, nprobe: int | None = None, refine: int = 8,
                 pq_m: int | None = None, wide: int = 256):
        self.dim, self.store, self.nprobe, self.refine = dim, store, nprobe or self.NPROBE, refine
        self.wide = wide  # PQ candidates of a search with a floor (_near_floor); FaissOptions.threshold_candidates
        self.pq_m = pq_m or default_pq_m(dim)
        if dim % self.pq_m:
            raise ConfigError(f"faiss index: pq_m={self.pq_m} must divide the vector dimension {dim}")
        self.nlist = 0
        self.trained_on = 0
        self._index: Any = None
        self._sq: ScalarCodes | None = None  # the 4-bit scalar codes of the middle re-rank
        self._centroids: np.ndarray | None = None  # the lists' centroids, (nlist, dim), read on first use
        self._probe: np.ndarray | None = None  # the random vector of _keys
        # the last search's queries, as sorted row keys (_keys), and each one's nearest list
        self._nearest: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal) if self._index is not None else 0

    def build(self) -> None:
        """Train on a sample of every stored vector, then add them all (the first build and each regrow)."""
        faiss = _faiss()
        # a regrow rebuilds from the vector file: the old index and codes go first, or the peak
        # memory of the run is both of them at once (~340 B per vector, measured at 1M pairs)
        self._index, self._sq, self._centroids, self._nearest = None, None, None, None
        n = len(self.store)
        nlist = max(self.MIN_LISTS, n // self.LIST_SIZE)
        coarse = f"IVF{nlist}" if nlist <= self.FLAT_COARSE_UPTO else f"IVF{nlist}_HNSW32"
        index = faiss.index_factory(self.dim, f"{coarse},PQ{self.pq_m}x4fs", faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.niter = self.KMEANS_ITER
        sample = self._sample(min(n, self.TRAIN_PER_LIST * nlist))
        if nlist >= self.TWO_LEVEL_FROM:
            # the lists' centroids by two-level k-means (kmeans.py): a quantizer that already holds
            # nlist centroids is not retrained, so train() below fits the PQ codes only
            ivf.quantizer.add(two_level(sample, nlist, self.KMEANS_ITER, self.SEED))
        index.train(sample)
        self._sq = ScalarCodes.trained_on(sample)
        del sample  # ~4% of the vectors as float32: gone before the adds
        for _, block in self.store.chunks():
            index.add(block)
            self._sq.append(block)
        self._index, self.nlist, self.trained_on = index, nlist, n
        self._set_search_params()

    def _sample(self, size: int) -> np.ndarray:
        """`size` stored rows drawn without replacement (seeded), in file order: read row by row from
        disk, where reading every row to keep ~4% of them cost ~10x as much (1.4 s at 890k rows)."""
        pick = np.random.default_rng(self.SEED).choice(len(self.store), size, replace=False)
        return self.store.rows(np.sort(pick))

    def add(self, vecs: np.ndarray) -> None:
        """Index `vecs`, which the caller has already appended to the store."""
        if len(self.store) >= self.REGROW * self.trained_on:
            self.build()
            return
        lists = self._known_lists(vecs)
        if lists is not None:
            self._add_to(vecs, lists)
        else:
            self._index.add(vecs)
        self._sq.append(vecs)

    def _keys(self, vecs: np.ndarray) -> np.ndarray:
        """A float64 key per row (its dot product with a fixed random vector): equal rows, equal keys;
        different rows collide with probability ~0, and a collision would only put a row in another
        of the lists near it. ~0.05 µs a row, where a dict of row bytes cost ~2."""
        if self._probe is None:
            self._probe = np.random.default_rng(self.SEED).standard_normal(self.dim)
        return vecs.astype(np.float64) @ self._probe

    def _remember_nearest(self, vecs: np.ndarray, nearest: np.ndarray) -> None:
        """Keep each searched row's nearest list, by row key, for the add that follows (_known_lists)."""
        keys = self._keys(vecs)
        order = np.argsort(keys)
        self._nearest = (keys[order], nearest[order])

    def _known_lists(self, vecs: np.ndarray) -> np.ndarray | None:
        """Each row's nearest list from the last search, when the last search saw every row, else None."""
        if self._nearest is None or vecs.dtype != np.float32 or not len(vecs):
            return None
        keys, lists = self._nearest
        want = self._keys(vecs)
        at = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        return lists[at] if np.array_equal(keys[at], want) else None

    def _add_to(self, vecs: np.ndarray, lists: np.ndarray) -> None:
        """Add `vecs` to their known nearest `lists` without a second coarse search.

        The step adds the rows it kept of the chunk it has just searched, and the search found each
        row's nearest lists, so faiss' add would only walk the coarse quantizer again for the first
        of them (the walk grows with the list count: ~40 µs a row at 9,000 lists). faiss' add takes
        no precomputed lists for fast-scan indexes (``add_core`` mis-packs their codes), so for the
        add the quantizer is swapped for a flat one over just those lists' centroids, keyed by list
        number: each row's nearest among them is the list the search found, and faiss encodes and
        packs the codes as in any add.
        """
        faiss = _faiss()
        ivf = faiss.extract_index_ivf(self._index)
        if self._centroids is None:  # once per training (build() resets it), and only where adds reuse lists
            self._centroids = ivf.quantizer.reconstruct_n(0, self.nlist)
        used = np.unique(lists)
        sub = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        sub.add_with_ids(self._centroids[used], used)
        quantizer = ivf.quantizer
        ivf.quantizer = sub
        try:
            self._index.add(vecs)
        finally:
            ivf.quantizer = quantizer

    def search(self, vecs: np.ndarray, k: int, floor: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k best rows of each query, scored exactly; with a `floor`, a query that has fewer than
        k exact scores >= floor after the ``refine`` best looks further (``_near_floor``)."""
        # past REUSE_LISTS_FROM lists the coarse search is done here rather than inside faiss' search,
        # so that its nearest lists serve the add of these rows too (_add_to)
        wanted = max(k, self.refine, self.CANDIDATES if floor is None else max(self.CANDIDATES, self.wide))
        if self.nlist < self.REUSE_LISTS_FROM or vecs.dtype != np.float32:
            self._nearest = None
            _, cand = self._index.search(vecs, wanted)
        else:
            ivf = _faiss().extract_index_ivf(self._index)
            coarse_sims, coarse = ivf.quantizer.search(vecs, ivf.nprobe)
            self._remember_nearest(vecs, coarse[:, 0])
            _, cand = self._index.search_preassigned(vecs, wanted, coarse, coarse_sims)
        sims = np.empty((len(vecs), k), np.float32)
        ids = np.empty((len(vecs), k), np.int64)
        first = max(k, self.refine)
        turned = self._sq.turn(vecs)  # the queries as the scalar codes score them, turned in one matmul
        # re-ranked in slices: the (queries, candidates, dim) blocks stay a few MB, reused by the
        # allocator, where one block for a whole batch was 130 MB of fresh pages per call
        for at in range(0, len(vecs), self.SLICE):
            q, t, c = vecs[at:at + self.SLICE], turned[at:at + self.SLICE], cand[at:at + self.SLICE]
            if floor is None:
                c = self._top(c, self._sq.similarities(t, c), first)[1]
                sims[at:at + len(q)], ids[at:at + len(q)] = self._top(c, self._exact(q, c), k)
            else:
                sims[at:at + len(q)], ids[at:at + len(q)] = self._top(*self._near_floor(q, t, c, k, floor), k)
        return sims, ids

    def _near_floor(self, q: np.ndarray, turned: np.ndarray, c: np.ndarray, k: int,
                    floor: float) -> tuple[np.ndarray, np.ndarray]:
        """Candidate ids and exact scores (-inf: not scored) for a search with a `floor`. `c` holds
        each query's ``wide`` best by PQ code (at least ``CANDIDATES``), best first; `turned`: the
        queries `q` as the scalar codes take them (``ScalarCodes.turn``).

        As without a floor, the ``CANDIDATES`` best by PQ code are scored by scalar code and the
        ``refine`` best of those exactly. A query with fewer than k exact scores >= floor then has
        more of them scored exactly, ``LOOK`` a round: the best by scalar code of those within
        ``SECOND_LOOK_SD`` code-error sds of the floor (its reach), and another round while it is
        still short and the last round ended within reach, ``LOOK_ROUNDS`` at most. If it is still
        short and even the worst of those ``CANDIDATES`` came within ``WIDE_REACH`` of the floor by
        scalar code (the PQ list was cut inside a crowd around the floor, so a row above it may lie
        past the cut), the rest of `c` is scored by scalar code and looked at the same way; and if
        then still short in a crowd (``DEEP_CROWD`` rows of the wide list within reach), the PQ
        ranks after it down to ``WIDEST`` too (one more faiss search for those queries alone; their
        k best are appended to the result).

        Why: in a crowd of near-copies the rows around the floor are many, and both rankings are as
        noisy as the crowd is wide (PQ codes sd ~0.1, scalar codes ~0.02 before their rotation), so the row truly above
        the floor was often neither among the ``refine`` best by scalar code nor among the
        ``CANDIDATES`` best by PQ code: recall against the exact index fell to 0.93 at 3M rows
        (benchmarks/README.md, "semantic_dedup's index, 2026-12-07c"). Only queries still
        undecided pay for the extra codes and reads, and only for the candidates that could decide
        them; a query with nothing near the floor stops after the first ``refine``. The reads are
        capped (``LOOK`` a round) because a row read from the vector file costs ~3.5 µs at 10M rows;
        at 3M, 24 found 1% more duplicates than 8 (last 10% recall 0.988 vs 0.976) for ~10% more
        time a pair (benchmarks/README.md); the rounds and the deep look are for crowds of hundreds
        (at 3M every miss of the final index lay past PQ rank 256). faiss' fast-scan ranks by
        16-bit rounded distances, so the first 64 of the wider list can differ from a 64-wide
        search's by ties (~3 rows in 64): a floor search is, rarely, not a superset of a plain one.
        """
        first, near = max(k, self.refine), min(self.CANDIDATES, c.shape[1])
        reach = floor - self.SECOND_LOOK_SD * self._sq.error_sd(turned)
        coded, ranked = self._top(c[:, :near], self._sq.similarities(turned, c[:, :near]), near)
        ids = np.concatenate([ranked, c[:, near:]], axis=1)
        exact = np.full(ids.shape, -np.inf, np.float32)
        exact[:, :first] = self._exact(q, ids[:, :first])

        def look(ids: np.ndarray, exact: np.ndarray, slots: np.ndarray, rows: np.ndarray, lo: int,
                 codes: np.ndarray, need: np.ndarray) -> None:
            # rounds of the next LOOK best by code of those within reach of the floor, in their
            # places in ids (row `slots`, from column lo), for the queries `rows` still short of
            # `need` exact scores >= floor whose last round ended within reach
            order = self._best_first(codes, self.LOOK * self.LOOK_ROUNDS)
            for r in range(self.LOOK_ROUNDS):
                best = order[:, r * self.LOOK:(r + 1) * self.LOOK]
                if not best.shape[1]:
                    return
                at = best + lo
                within = np.take_along_axis(codes, best, axis=1) >= reach[rows, None]
                wanted = np.where(within, np.take_along_axis(ids[slots], at, axis=1), -1)
                exact[slots[:, None], at] = self._exact(q[rows], wanted)
                more = ((exact[slots] >= floor).sum(1) < need) & within[:, -1]
                if not more.any():
                    return
                slots, rows, order, codes, need = slots[more], rows[more], order[more], codes[more], need[more]

        short = (exact >= floor).sum(1) < k
        rows = np.flatnonzero(short & (coded[:, min(first, near - 1)] >= reach))
        if len(rows) and near > first:
            look(ids, exact, rows, rows, first, coded[rows, first:], np.full(len(rows), k))
        short = (exact >= floor).sum(1) < k
        rows = np.flatnonzero(short & (coded[:, near - 1] >= floor - self.WIDE_REACH))
        if not len(rows) or ids.shape[1] <= near:
            return ids, exact
        codes = self._sq.similarities(turned[rows], ids[rows, near:])
        look(ids, exact, rows, rows, near, codes, np.full(len(rows), k))
        # the PQ ranks past the wide cut, down to WIDEST, for the queries still short in a crowd:
        # DEEP_CROWD rows of the wide list within reach. PQ codes rank a crowd nearly at random, so
        # how much of the wide list's tail lies within reach says little about what lies past it:
        # a trigger on a quarter of its last 64 left 129 of 130 misses at 10M rows, each match the
        # best by scalar code of the 2,048 (benchmarks/README.md, "semantic_dedup's index, 2026-12-08")
        have = (exact[rows] >= floor).sum(1)
        crowd = (coded[rows] >= reach[rows, None]).sum(1) + (codes >= reach[rows, None]).sum(1)
        deep = (have < k) & (crowd >= self.DEEP_CROWD)
        if not deep.any() or self.WIDEST <= ids.shape[1]:
            return ids, exact
        rows, have = rows[deep], have[deep]
        more = self._index.search(q[rows], self.WIDEST)[1][:, ids.shape[1]:]
        # fast-scan ties can move a row across the cut: scored once (one isin over (query, row) keys,
        # where one per query cost ~40 µs)
        mine = np.arange(len(rows), dtype=np.int64)[:, None] * (self.ntotal + 1)  # ids: -1 .. ntotal - 1
        more[np.isin(more + 1 + mine, ids[rows] + 1 + mine)] = -1
        scored = np.full(more.shape, -np.inf, np.float32)
        look(more, scored, np.arange(len(rows)), rows, 0, self._sq.similarities(turned[rows], more), k - have)
        # only the deep rows' k best join the result: the caller's top k of the whole is the same,
        # without a (slice, WIDEST) block for every query of the slice
        best, best_ids = self._top(more, scored, k)
        extra, extra_ids = np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64)
        extra[rows], extra_ids[rows] = best, best_ids
        return np.concatenate([ids, extra_ids], axis=1), np.concatenate([exact, extra], axis=1)

    @staticmethod
    def _best_first(codes: np.ndarray, top: int) -> np.ndarray:
        """Per row, the columns of its `top` highest `codes`, highest first: a partition, then a sort
        of those alone, where a deep look's 1,792 columns cost ~100 µs a query to sort whole."""
        if top >= codes.shape[1]:
            return np.argsort(-codes, axis=1, kind="stable")
        part = np.argpartition(-codes, top - 1, axis=1)[:, :top]
        return np.take_along_axis(part, np.argsort(-np.take_along_axis(codes, part, axis=1), axis=1, kind="stable"), 1)

    def _exact(self, vecs: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Inner products of each query with its candidate rows `ids` (-1: none, -inf), read from disk."""
        valid = ids >= 0
        # near-duplicate queries share candidates: each distinct row is read once
        uniq, where = np.unique(np.where(valid, ids, 0), return_inverse=True)
        sims = np.einsum("nd,nkd->nk", vecs, self.store.rows(uniq)[where.reshape(ids.shape)])
        sims[~valid] = -np.inf
        return sims

    @staticmethod
    def _top(ids: np.ndarray, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k of each query's candidate `ids` with the highest `sims` (-inf: none, id -1)."""
        best = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        top = np.take_along_axis(sims, best, axis=1)
        return top, np.where(np.isfinite(top), np.take_along_axis(ids, best, axis=1), -1)

    def _set_search_params(self) -> None:
        faiss = _faiss()
        space = faiss.ParameterSpace()
        space.set_index_parameter(self._index, "nprobe", min(self.nprobe, self.nlist))
        # by the quantizer's type, not the list count: a state saved before the flat coarse search
        # (HNSW at every size) loads as it was saved
        if isinstance(faiss.downcast_index(faiss.extract_index_ivf(self._index).quantizer), faiss.IndexHNSW):
            space.set_index_parameter(self._index, "quantizer_efSearch", max(self.COARSE_EF, 2 * self.nprobe))

    # ------------------------------------------------------------ state
    def save(self, directory: Path) -> None:
        directory = Path(directory)
        _faiss().write_index(self._index, str(directory / "index.faiss"))
        # the scalar codes are not saved: load recomputes them from the vector file (cheaper than
        # writing dim/2 bytes per vector at every commit)
        np.save(directory / "sq.npy", self._sq.trained_array())
        (directory / "compressed.json").write_text(json.dumps(
            {"nlist": self.nlist, "trained_on": self.trained_on, "sq_rotated": self._sq.rotation is not None}))

    def load(self, directory: Path) -> None:
        directory = Path(directory)
        meta = json.loads((directory / "compressed.json").read_text())
        self._index = _faiss().read_index(str(directory / "index.faiss"))
        self.nlist, self.trained_on = meta["nlist"], meta["trained_on"]
        # a state saved before the scalar codes were rotated loads as it was trained
        self._sq = ScalarCodes.from_trained(np.load(directory / "sq.npy"), rotated=meta.get("sq_rotated", False))
        for _, block in self.store.chunks():
            self._sq.append(block)
        self._set_search_params()
