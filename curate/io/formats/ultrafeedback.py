"""UltraFeedback (openbmb/UltraFeedback): an instruction with several rated completions.

Row: {"instruction": str, "source": str, "completions": [{"model", "response", "overall_score",
"fine-grained_score", "annotations": {aspect: {"Rating": "4", ...}}}]}. Each row becomes a
**candidate** record whose responses carry their score (option ``score``: ``fine-grained_score``
(default) or ``overall_score``) and per-aspect ratings in their provenance; the pair builder turns
candidates into pairs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from curate.errors import RecordError
from curate.io.formats.base import Format, need
from curate.registry import FORMATS
from curate.schema import make_candidate


def _ratings(annotations: dict) -> dict:
    out = {}
    for aspect, ann in (annotations or {}).items():
        rating = ann.get("Rating") if isinstance(ann, dict) else None
        try:
            out[aspect] = float(rating)
        except (TypeError, ValueError):
            out[aspect] = None
    return out


class UltraFeedbackOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: Literal["fine-grained_score", "overall_score"] = "fine-grained_score"


@FORMATS.register()
class UltraFeedbackFormat(Format):
    name = "ultrafeedback"
    required_columns = ("instruction", "completions")
    kind = "candidate"
    priority = 20
    Options = UltraFeedbackOptions
    structured = ("completions",)

    @classmethod
    def detect(cls, row: dict) -> bool:
        return "instruction" in row and isinstance(row.get("completions"), list)

    def convert(self, row: dict) -> list[dict]:
        score_key = self.opts.score
        completions = need(row, "completions")
        if not completions:
            raise RecordError("no_responses", "completions is empty")
        responses = []
        for i, c in enumerate(completions):
            if not isinstance(c, dict) or not isinstance(c.get("response"), str):
                raise RecordError("wrong_type", f"completions[{i}].response is not a string")
            score = c.get(score_key)
            responses.append({
                "text": c["response"], "model": c.get("model", ""),
                "score": None if score in (None, "N/A") else float(score),
                "provenance": {"ratings": _ratings(c.get("annotations")), "principle": c.get("principle")},
            })
        meta = {k: row[k] for k in ("source", "correct_answers", "incorrect_answers") if k in row}
        return [make_candidate(need(row, "instruction"), responses, self.source, meta)]
