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

Every layout also keeps ``id``, ``source``, the user's ``metadata`` and every column the run added
(``p_chosen``, ``strength``, ``agreement``, ``decision``, ``flipped``, ``cluster_id``, ...), so a trained
model can be traced back to the records; only ``votes`` (the voters' raw replies, most of a run's
bytes, summarised by ``p_chosen`` / ``agreement``) stays behind. Trainers ignore columns they do not
know. A float ``margin`` column, which TRL's RewardTrainer adds inside its loss
(``-logsigmoid(r_chosen - r_rejected - margin)``) and OpenRLHF reads as its margin, is written when
the run knows how sure a label is: the record's own ``margin`` when an earlier step wrote one, else
``logit(p_chosen)`` clipped to ±``MARGIN_CLIP`` (a 0.99-sure label is not worth an unbounded margin);
pairs without ``p_chosen`` get 0 (no margin), since a null would break the trainer's collation.
``from_layout`` inverts each layout; the round-trip tests use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import polars as pl

from curate.errors import ConfigError
from curate.schema import prompt_text_expr

# columns written first after the layout's own, when present; every other column follows in record order
CARRY = ("id", "source", "p_chosen", "agreement", "strength", "strength_std", "decision", "cluster_id")
# columns no layout carries: the core ones each layout reshapes, and the votes' raw replies
NOT_CARRIED = ("prompt", "chosen", "rejected", "votes")
MARGIN_CLIP = 5.0  # |logit(p)| ≤ 5, i.e. p_chosen in [0.0067, 0.9933]

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
    return [pl.concat_list(pl.col("prompt"), _assistant(c)).alias(c) for c in ("chosen", "rejected")]


def margin_expr(df: pl.DataFrame) -> pl.Expr | None:
    """The ``margin`` column (see the module docstring), or None when the run has no p_chosen or margin."""
    if "margin" in df.columns:
        m = pl.col("margin").cast(pl.Float64)
    elif "p_chosen" in df.columns:
        p = pl.col("p_chosen").cast(pl.Float64)
        m = (p / (1 - p)).log().clip(-MARGIN_CLIP, MARGIN_CLIP)  # p = 0 or 1 gives ∓inf, clipped
    else:
        return None
    return m.fill_nan(None).fill_null(0.0).alias("margin")


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
    """Records in curate's schema → rows of `layout`: its own columns, ``margin`` when known, then every
    other column (`carry` first), ``votes`` aside."""
    exprs = LAYOUTS[check_layout(layout)](df)
    margin = margin_expr(df)
    if margin is not None:
        exprs.append(margin)
    names = {e.meta.output_name() for e in exprs}
    order = [c for c in carry if c in df.columns] + [c for c in df.columns if c not in carry]
    kept = [pl.col(c) for c in order if c not in names and c not in NOT_CARRIED]
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


__all__ = ["CARRY", "LAYOUTS", "MARGIN_CLIP", "check_layout", "from_layout", "margin_expr", "to_layout"]
