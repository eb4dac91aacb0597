"""Anthropic HH-RLHF transcripts: {"chosen": "\\n\\nHuman: ..\\n\\nAssistant: ..", "rejected": ...}.

Both transcripts share the conversation up to the last Assistant turn; that shared prefix becomes
the multi-turn prompt and the last Assistant turn of each becomes chosen / rejected.
"""

from __future__ import annotations

import re

import polars as pl

from curate.errors import RecordError
from curate.io.formats.base import Format, need
from curate.registry import FORMATS
from curate.schema import MESSAGES, PAIR_SCHEMA, VOTE, canonical_expr, hash_strings, make_pair

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
    required_columns = ("chosen", "rejected")
    plain_string_columns = ("chosen", "rejected")
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

    def convert_frame(self, df: pl.DataFrame, slow=None) -> tuple[pl.DataFrame, pl.DataFrame]:
        return convert_frame(self, df, slow)


# ---------------------------------------------------------------- vectorised path (same results)

# rows holding these go row by row (see convert_frame)
_ROW_PATH = "[\x1c-\x1f]"

_A = "\n\nAssistant:"


def _turns(col: str) -> pl.Expr:
    # mark turn boundaries with control characters, split, and drop the text before the first turn;
    # one splitn per turn, its two fields renamed (not two splitn calls, one per field)
    # both markers in one pass (replace_many; they never overlap, so this equals two replace_all)
    pieces = (pl.col(col).str.replace_many(["\n\nHuman:", _A], ["\x1euser\x1f", "\x1eassistant\x1f"])
              .str.split("\x1e").list.slice(1))
    return pieces.list.eval(pl.element().str.splitn("\x1f", 2).struct.rename_fields(["role", "content"])
                            .struct.with_fields(pl.field("content").str.strip_chars()))


def _split_last(col: str) -> tuple[pl.Expr, pl.Expr]:
    """(text before the last Assistant turn, that turn's text), given that turn's text in ``_last_<col>``
    (computed once, in an earlier ``with_columns``: polars' eager frames do not share subexpressions);
    slicing beats re-joining the parts."""
    last = pl.col(f"_last_{col}")
    before = pl.col(col).str.slice(0, pl.col(col).str.len_chars() - last.str.len_chars() - len(_A))
    return before, last


def convert_frame(fmt: HHFormat, df: pl.DataFrame, slow=None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """HH rows → (pairs in the record schema, bad rows with `row`, `reason`, `detail`).

    The common case (both transcripts share the text before their last Assistant turn, which is
    non-empty and differs) is converted with polars expressions; every other row goes through
    `slow(i)` (default: `HHFormat.convert` of the row), so results and reasons are exactly the
    row-by-row ones. The reader passes a `slow` that re-parses the original line, because polars
    coerces mixed-type columns (a number becomes text) and the row path must see the real types.
    Text holding \x1c-\x1f is never "common": \x1e / \x1f are the separators `_turns` uses, and
    Python's ``str.strip`` takes all four for whitespace where polars' ``strip_chars`` takes none.
    """
    if slow is None:
        def slow(i: int) -> list[dict]:
            return fmt.convert(df.row(i, named=True))
    if set(df.columns) != {"chosen", "rejected"} or df.schema["chosen"] != pl.Utf8 or df.schema["rejected"] != pl.Utf8:
        # extra keys: polars cannot tell an absent key from a null one, which metadata must keep apart
        raise TypeError("not plain HH rows")
    cpre, cresp = _split_last("chosen")
    rpre, rresp = _split_last("rejected")
    t = df.with_row_index("row").with_columns(
        pl.col(c).str.split(_A).list.last().alias(f"_last_{c}") for c in ("chosen", "rejected"))
    t = t.with_columns(
        cpre.alias("_cpre"), rpre.alias("_rpre"),
        cresp.str.strip_chars().alias("chosen"), rresp.str.strip_chars().alias("rejected"),
        (cresp.str.contains("\n\nHuman:", literal=True)
         | rresp.str.contains("\n\nHuman:", literal=True)).alias("_human_last"),
    )
    t = t.with_columns(_turns("_cpre").alias("prompt"))
    clean = (
        (pl.col("_cpre") == pl.col("_rpre")) & (pl.col("prompt").list.len() > 0) & ~pl.col("_human_last")
        # a row auto-detection would not call HH (no Human turn), or text with our separators
        & pl.col("_cpre").str.contains("\n\nHuman:", literal=True)
        & ~pl.col("_cpre").str.contains(_ROW_PATH) & ~pl.col("chosen").str.contains(_ROW_PATH)
        & ~pl.col("rejected").str.contains(_ROW_PATH)
        & (pl.col("chosen") != "") & (pl.col("rejected") != "") & (pl.col("chosen") != pl.col("rejected"))
        & (pl.col("prompt").list.eval(pl.element().struct.field("content").str.len_bytes()).list.sum() > 0)
    )
    t = t.with_columns(clean.fill_null(False).alias("_clean"))
    good = t.filter("_clean").select(
        "row", pl.col("prompt").cast(MESSAGES), "chosen", "rejected",
        pl.lit(fmt.source).alias("source"), pl.lit("{}").alias("metadata"), pl.lit("[]").alias("provenance"),
        pl.lit([], dtype=pl.List(VOTE)).alias("votes"), canonical_expr().alias("_canon"),
    )
    good = good.with_columns(pl.Series("id", hash_strings(good.get_column("_canon")), dtype=pl.Utf8))
    good = good.select("row", *PAIR_SCHEMA)
    slow_recs, bad = [], []
    for i in t.filter(~pl.col("_clean")).get_column("row"):
        try:
            slow_recs.extend({"row": i, **rec} for rec in slow(i))
        except RecordError as e:
            bad.append((i, e.reason, e.detail))
    if slow_recs:
        slow = pl.DataFrame(slow_recs, schema={"row": pl.UInt32, **PAIR_SCHEMA})
        good = pl.concat([good, slow]).sort("row")
    bad_df = pl.DataFrame(bad, schema={"row": pl.UInt32, "reason": pl.Utf8, "detail": pl.Utf8}, orient="row")
    return good.drop("row"), bad_df
