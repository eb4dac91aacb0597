"""The ensemble: a hand-worked 5-voter case for weighted log-odds and for Dawid–Skene, and re-runs.

Voters: j1, j2 (llm_judge), rm (rm), emb (embed_rm), h (human). L = logit(0.8) = ln 4 ≈ 1.386.
"""

import json
import math

import numpy as np
import polars as pl
import pytest

from curate.schema import add_votes, frame, make_pair
from curate.vote.aggregate import DawidSkene, WeightedLogOdds
from curate.vote.ensemble import Ensemble, EnsembleDS
from curate.vote.matrix import VoteMatrix, logit

VOTERS = [("j1", "llm_judge"), ("j2", "llm_judge"), ("rm", "rm"), ("emb", "embed_rm"), ("h", "human")]
L = math.log(4)


def pairs_with_votes(table: dict[str, list]) -> pl.DataFrame:
    """table: pair name → [p of j1, j2, rm, emb, h] (None = no vote)."""
    names = list(table)
    df = frame([make_pair(f"question {n}", f"first answer {n}", f"second answer {n}") for n in names])
    df = df.with_columns(pl.Series("name", names))
    for j, (voter, kind) in enumerate(VOTERS):
        col = [table[n][j] for n in names]
        if any(v is not None for v in col):
            df = add_votes(df, voter, kind, col)
    return df


# name: votes of j1, j2, rm, emb, h  → (decision, reason, p out, agreement, strength out)
HAND = {
    # all five agree at 0.8: mean logit L → p 0.8
    "A": ([0.8, 0.8, 0.8, 0.8, 0.8], ("keep", "consensus_for", 0.8, 1.0, L)),
    # four voters at 0.1, all against the label → flip; out: p 0.9, strength +ln 9
    "B": ([0.1, 0.1, 0.1, 0.1, None], ("flip", "consensus_against", 0.9, 1.0, math.log(9))),
    # two for, two against: p 0.5, half the voters on the p≥0.5 side → disagree
    "C": ([0.8, 0.2, 0.8, 0.2, None], ("route", "voters_disagree", 0.5, 0.5, 0.0)),
    # all agree but barely: logit(0.52) = 0.08 < route_strength 0.2
    "D": ([0.52, 0.52, 0.52, 0.52, None], ("route", "near_zero_strength", 0.52, 1.0, logit(0.52))),
    # three at 0.3, one at 0.7: mean logit -0.424 → p 0.396, 3/4 agree; not strong enough to flip
    "E": ([0.3, 0.3, 0.3, 0.7, None], ("drop", "leans_against", 0.3957, 0.75, -0.4236)),
    # all mildly for: logits .619 .405 .201 .323 → mean .387 → p .5956 < keep_above 0.6
    "F": ([0.65, 0.6, 0.55, 0.58, None], ("drop", "weak_preference", 0.5956, 1.0, 0.387)),
    # a human (weight 3) against four machines at 0.8: (4L - 3L)/7 = L/7 → p 0.549; human → resolved
    "G": ([0.8, 0.8, 0.8, 0.8, 0.2], ("keep", "human_resolved", 0.5494, 0.8, 3 * L / 5)),
    # machines at 0.6 (logit .405) vs human 0.2: (1.622 - 4.159)/7 = -.362 → p .410 → flip by the human
    "H": ([0.6, 0.6, 0.6, 0.6, 0.2], ("flip", "human_resolved", 1 - 0.4104, 0.2, -(4 * logit(0.6) - L) / 5)),
    # nobody voted
    "I": ([None] * 5, ("keep", "no_votes", 0.5, None, None)),
}


@pytest.fixture
def hand():
    return pairs_with_votes({k: v[0] for k, v in HAND.items()})


def test_weighted_log_odds_by_hand(hand):
    p = WeightedLogOdds(human_weight=3.0).posterior(VoteMatrix.from_frame(hand))
    assert p[0] == pytest.approx(0.8)
    assert p[2] == pytest.approx(0.5)
    assert p[6] == pytest.approx(1 / (1 + math.exp(-L / 7)))
    # pool=sum is naive Bayes: four independent 0.8 votes and a 0.8 human at weight 1 → logit 5L
    p_sum = WeightedLogOdds(human_weight=1.0, pool="sum").posterior(VoteMatrix.from_frame(hand))
    assert p_sum[0] == pytest.approx(1 / (1 + math.exp(-5 * L)))


def test_ensemble_decisions_by_hand(hand):
    step = Ensemble(policy="hard")
    out = step(hand)
    kept = {r["name"]: r for r in out.iter_rows(named=True)}
    for name, (_, (decision, reason, p, agree, s)) in HAND.items():
        if decision == "drop":
            assert name not in kept
            continue
        row = kept[name]
        assert (row["decision"], row["decision_reason"]) == (decision, reason), name
        assert row["p_chosen"] == pytest.approx(p, abs=1e-3), name
        if agree is None:
            assert row["n_voters"] == 0 and row["agreement"] is None
        else:
            assert row["agreement"] == pytest.approx(agree), name
            assert row["strength"] == pytest.approx(s, abs=1e-3), name
        assert row["flipped"] == (decision == "flip"), name
    assert step.stats.dropped == {"leans_against": 1, "weak_preference": 1}
    c = step.stats.counts
    assert (c["decision.keep"], c["decision.flip"], c["decision.route"], c["decision.drop"]) == (3, 2, 2, 2)
    assert c["decision.route.voters_disagree"] == 1 and c["decision.flip.human_resolved"] == 1
    assert step.summary()["flip_rate"] == pytest.approx(2 / 9)


