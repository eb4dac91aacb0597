"""Rubric extraction: an LLM writes prompt-specific criteria, merged across the dataset into a
reusable rubric set (``curate/judge/rubric_set.py``).

Why a *stateful* step rather than a full pass: extraction is one LLM call per prompt and merging is
incremental, so it streams with the rest of its stage; the rubric set is the step's state, saved
at every checkpoint (so ``--resume`` continues with the same ids) and written to
``RUN/rubrics.json`` beside the data. Extraction calls go through the LLM request cache like any
other call, so a re-run or a second pipeline over the same prompts costs nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

from curate.context import RunContext
from curate.embed.config import EmbedConfig, build_embedder
from curate.judge.options import LLMCallOptions
from curate.judge.parse import parse_rubric
from curate.judge.prompts import PromptTemplate
from curate.judge.rubric_set import RubricSet
from curate.judge.schemas import rubric_schema
from curate.llm.base import ChatRequest
from curate.llm.config import build_llm
from curate.registry import STEPS
from curate.schema import RecordKind, dumps, prompt_id, render_prompt
from curate.step import Step


class RubricOptions(LLMCallOptions):
    template: str = Field("rubric_extract.j2", description="built-in template name or path to your own .j2 file")
    system: str | None = Field("You write precise grading rubrics. You answer only in JSON.",
                               description="system message sent before the template's text")
    max_criteria: int = Field(5, ge=1, le=20, description="at most this many must-do and penalise items each")
    max_tokens: int = Field(400, ge=1, description="reply length limit")
    embedder: EmbedConfig = Field(default_factory=EmbedConfig,
                                  description="embedder used to merge near-duplicate criteria")
    merge_threshold: float = Field(0.85, gt=0, le=1,
                                   description="criteria at least this cosine-similar join one rubric")


@STEPS.register()
class ExtractRubrics(Step):
    """Write prompt-specific grading criteria with an LLM and merge them into a dataset rubric set.

    Reads: prompt (pair or candidate records). Writes: rubric, a JSON object {prompt_id,
    task_category, criteria: [{id, kind: must|penalize, text}]} where id names the merged rubric
    the criterion joined; when the reply cannot be parsed the criteria are empty and the object keeps
    ``error`` and ``raw``. Stateful: the merged set is saved at each checkpoint and written to
    RUN/rubrics.json. Counts ``prompts``, ``parse_fail:<reason>``, ``criteria``.
    """

    name = "extract_rubrics"
    reads = RecordKind.ANY
    inputs = ("prompt",)
    outputs = ("rubric",)
    Options = RubricOptions
    stateful = True
    uses_model = True

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.rubric_set = RubricSet(self.options.merge_threshold)
        self.run_dir: Path | None = None

    def setup(self, ctx: RunContext) -> None:
        o = self.options
        self.llm = build_llm(o.llm, ctx)
        self.template = PromptTemplate(o.template)
        self.params = o.gen_params(ctx.seed, rubric_schema(o.max_criteria))
        self.embedder = build_embedder(o.embedder, ctx)
        self.run_dir = ctx.run_dir

    def _request(self, prompt: list[dict], tag: str) -> ChatRequest:
        body = self.template.render(conversation=render_prompt(prompt), max_criteria=self.options.max_criteria)
        sys = [{"role": "system", "content": self.options.system}] if self.options.system else []
        return ChatRequest(sys + [{"role": "user", "content": body}], self.params, tag)

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        prompts = batch["prompt"].to_list()
        pids = [prompt_id(p) for p in prompts]
        first = {pid: i for i, pid in reversed(list(enumerate(pids)))}  # one call per distinct prompt
        order = sorted(first, key=first.get)
        completions = self.llm.generate([self._request(prompts[first[pid]], pid) for pid in order])
        self.stats.count_llm(completions)
        rubrics = {pid: self._rubric(pid, c) for pid, c in zip(order, completions)}
        return batch.with_columns(pl.Series("rubric", [rubrics[pid] for pid in pids], dtype=pl.Utf8))

    def _rubric(self, pid: str, completion) -> str:
        self.stats.count("prompts")
        text = completion.text if completion.ok else None
        parsed, reason = parse_rubric(text, self.options.max_criteria)
        if reason:
            self.stats.count(f"parse_fail:{reason}")
            return dumps({"prompt_id": pid, "task_category": "", "criteria": [],
                          "error": completion.error if not completion.ok else reason, "raw": text})
        cat = parsed["task_category"]
        items = [(kind, t, cat) for kind in ("must", "penalize") for t in parsed[kind]]
        ids = self.rubric_set.assign(items, self._embed)
        self.stats.count("criteria", len(items))
        criteria = [{"id": rid, "kind": k, "text": t} for (k, t, _), rid in zip(items, ids)]
        return dumps({"prompt_id": pid, "task_category": cat, "criteria": criteria})

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self.embedder.embed(texts)

    # ------------------------------------------------------------ state
    def save_state(self, directory: Path) -> None:
        self.rubric_set.save(directory)
        self._publish()

    def load_state(self, directory: Path) -> None:
        self.rubric_set = RubricSet.load(directory)

    def _publish(self) -> None:
        if self.run_dir is not None:
            tmp = self.run_dir / ".rubrics.json.tmp"
            tmp.write_text(json.dumps(self.rubric_set.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
            tmp.replace(self.run_dir / "rubrics.json")

    def close(self) -> None:
        self._publish()

    def summary(self) -> dict[str, Any]:
        c = self.stats.counts
        fails = sum(v for k, v in c.items() if k.startswith("parse_fail:"))
        n = len(self.rubric_set)
        return {"rubric_set_size": n, "criteria_per_rubric": round(c["criteria"] / n, 3) if n else None,
                "parse_failure_rate": round(fails / c["prompts"], 4) if c["prompts"] else None}
