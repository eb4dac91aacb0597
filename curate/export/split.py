"""Train/test(/validation) splits without leakage: grouped by prompt and dedup cluster, stratified by source.

Leakage is a prompt (or a near-duplicate of it) in both train and test: the test score then measures
memory, not preference. So records are first joined into *groups*: two records share a group when
they have the same normalised prompt text or the same ``cluster_id`` (the dedup stage's cluster),
transitively (connected components over both keys, ``curate.vote.groups.link_groups``). Whole groups
are assigned to splits, never single records.

Within each source (the group's most common one), groups are shuffled with the seed and each goes
to the split furthest below its target share, so every source is split in the asked proportions
(to within one group) and the same seed always gives the same split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from hashlib import blake2b

import numpy as np
import polars as pl

from curate.errors import ConfigError
from curate.id_hash import find_sorted, id_hashes
from curate.schema import prompt_text_expr
from curate.vote.groups import link_groups


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


def _hash64(values: list) -> pl.Series:
    """A stable 64-bit key per string (blake2b, the same in every process and polars version); None stays None.

    Hashing lets the first export pass keep 8 bytes per record instead of the prompt text; two different
    prompts colliding in 64 bits is vanishingly unlikely (about n²/2⁶⁵)."""
    return pl.Series([None if v is None else int.from_bytes(blake2b(v.encode(), digest_size=8).digest(), "little")
                      for v in values], dtype=pl.UInt64)


def split_keys(df: pl.DataFrame, by_cluster: bool = True, stratify: str | None = "source") -> pl.DataFrame:
    """The few small columns grouping and stratification need, one row per record of `df`:
    ``id``, ``prompt_key`` (hash of the normalised prompt), ``cluster_key`` (hash of cluster_id, null when
    absent or not grouping by cluster) and ``stratum`` ("" when the column is absent or null).

    Frames of keys from different batches concatenate into the keys of the whole dataset."""
    norm = df.select(prompt_text_expr().str.to_lowercase().str.replace_all(r"\s+", " ")
                     .str.strip_chars()).to_series()
    cluster = (_hash64(df.get_column("cluster_id").cast(pl.Utf8).to_list())
               if by_cluster and "cluster_id" in df.columns else pl.Series([None] * df.height, dtype=pl.UInt64))
    strata = (df.get_column(stratify).cast(pl.Utf8).fill_null("") if stratify and stratify in df.columns
              else pl.Series([""] * df.height, dtype=pl.Utf8))
    return pl.DataFrame({"id": df.get_column("id").cast(pl.Utf8), "prompt_key": _hash64(norm.to_list()),
                         "cluster_key": cluster, "stratum": strata})


def group_ids_of_keys(keys: pl.DataFrame) -> np.ndarray:
    """Per row of `keys` (see split_keys), an integer group: rows sharing a prompt or cluster key share
    one (a null cluster is a singleton: it joins nothing)."""
    columns = [np.ma.masked_less(_codes(keys.get_column(c)), 0) for c in ("prompt_key", "cluster_key")]
    return link_groups(*columns)


def group_ids(df: pl.DataFrame, by_cluster: bool = True) -> np.ndarray:
    """Per row, an integer group: rows sharing a normalised prompt or a cluster_id share a group."""
    return group_ids_of_keys(split_keys(df, by_cluster, stratify=None))


def assign_keys(keys: pl.DataFrame, fractions: dict[str, float], seed: int = 0) -> pl.Series:
    """The split name of every row of `keys` (see split_keys), grouped and stratified as described above."""
    fractions = check_fractions(fractions)
    names = list(fractions)
    if keys.height == 0:
        return pl.Series("split", [], dtype=pl.Utf8)
    groups = group_ids_of_keys(keys)
    g = pl.DataFrame({"group": groups, "stratum": keys.get_column("stratum"), "id": keys.get_column("id")})
    # a group's stratum is its most common source; its sort key (smallest id) makes the shuffle stable
    per_group = (g.group_by("group")
                 .agg(pl.len().alias("n"), pl.col("stratum").mode().sort().first(), pl.col("id").min())
                 .sort("stratum", "id"))
    rng = np.random.default_rng(seed)
    split_of = np.zeros(keys.height, dtype=np.int64)  # group id (a row index) → split index
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
            split_of[gid] = names.index(name)
    codes = pl.Series(split_of[groups], dtype=pl.UInt32)
    return pl.Series("split", names, dtype=pl.Utf8).gather(codes).alias("split")


def assign_splits(df: pl.DataFrame, fractions: dict[str, float], seed: int = 0,
                  stratify: str | None = "source", by_cluster: bool = True) -> pl.Series:
    """The split name of every row of `df` (a pair frame), grouped and stratified as described above."""
    check_fractions(fractions)
    if df.height == 0:
        return pl.Series("split", [], dtype=pl.Utf8)
    return assign_keys(split_keys(df, by_cluster, stratify), fractions, seed)


class SplitPlan:
    """Which split every record id went to, in 9 bytes per record (sorted id hashes + a split code).

    The export step looks batches up in it after the export is written; a dict of id strings would cost
    ten times more at a million records. Id hashes use polars' hash, which is stable within a process
    (the plan is never saved), and records sharing an id share a prompt, hence a split."""

    def __init__(self, names: list[str], ids: pl.Series, split: pl.Series, has_cluster: bool = False):
        self.names, self.has_cluster = list(names), has_cluster
        codes = split.replace_strict(self.names, list(range(len(self.names))), return_dtype=pl.UInt8)
        h = id_hashes(ids)
        order = np.argsort(h, kind="stable")
        self._hash, self._code = h[order], codes.to_numpy()[order]

    def __len__(self) -> int:
        return len(self._hash)

    def lookup(self, ids: pl.Series) -> pl.Series:
        """The split of each id (null for an id the plan has not seen)."""
        pos, found = find_sorted(self._hash, ids)
        names = pl.Series(self.names + [None], dtype=pl.Utf8)
        codes = np.where(found, self._code[pos] if len(self._hash) else 0, len(self.names)).astype(np.uint32)
        return names.gather(pl.Series(codes)).alias("split")


def plan_splits(batches: Callable[[], Iterable[pl.DataFrame]], fractions: dict[str, float], seed: int = 0,
                stratify: str | None = "source", by_cluster: bool = True) -> SplitPlan:
    """Pass 1 of a streaming export: read only the split keys of every batch, then assign the splits.

    Holds a few dozen bytes per record (id, two 64-bit keys, the stratum), never the records."""
    fractions = check_fractions(fractions)
    parts, has_cluster = [], False
    for b in batches():
        if b.height:
            has_cluster = has_cluster or (by_cluster and "cluster_id" in b.columns)
            parts.append(split_keys(b, by_cluster, stratify))
    keys = pl.concat(parts) if parts else pl.DataFrame({"id": [], "stratum": []}, schema={"id": pl.Utf8,
                                                                                        "stratum": pl.Utf8})
    split = assign_keys(keys, fractions, seed) if keys.height else pl.Series("split", [], dtype=pl.Utf8)
    return SplitPlan(list(fractions), keys.get_column("id"), split, has_cluster)


def leaks(df: pl.DataFrame, split: pl.Series, by_cluster: bool = True) -> int:
    """How many groups (prompt / cluster) appear in more than one split: 0 for a clean split."""
    g = pl.DataFrame({"group": group_ids(df, by_cluster), "split": split})
    return g.group_by("group").agg(pl.col("split").n_unique()).filter(pl.col("split") > 1).height
