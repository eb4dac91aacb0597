"""Bias diagnostics and the length-balancing filter on small hand-made pairs."""

import polars as pl
import pytest

from curate.schema import frame, make_pair
from curate.vote.bias import BalanceLength, BiasReport, markdown_count


def pairs(specs):
    return frame([make_pair(f"q{i}", c, r) for i, (c, r) in enumerate(specs)])


def test_length_buckets_and_longer_wins():
    df = pairs([
        ("a" * 30, "b" * 10),  # ratio 3, longer wins → bucket 2-4
        ("a" * 11, "b" * 10),  # ratio 1.1, longer wins → bucket 1-1.25
        ("a" * 10, "b" * 50),  # ratio 5, shorter wins → bucket 4-inf
        ("a" * 10, "b" * 10),  # equal: in no bucket, not in the rate
    ])
    step = BiasReport()
    assert step(df).height == 4  # stats only
    s = step.summary()
    assert s["longer_wins_rate"] == pytest.approx(2 / 3, abs=1e-4)
    b = s["longer_wins_by_ratio"]
    assert b["1-1.25"] == {"pairs": 1, "longer_wins_rate": 1.0}
    assert b["2-4"] == {"pairs": 1, "longer_wins_rate": 1.0}
    assert b["4-inf"] == {"pairs": 1, "longer_wins_rate": 0.0}
    assert b["1.25-2"]["pairs"] == 0
    # geometric mean of chosen/rejected: (3 · 1.1 · 0.2 · 1)^(1/4)
    assert s["length_ratio_geomean"] == pytest.approx((3 * 1.1 * 0.2) ** 0.25, abs=2e-3)


def test_truncation_identical_and_near_identical():
    shared = " ".join(f"w{i}" for i in range(20))
    df = pairs([
        (shared + " tail one", shared + " different ending"),  # same first 20 tokens
        (shared, shared.replace("w19", "x19")),  # Jaccard 19/21 = 0.905 at budget 20
        ("short answer", "another reply entirely"),
    ])
    step = BiasReport(token_budget=20)
    step(df)
    s = step.summary()
    assert s["truncated_identical_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert s["truncated_near_identical_rate"] == pytest.approx(1 / 3, abs=1e-4)


def test_markdown_density():
    assert markdown_count("# Title\n- one\n- two\n1. three\nsome **bold** text\n```py\nx\n```") == 7
    df = pairs([("- a\n- b\n- c", "plain"), ("plain again", "* x")])
    step = BiasReport()
    step(df)
    s = step.summary()
    assert s["more_formatted_wins_rate"] == pytest.approx(0.5)
    assert s["markdown_per_1k_chars"]["chosen"] > s["markdown_per_1k_chars"]["rejected"]


def test_balance_length_brings_longer_wins_to_target():
    # 600 pairs where longer wins, 200 where shorter wins, clustered in input order on purpose
    specs = [("long " * 10, "short") for _ in range(600)] + [("short", "long " * 10) for _ in range(200)]
    specs = [(c + f" {i}", r + f" {i}") for i, (c, r) in enumerate(specs)]
    df = pairs(specs)
    step = BalanceLength()
    step.fit(lambda: df.iter_slices(100))
    assert step.keep == {"longer": pytest.approx(200 / 600), "shorter": 1.0}
    out = pl.concat([step(b) for b in df.iter_slices(100)])
    longer = int((out["chosen"].str.len_chars() > out["rejected"].str.len_chars()).sum())
    assert out.height - longer == 200  # every shorter-wins pair is kept
    assert 160 <= longer <= 240  # ≈ 200 by a seeded draw per pair
    assert step.stats.dropped == {"length_balance_longer": 600 - longer}
    # the same pairs in other batches give the same result: the draw depends on the id only
    again = BalanceLength()
    again.fit(lambda: df.iter_slices(800))
    assert again(df).height == out.height
