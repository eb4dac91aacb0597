"""Exact inner-product search in plain numpy: the reference the faiss backend is tested against,
and a fallback that needs no extra package. Memory: the vectors; time: O(n·N) per search."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curate.index.base import VectorIndex
from curate.registry import INDEXES


@INDEXES.register("numpy")
class NumpyIndex(VectorIndex):
    backend = "numpy"

    def __init__(self, dim: int):
        super().__init__(dim)
        self._chunks: list[np.ndarray] = []
        self._n = 0

    @property
    def ntotal(self) -> int:
        return self._n

    def _matrix(self) -> np.ndarray:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0]

    def _add(self, vecs: np.ndarray) -> None:
        self._chunks.append(vecs.copy())
        self._n += len(vecs)

    def _search(self, vecs: np.ndarray, k: int, floor: float | None) -> tuple[np.ndarray, np.ndarray]:
        m = self._matrix()
        sims = vecs @ m.T
        kk = min(k, m.shape[0])
        top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        top_s = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_s, axis=1, kind="stable")
        ids = np.take_along_axis(top, order, axis=1)
        out_s = np.take_along_axis(top_s, order, axis=1)
        if kk < k:
            pad = k - kk
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
            out_s = np.pad(out_s, ((0, 0), (0, pad)), constant_values=-np.inf)
        return out_s, ids

    def save(self, directory: Path) -> None:
        np.save(Path(directory) / "vectors.npy", self._matrix() if self._n else np.zeros((0, self.dim), np.float32))

    def load(self, directory: Path) -> None:
        m = np.load(Path(directory) / "vectors.npy")
        self._chunks, self._n = ([m] if len(m) else []), len(m)
