"""The ``rm_score`` step: a reward model votes on pairs, or scores candidate responses."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import Field

from curate.context import RunContext
from curate.registry import STEPS
from curate.rm.model import RewardModel
from curate.schema import RESPONSE, RecordKind, VoteKind, add_votes, dumps, kind_of
from curate.step import Options, Step


class RMOptions(Options):
    model: str = Field(description="Hugging Face id or local folder of a sequence-classification RM, "
                                   "e.g. Skywork/Skywork-Reward-V2-Qwen3-0.6B")
    batch_size: int = Field(8, ge=1, description="conversations per forward pass")
    max_length: int = Field(4096, ge=8, description="tokens per conversation; longer ones keep their end")
    device: str = Field("auto", description="auto (cuda when available, else cpu), cpu, cuda, cuda:1, ...")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto: bfloat16 on GPU, float32 on CPU")
    voter: str | None = Field(None, description="voter id in the votes column (default: rm:<model name>)")
    trust_remote_code: bool = Field(
        False, description="allow model code from the model folder (only for RMs you trust)")


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@STEPS.register()
class RMScore(Step):
    """Score responses with a reward model; on pairs add a vote of kind ``rm``.

    Reads: prompt, chosen, rejected (pairs) or prompt, responses (candidates). Each response is scored
    as the conversation prompt + {assistant: response} through the model's chat template.
    Writes, on pairs: votes (appends {voter, kind: rm, p_chosen = sigmoid(r_chosen - r_rejected),
    margin = r_chosen - r_rejected, raw = {"r_chosen", "r_rejected"}}); on candidates:
    responses[].score = the reward, with ``rm_score``/``rm_model`` in responses[].provenance.
    Counts ``scored``, ``truncated`` and ``chosen_higher``; figure ``chosen_higher_rate``.
    """

    name = "rm_score"
    reads = RecordKind.ANY
    inputs = ("prompt", "chosen", "rejected")
    outputs = ("votes",)
    Options = RMOptions
    uses_model = True

    def setup(self, ctx: RunContext) -> None:
        o = self.options
        key = f"rm:{o.model}:{o.device}:{o.dtype}:{o.max_length}:{o.batch_size}"
        self.rm: RewardModel = ctx.resource(key, lambda: RewardModel(
            o.model, device=o.device, dtype=o.dtype, max_length=o.max_length, batch_size=o.batch_size,
            trust_remote_code=o.trust_remote_code))
        self.voter = o.voter or f"rm:{Path(o.model.rstrip('/')).name}"
        self.stats.figures.update(rm=self.rm.describe())

    def _score(self, conversations: list[list[dict]]) -> list[float]:
        rewards, cut = self.rm.score(conversations)
        self.stats.count("scored", len(conversations))
        self.stats.count("truncated", cut)
        return rewards.tolist()

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        if kind_of(batch) == RecordKind.CANDIDATE:
            return self._score_candidates(batch)
        prompts = batch["prompt"].to_list()
        convs = [p + [{"role": "assistant", "content": r}] for p, r in zip(prompts, batch["chosen"].to_list())]
        convs += [p + [{"role": "assistant", "content": r}] for p, r in zip(prompts, batch["rejected"].to_list())]
        rewards = self._score(convs)
        rc, rr = rewards[:batch.height], rewards[batch.height:]
        margin = [c - r for c, r in zip(rc, rr)]
        self.stats.count("chosen_higher", sum(m > 0 for m in margin))
        self.stats.count("pairs", batch.height)
        raw = [dumps({"r_chosen": c, "r_rejected": r}) for c, r in zip(rc, rr)]
        return add_votes(batch, self.voter, VoteKind.RM, [sigmoid(m) for m in margin], margin, raw)

    def _score_candidates(self, batch: pl.DataFrame) -> pl.DataFrame:
        responses = batch["responses"].to_list()
        flat = [(p, r) for p, rs in zip(batch["prompt"].to_list(), responses) for r in (rs or [])]
        rewards = iter(self._score([p + [{"role": "assistant", "content": r["text"]}] for p, r in flat]))
        for _, r in flat:
            reward = next(rewards)
            prov = json.loads(r["provenance"]) if r.get("provenance") else {}
            prov = prov if isinstance(prov, dict) else {"provenance": prov}
            prov.update(rm_score=reward, rm_model=self.options.model)
            r["score"], r["provenance"] = reward, dumps(prov)
        return batch.with_columns(pl.Series("responses", responses, dtype=pl.List(RESPONSE)))

    def summary(self) -> dict[str, Any]:
        c = self.stats.counts
        return {"voter": getattr(self, "voter", None),
                "chosen_higher_rate": round(c["chosen_higher"] / c["pairs"], 4) if c["pairs"] else None}
