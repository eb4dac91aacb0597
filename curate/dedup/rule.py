"""Which record of a duplicate cluster is kept: the best by an explicit rule, ties by stable id.

The rule, in order: higher ``strength`` (the ensemble's vote strength, when that column exists),
then higher ``score_column`` (a configured column, e.g. a reward-model margin), then the smaller
``id`` (stable content hash, so the choice is reproducible across runs and machines). Missing
values rank last.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def rank_order(batch: pl.DataFrame, by: list[str]) -> np.ndarray:
    """Row positions of `batch` sorted best-first by the rule."""
    cols = [c for c in by if c in batch.columns]
    keys = [pl.col(c).cast(pl.Float64).fill_nan(None) for c in cols] + [pl.col("id")]
    order = (batch.select(keys).with_row_index("_pos")
             .sort([*cols, "id"], descending=[True] * len(cols) + [False], nulls_last=True, maintain_order=True))
    return order["_pos"].to_numpy().astype(np.int64)

