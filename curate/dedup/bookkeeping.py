"""Counts both dedup steps keep the same way: clusters found, ``dup_count`` and the summary for the data card."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import polars as pl

from curate.stats import StepStats


def count_new_clusters(kept_ids: Iterable[str], seen: set[str], stats: StepStats) -> None:
    """A kept record that gets its first duplicate starts a cluster; later duplicates join it."""
    for rid in kept_ids:
        if rid not in seen:
            seen.add(rid)
            stats.count("clusters")


def dedup_summary(stats: StepStats) -> dict[str, Any]:
    removed = sum(stats.dropped.values())
    return {"clusters": stats.counts.get("clusters", 0), "removed": removed,
            "duplicate_rate": round(removed / stats.records_in, 4) if stats.records_in else 0.0}


def removed_weight() -> pl.Expr:
    """What a removed record adds to its representative's ``dup_count``: itself plus the duplicates an
    earlier dedup step already folded into it (exact then semantic: one count of the whole cluster)."""
    return pl.lit(1, dtype=pl.Int64) + pl.col("dup_count").fill_null(0).cast(pl.Int64)


def cluster_counts(out: pl.DataFrame) -> pl.DataFrame:
    """Rows with a ``kept_id`` → one row per kept id: ``kept_id``, ``n`` (records removed into it)."""
    gone = out.filter(pl.col("kept_id").is_not_null())
    n = removed_weight().sum() if "dup_count" in gone.columns else pl.len().cast(pl.Int64)
    return gone.group_by("kept_id", maintain_order=True).agg(n.alias("n"))


def add_dup_count(kept: pl.DataFrame, added: pl.Expr | pl.Series) -> pl.DataFrame:
    """``dup_count`` = the count an earlier dedup step wrote (0 when none) + `added` (this step's)."""
    prior = pl.col("dup_count").fill_null(0).cast(pl.Int64) if "dup_count" in kept.columns else pl.lit(0, pl.Int64)
    return kept.with_columns((prior + added).cast(pl.Int64).alias("dup_count"))


def with_cluster_counts(kept: pl.DataFrame, counts: pl.DataFrame) -> pl.DataFrame:
    """Add `counts` (cluster_counts) to the kept rows' ``dup_count``."""
    joined = kept.join(counts.rename({"kept_id": "id", "n": "_added_"}), on="id", how="left", maintain_order="left")
    return add_dup_count(joined, pl.col("_added_").fill_null(0)).drop("_added_")


class IdColumn:
    """Record ids by position (semantic_dedup: the id of each index row), held as Arrow strings.

    A Python list of 10M id strings costs ~75 bytes each; the Arrow chunks ~24. Appending adds a
    chunk (never copies what is held) and ``take`` gathers across chunks."""

    def __init__(self, ids: pl.Series | None = None):
        self.series = ids.cast(pl.Utf8).alias("id") if ids is not None else pl.Series("id", [], dtype=pl.Utf8)

    def __len__(self) -> int:
        return self.series.len()

    def extend(self, ids: Iterable[str]) -> None:
        self.series.append(pl.Series("id", list(ids), dtype=pl.Utf8))

    def take(self, positions: Iterable[int] | np.ndarray) -> list[str]:
        rows = positions if isinstance(positions, np.ndarray) else np.fromiter(positions, dtype=np.int64)
        return self.series.gather(pl.Series(rows.astype(np.int64, copy=False))).to_list()

    def to_list(self) -> list[str]:
        return self.series.to_list()
