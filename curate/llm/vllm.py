"""``vllm``: in-process offline batch generation on GPUs with ``vllm.LLM`` (extra ``gpu``).

The whole batch goes to ``LLM.chat`` in one call, one ``SamplingParams`` per request, so vLLM's
scheduler batches it and automatic prefix caching (on by default here) shares the common prompt
prefix (system prompt, judge template) across requests. ``response_format: json`` maps to guided
JSON decoding where the installed vLLM offers it.

If the batch call fails (one prompt longer than the context fails the whole call), every request
is retried alone so that only the bad ones carry an error.

Options (``llm.options``, ``VLLMOptions``) go to ``vllm.LLM(...)``; an option left unset (null)
is not passed, so vLLM's own default applies. Every option name, and every vLLM name this module
uses, is checked against the newest vLLM wheel by ``benchmarks/vllm_contract.py``.
"""

from __future__ import annotations

import importlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from curate.errors import ConfigError, require
from curate.llm.base import LLM, ChatRequest, Completion, GenParams
from curate.registry import LLMS


def sampling_params(vllm, p: GenParams):
    """GenParams → vllm.SamplingParams (one completion per request)."""
    kw = dict(n=1, temperature=p.temperature, top_p=p.top_p, max_tokens=p.max_tokens, seed=p.seed,
              stop=list(p.stop) or None)
    if p.json_schema or p.response_format == "json":
        # vllm's package exports names lazily (MODULE_ATTRS); the submodule is there only once
        # something imported it, so import it by name instead of relying on that
        sp_mod = importlib.import_module(vllm.__name__ + ".sampling_params")
        want = {"json": json.loads(p.json_schema)} if p.json_schema else {"json_object": True}
        if hasattr(sp_mod, "StructuredOutputsParams"):  # vLLM >= 0.11
            kw["structured_outputs"] = sp_mod.StructuredOutputsParams(**want)
        elif hasattr(sp_mod, "GuidedDecodingParams"):  # vLLM 0.6 - 0.10
            kw["guided_decoding"] = sp_mod.GuidedDecodingParams(**want)
    return vllm.SamplingParams(**kw)


class VLLMOptions(BaseModel):
    """Engine arguments of ``vllm.LLM`` that curate lets a pipeline set (the names are vLLM's)."""

    model_config = ConfigDict(extra="forbid")
    seed: int = Field(0, description="engine seed (a request's own seed wins)")
    enable_prefix_caching: bool = Field(True, description="share KV cache of common prompt prefixes")
    tensor_parallel_size: int | None = Field(None, ge=1, description="GPUs one model is split over")
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1, description="share of GPU memory vLLM takes")
    max_model_len: int | None = Field(None, ge=1, description="context length (default: the model's)")
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] | None = None
    quantization: str | None = Field(None, description="e.g. awq, gptq, fp8")
    kv_cache_dtype: str | None = Field(None, description="e.g. auto, fp8")
    max_num_seqs: int | None = Field(None, ge=1, description="sequences scheduled at once")
    enforce_eager: bool | None = Field(None, description="disable CUDA graphs")
    trust_remote_code: bool | None = None
    revision: str | None = Field(None, description="model revision (branch, tag or commit)")
    download_dir: str | None = Field(None, description="where Hub weights are cached")


@LLMS.register("vllm")
class VLLM(LLM):
    backend = "vllm"
    Options = VLLMOptions

    def __init__(self, model: str, seed: int = 0, enable_prefix_caching: bool = True, **engine_options):
        super().__init__(model)
        self.seed = seed
        self.engine_options = {"enable_prefix_caching": enable_prefix_caching, **engine_options}
        self._engine = None

    @classmethod
    def from_config(cls, cfg, opts: VLLMOptions) -> VLLM:
        if not cfg.model:
            raise ConfigError("llm.model is required for the vllm backend (a Hugging Face id or local path)")
        return cls(cfg.model, **opts.model_dump(exclude_none=True))

    def _load(self):
        if self._engine is None:
            vllm = require("vllm", "gpu", "The vllm backend")
            self._vllm = vllm
            self._engine = vllm.LLM(model=self.model, seed=self.seed, **self.engine_options)
        return self._engine

    def _complete(self, out) -> Completion:
        o = out.outputs[0]
        usage = {"prompt_tokens": len(out.prompt_token_ids or []), "completion_tokens": len(o.token_ids)}
        return Completion(o.text, self.model, finish_reason=o.finish_reason, usage=usage)

    def _generate(self, requests: list[ChatRequest]) -> list[Completion]:
        engine = self._load()
        convs = [r.messages for r in requests]
        params = [sampling_params(self._vllm, r.params) for r in requests]
        try:
            outs = engine.chat(convs, sampling_params=params, use_tqdm=False)
            return [self._complete(o) for o in outs]
        except (ValueError, RuntimeError) as batch_error:
            if len(requests) == 1:
                return [Completion(None, self.model, error=f"{type(batch_error).__name__}: {batch_error}")]
        out = []
        for conv, sp in zip(convs, params):  # find the bad requests; keep the good ones
            try:
                out.append(self._complete(engine.chat([conv], sampling_params=sp, use_tqdm=False)[0]))
            except (ValueError, RuntimeError) as e:
                out.append(Completion(None, self.model, error=f"{type(e).__name__}: {e}"))
        return out

    def close(self) -> None:
        self._engine = None
