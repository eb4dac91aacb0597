"""exact_dedup: a hand-worked case, normalisation options, and state across batches."""

import polars as pl

from curate.dedup.exact import ExactDedup
from curate.schema import frame, make_pair


def pairs():
    # a, b: same pair up to case/space (b stronger); c: same prompt as a, other answers; d: distinct
    rows = [make_pair("How do I boil an egg?", "Simmer it 8 minutes.", "No idea."),
            make_pair("how do I  boil an egg?", "Simmer it 8 minutes.", "No idea."),
            make_pair("How do I boil an egg?", "Put it in boiling water.", "Eggs are bad."),
            make_pair("Name a prime number.", "7", "8")]
    return frame(rows).with_columns(pl.Series("strength", [0.2, 0.9, 0.5, 0.1]))


def test_hand_worked_keeps_the_strongest_and_points_at_it():
    df = pairs()
    a, b, c, d = df["id"].to_list()
    step = ExactDedup(fields=["pair", "prompt"])  # prompt dedup is opt-in since the default became [pair]
    out = step(df)
    assert out["id"].to_list() == [b, d]  # input order kept
    assert out["cluster_id"].to_list() == [b, d] and out["dup_count"].to_list() == [2, 0]
    gone = pl.concat(step.take_dropped()).sort("id")
    assert dict(zip(gone["id"], gone["_reason"])) == {a: "exact_pair_dup", c: "exact_prompt_dup"}
    assert set(gone["kept_id"]) == {b} and set(gone["cluster_id"]) == {b}
    assert step.stats.dropped == {"exact_pair_dup": 1, "exact_prompt_dup": 1}
    assert step.summary()["clusters"] == 1 and len(step.stats.figures["examples"]) == 2


def test_pair_only_keeps_same_prompt_with_other_answers():
    out = ExactDedup(fields=["pair"])(pairs())
    assert out.height == 3


def test_punctuation_option():
    df = frame([make_pair("Hello, world!", "x", "y"), make_pair("hello world", "x", "y")])
    assert ExactDedup(fields=["prompt"])(df).height == 2
    assert ExactDedup(fields=["prompt"], normalise={"punctuation": True})(df).height == 1


def test_state_carries_across_batches_and_resume(tmp_path):
    df = pairs()
    first = ExactDedup()
    first(df.slice(3, 1))
    first(df.slice(1, 1))  # b kept in batch 2
    first.save_state(tmp_path)
    resumed = ExactDedup()
    resumed.load_state(tmp_path)
    out = resumed(df.slice(0, 1))  # a arrives later: first-seen b is already written, a goes
    assert out.height == 0
    gone = resumed.take_dropped()[0]
    assert gone["kept_id"].to_list() == [df["id"][1]]
