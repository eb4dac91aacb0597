"""The embedder interface: texts in, L2-normalised float32 vectors out (cosine = inner product).

A backend implements ``_embed(texts) -> np.ndarray``; ``embed`` batches and normalises. Its
``Options`` model lists the keys a config's ``embedder.options`` may hold (passed to the constructor
beside ``model`` and ``batch_size``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from pydantic import BaseModel

from curate.registry import NoOptions


class Embedder(ABC):
    backend: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions
    dim: int = 0

    def __init__(self, model: str, batch_size: int = 64):
        self.model, self.batch_size = model, batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = np.asarray(self._embed(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.maximum(norms, 1e-12)

    def signature(self) -> str:
        """What identifies this embedder's vectors (the embedding cache's key): backend, model, dim."""
        return f"{self.backend}:{self.model}:{self.dim}"

    @abstractmethod
    def _embed(self, texts: list[str]) -> np.ndarray:
        """Raw vectors, shape (len(texts), dim)."""

    def close(self) -> None:  # noqa: B027 - optional hook: only embedders holding a model or server override it
        pass
