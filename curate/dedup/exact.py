"""exact_dedup: drop records whose normalised prompt, or whole pair, was seen before."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from curate.dedup.bookkeeping import count_new_clusters, dedup_summary
from curate.dedup.rule import rank_order
from curate.dedup.text import Normalise, normalised, pair_text, prompt_view, stable_hashes
from curate.registry import STEPS
from curate.step import Options, Step

REASONS = {"pair": "exact_pair_dup", "prompt": "exact_prompt_dup"}


class ExactOptions(Options):
    fields: list[Literal["pair", "prompt"]] = Field(
        default_factory=lambda: ["pair", "prompt"],
        description="what must be identical: 'pair' (prompt + chosen + rejected) and/or 'prompt'")
    normalise: Normalise = Field(default_factory=Normalise, description="case / whitespace / punctuation folding")
    keep_by: list[str] = Field(default_factory=lambda: ["strength"],
                               description="keep rule within a batch: numeric columns, highest first; ties by id")
    examples: int = Field(5, ge=0, description="removed/kept examples kept for the data card")


@STEPS.register()
class ExactDedup(Step):
    """Drop exact duplicates by normalised prompt and/or whole pair; one record per group is kept.

    Reads: id, prompt, chosen, rejected (and the ``keep_by`` columns when present).
    Writes: ``cluster_id`` (the kept record's id; its own id when it is the one kept) and
    ``dup_count`` (duplicates of it removed in the same batch). Removed records are dropped with
    reason ``exact_pair_dup`` or ``exact_prompt_dup`` and carry ``cluster_id`` and ``kept_id``.
    Streaming: within a batch the best record by ``keep_by`` is kept; across batches the first
    seen is kept (it may already be written). State: the hashes seen so far (8 bytes + id each).
    """

    name = "exact_dedup"
    inputs = ("id", "prompt", "chosen", "rejected")
    outputs = ("cluster_id", "dup_count")
    Options = ExactOptions
    stateful = True

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.seen: dict[str, dict[int, str]] = {f: {} for f in self.options.fields}
        self._has_dups: set[str] = set()

    def _texts(self, batch: pl.DataFrame, f: str) -> list[str]:
        expr = pair_text() if f == "pair" else prompt_view("conversation")
        return batch.select(normalised(expr, self.options.normalise)).to_series().to_list()

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        # best-first, so the first of a group wins; _row_ restores the input order afterwards
        batch = batch.with_row_index("_row_")[rank_order(batch, self.options.keep_by)]
        keys = {f: stable_hashes(self._texts(batch, f)) for f in self.options.fields}
        ids = batch["id"].to_list()
        kept_id: list[str | None] = [None] * batch.height
        reason: list[str | None] = [None] * batch.height
        for i in range(batch.height):  # one ordered walk: a later row of the same batch sees earlier ones
            for f in self.options.fields:  # 'pair' first by default: the stronger statement
                rep = self.seen[f].get(keys[f][i])
                if rep is not None:
                    kept_id[i], reason[i] = rep, REASONS[f]
                    break
            else:
                for f in self.options.fields:
                    self.seen[f].setdefault(keys[f][i], ids[i])
        out = batch.with_columns(pl.Series("kept_id", kept_id, dtype=pl.Utf8),
                                 pl.Series("_reason_", reason, dtype=pl.Utf8))
        out = out.with_columns(pl.coalesce("kept_id", "id").alias("cluster_id"))
        return self._split(out)

    def _split(self, out: pl.DataFrame) -> pl.DataFrame:
        counts = out.filter(pl.col("kept_id").is_not_null()).group_by("kept_id").len()
        count_new_clusters(counts["kept_id"].to_list(), self._has_dups, self.stats)
        self._examples(out)
        for r in REASONS.values():
            out = self.drop(out, pl.col("_reason_").eq_missing(r), r)
        self._dropped = [d.drop("_reason_", "_row_", strict=False) for d in self._dropped]
        out = out.join(counts.rename({"kept_id": "id", "len": "dup_count"}), on="id", how="left")
        out = out.with_columns(pl.col("dup_count").fill_null(0).cast(pl.Int64))
        return out.sort("_row_").drop("_reason_", "kept_id", "_row_")

    def _examples(self, out: pl.DataFrame) -> None:
        ex = self.stats.figures.setdefault("examples", [])
        room = self.options.examples - len(ex)
        if room <= 0:
            return
        gone = out.filter(pl.col("_reason_").is_not_null()).head(room)
        text = prompt_view("conversation").str.slice(0, 160)
        for row in gone.select("id", "kept_id", "_reason_", text.alias("text")).iter_rows(named=True):
            ex.append({"removed_id": row["id"], "kept_id": row["kept_id"], "reason": row["_reason_"],
                       "text": row["text"]})

    def summary(self) -> dict[str, Any]:
        return dedup_summary(self.stats)

    # ------------------------------------------------------------ state
    def save_state(self, directory: Path) -> None:
        for f, seen in self.seen.items():
            pl.DataFrame({"key": np.fromiter(seen.keys(), dtype=np.int64, count=len(seen)),
                          "id": list(seen.values())}, schema={"key": pl.Int64, "id": pl.Utf8}
                         ).write_parquet(Path(directory) / f"seen-{f}.parquet")
        pl.DataFrame({"id": sorted(self._has_dups)}, schema={"id": pl.Utf8}).write_parquet(
            Path(directory) / "clusters.parquet")

    def load_state(self, directory: Path) -> None:
        for f in self.seen:
            df = pl.read_parquet(Path(directory) / f"seen-{f}.parquet")
            self.seen[f] = dict(zip(df["key"].to_list(), df["id"].to_list()))
        self._has_dups = set(pl.read_parquet(Path(directory) / "clusters.parquet")["id"].to_list())
