"""Training layouts: the column shapes that reward-model / DPO trainers load unchanged.

    trl       TRL conversational, explicit prompt (https://huggingface.co/docs/trl/dataset_formats)
              {"prompt": [{role, content}, ...], "chosen": [{"role": "assistant", ...}], "rejected": [...]}
    trl_text  TRL standard, explicit prompt, in the Anthropic HH transcript convention, so that
              prompt + chosen is the whole conversation as text:
              {"prompt": "\\n\\nHuman: hi\\n\\nAssistant:", "chosen": " hello", "rejected": " go away"}
    openrlhf  OpenRLHF reward/DPO datasets: chosen and rejected are whole conversations (prompt
              messages + the final assistant message); train with
              ``--chosen_key chosen --rejected_key rejected --apply_chat_template`` (no --prompt_key:
              OpenRLHF takes the prompt as chosen[:-1]); ``margin`` is the preference strength when known
    dpo       plain strings: {"prompt": "User: hi", "chosen": "hello", "rejected": "go away"}; the prompt is
              the conversation rendered as "Role: content" turns (curate.schema.render_prompt)

Every layout also keeps ``id``, ``source`` and whichever curation columns the run produced
(``p_chosen``, ``strength``, ...), so a trained model can be traced back to the records. Trainers
ignore columns they do not know. ``from_layout`` inverts each layout; the round-trip tests use it.
"""

from __future__ import annotations

import re
from typing import Callable

import polars as pl

from curate.errors import ConfigError
from curate.schema import prompt_text_expr

# curation columns carried into every layout when present (scalars only: trainers read them as-is)
CARRY = ("id", "source", "p_chosen", "agreement", "strength", "strength_std", "decision", "cluster_id")

_HH_ROLE = {"user": "Human", "assistant": "Assistant"}


def _assistant(col: str) -> pl.Expr:
    """A response string → a one-message conversation [{"role": "assistant", "content": ...}]."""
    return pl.concat_list(pl.struct(pl.lit("assistant").alias("role"), pl.col(col).alias("content")))


def _hh_prompt() -> pl.Expr:
    """Prompt messages → '\\n\\nHuman: ..\\n\\nAssistant: ..\\n\\nAssistant:' (system text goes first, bare)."""
    role = pl.element().struct.field("role")
    content = pl.element().struct.field("content")
    turn = (pl.when(role == "system").then(content)
            .when(role == "assistant").then(pl.lit("\n\nAssistant: ") + content)
            .otherwise(pl.lit("\n\nHuman: ") + content))
    return pl.col("prompt").list.eval(turn).list.join("") + pl.lit("\n\nAssistant:")


def _trl(df: pl.DataFrame) -> list[pl.Expr]:
    return [pl.col("prompt"), _assistant("chosen").alias("chosen"), _assistant("rejected").alias("rejected")]


def _trl_text(df: pl.DataFrame) -> list[pl.Expr]:
    return [_hh_prompt().alias("prompt"), (pl.lit(" ") + pl.col("chosen")).alias("chosen"),
            (pl.lit(" ") + pl.col("rejected")).alias("rejected")]


def _openrlhf(df: pl.DataFrame) -> list[pl.Expr]:
    exprs = [pl.concat_list(pl.col("prompt"), _assistant(c)).alias(c) for c in ("chosen", "rejected")]
    if "strength" in df.columns:
        exprs.append(pl.col("strength").cast(pl.Float64).alias("margin"))
    return exprs


def _dpo(df: pl.DataFrame) -> list[pl.Expr]:
    return [prompt_text_expr().alias("prompt"), pl.col("chosen"), pl.col("rejected")]


LAYOUTS: dict[str, Callable[[pl.DataFrame], list[pl.Expr]]] = {
    "trl": _trl, "trl_text": _trl_text, "openrlhf": _openrlhf, "dpo": _dpo,
}


def check_layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown export layout '{layout}'; choose one of: {', '.join(LAYOUTS)}")
    return layout


def to_layout(df: pl.DataFrame, layout: str, carry: tuple[str, ...] = CARRY) -> pl.DataFrame:
    """Records in curate's schema → rows of `layout` (core columns first, then carried ones)."""
    exprs = LAYOUTS[check_layout(layout)](df)
    names = {e.meta.output_name() for e in exprs}
    kept = [pl.col(c) for c in carry if c in df.columns and c not in names
            and not isinstance(df.schema[c], (pl.List, pl.Struct))]
    return df.select(*exprs, *kept)


# ---------------------------------------------------------------- inverse (round trips, re-import)

_HH_TURN = re.compile(r"\n\n(Human|Assistant):[ ]?")


def _parse_hh(text: str) -> list[dict]:
    parts = _HH_TURN.split(text)
    msgs = [{"role": "system", "content": parts[0]}] if parts[0] else []
    for i in range(1, len(parts) - 1, 2):
        msgs.append({"role": "user" if parts[i] == "Human" else "assistant", "content": parts[i + 1]})
    return msgs


def _parse_rendered(text: str) -> list[dict]:
    turns = re.split(r"(?:^|\n\n)(System|User|Assistant|Tool): ", text)
    return [{"role": turns[i].lower(), "content": turns[i + 1]} for i in range(1, len(turns) - 1, 2)]


def from_layout(row: dict, layout: str) -> dict:
    """One exported row → {"prompt": messages, "chosen": str, "rejected": str}: the inverse of to_layout.

    The text layouts invert exactly when message contents do not themselves contain the turn markers.
    """
    check_layout(layout)
    if layout == "trl":
        return {"prompt": row["prompt"], "chosen": row["chosen"][-1]["content"],
                "rejected": row["rejected"][-1]["content"]}
    if layout == "openrlhf":
        return {"prompt": row["chosen"][:-1], "chosen": row["chosen"][-1]["content"],
                "rejected": row["rejected"][-1]["content"]}
    if layout == "trl_text":
        prompt = row["prompt"]
        if not prompt.endswith("\n\nAssistant:"):
            raise ValueError("trl_text prompt does not end with '\\n\\nAssistant:'")
        return {"prompt": _parse_hh(prompt[: -len("\n\nAssistant:")]), "chosen": row["chosen"][1:],
                "rejected": row["rejected"][1:]}
    return {"prompt": _parse_rendered(row["prompt"]), "chosen": row["chosen"], "rejected": row["rejected"]}


__all__ = ["CARRY", "LAYOUTS", "check_layout", "from_layout", "to_layout"]
