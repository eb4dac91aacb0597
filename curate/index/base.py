"""The vector-index interface: add normalised vectors, search by inner product (= cosine).

Rows get consecutive integer ids in the order they are added (0, 1, 2, ...); callers keep their
own id → record map. ``search`` returns ``(sims, ids)`` of shape (n, k), best first, with id -1 and
sim -inf where the index holds fewer than k vectors. A caller that acts only on rows at or above a
similarity passes it as ``floor``: an approximate index may then look harder at candidates near it
(the compressed index does), an exact one ignores it. A backend implements ``_add``, ``_search``,
``ntotal`` and ``save``/``load``, and declares its ``Options``; ``build_index`` picks one by name from
``curate.registry.INDEXES`` and validates the options against that model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from curate.errors import BackendError, require
from curate.registry import NoOptions


def faiss_module():
    """The faiss library, or an error naming the extra that installs it (every faiss-backed part here)."""
    return require("faiss", "models", "the faiss vector index")


_PTHREADS_BLAS: Any = None  # threadpoolctl's controller of the pthreads BLAS libraries (found once)


def blas_beside_faiss() -> AbstractContextManager:
    """A with-block in which numpy's BLAS runs on one thread: for loops that alternate numpy matmuls
    with faiss calls (semantic_dedup's search-and-add loop).

    Why: numpy's OpenBLAS is built on pthreads, and after each call its idle threads spin a while
    before they sleep, on the cores faiss' OpenMP threads want next; on 2 cores the two pools took
    turns at the same cores. One numpy thread: the 1M-pair index loop went 197 → 139 s with the
    same removals (benchmarks/README.md, "semantic_dedup's index, 2026-12-07e"). faiss' own BLAS is
    built on OpenMP (its pool is faiss' own) and keeps its threads. Without threadpoolctl, or where
    numpy's BLAS is threaded otherwise, the block changes nothing.
    """
    global _PTHREADS_BLAS
    if _PTHREADS_BLAS is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            return nullcontext()
        _PTHREADS_BLAS = ThreadpoolController().select(threading_layer="pthreads")
    return _PTHREADS_BLAS.limit(limits=1) if _PTHREADS_BLAS.lib_controllers else nullcontext()


class VectorIndex(ABC):
    backend: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, dim: int):
        self.dim = int(dim)

    def add(self, vecs: np.ndarray) -> None:
        if len(vecs):
            self._add(self._check(vecs))

    def search(self, vecs: np.ndarray, k: int = 1, floor: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        n = len(vecs)
        if n == 0 or self.ntotal == 0:
            return np.full((n, k), -np.inf, dtype=np.float32), np.full((n, k), -1, dtype=np.int64)
        sims, ids = self._search(self._check(vecs), k, floor)
        sims = np.where(ids < 0, -np.inf, sims).astype(np.float32)
        return sims, ids.astype(np.int64)

    def _check(self, vecs: np.ndarray) -> np.ndarray:
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[1] != self.dim:
            raise BackendError(f"{self.backend} index holds {self.dim}-d vectors, got shape {vecs.shape}; "
                               f"use the same embedding model for every batch of a run")
        return vecs

    @property
    @abstractmethod
    def ntotal(self) -> int:
        """Number of vectors added so far."""

    @abstractmethod
    def _add(self, vecs: np.ndarray) -> None: ...

    @abstractmethod
    def _search(self, vecs: np.ndarray, k: int, floor: float | None) -> tuple[np.ndarray, np.ndarray]: ...

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the index (and any unflushed buffer) into `directory`."""

    @abstractmethod
    def load(self, directory: Path) -> None:
        """Replace this index's contents with what `save` wrote."""

    def spill_to(self, directory: Path) -> None:
        """Where this index may keep data on disk (the run's folder); an in-memory index ignores it."""
        return None

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "ntotal": self.ntotal, "dim": self.dim}


def build_index(backend: str, dim: int, where: str = "index", **options: Any) -> VectorIndex:
    """The index `backend` for `dim`-d vectors; an option its ``Options`` lacks is a ConfigError."""
    from curate.registry import INDEXES, build

    return build(INDEXES, backend, options, where=where, dim=dim)
