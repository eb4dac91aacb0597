"""Rubric-grounded pairwise judge: the position-swapped judge of ``pairwise.py`` with the prompt's own
criteria (from ``extract_rubrics``) in its prompt."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from curate.judge.pairwise import JudgeOptions, PairwiseJudge
from curate.registry import STEPS
from curate.schema import VoteKind, render_prompt


class RubricJudgeOptions(JudgeOptions):
    template: str = Field("rubric_judge.j2", description="built-in template name or path to your own .j2 file")
    voter: str | None = Field(None, description="voter id in the votes column (default: rubric_judge:<model>)")


@STEPS.register()
class RubricJudge(PairwiseJudge):
    """Judge each pair against its prompt's rubric, in both orders, and add a vote of kind ``rubric_judge``.

    Reads: prompt, chosen, rejected, rubric (from ``extract_rubrics``). Writes: votes (appends
    {voter, kind: rubric_judge, p_chosen, margin, raw}), combined over both orders exactly like
    ``llm_judge``. A pair whose rubric has no criteria is not judged: its vote has p_chosen None and
    it is counted as ``skipped:no_rubric``. Figures: ``position_consistency``, ``parse_failure_rate``.
    """

    name = "rubric_judge"
    inputs = ("prompt", "chosen", "rejected", "rubric")
    Options = RubricJudgeOptions
    vote_kind = VoteKind.RUBRIC_JUDGE
    voter_prefix = VoteKind.RUBRIC_JUDGE

    def row_variables(self, row: dict) -> tuple[dict[str, Any] | None, str | None]:
        try:
            rubric = json.loads(row["rubric"]) if row["rubric"] else {}
        except json.JSONDecodeError:
            return None, "bad_rubric"
        criteria = rubric.get("criteria") or []
        if not criteria:
            return None, "no_rubric"
        return {
            "conversation": render_prompt(row["prompt"]),
            "task_category": rubric.get("task_category") or "general",
            "must": [c["text"] for c in criteria if c.get("kind") == "must"],
            "penalize": [c["text"] for c in criteria if c.get("kind") == "penalize"],
            "criteria": criteria,
        }, None
