"""Multi-aspect rating judge (UltraFeedback style) for candidate records: one LLM call per response
rates every configured aspect; the response's ``score`` becomes the mean, which ``build_pairs`` uses."""

from __future__ import annotations

import json
from typing import Any, Literal

import polars as pl
from pydantic import Field

from curate.context import RunContext
from curate.errors import ConfigError
from curate.judge.options import LLMCallOptions
from curate.judge.parse import parse_ratings
from curate.judge.prompts import PromptTemplate, truncate
from curate.judge.schemas import ratings_schema
from curate.llm.base import ChatRequest
from curate.llm.config import build_llm
from curate.registry import STEPS
from curate.schema import RESPONSE, RecordKind, dumps, render_prompt
from curate.step import Step

ASPECTS = {
    "helpfulness": "does it solve the user's problem with useful, relevant, complete content",
    "honesty": "does it express uncertainty where appropriate and avoid claiming what it cannot know",
    "instruction_following": "does it do exactly what was asked, respecting every constraint in the request",
    "truthfulness": "is every statement factually correct, with nothing made up",
}


class RatingOptions(LLMCallOptions):
    aspects: list[str] = Field(list(ASPECTS), min_length=1,
                               description=f"aspects to rate; built-in descriptions: {', '.join(ASPECTS)}")
    descriptions: dict[str, str] = Field(default_factory=dict,
                                         description="aspect -> what it means (required for new aspects)")
    scale: Literal[5, 10] = Field(5, description="ratings run from 1 to this")
    template: str = Field("rating.j2", description="built-in template name or path to your own .j2 file")
    system: str | None = Field("You are a careful grader of AI assistant responses. You answer only in JSON.",
                               description="system message sent before the template's text")
    max_tokens: int = Field(200, ge=1, description="reply length limit")
    max_response_chars: int = Field(6000, ge=100, description="responses longer than this are cut in the prompt")


@STEPS.register()
class RateResponses(Step):
    """Rate every candidate response on several aspects with an LLM and set its score to their mean.

    Reads: prompt, responses. Writes: responses[].score (mean of the parsed aspect ratings, on the
    1..scale range; None when no rating could be parsed) and, in responses[].provenance (JSON), a
    ``ratings`` object {aspect: rating} plus ``rating_model``; a reply that could not be parsed is kept
    there as ``rating_raw`` with ``rating_error``. An earlier score is kept as ``previous_score``.
    Counts ``responses_rated``, ``parse_fail:<reason>`` and ``aspect_missing:<aspect>``.
    """

    name = "rate_responses"
    reads = RecordKind.CANDIDATE
    inputs = ("prompt", "responses")
    outputs = ("responses",)
    Options = RatingOptions
    uses_model = True

    def setup(self, ctx: RunContext) -> None:
        o = self.options
        unknown = [a for a in o.aspects if a not in ASPECTS and a not in o.descriptions]
        if unknown:
            raise ConfigError(f"step {self.label}: aspects {unknown} have no description; add them under "
                              f"'descriptions' (built-in: {', '.join(ASPECTS)})")
        self.aspects = {a: o.descriptions.get(a) or ASPECTS[a] for a in o.aspects}
        self.llm = build_llm(o.llm, ctx)
        self.template = PromptTemplate(o.template)
        self.model_name = o.llm.model or o.llm.backend
        self.params = o.gen_params(ctx.seed, ratings_schema(list(self.aspects), o.scale))
        self.example = json.dumps({a: 1 for a in self.aspects})

    def _request(self, prompt: list[dict], text: str, tag: str) -> ChatRequest:
        cut, was_cut = truncate(text, self.options.max_response_chars)
        self.stats.count("truncated_responses", int(was_cut))
        body = self.template.render(conversation=render_prompt(prompt), response=cut, aspects=self.aspects,
                                    scale=self.options.scale, example=self.example)
        sys = [{"role": "system", "content": self.options.system}] if self.options.system else []
        return ChatRequest(sys + [{"role": "user", "content": body}], self.params, tag)

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        prompts = batch["prompt"].to_list()
        responses = batch["responses"].to_list()
        requests = [self._request(prompts[i], r["text"], f"{i}:{j}")
                    for i, rs in enumerate(responses) for j, r in enumerate(rs or [])]
        done = self.llm.generate(requests)
        self.stats.count_llm(done)
        completions = iter(done)
        for rs in responses:
            for r in rs or []:
                self._rate(r, next(completions))
        return batch.with_columns(pl.Series("responses", responses, dtype=pl.List(RESPONSE)))

    def _rate(self, response: dict, completion) -> None:
        text = completion.text if completion.ok else None
        ratings, reason = parse_ratings(text, list(self.aspects), self.options.scale)
        prov: dict[str, Any] = _load_obj(response.get("provenance"))
        if response.get("score") is not None:
            prov["previous_score"] = response["score"]
        prov["rating_model"] = self.model_name
        self.stats.count("responses_rated")
        if reason:
            self.stats.count(f"parse_fail:{reason}")
            prov.update(rating_error=completion.error if not completion.ok else reason, rating_raw=text)
            response["score"] = None
        else:
            for a in self.aspects:
                self.stats.count(f"aspect_missing:{a}", int(a not in ratings))
            prov["ratings"] = ratings
            response["score"] = sum(ratings.values()) / len(ratings)
        response["provenance"] = dumps(prov)

    def summary(self) -> dict[str, Any]:
        c = self.stats.counts
        fails = sum(v for k, v in c.items() if k.startswith("parse_fail:"))
        return {"parse_failure_rate": round(fails / c["responses_rated"], 4) if c["responses_rated"] else None}


def _load_obj(text: str | None) -> dict:
    try:
        obj = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {"provenance_text": text}
    return obj if isinstance(obj, dict) else {"provenance": obj}
