"""curate's own record layout (a previous run's output): ids, votes and provenance are kept as they are,
so one pipeline's output can be the next one's input."""

from __future__ import annotations

import json

from curate.errors import RecordError
from curate.io.formats.base import Format, need
from curate.registry import FORMATS
from curate.schema import make_candidate, make_pair


def _json_text(value, field: str) -> str:
    if value is None:
        return "{}" if field == "metadata" else "[]"
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            raise RecordError("wrong_type", f"{field} is not valid JSON") from None
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


@FORMATS.register()
class NativeFormat(Format):
    name = "curate"
    required_columns = ("id", "prompt", "chosen", "rejected")
    priority = 0
    structured = ("prompt", "votes")

    @classmethod
    def detect(cls, row: dict) -> bool:
        return "id" in row and "provenance" in row and "chosen" in row and isinstance(row.get("prompt"), list)

    def convert(self, row: dict) -> list[dict]:
        rec = make_pair(need(row, "prompt"), need(row, "chosen"), need(row, "rejected"),
                        row.get("source") or self.source, votes=list(row.get("votes") or []))
        rec["id"] = str(need(row, "id"))
        rec["metadata"] = _json_text(row.get("metadata"), "metadata")
        rec["provenance"] = _json_text(row.get("provenance"), "provenance")
        return [rec]


@FORMATS.register()
class NativeCandidateFormat(Format):
    name = "curate_candidate"
    required_columns = ("id", "prompt", "responses")
    kind = "candidate"
    priority = 1
    structured = ("prompt", "responses")

    @classmethod
    def detect(cls, row: dict) -> bool:
        return "id" in row and "provenance" in row and isinstance(row.get("responses"), list)

    def convert(self, row: dict) -> list[dict]:
        responses = [dict(r, provenance=json.loads(r["provenance"]) if isinstance(r.get("provenance"), str)
                          else r.get("provenance")) for r in need(row, "responses")]
        rec = make_candidate(need(row, "prompt"), responses, row.get("source") or self.source)
        rec["id"] = str(need(row, "id"))
        rec["metadata"] = _json_text(row.get("metadata"), "metadata")
        rec["provenance"] = _json_text(row.get("provenance"), "provenance")
        return [rec]
