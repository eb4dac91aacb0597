"""The one record schema every step reads and writes.

A **preference pair** (one row of a batch):

    id          str     stable content hash of (prompt, chosen, rejected) as first ingested; a flip keeps it
    prompt      list[{role, content}]   the conversation up to the responses (multi-turn)
    chosen      str     the preferred final assistant response
    rejected    str     the other response
    source      str     where the pair came from (file name, dataset id, "synth:<model>")
    metadata    str     JSON object: anything the source carried (ratings, attributes, split, ...)
    provenance  str     JSON list of events: {"step": ..., ...} appended by steps that change the pair
    votes       list[{voter, kind, p_chosen, margin, raw, family}]  one entry per labeler vote; ``family``
                names the voters that share a model or an embedding (their errors are correlated, so the
                ensemble pools a family before it counts it as one witness); null (old data) = the voter

A **candidate record** (input to and output of synthesis) has id, prompt, source, metadata,
provenance and ``responses: list[{text, model, provenance, score}]`` instead of chosen/rejected/votes.

Later stages add their own columns (``p_chosen``, ``agreement``, ``decision``, ``cluster_id``...);
extra columns are always allowed, the core ones above are required with these types.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from curate.errors import RecordError, SchemaError

ROLES = ("system", "user", "assistant", "tool")


class RecordKind:
    """The two record kinds (``Step.reads`` / ``writes`` and ``Format.kind`` also accept ``ANY``)."""

    PAIR = "pair"
    CANDIDATE = "candidate"
    ANY = "any"


class VoteKind:
    """``votes[].kind``: what sort of labeler cast a vote (the ensemble weighs ``HUMAN`` apart)."""

    LLM_JUDGE = "llm_judge"
    RUBRIC_JUDGE = "rubric_judge"
    RM = "rm"
    EMBED_RM = "embed_rm"
    LM_LIKELIHOOD = "lm_likelihood"
    HUMAN = "human"


VOTE_KINDS = (VoteKind.LLM_JUDGE, VoteKind.RUBRIC_JUDGE, VoteKind.RM, VoteKind.EMBED_RM, VoteKind.LM_LIKELIHOOD,
              VoteKind.HUMAN)

MESSAGE = pl.Struct({"role": pl.Utf8, "content": pl.Utf8})
MESSAGES = pl.List(MESSAGE)
VOTE = pl.Struct(
    {"voter": pl.Utf8, "kind": pl.Utf8, "p_chosen": pl.Float64, "margin": pl.Float64, "raw": pl.Utf8,
     "family": pl.Utf8}
)
RESPONSE = pl.Struct(
    {"text": pl.Utf8, "model": pl.Utf8, "provenance": pl.Utf8, "score": pl.Float64}
)

PAIR_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Utf8,
    "prompt": MESSAGES,
    "chosen": pl.Utf8,
    "rejected": pl.Utf8,
    "source": pl.Utf8,
    "metadata": pl.Utf8,
    "provenance": pl.Utf8,
    "votes": pl.List(VOTE),
}
CANDIDATE_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Utf8,
    "prompt": MESSAGES,
    "responses": pl.List(RESPONSE),
    "source": pl.Utf8,
    "metadata": pl.Utf8,
    "provenance": pl.Utf8,
}
SCHEMAS = {RecordKind.PAIR: PAIR_SCHEMA, RecordKind.CANDIDATE: CANDIDATE_SCHEMA}


# ---------------------------------------------------------------- ids


# Ids hash a canonical byte string: messages as role\x1fcontent joined by \x1e, then \x1d chosen
# \x1d rejected. Separators are ASCII control characters that chat text does not contain, and the
# same string can be built with polars expressions (see `canonical_expr`) for vectorised ingest.


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).digest()[:8].hex()  # = hexdigest()[:16], without hex-encoding 32 bytes


def _canon_prompt(prompt: Sequence[dict]) -> str:
    return "\x1e".join(f"{m['role']}\x1f{m['content']}" for m in prompt)


def pair_id(prompt: Sequence[dict], chosen: str, rejected: str) -> str:
    """Stable id: the same content always hashes to the same id, across runs and machines."""
    return _hash(f"{_canon_prompt(prompt)}\x1d{chosen}\x1d{rejected}")


def prompt_id(prompt: Sequence[dict]) -> str:
    return _hash(_canon_prompt(prompt))


def canonical_expr(prompt: str = "prompt", chosen: str | None = "chosen", rejected: str | None = "rejected") -> pl.Expr:
    """The string `pair_id` (or, without chosen/rejected, `prompt_id`) hashes, as a polars expression."""
    e = pl.col(prompt).list.eval(
        pl.element().struct.field("role") + pl.lit("\x1f") + pl.element().struct.field("content")
    ).list.join("\x1e")
    if chosen is not None:
        e = e + pl.lit("\x1d") + pl.col(chosen) + pl.lit("\x1d") + pl.col(rejected)
    return e


def hash_strings(texts: Iterable[str] | pl.Series) -> list[str]:
    """`pair_id`/`prompt_id` over canonical strings from `canonical_expr`. A polars Series is hashed
    from its UTF-8 bytes as polars holds them (a Binary view: no str objects built and re-encoded),
    which gives the same digests at about a third of the cost."""
    if isinstance(texts, pl.Series):
        sha = hashlib.sha256
        return [sha(b).digest()[:8].hex() for b in texts.cast(pl.Binary).to_list()]
    return [_hash(t) for t in texts]


# ---------------------------------------------------------------- record builders


def check_messages(messages: Any, field: str = "prompt") -> list[dict]:
    """Validate chat messages; raise RecordError naming the broken field."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    if not isinstance(messages, (list, tuple)) or not messages:
        raise RecordError(f"{field}_invalid", f"{field} must be a non-empty list of messages")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise RecordError(f"{field}_invalid", f"{field}[{i}] is {type(m).__name__}, not a message")
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise RecordError(f"{field}_invalid", f"{field}[{i}].role is {role!r}; expected one of {ROLES}")
        if not isinstance(content, str):
            raise RecordError(f"{field}_invalid", f"{field}[{i}].content is not a string")
        out.append({"role": role, "content": content})
    if not any(m["content"].strip() for m in out):
        raise RecordError(f"{field}_empty", f"{field} has no text")
    return out


