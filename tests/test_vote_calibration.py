"""Leak-free folds, vote families, gold calibration (Clopper–Pearson), the soft policy and the reason
logged for human-resolved flips."""

import json

import numpy as np
import polars as pl
import pytest

from curate.io.writers import write_frame
from curate.schema import VOTE, add_votes, frame, make_pair
from curate.vote.bt import cross_fit
from curate.vote.calibrate import clopper_pearson
from curate.vote.ensemble import Ensemble, EnsembleDS
from curate.vote.groups import group_folds, group_ids
from curate.vote.matrix import VoteMatrix


def test_no_prompt_group_spans_two_folds():
    # 30 prompts x 3 pairs, plus a dedup cluster joining prompts 0 and 1 under different wording
    recs = [make_pair(f"Prompt  {i // 3}" if i % 2 else f"prompt {i // 3}", f"a{i}", f"b{i}") for i in range(90)]
    df = frame(recs).with_columns(pl.Series("cluster_id", ["c0" if i in (0, 3) else None for i in range(90)]))
    g = group_ids(df)
    assert len(set(g)) == 29  # case/whitespace variants are one prompt; the cluster merges 0 and 1
    for seed in range(3):
        folds = group_folds(g, 5, seed)
        for grp in set(g):
            assert len(set(folds[g == grp])) == 1
        assert np.bincount(folds).max() - np.bincount(folds).min() <= 6  # whole groups, near-equal folds


def test_grouped_cross_fit_cannot_recall_a_sibling_label():
    # each prompt's pairs are copies: a row split lets the fold model memorise the sibling's random label
    rng = np.random.default_rng(0)
    base = rng.normal(size=(40, 64))
    d = np.repeat(base, 3, axis=0)
    y = np.repeat(rng.random(40) < 0.5, 3).astype(float)
    groups = np.repeat(np.arange(40), 3)
    leaky = ((cross_fit(d, y, k=5, c=100.0, seed=0) > 0) == (y == 1)).mean()
    honest = ((cross_fit(d, y, k=5, c=100.0, seed=0, groups=groups) > 0) == (y == 1)).mean()
    assert leaky > 0.85 and honest < 0.7  # labels are noise: only leakage can predict them


def _pairs(n: int) -> pl.DataFrame:
    return frame([make_pair(f"question {i}", f"answer one {i}", f"answer two {i}") for i in range(n)])


def test_views_of_one_embedding_count_as_one_witness():
    df = _pairs(2)
    for s in range(4):  # four views of one embedding, all against the label
        df = add_votes(df, f"emb:v{s}", "embed_rm", [0.1, 0.1], family="embed:minilm")
    df = add_votes(df, "judge", "llm_judge", [0.9, 0.9])
    vm = VoteMatrix.from_frame(df)
    assert vm.families == ["embed:minilm"] * 4 + ["judge"]
    fam = vm.by_family()
    assert fam.voters == ["embed:minilm", "judge"] and fam.p[0] == pytest.approx([0.1, 0.9])
    separate = Ensemble(policy="hard", families=False)
    assert separate(df).height == 0  # 4 against 1: mean logit → p 0.21, dropped as leaning against
    assert separate.stats.counts["decision.drop.leans_against"] == 2
    pooled = Ensemble(policy="hard")(df)
    assert pooled["p_chosen"][0] == pytest.approx(0.5) and pooled["n_families"][0] == 2
    assert pooled["n_voters"][0] == 5


def test_old_votes_without_family_still_aggregate():
    old = pl.Struct({k: v for k, v in VOTE.to_schema().items() if k != "family"})
    df = _pairs(1).with_columns(pl.lit([{"voter": "a", "kind": "rm", "p_chosen": 0.9, "margin": None, "raw": None}],
                                       dtype=pl.List(old)).alias("votes"))
    out = Ensemble()(df)
    assert out["decision"][0] == "keep" and out.schema["votes"] == pl.List(VOTE)


def test_clopper_pearson_matches_known_values():
    lo, hi = clopper_pearson(9, 10)
    assert lo == pytest.approx(0.6058, abs=1e-3) and hi == pytest.approx(0.9949, abs=1e-3)
    assert clopper_pearson(0, 0) == (0.0, 1.0)


