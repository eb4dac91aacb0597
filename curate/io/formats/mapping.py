"""Generic column mapping for any other layout.

``format: mapping`` with ``columns`` naming where each part of a pair is:

* chosen / rejected columns: ``columns: {prompt: question, chosen: good, rejected: bad, system: sys}``
* two responses and a winner column: ``columns: {prompt: input, response_a: output_1, response_b:
  output_2, winner: label}`` with ``format_options: {winner_values: {1: response_a, 2: response_b}}``.
  A winner value mapped to ``tie``, or one not listed, is quarantined (``tie`` / ``unknown_winner``).

``system`` is optional. Unmapped columns are kept in metadata.

Lists of response variants (several chosen and several rejected texts per prompt, as style-controlled
benchmarks publish them) are expanded into pairs with ``format_options: {expand: cross}`` (every
chosen × every rejected), ``matched`` (i-th with i-th; lists of different lengths are quarantined
as ``variant_count_mismatch``) or ``first``; each pair's metadata has ``chosen_index`` and
``rejected_index``. A pair repeated within one row (identical variants) is emitted once, so ids stay
unique.
"""

from __future__ import annotations

from itertools import product
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from curate.errors import ConfigError, RecordError
from curate.io.formats.base import Format, decode_json_cells, need
from curate.registry import FORMATS
from curate.schema import make_pair

ROLES = ("prompt", "system", "chosen", "rejected", "response_a", "response_b", "winner")
Side = Literal["response_a", "response_b", "tie"]


class MappingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    columns: dict[str, str]
    # winner column value → which response won; keys compare as text, so YAML 1 matches a cell "1"
    winner_values: dict[str, Side] | None = None
    expand: Literal["cross", "matched", "first"] | None = None

    @field_validator("winner_values", mode="before")
    @classmethod
    def _text_keys(cls, v: Any) -> Any:
        return {str(k): x for k, x in v.items()} if isinstance(v, dict) else v


@FORMATS.register()
class MappingFormat(Format):
    name = "mapping"
    required_columns = ("the columns named in input.columns",)
    priority = 1000  # never auto-detected: it needs columns from the config
    Options = MappingOptions

    def __init__(self, source: str = "", **options: Any):
        options.setdefault("columns", {})
        super().__init__(source, **options)
        self.columns = cols = self.opts.columns
        unknown = sorted(set(cols) - set(ROLES))
        if unknown:
            raise ConfigError(f"format 'mapping': unknown input.columns key(s) {unknown}; allowed: {', '.join(ROLES)}")
        winner = ("response_a", "response_b", "winner")
        if any(k in cols for k in winner):
            need_keys, self.by_winner = ("prompt", *winner), True
            if not self.opts.winner_values:
                raise ConfigError("format 'mapping' with a winner column needs format_options.winner_values, "
                                  "e.g. {1: response_a, 2: response_b}")
        else:
            need_keys, self.by_winner = ("prompt", "chosen", "rejected"), False
        missing = [k for k in need_keys if k not in cols]
        if missing:
            raise ConfigError(f"format 'mapping' needs input.columns for {missing} "
                              f"(either chosen + rejected, or response_a + response_b + winner)")

    def structured_fields(self) -> tuple[str, ...]:
        return tuple(self.columns[k] for k in ("prompt", "chosen", "rejected", "response_a", "response_b")
                     if k in self.columns)

    def decode_cells(self, row: dict) -> dict:
        return decode_json_cells(row, self.structured_fields(), strings_too=self.opts.expand is not None)

    def convert(self, row: dict) -> list[dict]:
        c = self.columns
        prompt = need(row, c["prompt"])
        if isinstance(prompt, str):
            prompt = [{"role": "user", "content": prompt}]
        if c.get("system") and row.get(c["system"]):
            prompt = [{"role": "system", "content": row[c["system"]]}, *prompt]
        meta = {k: v for k, v in row.items() if k not in set(c.values())}
        chosen, rejected = self._sides(row)
        if self.opts.expand is None:
            return [make_pair(prompt, chosen, rejected, self.source, meta)]
        return self._expand(prompt, chosen, rejected, meta)

    def _sides(self, row: dict) -> tuple[Any, Any]:
        c = self.columns
        if not self.by_winner:
            return need(row, c["chosen"]), need(row, c["rejected"])
        value = need(row, c["winner"])
        side = self.opts.winner_values.get(str(value))
        if side is None:
            raise RecordError("unknown_winner", f"{c['winner']} is {value!r}; winner_values lists "
                                                f"{sorted(self.opts.winner_values)}")
        if side == "tie":
            raise RecordError("tie", f"{c['winner']} is {value!r}: a tie, neither response is preferred")
        a, b = need(row, c["response_a"]), need(row, c["response_b"])
        return (a, b) if side == "response_a" else (b, a)

    def _expand(self, prompt: Any, chosen: Any, rejected: Any, meta: dict) -> list[dict]:
        cs, rs = _variants(chosen, "chosen"), _variants(rejected, "rejected")
        if self.opts.expand == "cross":
            pairs = list(product(range(len(cs)), range(len(rs))))
        elif self.opts.expand == "matched":
            if len(cs) != len(rs):
                raise RecordError("variant_count_mismatch", f"{len(cs)} chosen but {len(rs)} rejected variants")
            pairs = [(i, i) for i in range(len(cs))]
        else:
            pairs = [(0, 0)]
        out, seen = [], set()
        for i, j in pairs:
            try:
                rec = make_pair(prompt, cs[i], rs[j], self.source, dict(meta, chosen_index=i, rejected_index=j))
            except RecordError as e:
                raise RecordError(e.reason, f"chosen[{i}] / rejected[{j}]: {e.detail}") from None
            if rec["id"] not in seen:
                seen.add(rec["id"])
                out.append(rec)
        return out


def _variants(value: Any, field: str) -> list:
    """A response column under ``expand``: a list of variants (a single response is a list of one)."""
    if isinstance(value, str) or (isinstance(value, list) and value and isinstance(value[0], dict)
                                  and "role" in value[0]):
        return [value]
    if not isinstance(value, list) or not value:
        raise RecordError("wrong_type", f"{field} must be a non-empty list of response variants")
    return value
