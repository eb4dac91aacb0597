"""The embedding Bradley–Terry voter: out-of-fold votes from BT models on frozen embeddings, no LLM."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from curate.context import RunContext
from curate.embed.config import EmbedConfig, build_embedder
from curate.errors import ConfigError
from curate.id_hash import id_hashes
from curate.registry import STEPS
from curate.runner.base import safe_name
from curate.schema import add_votes, prompt_text_expr
from curate.step import Batches, Options, Step
from curate.vote.bt import FEATURE_MAPS, PairVectors, features
from curate.vote.bt_stream import IdIndex, VectorStore, stream_cross_fit, stream_group_ids
from curate.vote.groups import normalised_prompt_hash
from curate.vote.matrix import sigmoid


class EmbedBTOptions(Options):
    embedder: EmbedConfig = Field(default_factory=EmbedConfig, description="which embedder (curate.embed.config)")
    feature_maps: list[str] = Field(default_factory=lambda: ["prompt_resp"],
                                    description=f"one voter per feature map and seed: {', '.join(FEATURE_MAPS)}")
    seeds: list[int] = Field(default_factory=lambda: [0], description="fold-split seeds; each adds a voter")
    folds: int = Field(5, ge=2, description="k of k-fold cross-fitting")
    C: float = Field(0.1, gt=0, description="inverse L2 strength of the logistic regression "
                     "(0.1 is best of 0.01-10 on HH with MiniLM)")
    prompt_chars: int = Field(2000, ge=100, description="keep the last N characters of the rendered prompt "
                              "(the embedder truncates from the end, and the last turn matters most)")
    voter: str | None = Field(None, description="voter name prefix (default: the step label)")
    family: str | None = Field(None, description="vote family (default: embed:<backend>:<model>); every "
                               "feature map and seed of one embedding is one family, pooled as one witness")
    memory_mb: int = Field(1024, ge=0, description="float32 feature chunks kept in memory across the fit's "
                           "passes; the rest is re-read from the float16 files under the run dir each pass "
                           "(a fixed cap: memory does not grow with the number of pairs)")
    group_folds: bool = Field(True, description="keep pairs of one prompt / dedup cluster in one fold "
                              "(curate.vote.groups); false splits by row and leaks siblings' labels")

    @field_validator("feature_maps")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        bad = [f for f in v if f not in FEATURE_MAPS]
        if bad or not v:
            raise ValueError(f"unknown feature map(s) {bad}; choose from {', '.join(FEATURE_MAPS)}")
        return v


@STEPS.register()
class EmbedBTVoter(Step):
    """Vote with Bradley–Terry models on frozen embeddings, each pair scored out-of-fold.

    Full pass: embeds every pair's prompt and both responses, trains one logistic BT model per
    (feature map, seed) with k-fold cross-fitting on the current labels, and gives each pair the
    probability from the fold model that never saw it. Reads: id, prompt, chosen, rejected. Writes:
    one vote per voter to ``votes`` (kind ``embed_rm``, voter ``<prefix>:<feature map>:s<seed>``,
    margin = the BT logit, family ``embed:<backend>:<model>``: all of them share one embedding). Folds
    keep each prompt group (prompt, joined with ``cluster_id`` when present) whole. Figures: each voter's
    out-of-fold accuracy against the current labels, the number of fold groups.
    """

    name = "embed_bt_voter"
    inputs = ("id", "prompt", "chosen", "rejected")
    outputs = ("votes",)
    Options = EmbedBTOptions
    needs_full_pass = True

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.embedder = None
        self.margins = np.zeros((0, 0))  # row (fit order) x voter
        self.index: IdIndex | None = None  # id -> row of margins
        self.voters: list[str] = []
        self._run_dir: Path | None = None

    def setup(self, ctx: RunContext) -> None:
        self.embedder = build_embedder(self.options.embedder, ctx)
        self._run_dir = ctx.run_dir  # the fit's vectors go under it (stages/), removed after the fit

    def voter_names(self) -> list[str]:
        prefix = self.options.voter or self.label
        return [f"{prefix}:{fm}:s{s}" for fm in self.options.feature_maps for s in self.options.seeds]

    def family(self) -> str:
        e = self.options.embedder
        # the default model name belongs to sentence_transformers (as in build_embedder)
        model = e.backend if e.model == EmbedConfig().model and e.backend != "sentence_transformers" else e.model
        return self.options.family or f"embed:{e.backend}:{model}"

    def vectors(self, df: pl.DataFrame) -> PairVectors:
        if self.embedder is None:  # used outside a runner (benchmarks, notebooks)
            self.embedder = build_embedder(self.options.embedder)
        o = self.options
        texts = df.select(prompt_text_expr().str.slice(-o.prompt_chars).alias("p"),
                          pl.col("prompt").list.last().struct.field("content").alias("last"))
        prompts, last = texts["p"].to_list(), texts["last"].to_list()
        chosen, rejected = df["chosen"].to_list(), df["rejected"].to_list()
        emb = self.embedder.embed
        v = PairVectors(emb(prompts), emb(chosen), emb(rejected))
        if "joint" in o.feature_maps:
            v.joint_chosen = emb([f"{q}\n\n{r}" for q, r in zip(last, chosen)])
            v.joint_rejected = emb([f"{q}\n\n{r}" for q, r in zip(last, rejected)])
        return v

    def fit(self, batches: Batches) -> None:
        """One streamed pass: each batch is embedded and its features appended (float16) to a
        ``VectorStore`` under the run directory; only 64-bit keys per pair stay in memory. Then
        the out-of-fold models train on chunks read back (``curate.vote.bt_stream``)."""
        o = self.options
        store = VectorStore(self._scratch())
        try:
            keys, n = self._store_features(batches, store), store.rows.get(o.feature_maps[0], 0)
            if n < 2 * o.folds:
                raise ConfigError(f"step {self.label}: {n} pairs are too few for {o.folds}-fold cross-fitting; "
                                  f"lower 'folds' or give it at least {2 * o.folds} pairs")
            y = np.ones(n)  # the current label: chosen won
            groups = stream_group_ids(keys["prompt"], keys["cluster"]) if o.group_folds else None
            if groups is not None and groups.max() + 1 < o.folds:
                raise ConfigError(f"step {self.label}: {groups.max() + 1} prompt groups are too few for {o.folds} "
                                  f"folds; lower 'folds' or set group_folds: false")
            cols, acc = [], {}
            for fm in o.feature_maps:
                for s in o.seeds:
                    m = stream_cross_fit(store, fm, y, k=o.folds, c=o.C, seed=s, groups=groups,
                                         cache_bytes=o.memory_mb << 20)
                    cols.append(m)
                    acc[f"{o.voter or self.label}:{fm}:s{s}"] = round(float((m > 0).mean()), 4)
        finally:
            store.close()
        self.voters = self.voter_names()
        self.margins = np.stack(cols, axis=1)
        self.index = IdIndex(keys["id"])
        self.stats.figures.update(oof_accuracy=acc, pairs_fitted=n,
                                  fold_groups=int(groups.max() + 1) if groups is not None else None)

    def _scratch(self) -> Path:
        base = self._run_dir / "stages" if self._run_dir else Path(tempfile.mkdtemp(prefix="curate-bt-"))
        return base / f"vectors-{safe_name(self.label)}"

    def _store_features(self, batches: Batches, store: VectorStore) -> dict[str, np.ndarray]:
        """Append every batch's features per feature map; return per-row keys: id hash, prompt
        group key, cluster key (masked where a row has none)."""
        ids, prompts, clusters = [], [], []
        for b in batches():
            if not b.height:
                continue
            v = self.vectors(b)
            for fm in self.options.feature_maps:
                store.append(fm, features(v, fm))
            ids.append(id_hashes(b["id"]))
            text = b.select(prompt_text_expr().alias("p"))["p"].to_list()
            prompts.append(np.array([int(normalised_prompt_hash(t or ""), 16) for t in text], dtype=np.uint64))
            cl = b["cluster_id"] if "cluster_id" in b.columns else pl.Series([None] * b.height, dtype=pl.Utf8)
            clusters.append(np.ma.masked_array(id_hashes(cl.cast(pl.Utf8).fill_null("")), mask=cl.is_null().to_numpy()))
        if not ids:
            return {"id": np.zeros(0, np.uint64), "prompt": np.zeros(0, np.uint64), "cluster": None}
        cluster = np.ma.concatenate(clusters)
        return {"id": np.concatenate(ids), "prompt": np.concatenate(prompts),
                "cluster": cluster if (~np.ma.getmaskarray(cluster)).any() else None}

    def release(self) -> None:
        self.margins, self.index = np.zeros((0, len(self.voters))), None

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        rows = self.index.lookup(batch["id"]) if self.index is not None else np.full(batch.height, -1)
        m = self.margins[np.maximum(rows, 0)] if len(self.margins) else np.zeros((batch.height, len(self.voters)))
        m = np.where((rows >= 0)[:, None], m, np.nan)
        unseen = int(np.isnan(m[:, 0]).sum()) if len(self.voters) else 0
        self.stats.count("unseen_pairs", unseen)  # pairs the fit never saw get no vote
        for j, voter in enumerate(self.voters):
            col = m[:, j]
            ok = ~np.isnan(col)
            p = [float(x) if k else None for x, k in zip(sigmoid(col), ok)]
            mg = [float(x) if k else None for x, k in zip(col, ok)]
            batch = add_votes(batch, voter, "embed_rm", p, mg, family=self.family())
        self.stats.count("votes_added", int((~np.isnan(m)).sum()))
        return batch
