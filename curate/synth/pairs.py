"""``build_pairs``: candidate records with scored responses → preference pairs, by explicit rules.

Rules, in order, for each candidate:

1. Responses with the same text (after trimming and collapsing spaces) are one response; the
   first one's score is kept (counted as ``duplicate_responses``).
2. Unscored responses are left out (``unscored: skip``) or make the candidate drop (``drop``).
3. A pair needs ``score(chosen) - score(rejected) >= min_margin`` and ``> 0``: chosen and rejected
   are never the same text and never tied.
4. ``best_vs_worst``: the top- vs the bottom-scored response (ties broken by order of appearance);
   ``all_pairs``: every qualifying pair, highest margin first; ``sampled``: ``max_pairs`` of the
   qualifying pairs drawn with a seed derived from the candidate id (reproducible).
   ``max_pairs`` also caps ``all_pairs``.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any, Literal

import polars as pl
from pydantic import Field

from curate.errors import RecordError
from curate.registry import STEPS
from curate.schema import RecordKind, frame, make_pair
from curate.step import Options, Step


class PairOptions(Options):
    strategy: Literal["best_vs_worst", "all_pairs", "sampled"] = Field(
        "best_vs_worst", description="which scored responses to pair")
    min_margin: float = Field(0.0, ge=0, description="least score difference chosen - rejected (ties never pair)")
    max_pairs: int | None = Field(None, ge=1, description="pairs per prompt: sampled draws this many (default 1); "
                                                          "caps all_pairs")
    unscored: Literal["skip", "drop"] = Field("skip", description="skip unscored responses, or drop the candidate")
    seed: int = Field(0, description="seed for strategy 'sampled'")


def _norm(text: str) -> str:
    return " ".join(text.split())


def _scored(responses: list[dict], unscored: str, stats) -> list[dict]:
    seen: set[str] = set()
    out = []
    for r in responses:
        key = _norm(r["text"])
        if not key:
            continue
        if key in seen:
            stats.count("duplicate_responses")
            continue
        seen.add(key)
        if r["score"] is None:
            if unscored == "drop":
                raise RecordError("unscored_response", "a response has no score")
            stats.count("unscored_responses")
            continue
        out.append(r)
    return out


def choose_pairs(cands: list[dict], o: PairOptions, cid: str) -> list[tuple[dict, dict]]:
    """The pairing rules on plain lists of {text, score, ...}: (chosen, rejected) tuples."""

    def ok(a: dict, b: dict) -> bool:
        m = a["score"] - b["score"]
        return m > 0 and m >= o.min_margin

    if o.strategy == "best_vs_worst":
        best = max(cands, key=lambda r: r["score"])  # max/min keep the first on ties
        worst = min(cands, key=lambda r: r["score"])
        return [(best, worst)] if ok(best, worst) else []
    pairs = [(a, b) for a in cands for b in cands if a is not b and ok(a, b)]
    pairs.sort(key=lambda p: -(p[0]["score"] - p[1]["score"]))  # stable: ties keep input order
    if o.strategy == "all_pairs":
        return pairs[: o.max_pairs] if o.max_pairs else pairs
    rng = random.Random(int(hashlib.sha256(f"{o.seed}:{cid}".encode()).hexdigest()[:12], 16))
    return rng.sample(pairs, min(len(pairs), o.max_pairs or 1))


@STEPS.register()
class BuildPairs(Step):
    """Turn scored candidate records into preference pairs: best-vs-worst, all pairs, or sampled.

    Reads: id, prompt, responses[].text/score/model/provenance, source, metadata, provenance
    (candidate records). Writes pair records (chosen, rejected, votes empty); metadata gains
    ``chosen_score``, ``rejected_score``, ``margin``, ``chosen_model``, ``rejected_model``,
    ``candidate_id``; provenance gains a ``build_pairs`` event with both responses' provenance.
    Drops candidates with reasons ``too_few_scored`` (< 2 distinct scored responses),
    ``no_pair_meets_margin`` (all tied or closer than min_margin) and ``unscored_response``.
    """

    name = "build_pairs"
    reads, writes = RecordKind.CANDIDATE, RecordKind.PAIR
    inputs = ("id", "prompt", "responses", "source", "metadata", "provenance")
    outputs = ("chosen", "rejected", "metadata", "provenance")
    Options = PairOptions

    def _pairs_of(self, row: dict) -> list[dict]:
        o = self.options
        cands = _scored(row["responses"] or [], o.unscored, self.stats)
        if len(cands) < 2:
            raise RecordError("too_few_scored", f"{len(cands)} distinct scored responses")
        chosen = choose_pairs(cands, o, row["id"])
        if not chosen:
            raise RecordError("no_pair_meets_margin", f"no two scores differ by >= {o.min_margin} and > 0")
        meta = json.loads(row["metadata"] or "{}")
        prov = json.loads(row["provenance"] or "[]")
        out = []
        for c, r in chosen:
            m = {**meta, "candidate_id": row["id"], "chosen_score": c["score"], "rejected_score": r["score"],
                 "margin": c["score"] - r["score"], "chosen_model": c["model"], "rejected_model": r["model"]}
            event = {"step": self.name, "strategy": o.strategy,
                     "chosen": json.loads(c["provenance"] or "{}"), "rejected": json.loads(r["provenance"] or "{}")}
            out.append(make_pair(row["prompt"], c["text"], r["text"], row["source"], m, prov + [event]))
        return out

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        records: list[dict] = []
        reasons: list[str | None] = []
        for row in batch.iter_rows(named=True):
            try:
                recs = self._pairs_of(row)
            except RecordError as e:
                reasons.append(e.reason)
                continue
            reasons.append(None)
            records.extend(recs)
            self.stats.count("pairs", len(recs))
        why = pl.Series(reasons, dtype=pl.Utf8)
        for reason in sorted({r for r in reasons if r}):
            self.drop(batch, why == reason, reason)  # counted and kept in rejected/ as candidates
        return frame(records, RecordKind.PAIR)

    def summary(self) -> dict[str, Any]:
        n_in = self.stats.records_in
        return {"pairs_per_candidate": round(self.stats.counts.get("pairs", 0) / n_in, 4) if n_in else None}