def _text(value: Any, field: str) -> str:
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        # conversational layouts carry a response as a one-message list
        value = value[-1].get("content")
    if not isinstance(value, str):
        raise RecordError("wrong_type", f"{field} is {type(value).__name__}, expected a string")
    return value


def dumps(obj: Any, field: str = "metadata") -> str:
    """The one JSON encoder for the schema's JSON text (metadata, provenance, responses' provenance,
    votes' raw): compact separators, the same text polars' struct.json_encode writes on the fast
    ingest path; non-ASCII kept as is; values JSON cannot hold written as their str()."""
    try:
        return json.dumps(obj, ensure_ascii=False, default=str, separators=(",", ":"))
    except RecursionError:  # json's C encoder recurses per level; a hostile row must not end the run
        raise RecordError("too_deep", f"{field} is nested too deeply to store as JSON") from None
    except ValueError as e:  # circular references
        raise RecordError("wrong_type", f"{field} cannot be stored as JSON: {e}") from None


def make_pair(
    prompt: Any,
    chosen: Any,
    rejected: Any,
    source: str = "",
    metadata: dict | None = None,
    provenance: list | None = None,
    votes: list | None = None,
) -> dict:
    """Build one validated pair dict. Raises RecordError(reason) for a bad record."""
    messages = check_messages(prompt)
    c, r = _text(chosen, "chosen"), _text(rejected, "rejected")
    if not c.strip():
        raise RecordError("empty_response", "chosen is empty")
    if not r.strip():
        raise RecordError("empty_response", "rejected is empty")
    if c.strip() == r.strip():
        raise RecordError("identical_responses", "chosen and rejected are the same text")
    return {
        "id": pair_id(messages, c, r),
        "prompt": messages,
        "chosen": c,
        "rejected": r,
        "source": source,
        "metadata": dumps(metadata or {}),
        "provenance": dumps(provenance or [], "provenance"),
        "votes": votes or [],
    }


def make_candidate(prompt: Any, responses: Iterable[dict] = (), source: str = "",
                   metadata: dict | None = None) -> dict:
    messages = check_messages(prompt)
    resp = [
        {"text": _text(r.get("text"), "responses.text"), "model": r.get("model", "") or "",
         "provenance": dumps(r.get("provenance") or {}, "responses.provenance"),
         "score": None if r.get("score") is None else float(r["score"])}
        for r in responses
    ]
    return {"id": prompt_id(messages), "prompt": messages, "responses": resp, "source": source,
            "metadata": dumps(metadata or {}), "provenance": "[]"}


# ---------------------------------------------------------------- frames


def frame(records: list[dict], kind: str = RecordKind.PAIR) -> pl.DataFrame:
    """Records (dicts from make_pair / make_candidate) to a DataFrame with the exact schema."""
    schema = SCHEMAS[kind]
    if not records:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(records, schema=schema)


