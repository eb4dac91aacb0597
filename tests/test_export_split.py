"""Splits: no prompt and no dedup cluster in two splits; stratified by source; seeded."""

from __future__ import annotations

import random

import polars as pl

from curate.export.split import assign_splits, group_ids, leaks
from curate.schema import frame, make_pair, prompt_text_expr


def test_six_pair_worked_example():
    # a,b share a prompt; c,d share a cluster; e is joined to d by its cluster and to nothing else;
    # f stands alone. Groups: {a,b} {c,d,e} {f}
    rows = [("p1", "c1"), ("p1", None), ("p2", "k"), ("p3", "k"), ("p4", "k"), ("p5", None)]
    df = frame([make_pair(p, f"yes {i}", f"no {i}") for i, (p, _) in enumerate(rows)])
    df = df.with_columns(pl.Series("cluster_id", [c for _, c in rows]))
    g = group_ids(df).tolist()
    assert g[0] == g[1] and g[2] == g[3] == g[4]
    assert len({g[0], g[2], g[5]}) == 3
    split = assign_splits(df, {"train": 0.5, "test": 0.5}, seed=1)
    assert split[0] == split[1] and split[2] == split[3] == split[4]
    # case and spacing do not make a different prompt
    df2 = frame([make_pair("Hello  World", "a", "b"), make_pair("hello world", "c", "d")])
    assert len(set(group_ids(df2).tolist())) == 1


def _messy(n: int, seed: int = 0) -> pl.DataFrame:
    rng = random.Random(seed)
    recs = [make_pair(f"prompt {rng.randrange(n // 3)}", f"good {i}", f"bad {i}",
                      source=rng.choice(["hh", "uf", "synth"])) for i in range(n)]
    return frame(recs).with_columns(
        pl.Series("cluster_id", [f"k{rng.randrange(n // 4)}" if rng.random() < 0.3 else None for _ in range(n)]))


def test_no_prompt_or_cluster_in_two_splits():
    df = _messy(900)
    split = assign_splits(df, {"train": 0.8, "validation": 0.1, "test": 0.1}, seed=7)
    d = df.with_columns(split, prompt_text_expr().alias("ptext"))
    for key in ("ptext", "cluster_id"):
        per_key = d.drop_nulls(key).group_by(key).agg(pl.col("split").n_unique())
        assert per_key.get_column("split").max() == 1, key
    assert leaks(df, split) == 0
    assert set(split.unique()) == {"train", "validation", "test"}


def test_stratified_by_source_and_close_to_the_fractions():
    df = _messy(1200).with_columns(pl.lit(None, dtype=pl.Utf8).alias("cluster_id"))
    split = assign_splits(df, {"train": 0.8, "test": 0.2}, seed=3)
    shares = (df.with_columns(split).group_by("source")
              .agg((pl.col("split") == "test").mean().alias("test_share")))
    for share in shares.get_column("test_share").to_list():
        assert abs(share - 0.2) < 0.03  # within a few prompt groups of the target in every source


def test_seeded():
    df = _messy(300)
    a = assign_splits(df, {"train": 0.7, "test": 0.3}, seed=11)
    assert a.equals(assign_splits(df, {"train": 0.7, "test": 0.3}, seed=11))
    assert not a.equals(assign_splits(df, {"train": 0.7, "test": 0.3}, seed=12))
    # row order does not change a record's split
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=5)
    b = dict(zip(shuffled["id"], assign_splits(shuffled, {"train": 0.7, "test": 0.3}, seed=11)))
    assert dict(zip(df["id"], a)) == b
