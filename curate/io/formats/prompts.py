"""Prompt sets for synthesis: ``{"prompt": str | [messages], "system": str (optional), ...}``.

Each row becomes a **candidate** record with no responses yet (``generate_responses`` fills them).
A string prompt is one user message; ``system`` (optional) is prepended as a system message. Other
keys are kept in metadata. Detection is strict and tried last, so it never takes a preference-pair
layout (TRL, HH, HelpSteer2) that also has a ``prompt`` column.
"""

from __future__ import annotations

from curate.errors import RecordError
from curate.io.formats.base import Format, need
from curate.registry import FORMATS
from curate.schema import make_candidate

# keys that mean the row already carries responses: some other adapter's layout
_RESPONSE_KEYS = {"chosen", "rejected", "response", "responses", "completions", "completion",
                  "response_1", "response_2", "answer", "output"}


@FORMATS.register()
class PromptsFormat(Format):
    name = "prompts"
    required_columns = ("prompt",)
    kind = "candidate"
    priority = 900
    structured = ("prompt",)

    @classmethod
    def detect(cls, row: dict) -> bool:
        return "prompt" in row and not (_RESPONSE_KEYS & set(row))

    def convert(self, row: dict) -> list[dict]:
        prompt = need(row, "prompt")
        if isinstance(prompt, str):
            if not prompt.strip():
                raise RecordError("prompt_empty", "prompt is empty")
            prompt = [{"role": "user", "content": prompt}]
        if not isinstance(prompt, list):
            raise RecordError("wrong_type", f"prompt is {type(prompt).__name__}, expected a string or messages")
        system = row.get("system")
        if system is not None:
            if not isinstance(system, str):
                raise RecordError("wrong_type", "system is not a string")
            prompt = [{"role": "system", "content": system}] + list(prompt)
        meta = {k: v for k, v in row.items() if k not in ("prompt", "system")}
        return [make_candidate(prompt, [], self.source, meta)]
