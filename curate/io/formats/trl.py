"""TRL preference layouts (https://huggingface.co/docs/trl/dataset_formats):

* standard, explicit prompt:       {"prompt": str, "chosen": str, "rejected": str}
* standard, implicit prompt:       {"chosen": str, "rejected": str}  (shared prefix = prompt)
* conversational, explicit prompt: {"prompt": [msgs], "chosen": [msgs], "rejected": [msgs]}
* conversational, implicit prompt: {"chosen": [msgs], "rejected": [msgs]}  (shared messages = prompt)
"""

from __future__ import annotations

from curate.errors import RecordError
from curate.io.formats.base import Format, need
from curate.registry import FORMATS
from curate.schema import make_pair

_CORE = ("prompt", "chosen", "rejected")


def _common_prefix(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    prefix = a[:n]
    # cut back to a whitespace boundary so a shared first word of the responses stays theirs
    cut = max(prefix.rfind(" "), prefix.rfind("\n"))
    return prefix[: cut + 1] if 0 <= cut < len(prefix) - 1 else prefix


def _response(value, field: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        if value[-1].get("role") != "assistant":
            raise RecordError("no_final_response", f"{field} does not end with an assistant message")
        return value[-1].get("content")
    raise RecordError("wrong_type", f"{field} must be a string or a list of messages")


@FORMATS.register()
class TRLFormat(Format):
    name = "trl"
    required_columns = ("chosen", "rejected")
    priority = 50
    structured = ("prompt", "chosen", "rejected")

    @classmethod
    def detect(cls, row: dict) -> bool:
        return "chosen" in row and "rejected" in row

    def convert(self, row: dict) -> list[dict]:
        chosen, rejected = need(row, "chosen"), need(row, "rejected")
        meta = {k: v for k, v in row.items() if k not in _CORE}
        prompt = row.get("prompt")
        if prompt is not None:  # explicit prompt
            if isinstance(chosen, list) and len(chosen) > 1:
                # explicit prompt but full conversations in chosen: keep only the final turn
                chosen, rejected = chosen[-1:], rejected[-1:] if isinstance(rejected, list) else rejected
            return [make_pair(prompt, _response(chosen, "chosen"), _response(rejected, "rejected"),
                              self.source, meta)]
        if isinstance(chosen, list) and isinstance(rejected, list):  # conversational, implicit
            if chosen[:-1] != rejected[:-1]:
                raise RecordError("prompt_mismatch", "chosen and rejected differ before the last message")
            return [make_pair(chosen[:-1], _response(chosen, "chosen"), _response(rejected, "rejected"),
                              self.source, meta)]
        if isinstance(chosen, str) and isinstance(rejected, str):  # standard, implicit
            prefix = _common_prefix(chosen, rejected)
            if not prefix.strip():
                raise RecordError("no_prompt", "implicit-prompt record: chosen and rejected share no prefix")
            return [make_pair(prefix.strip(), chosen[len(prefix):], rejected[len(prefix):], self.source, meta)]
        raise RecordError("wrong_type", "chosen and rejected must both be strings or both message lists")