def _noisy_with_votes(n: int, wrong: set[int], good_acc: float = 0.97, seed: int = 0) -> pl.DataFrame:
    """Pairs with a label wrong on `wrong`; two voter families that see the truth with good_acc."""
    rng = np.random.default_rng(seed)
    df = frame([make_pair(f"question {i}", *((f"answer two {i}", f"answer one {i}") if i in wrong
                                              else (f"answer one {i}", f"answer two {i}"))) for i in range(n)])
    truth_chosen = np.array([i not in wrong for i in range(n)])
    for f in ("judge_a", "judge_b"):
        right = rng.random(n) < good_acc
        says_chosen = np.where(right, truth_chosen, ~truth_chosen)
        df = add_votes(df, f, "llm_judge", [0.95 if s else 0.05 for s in says_chosen])
    return df


def test_gold_too_small_withholds_flips_and_says_why(tmp_path, caplog):
    wrong = set(range(0, 100, 5))
    df = _noisy_with_votes(100, wrong)
    gold = write_frame(_pairs(100)[:10], tmp_path / "gold.parquet")  # 10 < min_gold
    step = EnsembleDS(gold={"path": str(gold)})
    assert step.needs_full_pass
    step.fit(lambda: iter([df]))
    out = step(df)
    assert not out["flipped"].any() and not step.take_dropped()
    assert step.stats.counts["withheld.flip"] > 0
    assert "min_gold" in step.stats.figures["calibration"]["why"]
    assert "routed instead" in caplog.text
    assert set(out.filter(pl.col("id").is_in([df["id"][i] for i in wrong]))["decision"]) == {"route"}


def test_gold_calibrates_flips_with_a_reported_precision(tmp_path):
    wrong = set(range(0, 800, 5))
    df = _noisy_with_votes(800, wrong)
    right = _pairs(800)  # the true orientation of every pair
    # 80 wrong labels among 400 gold pairs: enough for a 95% bound at 0.9 (39 of 40 would not be)
    gold = write_frame(right[:400], tmp_path / "gold.parquet")
    step = Ensemble(gold={"path": str(gold), "target_precision": 0.9})
    step.fit(lambda: iter([df]))
    out = step(df)
    cal = step.stats.figures["calibration"]
    assert cal["gold_rows"] == 400 and cal["flip_below"] is not None
    prec = cal["precision"]["flip"]
    assert prec["lower95"] >= 0.9 and prec["estimate"] >= prec["lower95"] and prec["gold_pairs"] > 20
    flipped = {int(c.split()[-1]) for c in out.filter(pl.col("flipped"))["chosen"]}
    assert out.filter(pl.col("flipped"))["chosen"].str.starts_with("answer one").all()
    assert len(flipped & wrong) >= 0.85 * len(wrong) and len(flipped - wrong) <= 8
    assert set(cal["family_accuracy"]) == {"judge_a", "judge_b"}


def test_soft_policy_keeps_every_pair_and_writes_margin():
    df = _noisy_with_votes(50, set(range(0, 50, 5)))
    out = Ensemble(policy="soft", route=False)(df)
    assert out.height == 50 and not out["flipped"].any()
    assert (out["margin"] >= 0).all() and out["margin"].max() <= 5.0
    strong = out.filter(pl.col("p_chosen") > 0.9)
    assert (strong["margin"] > 2).all()
    assert set(out.filter(pl.col("p_chosen") < 0.5)["decision_reason"]) <= {"uncalibrated", "voters_disagree"}


def test_human_resolved_flip_is_logged_as_human_resolved():
    df = _pairs(1)
    df = add_votes(df, "m1", "rm", [0.6])
    df = add_votes(df, "human:ann", "human", [0.0])
    out = Ensemble()(df)
    assert out["decision_reason"][0] == "human_resolved" and out["flipped"][0]
    assert json.loads(out["provenance"][0])[-1]["reason"] == "human_resolved"


def test_link_groups_joins_through_any_key_and_numbers_by_first_row():
    from curate.vote.groups import link_groups

    prompts = ["p", "q", "p", "r", "s"]
    clusters = [None, "x", None, "x", None]  # q and r share a cluster; None joins nothing
    assert link_groups(prompts, clusters).tolist() == [0, 1, 0, 1, 2]
    keys = np.array([7, 3, 7, 9, 5], dtype=np.uint64)  # the same rule on 64-bit keys and a masked array
    masked = np.ma.array(np.array([0, 1, 0, 1, 0], dtype=np.uint64), mask=[True, False, True, False, True])
    assert link_groups(keys, masked).tolist() == [0, 1, 0, 1, 2]
