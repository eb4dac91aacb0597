"""Train/test(/validation) splits without leakage: grouped by prompt and dedup cluster, stratified by source.

Leakage is a prompt (or a near-duplicate of it) in both train and test: the test score then measures
memory, not preference. So records are first joined into *groups*: two records share a group when
they have the same normalised prompt text or the same ``cluster_id`` (the dedup stage's cluster),
transitively (connected components over both keys: ``curate.vote.groups.link_groups``' groups, built
in fewer bytes by group_ids_of_keys). Whole groups are assigned to splits, never single records.

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
from curate.export.id_order import IdSpill, group_ranks
from curate.id_hash import find_sorted, id_hashes
from curate.schema import prompt_text_expr


def check_fractions(fractions: dict[str, float]) -> dict[str, float]:
    if not fractions or any(v < 0 for v in fractions.values()):
        raise ConfigError(f"split fractions must be non-negative, got {fractions}")
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"split fractions must sum to 1, got {fractions} (sum {total:g})")
    return {k: v for k, v in fractions.items() if v > 0}


def _codes(s: pl.Series) -> np.ndarray:
    """Dense codes 1, 2, ... of a column's values in sorted order (uint32), 0 for null."""
    return s.rank("dense").fill_null(0).cast(pl.UInt32).to_numpy()


def _hash64(values: pl.Series) -> pl.Series:
    """A stable 64-bit key per string (blake2b, the same in every process and polars version); null stays null.

    Hashing lets the first export pass keep 8 bytes per record instead of the prompt text; two different
    prompts colliding in 64 bits is vanishingly unlikely (about n²/2⁶⁵). The digests are taken of the
    UTF-8 bytes polars holds and read as little-endian uint64 in one go (no str objects encoded, no int
    built per value): the same keys at half the cost of hashing ``str.encode()`` one by one."""
    values = values.cast(pl.Utf8)
    digests = b"".join(blake2b(v, digest_size=8).digest() for v in values.drop_nulls().cast(pl.Binary).to_list())
    hashed = np.zeros(values.len(), dtype=np.uint64)
    valid = values.is_not_null().to_numpy()
    hashed[valid] = np.frombuffer(digests, dtype="<u8")
    out = pl.Series(values.name, hashed, dtype=pl.UInt64)
    return out if valid.all() else out.zip_with(pl.Series(valid), pl.Series([None] * len(out), dtype=pl.UInt64))


def _group_keys(df: pl.DataFrame, by_cluster: bool) -> dict[str, pl.Series]:
    """``prompt_key`` (hash of the normalised prompt) and ``cluster_key`` (hash of cluster_id; null when
    absent or not grouping by cluster) of every row of `df`."""
    norm = df.select(prompt_text_expr().str.to_lowercase().str.replace_all(r"\s+", " ")
                     .str.strip_chars()).to_series()
    cluster = (_hash64(df.get_column("cluster_id")) if by_cluster and "cluster_id" in df.columns
               else pl.Series([None] * df.height, dtype=pl.UInt64))
    return {"prompt_key": _hash64(norm), "cluster_key": cluster}


