"""Counts both dedup steps keep the same way: clusters found and the summary for the data card."""

from __future__ import annotations

from typing import Any, Iterable

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