def test_flip_swaps_texts_votes_and_logs_provenance(hand):
    out = Ensemble(policy="hard")(hand)
    b = out.filter(pl.col("name") == "B").row(0, named=True)
    assert b["chosen"] == "second answer B" and b["rejected"] == "first answer B"
    cast = [v for v in b["votes"] if v["p_chosen"] is not None]  # the helper adds h's empty vote
    assert [v["p_chosen"] for v in cast] == pytest.approx([0.9] * 4)
    assert [v["margin"] for v in cast] == [None] * 4  # no margin given: still none (read as logit p)
    events = json.loads(b["provenance"])
    assert events == [{"step": "ensemble", "event": "flip", "reason": "consensus_against"}]
    assert b["id"] == hand.filter(pl.col("name") == "B")["id"][0]  # a flip keeps the id


def test_rerun_is_stable_and_human_votes_resolve_routes(hand):
    first = Ensemble(policy="hard")(hand)
    again = Ensemble(policy="hard")(first)
    # every pair that survived keeps its place; flipped ones now read as consensus for, still flipped
    a = {r["name"]: r for r in again.iter_rows(named=True)}
    f = {r["name"]: r for r in first.iter_rows(named=True)}
    assert set(a) == set(f)
    assert a["B"]["decision"] == "keep" and a["B"]["flipped"] and a["B"]["chosen"] == "second answer B"
    assert a["C"]["decision"] == "route"
    # humans answer the routed pairs: C for the current chosen, D against it
    routed = again.filter(pl.col("decision") == "route").sort("name")
    assert routed["name"].to_list() == ["C", "D"]
    voted = add_votes(routed, "h", "human", [1.0, 0.0])
    third = {r["name"]: r for r in Ensemble(policy="hard")(voted).iter_rows(named=True)}
    assert (third["C"]["decision"], third["C"]["decision_reason"]) == ("keep", "consensus_for")
    assert third["D"]["decision"] == "flip" and third["D"]["flipped"]


def test_flip_back_when_new_votes_contradict_a_flip(hand):
    b = Ensemble(policy="hard")(hand).filter(pl.col("name") == "B")
    # a human strongly disagrees with the flip: the pair goes back to its original orientation
    back = Ensemble(policy="hard", human_weight=10.0)(add_votes(b, "h", "human", [0.0])).row(0, named=True)
    assert back["decision"] == "flip" and back["flipped"] is False
    assert back["chosen"] == "first answer B"
    assert [e["event"] for e in json.loads(back["provenance"])] == ["flip", "flip"]


def test_route_false_drops_instead(hand):
    step = Ensemble(policy="hard", route=False)
    out = step(hand)
    assert "route" not in out["decision"].to_list()
    assert step.stats.dropped["route_voters_disagree"] == 1
    assert step.stats.dropped["route_near_zero_strength"] == 1


# ------------------------------------------------------------ Dawid–Skene, hand-built reliabilities

WRONG_LABELS = {3, 8, 13, 18}  # in these 4 of 20 pairs the dataset's label is wrong
RIGHT_ON = {  # on which pairs each voter sees the truth → its accuracy
    "j1": set(range(20)),  # 1.00
    "j2": set(range(20)) - {0, 10},  # 0.90
    "rm": set(range(0, 20, 2)),  # 0.50, a coin
    "emb": {1, 2, 5, 7},  # 0.20, mostly wrong
    "h": set(range(20)) - {4, 9, 14},  # 0.85
}


def ds_case() -> tuple[pl.DataFrame, np.ndarray]:
    truth = np.array([0 if i in WRONG_LABELS else 1 for i in range(20)])  # 1: the label is right
    table = {}
    for i in range(20):
        sides = [truth[i] if i in RIGHT_ON[v] else 1 - truth[i] for v, _ in VOTERS]
        table[f"p{i:02d}"] = [0.8 if s else 0.2 for s in sides]
    return pairs_with_votes(table), truth


def test_dawid_skene_estimates_the_reliabilities():
    df, truth = ds_case()
    ds = DawidSkene(human_weight=1.0).fit(VoteMatrix.from_frame(df))
    acc = ds.accuracy
    assert acc["j1"] > 0.85 and acc["j2"] > 0.78 and acc["h"] > 0.72
    assert abs(acc["rm"] - 0.5) < 0.1  # the coin gets (almost) no weight ...
    # ... and neither does the contrarian: without gold, being against the consensus is not proof of being
    # wrong (a fooled majority looks the same), so its votes are ignored, never inverted
    assert acc["emb"] == pytest.approx(0.5)
    assert ds.fallback == ""  # these voters err independently: the fit is trusted
    assert ds.prior == pytest.approx(16 / 20, abs=0.08)
    p = ds.posterior(VoteMatrix.from_frame(df))
    assert ((p > 0.5) == truth).all()
    # plain equal-weight pooling is fooled where the coin and the contrarian gang up with one error
    eq = WeightedLogOdds(human_weight=1.0).posterior(VoteMatrix.from_frame(df))
    assert ((eq > 0.5) == truth).mean() < 1.0


def test_ensemble_ds_step_flips_the_wrong_labels():
    df, truth = ds_case()
    step = EnsembleDS(human_weight=1.0, flip_agreement=0.0)
    step.fit(lambda: iter([df.slice(0, 10), df.slice(10)]))
    out = pl.concat([step(df.slice(0, 10)), step(df.slice(10))])
    flipped = sorted(int(n[1:]) for n in out.filter(pl.col("flipped"))["name"])
    assert flipped == sorted(WRONG_LABELS)
    assert step.stats.figures["voter_accuracy"]["rm"] == pytest.approx(0.5, abs=0.1)
