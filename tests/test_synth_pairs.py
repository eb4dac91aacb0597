"""build_pairs: hand-worked examples of each rule."""

from __future__ import annotations

import json

import polars as pl

from curate.schema import frame, make_candidate, validate_frame
from curate.synth.pairs import BuildPairs


def cand(prompt: str, scored: list[tuple[str, float | None]]):
    return make_candidate(prompt, [{"text": t, "model": f"m{i}", "score": s, "provenance": {"seed": i}}
                                   for i, (t, s) in enumerate(scored)], source="test")


def run(records, **opts):
    step = BuildPairs(**opts)
    out = step(frame(records, "candidate"))
    return step, out


def test_best_vs_worst_worked_example():
    # scores A=9, B=3, C=6, D=1 → chosen A (9), rejected D (1), margin 8
    step, out = run([cand("q", [("A", 9), ("B", 3), ("C", 6), ("D", 1)])])
    validate_frame(out, "pair")
    assert out.select("chosen", "rejected").rows() == [("A", "D")]
    meta = json.loads(out["metadata"][0])
    assert meta["margin"] == 8 and meta["chosen_model"] == "m0" and meta["rejected_model"] == "m3"
    event = json.loads(out["provenance"][0])[-1]
    assert event["step"] == "build_pairs" and event["chosen"] == {"seed": 0} and event["rejected"] == {"seed": 3}


def test_all_pairs_respects_margin_and_never_ties():
    # A=5, B=5 (tie), C=3, D=2: pairs with margin >= 2 are A>C, B>C, A>D, B>D (A-B tie and C-D=1 excluded)
    _, out = run([cand("q", [("A", 5), ("B", 5), ("C", 3), ("D", 2)])], strategy="all_pairs", min_margin=2)
    assert sorted(out.select("chosen", "rejected").rows()) == [("A", "C"), ("A", "D"), ("B", "C"), ("B", "D")]
    assert (out["chosen"] != out["rejected"]).all()


def test_sampled_is_reproducible_and_capped():
    recs = [cand("q", [("A", 4), ("B", 3), ("C", 2), ("D", 1)])]
    _, a = run(recs, strategy="sampled", max_pairs=2, seed=1)
    _, b = run(recs, strategy="sampled", max_pairs=2, seed=1)
    assert a.height == 2 and a.select("chosen", "rejected").rows() == b.select("chosen", "rejected").rows()


def test_drops_are_counted_by_reason():
    recs = [
        cand("one", [("A", 1)]),                             # too few scored
        cand("tied", [("A", 2), ("B", 2)]),                  # tie → no pair
        cand("dup", [("same  text", 5), ("same text", 1)]),  # identical after spacing → one response
        cand("unscored", [("A", None), ("B", 3), ("C", 1)]),  # skip the unscored one → B vs C
    ]
    step, out = run(recs)
    assert out.select("chosen", "rejected").rows() == [("B", "C")]
    assert dict(step.stats.dropped) == {"too_few_scored": 2, "no_pair_meets_margin": 1}
    assert step.stats.counts["duplicate_responses"] == 1 and step.stats.counts["unscored_responses"] == 1
    dropped = pl.concat(step.take_dropped(), how="diagonal_relaxed")
    assert sorted(dropped["_reason"].to_list()) == ["no_pair_meets_margin", "too_few_scored", "too_few_scored"]


def test_unscored_drop_option():
    step, out = run([cand("q", [("A", None), ("B", 3), ("C", 1)])], unscored="drop")
    assert out.height == 0 and dict(step.stats.dropped) == {"unscored_response": 1}
