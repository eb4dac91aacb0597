"""``generate_responses``: sample N responses per prompt from one or more generators.

A generator is an LLM config plus a system prompt, temperature, N and a seed. Each of the N samples
of a prompt gets its own seed (``seed + i``), so samples differ even at the same temperature, the
run is reproducible, and every sample has its own request-cache entry.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from curate.context import RunContext
from curate.llm.base import ChatRequest, GenParams
from curate.llm.config import LLMConfig, build_llm
from curate.registry import STEPS
from curate.schema import RESPONSE, RecordKind, append_provenance, dumps
from curate.step import Options, Step


class Generator(BaseModel):
    model_config = ConfigDict(extra="forbid")

    llm: LLMConfig = Field(default_factory=LLMConfig, description="the backend and model (default: embedded llamacpp)")
    name: str | None = Field(None, description="label in the responses' model field (default: the model name)")
    system_prompt: str | None = Field(None, description="prepended as a system message (replaces the prompt's own)")
    temperature: float = Field(0.7, ge=0, description="sampling temperature")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling")
    max_tokens: int = Field(256, ge=1, description="completion length limit")
    n: int = Field(1, ge=1, le=64, description="responses per prompt from this generator")
    seed: int | None = Field(None, description="first seed; sample i uses seed+i (default: the pipeline seed)")


class GenerateOptions(Options):
    generators: list[Generator] = Field(default_factory=lambda: [Generator()], min_length=1,
                                        description="each generator adds n responses per prompt")


@STEPS.register()
class GenerateResponses(Step):
    """Generate N responses per prompt from one or more models, system prompts and temperatures.

    Reads: prompt, responses (candidate records). Appends to ``responses`` one entry per successful
    call: ``{text, model, score: null, provenance: {model, backend, generator, params, seed,
    system_prompt, finish_reason, usage}}``. A call that fails after the backend's retries is
    recorded in the request cache with its error and counted under ``failed:<kind>``; the candidate
    simply lacks that response. Counts: ``calls``, ``cache_hits``, ``empty_responses``.
    """

    name = "generate_responses"
    reads = RecordKind.CANDIDATE
    inputs = ("prompt", "responses")
    outputs = ("responses",)
    Options = GenerateOptions

    def setup(self, ctx: RunContext) -> None:
        self.seed = ctx.seed
        self.llms = [build_llm(g.llm, ctx) for g in self.options.generators]

    def _requests(self, g: Generator, prompts: list[list[dict]]) -> list[ChatRequest]:
        base = self.seed if g.seed is None else g.seed
        reqs = []
        for row, msgs in enumerate(prompts):
            if g.system_prompt is not None:
                msgs = [{"role": "system", "content": g.system_prompt}] + [m for m in msgs if m["role"] != "system"]
            for i in range(g.n):
                params = GenParams(temperature=g.temperature, top_p=g.top_p, max_tokens=g.max_tokens, seed=base + i)
                reqs.append(ChatRequest(msgs, params, tag=f"{row}:{i}"))
        return reqs

    def _response(self, g: Generator, llm, req: ChatRequest, c) -> dict[str, Any] | None:
        self.stats.count("calls")
        if c.cached:
            self.stats.count("cache_hits")
        if not c.ok:
            kind = (c.error or "unknown").split(":")[0].split("(")[0].strip()[:40] or "unknown"
            self.stats.count(f"failed:{kind}")
            return None
        if not c.text.strip():
            self.stats.count("empty_responses")
            return None
        label = g.name or llm.model
        prov = {"model": c.model or llm.model, "backend": llm.backend, "generator": label,
                "params": {"temperature": g.temperature, "top_p": g.top_p, "max_tokens": g.max_tokens},
                "seed": req.params.seed, "system_prompt": g.system_prompt,
                "finish_reason": c.finish_reason, "usage": c.usage}
        return {"text": c.text, "model": label, "provenance": dumps(prov), "score": None}

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        prompts = batch.get_column("prompt").to_list()
        responses = [list(r or []) for r in batch.get_column("responses").to_list()]
        for g, llm in zip(self.options.generators, self.llms):
            reqs = self._requests(g, prompts)
            done = llm.generate(reqs)
            self.stats.count_llm(done)
            for req, c in zip(reqs, done):
                r = self._response(g, llm, req, c)
                if r is not None:
                    responses[int(req.tag.split(":")[0])].append(r)
        self.stats.count("rows_without_responses", sum(1 for r in responses if not r))
        out = batch.with_columns(pl.Series("responses", responses, dtype=pl.List(RESPONSE)))
        event = {"step": self.name, "generators": [g.name or llm.model for g, llm in
                                                   zip(self.options.generators, self.llms)]}
        return append_provenance(out, event)

    def summary(self) -> dict[str, Any]:
        c = self.stats.counts
        calls = c.get("calls", 0)
        failed = sum(v for k, v in c.items() if k.startswith("failed:"))
        return {"cache_hit_rate": round(c.get("cache_hits", 0) / calls, 4) if calls else None,
                "failure_rate": round(failed / calls, 4) if calls else None}
