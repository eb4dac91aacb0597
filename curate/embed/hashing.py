"""A lexical embedder for very large runs: the hashing trick on word 1-2-grams (scikit-learn's
HashingVectorizer), no model, ~100x faster than MiniLM on CPU.

Feature hashing is itself a random projection of the bag of n-grams, so cosine similarity between
these vectors approximates the n-gram overlap of the texts: good for near-duplicate detection at
scale, weak for meaning (paraphrases are missed). Use it where MiniLM would take hours.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from curate.embed.base import Embedder
from curate.errors import require
from curate.registry import EMBEDDERS


class HashingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dim: int = Field(512, ge=1, description="hash buckets (vector size)")
    ngrams: int = Field(2, ge=1, description="word n-grams 1..ngrams are hashed")


@EMBEDDERS.register("hashing")
class HashingEmbedder(Embedder):
    backend = "hashing"
    Options = HashingOptions

    def __init__(self, model: str = "hashing", batch_size: int = 4096, dim: int = 512, ngrams: int = 2):
        super().__init__(model, batch_size)
        text = require("sklearn.feature_extraction.text", "models", "the hashing embedder")
        self.dim = dim
        self._v = text.HashingVectorizer(n_features=dim, ngram_range=(1, ngrams), alternate_sign=True,
                                         norm=None, lowercase=True, dtype=np.float32)

    def signature(self) -> str:
        return f"{super().signature()}:{self._v.ngram_range[1]}"

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self._v.transform(texts).toarray()
