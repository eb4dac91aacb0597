"""decontaminate: drop records that overlap benchmark prompts (n-grams or embedding similarity)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import Field

from curate.context import RunContext
from curate.dedup.benchsets import BenchItem, load_benchmark
from curate.dedup.ngrams import NgramIndex
from curate.dedup.text import PromptView, prompt_view
from curate.embed.config import EmbedConfig, build_embedder
from curate.errors import ConfigError
from curate.index.base import VectorIndex, build_index
from curate.registry import STEPS
from curate.step import Options, Step


class DecontamOptions(Options):
    benchmarks: list[str] = Field(description="benchmark prompt files (.txt/.jsonl/.json/.parquet, optionally .gz)")
    field: str | None = Field(None, description="prompt column in tabular files (default: prompt, question, ...)")
    check: list[Literal["prompt", "chosen", "rejected"]] = Field(
        default_factory=lambda: ["prompt"], description="which texts of a record are compared")
    prompt_view: PromptView = Field("user_turns", description="which prompt text is compared")
    ngram: int | None = Field(13, ge=1, description="words per n-gram (13 as in GPT-3/Llama); null: off")
    min_tokens: int = Field(8, ge=1, description="benchmark prompts shorter than this are left to the embedding test")
    embedding_threshold: float | None = Field(0.9, gt=0, le=1, description="cosine to a benchmark prompt; null: off")
    embedder: EmbedConfig = Field(default_factory=EmbedConfig, description="embedding model (bundled MiniLM)")
    index: str = Field("faiss", description="vector index backend for the benchmark prompts")
    examples: int = Field(5, ge=0, description="matches kept as examples for the data card")


@STEPS.register()
class Decontaminate(Step):
    """Drop records whose prompt (or responses) overlap a benchmark's prompts; report what matched.

    Reads: prompt (and chosen / rejected when listed in ``check``).
    Writes nothing on kept records. Removed records are dropped with reason ``contaminated_ngram``
    (a shared ``ngram``-word sequence) or ``contaminated_embedding`` (cosine ≥ threshold) and carry
    ``contam_benchmark``, ``contam_item``, ``contam_evidence`` and ``contam_text``. Every match is
    listed in ``RUN/decontamination/<step>.json`` with counts per benchmark file.
    """

    name = "decontaminate"
    inputs = ("prompt",)
    Options = DecontamOptions
    stateful = True  # the match list, so the report of a resumed run is complete

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        o = self.options
        if o.ngram is None and o.embedding_threshold is None:
            raise ConfigError(f"step {self.label}: both ngram and embedding_threshold are off; enable one")
        if not o.benchmarks:
            raise ConfigError(f"step {self.label}: `benchmarks` lists no files")
        self.items: list[BenchItem] = [it for path in o.benchmarks for it in load_benchmark(path, o.field)]
        self.ngrams = NgramIndex(o.ngram, o.min_tokens) if o.ngram else None
        if self.ngrams is not None:
            self.ngrams.add(it.text for it in self.items)
        self.embedder = None
        self.index: VectorIndex | None = None
        self.matches: list[dict] = []
        self.report_path: Path | None = None

    def setup(self, ctx: RunContext) -> None:
        self.report_path = ctx.run_dir / "decontamination" / f"{self.label}.json"
        if self.options.embedding_threshold is not None:
            self._build_index(ctx)

    def _build_index(self, ctx: RunContext | None = None) -> None:
        self.embedder = build_embedder(self.options.embedder, ctx)
        self.index = build_index(self.options.index, self.embedder.dim)
        self.index.add(self.embedder.embed([it.text for it in self.items]))

    def _texts(self, batch: pl.DataFrame) -> list[list[str]]:
        cols = [prompt_view(self.options.prompt_view) if c == "prompt" else pl.col(c) for c in self.options.check]
        return [batch.select(c).to_series().to_list() for c in cols]

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        n = batch.height
        hit: list[dict | None] = [None] * n
        texts = self._texts(batch)
        if self.ngrams is not None:
            for col, values in zip(self.options.check, texts):
                for i, t in enumerate(values):
                    if hit[i] is None and (m := self.ngrams.match(t)):
                        hit[i] = self._match(m[0], "contaminated_ngram", m[1], col)
        if self.options.embedding_threshold is not None:
            if self.index is None:
                self._build_index()
            for col, values in zip(self.options.check, texts):
                todo = [i for i in range(n) if hit[i] is None]
                if not todo:
                    break
                sims, ids = self.index.search(self.embedder.embed([values[i] for i in todo]), 1,
                                               floor=self.options.embedding_threshold)
                for i, s, j in zip(todo, sims[:, 0], ids[:, 0]):
                    if s >= self.options.embedding_threshold:
                        hit[i] = self._match(int(j), "contaminated_embedding", f"cosine {s:.3f}", col)
        return self._drop_hits(batch, hit)

    def _match(self, item: int, reason: str, evidence: str, col: str) -> dict:
        it = self.items[item]
        return {"reason": reason, "benchmark": it.file, "item": it.index, "evidence": evidence,
                "field": col, "benchmark_text": it.text[:300]}

    def _drop_hits(self, batch: pl.DataFrame, hit: list[dict | None]) -> pl.DataFrame:
        if not any(hit):
            return batch
        for i, h in enumerate(hit):
            if h:
                self.matches.append({"id": batch["id"][i], **h})
                self.stats.count(f"matched:{os.path.basename(h['benchmark'])}")
        ex = self.stats.figures.setdefault("examples", [])
        ex.extend(m for m in self.matches[len(ex):self.options.examples])
        col = lambda k, dt: pl.Series(f"contam_{k}", [h[k] if h else None for h in hit], dtype=dt)  # noqa: E731
        marked = batch.with_columns(col("benchmark", pl.Utf8), col("item", pl.Int64), col("evidence", pl.Utf8),
                                    pl.Series("contam_text", [h["benchmark_text"] if h else None for h in hit],
                                              dtype=pl.Utf8),
                                    pl.Series("_reason_", [h["reason"] if h else None for h in hit], dtype=pl.Utf8))
        n_drop = len(self._dropped)
        for r in ("contaminated_ngram", "contaminated_embedding"):
            marked = self.drop(marked, pl.col("_reason_").eq_missing(r), r)
        self._dropped[n_drop:] = [d.drop("_reason_") for d in self._dropped[n_drop:]]
        return marked.select(batch.columns)

    def summary(self) -> dict[str, Any]:
        return {"benchmark_prompts": len(self.items),
                "short_prompts_embedding_only": self.ngrams.skipped if self.ngrams is not None else 0,
                "contaminated": sum(self.stats.dropped.values()),
                "by_benchmark": {k.split(":", 1)[1]: v for k, v in self.stats.counts.items()
                                 if k.startswith("matched:")}}

    def write_report(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**self.summary(), "options": self.options.model_dump(mode="json"),
                                   "matches": self.matches}, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)

    def close(self) -> None:
        if self.report_path is not None:
            self.write_report(self.report_path)

    def save_state(self, directory: Path) -> None:
        (Path(directory) / "matches.json").write_text(json.dumps(self.matches, ensure_ascii=False), encoding="utf-8")

    def load_state(self, directory: Path) -> None:
        self.matches = json.loads((Path(directory) / "matches.json").read_text(encoding="utf-8"))
