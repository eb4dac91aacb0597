"""The ``export`` step: the last step of a pipeline writes the training export and its data card.

Design (fits the runner without changing it): splitting needs the whole dataset, so the step is
``needs_full_pass``. The runner writes everything before it and calls ``fit``, which streams the
batches twice (curate.export.writer.export_stream): once for the split keys, once to write the export
folder (Parquet shards, arrow copy, export.json), one batch in memory at a time. ``process`` then
passes each batch through with a ``split`` column, so the run's own ``data/`` says which split every
record went to. The card needs the run's final stats, which exist only after the last batch:
``Pipeline.run`` calls ``after_run(run_dir, stats)`` on every step that has it once ``stats.json`` is
written, and this step writes README.md + plots there. With ``push_to`` set it then pushes the folder
to the Hub (token from HF_TOKEN).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import Field

from curate.context import RunContext
from curate.export.layouts import LAYOUTS
from curate.export.select import ROUTED_SPLIT, Routed, unresolved
from curate.export.split import SplitPlan
from curate.registry import STEPS
from curate.step import Batches, Options, Step


class ExportOptions(Options):
    out: str | None = Field(None, description="export folder (default: RUN_DIR/export)")
    layout: Literal["trl", "trl_text", "openrlhf", "dpo"] = Field(
        "trl", description=f"training layout: {', '.join(LAYOUTS)}")
    splits: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.9, "test": 0.1},
        description="split name → fraction (sum 1), e.g. {train: 0.8, validation: 0.1, test: 0.1}")
    seed: int | None = Field(None, description="split seed (default: the pipeline's seed)")
    shard_mb: float = Field(256.0, gt=0, description="target size of each Parquet shard, MB")
    stratify: str | None = Field("source", description="column whose values are split in proportion (None: off)")
    group_by_cluster: bool = Field(True, description="keep each dedup cluster (cluster_id) in one split")
    routed: Routed = Field("own_split", description="pairs routed to humans without an answer yet: own_split "
                           "(default: a 'routed' split, out of train), exclude (in no split), include (like any pair)")
    arrow: bool = Field(True, description="also save a datasets save_to_disk copy (load_from_disk)")
    card: bool = Field(True, description="write the data card (README.md + plots) at the end of the run")
    license: str = Field("other", description="license id for the card's front matter")
    pretty_name: str | None = Field(None, description="card title (default: the pipeline name)")
    push_to: str | None = Field(None, description="Hub dataset repo id to push to at the end (needs HF_TOKEN)")
    private: bool = Field(True, description="create the Hub repo private")


@STEPS.register()
class Export(Step):
    """Write the dataset in a trainer's layout with leak-free splits, then its data card.

    Reads: every column (prompt, chosen, rejected, id, source; cluster_id and the curation columns when
    present; decision, votes and human_status for ``routed``). Writes: ``split`` (the split each record
    went to; null for an unanswered routed pair under ``routed: exclude``, ``routed`` under
    ``own_split``); the export folder (see curate/export/writer.py) and, after the run, its README.md
    data card. Full pass (splits need every record). Drops nothing.
    """

    name = "export"
    inputs = ("id", "prompt", "chosen", "rejected", "source")
    outputs = ("split",)
    Options = ExportOptions
    needs_full_pass = True

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        from curate.export.layouts import check_layout
        from curate.export.split import check_fractions

        check_layout(self.options.layout)
        check_fractions(self.options.splits)
        self._split_of: SplitPlan | None = None  # id → split, from the export's first pass
        self._run_dir: Path | None = None
        self._seed = 0

    def setup(self, ctx: RunContext) -> None:
        self._run_dir, self._seed = ctx.run_dir, ctx.seed

    def out_dir(self, run_dir: Path) -> Path:
        return Path(self.options.out) if self.options.out else run_dir / "export"

    def fit(self, batches: Batches) -> None:
        from curate.export.writer import export_stream

        o = self.options
        info, self._split_of = export_stream(
            batches, self.out_dir(self._run_dir or Path(".")), layout=o.layout, fractions=o.splits,
            seed=self._seed if o.seed is None else o.seed, shard_mb=o.shard_mb, stratify=o.stratify,
            by_cluster=o.group_by_cluster, arrow=o.arrow, overwrite=True, routed=o.routed)
        # figures, not counts: fit runs again on resume and must not add to itself
        self.stats.figures["split_records"] = dict(info.splits)
        self.stats.figures["unanswered_routed"] = dict(info.routed)

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        if self._split_of is None:  # not fitted: no split known
            return batch.with_columns(pl.lit(None, dtype=pl.Utf8).alias("split"))
        split = self._split_of.lookup(batch.get_column("id"))
        if self.options.routed != "include":  # unanswered routed pairs: in no split, or their own
            held = pl.lit(ROUTED_SPLIT if self.options.routed == "own_split" else None, dtype=pl.Utf8)
            split = batch.select(pl.when(unresolved(batch)).then(held).otherwise(split)).to_series()
        return batch.with_columns(split.alias("split"))

    def after_run(self, run_dir: Path, stats: dict) -> None:
        o = self.options
        out = self.out_dir(run_dir)
        if o.card:
            from curate.card import write_card

            write_card(run_dir, out, license=o.license, pretty_name=o.pretty_name, repo_id=o.push_to)
        if o.push_to:
            from curate.export.hub import push_to_hub

            push_to_hub(out, o.push_to, private=o.private)
