"""Train/test(/validation) splits without leakage: grouped by prompt and dedup cluster, stratified by source.

Leakage is a prompt (or a near-duplicate of it) in both train and test: the test score then measures
memory, not preference. So records are first joined into *groups*: two records share a group when
they have the same normalised prompt text or the same ``cluster_id`` (the dedup stage's cluster),
transitively (a union-find over both keys). Whole groups are assigned to splits, never single records.

Within each source (the group's most common one), groups are shuffled with the seed and each goes
to the split furthest below its target share, so every source is split in the asked proportions
(to within one group) and the same seed always gives the same split.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.errors import ConfigError
from curate.schema import prompt_text_expr


def check_fractions(fractions: dict[str, float]) -> dict[str, float]:
    if not fractions or any(v < 0 for v in fractions.values()):
        raise ConfigError(f"split fractions must be non-negative, got {fractions}")
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"split fractions must sum to 1, got {fractions} (sum {total:g})")
    return {k: v for k, v in fractions.items() if v > 0}


def _codes(s: pl.Series) -> np.ndarray:
    """Dense integer codes of a column's values; nulls get -1."""
    codes = s.rank("dense").cast(pl.Int64).fill_null(0).to_numpy() - 1
    return codes


def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        parent[i], i = root, parent[i]
    return root


def group_ids(df: pl.DataFrame, by_cluster: bool = True) -> np.ndarray:
    """Per row, an integer group: rows sharing a normalised prompt or a cluster_id share a group."""
    norm = df.select(prompt_text_expr().str.to_lowercase().str.replace_all(r"\s+", " ")
                     .str.strip_chars()).to_series()
    keys = [_codes(norm)]
    if by_cluster and "cluster_id" in df.columns:
        keys.append(_codes(df.get_column("cluster_id").cast(pl.Utf8)))
    n = df.height
    parent = np.arange(n)
    for codes in keys:
        first: dict[int, int] = {}
        for row, code in enumerate(codes.tolist()):
            if code < 0:
                continue  # null cluster: a singleton, joins nothing
            if code in first:
                a, b = _find(parent, row), _find(parent, first[code])
                if a != b:
                    parent[a] = b
            else:
                first[code] = row
    return np.array([_find(parent, i) for i in range(n)])


def assign_splits(df: pl.DataFrame, fractions: dict[str, float], seed: int = 0,
                  stratify: str | None = "source", by_cluster: bool = True) -> pl.Series:
    """The split name of every row of `df` (a pair frame), grouped and stratified as described above."""
    fractions = check_fractions(fractions)
    names = list(fractions)
    if df.height == 0:
        return pl.Series("split", [], dtype=pl.Utf8)
    groups = group_ids(df, by_cluster)
    strata = (df.get_column(stratify).cast(pl.Utf8).fill_null("") if stratify and stratify in df.columns
              else pl.Series([""] * df.height))
    g = pl.DataFrame({"group": groups, "stratum": strata, "id": df.get_column("id")})
    # a group's stratum is its most common source; its sort key (smallest id) makes the shuffle stable
    per_group = (g.group_by("group")
                 .agg(pl.len().alias("n"), pl.col("stratum").mode().sort().first(), pl.col("id").min())
                 .sort("stratum", "id"))
    rng = np.random.default_rng(seed)
    split_of: dict[int, str] = {}
    for stratum in per_group.get_column("stratum").unique(maintain_order=True).to_list():
        part = per_group.filter(pl.col("stratum") == stratum)
        order = rng.permutation(part.height)
        gids, sizes = part.get_column("group").to_numpy()[order], part.get_column("n").to_numpy()[order]
        total = int(sizes.sum())
        filled = dict.fromkeys(names, 0)
        for gid, size in zip(gids.tolist(), sizes.tolist()):
            # the split furthest below its target share; ties go to the first-named split
            name = max(names, key=lambda s: fractions[s] * total - filled[s])
            filled[name] += size
            split_of[gid] = name
    return pl.Series("split", [split_of[x] for x in groups.tolist()], dtype=pl.Utf8)


def leaks(df: pl.DataFrame, split: pl.Series, by_cluster: bool = True) -> int:
    """How many groups (prompt / cluster) appear in more than one split: 0 for a clean split."""
    g = pl.DataFrame({"group": group_ids(df, by_cluster), "split": split})
    return g.group_by("group").agg(pl.col("split").n_unique()).filter(pl.col("split") > 1).height
