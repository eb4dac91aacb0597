"""Options every LLM-backed labeler shares, and the one place they become generation params."""

from __future__ import annotations

from pydantic import Field

from curate.llm.base import GenParams
from curate.llm.config import LLMConfig
from curate.step import Options


class LLMCallOptions(Options):
    """Base of the judges' options; each step adds its template and system message, and may
    redeclare ``max_tokens`` with its own default."""

    llm: LLMConfig = Field(default_factory=LLMConfig, description="the model (backend, model, ...)")
    temperature: float = Field(0.0, ge=0, description="sampling temperature")
    json_mode: bool = Field(True, description="ask for JSON in the reply's schema (structured output)")
    max_tokens: int = Field(256, ge=1, description="reply length limit")

    def gen_params(self, seed: int, schema: str | None) -> GenParams:
        """`schema` is the reply's JSON Schema (curate/judge/schemas.py), sent only in json_mode."""
        return GenParams(temperature=self.temperature, max_tokens=self.max_tokens, seed=seed,
                         response_format="json" if self.json_mode else None,
                         json_schema=schema if self.json_mode else None)
