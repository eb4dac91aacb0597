"""The compressed faiss index (``kind: compressed``): flat cost per query, ~40 bytes of RAM per vector.

Three parts, each for one of the scale goals (benchmarks/README.md, "Vector index kinds"):

* **IVF with an HNSW coarse quantizer, lists of bounded size.** A query looks at ``nprobe`` lists of
  about ``LIST_SIZE`` vectors each, found through an HNSW graph over the centroids, so its cost does
  not grow with N. The list count follows N: each time the index has doubled (``REGROW``) since its
  last training it is retrained on a sample (``TRAIN_PER_LIST`` vectors per list) and every vector is
  re-added from disk, which costs at most N extra adds in all (a geometric series).
* **4-bit fast-scan PQ codes** (``pq_m`` sub-quantizers, dim/4 by default: 32 bytes + an 8-byte id
  per 256-d vector) instead of the vectors: 10M vectors take ~0.4 GB of RAM, not 10 GB.
* **Exact re-ranking.** PQ similarities are rough (±0.1 on hashing vectors), too rough for a 0.95
  threshold, so the ``refine`` best candidates by code are re-scored exactly against the float16
  vectors of a ``VectorFile`` on disk, and those exact scores are what ``search`` returns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from curate.errors import ConfigError, require
from curate.index.vector_file import VectorFile


def _faiss():
    return require("faiss", "models", "the faiss vector index")


def default_pq_m(dim: int) -> int:
    """dim/4 sub-quantizers (4 dimensions each) when that divides, else the nearest divisor below."""
    return next(m for m in range(max(1, dim // 4), 0, -1) if dim % m == 0)


class CompressedIVF:
    LIST_SIZE = 1024     # vectors per list the retraining aims at (nprobe of them are scanned per query)
    REGROW = 2           # retrain once N has doubled since the last training: lists hold 1-2x LIST_SIZE
    KMEANS_ITER = 10     # k-means passes per training (faiss' default 25 costs 2.5x, for centroids no better here)
    TRAIN_PER_LIST = 40  # faiss wants >= 39 training points per centroid
    MIN_LISTS = 16
    SEED = 0

    def __init__(self, dim: int, store: VectorFile, nprobe: int = 8, refine: int = 64, pq_m: int | None = None):
        self.dim, self.store, self.nprobe, self.refine = dim, store, nprobe, refine
        self.pq_m = pq_m or default_pq_m(dim)
        if dim % self.pq_m:
            raise ConfigError(f"faiss index: pq_m={self.pq_m} must divide the vector dimension {dim}")
        self.nlist = 0
        self.trained_on = 0
        self._index: Any = None

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal) if self._index is not None else 0

    def build(self) -> None:
        """Train on a sample of every stored vector, then add them all (the first build and each regrow)."""
        faiss = _faiss()
        n = len(self.store)
        nlist = max(self.MIN_LISTS, n // self.LIST_SIZE)
        index = faiss.index_factory(self.dim, f"IVF{nlist}_HNSW32,PQ{self.pq_m}x4fs", faiss.METRIC_INNER_PRODUCT)
        faiss.extract_index_ivf(index).cp.niter = self.KMEANS_ITER
        index.train(self._sample(min(n, self.TRAIN_PER_LIST * nlist)))
        for _, block in self.store.chunks():
            index.add(block)
        self._index, self.nlist, self.trained_on = index, nlist, n
        self._set_search_params()

    def _sample(self, size: int) -> np.ndarray:
        """`size` stored rows drawn without replacement (seeded), read chunk by chunk from disk."""
        n = len(self.store)
        pick = np.zeros(n, dtype=bool)
        pick[np.random.default_rng(self.SEED).choice(n, size, replace=False)] = True
        return np.concatenate([block[pick[start:start + len(block)]] for start, block in self.store.chunks()])

    def add(self, vecs: np.ndarray) -> None:
        """Index `vecs`, which the caller has already appended to the store."""
        if len(self.store) >= self.REGROW * self.trained_on:
            self.build()
        else:
            self._index.add(vecs)

    def search(self, vecs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        cand = max(k, self.refine)
        _, ids = self._index.search(vecs, cand)
        valid = ids >= 0
        # near-duplicate queries share candidates: each distinct row is read from disk once
        uniq, where = np.unique(np.where(valid, ids, 0), return_inverse=True)
        exact = np.einsum("nd,nkd->nk", vecs, self.store.rows(uniq)[where.reshape(ids.shape)])
        exact[~valid] = -np.inf
        best = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(exact, best, axis=1), np.take_along_axis(np.where(valid, ids, -1), best, axis=1)

    def _set_search_params(self) -> None:
        space = _faiss().ParameterSpace()
        space.set_index_parameter(self._index, "nprobe", min(self.nprobe, self.nlist))
        space.set_index_parameter(self._index, "quantizer_efSearch", max(64, 2 * self.nprobe))

    # ------------------------------------------------------------ state
    def save(self, directory: Path) -> None:
        directory = Path(directory)
        _faiss().write_index(self._index, str(directory / "index.faiss"))
        (directory / "compressed.json").write_text(json.dumps({"nlist": self.nlist, "trained_on": self.trained_on}))

    def load(self, directory: Path) -> None:
        directory = Path(directory)
        meta = json.loads((directory / "compressed.json").read_text())
        self._index = _faiss().read_index(str(directory / "index.faiss"))
        self.nlist, self.trained_on = meta["nlist"], meta["trained_on"]
        self._set_search_params()