class SplitKeys:
    """What the first export pass keeps per record: fixed-width numbers, about 28 bytes.

    Per row (frame()): ``id_hash`` (curate.id_hash: the SplitPlan's key), ``prompt_key`` and
    ``cluster_key`` (64-bit blake2b, see _group_keys) and ``stratum``, a code into `strata` ("" when the
    column is absent or null) numbered in the strings' sorted order, so codes sort as the strings do.
    The id strings go to an IdSpill (a temporary file; in memory with `in_memory`), read back only to
    order groups by their smallest id. ``add`` batches in read order; ``close`` removes the file."""

    def __init__(self, by_cluster: bool = True, stratify: str | None = "source", in_memory: bool = False):
        self.by_cluster, self.stratify = by_cluster, stratify
        self.ids = IdSpill(in_memory)
        self.has_cluster = False
        self._parts: list[pl.DataFrame] = []
        self._strata: dict[str, int] = {}  # stratum → code, in first-seen order
        self._frame: pl.DataFrame | None = None

    def add(self, df: pl.DataFrame) -> None:
        if not df.height:
            return
        self.has_cluster = self.has_cluster or (self.by_cluster and "cluster_id" in df.columns)
        strata = (df.get_column(self.stratify).cast(pl.Utf8).fill_null("")
                  if self.stratify and self.stratify in df.columns else pl.Series([""] * df.height, dtype=pl.Utf8))
        seen = strata.unique().to_list()
        for s in seen:
            self._strata.setdefault(s, len(self._strata))
        code = strata.replace_strict(seen, [self._strata[s] for s in seen], return_dtype=pl.UInt32)
        ids = df.get_column("id")
        self._parts.append(pl.DataFrame({"id_hash": id_hashes(ids), **_group_keys(df, self.by_cluster),
                                         "stratum": code}))
        self.ids.add(ids)

    @property
    def strata(self) -> list[str]:
        return sorted(self._strata)

    def frame(self) -> pl.DataFrame:
        """Every row's keys in read order (the batches' parts joined once; add nothing after this)."""
        if self._frame is None:
            schema = {"id_hash": pl.UInt64, "prompt_key": pl.UInt64, "cluster_key": pl.UInt64,
                      "stratum": pl.UInt32}
            keys = pl.concat(self._parts) if self._parts else pl.DataFrame(schema=schema)
            self._parts = []
            remap = np.empty(len(self._strata), dtype=np.uint32)  # first-seen code → sorted code
            remap[[self._strata[s] for s in self.strata]] = np.arange(len(self._strata), dtype=np.uint32)
            self._frame = keys.with_columns(pl.Series("stratum", remap[keys.get_column("stratum").to_numpy()]))
        return self._frame

    def close(self) -> None:
        self.ids.close()
        self._parts, self._frame = [], None


def group_ids_of_keys(keys: pl.DataFrame) -> np.ndarray:
    """Per row of `keys` (SplitKeys.frame), an integer group: rows sharing a prompt or cluster key share
    one (a null cluster joins nothing). The groups and their numbers (in the order of their first row)
    are link_groups' over the two keys, in a few bytes per row: the graph's nodes are the distinct
    keys, its edges the rows that have both, so rows without a cluster add nothing to it."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    prompt, cluster = _codes(keys.get_column("prompt_key")), _codes(keys.get_column("cluster_key"))
    n, n_prompts = len(prompt), int(prompt.max(initial=0))
    nodes = n_prompts + int(cluster.max(initial=0))
    idx = np.int32 if nodes + n < 2**31 else np.int64  # node, label and row numbers
    both = (prompt > 0) & (cluster > 0)
    u, v = prompt[both].astype(idx) - 1, cluster[both].astype(idx) + (n_prompts - 1)
    del both
    graph = coo_matrix((np.ones(len(u), dtype=np.int8), (u, v)), shape=(nodes, nodes))
    del u, v
    label = connected_components(graph, directed=False)[1].astype(idx) if nodes else np.zeros(1, dtype=idx)
    del graph
    # each row's node: its prompt, else its cluster, else none (a group of its own: no key at all)
    node = prompt.astype(idx) - 1
    no_prompt = np.flatnonzero(prompt == 0)
    c = cluster[no_prompt].astype(idx)
    node[no_prompt] = np.where(c > 0, c + (n_prompts - 1), -1)
    del prompt, cluster, no_prompt, c
    alone = np.flatnonzero(node < 0)
    row_label = label[np.maximum(node, 0)]
    del node
    row_label[alone] = int(label.max()) + 1 + np.arange(len(alone), dtype=idx)
    first = np.full(int(row_label.max(initial=-1)) + 1, n, dtype=idx)  # label → its first row
    np.minimum.at(first, row_label, np.arange(n, dtype=idx))
    used = np.flatnonzero(first < n)
    number = np.empty(len(first), dtype=idx)
    number[used[np.argsort(first[used], kind="stable")]] = np.arange(len(used), dtype=idx)
    return number[row_label]


def _group_strata(groups: np.ndarray, stratum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(size, stratum) of every group 0 .. G-1: its most common stratum code, the smallest on a tie."""
    sizes = np.bincount(groups)
    n_strata = int(stratum.max(initial=0)) + 1
    if n_strata == 1:
        return sizes, np.zeros(len(sizes), dtype=np.int64)
    pair, counts = np.unique(groups.astype(np.int64) * n_strata + stratum, return_counts=True)
    g, s = pair // n_strata, pair % n_strata
    del pair
    order = np.lexsort((s, -counts, g))  # per group: the largest count first, then the smallest code
    head = order[np.r_[True, g[order][1:] != g[order][:-1]]]
    return sizes, s[head]


