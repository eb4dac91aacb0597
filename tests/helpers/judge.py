"""Helpers for the judge and RM tests: a run context whose LLM is a scripted FakeLLM."""

from __future__ import annotations

from pathlib import Path

from curate.context import RunContext
from curate.llm.config import LLMConfig
from curate.llm.fake import FakeLLM

FAKE = LLMConfig(backend="fake", model="scripted", cache=False)


def ctx_with_llm(tmp_path: Path, llm: FakeLLM, cfg: LLMConfig = FAKE) -> RunContext:
    """A RunContext in which build_llm(cfg, ctx) returns `llm` (the resource key is the config's)."""
    ctx = RunContext.for_dir(tmp_path / "run", cache_dir=tmp_path / "cache")
    ctx.resource(cfg.key(), lambda: llm)
    return ctx


def tag_script(replies: dict[str, str | Exception]):
    """A FakeLLM reply function keyed by request tag ("<row>:ab", "<row>:ba", "<pid>", ...)."""
    return lambda req: replies[req.tag]
