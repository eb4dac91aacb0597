"""The texts dedup and decontamination compare: views of a pair, and normalisation, as polars
expressions so a batch is processed in one vectorised pass."""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field

from curate.schema import prompt_text_expr
from curate.step import Options

PromptView = Literal["conversation", "first_user", "last_user", "user_turns"]


class Normalise(Options):
    lowercase: bool = Field(True, description="compare case-insensitively")
    whitespace: bool = Field(True, description="collapse runs of whitespace and strip the ends")
    punctuation: bool = Field(False, description="remove punctuation and symbols before comparing")


def normalised(expr: pl.Expr, how: Normalise) -> pl.Expr:
    if how.punctuation:
        expr = expr.str.replace_all(r"[\p{P}\p{S}]+", " ")
    if how.lowercase:
        expr = expr.str.to_lowercase()
    if how.whitespace:
        expr = expr.str.replace_all(r"\s+", " ").str.strip_chars()
    return expr


def prompt_view(view: PromptView = "conversation", col: str = "prompt") -> pl.Expr:
    """The prompt as text: the whole conversation ('Role: content' turns), or only user turns."""
    if view == "conversation":
        return prompt_text_expr(col)
    users = pl.col(col).list.eval(
        pl.element().filter(pl.element().struct.field("role") == "user").struct.field("content"))
    if view == "first_user":
        return users.list.first().fill_null("")
    if view == "last_user":
        return users.list.last().fill_null("")
    return users.list.join("\n\n")


def pair_text() -> pl.Expr:
    """Prompt and both responses in one string; the separator cannot occur in normal text."""
    return pl.concat_str([prompt_text_expr(), pl.col("chosen"), pl.col("rejected")], separator="\x1f")


def stable_hashes(values: list[str]) -> list[int]:
    """64-bit content hashes that are the same in every run and polars version (state files keep them)."""
    import hashlib

    return [int.from_bytes(hashlib.blake2b(v.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                           "little", signed=True) for v in values]