def group_ids(df: pl.DataFrame, by_cluster: bool = True) -> np.ndarray:
    """Per row, an integer group: rows sharing a normalised prompt or a cluster_id share a group."""
    return group_ids_of_keys(pl.DataFrame(_group_keys(df, by_cluster)))


def assign_keys(keys: SplitKeys, fractions: dict[str, float], seed: int = 0) -> np.ndarray:
    """The split of every row of `keys`, as an index into `fractions`' names, grouped and stratified as
    described above. Reads the ids back from `keys.ids` to order the groups."""
    fractions = check_fractions(fractions)
    names = list(fractions)
    frame = keys.frame()
    if frame.height == 0:
        return np.zeros(0, dtype=np.uint8)
    groups = group_ids_of_keys(frame)
    # a group's stratum is its most common one (the first in sorted order on a tie); the groups of a
    # stratum are sorted by their smallest id, so the seeded shuffle below is the same on every run
    sizes, strata = _group_strata(groups, frame.get_column("stratum").to_numpy())
    rank = group_ranks(groups, strata, keys.ids.chunks)
    per_group = (pl.DataFrame({"group": np.arange(len(rank)), "n": sizes, "stratum": strata, "rank": rank})
                 .sort("rank", maintain_order=True))
    rng = np.random.default_rng(seed)
    split_of = np.zeros(len(rank), dtype=np.uint8)  # group → split index
    for part in per_group.partition_by("stratum", maintain_order=True):
        order = rng.permutation(part.height)
        gids, sizes = part.get_column("group").to_numpy()[order], part.get_column("n").to_numpy()[order]
        total = int(sizes.sum())
        filled = dict.fromkeys(names, 0)
        for gid, size in zip(gids.tolist(), sizes.tolist()):
            # the split furthest below its target share; ties go to the first-named split
            name = max(names, key=lambda s: fractions[s] * total - filled[s])
            filled[name] += size
            split_of[gid] = names.index(name)
    return split_of[groups]


def assign_splits(df: pl.DataFrame, fractions: dict[str, float], seed: int = 0,
                  stratify: str | None = "source", by_cluster: bool = True) -> pl.Series:
    """The split name of every row of `df` (a pair frame), grouped and stratified as described above."""
    names = list(check_fractions(fractions))
    if df.height == 0:
        return pl.Series("split", [], dtype=pl.Utf8)
    keys = SplitKeys(by_cluster, stratify, in_memory=True)
    keys.add(df)
    codes = assign_keys(keys, fractions, seed)
    return pl.Series("split", names, dtype=pl.Utf8).gather(pl.Series(codes, dtype=pl.UInt32)).alias("split")


class SplitPlan:
    """Which split every record id went to, in 9 bytes per record (sorted id hashes + a split code).

    The export step looks batches up in it after the export is written; a dict of id strings would cost
    ten times more at a million records. Id hashes use polars' hash (curate.id_hash), which is stable
    within a process (the plan is never saved), and records sharing an id share a prompt, hence a split."""

    def __init__(self, names: list[str], hashes: np.ndarray, codes: np.ndarray, has_cluster: bool = False):
        self.names, self.has_cluster = list(names), has_cluster
        order = np.argsort(hashes, kind="stable")
        self._hash, self._code = hashes[order], np.asarray(codes, dtype=np.uint8)[order]

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

    Holds about 28 bytes per record (SplitKeys), never the records nor their id strings."""
    fractions = check_fractions(fractions)
    keys = SplitKeys(by_cluster, stratify)
    try:
        for b in batches():
            keys.add(b)
        codes = assign_keys(keys, fractions, seed)
        return SplitPlan(list(fractions), keys.frame().get_column("id_hash").to_numpy(), codes, keys.has_cluster)
    finally:
        keys.close()


def leaks(df: pl.DataFrame, split: pl.Series, by_cluster: bool = True) -> int:
    """How many groups (prompt / cluster) appear in more than one split: 0 for a clean split."""
    g = pl.DataFrame({"group": group_ids(df, by_cluster), "split": split})
    return g.group_by("group").agg(pl.col("split").n_unique()).filter(pl.col("split") > 1).height
