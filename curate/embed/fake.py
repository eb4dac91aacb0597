"""A deterministic embedder for tests: hashed character 3-grams, so near-identical texts get
near-identical vectors and unrelated texts do not. No model, instant."""

from __future__ import annotations

import hashlib

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from curate.embed.base import Embedder
from curate.registry import EMBEDDERS


class FakeEmbedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dim: int = Field(256, ge=1, description="vector size (3-gram hash buckets)")


@EMBEDDERS.register("fake")
class FakeEmbedder(Embedder):
    backend = "fake"
    Options = FakeEmbedOptions

    def __init__(self, model: str = "fake", batch_size: int = 64, dim: int = 256):
        super().__init__(model, batch_size)
        self.dim = dim
        self.calls = 0

    def _embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            t = " ".join(t.lower().split())
            for j in range(max(1, len(t) - 2)):
                h = int.from_bytes(hashlib.blake2b(t[j:j + 3].encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0
        return out
