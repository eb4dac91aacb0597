"""semantic_dedup: near-duplicate removal by embedding similarity of prompts and of responses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from curate.context import RunContext
from curate.dedup.bookkeeping import (
    IdColumn,
    add_dup_count,
    cluster_counts,
    count_new_clusters,
    dedup_summary,
    with_cluster_counts,
)
from curate.dedup.cluster import assign_chunk
from curate.dedup.resolve import resolve_kept_ids
from curate.dedup.rule import rank_order
from curate.dedup.semantic_global import GlobalClusters, fit_global
from curate.dedup.text import PromptView, prompt_view
from curate.embed.base import Embedder
from curate.embed.config import EmbedConfig, build_embedder
from curate.errors import CurateError, ResumeError
from curate.index.base import VectorIndex, blas_beside_faiss, build_index
from curate.registry import INDEXES, STEPS, check_options, gather_backend_options
from curate.runner.base import safe_name
from curate.step import Batches, Options, Step

REASONS = {"prompt": "semantic_prompt_dup", "response": "semantic_response_dup"}


class IndexOptions(BaseModel):
    """The vector index a semantic_dedup step keeps (its ``index:`` block), as a store's ``store:``.

    ``backend`` names the index; every other key is that backend's own option, checked against its
    ``Options`` when the pipeline is loaded (faiss: ``kind``, ``ivf_threshold``, ``nlist``,
    ``nprobe``, ``pq_m``, ``refine``, ``threshold_candidates``, ``hnsw_m``, ``ef_construction``,
    ``ef_search``, ``device``, ``gpu_id``; see curate/index/faiss_index.py). The keys may also be
    nested under ``options:``.
    """

    model_config = ConfigDict(extra="forbid")
    backend: str = Field("faiss", description="vector index: faiss (CPU, or GPU when faiss-gpu sees one) | numpy; "
                                             "its options beside it, e.g. kind, nprobe, ef_search")
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="the index's options (or give them beside backend)")

    @model_validator(mode="before")
    @classmethod
    def _gather_options(cls, data: Any) -> Any:
        return gather_backend_options(data)

    @model_validator(mode="after")
    def _options_fit_backend(self) -> IndexOptions:
        check_options(INDEXES, self.backend, self.resolved(), "index")
        return self

    def resolved(self) -> dict[str, Any]:
        """The options the backend gets: a faiss index here defaults to ``kind: auto`` (on CPU flat, then
        the compressed IVF-PQ re-ranked from disk: query cost flat in N, ~170 B of RAM per vector; at 100k
        scale pairs it finds 99.9% of the exact index's removals, benchmarks/README.md)."""
        return {"kind": "auto", **self.options} if self.backend == "faiss" else dict(self.options)

    def build(self, dim: int) -> VectorIndex:
        return build_index(self.backend, dim, **self.resolved())


class SemanticOptions(Options):
    embedder: EmbedConfig = Field(default_factory=EmbedConfig, description="embedding model (bundled MiniLM)")
    fields: list[Literal["prompt", "response"]] = Field(
        default_factory=lambda: ["prompt", "response"],
        description="compare prompts, and/or responses (mean of the chosen and rejected vectors)")
    prompt_view: PromptView = Field("conversation", description="which prompt text is embedded")
    threshold: float = Field(0.95, gt=0, le=1, description="cosine similarity at or above which prompts are duplicates")
    response_threshold: float | None = Field(None, gt=0, le=1, description="for responses (default: threshold)")
    mode: Literal["streaming", "global"] = Field(
        "streaming", description="streaming: first seen wins across batches; global: a full pass first, "
                                 "then the best by keep_by wins")
    keep_by: list[str] = Field(default_factory=lambda: ["strength"],
                               description="keep rule: numeric columns, highest first; ties by id")
    neighbours: int = Field(16, ge=1, description="global mode: neighbours looked up per record")
    chunk_size: int = Field(2048, ge=1, description="rows compared all-against-all at once (memory: chunk²)")
    index: IndexOptions = Field(default_factory=IndexOptions)
    examples: int = Field(5, ge=0, description="removed/kept examples kept for the data card")


@STEPS.register()
class SemanticDedup(Step):
    """Drop near-duplicate pairs: prompts (or responses) whose embeddings are within a cosine threshold.

    Reads: id, prompt, chosen, rejected (and the ``keep_by`` columns, e.g. ``strength``, when present).
    Writes: ``cluster_id`` (the kept representative's id; its own id when kept) and ``dup_count``.
    Removed records are dropped with reason ``semantic_prompt_dup`` or ``semantic_response_dup`` and
    carry ``cluster_id``, ``kept_id`` and ``dup_similarity``. Every removed record points at a record
    that is kept (leader clustering, ``curate/dedup/cluster.py``), so a duplicate pair never loses both.

    ``mode: streaming`` (default): each batch is searched against an index of the records kept so
    far; within a batch the best by ``keep_by`` is kept, across batches the first seen (it may
    already be written). Memory: the index of kept records (compressed by default: ~170 B each, their
    float16 vectors on disk under ``RUN/spill/``). ``dup_count`` counts the duplicates found in the
    same batch. ``mode: global``: a full pass embeds everything and clusters, then
    the best by ``keep_by`` of each cluster is kept. Memory: an index of every record. (The default
    compressed index looks at 64 candidates per query: where a record has dozens of duplicates it
    returns fewer than ``neighbours`` of them; ``index: {kind: hnsw}`` for such data.)
    Vectors come from the embedding cache when another step (or an earlier run) embedded the text.
    """

    name = "semantic_dedup"
    inputs = ("id", "prompt", "chosen", "rejected")
    outputs = ("cluster_id", "dup_count")
    Options = SemanticOptions
    stateful = True

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        o = self.options
        self.needs_full_pass = o.mode == "global"  # the runner splits the pipeline before this step
        self.thresholds = [o.threshold if f == "prompt" else (o.response_threshold or o.threshold) for f in o.fields]
        self.embedder: Embedder | None = None
        self.indexes: list[VectorIndex] = []
        self.rep_ids = IdColumn()          # streaming: id of each index row (the kept records)
        self._has_dups: set[str] = set()
        self._global: GlobalClusters | None = None  # global mode: the clustering fit() computed
        self._offset = 0                   # global mode: rows processed before a resume
        self._spill: Path | None = None    # where indexes keep their on-disk vectors (the run's folder)
        self._described: dict[str, Any] | None = None  # the index's describe(), kept by release()

    def ray_plan(self, ds: Any, plan: Any) -> Any:
        """On Ray: embed in an actor pool (filling the embedding cache), then index on the driver."""
        return plan.embed_first(ds, self)

    # ------------------------------------------------------------ setup and embedding
    def setup(self, ctx: RunContext) -> None:
        self.embedder = build_embedder(self.options.embedder, ctx)
        self._spill = ctx.run_dir / "spill" / safe_name(self.label)
        self._ensure_indexes()
        for index in self.indexes:  # loaded from a saved state before setup: told now
            index.spill_to(self._spill)

    def _build_index(self) -> VectorIndex:
        index = self.options.index.build(self.embedder.dim)
        if self._spill is not None:
            index.spill_to(self._spill)
        return index

    def _ensure_indexes(self) -> None:
        if self.embedder is None:
            self.embedder = build_embedder(self.options.embedder)
        if not self.indexes:
            self.indexes = [self._build_index() for _ in self.options.fields]
        elif self.indexes[0].dim != self.embedder.dim:
            raise ResumeError(f"{self.label}: the saved index holds {self.indexes[0].dim}-d vectors but the "
                              f"embedder gives {self.embedder.dim}-d ones; resume with the same embedder")

    def vectors(self, batch: pl.DataFrame) -> list[np.ndarray]:
        """One (n, dim) normalised matrix per compared field, from a single embed call of the distinct texts."""
        self._ensure_indexes()
        n = batch.height
        texts: list[str] = []
        if "prompt" in self.options.fields:
            texts += batch.select(prompt_view(self.options.prompt_view)).to_series().to_list()
        if "response" in self.options.fields:
            texts += batch["chosen"].to_list() + batch["rejected"].to_list()
        # prompts and responses repeat across pairs (several pairs per prompt, shared answers): each
        # distinct text is embedded once and its vector reused, before the cache is even asked
        uniq, where = np.unique(np.array(texts, dtype=object), return_inverse=True) if texts else ([], [])
        self.stats.count("texts_embedded", len(uniq))
        self.stats.count("texts_reused", len(texts) - len(uniq))
        vecs = self.embedder.embed(list(uniq))[where] if texts else np.zeros((0, self.embedder.dim), np.float32)
        out, at = [], 0
        for f in self.options.fields:
            if f == "prompt":
                out.append(vecs[at:at + n])
                at += n
            else:
                # near-duplicate responses: both responses similar, so their mean is similar
                mean = vecs[at:at + n] + vecs[at + n:at + 2 * n]
                out.append(mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12))
                at += 2 * n
        return out

    # ------------------------------------------------------------ streaming
    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        if self.options.mode == "global":
            return self._process_global(batch)
        order = rank_order(batch, self.options.keep_by)
        vecs = [v[order] for v in self.vectors(batch)]
        ids = batch["id"].to_numpy()[order]
        kept_id = np.empty(batch.height, dtype=object)
        field = np.full(batch.height, -1)
        sim = np.zeros(batch.height, dtype=np.float32)
        with blas_beside_faiss():  # numpy's matmuls here alternate with faiss' threads
            for start in range(0, batch.height, self.options.chunk_size):
                sl = slice(start, start + self.options.chunk_size)
                r = assign_chunk([v[sl] for v in vecs], self.indexes, self.thresholds)
                rows = np.arange(sl.start, min(sl.stop, batch.height))
                in_index, in_chunk = ~r.leader & (r.match >= 0), ~r.leader & (r.match < 0)
                kept_id[rows[in_index]] = self.rep_ids.take(r.match[in_index])
                kept_id[rows[in_chunk]] = ids[start + (-r.match[in_chunk] - 1)]
                field[rows], sim[rows] = r.field, r.sim
                for f, index in enumerate(self.indexes):
                    index.add(vecs[f][sl][r.leader])
                self.rep_ids.extend(ids[rows[r.leader]].tolist())
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        return self.finish(batch, kept_id[inv], field[inv], sim[inv])

    def finish(self, batch: pl.DataFrame, kept_id: np.ndarray, field: np.ndarray, sim: np.ndarray,
               dup_total: np.ndarray | None = None) -> pl.DataFrame:
        """Attach cluster columns, count, keep examples and drop the duplicates (input order kept).
        `dup_total` (global mode): the records removed into each row's cluster, known from the full pass.
        ``dup_count`` adds to the one an earlier dedup step wrote, so it counts the whole cluster."""
        reasons = [REASONS[self.options.fields[f]] if f >= 0 else None for f in field.tolist()]
        out = batch.with_columns(
            pl.Series("kept_id", kept_id.tolist(), dtype=pl.Utf8),
            pl.Series("_reason_", reasons, dtype=pl.Utf8),
            pl.Series("dup_similarity", np.where(field >= 0, sim, np.nan), dtype=pl.Float32).fill_nan(None),
        ).with_columns(pl.coalesce("kept_id", "id").alias("cluster_id"))
        counts = cluster_counts(out)
        count_new_clusters(counts["kept_id"].to_list(), self._has_dups, self.stats)
        self._examples(out)
        n_drop = len(self._dropped)
        for r in REASONS.values():
            out = self.drop(out, pl.col("_reason_").eq_missing(r), r)
        self._dropped[n_drop:] = [d.drop("_reason_") for d in self._dropped[n_drop:]]
        out = out.drop("_reason_", "kept_id", "dup_similarity")
        if dup_total is not None:
            keep = pl.Series(reasons, dtype=pl.Utf8).is_null()
            return add_dup_count(out, pl.Series(dup_total[keep.to_numpy()], dtype=pl.Int64))
        return with_cluster_counts(out, counts)

    def _examples(self, out: pl.DataFrame) -> None:
        ex = self.stats.figures.setdefault("examples", [])
        room = self.options.examples - len(ex)
        if room <= 0:
            return
        text = prompt_view(self.options.prompt_view).str.slice(0, 160)
        view = out.select("id", "kept_id", "_reason_", "dup_similarity", text.alias("text"))
        by_id = dict(zip(view["id"].to_list(), view["text"].to_list()))
        for row in view.filter(pl.col("_reason_").is_not_null()).head(room).iter_rows(named=True):
            ex.append({"removed_id": row["id"], "kept_id": row["kept_id"], "reason": row["_reason_"],
                       "similarity": round(float(row["dup_similarity"]), 4), "removed_text": row["text"],
                       "kept_text": by_id.get(row["kept_id"])})  # None when kept in an earlier batch

    def fit(self, batches: Batches) -> None:
        self._ensure_indexes()
        o = self.options
        self.indexes = [self._build_index() for _ in o.fields]  # every record, not only leaders
        self._global = fit_global(batches, self.vectors, self.indexes, self.thresholds, o.neighbours, o.keep_by)
        self._global.offset = self._offset  # on resume, the rows committed before are not replayed
        if len(self._global.ids):
            self.stats.count("fit_records", len(self._global.ids))

    def _process_global(self, batch: pl.DataFrame) -> pl.DataFrame:
        if self._global is None:
            raise CurateError(f"{self.label}: mode 'global' needs fit() over all batches before process(); "
                              f"run it in a pipeline (the runner calls fit) or call step.fit(batches) first")
        a = self._global.take(batch["id"], self.label)
        self._offset = self._global.offset
        return self.finish(batch, a.kept_id, a.field, a.sim, dup_total=a.size)

    def summary(self) -> dict[str, Any]:
        index = self.indexes[0].describe() if self.indexes else self._described
        return {**dedup_summary(self.stats), "index": index}

    def release(self) -> None:
        """The index, its ids and a global clustering are only for ``process``; the summary keeps
        the index's description."""
        if self.indexes:
            self._described = self.indexes[0].describe()
        self.indexes, self.rep_ids, self._global = [], IdColumn(), None

    def after_run(self, run_dir: Path, stats: dict) -> None:
        """A later dedup step may have removed this step's representatives: follow the chains
        (curate/dedup/resolve.py) so every rejected row's kept_id names a record that was kept."""
        resolve_kept_ids(run_dir)

    # ------------------------------------------------------------ state
    def save_state(self, directory: Path) -> None:
        d = Path(directory)
        meta = {"mode": self.options.mode, "fields": self.options.fields, "offset": self._offset,
                "dim": self.indexes[0].dim if self.indexes else None}
        (d / "state.json").write_text(json.dumps(meta))
        pl.DataFrame({"id": sorted(self._has_dups)}, schema={"id": pl.Utf8}).write_parquet(d / "clusters.parquet")
        if self.options.mode == "streaming":
            pl.DataFrame({"id": self.rep_ids.series}).write_parquet(d / "reps.parquet")
            for f, index in zip(self.options.fields, self.indexes):
                (d / f).mkdir(exist_ok=True)
                index.save(d / f)

    def load_state(self, directory: Path) -> None:
        d = Path(directory)
        meta = json.loads((d / "state.json").read_text())
        if meta["fields"] != list(self.options.fields) or meta["mode"] != self.options.mode:
            raise ResumeError(f"{self.label}: saved state in {d} is for fields {meta['fields']} / mode "
                              f"{meta['mode']}; start a new run (--overwrite) to change them")
        self._offset = meta["offset"]
        self._has_dups = set(pl.read_parquet(d / "clusters.parquet")["id"].to_list())
        if self.options.mode == "streaming" and meta["dim"] is not None:
            self.rep_ids = IdColumn(pl.read_parquet(d / "reps.parquet")["id"])
            self.indexes = [self.options.index.build(meta["dim"]) for _ in self.options.fields]
            for f, index in zip(self.options.fields, self.indexes):
                index.load(d / f)
