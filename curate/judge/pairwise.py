"""Pairwise LLM judge with position swap: every pair is judged as (chosen, rejected) and as
(rejected, chosen) in one batched call to the backend, and the two verdicts combine into one vote
(``curate/judge/swap.py``). ``RubricJudge`` (``curate/judge/rubric_judge.py``) reuses this class with
prompt-specific criteria in the prompt.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from pydantic import Field

from curate.context import RunContext
from curate.errors import SchemaError
from curate.judge.options import LLMCallOptions
from curate.judge.parse import parse_verdict
from curate.judge.prompts import PromptTemplate, truncate
from curate.judge.schemas import verdict_schema
from curate.judge.swap import combine, swap_figures
from curate.llm.base import ChatRequest
from curate.llm.config import build_llm
from curate.registry import STEPS
from curate.schema import VoteKind, add_votes, dumps, render_prompt
from curate.step import Step

DEFAULT_SYSTEM = "You are an impartial judge of AI assistant responses. You answer only in JSON."


class JudgeOptions(LLMCallOptions):
    template: str = Field("pairwise.j2", description="built-in template name or path to your own .j2 file")
    system: str | None = Field(DEFAULT_SYSTEM, description="system message sent before the template's text")
    voter: str | None = Field(None, description="voter id in the votes column (default: judge:<model>)")
    confidence: float = Field(0.3, gt=0, le=0.5,
                              description="p_chosen = 0.5 ± this when both orders agree (half when one order ties)")
    max_tokens: int = Field(256, ge=1, description="reply length limit")
    max_response_chars: int = Field(6000, ge=100, description="responses longer than this are cut in the prompt")


@STEPS.register()
class PairwiseJudge(Step):
    """Judge each pair with an LLM in both orders (position swap) and add one vote of kind ``llm_judge``.

    Reads: prompt, chosen, rejected. Writes: votes (appends {voter, kind: llm_judge, p_chosen, margin,
    raw}); p_chosen is 0.5 ± confidence when both orders agree, 0.5 when the verdict flips with the
    order, None when neither order could be parsed; raw keeps both replies as JSON. Counts outcomes
    (``outcome:consistent``, ``outcome:position_flip``, ...), parse failures by reason (``parse_fail:<reason>``)
    and truncated responses; ``position_consistency`` in the figures is the share of pairs judged in
    both orders whose verdict did not depend on the order.
    """

    name = "llm_judge"
    inputs = ("prompt", "chosen", "rejected")
    outputs = ("votes",)
    Options = JudgeOptions
    vote_kind = VoteKind.LLM_JUDGE
    uses_model = True
    voter_prefix = "judge"

    def setup(self, ctx: RunContext) -> None:
        o = self.options
        self.llm = build_llm(o.llm, ctx)
        self.template = PromptTemplate(o.template)
        self.voter = o.voter or f"{self.voter_prefix}:{o.llm.model or o.llm.backend}"
        self.params = o.gen_params(ctx.seed, verdict_schema())

    # ------------------------------------------------------------ hooks for subclasses
    def row_variables(self, row: dict) -> tuple[dict[str, Any] | None, str | None]:
        """Template variables shared by both orders, or (None, reason) to skip the row."""
        return {"conversation": render_prompt(row["prompt"])}, None

    # ------------------------------------------------------------ the step
    def _request(self, variables: dict, first: str, second: str, tag: str) -> ChatRequest:
        text = self.template.render(**variables, response_a=first, response_b=second)
        messages = ([{"role": "system", "content": self.options.system}] if self.options.system else [])
        return ChatRequest(messages + [{"role": "user", "content": text}], self.params, tag)

    def _cut(self, text: str) -> str:
        cut, was_cut = truncate(text, self.options.max_response_chars)
        self.stats.count("truncated_responses", int(was_cut))
        return cut

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        missing = [c for c in self.inputs if c not in batch.columns]
        if missing:
            raise SchemaError(f"step {self.label}: the batch has no column {', '.join(missing)}; "
                              f"put the step that writes it (e.g. extract_rubrics for rubric) earlier")
        rows = batch.select(list(self.inputs)).to_dicts()
        requests, judged, skipped = [], [], {}
        for i, row in enumerate(rows):
            variables, reason = self.row_variables(row)
            if variables is None:
                skipped[i] = reason
                continue
            c, r = self._cut(row["chosen"]), self._cut(row["rejected"])
            requests += [self._request(variables, c, r, f"{i}:ab"), self._request(variables, r, c, f"{i}:ba")]
            judged.append(i)
        completions = self.llm.generate(requests)
        self.stats.count_llm(completions)
        p: list[float | None] = [None] * len(rows)
        raw: list[str | None] = [None] * len(rows)
        for i, reason in skipped.items():
            self.stats.count(f"skipped:{reason}")
            raw[i] = dumps({"skipped": reason})
        for k, i in enumerate(judged):
            p[i], raw[i] = self._vote(completions[2 * k], completions[2 * k + 1])
        # an LLM verdict has no natural score scale, so margin stays empty
        return add_votes(batch, self.voter, self.vote_kind, p, None, raw)

    def _vote(self, ab, ba) -> tuple[float | None, str]:
        verdicts, reasons = [], []
        for c in (ab, ba):
            text = c.text if c.ok else None
            v, reason = parse_verdict(text)
            self.stats.count("orders_judged")
            if reason:
                self.stats.count(f"parse_fail:{reason}")
            verdicts.append(v)
            reasons.append(c.error if not c.ok else reason)
        vote = combine(verdicts[0], verdicts[1], self.options.confidence)
        self.stats.count(f"outcome:{vote.outcome}")
        raw = {"ab": ab.text if ab.ok else None, "ba": ba.text if ba.ok else None, "verdicts": verdicts,
               "outcome": vote.outcome}
        if any(reasons):
            raw["errors"] = reasons
        return vote.p_chosen, dumps(raw)

    def summary(self) -> dict[str, Any]:
        return swap_figures(self.stats.counts, getattr(self, "voter", None))
