"""Comparing two run directories: same records, rejected rows, quarantine and counts."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from curate.io.writers import read_records


def rejected(run: Path) -> set[tuple]:
    df = pl.concat([pl.read_parquet(f) for f in sorted((run / "rejected").glob("*.parquet"))],
                   how="diagonal_relaxed")
    return set(df.select("id", "_step", "_reason").iter_rows())


def quarantine(run: Path) -> dict[str, str]:
    return {f.name: f.read_text() for f in sorted((run / "quarantine").glob("*.jsonl"))}


def counts(stats: dict) -> dict:
    keep = ("records_in", "records_out", "dropped", "counts")
    return {"read": {k: stats["read"][k] for k in keep},
            "steps": [{k: s[k] for k in ("name", *keep)} for s in stats["steps"]],
            "totals": (stats["output"]["records"], stats["quarantined"], stats["rejected"])}


def assert_same_run(a_run: Path, b_run: Path, s_a: dict, s_b: dict) -> None:
    """Run b wrote what run a wrote: records (ids and contents), rejected (id, step, reason),
    quarantine files byte for byte, and every count."""
    a, b = read_records(a_run).sort("id"), read_records(b_run).sort("id")
    assert a.height > 0 and set(a["id"]) == set(b["id"])
    assert a.columns == b.columns
    assert a.equals(b), "same ids but different contents"
    assert rejected(a_run) == rejected(b_run)
    assert quarantine(a_run) == quarantine(b_run)
    assert counts(s_a) == counts(s_b)
    assert set(s_a) == set(s_b)  # the same stats shape
    assert json.loads((b_run / "stats.json").read_text())["output"]["records"] == b.height
