"""NVIDIA HelpSteer2, in its two layouts.

* ``helpsteer2``: one row per response, {"prompt", "response", "helpfulness", "correctness",
  "coherence", "complexity", "verbosity"}; the two responses to a prompt are adjacent rows, and the
  reader merges adjacent rows with the same prompt into one **candidate** record. The response
  score is the ``score_attribute`` option (default ``helpfulness``); all attributes are kept in
  the response's provenance.
* ``helpsteer2_preference``: {"prompt", "response_1", "response_2", "preference_strength"} with
  strength in -3..3 (negative: response_1 is better). Becomes a **pair**; strength 0 (a tie) is
  quarantined as ``tie``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from curate.errors import RecordError
from curate.io.formats.base import Format, need
from curate.registry import FORMATS
from curate.schema import make_candidate, make_pair

ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")


class HelpSteer2Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score_attribute: Literal[ATTRIBUTES] = "helpfulness"  # type: ignore[valid-type]


@FORMATS.register()
class HelpSteer2Format(Format):
    name = "helpsteer2"
    required_columns = ("prompt", "response")
    kind = "candidate"
    priority = 30
    merge_adjacent = True
    Options = HelpSteer2Options

    @classmethod
    def detect(cls, row: dict) -> bool:
        return "response" in row and "prompt" in row and "helpfulness" in row

    def convert(self, row: dict) -> list[dict]:
        key = self.opts.score_attribute
        attrs = {a: row.get(a) for a in ATTRIBUTES if a in row}
        if row.get(key) is None:
            raise RecordError("missing_field", f"field '{key}' is missing")
        response = {"text": need(row, "response"), "model": "", "score": float(row[key]),
                    "provenance": {"attributes": attrs}}
        return [make_candidate(need(row, "prompt"), [response], self.source)]


@FORMATS.register()
class HelpSteer2PreferenceFormat(Format):
    name = "helpsteer2_preference"
    required_columns = ("prompt", "response_1", "response_2", "preference_strength")
    priority = 25

    @classmethod
    def detect(cls, row: dict) -> bool:
        return "response_1" in row and "response_2" in row and "preference_strength" in row

    def convert(self, row: dict) -> list[dict]:
        strength = need(row, "preference_strength")
        try:
            strength = int(strength)
        except (TypeError, ValueError):
            raise RecordError("wrong_type", "preference_strength is not an integer") from None
        if strength == 0:
            raise RecordError("tie", "preference_strength is 0: neither response is preferred")
        a, b = need(row, "response_1"), need(row, "response_2")
        chosen, rejected = (a, b) if strength < 0 else (b, a)
        meta = {k: v for k, v in row.items() if k not in ("prompt", "response_1", "response_2")}
        meta["preference_strength"] = abs(strength)
        return [make_pair(need(row, "prompt"), chosen, rejected, self.source, meta)]