def empty(kind: str = RecordKind.PAIR) -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMAS[kind])


def kind_of(df: pl.DataFrame) -> str:
    candidate = "responses" in df.columns and "chosen" not in df.columns
    return RecordKind.CANDIDATE if candidate else RecordKind.PAIR


def validate_frame(df: pl.DataFrame, kind: str | None = None, where: str = "batch") -> None:
    """Check that the core columns exist with the schema's types; SchemaError names the column."""
    kind = kind or kind_of(df)
    for col, dtype in SCHEMAS[kind].items():
        if col not in df.columns:
            raise SchemaError(f"{where}: missing column '{col}' of the {kind} schema (curate/schema.py)")
        if df.schema[col] != dtype:
            raise SchemaError(f"{where}: column '{col}' has type {df.schema[col]}, expected {dtype}")


def conform(df: pl.DataFrame, kind: str | None = None) -> pl.DataFrame:
    """Cast core columns to the schema types (e.g. after a round trip through JSON)."""
    kind = kind or kind_of(df)
    return df.with_columns(
        [pl.col(c).cast(t) for c, t in SCHEMAS[kind].items() if c in df.columns]
    )


# ---------------------------------------------------------------- helpers used by many steps


def render_prompt(messages: Sequence[dict]) -> str:
    """A plain-text view of a conversation, for embedding and for judges' prompts."""
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


def prompt_text_expr(col: str = "prompt") -> pl.Expr:
    """Vectorised render_prompt: 'Role: content' turns joined by blank lines."""
    return pl.col(col).list.eval(
        pl.element().struct.field("role").str.to_titlecase() + pl.lit(": ")
        + pl.element().struct.field("content")
    ).list.join("\n\n")


def conform_votes(df: pl.DataFrame) -> pl.DataFrame:
    """`votes` written before the vote had a `family` get it as null (read as the voter's own).

    The field is added by name, then cast: polars >= 2.2 refuses a strict cast between structs of
    different field counts, and a non-strict one would also null any value that fails to cast."""
    if "votes" not in df.columns or df.schema["votes"] == pl.List(VOTE):
        return df
    votes, inner = pl.col("votes"), getattr(df.schema["votes"], "inner", None)
    if isinstance(inner, pl.Struct) and "family" not in {f.name for f in inner.fields}:
        votes = votes.list.eval(pl.element().struct.with_fields(pl.lit(None, dtype=pl.Utf8).alias("family")))
    return df.with_columns(votes.cast(pl.List(VOTE)))


def add_votes(df: pl.DataFrame, voter: str, kind: str, p_chosen: Sequence[float | None],
              margin: Sequence[float | None] | None = None,
              raw: Sequence[str | None] | None = None, family: str | None = None) -> pl.DataFrame:
    """Append one vote per row from `voter` to the `votes` list column (created if absent).

    `family` groups voters whose errors are correlated (same model, same embedding); default: the voter.
    """
    n = df.height
    vote = pl.struct(
        pl.lit(voter, dtype=pl.Utf8).alias("voter"),
        pl.lit(kind, dtype=pl.Utf8).alias("kind"),
        pl.Series(list(p_chosen), dtype=pl.Float64).alias("p_chosen"),
        pl.Series(list(margin) if margin is not None else [None] * n, dtype=pl.Float64).alias("margin"),
        pl.Series(list(raw) if raw is not None else [None] * n, dtype=pl.Utf8).alias("raw"),
        pl.lit(family or voter, dtype=pl.Utf8).alias("family"),
    )
    if "votes" not in df.columns:
        df = df.with_columns(pl.lit([], dtype=pl.List(VOTE)).alias("votes"))
    df = conform_votes(df)
    # concat_list treats the non-list struct column as a one-element list per row
    return df.with_columns(pl.concat_list([pl.col("votes"), vote]).alias("votes"))


def append_provenance(df: pl.DataFrame, event: dict, mask: pl.Series | None = None) -> pl.DataFrame:
    """Append a provenance event (JSON) to every row, or to the rows where `mask` is true."""
    tail = "," + dumps(event) + "]"
    updated = (
        pl.when(pl.col("provenance") == "[]")
        .then(pl.lit("[" + tail[1:]))
        .otherwise(pl.col("provenance").str.slice(0, pl.col("provenance").str.len_chars() - 1) + pl.lit(tail))
    )
    if mask is not None:
        updated = pl.when(pl.lit(mask)).then(updated).otherwise(pl.col("provenance"))
    return df.with_columns(updated.alias("provenance"))
