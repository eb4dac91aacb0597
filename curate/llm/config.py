"""How a step names the LLM it uses, and the one place that builds it.

Steps take an ``llm: LLMConfig`` option and call ``build_llm(cfg, ctx)``; the built backend is
shared by every step of the run that names the same config (``RunContext.resource``) and wrapped
in the request cache unless ``cache: false``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curate.context import RunContext
from curate.llm.base import LLM
from curate.registry import LLMS, check_options, options_for


class LLMConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str = Field("llamacpp", description="openai | vllm | llamacpp | fake")
    model: str | None = Field(None, description="model id or path; default: the backend's embedded default")
    base_url: str | None = Field(None, description="openai backend: server URL, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str | None = Field(None, description="name of the env var holding the API key (never the key)")
    concurrency: int = Field(8, ge=1)
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(4, ge=0)
    cache: bool = True
    options: dict[str, Any] = Field(default_factory=dict, description="backend-specific options: the "
                                    "backend's Options model (e.g. curate.llm.llamacpp.LlamaCppOptions)")

    @model_validator(mode="after")
    def _options_fit_backend(self) -> LLMConfig:
        # checked when the pipeline is loaded, so a typo fails before any model is loaded
        check_options(LLMS, self.backend, self.options, "llm.options")
        return self

    def key(self) -> str:
        return "llm:" + self.model_dump_json()


def build_llm(cfg: LLMConfig, ctx: RunContext | None = None) -> LLM:
    """Construct (or reuse, within a run) the backend named by cfg, wrapped in the request cache."""

    def make() -> LLM:
        cls = LLMS.get(cfg.backend)
        llm = cls.from_config(cfg, options_for(LLMS, cfg.backend, cfg.options, "llm.options"))
        if cfg.cache and ctx is not None:
            from curate.llm.cache import CachedLLM

            llm = CachedLLM(llm, ctx.cache_dir / "llm_cache.sqlite")
        return llm

    return ctx.resource(cfg.key(), make) if ctx is not None else make()
