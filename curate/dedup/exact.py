"""exact_dedup: drop records whose normalised prompt, or whole pair, was seen before."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from curate.dedup.bookkeeping import cluster_counts, count_new_clusters, dedup_summary, with_cluster_counts
from curate.dedup.resolve import resolve_kept_ids
from curate.dedup.rule import rank_order
from curate.dedup.seen_keys import SeenKeys
from curate.dedup.text import Normalise, normalised, pair_text, prompt_view, stable_hashes
from curate.registry import STEPS
from curate.step import Options, Step

REASONS = {"pair": "exact_pair_dup", "prompt": "exact_prompt_dup"}

log = logging.getLogger(__name__)


class ExactOptions(Options):
    fields: list[Literal["pair", "prompt"]] = Field(
        default_factory=lambda: ["pair"],
        description="what must be identical: 'pair' (prompt + chosen + rejected) and/or 'prompt' (keeps one "
                    "pair per prompt: on data with several pairs per prompt that removes most of it)")
    normalise: Normalise = Field(default_factory=Normalise, description="case / whitespace / punctuation folding")
    keep_by: list[str] = Field(default_factory=lambda: ["strength"],
                               description="keep rule within a batch: numeric columns, highest first; ties by id")
    examples: int = Field(5, ge=0, description="removed/kept examples kept for the data card")
    prompt_warn_share: float = Field(0.2, ge=0, le=1, description="warn (log line + stats) when prompt dedup "
                                     "removes more than this share of the records")


@STEPS.register()
class ExactDedup(Step):
    """Drop exact duplicates by normalised prompt and/or whole pair; one record per group is kept.

    Reads: id, prompt, chosen, rejected (and the ``keep_by`` columns when present).
    Writes: ``cluster_id`` (the kept record's id; its own id when it is the one kept) and
    ``dup_count`` (duplicates of it removed in the same batch). Removed records are dropped with
    reason ``exact_pair_dup`` or ``exact_prompt_dup`` and carry ``cluster_id`` and ``kept_id``.
    Streaming: within a batch the best record by ``keep_by`` is kept; across batches the first
    seen is kept (it may already be written). State: the hashes seen so far with the kept ids
    (``SeenKeys``, ~48 bytes per kept record); dropped by ``release`` when the stage is over.
    Default ``fields: [pair]``: prompt dedup keeps one pair per prompt, which on data with several
    pairs per prompt removes most of it; when it removes more than ``prompt_warn_share`` the step
    logs a warning and its summary carries ``warning``.
    """

    name = "exact_dedup"
    inputs = ("id", "prompt", "chosen", "rejected")
    outputs = ("cluster_id", "dup_count")
    Options = ExactOptions
    stateful = True

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.seen: dict[str, SeenKeys] = {f: SeenKeys() for f in self.options.fields}
        self._has_dups: set[str] = set()
        self._warned = False

    def _texts(self, batch: pl.DataFrame, f: str) -> list[str]:
        expr = pair_text() if f == "pair" else prompt_view("conversation")
        return batch.select(normalised(expr, self.options.normalise)).to_series().to_list()

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        # best-first, so the first of a group wins; _row_ restores the input order afterwards
        batch = batch.with_row_index("_row_")[rank_order(batch, self.options.keep_by)]
        fields = self.options.fields
        keys = {f: stable_hashes(self._texts(batch, f)) for f in fields}
        before = {f: self.seen[f].get(np.array(keys[f], dtype=np.int64)) for f in fields}  # earlier batches
        new: dict[str, dict[int, str]] = {f: {} for f in fields}  # this batch's kept rows, in order
        ids = batch["id"].to_list()
        kept_id: list[str | None] = [None] * batch.height
        reason: list[str | None] = [None] * batch.height
        for i in range(batch.height):  # one ordered walk: a later row of the same batch sees earlier ones
            for f in fields:  # 'pair' first by default: the stronger statement
                rep = before[f][i]
                if rep is None:
                    rep = new[f].get(keys[f][i])
                if rep is not None:
                    kept_id[i], reason[i] = rep, REASONS[f]
                    break
            else:  # no field matched: the row is kept, and its keys are new in every field
                for f in fields:
                    new[f][keys[f][i]] = ids[i]
        for f in fields:
            self.seen[f].add(new[f].keys(), new[f].values())
        out = batch.with_columns(pl.Series("kept_id", kept_id, dtype=pl.Utf8),
                                 pl.Series("_reason_", reason, dtype=pl.Utf8))
        out = out.with_columns(pl.coalesce("kept_id", "id").alias("cluster_id"))
        out = self._split(out)
        self._warn_prompt_share()
        return out

    def _prompt_share(self) -> float:
        n = self.stats.records_in
        return self.stats.dropped.get(REASONS["prompt"], 0) / n if n else 0.0

    def _warn_prompt_share(self) -> None:
        """One log line the first time prompt dedup has removed more than the stated share so far."""
        share = self._prompt_share()
        if share > self.options.prompt_warn_share and not self._warned:
            self._warned = True
            log.warning("%s: prompt dedup removed %.1f%% of the records so far (more than prompt_warn_share "
                        "%.1f%%): it keeps one pair per prompt; use fields: [pair] if your data has several "
                        "pairs per prompt", self.label, 100 * share, 100 * self.options.prompt_warn_share)

    def _split(self, out: pl.DataFrame) -> pl.DataFrame:
        counts = cluster_counts(out)
        count_new_clusters(counts["kept_id"].to_list(), self._has_dups, self.stats)
        self._examples(out)
        for r in REASONS.values():
            out = self.drop(out, pl.col("_reason_").eq_missing(r), r)
        self._dropped = [d.drop("_reason_", "_row_", strict=False) for d in self._dropped]
        out = with_cluster_counts(out, counts)
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
        out = dedup_summary(self.stats)
        if "prompt" in self.options.fields:
            share = self._prompt_share()
            out["prompt_dup_rate"] = round(share, 4)
            if share > self.options.prompt_warn_share:
                out["warning"] = (f"prompt dedup removed {100 * share:.1f}% of the records (more than "
                                  f"{100 * self.options.prompt_warn_share:.1f}%); use fields: [pair] to keep "
                                  f"several pairs per prompt")
        return out

    def after_run(self, run_dir: Path, stats: dict) -> None:
        """A later dedup step may have removed this step's representatives: follow the chains
        (curate/dedup/resolve.py) so every rejected row's kept_id names a record that was kept."""
        resolve_kept_ids(run_dir)

    def release(self) -> None:
        self.seen = {f: SeenKeys() for f in self.options.fields}

    # ------------------------------------------------------------ state
    def save_state(self, directory: Path) -> None:
        for f, seen in self.seen.items():
            seen.frame().write_parquet(Path(directory) / f"seen-{f}.parquet")
        pl.DataFrame({"id": sorted(self._has_dups)}, schema={"id": pl.Utf8}).write_parquet(
            Path(directory) / "clusters.parquet")

    def load_state(self, directory: Path) -> None:
        for f in self.seen:
            self.seen[f] = SeenKeys.from_frame(pl.read_parquet(Path(directory) / f"seen-{f}.parquet"))
        self._has_dups = set(pl.read_parquet(Path(directory) / "clusters.parquet")["id"].to_list())
