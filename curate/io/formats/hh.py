"""Anthropic HH-RLHF transcripts: {"chosen": "\\n\\nHuman: ..\\n\\nAssistant: ..", "rejected": ...}.

Both transcripts share the conversation up to the last Assistant turn; that shared prefix becomes
the multi-turn prompt and the last Assistant turn of each becomes chosen / rejected.
"""

from __future__ import annotations

import re

from curate.errors import RecordError
from curate.io.formats.base import Format, need
from curate.registry import FORMATS
from curate.schema import make_pair

_TURN = re.compile(r"\n\n(Human|Assistant):")
_ROLE = {"Human": "user", "Assistant": "assistant"}


def parse_transcript(text: str) -> list[dict]:
    """'\\n\\nHuman: a\\n\\nAssistant: b' → [{user: a}, {assistant: b}]. Text before the first turn is dropped."""
    parts = _TURN.split(text)
    # parts = [preamble, role, content, role, content, ...]
    msgs = []
    for i in range(1, len(parts) - 1, 2):
        msgs.append({"role": _ROLE[parts[i]], "content": parts[i + 1].strip()})
    return msgs


@FORMATS.register()
class HHFormat(Format):
    name = "hh"
    priority = 10

    @classmethod
    def detect(cls, row: dict) -> bool:
        c = row.get("chosen")
        return isinstance(c, str) and "\n\nHuman:" in c and "\n\nAssistant:" in c

    def convert(self, row: dict) -> list[dict]:
        chosen, rejected = need(row, "chosen"), need(row, "rejected")
        if not isinstance(chosen, str) or not isinstance(rejected, str):
            raise RecordError("wrong_type", "chosen and rejected must be transcript strings")
        c, r = parse_transcript(chosen), parse_transcript(rejected)
        if not c or not r:
            raise RecordError("not_a_transcript", "no '\\n\\nHuman:' / '\\n\\nAssistant:' turns found")
        if c[-1]["role"] != "assistant" or r[-1]["role"] != "assistant":
            raise RecordError("no_final_response", "a transcript does not end with an Assistant turn")
        if c[:-1] != r[:-1]:
            raise RecordError("prompt_mismatch", "chosen and rejected transcripts differ before the last turn")
        meta = {k: v for k, v in row.items() if k not in ("chosen", "rejected")}
        return [make_pair(c[:-1], c[-1]["content"], r[-1]["content"], self.source, meta)]
